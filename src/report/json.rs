//! The JSON report: one pretty-printed document, standard JSON escaping.
//!
//! serde_json escapes what JSON requires (C0 controls, `"` and `\`); this formatter also writes
//! DEL, the C1 controls (U+0080–U+009F: U+009B is a one-character CSI to some terminals) and
//! bidirectional overrides as `\uXXXX`, so `cat report.json` on a terminal is as safe as the
//! table. The parsed values are exactly the logged text either way.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::Report;

fn needs_escape(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A serde_json formatter (pretty or compact), escaping DEL, C1 controls and bidi overrides as
/// well.
struct SafeFormatter<F>(F);

impl<F: Formatter> Formatter for SafeFormatter<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SafeFormatter(PrettyFormatter::new()));
    report.serialize(&mut ser)?;
    out.write_all(b"\n")
}

/// `value` as one line of JSON, escaped like the report, and a newline.
pub(super) fn write_line(value: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SafeFormatter(CompactFormatter));
    value.serialize(&mut ser)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c1_del_and_bidi_are_escaped_and_round_trip() {
        let value = serde_json::json!({ "ua": "a\u{9b}31m\u{7f}\u{202e}b\u{1b}é→" });
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeFormatter(PrettyFormatter::new()));
        value.serialize(&mut ser).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""a\u009b31m\u007f\u202eb\u001bé→""#), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
    }
}
