//! When does the log have records at all? A log can be sampled or gappy (the Elastic Apache
//! data set holds one minute of every hour), and then every repeated caller seems to arrive at
//! the log's rhythm. This detector keeps a bitmap of the seconds that hold any record, so that a
//! periodic finding can be checked against it: if the other traffic, too, only ever appears
//! around the caller's beats, the rhythm belongs to the log, not to the caller.

use std::collections::BTreeMap;

use crate::model::{Record, UnixMillis};

const SECONDS_PER_DAY: i64 = 86_400;
const WORDS_PER_DAY: usize = 1350; // 86,400 bits

/// Most days tracked (a bitmap is 10.8 KB a day): the earliest, whatever the order the records
/// came in; later days are not tracked.
pub const MAX_DAYS: usize = 400;

/// Seconds that hold at least one record, across all inputs.
#[derive(Clone, Debug, Default)]
pub struct LogCoverage {
    days: BTreeMap<i64, Box<[u64; WORDS_PER_DAY]>>,
    last: Option<i64>,
    /// The second marked last: consecutive records mostly share it, and then skip the lookup.
    last_second: Option<i64>,
}

impl LogCoverage {
    /// Marks the second of `record`.
    pub fn observe(&mut self, record: &Record<'_>) {
        self.mark(record.time.div_euclid(1000));
    }

    fn mark(&mut self, second: i64) {
        if self.last_second == Some(second) {
            return;
        }
        self.last_second = Some(second);
        let day = second.div_euclid(SECONDS_PER_DAY);
        if self.last != Some(day) && !self.days.contains_key(&day) {
            if self.days.len() >= MAX_DAYS {
                // Full: an earlier day takes the place of the latest one. (A day left out never
                // comes back: the days kept are all earlier.)
                if self.days.last_key_value().is_none_or(|(&latest, _)| day > latest) {
                    return;
                }
                self.days.pop_last();
            }
            self.days.insert(day, Box::new([0; WORDS_PER_DAY]));
        }
        self.last = Some(day);
        if let Some(bits) = self.days.get_mut(&day) {
            let s = usize::try_from(second.rem_euclid(SECONDS_PER_DAY)).unwrap_or(0);
            bits[s / 64] |= 1 << (s % 64);
        }
    }

    /// Absorbs another coverage (a union, of the earliest [`MAX_DAYS`] days: the same whatever
    /// the order of the merges).
    pub fn merge(&mut self, other: LogCoverage) {
        for (day, bits) in other.days {
            match self.days.entry(day) {
                std::collections::btree_map::Entry::Occupied(mut mine) => {
                    for (a, b) in mine.get_mut().iter_mut().zip(bits.iter()) {
                        *a |= b;
                    }
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(bits);
                }
            }
        }
        while self.days.len() > MAX_DAYS {
            self.days.pop_last();
        }
        self.last = None;
        self.last_second = None;
    }

    /// Occupied seconds in `[from, to]` (seconds since the epoch, inclusive).
    fn occupied(&self, from: i64, to: i64) -> u64 {
        let mut total = 0u64;
        let mut s = from;
        while s <= to {
            let day = s.div_euclid(SECONDS_PER_DAY);
            let day_end = (day + 1) * SECONDS_PER_DAY - 1;
            let end = to.min(day_end);
            if let Some(bits) = self.days.get(&day) {
                let a = usize::try_from(s - day * SECONDS_PER_DAY).unwrap_or(0);
                let b = usize::try_from(end - day * SECONDS_PER_DAY).unwrap_or(0);
                total += count_bits(bits, a, b);
            }
            s = end + 1;
        }
        total
    }

    /// True when the periodicity of a cluster whose hits are `own` (ms, ascending) is explained
    /// by the log's own gaps: windows of ±max(60 s, 5 % of the period) around its expected beats
    /// are narrow (together at most a quarter of the period) and cover at most a fifth of its
    /// active span, yet hold at least 80 % of the other traffic of that span (judged on at least
    /// 20 other occupied seconds).
    #[must_use]
    pub fn explains(&self, own: &[UnixMillis], first: UnixMillis, last: UnixMillis, period_ms: f64) -> bool {
        let from = first.div_euclid(1000);
        let to = last.div_euclid(1000);
        if to <= from {
            return false;
        }
        let half = (60.0f64).max(0.05 * period_ms / 1000.0) as i64;
        // Only a period much longer than the windows can be the log's rhythm: with wide windows
        // they merge into blocks, and any log with quiet hours would "explain" every caller.
        if (2 * half) as f64 > 0.25 * period_ms / 1000.0 {
            return false;
        }
        // Windows around the caller's expected beats in the span: its own hits, and the beats it
        // missed, interpolated between consecutive hits. Merged as they go.
        let period_s = period_ms / 1000.0;
        let mut windows: Vec<(i64, i64)> = Vec::new();
        let mut push = |s: i64| {
            let (a, b) = ((s - half).max(from), (s + half).min(to));
            match windows.last_mut() {
                Some(w) if a <= w.1 + 1 => w.1 = w.1.max(b),
                _ => windows.push((a, b)),
            }
        };
        let mut own_seconds = 0u64;
        let mut prev_second: Option<i64> = None;
        for &t in own.iter().filter(|&&t| t >= first && t <= last) {
            let s = t.div_euclid(1000);
            if let Some(p) = prev_second {
                let gap = (s - p) as f64;
                if gap > 1.5 * period_s {
                    let missed = (gap / period_s).round();
                    let step = gap / missed;
                    for k in 1..missed as i64 {
                        push(p + (k as f64 * step).round() as i64);
                    }
                }
            }
            if prev_second != Some(s) {
                own_seconds += 1;
                prev_second = Some(s);
            }
            push(s);
        }
        let covered: i64 = windows.iter().map(|(a, b)| b - a + 1).sum();
        if covered as f64 > 0.2 * (to - from + 1) as f64 {
            return false;
        }
        let inside: u64 = windows.iter().map(|&(a, b)| self.occupied(a, b)).sum();
        let others_inside = inside.saturating_sub(own_seconds);
        let others = self.occupied(from, to).saturating_sub(own_seconds);
        others >= 20 && others_inside as f64 >= 0.8 * others as f64
    }
}

/// Set bits of `bits` between bit `a` and bit `b`, inclusive.
fn count_bits(bits: &[u64; WORDS_PER_DAY], a: usize, b: usize) -> u64 {
    let (wa, wb) = (a / 64, b / 64);
    let mask_from = |i: usize| u64::MAX << (i % 64);
    let mask_to = |i: usize| if i % 64 == 63 { u64::MAX } else { (1u64 << (i % 64 + 1)) - 1 };
    if wa == wb {
        return u64::from((bits[wa] & mask_from(a) & mask_to(b)).count_ones());
    }
    let mut n =
        u64::from((bits[wa] & mask_from(a)).count_ones()) + u64::from((bits[wb] & mask_to(b)).count_ones());
    for w in &bits[wa + 1..wb] {
        n += u64::from(w.count_ones());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov(seconds: impl IntoIterator<Item = i64>) -> LogCoverage {
        let mut c = LogCoverage::default();
        for s in seconds {
            c.mark(s);
        }
        c
    }

    #[test]
    fn counts_across_words_and_days() {
        let c = cov([0, 63, 64, 65, 86_399, 86_400, 86_401]);
        assert_eq!(c.occupied(0, 86_401), 7);
        assert_eq!(c.occupied(63, 64), 2);
        assert_eq!(c.occupied(1, 62), 0);
        assert_eq!(c.occupied(86_399, 86_400), 2);
    }

    /// Over [`MAX_DAYS`] days, the earliest are kept: the same days and seconds whatever the
    /// order of the records and however they are split between merges.
    #[test]
    fn the_earliest_days_are_kept_in_any_order() {
        let days = MAX_DAYS as i64 + 50;
        let seconds: Vec<i64> =
            (0..days).flat_map(|d| [d * SECONDS_PER_DAY + 7, d * SECONDS_PER_DAY + 99]).collect();
        let forward = cov(seconds.iter().copied());
        let backward = cov(seconds.iter().rev().copied());
        let mut split = cov(seconds.iter().copied().filter(|s| (s / SECONDS_PER_DAY) % 3 == 0));
        split.merge(cov(seconds.iter().rev().copied().filter(|s| (s / SECONDS_PER_DAY) % 3 != 0)));
        for c in [&forward, &backward, &split] {
            let kept: Vec<i64> = c.days.keys().copied().collect();
            assert_eq!(kept, (0..MAX_DAYS as i64).collect::<Vec<_>>());
            assert_eq!(c.occupied(0, days * SECONDS_PER_DAY), 2 * MAX_DAYS as u64);
        }
    }

    #[test]
    fn a_log_sampled_one_minute_an_hour_explains_hourly_callers() {
        const H: i64 = 3600;
        // The log: only minute :05 of each hour has records (many callers).
        let sampled = cov((0..96).flat_map(|h| (0..60).step_by(3).map(move |s| h * H + 300 + s)));
        let caller: Vec<i64> = (0..96).map(|h| (h * H + 310) * 1000).collect();
        let (first, last) = (caller[0], caller[95]);
        assert!(sampled.explains(&caller, first, last, 3_600_000.0));
        // The same caller in a continuous log: its rhythm is its own.
        let continuous = cov((0..96 * H).step_by(7));
        assert!(!continuous.explains(&caller, first, last, 3_600_000.0));
        // Alone in a quiet log: nothing to judge by, kept.
        let alone = cov(caller.iter().map(|t| t / 1000));
        assert!(!alone.explains(&caller, first, last, 3_600_000.0));
        // A 60 s probe in a log of 40-minute blocks, one a day: the gaps are the log's, the
        // rhythm is the probe's.
        let blocks = cov((0..3).flat_map(|d| (0..2400).step_by(20).map(move |s| d * 86_400 + s)));
        let probe: Vec<i64> =
            (0..3).flat_map(|d| (0..40).map(move |k| (d * 86_400 + k * 60) * 1000)).collect();
        assert!(!blocks.explains(&probe, probe[0], probe[119], 60_000.0));
        // A 10 s probe: its windows cover the whole span, never judged.
        let probe: Vec<i64> = (0..1000).map(|k| k * 10_000).collect();
        assert!(!sampled.explains(&probe, 0, 9_990_000, 10_000.0));
    }
}
