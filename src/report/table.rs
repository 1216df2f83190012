//! The terminal report: tables (tabled), every logged string passed through
//! [`escape::terminal`](super::escape::terminal).

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;

use super::Report;
use super::escape::terminal;

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

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
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
    fn thousands_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8_640_000), "8,640,000");
    }
}
