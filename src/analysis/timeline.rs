//! A cluster's request times, stored compactly: 4 bytes a hit.
//!
//! Times are `i32` offsets from a per-cluster base, in milliseconds when every record had
//! milliseconds, in seconds otherwise (the coarsest resolution seen wins, so no precision is
//! claimed that the log did not have). A millisecond timeline whose times span more than an
//! `i32` of milliseconds (about 24.8 days) falls back to seconds: a rule on the times alone, so
//! the resolution is the same whatever the order they arrive in and however the workers split
//! them. At most [`MAX_HITS`] times are kept: the earliest ones, the same set whatever the
//! order.

use smallvec::SmallVec;

use crate::model::{TimeResolution, UnixMillis};

/// Most times kept per cluster (4 MiB). Past it, the earliest are kept and the timeline is
/// marked truncated; counts elsewhere stay exact.
pub const MAX_HITS: usize = 1 << 20;

/// Offsets are kept in this unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Millis,
    Seconds,
}

impl Unit {
    fn ms(self) -> i64 {
        match self {
            Unit::Millis => 1,
            Unit::Seconds => 1000,
        }
    }

    /// Whole units in `ms` (`ms.div_euclid(self.ms())`), by a constant in each arm: a division
    /// by a value known only at run time is a slow instruction, and this runs for every record.
    fn count(self, ms: i64) -> i64 {
        match self {
            Unit::Millis => ms,
            Unit::Seconds => ms.div_euclid(1000),
        }
    }
}

/// The times of one cluster's requests.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Base time (ms) and unit, set by the first time pushed.
    origin: Option<(UnixMillis, Unit)>,
    /// Four inline before allocating: most clusters of a scanner's log have one hit.
    offsets: SmallVec<[i32; 4]>,
    /// The earliest and the latest time pushed (ms): their distance decides the unit.
    range: (UnixMillis, UnixMillis),
    truncated: bool,
}

/// The longest span of times kept in milliseconds.
const MILLIS_SPAN: i64 = i32::MAX as i64;

impl Timeline {
    /// Adds one time.
    pub fn push(&mut self, t: UnixMillis, res: TimeResolution) {
        let unit = match res {
            TimeResolution::Millis => Unit::Millis,
            TimeResolution::Seconds => Unit::Seconds,
        };
        let (base, current) = match self.origin {
            Some(origin) => {
                self.range = (self.range.0.min(t), self.range.1.max(t));
                origin
            }
            None => {
                self.range = (t, t);
                *self.origin.insert((t - t.rem_euclid(unit.ms()), unit))
            }
        };
        if unit > current {
            self.coarsen(unit);
        }
        if self.range.1 - self.range.0 > MILLIS_SPAN {
            self.coarsen(Unit::Seconds);
        }
        if !self.try_push(t) {
            self.coarsen(Unit::Seconds);
            if !self.try_push(t) {
                // Over ±68 years from the first time: not a log anyone writes; dropped.
                let _ = base;
            }
        }
        if self.offsets.len() >= 2 * MAX_HITS {
            self.keep_earliest();
        }
    }

    fn try_push(&mut self, t: UnixMillis) -> bool {
        let Some((base, unit)) = self.origin else { return false };
        match i32::try_from(unit.count(t - base)) {
            Ok(o) => {
                self.offsets.push(o);
                true
            }
            Err(_) => false,
        }
    }

    /// Converts the stored offsets to a coarser unit.
    fn coarsen(&mut self, to: Unit) {
        let Some((base, unit)) = self.origin else { return };
        if unit >= to {
            return;
        }
        let new_base = base.div_euclid(to.ms()) * to.ms();
        for o in &mut self.offsets {
            let t = base + i64::from(*o) * unit.ms();
            *o = i32::try_from(to.count(t - new_base)).unwrap_or(i32::MAX);
        }
        self.origin = Some((new_base, to));
    }

    fn keep_earliest(&mut self) {
        if self.offsets.len() > MAX_HITS {
            self.offsets.select_nth_unstable(MAX_HITS);
            self.offsets.truncate(MAX_HITS);
            self.truncated = true;
        }
    }

    /// Absorbs another timeline.
    pub fn merge(&mut self, other: Timeline) {
        let Some((obase, ounit)) = other.origin else { return };
        self.truncated |= other.truncated;
        if self.origin.is_none() {
            *self = other;
            return;
        }
        self.range = (self.range.0.min(other.range.0), self.range.1.max(other.range.1));
        if ounit > self.origin.map_or(ounit, |o| o.1) {
            self.coarsen(ounit);
        }
        if self.range.1 - self.range.0 > MILLIS_SPAN {
            self.coarsen(Unit::Seconds);
        }
        self.offsets.reserve(other.offsets.len());
        let mut rest = other.offsets.as_slice();
        if let Some((base, unit)) = self.origin.filter(|&(_, unit)| unit == ounit) {
            // The same unit: both bases are whole units, so every offset moves by the same
            // number of units, with no conversion through milliseconds.
            let shift = unit.count(obase - base);
            while let Some((&o, tail)) = rest.split_first() {
                let Ok(o) = i32::try_from(i64::from(o) + shift) else { break };
                self.offsets.push(o);
                rest = tail;
            }
        }
        for &o in rest {
            let t = obase + i64::from(o) * ounit.ms();
            if !self.try_push(t) {
                self.coarsen(Unit::Seconds);
                let _ = self.try_push(t);
            }
        }
        if self.offsets.len() >= 2 * MAX_HITS {
            self.keep_earliest();
        }
    }

    /// The times in ascending order, with their resolution.
    #[must_use]
    pub fn sorted(mut self) -> SortedTimes {
        self.sort()
    }

    /// Sorts the stored times in place (keeping the earliest [`MAX_HITS`]) and returns them in
    /// ascending order, with their resolution. The timeline stays as compact as it was, for
    /// [`Timeline::times`] to expand again: keeping it costs no new memory, where keeping the
    /// expanded times would cost twice its size.
    pub fn sort(&mut self) -> SortedTimes {
        self.keep_earliest();
        let Some((_, unit)) = self.origin else {
            return SortedTimes { times: Vec::new(), res_ms: 1000, truncated: false };
        };
        // A stable sort finds the sorted runs (each worker's chunks arrive in time order) and merges them.
        self.offsets.sort();
        SortedTimes { times: self.times(), res_ms: unit.ms(), truncated: self.truncated }
    }

    /// The stored times (ms), in the order they are stored: ascending once sorted
    /// ([`Timeline::sort`]).
    #[must_use]
    pub fn times(&self) -> Vec<UnixMillis> {
        let Some((base, unit)) = self.origin else { return Vec::new() };
        self.offsets.iter().map(|&o| base + i64::from(o) * unit.ms()).collect()
    }

    /// The resolution of the stored times (ms per tick: 1 or 1000; 1000 when empty).
    #[must_use]
    pub fn unit_ms(&self) -> i64 {
        self.origin.map_or(1000, |(_, u)| u.ms())
    }

    /// Number of times stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// True when no time is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// A cluster's request times, sorted (see [`Timeline::sorted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedTimes {
    /// The times (ms), ascending.
    pub times: Vec<UnixMillis>,
    /// Their resolution: ms per tick, 1 or 1000.
    pub res_ms: i64,
    /// True when more than [`MAX_HITS`] times were seen: these are the earliest.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeResolution::{Millis, Seconds};

    #[test]
    fn millis_round_trip_and_merge_in_any_order() {
        let ts = [1_558_723_294_250i64, 1_558_723_284_001, 1_558_723_304_999];
        let mut a = Timeline::default();
        a.push(ts[0], Millis);
        let mut b = Timeline::default();
        b.push(ts[1], Millis);
        b.push(ts[2], Millis);
        let mut ab = a.clone();
        ab.merge(b.clone());
        b.merge(a);
        let s = ab.sorted();
        assert_eq!(s.res_ms, 1);
        assert_eq!(s.times, vec![ts[1], ts[0], ts[2]]);
        assert_eq!(b.sorted().times, s.times);
    }

    #[test]
    fn seconds_win_over_millis() {
        let mut a = Timeline::default();
        a.push(10_250, Millis);
        a.push(12_000, Seconds);
        let s = a.sorted();
        assert_eq!((s.times, s.res_ms), (vec![10_000, 12_000], 1000));
    }

    #[test]
    fn a_long_millisecond_span_falls_back_to_seconds() {
        let mut a = Timeline::default();
        a.push(0, Millis);
        a.push(40 * 86_400_000 + 123, Millis);
        let s = a.sorted();
        assert_eq!((s.times, s.res_ms), (vec![0, 40 * 86_400_000], 1000));
    }

    /// The span decides the unit, not the first time seen: a first time in the middle of 40
    /// days (every other time within 24 days of it) still makes seconds, as in time order.
    #[test]
    fn the_span_decides_the_unit_whatever_comes_first() {
        let day = 86_400_000;
        let mut middle_first = Timeline::default();
        for t in [20 * day + 7, 7, 40 * day + 7] {
            middle_first.push(t, Millis);
        }
        let mut in_order = Timeline::default();
        for t in [7, 20 * day + 7, 40 * day + 7] {
            in_order.push(t, Millis);
        }
        let s = middle_first.sorted();
        assert_eq!((s.times.clone(), s.res_ms), (vec![0, 20 * day, 40 * day], 1000));
        assert_eq!(in_order.sorted(), s);
    }

    proptest::proptest! {
        /// Split between two workers, in any units and spans (a span over ±24 days does not fit
        /// milliseconds in an `i32`), a timeline merges into the one a single worker builds.
        #[test]
        fn merging_halves_is_reading_all(
            times in proptest::collection::vec((-5_000_000_000i64..5_000_000_000, proptest::bool::weighted(0.1)), 1..40),
            split in 0usize..40,
        ) {
            let res = |seconds: bool| if seconds { Seconds } else { Millis };
            let mut all = Timeline::default();
            let (mut a, mut b) = (Timeline::default(), Timeline::default());
            for (i, &(t, seconds)) in times.iter().enumerate() {
                all.push(t, res(seconds));
                if i < split { a.push(t, res(seconds)) } else { b.push(t, res(seconds)) }
            }
            let mut reversed = Timeline::default();
            for &(t, seconds) in times.iter().rev() {
                reversed.push(t, res(seconds));
            }
            let mut ba = b.clone();
            ba.merge(a.clone());
            a.merge(b);
            let all = all.sorted();
            proptest::prop_assert_eq!(&a.sorted(), &all);
            proptest::prop_assert_eq!(&ba.sorted(), &all);
            proptest::prop_assert_eq!(&reversed.sorted(), &all);
        }
    }
}
