//! Command-line flags (clap derive) and their conversion into a [`Config`].

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use regex::RegexSet;

use crate::analysis::AnalysisOptions;
use crate::analysis::agents::UserAgents;
use crate::analysis::endpoints::Endpoints;
use crate::analysis::probe::{DEFAULT_SESSION_BYTES, ProbeRules, SessionTtl, Severity};
use crate::config::Config;
use crate::ingest::IngestOptions;
use crate::model::UnixMillis;
use crate::parse::{Field, FieldMap};
use crate::report::{DEFAULT_MAX_CLUSTERS, OutputFormat, RenderOptions};

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

    /// Worker threads (default: one per core; at most four per core, and no more than the
    /// input has pieces to read).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Read field NAME from JSON key KEY, before the built-in keys (repeatable).
    /// NAME is one of: time, user_agent, host, request, method, uri, args, status, client,
    /// forwarded_for, referer, bytes, request_time, set_cookie, location, upstream.
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

    /// Clusters listed in the JSON report, the most requests first (0: all). The table, Markdown
    /// and HTML reports show --top of them.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CLUSTERS)]
    pub max_clusters: usize,

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

    /// Colour in the table report: `auto` when stdout is a terminal and NO_COLOR is not set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    pub color: ColorArg,

    /// Analyse only records at or after TIME: RFC 3339 (`2024-03-01T00:00:00Z`), a date
    /// (`2024-03-01`, UTC midnight) or a duration before now (`24h`, `7d`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Analyse only records before TIME (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Exit 3 when at least one probe of --min-severity or worse is found (for cron and CI).
    #[arg(long)]
    pub fail_on_probes: bool,

    /// The least severity that --fail-on-probes counts.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = SeverityArg::Medium)]
    pub min_severity: SeverityArg,

    /// Only errors on stderr: no notes on skipped inputs, no malformed-line examples, no
    /// progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    /// Keep reading what is appended to the files (like `tail -F`: through rotation by rename
    /// or truncation) or to a pipe on stdin, and report every --every over the last --window
    /// of log time; SIGINT or SIGTERM writes the final report and exits 0, SIGHUP reopens.
    #[arg(long, short)]
    pub follow: bool,

    /// Report as --follow does (every --every, over the last --window of log time), but end at
    /// the end of the input: a finished log replayed as if live.
    #[arg(long, conflicts_with = "follow")]
    pub replay: bool,

    /// With --follow or --replay: the log time analysed, ending at the latest record (long
    /// enough for a 5-minute caller to show twelve beats).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration_ms)]
    pub window: i64,

    /// With --follow or --replay: how often, in log time, findings are recomputed and emitted.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration_ms)]
    pub every: i64,

    /// Memory the analysis may keep: over it, the clusters with the fewest requests are
    /// folded into counted aggregates and the report says so (`512M`, `2G`; `0`: no limit).
    /// Buffers and the report itself come on top: about 1 MiB per thread.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub max_memory: u64,

    /// Target size of the chunks workers parse (tuning and tests).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, hide = true)]
    pub chunk_bytes: usize,
}

const AFTER_HELP: &str = "\
Examples:
  nginx-forensics /var/log/nginx
  zcat access.log.*.gz | nginx-forensics --format json
  nginx-forensics --format html -o report.html /var/log/nginx
  nginx-forensics --since 24h --format markdown --fail-on-probes -q /var/log/nginx
  nginx-forensics -f /var/log/nginx/access.log
  nginx-forensics -f --format events /var/log/nginx/access.log | jq .

Exit codes: 0 done; 1 an input could not be read (or --strict and malformed lines); 2 usage;
3 probes found under --fail-on-probes.";

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Tables for a terminal.
    Table,
    /// One JSON document (schema in docs/report-schema.md).
    Json,
    /// GitHub-flavoured Markdown, for an e-mail, a chat message or an issue.
    Markdown,
    /// One self-contained HTML page with a picture of each caller's hits.
    Html,
    /// One JSON object per line: each probe or periodic caller that appears, changes or goes
    /// away, and a heartbeat with the line counts (for jq, Vector, a pager script).
    Events,
    /// Prometheus text, for node_exporter's textfile collector.
    Prometheus,
}

/// `--color` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Even when stdout is a file or a pipe.
    Always,
    /// Plain text, whatever stdout is.
    Never,
}

/// `--min-severity` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Only high.
    High,
    /// High and medium.
    Medium,
    /// Any probe.
    Low,
}

/// What the process knows about its surroundings, for decisions the flags leave to them.
#[derive(Clone, Copy, Debug)]
pub struct Environment {
    /// stdin is a terminal (no PATH then means: nothing to read).
    pub stdin_is_terminal: bool,
    /// stdout is a terminal (colour by default).
    pub stdout_is_terminal: bool,
    /// stderr is a terminal (progress bar).
    pub stderr_is_terminal: bool,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// The current time (ms since the epoch), for relative --since/--until.
    pub now_ms: UnixMillis,
    /// Columns the table report should fit: `COLUMNS` when set, else the width of stdout when
    /// it is a terminal; `None` for a pipe or a file.
    pub columns: Option<usize>,
}

impl Environment {
    /// A batch run: nothing is a terminal, no NO_COLOR, the given time.
    #[must_use]
    pub fn batch(now_ms: UnixMillis) -> Self {
        Environment {
            stdin_is_terminal: false,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
            no_color: false,
            now_ms,
            columns: None,
        }
    }
}

/// Parses a --since/--until value: RFC 3339, a date (UTC midnight), or a duration before `now_ms`.
fn parse_time(s: &str, now_ms: UnixMillis) -> Result<UnixMillis, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis());
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(now_ms - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)),
        Err(_) => Err(format!(
            "{s:?} is not a time: give RFC 3339 (2024-03-01T00:00:00Z), a date (2024-03-01) or a duration before now (24h, 7d)"
        )),
    }
}

/// Parses a size: bytes, or with a K, M, G or T suffix (powers of 1,024; `KB`, `MiB`… too).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("{s:?} is not a size: give bytes or a number with K, M, G or T (512M, 2G)")),
    };
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a size: it must start with a number (512M)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

/// Parses a duration (`1m`, `1h`, `90s`) into milliseconds; zero is refused.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (for example 30s, 1m, 1h)"))?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("{s:?} is too long"))?;
    if ms < 1000 {
        return Err("give at least one second".to_owned());
    }
    Ok(ms)
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
        /// Which of the two flags.
        flag: &'static str,
        /// The regular expression's error.
        source: regex::Error,
    },
    /// A --since/--until that is not a time.
    #[error("{flag}: {reason}")]
    BadTime {
        /// Which of the two flags.
        flag: &'static str,
        /// What forms a time may take, and what was given.
        reason: String,
    },
    /// --since is not before --until.
    #[error("--since must be before --until")]
    EmptyWindow,
    /// The built-in user-agent table does not load.
    #[error("{0}")]
    Agents(#[from] crate::analysis::agents::TableError),
}

impl Cli {
    /// Validates the flags into a [`Config`]; `env` decides what the flags leave open (no PATH on
    /// a terminal, colour, progress, relative times).
    ///
    /// # Errors
    /// [`UsageError`] when the flags cannot work together.
    pub fn into_config(self, env: &Environment) -> Result<Config, UsageError> {
        if self.paths.is_empty() && env.stdin_is_terminal {
            return Err(UsageError::NoInput);
        }
        if self.max_line_bytes == 0 {
            return Err(UsageError::ZeroLineLimit);
        }
        let session_paths = RegexSet::new(&self.session_paths)
            .map_err(|source| UsageError::BadRegex { flag: "--session-path", source })?;
        let no_session_paths = RegexSet::new(&self.no_session_paths)
            .map_err(|source| UsageError::BadRegex { flag: "--no-session-path", source })?;
        let time = |flag: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_time(s, env.now_ms))
                .transpose()
                .map_err(|reason| UsageError::BadTime { flag, reason })
        };
        let since = time("--since", &self.since)?;
        let until = time("--until", &self.until)?;
        if let (Some(a), Some(b)) = (since, until) {
            if a >= b {
                return Err(UsageError::EmptyWindow);
            }
        }
        let format = match self.format {
            FormatArg::Table => OutputFormat::Table,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Markdown => OutputFormat::Markdown,
            FormatArg::Html => OutputFormat::Html,
            FormatArg::Events => OutputFormat::Events,
            FormatArg::Prometheus => OutputFormat::Prometheus,
        };
        let color = format == OutputFormat::Table
            && match self.color {
                ColorArg::Always => true,
                ColorArg::Never => false,
                ColorArg::Auto => self.output.is_none() && env.stdout_is_terminal && !env.no_color,
            };
        let probes = ProbeRules {
            endpoints: Endpoints::builtin(self.health_paths)?,
            session_paths,
            no_session_paths,
            session_ttl: self.session_ttl,
            session_bytes: self.session_bytes,
            agents: UserAgents::builtin()?,
        };
        Ok(Config {
            probes,
            paths: self.paths,
            render: RenderOptions {
                format,
                top: self.top,
                color,
                width: env.columns.filter(|_| self.output.is_none()),
                refresh_seconds: None,
            },
            live: (self.follow || self.replay).then(|| crate::config::LiveOptions {
                follow: self.follow,
                window_ms: self.window.max(self.every),
                every_ms: self.every,
                terminal: env.stdout_is_terminal && self.output.is_none(),
            }),
            output: self.output,
            fail_on_probes: self.fail_on_probes.then_some(match self.min_severity {
                SeverityArg::High => Severity::High,
                SeverityArg::Medium => Severity::Medium,
                SeverityArg::Low => Severity::Low,
            }),
            quiet: self.quiet,
            progress: !self.quiet && env.stderr_is_terminal && !self.follow && !self.replay,
            strict: self.strict,
            ingest: IngestOptions {
                threads: self.threads.map_or(0, NonZeroUsize::get),
                max_line_bytes: self.max_line_bytes,
                chunk_bytes: self.chunk_bytes.max(1),
                fields: FieldMap::with_overrides(&self.fields),
                ..IngestOptions::default()
            },
            analysis: AnalysisOptions {
                raw_paths: self.raw_paths,
                since,
                until,
                listed_clusters: (self.max_clusters != 0).then(|| self.max_clusters.max(self.top)),
                // A quarter is left for what is not the cluster table: buffers, the findings
                // and the report.
                max_memory: (self.max_memory != 0)
                    .then(|| usize::try_from(self.max_memory / 4 * 3).unwrap_or(usize::MAX)),
                ..AnalysisOptions::default()
            },
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
        let terminal = Environment { stdin_is_terminal: true, ..Environment::batch(0) };
        let cli = Cli::parse_from(["nginx-forensics"]);
        assert!(matches!(cli.into_config(&terminal), Err(UsageError::NoInput)));
        let cli = Cli::parse_from(["nginx-forensics"]);
        assert!(cli.into_config(&Environment::batch(0)).is_ok());
    }

    #[test]
    fn field_overrides_parse() {
        let cli = Cli::parse_from(["nginx-forensics", "--field", "user_agent=ua", "x.log"]);
        assert_eq!(cli.fields, vec![(Field::UserAgent, "ua".to_owned())]);
        assert!(Cli::try_parse_from(["nginx-forensics", "--field", "nope=x"]).is_err());
        assert!(Cli::try_parse_from(["nginx-forensics", "--field", "host"]).is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1 kb"), Ok(1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn session_ttls_parse() {
        assert_eq!(parse_ttl("30m"), Ok(SessionTtl::Seconds(1800.0)));
        assert_eq!(parse_ttl("1d"), Ok(SessionTtl::Seconds(86_400.0)));
        assert_eq!(parse_ttl("never"), Ok(SessionTtl::Never));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("soon").is_err());
        let cli = Cli::parse_from(["nginx-forensics", "--session-path", "(", "x.log"]);
        assert!(matches!(cli.into_config(&Environment::batch(0)), Err(UsageError::BadRegex { .. })));
    }

    #[test]
    fn times_parse_absolute_dates_and_relative_durations() {
        let now = 1_709_251_200_000; // 2024-03-01T00:00:00Z
        assert_eq!(parse_time("2024-03-01T00:00:00Z", 0), Ok(now));
        assert_eq!(parse_time("2024-03-01T01:00:00+01:00", 0), Ok(now));
        assert_eq!(parse_time("2024-03-01", 0), Ok(now));
        assert_eq!(parse_time("24h", now), Ok(now - 86_400_000));
        assert_eq!(parse_time("7d", now), Ok(now - 7 * 86_400_000));
        assert!(parse_time("yesterday", now).is_err());
        let cli =
            Cli::parse_from(["nginx-forensics", "--since", "2024-03-02", "--until", "2024-03-01", "x.log"]);
        assert!(matches!(cli.into_config(&Environment::batch(now)), Err(UsageError::EmptyWindow)));
    }

    #[test]
    fn colour_only_for_a_terminal_table_without_no_color() {
        let color = |args: &[&str], env: Environment| {
            let cli = Cli::parse_from(["nginx-forensics"].iter().chain(args).chain(&["x.log"]));
            cli.into_config(&env).map(|c| c.render.color).unwrap_or(false)
        };
        let tty = Environment { stdout_is_terminal: true, ..Environment::batch(0) };
        assert!(color(&[], tty));
        assert!(!color(&[], Environment::batch(0)));
        assert!(!color(&[], Environment { no_color: true, ..tty }));
        assert!(!color(&["--format", "json"], tty));
        assert!(!color(&["--output", "r.txt"], tty));
        assert!(!color(&["--color", "never"], tty));
        assert!(color(&["--color", "always"], Environment::batch(0)));
    }
}
