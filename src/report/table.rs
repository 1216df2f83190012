//! The terminal report: tables (tabled), every logged string passed through
//! [`escape::terminal`](super::escape::terminal).

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;

use super::Report;
use super::escape::terminal;
use crate::model::human_seconds;

/// `1234567` → `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(rows: Vec<Vec<String>>) -> String {
    let mut t = Builder::from(rows).build();
    t.with(Style::rounded());
    t.to_string()
}

/// A logged string for a table cell: neutralised, and shortened with an ellipsis.
pub(super) fn cell(s: Option<&str>, max_chars: usize) -> String {
    let Some(s) = s else { return "-".to_owned() };
    let safe = terminal(s);
    if safe.chars().count() <= max_chars {
        return safe.into_owned();
    }
    let mut out: String = safe.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn periodic_table(report: &Report) -> String {
    let mut rows = vec![
        ["user agent", "host", "path", "period", "phases", "requests/day", "coverage", "confidence"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for p in &report.periodic {
        let mut phases = p.phases.to_string();
        if p.restarts > 0 {
            phases.push_str(&format!(" ({} restart{})", p.restarts, if p.restarts == 1 { "" } else { "s" }));
        }
        rows.push(vec![
            cell(p.user_agent.as_deref(), 40),
            cell(p.host.as_deref(), 30),
            cell(Some(&p.path), 40),
            human_seconds(p.period_seconds),
            phases,
            thousands(p.requests_per_day as u64),
            format!("{:.0}%", 100.0 * p.coverage),
            format!("{:.2}", p.confidence),
        ]);
    }
    table(rows)
}

fn clusters_table(report: &Report, top: usize) -> String {
    let mut rows = vec![
        ["requests", "user agent", "host", "path", "statuses", "first seen", "last seen"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in report.clusters.iter().take(top) {
        let mut statuses: Vec<_> = c.statuses.iter().collect();
        statuses.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let statuses: Vec<String> =
            statuses.iter().take(3).map(|(s, n)| format!("{s}×{}", thousands(**n))).collect();
        rows.push(vec![
            thousands(c.requests),
            cell(c.user_agent.as_deref(), 40),
            cell(c.host.as_deref(), 30),
            cell(Some(&c.path), 40),
            statuses.join(" "),
            c.first_seen.clone(),
            c.last_seen.clone(),
        ]);
    }
    table(rows)
}

fn probes_table(report: &Report) -> String {
    let mut rows = vec![
        ["severity", "user agent", "host", "path", "period", "sessions/day", "live sessions", "caller"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for p in &report.probes {
        let mut path = cell(Some(&p.path), 30);
        for f in &p.follow_ups {
            path.push_str(" → ");
            path.push_str(&cell(Some(f), 30));
        }
        rows.push(vec![
            p.severity.to_owned(),
            cell(p.user_agent.as_deref(), 32),
            cell(p.host.as_deref(), 24),
            path,
            human_seconds(p.period_seconds),
            thousands(p.sessions_per_day as u64),
            thousands(p.estimated_live_sessions as u64),
            cell(Some(&p.caller_name), 30),
        ]);
    }
    table(rows)
}

fn probe_details(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for (i, p) in report.probes.iter().enumerate() {
        writeln!(out, "{}. {} {}", i + 1, cell(p.user_agent.as_deref(), 60), cell(Some(&p.path), 60))?;
        for r in &p.reasons {
            writeln!(out, "   - {}", terminal(r))?;
        }
        let ttl = p.session_ttl_seconds.map_or_else(|| "never".to_owned(), human_seconds);
        writeln!(
            out,
            "   - cost: {} sessions/day; with a session TTL of {ttl}: ~{} live sessions, ~{}",
            thousands(p.sessions_per_day as u64),
            thousands(p.estimated_live_sessions as u64),
            human_bytes(p.estimated_session_bytes)
        )?;
        writeln!(out, "   - fix: {}\n", terminal(&p.suggestion))?;
    }
    Ok(())
}

fn human_bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} {}", units[u]) } else { format!("{v:.1} {}", units[u]) }
}

pub(super) fn render(report: &Report, top: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}\n", terminal(&report.summary.verdict))?;
    if !report.probes.is_empty() {
        writeln!(out, "Probes that create sessions ({})\n{}\n", report.probes.len(), probes_table(report))?;
        probe_details(report, out)?;
    }
    if report.periodic.is_empty() {
        writeln!(out, "Periodic callers: none found\n")?;
    } else {
        writeln!(out, "Periodic callers ({})\n{}\n", report.periodic.len(), periodic_table(report))?;
    }
    let hidden = report.summary.periodic_explained_by_log_gaps;
    if hidden > 0 {
        writeln!(
            out,
            "Note: {hidden} apparent fixed-interval caller(s) not listed: the log itself only has records around their \
             beats (it is sampled or has gaps), so their rhythm is the log's.\n"
        )?;
    }
    if !report.clusters.is_empty() {
        let shown = top.min(report.clusters.len());
        writeln!(
            out,
            "Top clusters ({shown} of {})\n{}\n",
            report.clusters.len(),
            clusters_table(report, top)
        )?;
    }
    let s = &report.summary;
    let span = match (&s.first_seen, &s.last_seen) {
        (Some(a), Some(b)) => format!("{a} … {b}"),
        _ => "no records".to_owned(),
    };
    let skipped = format!(
        "{} ({} empty, {} over the length limit, {} NUL padding)",
        thousands(s.skipped_lines),
        thousands(s.skipped.empty),
        thousands(s.skipped.too_long),
        thousands(s.skipped.nul_padding)
    );
    let summary = vec![
        vec!["lines".to_owned(), thousands(s.lines)],
        vec!["parsed".to_owned(), thousands(s.parsed)],
        vec!["malformed".to_owned(), thousands(s.malformed)],
        vec!["skipped".to_owned(), skipped],
        vec!["time span (UTC)".to_owned(), span],
    ];
    writeln!(out, "Summary\n{}\n", table(summary))?;

    let mut inputs = vec![
        ["source", "format", "lines", "parsed", "malformed", "skipped", "note"].map(str::to_owned).to_vec(),
    ];
    for i in &s.inputs {
        let mut format = i.format.to_owned();
        if matches!(i.compression, Some(crate::input::Compression::Gzip)) {
            format.push_str(" (gzip)");
        }
        inputs.push(vec![
            terminal(&i.source).into_owned(),
            format,
            thousands(i.lines),
            thousands(i.parsed),
            thousands(i.malformed),
            thousands(i.skipped_lines),
            i.reason.as_deref().map(terminal).unwrap_or_default().into_owned(),
        ]);
    }
    writeln!(out, "Inputs\n{}", table(inputs))?;

    if !report.errors.is_empty() {
        let mut rows = vec![["where", "problem"].map(str::to_owned).to_vec()];
        for e in &report.errors {
            rows.push(vec![format!("{}:{}", terminal(&e.source), e.line), terminal(&e.reason).into_owned()]);
        }
        writeln!(out, "\nFirst malformed or skipped lines\n{}", table(rows))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_units() {
        assert_eq!(human_seconds(0.5), "500 ms");
        assert_eq!(human_seconds(10.0), "10 s");
        assert_eq!(human_seconds(10.3), "10.3 s");
        assert_eq!(human_seconds(300.0), "5 min");
        assert_eq!(human_seconds(3600.0), "1 h");
        assert_eq!(human_seconds(86_400.0 * 3.0), "3 d");
    }

    #[test]
    fn cells_are_neutralised_and_shortened() {
        assert_eq!(cell(Some("\u{1b}[2Jabc"), 40), "\\x1b[2Jabc");
        assert_eq!(cell(Some("abcdef"), 4), "abc…");
        assert_eq!(cell(None, 4), "-");
    }

    #[test]
    fn thousands_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8_640_000), "8,640,000");
    }
}
