//! Command-line flags (clap derive) and their conversion into a [`Config`].

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use regex::RegexSet;

use crate::analysis::AnalysisOptions;
use crate::analysis::agents::UserAgents;
use crate::analysis::probe::{DEFAULT_SESSION_BYTES, ProbeRules, SessionTtl};
use crate::config::Config;
use crate::ingest::IngestOptions;
use crate::parse::{Field, FieldMap};
use crate::report::OutputFormat;

/// Find the callers that quietly hurt a service: reads Nginx access logs (JSON in any common key
/// set, or the default `combined` format; plain or gzip) and accounts for every line.
#[derive(Debug, Parser)]
#[command(name = "nginx-forensics", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Log files, directories (walked recursively, rotated `.gz` included) or `-` for stdin.
    /// Without PATH, piped stdin is read.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

    /// Write the report to FILE (atomically: a killed run leaves no half report).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Read field NAME from JSON key KEY, before the built-in keys (repeatable).
    /// NAME is one of: time, user_agent, host, request, method, uri, args, status, client,
    /// forwarded_for, referer, bytes, request_time, set_cookie, location.
    #[arg(long = "field", value_name = "NAME=KEY", value_parser = parse_field)]
    pub fields: Vec<(Field, String)>,

    /// Exit 1 when any line is malformed.
    #[arg(long)]
    pub strict: bool,

    /// Skip (and count) lines longer than this many bytes; they are never buffered whole.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_line_bytes: usize,

    /// Keep numeric, UUID and hex path segments instead of folding them into `:id`.
    #[arg(long)]
    pub raw_paths: bool,

    /// Clusters shown in the table.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// Treat PATH as a health endpoint too (repeatable; adds to the built-in list).
    #[arg(long = "health-path", value_name = "PATH")]
    pub health_paths: Vec<String>,

    /// Paths matching REGEX create sessions (repeatable).
    #[arg(long = "session-path", value_name = "REGEX")]
    pub session_paths: Vec<String>,

    /// Paths matching REGEX create no sessions (repeatable; wins over --session-path).
    #[arg(long = "no-session-path", value_name = "REGEX")]
    pub no_session_paths: Vec<String>,

    /// How long a session lives: `30m` (Spring/Tomcat's default), `1d`, `24h` … or `never`.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_ttl)]
    pub session_ttl: SessionTtl,

    /// Bytes one session holds in the session store (for the memory estimate).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SESSION_BYTES)]
    pub session_bytes: u64,

    /// Target size of the chunks workers parse (tuning and tests).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, hide = true)]
    pub chunk_bytes: usize,
}

const AFTER_HELP: &str = "\
Examples:
  nginx-forensics /var/log/nginx
  zcat access.log.*.gz | nginx-forensics --format json

Exit codes: 0 done; 1 an input could not be read (or --strict and malformed lines); 2 usage.";

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Tables for a terminal.
    Table,
    /// One JSON document (schema in docs/report-schema.md).
    Json,
}

fn parse_ttl(s: &str) -> Result<SessionTtl, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(SessionTtl::Never);
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (for example 30m, 1d, 24h or never)"))?;
    if d.is_zero() {
        return Err("a session TTL must be longer than zero".to_owned());
    }
    Ok(SessionTtl::Seconds(d.as_secs_f64()))
}

fn parse_field(s: &str) -> Result<(Field, String), String> {
    let (name, key) = s.split_once('=').ok_or_else(|| format!("expected NAME=KEY, got {s:?}"))?;
    if key.is_empty() {
        return Err(format!("empty KEY in {s:?}"));
    }
    Ok((name.parse()?, key.to_owned()))
}

/// A usage problem found after parsing.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// No PATH and stdin is a terminal: nothing to read.
    #[error(
        "no input: give a PATH (file, directory or -), or pipe a log into stdin\n\nUsage: nginx-forensics [OPTIONS] [PATH]...\nTry 'nginx-forensics --help' for more."
    )]
    NoInput,
    /// `--max-line-bytes 0`.
    #[error("--max-line-bytes must be at least 1")]
    ZeroLineLimit,
    /// A `--session-path` or `--no-session-path` that is not a regular expression.
    #[error("{flag}: {source}")]
    BadRegex {
        /// The flag.
        flag: &'static str,
        /// Why.
        source: regex::Error,
    },
    /// The built-in user-agent table does not load.
    #[error("{0}")]
    Agents(#[from] crate::analysis::agents::TableError),
}

impl Cli {
    /// Validates the flags into a [`Config`]. `stdin_is_terminal` decides what no PATH means.
    ///
    /// # Errors
    /// [`UsageError`] when the flags cannot work together.
    pub fn into_config(self, stdin_is_terminal: bool) -> Result<Config, UsageError> {
        if self.paths.is_empty() && stdin_is_terminal {
            return Err(UsageError::NoInput);
        }
        if self.max_line_bytes == 0 {
            return Err(UsageError::ZeroLineLimit);
        }
        let session_paths = RegexSet::new(&self.session_paths)
            .map_err(|source| UsageError::BadRegex { flag: "--session-path", source })?;
        let no_session_paths = RegexSet::new(&self.no_session_paths)
            .map_err(|source| UsageError::BadRegex { flag: "--no-session-path", source })?;
        let probes = ProbeRules {
            health_paths: self.health_paths,
            session_paths,
            no_session_paths,
            session_ttl: self.session_ttl,
            session_bytes: self.session_bytes,
            agents: UserAgents::builtin()?,
        };
        Ok(Config {
            probes,
            paths: self.paths,
            format: match self.format {
                FormatArg::Table => OutputFormat::Table,
                FormatArg::Json => OutputFormat::Json,
            },
            output: self.output,
            strict: self.strict,
            ingest: IngestOptions {
                threads: self.threads.map_or(0, NonZeroUsize::get),
                max_line_bytes: self.max_line_bytes,
                chunk_bytes: self.chunk_bytes.max(1),
                fields: FieldMap::with_overrides(&self.fields),
                ..IngestOptions::default()
            },
            analysis: AnalysisOptions { raw_paths: self.raw_paths, ..AnalysisOptions::default() },
            top: self.top,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_path_on_a_terminal_is_a_usage_error() {
        let cli = Cli::parse_from(["nginx-forensics"]);
        assert!(matches!(cli.into_config(true), Err(UsageError::NoInput)));
        let cli = Cli::parse_from(["nginx-forensics"]);
        assert!(cli.into_config(false).is_ok());
    }

    #[test]
    fn field_overrides_parse() {
        let cli = Cli::parse_from(["nginx-forensics", "--field", "user_agent=ua", "x.log"]);
        assert_eq!(cli.fields, vec![(Field::UserAgent, "ua".to_owned())]);
        assert!(Cli::try_parse_from(["nginx-forensics", "--field", "nope=x"]).is_err());
        assert!(Cli::try_parse_from(["nginx-forensics", "--field", "host"]).is_err());
    }

    #[test]
    fn session_ttls_parse() {
        assert_eq!(parse_ttl("30m"), Ok(SessionTtl::Seconds(1800.0)));
        assert_eq!(parse_ttl("1d"), Ok(SessionTtl::Seconds(86_400.0)));
        assert_eq!(parse_ttl("never"), Ok(SessionTtl::Never));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("soon").is_err());
        let cli = Cli::parse_from(["nginx-forensics", "--session-path", "(", "x.log"]);
        assert!(matches!(cli.into_config(false), Err(UsageError::BadRegex { .. })));
    }
}
