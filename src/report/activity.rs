//! When a periodic caller was active, for pictures: the whole log span in bins, and the hits of
//! a short window at the caller's start, where a fixed interval shows as a comb.

use crate::analysis::periodic::Periodicity;
use crate::model::UnixMillis;

/// Bins of [`Activity::bins`] over the log's span.
pub const ACTIVITY_BINS: usize = 240;
/// Periods shown in [`Activity::zoom`].
pub const ZOOM_PERIODS: f64 = 12.0;

/// When a periodic caller's cluster was active.
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
    /// The activity of caller `p` of a cluster whose request times are `times` (ascending), over
    /// the log's `span`.
    #[must_use]
    pub fn new(times: &[UnixMillis], span: (UnixMillis, UnixMillis), p: &Periodicity) -> Self {
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
