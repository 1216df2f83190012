//! The report: a serialisable view of the analysis ([`Report`]) and its renderers.
//!
//! Renderers only render: they take a finished [`Report`] and write bytes. Everything that came
//! from a log or a file name is neutralised for the medium it is written to ([`escape`]).

pub mod activity;
pub mod escape;
pub mod events;
mod html;
mod json;
mod markdown;
pub mod probe;
mod prometheus;
mod table;
pub mod units;
mod verdict;
mod view;

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::probe::Judgement;
use crate::analysis::{ClusterFinding, Findings};
use crate::ingest::{IngestStats, InputStatus, SampleKind};
use crate::input::{Compression, InputProblem};
use crate::model::UnixMillis;
use crate::parse::Format;
use activity::Activity;
use probe::ProbeReport;
use units::{rfc3339, round3};
use verdict::{Looked, cleared_words, verdict};

/// Version of the JSON report's schema; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables for a terminal.
    Table,
    /// One JSON document.
    Json,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// One self-contained HTML page.
    Html,
    /// One JSON object per line for each finding that appears, changes or goes away, and a
    /// heartbeat (see [`events`]).
    Events,
    /// Prometheus text, for node_exporter's textfile collector.
    Prometheus,
}

/// Clusters listed by default: enough for any reading, bounded when a scanner makes a cluster
/// of every request.
pub const DEFAULT_MAX_CLUSTERS: usize = 1000;

/// How to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Which renderer writes the report.
    pub format: OutputFormat,
    /// Clusters shown in the human-readable formats.
    pub top: usize,
    /// ANSI colour in the table format.
    pub color: bool,
    /// Fit the table format to this many columns (a terminal's width, or `COLUMNS`), shortening
    /// long cells with `…`; `None` keeps every table at its natural width.
    pub width: Option<usize>,
    /// The HTML page reloads itself this often (seconds), while `--follow` rewrites it.
    pub refresh_seconds: Option<u64>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was read.
    pub summary: Summary,
    /// Periodic probes that create sessions, most costly first.
    pub probes: Vec<ProbeReport>,
    /// Every cluster of (user agent, host, path), most requests first.
    pub clusters: Vec<ClusterReport>,
    /// Fixed-interval callers, most requests per day first.
    pub periodic: Vec<PeriodicReport>,
    /// The first malformed or skipped lines of each input.
    pub errors: Vec<ErrorSample>,
    /// Earliest and latest analysed record (ms), for pictures.
    #[serde(skip)]
    pub span_ms: Option<(UnixMillis, UnixMillis)>,
}

/// Response sizes of a cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ByteSummary {
    /// Smallest response (bytes).
    pub min: u64,
    /// Largest response (bytes).
    pub max: u64,
    /// Mean response (bytes, rounded).
    pub mean: u64,
}

/// One cluster of requests.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterReport {
    /// User agent; `null` when not logged.
    pub user_agent: Option<String>,
    /// Host, lowercased, default port dropped; `null` when not logged.
    pub host: Option<String>,
    /// Path template (no query; ids as `:id` unless `--raw-paths`).
    pub path: String,
    /// Requests in the cluster.
    pub requests: u64,
    /// Requests per status code.
    pub statuses: BTreeMap<String, u64>,
    /// Requests per method.
    pub methods: BTreeMap<String, u64>,
    /// First request.
    pub first_seen: String,
    /// Last request.
    pub last_seen: String,
    /// Distinct client addresses; `null` when none was logged.
    pub distinct_clients: Option<u64>,
    /// Response sizes; `null` when not logged.
    pub response_bytes: Option<ByteSummary>,
    /// Responses with a non-empty `Set-Cookie` (0 when the log has no such field).
    pub set_cookie_responses: u64,
    /// `s` or `ms`: the precision of this cluster's times.
    pub timestamp_resolution: &'static str,
    /// Number of fixed-interval callers found in this cluster.
    pub periodic_callers: usize,
}

/// Confidence components of a periodic caller.
#[derive(Clone, Debug, Serialize)]
pub struct ConfidenceComponents {
    /// Evidence against random arrivals at the same rate, in [0, 1].
    pub significance: f64,
    /// Tightness of the schedule (jitter relative to the period), in [0, 1].
    pub tightness: f64,
    /// Coverage factor: share of expected beats present, over 0.5, capped at 1.
    pub coverage: f64,
}

/// A fixed-interval caller.
#[derive(Clone, Debug, Serialize)]
pub struct PeriodicReport {
    /// User agent; `null` when not logged.
    pub user_agent: Option<String>,
    /// Host (normalised); `null` when not logged.
    pub host: Option<String>,
    /// Path template.
    pub path: String,
    /// Period in seconds (ms precision).
    pub period_seconds: f64,
    /// Callers sharing the key at different phases at the same time.
    pub phases: usize,
    /// Phase jumps (restarts) beyond the concurrent phases.
    pub restarts: usize,
    /// Spread of arrivals around the schedule (s), timestamp quantisation included.
    pub jitter_seconds: f64,
    /// Share of expected beats present, in [0, 1].
    pub coverage: f64,
    /// Share of the cluster's requests this caller explains, in [0, 1].
    pub periodic_fraction: f64,
    /// Confidence in [0, 1]: the product of its components.
    pub confidence: f64,
    /// The factors of `confidence`.
    pub confidence_components: ConfidenceComponents,
    /// Requests explained by the schedule.
    pub requests: u64,
    /// Requests per day while active (gaps between a stop and a restart excluded).
    pub requests_per_day: f64,
    /// First explained request.
    pub first_seen: String,
    /// Last explained request.
    pub last_seen: String,
    /// Distinct client addresses of the cluster; `null` when none was logged.
    pub distinct_clients: Option<u64>,
    /// `s` or `ms`: the precision of the times the period was measured on.
    pub timestamp_resolution: &'static str,
    /// What the probe rules made of it: `probe (high)`, or why it is not a probe.
    pub verdict: String,
    /// Where it was found: (cluster, caller) indices into the findings.
    #[serde(skip)]
    pub source: (usize, usize),
    /// When it was active, for pictures.
    #[serde(skip)]
    pub activity: Option<Activity>,
}

/// A timestamp resolution as the report spells it.
fn resolution(res_ms: i64) -> &'static str {
    if res_ms == 1 { "ms" } else { "s" }
}

/// Distinct clients of a cluster; `None` when no client address was logged.
fn distinct_clients(c: &ClusterFinding) -> Option<u64> {
    (!c.stats.clients.is_empty()).then_some(c.stats.clients.len() as u64)
}

impl ClusterReport {
    fn new(c: &ClusterFinding) -> Self {
        let s = &c.stats;
        ClusterReport {
            user_agent: c.key.user_agent().map(str::to_owned),
            host: c.key.host().map(str::to_owned),
            path: c.key.path().to_owned(),
            requests: s.requests,
            statuses: s.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            methods: s.methods.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            first_seen: rfc3339(s.first_seen),
            last_seen: rfc3339(s.last_seen),
            distinct_clients: distinct_clients(c),
            response_bytes: s.response_bytes().map(|(n, sum, min, max)| ByteSummary {
                min,
                max,
                mean: (sum + n / 2) / n.max(1),
            }),
            set_cookie_responses: s.set_cookie,
            timestamp_resolution: resolution(c.res_ms),
            periodic_callers: c.periodic.len(),
        }
    }
}

/// The fixed-interval callers of every cluster, most requests per day first: the first `listed`
/// of them. They are ordered by what the order needs, and only the listed ones are written out
/// (a log can have a hundred thousand).
fn periodic_reports(findings: &Findings, judgement: &Judgement, listed: usize) -> Vec<PeriodicReport> {
    let per_day = |p: &crate::analysis::periodic::Periodicity| {
        (p.requests as f64 / (p.active_ms / 86_400_000.0)).round()
    };
    use rayon::prelude::*;
    type Key<'a> = (Option<&'a str>, Option<&'a str>, &'a str);
    // Each caller with its cluster's key read once (in parallel: the keys are scattered over
    // memory, and the order compares them again and again).
    // Listed first, then read in parallel straight into a list of the right length (a list
    // gathered in parallel from parts of unknown length is copied once more).
    let callers = findings.callers();
    let order: Vec<(f64, Key<'_>, &ClusterFinding, usize, usize)> = callers
        .par_iter()
        .with_min_len(1024)
        .map(|&(ci, pi)| {
            let c = &findings.clusters[ci];
            (per_day(&c.periodic[pi]), (c.key.user_agent(), c.key.host(), c.key.path()), c, ci, pi)
        })
        .collect();
    drop(callers);
    // A total order (ties last by cluster and caller, the order they were gathered in): the
    // listed head is selected, and only it sorted.
    let order_of = |a: &(f64, Key<'_>, &ClusterFinding, usize, usize),
                    b: &(f64, Key<'_>, &ClusterFinding, usize, usize)| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| {
                round3(a.2.periodic[a.4].period_ms / 1000.0)
                    .total_cmp(&round3(b.2.periodic[b.4].period_ms / 1000.0))
            })
            .then((a.3, a.4).cmp(&(b.3, b.4)))
    };
    let order: Vec<_> =
        crate::select::least(&order, listed, order_of).into_iter().map(|i| order[i]).collect();
    // The verdicts of the listed callers only (every caller is looked up: aHash, not SipHash).
    use crate::analysis::{FastMap as Map, FastSet as Set};
    let wanted: Set<(usize, usize)> = order.iter().map(|o| (o.3, o.4)).collect();
    let cleared: Map<(usize, usize), &crate::analysis::probe::Cleared> = judgement
        .cleared
        .iter()
        .filter(|(cluster, caller, _)| wanted.contains(&(*cluster, *caller)))
        .map(|(cluster, caller, why)| ((*cluster, *caller), why))
        .collect();
    let probes: Map<(usize, usize), crate::analysis::probe::Severity> = judgement
        .severities()
        .filter_map(|((cluster, caller), severity)| Some(((cluster, caller?), severity)))
        .filter(|(k, _)| wanted.contains(k))
        .collect();
    order
        .into_iter()
        .map(|(requests_per_day, _, c, ci, pi)| {
            let p = &c.periodic[pi];
            let verdict = match (probes.get(&(ci, pi)), cleared.get(&(ci, pi))) {
                (Some(severity), _) => format!("probe ({})", severity.as_str()),
                (None, Some(why)) => cleared_words(why),
                (None, None) => String::new(),
            };
            PeriodicReport {
                user_agent: c.key.user_agent().map(str::to_owned),
                host: c.key.host().map(str::to_owned),
                path: c.key.path().to_owned(),
                period_seconds: round3(p.period_ms / 1000.0),
                phases: p.phases,
                restarts: p.restarts,
                jitter_seconds: round3(p.jitter_ms / 1000.0),
                coverage: round3(p.coverage),
                periodic_fraction: round3(p.periodic_fraction),
                confidence: round3(p.confidence),
                confidence_components: ConfidenceComponents {
                    significance: round3(p.significance),
                    tightness: round3(p.tightness),
                    coverage: round3(p.coverage_factor),
                },
                requests: p.requests,
                requests_per_day,
                first_seen: rfc3339(p.first_seen),
                last_seen: rfc3339(p.last_seen),
                distinct_clients: distinct_clients(c),
                timestamp_resolution: resolution(c.res_ms),
                verdict,
                source: (ci, pi),
                activity: None,
            }
        })
        .collect()
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
    /// One line: what the report found (`1 probe creates ~8,640 sessions/day`), or that
    /// nothing was analysed and why.
    pub verdict: String,
    /// The verdict carries a caveat (callers not judged or not timed, input lost, a log too
    /// short to look): drawn as a warning rather than an all-clear.
    #[serde(skip)]
    pub verdict_caveat: bool,
    /// Records analysed: parsed, and inside `--since`/`--until`. With none, the verdict is
    /// never an all-clear and the exit code is 1.
    pub analysed: u64,
    /// Clusters (distinct user agent, host and path).
    pub clusters: u64,
    /// Clusters listed in `clusters` (the most requests first; `--max-clusters`).
    pub clusters_listed: u64,
    /// Probes found (the verdict counts them all).
    pub probes: u64,
    /// Probes listed in `probes` (the most sessions first; `--max-clusters`).
    pub probes_listed: u64,
    /// Periodic callers found.
    pub periodic_callers: u64,
    /// Periodic callers listed in `periodic` (the most requests a day first; `--max-clusters`).
    pub periodic_listed: u64,
    /// Clusters of callers (not people) whose requests come faster than the log's 1-s
    /// timestamps can time (half of them under 2 s apart): no schedule could be tested.
    pub untimed_callers: u64,
    /// Fixed-interval callers the log cannot judge: no status for most of their requests and no
    /// `Set-Cookie` field, so whether they make sessions cannot be told.
    pub unjudged_callers: u64,
    /// Apparent fixed-interval callers not reported because the log itself only has records
    /// around their beats (a sampled or gappy log: the rhythm is the log's, not the caller's).
    pub periodic_explained_by_log_gaps: u64,
    /// Start of the analysed window (`--since`), RFC 3339; `null` without one.
    pub since: Option<String>,
    /// End of the analysed window (`--until`, exclusive), RFC 3339; `null` without one.
    pub until: Option<String>,
    /// Parsed records outside the window, not analysed (0 without a window).
    pub outside_window: u64,
    /// Clusters folded into counts to stay within `--max-memory` (all 0 when none was).
    pub folded: FoldedSummary,
}

/// Clusters folded into counts to stay within `--max-memory`: the fewest-request clusters,
/// whose keys and statistics are gone. With any folded, cluster counts are approximate (a key
/// seen again after its cluster was folded is counted again).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FoldedSummary {
    /// Clusters folded.
    pub clusters: u64,
    /// Their requests.
    pub requests: u64,
    /// The most requests any folded cluster had.
    pub most_requests: u64,
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
    /// Why the input could not be read (missing, unreadable, a damaged `.gz`), in part or at
    /// all; `null` when it was read to its end or skipped on purpose.
    pub error: Option<String>,
    /// How to read it better (a user-agent key the built-in names miss, and the `--field` that
    /// reads it); `null` otherwise.
    pub hint: Option<String>,
    /// Stopped by the user before it ended (`error` says so): for the verdict's words.
    #[serde(skip)]
    pub interrupted: bool,
}

/// A malformed or skipped line.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorSample {
    /// Path, or `-`.
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    /// Why the line is not a record (the parser's or the length limit's words).
    pub reason: String,
    /// `malformed`, or `skipped` (a line over the length limit).
    pub kind: &'static str,
}

impl Report {
    /// Builds the report from ingest accounting and the analysis.
    #[must_use]
    pub fn new(
        stats: &IngestStats,
        problems: &[InputProblem],
        findings: &Findings,
        judgement: &Judgement,
    ) -> Self {
        let probes = &judgement.probes;
        let periodic_total = findings.periodic_count() as u64;
        let window = (findings.since, findings.until);
        let listed = findings.listed_clusters;
        let span = findings.span;
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
                let error =
                    (i.read_error.is_some() || format == "unreadable").then(|| reason.clone()).flatten();
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
                    error,
                    hint: i.hint.clone(),
                    interrupted: i.interrupted,
                }
            })
            .chain(problems.iter().filter(|p| p.lost_input).map(|p| InputSummary {
                source: p.source.clone(),
                format: "unreadable",
                compression: None,
                lines: 0,
                parsed: 0,
                malformed: 0,
                skipped_lines: 0,
                timestamp_resolution: None,
                reason: Some(p.reason.clone()),
                error: Some(p.reason.clone()),
                hint: None,
                interrupted: false,
            }))
            .collect::<Vec<_>>();
        let errors = stats
            .samples
            .iter()
            .map(|s| ErrorSample {
                source: stats.inputs[s.input].source.to_string(),
                line: s.line,
                reason: s.reason.clone(),
                kind: match s.kind {
                    SampleKind::Skipped => "skipped",
                    SampleKind::Malformed => "malformed",
                },
            })
            .collect();
        let looked = Looked::of(&totals, &inputs, findings);
        let (verdict_text, verdict_caveat) = verdict(judgement, findings, &looked);
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
                verdict: verdict_text,
                verdict_caveat,
                analysed: findings.records,
                untimed_callers: judgement.untimed.len() as u64,
                unjudged_callers: judgement.unjudged_count() as u64,
                clusters: findings.cluster_count,
                clusters_listed: findings.clusters.len().min(listed) as u64,
                probes: judgement.probe_count() as u64,
                probes_listed: probes.len().min(listed) as u64,
                periodic_callers: periodic_total,
                periodic_listed: periodic_total.min(listed as u64),
                periodic_explained_by_log_gaps: findings.clusters.iter().map(|c| c.suppressed as u64).sum(),
                since: window.0.map(rfc3339),
                until: window.1.map(rfc3339),
                outside_window: findings.outside_window,
                folded: FoldedSummary {
                    clusters: findings.folded.clusters,
                    requests: findings.folded.requests,
                    most_requests: findings.folded.most_requests,
                },
            },
            probes: probes.iter().take(listed).map(ProbeReport::new).collect(),
            clusters: findings.clusters.iter().take(listed).map(ClusterReport::new).collect(),
            periodic: periodic_reports(findings, judgement, listed),
            errors,
            span_ms: findings.span,
        }
    }
}

/// Pictures drawn at most, for the HTML report: the first callers in the report's order (a log
/// can have a hundred thousand periodic callers, and a picture is a kilobyte).
pub const MAX_PICTURES: usize = 1000;

impl Report {
    /// Adds the pictures of when each probe and periodic caller was active (the first
    /// [`MAX_PICTURES`] of each), for the HTML report; the other formats have no use for them.
    pub fn draw_activity(&mut self, findings: &Findings, judgement: &Judgement) {
        let Some(span) = findings.span else { return };
        for (r, p) in self.probes.iter_mut().zip(&judgement.probes).take(MAX_PICTURES) {
            r.activity = findings.clusters.get(p.cluster).and_then(|c| {
                let caller = c.periodic.get(p.caller?)?;
                Some(Activity::new(&c.stats.timeline.times(), span, caller))
            });
        }
        for r in self.periodic.iter_mut().take(MAX_PICTURES) {
            let (ci, pi) = r.source;
            if let Some((c, p)) = findings.clusters.get(ci).and_then(|c| Some((c, c.periodic.get(pi)?))) {
                r.activity = Some(Activity::new(&c.stats.timeline.times(), span, p));
            }
        }
    }
}

/// Writes `report` as `options` say.
///
/// # Errors
/// Whatever the writer returns.
pub fn render(report: &Report, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    match options.format {
        OutputFormat::Json => json::render(report, out),
        OutputFormat::Table => table::render(report, options, out),
        OutputFormat::Markdown => markdown::render(report, options, out),
        OutputFormat::Html => html::render(report, options, out),
        OutputFormat::Events => events::render(report, out),
        OutputFormat::Prometheus => prometheus::render(report, out),
    }
}
