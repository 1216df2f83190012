//! What the human-readable reports (table, Markdown, HTML) show, independent of the medium: the
//! same sections, rows and words. Cells hold raw text, straight from the log; each renderer
//! neutralises it for its medium ([`super::escape`]) and may shorten it.

use super::Report;
use super::units::human_seconds;
use crate::analysis::probe::Severity;

/// One table cell: raw text, and how many characters a narrow medium (a terminal) may show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cell {
    /// The full text, not yet neutralised.
    pub text: String,
    /// Shorten to this many characters (with an ellipsis) where space is short.
    pub max_chars: Option<usize>,
    /// The text is a number: right-aligned where the medium can.
    pub numeric: bool,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Cell { text: text.into(), max_chars: None, numeric: false }
    }

    fn number(text: impl Into<String>) -> Self {
        Cell { text: text.into(), max_chars: None, numeric: true }
    }

    /// A logged value (`-` when absent), shortened to `max` characters in a terminal.
    fn logged(text: Option<&str>, max: usize) -> Self {
        Cell { text: text.unwrap_or("-").to_owned(), max_chars: Some(max), numeric: false }
    }
}

/// A table: a header and rows of cells.
#[derive(Clone, Debug)]
pub(super) struct Grid {
    /// Column names.
    pub header: Vec<&'static str>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<Cell>>,
}

/// One probe's explanation: reasons, cost and fix, as list items.
#[derive(Clone, Debug)]
pub(super) struct ProbeDetail {
    /// Index into `report.probes`.
    pub index: usize,
    /// `reasons`, then `cost: …`, then `fix: …`.
    pub items: Vec<String>,
}

/// One part of a human-readable report. [`sections`] decides which parts there are, in which
/// order and under which titles; the renderers only lay them out.
#[derive(Clone, Debug)]
pub(super) enum Section {
    /// The one-line verdict; `alarm` when probes were found or nothing was analysed, `caveat`
    /// when it is less than an all-clear (see `Summary::verdict_caveat`), `worst` the highest
    /// severity found.
    Verdict { text: String, alarm: bool, caveat: bool, worst: Option<Severity> },
    /// The probes: a table, then one explanation per probe.
    Probes { title: String, grid: Grid, details: Vec<ProbeDetail> },
    /// A table; `periodic` when its rows are `report.periodic`, in order (HTML draws each
    /// caller's hits beside it).
    Table { title: String, grid: Grid, periodic: bool },
    /// A heading with nothing found under it.
    Empty { title: String },
    /// A remark on the section before it.
    Note(String),
}

/// The report's sections, in order: verdict, probes, periodic callers, top
/// clusters (`top` of them), summary, inputs, and the first bad lines.
pub(super) fn sections(report: &Report, top: usize) -> Vec<Section> {
    let mut out = vec![Section::Verdict {
        text: report.summary.verdict.clone(),
        alarm: !report.probes.is_empty() || report.summary.analysed == 0,
        caveat: report.summary.verdict_caveat,
        worst: report.probes.iter().map(|p| p.severity).min(),
    }];
    if !report.probes.is_empty() {
        out.push(Section::Probes {
            title: format!(
                "Probes that create sessions ({})",
                of(report.probes.len(), report.summary.probes)
            ),
            grid: probes(report),
            details: probe_details(report),
        });
    }
    out.push(if report.periodic.is_empty() {
        Section::Empty { title: "Periodic callers".to_owned() }
    } else {
        Section::Table {
            title: format!(
                "Periodic callers ({})",
                of(report.periodic.len(), report.summary.periodic_callers)
            ),
            grid: periodic(report),
            periodic: true,
        }
    });
    if let Some(note) = hidden_periodic_note(report) {
        out.push(Section::Note(note));
    }
    if !report.clusters.is_empty() {
        let shown = top.min(report.clusters.len());
        let title = format!("Top clusters ({shown} of {})", thousands(report.summary.clusters));
        out.push(Section::Table { title, grid: clusters(report, top), periodic: false });
    }
    out.push(Section::Table { title: "Summary".to_owned(), grid: summary(report), periodic: false });
    out.push(Section::Table { title: "Inputs".to_owned(), grid: inputs(report), periodic: false });
    if !report.errors.is_empty() {
        let title = "First malformed or skipped lines".to_owned();
        out.push(Section::Table { title, grid: errors(report), periodic: false });
    }
    // A table with no rows is said in words, not drawn as a header with nothing under it.
    out.into_iter()
        .map(|s| match s {
            Section::Table { title, grid, .. } if grid.rows.is_empty() => Section::Empty { title },
            other => other,
        })
        .collect()
}

/// `12`, or `1,000 of 100,000` when a list is capped by `--max-clusters`.
fn of(listed: usize, total: u64) -> String {
    if listed as u64 == total {
        thousands(total)
    } else {
        format!("{} of {}", thousands(listed as u64), thousands(total))
    }
}

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

/// Bytes in binary units: `180.0 KiB`.
pub(super) fn human_bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} {}", units[u]) } else { format!("{v:.1} {}", units[u]) }
}

/// A probe's path with its follow-ups: `/ → /login`.
pub(super) fn probe_path(path: &str, follow_ups: &[String]) -> String {
    std::iter::once(path).chain(follow_ups.iter().map(String::as_str)).collect::<Vec<_>>().join(" → ")
}

fn probes(report: &Report) -> Grid {
    let header =
        vec!["severity", "user agent", "host", "path", "period", "sessions/day", "live sessions", "caller"];
    let rows = report
        .probes
        .iter()
        .map(|p| {
            vec![
                Cell::plain(p.severity.as_str()),
                Cell::logged(p.user_agent.as_deref(), 32),
                Cell::logged(p.host.as_deref(), 24),
                Cell { max_chars: Some(48), ..Cell::plain(probe_path(&p.path, &p.follow_ups)) },
                Cell::plain(human_seconds(p.period_seconds)),
                Cell::number(thousands(p.sessions_per_day as u64)),
                Cell::number(thousands(p.estimated_live_sessions as u64)),
                Cell { max_chars: Some(30), ..Cell::plain(p.caller_name.clone()) },
            ]
        })
        .collect();
    Grid { header, rows }
}

fn probe_details(report: &Report) -> Vec<ProbeDetail> {
    report
        .probes
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let mut items = p.reasons.clone();
            let ttl = p.session_ttl_seconds.map_or_else(
                || "sessions that never expire, all still there".to_owned(),
                |s| format!("a session TTL of {}", human_seconds(s)),
            );
            items.push(format!(
                "cost: {} sessions/day; with {ttl}: ~{} live sessions, ~{}",
                thousands(p.sessions_per_day as u64),
                thousands(p.estimated_live_sessions as u64),
                human_bytes(p.estimated_session_bytes)
            ));
            items.push(format!("fix: {}", p.suggestion));
            ProbeDetail { index, items }
        })
        .collect()
}

fn periodic(report: &Report) -> Grid {
    let header =
        vec!["user agent", "host", "path", "period", "phases", "requests/day", "coverage", "confidence"];
    let rows = report
        .periodic
        .iter()
        .map(|p| {
            let mut phases = p.phases.to_string();
            if p.restarts > 0 {
                phases.push_str(&format!(
                    " ({} restart{})",
                    p.restarts,
                    if p.restarts == 1 { "" } else { "s" }
                ));
            }
            vec![
                Cell::logged(p.user_agent.as_deref(), 40),
                Cell::logged(p.host.as_deref(), 30),
                Cell::logged(Some(&p.path), 40),
                Cell::plain(human_seconds(p.period_seconds)),
                Cell::plain(phases),
                Cell::number(thousands(p.requests_per_day as u64)),
                Cell::number(format!("{:.0}%", 100.0 * p.coverage)),
                Cell::number(format!("{:.2}", p.confidence)),
            ]
        })
        .collect();
    Grid { header, rows }
}

/// The note on findings the log's own gaps explain, if any.
fn hidden_periodic_note(report: &Report) -> Option<String> {
    let hidden = report.summary.periodic_explained_by_log_gaps;
    (hidden > 0).then(|| {
        format!(
            "{hidden} apparent fixed-interval caller(s) not listed: the log itself only has records around their \
             beats (it is sampled or has gaps), so their rhythm is the log's."
        )
    })
}

fn clusters(report: &Report, top: usize) -> Grid {
    let header = vec!["requests", "user agent", "host", "path", "statuses", "first seen", "last seen"];
    let rows = report
        .clusters
        .iter()
        .take(top)
        .map(|c| {
            let mut statuses: Vec<_> = c.statuses.iter().collect();
            statuses.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let statuses: Vec<String> =
                statuses.iter().take(3).map(|(s, n)| format!("{s}×{}", thousands(**n))).collect();
            vec![
                Cell::number(thousands(c.requests)),
                Cell::logged(c.user_agent.as_deref(), 40),
                Cell::logged(c.host.as_deref(), 30),
                Cell::logged(Some(&c.path), 40),
                Cell::plain(statuses.join(" ")),
                Cell::plain(c.first_seen.clone()),
                Cell::plain(c.last_seen.clone()),
            ]
        })
        .collect();
    Grid { header, rows }
}

fn summary(report: &Report) -> Grid {
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
    let mut rows = vec![
        vec![Cell::plain("lines"), Cell::plain(thousands(s.lines))],
        vec![Cell::plain("parsed"), Cell::plain(thousands(s.parsed))],
        vec![Cell::plain("malformed"), Cell::plain(thousands(s.malformed))],
        vec![Cell::plain("skipped"), Cell::plain(skipped)],
    ];
    if s.since.is_some() || s.until.is_some() {
        let window = format!(
            "{} … {}",
            s.since.as_deref().unwrap_or("(start)"),
            s.until.as_deref().unwrap_or("(end)")
        );
        rows.push(vec![Cell::plain("window (UTC)"), Cell::plain(window)]);
        rows.push(vec![Cell::plain("outside the window"), Cell::plain(thousands(s.outside_window))]);
    }
    if s.folded.clusters > 0 {
        let folded = format!(
            "{} cluster(s), {} request(s), at most {} each (--max-memory)",
            thousands(s.folded.clusters),
            thousands(s.folded.requests),
            thousands(s.folded.most_requests)
        );
        rows.push(vec![Cell::plain("folded"), Cell::plain(folded)]);
    }
    rows.push(vec![Cell::plain("time span (UTC)"), Cell::plain(span)]);
    Grid { header: vec!["", ""], rows }
}

fn inputs(report: &Report) -> Grid {
    let header = vec!["source", "format", "lines", "parsed", "malformed", "skipped", "note"];
    let rows = report
        .summary
        .inputs
        .iter()
        .map(|i| {
            let mut format = i.format.to_owned();
            if matches!(i.compression, Some(crate::input::Compression::Gzip)) {
                format.push_str(" (gzip)");
            }
            vec![
                Cell::plain(i.source.clone()),
                Cell::plain(format),
                Cell::number(thousands(i.lines)),
                Cell::number(thousands(i.parsed)),
                Cell::number(thousands(i.malformed)),
                Cell::number(thousands(i.skipped_lines)),
                Cell::plain(i.reason.clone().or_else(|| i.hint.clone()).unwrap_or_default()),
            ]
        })
        .collect();
    Grid { header, rows }
}

fn errors(report: &Report) -> Grid {
    let rows = report
        .errors
        .iter()
        .map(|e| vec![Cell::plain(format!("{}:{}", e.source, e.line)), Cell::plain(e.reason.clone())])
        .collect();
    Grid { header: vec!["where", "problem"], rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8_640_000), "8,640,000");
    }

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(184_320.0), "180.0 KiB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }

    #[test]
    fn probe_paths_show_the_redirect_chain() {
        assert_eq!(probe_path("/", &["/login".to_owned()]), "/ → /login");
        assert_eq!(probe_path("/x", &[]), "/x");
    }
}
