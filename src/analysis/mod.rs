//! Detectors: accumulators that observe records and merge without locks.
//!
//! Every detector has the same shape (xsv's `Commute`): each worker observes its own chunks
//! into its own instance, and instances are merged. `merge` must be associative and
//! commutative, so that the result depends neither on the thread count nor on input order.
//! Detectors do no I/O and no formatting.

pub mod agents;
pub mod cluster;
pub mod coverage;
pub mod periodic;
pub mod probe;
pub mod timeline;

use crate::model::{Record, UnixMillis};

/// An accumulator over records.
pub trait Detector: Send {
    /// Takes one record into account.
    fn observe(&mut self, record: &Record<'_>);
    /// Absorbs another instance's observations.
    fn merge(&mut self, other: Self);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;

    /// A scanner's log: one-request clusters beyond the listed and the key-ordered head are
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
    /// a scanner makes half a million of them.
    pub listed_clusters: Option<usize>,
}

/// Bins of [`Activity::bins`] over the log's span.
pub const ACTIVITY_BINS: usize = 240;
/// Periods shown in [`Activity::zoom`].
pub const ZOOM_PERIODS: f64 = 12.0;

/// When a periodic caller's cluster was active, for pictures: the whole log span in bins, and
/// the hits of a short window at the caller's start, where a fixed interval shows as a comb.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// Requests of the cluster per bin, [`ACTIVITY_BINS`] equal bins over the log's span.
    pub bins: Vec<u32>,
    /// Start of the zoom window (ms).
    pub zoom_start: UnixMillis,
    /// Length of the zoom window (ms): [`ZOOM_PERIODS`] periods.
    pub zoom_ms: i64,
    /// The cluster's hits in the zoom window, as ms after `zoom_start`.
    pub zoom: Vec<i64>,
}

impl Activity {
    fn new(times: &[UnixMillis], span: (UnixMillis, UnixMillis), p: &periodic::Periodicity) -> Self {
        let (from, to) = span;
        let width = (to - from).max(1) as f64;
        let mut bins = vec![0u32; ACTIVITY_BINS];
        for &t in times {
            let i = (((t - from) as f64 / width) * ACTIVITY_BINS as f64) as usize;
            if let Some(b) = bins.get_mut(i.min(ACTIVITY_BINS - 1)) {
                *b = b.saturating_add(1);
            }
        }
        let zoom_ms = (p.period_ms * ZOOM_PERIODS).round().max(1.0) as i64;
        let zoom_start = p.first_seen - (p.period_ms / 2.0).round() as i64;
        let lo = times.partition_point(|&t| t < zoom_start);
        let hi = times.partition_point(|&t| t < zoom_start + zoom_ms);
        let zoom = times[lo..hi].iter().map(|&t| t - zoom_start).collect();
        Activity { bins, zoom_start, zoom_ms, zoom }
    }
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
    since: Option<UnixMillis>,
    until: Option<UnixMillis>,
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
            since: options.since,
            until: options.until,
        }
    }

    /// Analyses every cluster (in parallel) and sorts the results: clusters by requests, ties by
    /// key among the [`KEY_ORDERED`] biggest and by a fixed hash of the key beyond; periodic
    /// callers by requests per day, ties by key. Output never depends on thread count.
    #[must_use]
    pub fn finish(self, options: &AnalysisOptions) -> Findings {
        use rayon::prelude::*;
        let coverage = &self.coverage;
        let span = self.span.range;
        // Kept: every cluster of several requests, and one-request clusters (all after them in
        // the order) up to the head (listed, or ordered by key).
        let kept_head = options.listed_clusters.map_or(usize::MAX, |n| n.max(KEY_ORDERED));
        let cluster::Kept { several, mut single, count: cluster_count, rest: unlisted } =
            self.clusters.split_kept(kept_head);
        // The order: by requests, then a fixed hash of the key (kept in the slot), then the key;
        // the biggest `KEY_ORDERED` are re-sorted by requests, then key, for people to read,
        // further down. Clusters of several requests are sorted as a permutation, then moved
        // once: comparing keys or counters scattered over the heap would dominate.
        let mut order: Vec<(u64, u64, usize)> =
            several.par_iter().enumerate().map(|(i, s)| (s.stats.requests(), s.order_hash, i)).collect();
        order.par_sort_unstable_by(|a, b| {
            (b.0, a.1).cmp(&(a.0, b.1)).then_with(|| several[a.2].key.cmp(&several[b.2].key))
        });
        let mut slots: Vec<Option<cluster::Slot>> = several.into_iter().map(Some).collect();
        let mut entries: Vec<cluster::Slot> = order.iter().filter_map(|&(_, _, i)| slots[i].take()).collect();
        let by_hash = |a: &cluster::Slot, b: &cluster::Slot| {
            a.order_hash.cmp(&b.order_hash).then_with(|| a.key.cmp(&b.key))
        };
        single.par_sort_unstable_by(by_hash);
        entries.append(&mut single);
        let mut clusters: Vec<ClusterFinding> = entries
            .into_par_iter()
            // One task per cluster: the few big ones (sorted first) then spread over the workers.
            .with_max_len(1)
            .map(|cluster::Slot { key, stats, .. }| {
                let mut stats = stats.into_stats();
                let key = cluster::ClusterKey::from_encoded(key);
                stats.clients.flush();
                let timeline = std::mem::take(&mut stats.timeline);
                let mut finding = ClusterFinding {
                    key,
                    stats,
                    res_ms: timeline.unit_ms(),
                    truncated: false,
                    periodic: Vec::new(),
                    suppressed: 0,
                    activity: Vec::new(),
                };
                // Too few requests for a schedule: no need to sort its times.
                if finding.stats.requests >= options.periodic.min_requests as u64 {
                    let (times, res_ms, truncated) = timeline.sorted();
                    let mut periodic =
                        periodic::detect(&times, res_ms, finding.stats.requests, &options.periodic);
                    let before = periodic.len();
                    periodic.retain(|p| {
                        !coverage.explains(
                            &times,
                            p.first_seen,
                            p.last_seen,
                            p.period_ms / p.phases.max(1) as f64,
                        )
                    });
                    finding.suppressed = before - periodic.len();
                    if let Some(span) = span {
                        finding.activity = periodic.iter().map(|p| Activity::new(&times, span, p)).collect();
                    }
                    finding.res_ms = res_ms;
                    finding.truncated = truncated;
                    finding.periodic = periodic;
                }
                finding
            })
            .collect();
        let head = clusters.len().min(KEY_ORDERED);
        clusters[..head].par_sort_unstable_by(|a, b| {
            b.stats.requests.cmp(&a.stats.requests).then_with(|| a.key.cmp(&b.key))
        });
        // Freed only now, when the analysis no longer competes for the cores.
        crate::drop_later(unlisted);
        Findings { span, clusters, cluster_count, outside_window: self.outside_window }
    }
}

impl Detector for Analysis {
    fn observe(&mut self, record: &Record<'_>) {
        if self.since.is_some_and(|s| record.time < s) || self.until.is_some_and(|u| record.time >= u) {
            self.outside_window += 1;
            return;
        }
        self.span.observe(record);
        self.clusters.observe(record);
        self.coverage.observe(record);
    }

    fn merge(&mut self, other: Self) {
        self.outside_window += other.outside_window;
        self.span.merge(other.span);
        self.clusters.merge(other.clusters);
        self.coverage.merge(other.coverage);
    }
}

/// The biggest clusters, by requests, ordered by key within equal request counts; beyond them,
/// ties are ordered by a fixed hash of the key (see [`Analysis::finish`]).
pub const KEY_ORDERED: usize = 10_000;

/// One analysed cluster.
#[derive(Clone, Debug)]
pub struct ClusterFinding {
    /// Its key.
    pub key: cluster::ClusterKey,
    /// Its statistics (the timeline taken out).
    pub stats: Box<cluster::ClusterStats>,
    /// Timestamp resolution of its times (ms per tick: 1 or 1000).
    pub res_ms: i64,
    /// True when more than [`timeline::MAX_HITS`] times were seen (the earliest were analysed).
    pub truncated: bool,
    /// Its fixed-interval callers.
    pub periodic: Vec<periodic::Periodicity>,
    /// Fixed-interval findings dropped because the log's own gaps explain them.
    pub suppressed: usize,
    /// The activity of each periodic caller, aligned with `periodic`.
    pub activity: Vec<Activity>,
}

/// The result of the analysis.
#[derive(Clone, Debug)]
pub struct Findings {
    /// Time span of all records.
    pub span: Option<(UnixMillis, UnixMillis)>,
    /// The clusters, most requests first: every one, but for clusters of one request beyond
    /// the listed and the [`KEY_ORDERED`] biggest (see [`AnalysisOptions::listed_clusters`]).
    pub clusters: Vec<ClusterFinding>,
    /// Every cluster, kept or not.
    pub cluster_count: u64,
    /// Records outside `--since`/`--until`, not analysed.
    pub outside_window: u64,
}
