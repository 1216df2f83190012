//! The validated run configuration: plain data, no clap types.

use std::path::PathBuf;

use crate::analysis::AnalysisOptions;
use crate::analysis::probe::ProbeRules;
use crate::analysis::probe::Severity;
use crate::ingest::IngestOptions;
use crate::report::RenderOptions;

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files, directories or `-`; empty means stdin.
    pub paths: Vec<PathBuf>,
    /// Report format, clusters shown, colour.
    pub render: RenderOptions,
    /// Write the report here (atomically) instead of stdout.
    pub output: Option<PathBuf>,
    /// Malformed lines make the exit code 1.
    pub strict: bool,
    /// How to read the inputs.
    pub ingest: IngestOptions,
    /// How to analyse the records: also what the report lists (the window, the clusters).
    pub analysis: AnalysisOptions,
    /// `--fail-on-probes`: exit 3 when a probe of this severity or worse is found.
    pub fail_on_probes: Option<Severity>,
    /// Only errors on stderr.
    pub quiet: bool,
    /// Show a progress bar on stderr (a terminal) for long runs.
    pub progress: bool,
    /// Which periodic callers are session-creating probes, and what they cost.
    pub probes: ProbeRules,
    /// `--follow` or `--replay`: report as the log goes.
    pub live: Option<LiveOptions>,
}

/// How to report as the log goes (`--follow`, `--replay`).
#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// Wait for more input at its end (`--follow`); without, end there (`--replay`).
    pub follow: bool,
    /// Log time analysed, ending at the latest record (ms).
    pub window_ms: i64,
    /// Log time between two reports (ms).
    pub every_ms: i64,
    /// The table goes to a terminal: redraw it in place.
    pub terminal: bool,
}

impl LiveOptions {
    /// The log time of one pane of the window (dropped whole): a quarter of the window, in
    /// whole reports.
    #[must_use]
    pub fn pane_ms(&self) -> i64 {
        let every = self.every_ms.max(1);
        (self.window_ms / 4 / every).max(1) * every
    }
}
