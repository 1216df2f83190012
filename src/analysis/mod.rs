//! Detectors: accumulators that observe records and merge without locks, and the analysis
//! that turns them into findings.
//!
//! Every detector has the same shape (xsv's `Commute`): each worker observes a piece of input
//! into its own instance, hands what it observed over ([`Detector::split_off`]), and the pieces
//! are merged into one total in input order, each followed by [`Detector::settle`]. `merge` must
//! be associative and commutative, so that the result depends neither on the thread count nor
//! on which worker read what; `settle` (where a detector keeps its memory within a budget) sees
//! the same sequence of totals whatever the thread count, so it may decide on them.
//! Detectors and the analysis decide; they do no I/O and no wording: [`crate::report`] turns
//! their findings into words, fields and pictures.

pub mod agents;
pub mod cluster;
pub mod coverage;
pub mod endpoints;
pub mod normalize;
pub mod periodic;
pub mod probe;
pub mod timeline;

pub use cluster::KEY_ORDERED;

use crate::model::{Record, UnixMillis};

/// Maps and sets looked up by caller or by key (a log can hold a hundred thousand callers) and
/// never iterated in an order that reaches a report: hashed with aHash, a few times faster than
/// the standard SipHash.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// See [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, ahash::RandomState>;

/// An accumulator over records.
pub trait Detector: Send {
    /// Takes one record into account.
    fn observe(&mut self, record: &Record<'_>);
    /// Absorbs another instance's observations.
    fn merge(&mut self, other: Self);
    /// The observations so far, leaving this instance empty (but keeping what only speeds it
    /// up, such as caches).
    #[must_use]
    fn split_off(&mut self) -> Self;
    /// Called on the total after each piece of input is merged into it, in input order.
    fn settle(&mut self) {}
    /// Called on the total before the first observations of a later log-time slot are merged
    /// (only when the ingest cuts slots: `IngestOptions::slot_ms`).
    fn advance(&mut self, _slot: i64) {}
    /// Called on the total once everything the followed inputs held when the run started is
    /// merged (`--follow` only).
    fn history_read(&mut self) {}
    /// The size over which [`Detector::settle`] changes the total (in the units of
    /// [`Detector::settle_bound`]); `None`: it never does, whatever the total holds.
    fn settle_budget(&self) -> Option<usize> {
        None
    }
    /// An upper bound of this instance's share of the size `settle` decides on: a total that
    /// absorbs any instances is at most the sum of their bounds, and a total only grows as it
    /// absorbs more. So while the bounds of what was observed sum to at most the budget, no
    /// `settle` on any total of it changes anything, and it may be merged in any order.
    fn settle_bound(&self) -> usize {
        0
    }
    /// The most that observing a piece of input of `bytes` bytes in at most `lines` lines can
    /// add to [`Detector::settle_bound`].
    fn settle_bound_of_input(&self, _bytes: usize, _lines: usize) -> usize {
        0
    }
}

/// The span of time the records cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeSpan {
    /// Earliest and latest record time, once a record was seen.
    pub range: Option<(UnixMillis, UnixMillis)>,
}

impl Detector for TimeSpan {
    fn observe(&mut self, record: &Record<'_>) {
        let t = record.time;
        self.range = Some(self.range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
    }

    fn merge(&mut self, other: Self) {
        self.range = match (self.range, other.range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) | (None, x) => x,
        };
    }

    fn split_off(&mut self) -> Self {
        std::mem::take(self)
    }
}

/// Drops `value` on a thread of its own, which nothing waits for: freeing many small
/// allocations one by one (the clusters of a log where nearly every request is its own
/// cluster) can cost more than the work that made them, and the process's exit does not wait.
pub(crate) fn drop_later<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// Clusters with at least this many requests are analysed in a task each.
const ONE_TASK_REQUESTS: u64 = 64;

/// How to analyse.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOptions {
    /// Keep numeric and id path segments (`--raw-paths`).
    pub raw_paths: bool,
    /// Periodic-caller detector settings.
    pub periodic: periodic::PeriodicParams,
    /// Only records at or after this time (ms) are analysed (`--since`).
    pub since: Option<UnixMillis>,
    /// Only records before this time (ms) are analysed (`--until`).
    pub until: Option<UnixMillis>,
    /// How many clusters the report lists (`--max-clusters`); `None`: all. Beyond them and
    /// beyond the [`KEY_ORDERED`] biggest, a cluster of one request is counted but not kept in
    /// [`Findings::clusters`]: nothing else can use it (a schedule needs several requests), and
    /// a log of scanners makes a cluster of nearly every request.
    pub listed_clusters: Option<usize>,
    /// What the cluster table may hold, in bytes (`--max-memory`); `None`: no limit. Over it,
    /// the clusters with the fewest requests are folded into counted aggregates
    /// ([`cluster::Folded`]).
    pub max_memory: Option<usize>,
}

/// Everything the detectors accumulate: the time span and the clusters.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Time span of all records.
    pub span: TimeSpan,
    /// Clusters by (user agent, host, path).
    pub clusters: cluster::Clusters,
    /// Seconds that hold any record.
    pub coverage: coverage::LogCoverage,
    /// Records outside `--since`/`--until`, not analysed.
    pub outside_window: u64,
    /// Records analysed (inside `--since`/`--until`).
    pub records: u64,
    since: Option<UnixMillis>,
    until: Option<UnixMillis>,
    max_memory: Option<usize>,
}

impl Analysis {
    /// An empty analysis.
    #[must_use]
    pub fn new(options: &AnalysisOptions) -> Self {
        Analysis {
            span: TimeSpan::default(),
            clusters: cluster::Clusters::new(options.raw_paths),
            coverage: coverage::LogCoverage::default(),
            outside_window: 0,
            records: 0,
            since: options.since,
            until: options.until,
            max_memory: options.max_memory,
        }
    }

    /// An empty analysis for a worker of a batch run, whose clusters go to `table` with the
    /// other workers' once there are many ([`cluster::Clusters::joining`]). Every one made must
    /// be merged into the run's total (as [`crate::ingest::run_into`] does in a batch run).
    #[must_use]
    pub fn joining(options: &AnalysisOptions, table: &std::sync::Arc<cluster::JointTable>) -> Self {
        let mut analysis = Analysis::new(options);
        analysis.clusters = analysis.clusters.joining(table);
        analysis
    }

    /// Analyses every cluster (in parallel), in the cluster table's order
    /// ([`cluster::Clusters::into_ordered`]). Output never depends on thread count.
    #[must_use]
    pub fn finish(self, options: &AnalysisOptions) -> Findings {
        use rayon::prelude::*;
        let coverage = &self.coverage;
        // Kept: every repeated cluster, and one-request clusters up to the head (listed, or
        // ordered by key).
        let kept_head = options.listed_clusters.map_or(usize::MAX, |n| n.max(KEY_ORDERED));
        let cluster::Ordered { clusters: ordered, count: cluster_count, rest: unlisted, folded } =
            self.clusters.into_ordered(kept_head);
        let analyse = |cluster: cluster::OrderedCluster| {
            let (key, stats) = cluster.into_parts();
            let mut finding = ClusterFinding {
                key,
                res_ms: stats.timeline.unit_ms(),
                stats,
                truncated: false,
                periodic: Vec::new(),
                suppressed: 0,
                too_fast: false,
            };
            // The times are kept (sorted, as compact as they were) only for a cluster with a
            // fixed-interval caller: what a report draws of it.
            let mut timeline = std::mem::take(&mut finding.stats.timeline);
            // Too few requests for a schedule: no need to sort its times.
            if finding.stats.requests >= options.periodic.min_requests as u64 {
                let sorted = timeline.sort();
                let mut periodic =
                    periodic::detect(&sorted.times, sorted.res_ms, finding.stats.requests, &options.periodic);
                let before = periodic.len();
                periodic.retain(|p| {
                    !coverage.explains(
                        &sorted.times,
                        p.first_seen,
                        p.last_seen,
                        p.period_ms / p.phases.max(1) as f64,
                    )
                });
                finding.suppressed = before - periodic.len();
                finding.res_ms = sorted.res_ms;
                finding.truncated = sorted.truncated;
                if periodic.is_empty() {
                    finding.too_fast = too_fast(&sorted.times, sorted.res_ms);
                } else {
                    finding.stats.timeline = timeline;
                }
                finding.periodic = periodic;
            }
            finding
        };
        // A task for each busy cluster (sorted first, the costly ones), spread over the workers;
        // the rest, most of a log of many small clusters, in tasks of many (a task each would
        // cost more than their analysis).
        let mut rest = ordered;
        let busy: Vec<cluster::OrderedCluster> =
            rest.drain(..rest.partition_point(|c| c.requests() >= ONE_TASK_REQUESTS)).collect();
        let mut clusters: Vec<ClusterFinding> = busy.into_par_iter().with_max_len(1).map(analyse).collect();
        clusters.par_extend(rest.into_par_iter().map(analyse));
        // Freed only now, when the analysis no longer competes for the cores.
        drop_later(unlisted);
        Findings {
            span: self.span.range,
            clusters,
            cluster_count: cluster_count + folded.clusters,
            folded,
            outside_window: self.outside_window,
            records: self.records,
            since: options.since,
            until: options.until,
            listed_clusters: options.listed_clusters.unwrap_or(usize::MAX),
            schedule: options.periodic.clone(),
        }
    }
}

impl Detector for Analysis {
    fn observe(&mut self, record: &Record<'_>) {
        if self.since.is_some_and(|s| record.time < s) || self.until.is_some_and(|u| record.time >= u) {
            self.outside_window += 1;
            return;
        }
        self.records += 1;
        self.span.observe(record);
        self.clusters.observe(record);
        self.coverage.observe(record);
    }

    fn merge(&mut self, other: Self) {
        self.outside_window += other.outside_window;
        self.records += other.records;
        self.span.merge(other.span);
        self.clusters.merge(other.clusters);
        self.coverage.merge(other.coverage);
    }

    fn split_off(&mut self) -> Self {
        Analysis {
            span: std::mem::take(&mut self.span),
            clusters: self.clusters.split_off(),
            coverage: std::mem::take(&mut self.coverage),
            outside_window: std::mem::take(&mut self.outside_window),
            records: std::mem::take(&mut self.records),
            since: self.since,
            until: self.until,
            max_memory: self.max_memory,
        }
    }

    fn settle(&mut self) {
        if let Some(budget) = self.max_memory {
            self.clusters.fold_within(budget);
        }
    }

    fn settle_budget(&self) -> Option<usize> {
        self.max_memory
    }

    fn settle_bound(&self) -> usize {
        self.clusters.footprint_bound()
    }

    fn settle_bound_of_input(&self, bytes: usize, lines: usize) -> usize {
        cluster::Clusters::footprint_bound_of_input(bytes, lines)
    }
}

/// One analysed cluster.
#[derive(Clone, Debug)]
pub struct ClusterFinding {
    /// Its key.
    pub key: cluster::ClusterKey,
    /// Its statistics. Their timeline is kept, sorted ([`timeline::Timeline::times`] gives the
    /// times in ms, ascending), only when the cluster has a fixed-interval caller: what a report
    /// draws of that caller (a log can have a hundred thousand such callers, and a report draws
    /// a thousand). Otherwise it is empty.
    pub stats: Box<cluster::ClusterStats>,
    /// Timestamp resolution of its times (ms per tick: 1 or 1000).
    pub res_ms: i64,
    /// True when more than [`timeline::MAX_HITS`] times were seen (the earliest were analysed).
    pub truncated: bool,
    /// Its fixed-interval callers.
    pub periodic: Vec<periodic::Periodicity>,
    /// Fixed-interval findings dropped because the log's own gaps explain them.
    pub suppressed: usize,
    /// With no fixed-interval caller found: its requests come faster than the log's timestamps
    /// can time (half of them under two ticks apart), so a period could not be tested.
    pub too_fast: bool,
}

/// True when the median gap between `times` (ascending) is under two ticks of `res_ms`: a
/// schedule that fast cannot be tested at this resolution.
fn too_fast(times: &[UnixMillis], res_ms: i64) -> bool {
    if res_ms < 1000 || times.len() < 2 {
        return false;
    }
    // The median gap is under two ticks exactly when more than half of the gaps are: counted
    // in one pass, with no copy and no selection.
    let gaps = times.len() - 1;
    let short = times.windows(2).filter(|w| w[1] - w[0] < 2 * res_ms).count();
    short > gaps / 2
}

/// The result of the analysis.
#[derive(Clone, Debug)]
pub struct Findings {
    /// Time span of all records.
    pub span: Option<(UnixMillis, UnixMillis)>,
    /// The clusters, most requests first: every one, but for clusters of one request beyond
    /// the listed and the [`KEY_ORDERED`] biggest (see [`AnalysisOptions::listed_clusters`]).
    pub clusters: Vec<ClusterFinding>,
    /// Every cluster, kept or not (folded ones included; approximate when any was folded).
    pub cluster_count: u64,
    /// Clusters folded into counts to stay within `--max-memory`.
    pub folded: cluster::Folded,
    /// Records outside `--since`/`--until`, not analysed.
    pub outside_window: u64,
    /// Records analysed: inside `--since`/`--until` (and, live, inside the window of log time).
    pub records: u64,
    /// The `--since` the analysis was limited to.
    pub since: Option<UnixMillis>,
    /// The `--until` the analysis was limited to.
    pub until: Option<UnixMillis>,
    /// Clusters a report lists, the most requests first (`usize::MAX` for all).
    pub listed_clusters: usize,
    /// The detector's settings the callers were found with: what a schedule needs, so the
    /// verdict can say which callers a short span cannot show.
    pub schedule: periodic::PeriodicParams,
}

impl Findings {
    /// A folded cluster had enough requests for a schedule: a periodic caller may be among them.
    #[must_use]
    pub fn folded_could_be_periodic(&self) -> bool {
        self.folded.most_requests >= self.schedule.min_requests as u64
    }

    /// How many fixed-interval callers the clusters have.
    #[must_use]
    pub fn periodic_count(&self) -> usize {
        self.clusters.iter().map(|c| c.periodic.len()).sum()
    }

    /// Every fixed-interval caller as (cluster, caller) indices, in the clusters' order: a list
    /// made at its length (a log can have a hundred thousand callers).
    #[must_use]
    pub fn callers(&self) -> Vec<(usize, usize)> {
        let mut callers = Vec::with_capacity(self.periodic_count());
        for (ci, c) in self.clusters.iter().enumerate() {
            callers.extend((0..c.periodic.len()).map(|pi| (ci, pi)));
        }
        callers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;

    /// A log of scanners: one-request clusters beyond the listed and the key-ordered head are
    /// counted, not kept; everything kept is what an unbounded run keeps, in the same order.
    #[test]
    fn one_request_clusters_beyond_the_head_are_counted_not_kept() {
        use std::borrow::Cow;
        let run = |listed: Option<usize>, threads_split: usize| {
            let opts = AnalysisOptions { listed_clusters: listed, ..AnalysisOptions::default() };
            let mut parts = [Analysis::new(&opts), Analysis::new(&opts)];
            let mut push = |i: usize, path: String, t: i64| {
                let mut r = Record::at(t, TimeResolution::Seconds);
                r.user_agent = Some(Cow::Borrowed("zgrab"));
                r.target = Some(Cow::Owned(path));
                parts[usize::from(i % threads_split == 1)].observe(&r);
            };
            for i in 0..KEY_ORDERED + 500 {
                push(i, format!("/scan/x{i}"), 1_000 * i as i64);
            }
            for i in 0..40 {
                push(i, format!("/twice/y{}", i % 20), 7_000 * i as i64);
            }
            let [mut a, b] = parts;
            a.merge(b);
            a.finish(&opts)
        };
        let all = run(None, 2);
        let some = run(Some(5), 3);
        assert_eq!(all.cluster_count, (KEY_ORDERED + 520) as u64);
        assert_eq!(some.cluster_count, all.cluster_count);
        assert_eq!(all.clusters.len(), KEY_ORDERED + 520);
        assert_eq!(some.clusters.len(), KEY_ORDERED, "the 20 of two requests and the head");
        let keys = |f: &Findings| f.clusters.iter().map(|c| c.key.encoded().to_owned()).collect::<Vec<_>>();
        assert_eq!(keys(&some), keys(&all)[..KEY_ORDERED].to_vec(), "same order, whatever the split");
        assert!(some.clusters[..20].iter().all(|c| c.stats.requests == 2));
    }

    #[test]
    fn time_span_merges_in_any_order() {
        let obs = |ts: &[i64]| {
            let mut s = TimeSpan::default();
            for &t in ts {
                s.observe(&Record::at(t, TimeResolution::Seconds));
            }
            s
        };
        let mut a = obs(&[5, 3]);
        a.merge(obs(&[9, 4]));
        let mut b = obs(&[9, 4]);
        b.merge(obs(&[5, 3]));
        b.merge(TimeSpan::default());
        assert_eq!(a, b);
        assert_eq!(a.range, Some((3, 9)));
    }
}
