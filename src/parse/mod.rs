//! One line of an access log → one typed [`Record`], or a [`ParseError`] saying why not.
//!
//! Formats are detected once per input from its first lines ([`detect`]); each line is then
//! parsed once, by a [`LineParser`] that keeps per-worker state (the last timestamp, since
//! consecutive lines mostly share their second; the request lines split lately; the layout of the
//! last JSON line).

mod combined;
pub mod fields;
mod json;
mod request;
mod text;
mod time;

use serde::Serialize;

pub use fields::{Field, FieldMap};
pub use text::Line;

use crate::model::{Record, TimeResolution, UnixMillis};
use request::RequestLines;

/// A line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON lines, any common key set.
    Json,
    /// nginx's default `combined` (or `common`) text format.
    Combined,
}

/// Why a line is not a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not a JSON object (and not JSON at all).
    #[error("not a JSON object")]
    NotJson,
    /// Valid JSON, but an array, string or number rather than an object.
    #[error("valid JSON, but not an object: not an access-log record")]
    JsonNotObject,
    /// The object could not be framed.
    #[error("invalid JSON: {0}")]
    InvalidJson(&'static str),
    /// A JSON object with none of the access-log keys.
    #[error("JSON object with no access-log fields: not an access-log record")]
    NotARecord,
    /// A JSON object with a time but neither a request nor a status.
    #[error("JSON object with a time but no request or status: not an access-log record")]
    NoRequest,
    /// An access-log object without a time.
    #[error("no time field (looked for msec, @timestamp, time_iso8601, time, timestamp, time_local)")]
    MissingTime,
    /// A time value in no known format.
    #[error("unrecognised time {0:?}")]
    BadTime(String),
    /// A time before 1990 or later than a day from now: a clock gone wrong, or a value sent to
    /// make a record stand where it does not belong.
    #[error("time {0:?} is outside the plausible range (1990 to a day from now)")]
    TimeOutOfRange(String),
    /// A status that is not a number.
    #[error("status {0:?} is not a number")]
    BadStatus(String),
    /// A line that ends inside a field: cut by a crash, a full disk or a torn last line.
    #[error("truncated line: it ends inside a field")]
    Truncated,
    /// A text line not in the `combined` format.
    #[error("not in combined format: {0}")]
    Combined(&'static str),
}

impl ParseError {
    /// A short, lossy excerpt of a logged value, for messages (escaped when displayed).
    fn snippet(raw: &[u8]) -> String {
        let s = String::from_utf8_lossy(&raw[..raw.len().min(40)]);
        s.into_owned()
    }
}

fn parse_status(raw: &[u8]) -> Result<u16, ParseError> {
    // Three digits, as nginx writes it: read here, without the general number parser.
    if let &[a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] = raw {
        return Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'));
    }
    let raw = raw.trim_ascii();
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| ParseError::BadStatus(ParseError::snippet(raw)))
}

/// Remembers the last timestamp text and its value: lines of one second share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimeCache {
    raw: Vec<u8>,
    value: Option<(UnixMillis, TimeResolution)>,
}

impl TimeCache {
    /// The time `raw` says, in the plausible range ([`time::plausible`]).
    fn parse(&mut self, raw: &[u8]) -> Result<(UnixMillis, TimeResolution), ParseError> {
        if let (Some(v), true) = (self.value, crate::bytes::same_bytes(&self.raw, raw)) {
            return Ok(v);
        }
        let v = time::parse_time(raw).ok_or_else(|| ParseError::BadTime(ParseError::snippet(raw)))?;
        if !time::plausible().contains(&v.0) {
            return Err(ParseError::TimeOutOfRange(ParseError::snippet(raw)));
        }
        self.raw.clear();
        self.raw.extend_from_slice(raw);
        self.value = Some(v);
        Ok(v)
    }
}

/// Parses lines of one format; one per worker thread.
#[derive(Clone, Debug)]
pub struct LineParser {
    format: Format,
    fields: FieldMap,
    times: TimeCache,
    requests: RequestLines,
    shape: json::Shape,
}

impl LineParser {
    /// A parser for `format`, mapping JSON keys with `fields`.
    #[must_use]
    pub fn new(format: Format, fields: FieldMap) -> Self {
        LineParser {
            format,
            fields,
            times: TimeCache::default(),
            requests: RequestLines::default(),
            shape: json::Shape::default(),
        }
    }

    /// The format this parser reads.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Parses one line (without its line ending): bytes, or text already checked to be UTF-8.
    pub fn parse<'a>(&mut self, line: impl Into<Line<'a>>) -> Result<Record<'a>, ParseError> {
        let line = line.into();
        match self.format {
            Format::Json => {
                json::parse(line, &self.fields, &mut self.times, &mut self.requests, &mut self.shape)
            }
            Format::Combined => combined::parse(line, &mut self.times, &mut self.requests),
        }
    }
}

/// What an input's first lines say it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    /// Records of this format.
    Format(Format),
    /// Not an access log; the reason says why.
    NotAccessLog(String),
}

/// How many non-empty lines [`detect`] looks at.
pub const DETECT_LINES: usize = 10;

/// Decides an input's format from its first non-empty lines: the format that parses most of
/// them, or [`Detection::NotAccessLog`] when neither parses any.
#[must_use]
pub fn detect(sample: &[u8], fields: &FieldMap) -> Detection {
    let lines = sample
        .split(|&b| b == b'\n')
        .map(|l| trim_leading_nul(l.trim_ascii()))
        .filter(|l| !l.is_empty())
        .take(DETECT_LINES);
    let mut json = LineParser::new(Format::Json, fields.clone());
    let mut combined = LineParser::new(Format::Combined, fields.clone());
    let (mut nj, mut nc, mut seen) = (0, 0, 0);
    let mut no_time: Option<Vec<String>> = None;
    let mut no_request = 0;
    for line in lines {
        seen += 1;
        match json.parse(line) {
            Ok(_) => nj += 1,
            Err(ParseError::MissingTime) if no_time.is_none() => no_time = Some(json::time_like_keys(line)),
            Err(ParseError::NoRequest) => no_request += 1,
            Err(_) => {}
        }
        nc += usize::from(combined.parse(line).is_ok());
    }
    if seen == 0 {
        return Detection::NotAccessLog("no non-empty lines".into());
    }
    match (nj, nc) {
        (0, 0) if no_time.is_some() => {
            let keys = no_time.unwrap_or_default();
            let hint = match keys.first() {
                Some(k) => format!(
                    "; keys that hold a time: {}; name one with --field time={k}",
                    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
                None => "; name the time key with --field time=KEY".to_owned(),
            };
            Detection::NotAccessLog(format!(
                "not an access log: its JSON lines have no known time key (msec, @timestamp, time_iso8601, \
                 time, timestamp, time_local){hint}"
            ))
        }
        (0, 0) if no_request == seen => Detection::NotAccessLog(
            "not an access log: its JSON lines have a time but no request or status (a status snapshot or an \
             application log?)"
                .to_owned(),
        ),
        (0, 0) => Detection::NotAccessLog(format!(
            "not an access log: none of its first {seen} non-empty line(s) is a JSON or combined-format record"
        )),
        (j, c) if j >= c => Detection::Format(Format::Json),
        _ => Detection::Format(Format::Combined),
    }
}

/// A hint for a JSON input whose first records have no user agent though their lines hold a
/// key that looks like one: the `--field` that would read it.
#[must_use]
pub fn user_agent_hint(sample: &[u8], fields: &FieldMap) -> Option<String> {
    let mut parser = LineParser::new(Format::Json, fields.clone());
    let lines =
        sample.split(|&b| b == b'\n').map(|l| trim_leading_nul(l.trim_ascii())).filter(|l| !l.is_empty());
    let mut key = None;
    for line in lines.take(DETECT_LINES) {
        match parser.parse(line) {
            Ok(r) if r.user_agent.is_some() => return None,
            Ok(_) => key = key.or_else(|| json::agent_like_key(line)),
            Err(_) => {}
        }
    }
    key.map(|k| {
        format!("no record has a user agent, yet the lines have `{k}`: name it with --field user_agent={k}")
    })
}

/// Parses one line of `format` with the built-in key sets: a convenience for tests and benches.
pub fn parse_line(line: &[u8], format: Format) -> Result<Record<'_>, ParseError> {
    LineParser::new(format, FieldMap::default()).parse(line)
}

/// `s` without the NUL bytes it starts with: `copytruncate` can leave a run of them in front
/// of the first record written after the truncation.
#[must_use]
pub fn trim_leading_nul(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == 0).count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        let fm = FieldMap::default();
        let json = b"\n{\"time\":\"1558723294\",\"status\":\"200\"}\n";
        assert_eq!(detect(json, &fm), Detection::Format(Format::Json));
        let comb = b"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.0\" 200 1 \"-\" \"x\"\n";
        assert_eq!(detect(comb, &fm), Detection::Format(Format::Combined));
        let err = b"2024/03/01 12:00:00 [error] 123#0: *1 open() failed\n";
        assert!(matches!(detect(err, &fm), Detection::NotAccessLog(r) if r.contains("not an access log")));
        assert!(matches!(detect(b"\n\n", &fm), Detection::NotAccessLog(_)));
        let bin = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\n\x00\x00\x01";
        assert!(matches!(detect(bin, &fm), Detection::NotAccessLog(_)));
    }

    #[test]
    fn status_range() {
        assert_eq!(parse_status(b" 302 "), Ok(302));
        assert!(parse_status(b"99").is_err());
        assert!(parse_status(b"-1").is_err());
        assert!(parse_status(b"099").is_err());
        assert!(parse_status(b"1000").is_err());
        for code in 100..1000u16 {
            assert_eq!(parse_status(code.to_string().as_bytes()), Ok(code));
        }
    }
}
