//! The Markdown report (GitHub-flavoured): the table report's content, ready for an e-mail, a
//! chat message or an issue. Every logged string passes through
//! [`escape::markdown`](super::escape::markdown); nothing is shortened.

use std::io::{self, Write};

use super::escape::markdown;
use super::view::{self, Grid};
use super::{RenderOptions, Report};

fn table(grid: &Grid, out: &mut dyn Write) -> io::Result<()> {
    let header: Vec<String> = grid.header.iter().map(|h| markdown(h)).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    let numeric = |i: usize| grid.rows.first().is_some_and(|r| r.get(i).is_some_and(|c| c.numeric));
    let rule: Vec<&str> = (0..grid.header.len()).map(|i| if numeric(i) { "---:" } else { "---" }).collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for row in &grid.rows {
        let cells: Vec<String> = row.iter().map(|c| markdown(&c.text)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    writeln!(out)
}

pub(super) fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# nginx-forensics report\n")?;
    writeln!(out, "**{}**\n", markdown(&report.summary.verdict))?;
    if !report.probes.is_empty() {
        writeln!(out, "## Probes that create sessions ({})\n", report.probes.len())?;
        table(&view::probes(report), out)?;
        for d in view::probe_details(report) {
            let p = &report.probes[d.index];
            writeln!(
                out,
                "### {}. {} {} ({})\n",
                d.index + 1,
                markdown(p.user_agent.as_deref().unwrap_or("-")),
                markdown(&view::probe_path(&p.path, &p.follow_ups)),
                p.severity
            )?;
            for item in &d.items {
                writeln!(out, "- {}", markdown(item))?;
            }
            writeln!(out)?;
        }
    }
    if report.periodic.is_empty() {
        writeln!(out, "## Periodic callers\n\nNone found.\n")?;
    } else {
        writeln!(out, "## Periodic callers ({})\n", report.periodic.len())?;
        table(&view::periodic(report), out)?;
    }
    if let Some(note) = view::hidden_periodic_note(report) {
        writeln!(out, "> Note: {}\n", markdown(&note))?;
    }
    if !report.clusters.is_empty() {
        let shown = options.top.min(report.clusters.len());
        writeln!(out, "## Top clusters ({shown} of {})\n", report.clusters.len())?;
        table(&view::clusters(report, options.top), out)?;
    }
    writeln!(out, "## Summary\n")?;
    table(&view::summary(report), out)?;
    writeln!(out, "## Inputs\n")?;
    table(&view::inputs(report), out)?;
    if !report.errors.is_empty() {
        writeln!(out, "## First malformed or skipped lines\n")?;
        table(&view::errors(report), out)?;
    }
    Ok(())
}
