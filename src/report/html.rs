//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, no external
//! requests), also well-formed XML. Every logged string passes through
//! [`escape::html`](super::escape::html).
//!
//! Each probe and periodic caller gets a small picture of its hits: the top strip is the whole
//! analysed span in bins (a probe that stopped when a fix landed shows where its bars end), the
//! bottom strip the first twelve periods from the caller's first hit, one tick per hit (a
//! fixed-interval caller is a comb).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::activity::{ACTIVITY_BINS, Activity, ZOOM_PERIODS};
use super::escape::html;
use super::units::{human_seconds, rfc3339};
use super::view::{self, Grid, Section};
use super::{RenderOptions, Report};
use crate::analysis::probe::Severity;
use crate::model::UnixMillis;

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1d232a;background:#fff}
h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d8dee4;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
.verdict{font-size:1.25rem;font-weight:600;padding:.7rem 1rem;border-radius:6px}
.verdict.bad{background:#ffebe9;color:#82071e;border:1px solid #ff8182}.verdict.ok{background:#dafbe1;color:#116329;border:1px solid #4ac26b}
.verdict.warn{background:#fff8c5;color:#7d4e00;border:1px solid #d4a72c}.verdict.low{background:#f6f8fa;color:#424a53;border:1px solid #d0d7de}
table{border-collapse:collapse;margin:.3rem 0 1rem;font-size:13px}
th,td{border:1px solid #d8dee4;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{max-width:28rem;overflow-wrap:break-word;word-break:normal}
.sev{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:12px;font-weight:600;color:#fff}
.sev.high{background:#cf222e}.sev.medium{background:#bf8700}.sev.low{background:#57606a}
.probe{border:1px solid #d8dee4;border-radius:6px;padding:.2rem 1rem .6rem;margin:.8rem 0}
figure{margin:.4rem 0}figcaption{font-size:12px;color:#57606a}
svg .bar{fill:#0969da}svg .tick{stroke:#cf222e;stroke-width:1.5}svg .base{stroke:#8c959f;stroke-width:1}
svg .bg{fill:#f6f8fa}code{font-size:12px}
.note{color:#57606a}
";

/// Width and heights of a picture, in px.
const W: f64 = 480.0;
const STRIP: f64 = 26.0;
const GAP: f64 = 8.0;

fn table(grid: &Grid, extra: Option<(&str, &[String])>, out: &mut String) {
    out.push_str("<table>\n<thead><tr>");
    for h in &grid.header {
        let _ = write!(out, "<th>{}</th>", html(h));
    }
    if let Some((name, _)) = extra {
        let _ = write!(out, "<th>{}</th>", html(name));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (i, row) in grid.rows.iter().enumerate() {
        out.push_str("<tr>");
        for (c, name) in row.iter().zip(&grid.header) {
            let class = if c.numeric { "num" } else { "text" };
            if *name == "severity" && matches!(c.text.as_str(), "high" | "medium" | "low") {
                let _ = write!(out, "<td><span class=\"sev {0}\">{0}</span></td>", c.text);
            } else {
                let _ = write!(out, "<td class=\"{class}\">{}</td>", html(&c.text));
            }
        }
        if let Some(cell) = extra.and_then(|(_, cells)| cells.get(i)) {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The picture of a caller's hits (see the module documentation), with a text alternative.
fn picture(activity: Option<&Activity>, span: Option<(UnixMillis, UnixMillis)>) -> String {
    let (Some(a), Some((from, to))) = (activity, span) else { return String::new() };
    let height = 2.0 * STRIP + GAP;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" role=\"img\">"
    );
    let _ = write!(
        svg,
        "<title>{} hits from {} to {}; first {} periods: {} hits</title>",
        a.bins.iter().map(|&b| u64::from(b)).sum::<u64>(),
        rfc3339(from),
        rfc3339(to),
        ZOOM_PERIODS,
        a.zoom.len()
    );
    let _ = write!(svg, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"{W}\" height=\"{STRIP}\"/>");
    let max = a.bins.iter().copied().max().unwrap_or(0).max(1);
    let bw = W / ACTIVITY_BINS as f64;
    for (i, &n) in a.bins.iter().enumerate() {
        if n > 0 {
            let h = (f64::from(n) / f64::from(max) * (STRIP - 2.0)).max(1.0);
            let _ = write!(
                svg,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"/>",
                i as f64 * bw,
                STRIP - h,
                (bw - 0.4).max(0.5)
            );
        }
    }
    let y0 = STRIP + GAP;
    let _ = write!(svg, "<rect class=\"bg\" x=\"0\" y=\"{y0}\" width=\"{W}\" height=\"{STRIP}\"/>");
    let _ = write!(svg, "<line class=\"base\" x1=\"0\" y1=\"{0}\" x2=\"{W}\" y2=\"{0}\"/>", y0 + STRIP - 0.5);
    for &dt in &a.zoom {
        let x = (dt as f64 / a.zoom_ms.max(1) as f64 * W).clamp(0.75, W - 0.75);
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            y0 + 3.0,
            y0 + STRIP
        );
    }
    svg.push_str("</svg>");
    format!(
        "<figure>{svg}<figcaption>top: requests over the whole log ({} … {}); bottom: each request in the first {} \
         periods ({}) from {}</figcaption></figure>",
        html(&rfc3339(from)),
        html(&rfc3339(to)),
        ZOOM_PERIODS,
        html(&human_seconds(a.zoom_ms as f64 / 1000.0)),
        html(&rfc3339(a.zoom_start)),
    )
}

pub(super) fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::with_capacity(64 * 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    if let Some(n) = options.refresh_seconds {
        let _ = writeln!(s, "<meta http-equiv=\"refresh\" content=\"{n}\"/>");
    }
    let _ = write!(
        s,
        "<title>nginx-forensics: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        html(&report.summary.verdict)
    );
    s.push_str("<h1>nginx-forensics report</h1>\n");
    for section in view::sections(report, options.top) {
        match section {
            Section::Verdict { text, alarm, caveat, worst } => {
                // Coloured by the worst finding: a low one is not drawn like a high one.
                let class = match worst {
                    Some(Severity::High) => "bad",
                    Some(Severity::Medium) => "warn",
                    Some(Severity::Low) => "low",
                    None if alarm => "bad",
                    None if caveat => "warn",
                    None => "ok",
                };
                let _ = writeln!(s, "<p class=\"verdict {class}\">{}</p>", html(&text));
                if let (Some(a), Some(b)) = (&report.summary.first_seen, &report.summary.last_seen) {
                    let _ = writeln!(
                        s,
                        "<p class=\"note\">{} lines, {} records from {} to {} (UTC).</p>",
                        view::thousands(report.summary.lines),
                        view::thousands(report.summary.parsed),
                        html(a),
                        html(b)
                    );
                }
            }
            Section::Probes { title, grid, details } => {
                let _ = writeln!(s, "<h2>{}</h2>", html(&title));
                table(&grid, None, &mut s);
                for d in details {
                    let p = &report.probes[d.index];
                    let _ = writeln!(
                        s,
                        "<section class=\"probe\">\n<h3>{}. <span class=\"sev {sev}\">{sev}</span> <code>{}</code> on <code>{}</code> <code>{}</code></h3>",
                        d.index + 1,
                        html(p.user_agent.as_deref().unwrap_or("-")),
                        html(p.host.as_deref().unwrap_or("-")),
                        html(&view::probe_path(&p.path, &p.follow_ups)),
                        sev = p.severity.as_str(),
                    );
                    s.push_str(&picture(p.activity.as_ref(), report.span_ms));
                    s.push_str("\n<ul>\n");
                    for item in &d.items {
                        let _ = writeln!(s, "<li>{}</li>", html(item));
                    }
                    s.push_str("</ul>\n</section>\n");
                }
            }
            Section::Table { title, grid, periodic } => {
                let _ = writeln!(s, "<h2>{}</h2>", html(&title));
                let pictures: Vec<String> = if periodic {
                    report.periodic.iter().map(|p| picture(p.activity.as_ref(), report.span_ms)).collect()
                } else {
                    Vec::new()
                };
                table(&grid, periodic.then_some(("hits over time", pictures.as_slice())), &mut s);
            }
            Section::Empty { title } => {
                let _ = writeln!(s, "<h2>{}</h2>\n<p>None found.</p>", html(&title));
            }
            Section::Note(note) => {
                let _ = writeln!(s, "<p class=\"note\">Note: {}</p>", html(&note));
            }
        }
    }
    s.push_str("</body>\n</html>\n");
    out.write_all(s.as_bytes())
}
