//! The validated run configuration: plain data, no clap types.

use std::path::PathBuf;

use crate::analysis::AnalysisOptions;
use crate::analysis::probe::ProbeRules;
use crate::ingest::IngestOptions;
use crate::report::OutputFormat;

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files, directories or `-`; empty means stdin.
    pub paths: Vec<PathBuf>,
    /// Report format.
    pub format: OutputFormat,
    /// Write the report here (atomically) instead of stdout.
    pub output: Option<PathBuf>,
    /// Malformed lines make the exit code 1.
    pub strict: bool,
    /// How to read the inputs.
    pub ingest: IngestOptions,
    /// How to analyse the records.
    pub analysis: AnalysisOptions,
    /// Clusters shown in the table.
    pub top: usize,
    /// Which periodic callers are session-creating probes, and what they cost.
    pub probes: ProbeRules,
}
