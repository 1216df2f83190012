//! The terminal report: tables (tabled), every logged string passed through
//! [`escape::terminal`](super::escape::terminal) and long ones shortened with an ellipsis.
//! Colour (ANSI) only on text the tool wrote itself, never on logged text.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use super::escape::terminal;
use super::view::{self, Cell, Grid, Section};
use super::{RenderOptions, Report};
use crate::analysis::probe::Severity;

/// A logged string for a table cell: neutralised, and shortened with an ellipsis.
pub(super) fn shorten(s: &str, max_chars: Option<usize>) -> String {
    let safe = terminal(s);
    match max_chars {
        Some(max) if safe.chars().count() > max => {
            let mut out: String = safe.chars().take(max.saturating_sub(1)).collect();
            out.push('…');
            out
        }
        _ => safe.into_owned(),
    }
}

/// Longest line of explanation the table report prints (the longest fix the user-agent table
/// writes is about 600 characters).
const MAX_LINE: usize = 1000;

/// Narrowest a text column is shortened to when fitting a width.
const MIN_COLUMN: usize = 8;

/// The cells of `grid` as text, shortened to their `max_chars`, then, with a `width`, the
/// widest text columns shortened further until the drawn table fits it (when it can).
fn cells(grid: &Grid, width: Option<usize>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = grid
        .rows
        .iter()
        .map(|row| row.iter().map(|c: &Cell| shorten(&c.text, c.max_chars)).collect())
        .collect();
    let Some(width) = width else { return rows };
    let columns = grid.header.len();
    let chars = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |s| chars(s)))
                .chain([chars(grid.header[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..columns).map(|i| grid.rows.first().is_some_and(|r| r[i].numeric)).collect();
    // A rounded table draws `│ ` before each column and ` │` after the last: 3 per column, plus 1.
    let drawn = |w: &[usize]| w.iter().sum::<usize>() + 3 * w.len() + 1;
    while drawn(&widths) > width {
        let floor = |i: usize| MIN_COLUMN.max(chars(grid.header[i]));
        let widest =
            (0..columns).filter(|&i| !numeric[i] && widths[i] > floor(i)).max_by_key(|&i| (widths[i], i));
        let Some(i) = widest else { break };
        widths[i] -= 1;
    }
    for row in &mut rows {
        for (cell, &w) in row.iter_mut().zip(&widths) {
            if chars(cell) > w {
                let mut short: String = cell.chars().take(w.saturating_sub(1)).collect();
                short.push('…');
                *cell = short;
            }
        }
    }
    rows
}

fn table(grid: &Grid, width: Option<usize>) -> String {
    let mut b = Builder::default();
    if grid.header.iter().any(|h| !h.is_empty()) {
        b.push_record(grid.header.iter().map(|h| (*h).to_owned()));
    }
    for row in cells(grid, width) {
        b.push_record(row);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    if let Some(first) = grid.rows.first() {
        for (i, c) in first.iter().enumerate() {
            if c.numeric {
                t.modify(Columns::one(i), Alignment::right());
            }
        }
    }
    t.to_string()
}

/// ANSI styles, or nothing.
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_owned() }
    }

    fn heading(&self, text: &str) -> String {
        self.wrap("1", text)
    }
}

pub(super) fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let paint = Paint { on: options.color };
    for (i, section) in view::sections(report, options.top).into_iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        match section {
            Section::Verdict { text, alarm, caveat, .. } => {
                // Red for probes or nothing analysed, yellow for a verdict with a caveat, green
                // only for an all-clear.
                let colour = if alarm {
                    "1;31"
                } else if caveat {
                    "1;33"
                } else {
                    "1;32"
                };
                writeln!(out, "{}", paint.wrap(colour, &terminal(&text)))?;
            }
            Section::Probes { title, grid, details } => {
                writeln!(out, "{}\n{}", paint.heading(&title), table(&grid, options.width))?;
                for d in details {
                    let p = &report.probes[d.index];
                    let style = match p.severity {
                        Severity::High => "1;31",
                        Severity::Medium => "1;33",
                        Severity::Low => "1",
                    };
                    let severity = paint.wrap(style, p.severity.as_str());
                    writeln!(
                        out,
                        "\n{}. [{severity}] {} {}",
                        d.index + 1,
                        shorten(p.user_agent.as_deref().unwrap_or("-"), Some(60)),
                        shorten(&view::probe_path(&p.path, &p.follow_ups), Some(80))
                    )?;
                    // A sentence quotes the logged path and host: a 100 KB path is shortened
                    // here, as in the tables (the JSON report keeps it whole).
                    for item in &d.items {
                        writeln!(out, "   - {}", shorten(item, Some(MAX_LINE)))?;
                    }
                }
            }
            Section::Table { title, grid, .. } => {
                writeln!(out, "{}\n{}", paint.heading(&title), table(&grid, options.width))?
            }
            Section::Empty { title } => writeln!(out, "{}", paint.heading(&format!("{title}: none found")))?,
            Section::Note(note) => writeln!(out, "Note: {}", terminal(&note))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_neutralised_and_shortened() {
        assert_eq!(shorten("\u{1b}[2Jabc", Some(40)), "\\x1b[2Jabc");
        assert_eq!(shorten("abcdef", Some(4)), "abc…");
        assert_eq!(shorten("abcdef", None), "abcdef");
    }
}
