//! Detectors: accumulators that observe records and merge without locks.
//!
//! Every detector has the same shape (xsv's `Commute`): each worker observes its own chunks
//! into its own instance, and instances are merged. `merge` must be associative and
//! commutative, so that the result depends neither on the thread count nor on input order.
//! Detectors do no I/O and no formatting.

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
