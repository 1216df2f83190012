//! The report: a serialisable view of the analysis ([`Report`]) and its renderers.
//!
//! Renderers only render: they take a finished [`Report`] and write bytes. Everything that came
//! from a log or a file name is neutralised for the medium it is written to ([`escape`]).

pub mod escape;
mod json;
mod table;

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::ingest::{IngestStats, InputStatus};
use crate::input::Compression;
use crate::model::UnixMillis;
use crate::parse::Format;

/// Version of the JSON report's schema; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables for a terminal.
    Table,
    /// One JSON document.
    Json,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was read.
    pub summary: Summary,
    /// The first malformed or skipped lines of each input.
    pub errors: Vec<ErrorSample>,
}

/// Accounting of every line read.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Lines read (skipped inputs are not read, so their lines are not counted).
    pub lines: u64,
    /// Lines that are records.
    pub parsed: u64,
    /// Lines that are not records.
    pub malformed: u64,
    /// Lines skipped: `skipped.empty + skipped.too_long + skipped.nul_padding`.
    pub skipped_lines: u64,
    /// Skipped lines by reason.
    pub skipped: SkippedLines,
    /// Earliest record time (RFC 3339, UTC), if any record was parsed.
    pub first_seen: Option<String>,
    /// Latest record time (RFC 3339, UTC).
    pub last_seen: Option<String>,
    /// Every input, in the order read.
    pub inputs: Vec<InputSummary>,
}

/// Skipped lines by reason.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SkippedLines {
    /// Empty or blank lines.
    pub empty: u64,
    /// Lines over `--max-line-bytes`.
    pub too_long: u64,
    /// Lines of NUL bytes only (what `copytruncate` leaves behind).
    pub nul_padding: u64,
}

/// One input.
#[derive(Clone, Debug, Serialize)]
pub struct InputSummary {
    /// Path, or `-` for stdin.
    pub source: String,
    /// `json`, `combined`, `skipped` (not an access log, empty, unsupported compression) or
    /// `unreadable`.
    pub format: &'static str,
    /// `none` or `gzip`; `null` when the input could not be opened.
    pub compression: Option<Compression>,
    /// Lines read.
    pub lines: u64,
    /// Lines that are records.
    pub parsed: u64,
    /// Lines that are not records.
    pub malformed: u64,
    /// Lines skipped.
    pub skipped_lines: u64,
    /// `ms` when every record's time has milliseconds, `s` when none has, `mixed` otherwise;
    /// `null` without records.
    pub timestamp_resolution: Option<&'static str>,
    /// Why the input was skipped or not (fully) read; `null` otherwise.
    pub reason: Option<String>,
}

/// A malformed or skipped line.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorSample {
    /// Path, or `-`.
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
    /// `malformed`, or `skipped` (a line over the length limit).
    pub kind: &'static str,
}

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
#[must_use]
pub fn rfc3339(ms: UnixMillis) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

impl Report {
    /// Builds the report from ingest accounting and the records' time span.
    #[must_use]
    pub fn new(stats: &IngestStats, span: Option<(UnixMillis, UnixMillis)>) -> Self {
        let totals = stats.totals();
        let inputs = stats
            .inputs
            .iter()
            .map(|i| {
                let c = i.counts;
                let (format, reason) = match &i.status {
                    InputStatus::Read(Format::Json) => ("json", None),
                    InputStatus::Read(Format::Combined) => ("combined", None),
                    InputStatus::Skipped(r) => ("skipped", Some(r.clone())),
                    InputStatus::Unreadable(r) => ("unreadable", Some(r.clone())),
                };
                let reason = match &i.read_error {
                    Some(e) => Some(format!("read error after line {}: {e}", c.lines)),
                    None => reason,
                };
                let timestamp_resolution = match (c.parsed, c.millis_records) {
                    (0, _) => None,
                    (p, m) if m == p => Some("ms"),
                    (_, 0) => Some("s"),
                    _ => Some("mixed"),
                };
                InputSummary {
                    source: i.source.to_string(),
                    format,
                    compression: i.compression,
                    lines: c.lines,
                    parsed: c.parsed,
                    malformed: c.malformed,
                    skipped_lines: c.skipped(),
                    timestamp_resolution,
                    reason,
                }
            })
            .collect();
        let errors = stats
            .samples
            .iter()
            .map(|s| ErrorSample {
                source: stats.inputs[s.input].source.to_string(),
                line: s.line,
                reason: s.reason.clone(),
                kind: if s.skipped { "skipped" } else { "malformed" },
            })
            .collect();
        Report {
            schema_version: SCHEMA_VERSION,
            summary: Summary {
                lines: totals.lines,
                parsed: totals.parsed,
                malformed: totals.malformed,
                skipped_lines: totals.skipped(),
                skipped: SkippedLines {
                    empty: totals.empty,
                    too_long: totals.too_long,
                    nul_padding: totals.nul_padding,
                },
                first_seen: span.map(|(a, _)| rfc3339(a)),
                last_seen: span.map(|(_, b)| rfc3339(b)),
                inputs,
            },
            errors,
        }
    }
}

/// Writes `report` in `format`.
///
/// # Errors
/// Whatever the writer returns.
pub fn render(report: &Report, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Json => json::render(report, out),
        OutputFormat::Table => table::render(report, out),
    }
}
