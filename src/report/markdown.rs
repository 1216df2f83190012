//! The Markdown report (GitHub-flavoured): the table report's content, ready for an e-mail, a
//! chat message or an issue. Every logged string passes through
//! [`escape::markdown`](super::escape::markdown); nothing is shortened.

use std::io::{self, Write};

use super::escape::markdown;
use super::view::{self, Grid, Section};
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
    for section in view::sections(report, options.top) {
        match section {
            Section::Verdict { text, .. } => writeln!(out, "**{}**\n", markdown(&text))?,
            Section::Probes { title, grid, details } => {
                writeln!(out, "## {title}\n")?;
                table(&grid, out)?;
                for d in details {
                    let p = &report.probes[d.index];
                    writeln!(
                        out,
                        "### {}. {} {} ({})\n",
                        d.index + 1,
                        markdown(p.user_agent.as_deref().unwrap_or("-")),
                        markdown(&view::probe_path(&p.path, &p.follow_ups)),
                        p.severity.as_str()
                    )?;
                    for item in &d.items {
                        writeln!(out, "- {}", markdown(item))?;
                    }
                    writeln!(out)?;
                }
            }
            Section::Table { title, grid, .. } => {
                writeln!(out, "## {title}\n")?;
                table(&grid, out)?;
            }
            Section::Empty { title } => writeln!(out, "## {title}\n\nNone found.\n")?,
            Section::Note(note) => writeln!(out, "> Note: {}\n", markdown(&note))?,
        }
    }
    Ok(())
}
