//! Fixed-interval callers: does a cluster's traffic (or a share of it) arrive like clockwork?
//!
//! The method, its parameters and why they are what they are: `docs/design.md`, "The periodic
//! detector". In short:
//!
//! 1. **Beats.** Requests in the same tick (the same second at 1-s resolution, within 50 ms at
//!    millisecond resolution) are one beat, so retries and bursts do not fake short periods.
//! 2. **Candidates.** Periods worth testing come from *k-th-order gaps* (`t[i+k] − t[i]`, k ≤ 8:
//!    with K callers sharing a period P at different phases, the K-th-order gap is P exactly,
//!    where the first-order gaps are 3, 7, 3, 7 …), from *gap clusters* (the smallest gap that
//!    a tenth of all gaps share: survives heavy loss) and from *lag peaks* (differences to the
//!    next 16 beats, histogrammed: survives foreign traffic mixed in). The lag peaks are tried
//!    after the gaps' candidates, and not looked for when the best of those is a schedule no
//!    lag peak could replace (see `lags_hopeless`).
//! 3. **Tracking.** Each candidate is verified by a phase-locked tracker that walks the beats,
//!    accepting a beat within a tolerance of its prediction and nudging phase (α = 0.5) and
//!    period (β = 0.02): it follows the drifting phase of "sleep-after" schedulers (Consul) and
//!    refines the period below the timestamp resolution.
//! 4. **Peeling.** The best single-phase component is removed and the search repeats (up to four
//!    components), so a 10 s and a 15 s caller on one key are two findings, and two replicas of
//!    one scraper are two phases of one finding. Components whose active spans do not overlap are
//!    one caller that restarted, not two.
//! 5. **Confidence** = significance × tightness × coverage, each in [0, 1]:
//!    significance against a random (Poisson) null of the same rate, with a look-elsewhere
//!    penalty for having searched periods and phases; tightness from the jitter (net of
//!    timestamp quantisation) relative to the period; coverage of expected beats (saturating at
//!    50 %). A finding is listed at confidence ≥ 0.5.
//!
//! Cost: O(N log N) per cluster in its beats, a few tens of passes at most.

use smallvec::SmallVec;

use crate::model::UnixMillis;

/// Tunables of the detector, with the defaults the tests and the evaluation use.
#[derive(Clone, Debug)]
pub struct PeriodicParams {
    /// Fewest requests a cluster needs to be analysed.
    pub min_requests: usize,
    /// Fewest beats a component needs.
    pub min_beats: usize,
    /// Shortest active span of a finding (ms): a single burst is not a schedule.
    pub min_span_ms: i64,
    /// Confidence at which a finding is listed.
    pub min_confidence: f64,
    /// Most beats analysed per cluster (the earliest ones).
    pub max_beats: usize,
}

impl Default for PeriodicParams {
    fn default() -> Self {
        PeriodicParams {
            min_requests: 8,
            min_beats: 6,
            min_span_ms: 60_000,
            min_confidence: 0.5,
            max_beats: 1 << 18,
        }
    }
}

impl PeriodicParams {
    /// The longest period (ms) a caller sending one request a beat can have and still be found
    /// in `span_ms` of log time: it needs `min_requests` (and `min_beats`) beats, so that many
    /// periods less one fit in the span; 0 when the span is shorter than `min_span_ms`, where no
    /// schedule is found at all.
    #[must_use]
    pub fn longest_visible_period_ms(&self, span_ms: i64) -> i64 {
        if span_ms < self.min_span_ms {
            return 0;
        }
        let gaps = self.min_requests.max(self.min_beats).max(2) - 1;
        span_ms / i64::try_from(gaps).unwrap_or(i64::MAX)
    }
}

/// Highest order of gaps (`t[i+k] − t[i]`) proposed as periods: up to eight callers sharing a
/// key at different phases.
const KMAX: usize = 8;
/// Largest spread of k-th gaps around their median, relative to it, for a gap order to propose
/// its median.
const R_MAX: f64 = 0.15;
/// Beats after each beat whose lags are histogrammed.
const LAG_WINDOW: usize = 16;
/// Components peeled off one cluster at most.
const MAX_COMPONENTS: usize = 4;
/// The tracker's phase gain: how far a beat's error moves the next prediction.
const ALPHA: f64 = 0.5;
/// The tracker's period gain: how far a beat's error moves the period.
const BETA: f64 = 0.02;
/// The number of (period, phase) hypotheses a search tests, charged against significance.
const LOOK_ELSEWHERE: f64 = 1e5;
/// Missed beats in a row beyond which a silence is an outage, not a run of misses.
const OUTAGE_TICKS: i64 = 32;
/// Beats (or gaps) sampled to propose candidate periods.
const SAMPLE: usize = 8192;
/// Beats whose lags are histogrammed: a fourth of `SAMPLE` finds the same periods in the
/// evaluation at a fourth of the cost (see docs/performance.md).
const LAG_SAMPLE: usize = 2048;

/// A fixed-interval caller found in one cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Periodicity {
    /// The period, in milliseconds.
    pub period_ms: f64,
    /// Callers sharing the key at different phases (at the same time).
    pub phases: usize,
    /// Times the caller's phase jumped (a restart), beyond concurrent phases.
    pub restarts: usize,
    /// Robust spread of arrival times around the schedule (ms), timestamp quantisation included.
    pub jitter_ms: f64,
    /// Share of expected beats present, in [0, 1].
    pub coverage: f64,
    /// Requests explained by the schedule.
    pub requests: u64,
    /// Beats explained.
    pub beats: usize,
    /// Share of the cluster's requests explained, in [0, 1].
    pub periodic_fraction: f64,
    /// Overall confidence, in [0, 1].
    pub confidence: f64,
    /// Significance against random arrivals, in [0, 1].
    pub significance: f64,
    /// Tightness of the schedule, in [0, 1].
    pub tightness: f64,
    /// Coverage factor, in [0, 1] (coverage / 0.5, capped).
    pub coverage_factor: f64,
    /// First explained request.
    pub first_seen: UnixMillis,
    /// Last explained request.
    pub last_seen: UnixMillis,
    /// Time the caller was active (ms): the union of its components' spans, one beat added per
    /// active stretch; gaps between a stop and a restart are not counted.
    pub active_ms: f64,
}

/// One beat: a time and how many requests it holds.
#[derive(Clone, Copy, Debug)]
struct Beat {
    t: i64,
    hits: u32,
}

/// A single-phase component found by the tracker.
#[derive(Clone, Debug)]
struct Component {
    period: f64,
    tol: f64,
    assigned: Vec<usize>,
    ticks: Vec<i64>,
    errors: Vec<f64>,
}

/// The median of `v` (the element at rank `len / 2`; 0 for none), reordering `v`.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// The median of integers (the element at rank `len / 2`, as [`median`] picks it).
fn median_int(v: &mut [i64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable(mid).1 as f64
}

/// `v.round()` for `v` within ±2^52, without the library call that `round` is on x86-64's
/// baseline (no SSE4.1): the integer part and whether the fraction reaches one half.
#[inline]
fn round(v: f64) -> f64 {
    if v.abs() < 4.0e15 {
        let whole = v as i64 as f64;
        let frac = v - whole;
        let r = if frac >= 0.5 {
            whole + 1.0
        } else if frac <= -0.5 {
            whole - 1.0
        } else {
            whole
        };
        // A negative number that rounds to zero rounds to -0, as the library's does.
        r.copysign(v)
    } else {
        v.round()
    }
}

/// Sorted request times as beats: requests in the same tick (the same second at 1-s
/// resolution, within 50 ms at millisecond resolution) are one beat, so that retries and
/// bursts do not fake short periods.
fn coalesce(times: &[i64], res_ms: i64) -> Vec<Beat> {
    let gap = if res_ms >= 1000 { 0 } else { 50 };
    let mut beats: Vec<Beat> = Vec::with_capacity(times.len());
    for &t in times {
        match beats.last_mut() {
            Some(b) if t - b.t <= gap => b.hits += 1,
            _ => beats.push(Beat { t, hits: 1 }),
        }
    }
    beats
}

/// Candidate periods (ms) and a robust spread estimate, if any.
fn gap_candidates(beats: &[Beat], res: f64) -> Vec<(f64, Option<f64>)> {
    let n = beats.len();
    // Room for every candidate at once: one per gap order and the gap cluster's.
    let mut out = Vec::with_capacity(KMAX + 1);
    // Medians and gap shares are estimated from at most SAMPLE windows, evenly spread.
    let step = (n / SAMPLE).max(1);
    // The k-th gaps are whole milliseconds: selected (and sorted, below) as integers, which
    // compare in fewer instructions than floats by `total_cmp`, in the same order.
    let mut d: Vec<i64> = Vec::with_capacity(n.min(SAMPLE + 1));
    // The deviations from each order's median, in one list reused by every order: whole
    // milliseconds too (the median is one of the gaps), selected as integers.
    let mut deviations: Vec<i64> = Vec::new();
    for k in 1..=KMAX.min(n.saturating_sub(1)) {
        d.clear();
        d.extend((0..n - k).step_by(step).map(|i| beats[i + k].t - beats[i].t));
        let med = median_int(&mut d);
        if med < 2.0 * res {
            continue;
        }
        // The spread is within R_MAX of the median exactly when more than half of the gaps are
        // (the MAD is the deviation of that rank): one counting pass, where the MAD itself needs
        // a copy and a selection. Most orders of most clusters fail here.
        let within = d.iter().filter(|&&x| (x as f64 - med).abs() <= R_MAX * med).count();
        if within > d.len() / 2 {
            // The MAD and the mean of the gaps near the median, read off the integers.
            let center = med as i64;
            deviations.clear();
            deviations.extend(d.iter().map(|&x| (x - center).abs()));
            let spread = median_int(&mut deviations);
            let band = res.max(0.1 * med);
            let close = || d.iter().map(|&x| x as f64).filter(|x| (x - med).abs() <= band);
            let mean = close().sum::<f64>() / close().count().max(1) as f64;
            out.push((mean, Some(1.4826 * spread / std::f64::consts::SQRT_2)));
        }
    }
    // Gap clusters: the smallest first-order gap shared by a tenth of the gaps.
    let sampled = (0..n.saturating_sub(1)).step_by(step).len();
    // In the k-th gaps' list, which has room for them: a list collected through a filter
    // would grow from nothing.
    let mut g = d;
    g.clear();
    g.extend(
        (0..n.saturating_sub(1))
            .step_by(step)
            .map(|i| beats[i + 1].t - beats[i].t)
            .filter(|&x| x as f64 >= 2.0 * res),
    );
    g.sort_unstable();
    let need = (sampled / 10).max(3);
    let mut i = 0;
    while i < g.len() {
        let gi = g[i] as f64;
        let width = res.max(0.04 * gi);
        let j = g.partition_point(|&x| x as f64 <= gi + width);
        if j - i >= need {
            let mean = g[i..j].iter().map(|&x| x as f64).sum::<f64>() / (j - i) as f64;
            out.push((mean, None));
            break;
        }
        i += 1;
    }
    out
}

/// The logarithmic bin of a lag `d` (ms) of at least 100 ticks of `res` ms: 1 % wide, 100 and up.
fn log_bin(d: i64, res: f64) -> usize {
    100 + ((d as f64 / (100.0 * res)).ln() / 0.01f64.ln_1p()) as usize
}

/// [`log_bin`] read off tables, for the two resolutions logs have (1 ms and 1 s), up to
/// [`LogBins::MAX_LAG`]: the same bins, without a logarithm per lag.
///
/// Lags are grouped into cells by their exponent and the top 8 bits of their mantissa as
/// `f64`: a cell spans less than 0.4 %, so at most one bin starts inside it (bins are 1 %
/// wide). A cell keeps the bin of its least lag, and `starts` the least lag of every bin, both
/// found with [`log_bin`] itself: the bin of a lag is its cell's, or the next when the lag
/// reaches the next bin's start. `log_bin` grows with the lag, so this is `log_bin` exactly.
struct LogBins {
    /// The least lag of each bin from 100 (index 0) on.
    starts: Vec<i64>,
    /// For each cell from `first_cell` on, the bin of its least lag.
    cells: Vec<u16>,
    first_cell: u64,
}

impl LogBins {
    /// Lags from here (about 139 years) are binned by [`log_bin`].
    const MAX_LAG: i64 = 1 << 42;

    fn cell(d: i64) -> u64 {
        (d as f64).to_bits() >> 44
    }

    fn build(unit: i64) -> Self {
        let res = unit as f64;
        let least = 100 * unit;
        // The least lag of every bin, by bisection between the previous start and twice it.
        let last_bin = log_bin(Self::MAX_LAG, res);
        let mut starts = vec![least];
        for bin in 101..=last_bin + 1 {
            let (mut lo, mut hi) = (*starts.last().unwrap_or(&least), 2 * Self::MAX_LAG);
            hi = hi.min(2 * lo + 2);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if log_bin(mid, res) >= bin { hi = mid } else { lo = mid + 1 }
            }
            starts.push(lo);
        }
        let first_cell = Self::cell(least);
        let cells = (first_cell..=Self::cell(Self::MAX_LAG))
            .map(|c| {
                // The cell's least whole lag, at least `least`.
                let low = (f64::from_bits(c << 44).ceil() as i64).max(least);
                u16::try_from(log_bin(low, res)).unwrap_or(u16::MAX)
            })
            .collect();
        LogBins { starts, cells, first_cell }
    }

    /// The tables for `unit` (1 or 1000 ms), built once.
    fn for_resolution(unit: i64) -> Option<&'static LogBins> {
        static MS: std::sync::OnceLock<LogBins> = std::sync::OnceLock::new();
        static S: std::sync::OnceLock<LogBins> = std::sync::OnceLock::new();
        match unit {
            1 => Some(MS.get_or_init(|| Self::build(1))),
            1000 => Some(S.get_or_init(|| Self::build(1000))),
            _ => None,
        }
    }

    /// The bin of lag `d` (at least 100 ticks), `None` from [`LogBins::MAX_LAG`] on.
    #[inline]
    fn bin(&self, d: i64) -> Option<usize> {
        if d >= Self::MAX_LAG {
            return None;
        }
        let k = usize::try_from(Self::cell(d).checked_sub(self.first_cell)?).ok()?;
        let mut bin = usize::from(*self.cells.get(k)?);
        while self.starts.get(bin + 1 - 100).is_some_and(|&s| d >= s) {
            bin += 1;
        }
        Some(bin)
    }
}

thread_local! {
    /// The lag histogram's bins, kept between clusters and cleared bin by bin after use: a
    /// small cluster fills a few of its hundreds of bins, and zeroing them all cost more than
    /// the rest of its analysis.
    static LAG_BINS: std::cell::RefCell<Vec<(u32, i64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Lag peaks: differences to the next beats, histogrammed on a log scale; the smallest clear peaks.
fn lag_candidates(beats: &[Beat], res: f64) -> Vec<(f64, Option<f64>)> {
    LAG_BINS.with_borrow_mut(|counts| {
        let out = lag_peaks(beats, res, counts);
        debug_assert!(counts.iter().all(|&c| c == (0, 0)));
        out
    })
}

/// The beats whose lags are histogrammed, of `n`: at most LAG_SAMPLE, in four runs spread over
/// the timeline (lags need neighbours). Where each run starts, and its length.
fn lag_runs(n: usize) -> (Vec<usize>, usize) {
    if n <= LAG_SAMPLE {
        (vec![0], n)
    } else {
        let run = LAG_SAMPLE / 4;
        ((0..4).map(|i| i * (n - run) / 3).collect(), run)
    }
}

/// [`lag_candidates`] with `counts` as the histogram: all zero on entry, and left so.
fn lag_peaks(beats: &[Beat], res: f64, counts: &mut Vec<(u32, i64)>) -> Vec<(f64, Option<f64>)> {
    // Lags are whole milliseconds: binned and summed as integers (the sums stay far below 2^53,
    // so they are the floating-point sums exactly), the linear bins by a constant division and
    // the logarithmic ones from tables (a logarithm per lag was most of the analysis).
    let unit = res as i64;
    let tables = LogBins::for_resolution(unit);
    // `res` is a whole number of milliseconds, and lags are far below 2^53: comparing the
    // integers is comparing the floats, without a conversion per lag.
    let (least_lag, least_log) = (2 * unit, 100 * unit);
    let bin_of = |d: i64| -> usize {
        if d < least_log {
            match unit {
                1 => d as usize,
                1000 => (d / 1000) as usize,
                _ => (d as f64 / res) as usize,
            }
        } else {
            tables.and_then(|t| t.bin(d)).unwrap_or_else(|| log_bin(d, res))
        }
    };
    // The bins in use: those up to the largest lag's.
    let mut len = 0;
    // The bins that hold a lag, so that only they are looked at for peaks (the histogram has
    // hundreds of bins, and a small cluster fills a few).
    let mut touched: Vec<usize> = Vec::with_capacity(64);
    let (starts, run) = lag_runs(beats.len());
    for i in starts.iter().flat_map(|&s| s..s + run) {
        let b = &beats[i];
        for c in beats.iter().skip(i + 1).take(LAG_WINDOW) {
            let d = c.t - b.t;
            if d < least_lag {
                continue;
            }
            let k = bin_of(d);
            if k >= counts.len() {
                counts.resize(k + 1, (0, 0));
            }
            len = len.max(k + 1);
            if counts[k].0 == 0 {
                touched.push(k);
            }
            counts[k].0 += 1;
            counts[k].1 += d;
        }
    }
    let max = touched.iter().map(|&k| counts[k].0).max().unwrap_or(0);
    let mut out = Vec::new();
    // In ascending order, as a scan of every bin would meet them (the others are empty).
    touched.sort_unstable();
    for &k in &touched {
        let c = counts[k].0;
        if c < 8 || f64::from(c) < 0.3 * f64::from(max) {
            continue;
        }
        // A clear peak: at least its neighbours, and above its neighbourhood's typical bin, not
        // just a smooth slope. The neighbours are compared first: busy random traffic fills
        // many bins, few of them local maxima, and the median is the costly part.
        let left = if k > 0 { counts[k - 1].0 } else { 0 };
        let right = if k + 1 < len { counts[k + 1].0 } else { 0 };
        if c < left || c < right {
            continue;
        }
        let lo = k.saturating_sub(5);
        let hi = (k + 6).min(len);
        let mut around = [0.0f64; 10];
        let mut m = 0;
        for j in (lo..hi).filter(|&j| j != k) {
            around[m] = f64::from(counts[j].0);
            m += 1;
        }
        let typical = median(&mut around[..m]);
        if f64::from(c) >= 3.0 * typical.max(1.0) {
            out.push((counts[k].1 as f64 / f64::from(c), None));
            if out.len() == 4 {
                break;
            }
        }
    }
    for k in touched {
        counts[k] = (0, 0);
    }
    out
}

/// Walks the beats from `anchor` with a phase-locked loop at period `p0`.
fn track(beats: &[Beat], anchor: usize, p0: f64, tol: f64) -> Component {
    let mut period = p0;
    let mut reference = beats[anchor].t as f64;
    let mut tick = 0i64;
    // Room for the beats of a small cluster at once (most clusters are small, and a track
    // grows its three lists beat by beat); a big one's lists grow as it goes.
    let room = (beats.len() - anchor).min(64);
    let mut c = Component {
        period: p0,
        tol,
        assigned: Vec::with_capacity(room),
        ticks: Vec::with_capacity(room),
        errors: Vec::with_capacity(room),
    };
    c.assigned.push(anchor);
    c.ticks.push(0);
    c.errors.push(0.0);
    for (i, b) in beats.iter().enumerate().skip(anchor + 1) {
        let x = b.t as f64;
        let m = round((x - reference) / period);
        // Usually the next tick. That case is a branch of its own, with `m` a constant in it, so
        // the processor predicts it and goes on without waiting for the division: the loop's
        // chain from one beat to the next is then a few additions, not a division and a rounding.
        let (step, e, drift) = if m == 1.0 {
            let e = x - (reference + period);
            if e.abs() > tol {
                continue;
            }
            (period, e, BETA * e)
        } else {
            if m < 1.0 {
                continue;
            }
            let e = x - (reference + m * period);
            if e.abs() > tol {
                continue;
            }
            (m * period, e, BETA * e / m)
        };
        reference += step + ALPHA * e;
        period += drift;
        tick += m as i64;
        c.assigned.push(i);
        c.ticks.push(tick);
        c.errors.push(e);
    }
    c.period = period;
    c
}

/// Where to start tracking: the first beat, and the earliest beat in the densest phase bin.
fn anchors(beats: &[Beat], p: f64, tol: f64) -> SmallVec<[usize; 3]> {
    // The first beat, and one per span.
    let mut out = SmallVec::new();
    out.push(0);
    // A cluster of 256 beats or fewer gives the same answer for both spans: looked at once.
    let spans: &[usize] = if beats.len() > 256 { &[256, beats.len()] } else { &[256] };
    for &span in spans {
        let bins = ((p / tol).floor() as usize).clamp(1, 4096);
        let mut count = vec![0u32; bins];
        let base = beats[0].t as f64;
        // The phase as the fraction of `(t - base) / p` (t ≥ base, so truncation is the floor):
        // `%` on floats is a software `fmod`, and `floor` a library call on x86-64's baseline.
        let bin = |t: i64| {
            let q = (t as f64 - base) / p;
            (((q - q as u64 as f64) * bins as f64) as usize).min(bins - 1)
        };
        for b in beats.iter().take(span) {
            count[bin(b.t)] += 1;
        }
        let best = (0..bins).max_by_key(|&i| (count[i], std::cmp::Reverse(i))).unwrap_or(0);
        if let Some(i) = beats.iter().take(span).position(|b| bin(b.t) == best) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// The least window of a candidate whose spread was not measured (a gap cluster's, a lag
/// peak's), as a share of its period on either side.
const UNMEASURED_WINDOW: f64 = 0.05;

/// How far from its predicted time a beat of period `p` may land and still be on the schedule:
/// three times the measured spread `sigma`, bounded by the resolution and by 2–20 % of `p`.
fn tolerance(p: f64, sigma: Option<f64>, res: f64) -> f64 {
    let floor = res.max(0.02 * p);
    match sigma {
        Some(s) => (3.0 * s).clamp(floor, (0.2 * p).max(floor)),
        None => res.max(UNMEASURED_WINDOW * p),
    }
}

/// Scores of a component against the beats it was found in.
struct Scores {
    selection: f64,
    significance: f64,
    tightness: f64,
    coverage: f64,
    coverage_factor: f64,
    jitter: f64,
}

/// The Kullback–Leibler divergence (in nats) of a coin with heads rate `f` from one with rate
/// `q`: the evidence per trial that beats land on the schedule at rate `f` rather than at the
/// rate `q` that random arrivals would.
fn ln_kl(f: f64, q: f64) -> f64 {
    let term = |a: f64, b: f64| if a <= 0.0 { 0.0 } else { a * (a / b).ln() };
    term(f, q) + term(1.0 - f, 1.0 - q)
}

/// Scores a component: significance against random arrivals, tightness, coverage.
fn score(c: &Component, beats: &[Beat], res: f64) -> Scores {
    let n = beats.len() as f64;
    let a = c.assigned.len() as f64;
    // Expected beats: the ticks spanned, except that a silence of more than `OUTAGE_TICKS`
    // periods is an outage (of the caller, or of the log: a log kept 40 minutes a day) and
    // counts as one beat, so a caller is judged on the stretches where it was running.
    let expected: i64 =
        1 + c.ticks.windows(2).map(|w| if w[1] - w[0] > OUTAGE_TICKS { 1 } else { w[1] - w[0] }).sum::<i64>();
    let coverage = (a / expected as f64).min(1.0);
    let q = (2.0 * c.tol / c.period).min(1.0);
    let f = a / n;
    // Windows may cover half the circle (a caller every two ticks, whose window is the tick
    // it lands on), not more: the test is then against random arrivals that hit every tick.
    let significance = if f <= q || q > 0.5 {
        0.0
    } else {
        let log_evidence = n * ln_kl(f, q) - (LOOK_ELSEWHERE * c.period / (2.0 * c.tol)).ln();
        1.0 - (-log_evidence).exp().min(1.0)
    };
    // The errors' median absolute deviation from their median: a spread that a few outliers do
    // not move (× 1.4826, a normal distribution's standard deviation). One list serves both.
    let mut errs = c.errors.clone();
    let center = median(&mut errs);
    errs.clear();
    errs.extend(c.errors.iter().map(|x| (x - center).abs()));
    let jitter = 1.4826 * median(&mut errs);
    let jitter_eff = (jitter * jitter - res * res / 6.0).max(0.0).sqrt();
    let tightness = (1.0 - jitter_eff / (0.25 * c.period)).clamp(0.0, 1.0);
    let coverage_factor = (coverage / 0.5).min(1.0);
    Scores {
        selection: f * coverage * (1.0 - q),
        significance,
        tightness,
        coverage,
        coverage_factor,
        jitter: jitter.max(if res >= 1000.0 { res / 6f64.sqrt() } else { 0.0 }),
    }
}

/// The period of a component by least squares of beat times on beat ticks.
fn fitted_period(c: &Component, beats: &[Beat]) -> f64 {
    let n = c.assigned.len() as f64;
    if n < 2.0 {
        return c.period;
    }
    let mx = c.ticks.iter().map(|&k| k as f64).sum::<f64>() / n;
    let t0 = beats[c.assigned[0]].t;
    let my = c.assigned.iter().map(|&i| (beats[i].t - t0) as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (&k, &i) in c.ticks.iter().zip(&c.assigned) {
        let dx = k as f64 - mx;
        sxy += dx * ((beats[i].t - t0) as f64 - my);
        sxx += dx * dx;
    }
    if sxx > 0.0 { sxy / sxx } else { c.period }
}

/// A component accepted by the peeling loop, with its scores.
struct Found {
    period: f64,
    /// Phases of `period` this component stands for: 1, or m when it was found at a period m
    /// times shorter (see [`fold_harmonics`]).
    phases: usize,
    beats: usize,
    expected: f64,
    requests: u64,
    first: i64,
    last: i64,
    confidence: f64,
    significance: f64,
    tightness: f64,
    coverage_factor: f64,
    jitter: f64,
}

/// Beats a candidate is first tried on: a random cluster fails here, cheaply.
const SCREEN_BEATS: usize = 2048;

/// Whether a track of `n` beats at period `p` within `tol` could replace `best` (the comparison
/// in [`best_component`]), so that one that could not is not tracked at all: the result is the
/// same, and a clean schedule's multiples and wider windows cost nothing once it is found.
///
/// A track's selection score is `f × coverage × (1 − q)`, with `f` and `coverage` at most 1 and
/// `q = 2·tol/period`. Its period starts at `p` and moves by at most `BETA · tol` per beat, so
/// it ends within `n · BETA · tol` of `p`: that bounds both `1 − q` and the period it reports.
fn could_be_better(p: f64, tol: f64, n: usize, bc: &Component, bs: &Scores) -> bool {
    let drift = n as f64 * BETA * tol;
    // A margin of a millionth keeps rounding in the track's own arithmetic on the safe side.
    let bound = (1.0 - (2.0 * tol / (p + drift)).min(1.0)) * (1.0 + 1e-6);
    bound > bs.selection * 1.02
        || (bound >= bs.selection * 0.98 && p - drift < bc.period * 0.98 * (1.0 + 1e-6))
}

/// Whether no lag peak could replace `best` among `n` beats, whatever its period: so that the
/// lag histogram need not be built (the result is the same as trying each peak).
///
/// A lag peak comes with no spread, so its window is at least [`UNMEASURED_WINDOW`] (w) of its
/// period on either side ([`tolerance`]): `2·tol / (p + n·BETA·tol)`, the share
/// [`could_be_better`] charges, grows with `tol` and is then at least `2w / (1 + w·BETA·n)`,
/// whatever `p`. A best whose
/// selection score is beyond the bound that leaves, with the comparison's 2 % margin, cannot
/// be replaced by any of them.
fn lags_hopeless(best: &Scores, n: usize) -> bool {
    let w = UNMEASURED_WINDOW;
    let bound = (1.0 - 2.0 * w / (1.0 + w * BETA * n as f64)) * (1.0 + 1e-6);
    // A further millionth for rounding in the bound's own arithmetic.
    bound * (1.0 + 1e-6) < best.selection * 0.98
}

/// The best-scoring component among the candidates, tried on the first beats and then on all,
/// starting from `best` (a component found among other candidates, or `None`).
fn best_component(
    beats: &[Beat],
    cands: &[(f64, Option<f64>)],
    res: f64,
    pruning: Pruning,
    mut best: Option<(Component, Scores)>,
) -> Option<(Component, Scores)> {
    let hopeless = |best: &Option<(Component, Scores)>, p: f64, tol: f64| {
        pruning == Pruning::On
            && best.as_ref().is_some_and(|(bc, bs)| !could_be_better(p, tol, beats.len(), bc, bs))
    };
    for &(p, sigma) in cands {
        if !(p.is_finite() && p >= 2.0 * res) {
            continue;
        }
        // A period of two or three ticks cannot have a window of a whole tick on either side
        // (it would cover the circle): a quarter of the period, where a caller that keeps its
        // schedule lands on its tick every time. Such a candidate is only tracked when most gaps
        // are exactly it (the easy case a caller that fast makes): busy random traffic at 1-s
        // resolution proposes such periods all the time, and tracking them costs.
        if p < 4.0 * res {
            let exact = beats.windows(2).filter(|w| ((w[1].t - w[0].t) as f64 - p).abs() < 0.5 * res).count();
            if 2 * exact < beats.len().saturating_sub(1) {
                continue;
            }
        }
        let base = tolerance(p, sigma, res).min(0.25 * p);
        // Quantised timestamps can make the spread estimate zero: then also try a wider window,
        // and let the selection score (which charges for the wider window) decide.
        let floor = res.max(0.02 * p);
        let wider = (1.5 * base).min(0.2 * p);
        let tolerances: &[f64] = if base <= floor && wider > base { &[base, wider] } else { &[base] };
        for &tol in tolerances {
            if 2.0 * tol / p > 0.5 {
                continue;
            }
            if hopeless(&best, p, tol) {
                continue;
            }
            for anchor in anchors(beats, p, tol) {
                if hopeless(&best, p, tol) {
                    break;
                }
                if beats.len() > 2 * SCREEN_BEATS {
                    let window = &beats[anchor..(anchor + SCREEN_BEATS).min(beats.len())];
                    let s = score(&track(window, 0, p, tol), window, res);
                    if s.significance * s.tightness * s.coverage_factor < 0.25 {
                        continue;
                    }
                }
                let c = track(beats, anchor, p, tol);
                let s = score(&c, beats, res);
                let better = match &best {
                    None => true,
                    Some((bc, bs)) => {
                        s.selection > bs.selection * 1.02
                            || (s.selection >= bs.selection * 0.98 && c.period < bc.period * 0.98)
                    }
                };
                if better {
                    best = Some((c, s));
                }
            }
        }
    }
    best
}

/// Finds the fixed-interval callers among `times` (ms, ascending) logged at `res_ms`
/// resolution (1 or 1000). `total_requests` is the cluster's size, for `periodic_fraction`.
#[must_use]
pub fn detect(
    times: &[UnixMillis],
    res_ms: i64,
    total_requests: u64,
    params: &PeriodicParams,
) -> Vec<Periodicity> {
    detect_with(times, res_ms, total_requests, params, Pruning::On)
}

/// Whether [`best_component`] skips the candidates that could not replace its best (always,
/// except in the test that shows the skipping changes nothing).
#[derive(Clone, Copy, PartialEq)]
enum Pruning {
    On,
    #[cfg(test)]
    Off,
}

fn detect_with(
    times: &[UnixMillis],
    res_ms: i64,
    total_requests: u64,
    params: &PeriodicParams,
    pruning: Pruning,
) -> Vec<Periodicity> {
    if times.len() < params.min_requests {
        return Vec::new();
    }
    let res = res_ms as f64;
    let mut beats = coalesce(times, res_ms);
    beats.truncate(params.max_beats);
    let mut found: SmallVec<[Found; MAX_COMPONENTS]> = SmallVec::new();
    for _ in 0..MAX_COMPONENTS {
        if beats.len() < params.min_beats.max(2) {
            break;
        }
        let accept = |c: &Component, s: &Scores| {
            let first = beats[c.assigned[0]].t;
            let last = beats[*c.assigned.last().unwrap_or(&0)].t;
            c.assigned.len() >= params.min_beats
                && last - first >= params.min_span_ms
                && s.significance * s.tightness * s.coverage_factor >= params.min_confidence
        };
        let mut cands = gap_candidates(&beats, res);
        let mut best = best_component(&beats, &cands, res, pruning, None);
        // The lag peaks are tried after the gaps' candidates, against the best of those: when
        // that best is one none of them could replace (a clean schedule), the histogram is not
        // built at all.
        let skip_lags =
            pruning == Pruning::On && best.as_ref().is_some_and(|(_, s)| lags_hopeless(s, beats.len()));
        if !skip_lags {
            let gaps = cands.len();
            for lag in lag_candidates(&beats, res) {
                if !cands.iter().any(|c| (c.0 - lag.0).abs() <= 0.02 * lag.0) {
                    cands.push(lag);
                }
            }
            best = best_component(&beats, &cands[gaps..], res, pruning, best);
        }
        let Some((c, s)) = best.filter(|(c, s)| accept(c, s)) else {
            break;
        };
        let period = fitted_period(&c, &beats);
        let requests = c.assigned.iter().map(|&i| u64::from(beats[i].hits)).sum();
        found.push(Found {
            phases: 1,
            period,
            beats: c.assigned.len(),
            expected: c.assigned.len() as f64 / s.coverage.max(f64::MIN_POSITIVE),
            requests,
            first: beats[c.assigned[0]].t,
            last: beats[*c.assigned.last().unwrap_or(&0)].t,
            confidence: s.significance * s.tightness * s.coverage_factor,
            significance: s.significance,
            tightness: s.tightness,
            coverage_factor: s.coverage_factor,
            jitter: s.jitter,
        });
        // The beats it took go: their positions are in increasing order.
        let mut taken = c.assigned.iter().copied().peekable();
        let mut i = 0;
        beats.retain(|_| {
            i += 1;
            taken.next_if_eq(&(i - 1)).is_none()
        });
    }
    group(found, res, total_requests)
}

/// Re-expresses a component that runs concurrently with one of a whole multiple of its period
/// (m = 2 to 4) as m phases of the longer period: one monitor probing from three locations every
/// 60 s, two of them 30 s apart, is found as a 30 s and a 60 s component, and is one caller at
/// 60 s with three phases.
fn fold_harmonics(found: &mut [Found], res: f64) {
    for i in 0..found.len() {
        let short = found[i].period;
        let longer = (0..found.len()).find_map(|j| {
            let (long, other) = (found[j].period, &found[j]);
            let m = (long / short).round();
            let overlap = other.last.min(found[i].last) - other.first.max(found[i].first);
            let shorter_span = (other.last - other.first).min(found[i].last - found[i].first);
            ((2.0..=4.0).contains(&m)
                && (long - m * short).abs() <= res.max(0.01 * long)
                && overlap as f64 >= 0.5 * shorter_span as f64)
                .then_some((long, m as usize))
        });
        if let Some((long, m)) = longer {
            found[i].period = long;
            found[i].phases *= m;
        }
    }
}

/// Components with the same period are one finding: concurrent ones are phases, sequential
/// ones a restart.
fn group(mut found: SmallVec<[Found; MAX_COMPONENTS]>, res: f64, total_requests: u64) -> Vec<Periodicity> {
    fold_harmonics(&mut found, res);
    found.sort_by(|a, b| a.period.total_cmp(&b.period));
    // At most a finding per component, and most clusters have one: room for them at once (a
    // list grown from empty makes room for four, and a log can keep a hundred thousand).
    let mut out = Vec::with_capacity(found.len());
    let mut i = 0;
    while i < found.len() {
        let mut j = i + 1;
        while j < found.len() && (found[j].period - found[i].period).abs() <= res.max(0.01 * found[i].period)
        {
            j += 1;
        }
        let g = &found[i..j];
        let beats: usize = g.iter().map(|c| c.beats).sum();
        let w = |f: fn(&Found) -> f64| g.iter().map(|c| f(c) * c.beats as f64).sum::<f64>() / beats as f64;
        // Phases: the most components active at one time.
        let weight = |c: &Found| i32::try_from(c.phases).unwrap_or(1);
        // A group is at most MAX_COMPONENTS components: its lists fit on the stack.
        let mut edges: SmallVec<[(i64, i32); 2 * MAX_COMPONENTS]> =
            g.iter().flat_map(|c| [(c.first, weight(c)), (c.last, -weight(c))]).collect();
        edges.sort_by_key(|&(t, d)| (t, -d));
        let (mut now, mut phases) = (0i32, 0i32);
        for (_, d) in edges {
            now += d;
            phases = phases.max(now);
        }
        let phases = usize::try_from(phases.max(1)).unwrap_or(1);
        let requests: u64 = g.iter().map(|c| c.requests).sum();
        let mut spans: SmallVec<[(i64, i64); MAX_COMPONENTS]> = g.iter().map(|c| (c.first, c.last)).collect();
        spans.sort_unstable();
        let mut pieces: SmallVec<[(i64, i64); MAX_COMPONENTS]> = SmallVec::new();
        for (a, b) in spans {
            match pieces.last_mut() {
                Some(p) if a <= p.1 => p.1 = p.1.max(b),
                _ => pieces.push((a, b)),
            }
        }
        let beat = w(|c| c.period) / phases as f64;
        let active_ms = pieces.iter().map(|(a, b)| (b - a) as f64 + beat).sum();
        let expected: f64 = g.iter().map(|c| c.expected).sum();
        out.push(Periodicity {
            period_ms: w(|c| c.period),
            phases,
            restarts: g.iter().map(|c| c.phases).sum::<usize>().saturating_sub(phases),
            jitter_ms: w(|c| c.jitter),
            coverage: (beats as f64 / expected).min(1.0),
            requests,
            beats,
            periodic_fraction: if total_requests == 0 {
                0.0
            } else {
                requests as f64 / total_requests as f64
            },
            confidence: w(|c| c.confidence),
            significance: w(|c| c.significance),
            tightness: w(|c| c.tightness),
            coverage_factor: w(|c| c.coverage_factor),
            first_seen: g.iter().map(|c| c.first).min().unwrap_or(0),
            last_seen: g.iter().map(|c| c.last).max().unwrap_or(0),
            active_ms,
        });
        i = j;
    }
    out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.period_ms.total_cmp(&b.period_ms)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::scenarios::{Scenario, evaluate, negatives, positives};

    fn run(s: &Scenario) -> Vec<(f64, usize)> {
        detect(&s.times, s.res_ms, s.times.len() as u64, &PeriodicParams::default())
            .into_iter()
            .map(|p| (p.period_ms, p.phases))
            .collect()
    }

    proptest::proptest! {
        /// The tracker's rounding is the library's, halves and the edges next to them included.
        #[test]
        fn round_is_the_library_round(whole in -5_000_000i64..5_000_000, frac in -1.0f64..1.0, wide in -1e17f64..1e17) {
            for v in [whole as f64 + frac, whole as f64 + 0.5, whole as f64 - 0.5, frac, wide] {
                for v in [v, v.next_up(), v.next_down()] {
                    proptest::prop_assert_eq!(round(v).to_bits(), v.round().to_bits(), "{}", v);
                }
            }
        }

        /// The tables give the logarithm's bin for any lag, the lags around every bin's start
        /// included.
        #[test]
        fn lag_bins_from_tables_are_the_logarithms(d in 0i64..LogBins::MAX_LAG, bin in 0usize..2600) {
            for unit in [1i64, 1000] {
                let (t, res) = (LogBins::for_resolution(unit).unwrap(), unit as f64);
                let near = t.starts.get(bin.min(t.starts.len() - 1)).copied().unwrap_or(0);
                for d in [d, near - 1, near, near + 1] {
                    if d >= 100 * unit && d < LogBins::MAX_LAG {
                        proptest::prop_assert_eq!(t.bin(d), Some(log_bin(d, res)), "{} at {} ms", d, unit);
                    }
                }
            }
        }

        #[test]
        fn the_integer_median_is_the_float_median(mut v in proptest::collection::vec(0i64..1_000_000, 0..50)) {
            let mut f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            proptest::prop_assert_eq!(median_int(&mut v), median(&mut f));
        }
    }

    /// The lag histogram as a plain scan of every bin: what [`lag_candidates`] must equal.
    fn lag_candidates_by_scan(beats: &[Beat], res: f64) -> Vec<(f64, Option<f64>)> {
        let bin_of =
            |d: i64| if (d as f64) < 100.0 * res { (d as f64 / res) as usize } else { log_bin(d, res) };
        let mut counts: Vec<(u32, i64)> = Vec::new();
        let (starts, run) = lag_runs(beats.len());
        for i in starts.iter().flat_map(|&s| s..s + run) {
            for c in beats.iter().skip(i + 1).take(LAG_WINDOW) {
                let d = c.t - beats[i].t;
                if (d as f64) >= 2.0 * res {
                    let k = bin_of(d);
                    if k >= counts.len() {
                        counts.resize(k + 1, (0, 0));
                    }
                    counts[k].0 += 1;
                    counts[k].1 += d;
                }
            }
        }
        let max = counts.iter().map(|c| c.0).max().unwrap_or(0);
        let mut out = Vec::new();
        for k in 0..counts.len() {
            let c = counts[k].0;
            if c < 8 || f64::from(c) < 0.3 * f64::from(max) {
                continue;
            }
            let (lo, hi) = (k.saturating_sub(5), (k + 6).min(counts.len()));
            let mut around: Vec<f64> = (lo..hi).filter(|&j| j != k).map(|j| f64::from(counts[j].0)).collect();
            let typical = median(&mut around);
            let left = if k > 0 { counts[k - 1].0 } else { 0 };
            let right = counts.get(k + 1).map_or(0, |x| x.0);
            if c >= left && c >= right && f64::from(c) >= 3.0 * typical.max(1.0) {
                out.push((counts[k].1 as f64 / f64::from(c), None));
                if out.len() == 4 {
                    break;
                }
            }
        }
        out
    }

    /// Skipping the candidates that cannot beat the best, and the sparse lag histogram, are
    /// shortcuts: on every scenario of the evaluation they give exactly (bit for bit) what the
    /// full search and a scan of every bin give.
    #[test]
    fn the_shortcuts_change_no_result() {
        let p = PeriodicParams::default();
        for seed in [1, 2, 3] {
            for s in positives(seed).iter().chain(&negatives(seed)) {
                let n = s.times.len() as u64;
                let pruned = detect_with(&s.times, s.res_ms, n, &p, Pruning::On);
                let full = detect_with(&s.times, s.res_ms, n, &p, Pruning::Off);
                assert_eq!(format!("{pruned:?}"), format!("{full:?}"), "{}", s.name);
                let beats = coalesce(&s.times, s.res_ms);
                let res = s.res_ms as f64;
                let (sparse, scan) = (lag_candidates(&beats, res), lag_candidates_by_scan(&beats, res));
                assert_eq!(format!("{sparse:?}"), format!("{scan:?}"), "{}", s.name);
            }
        }
    }

    /// [`lags_hopeless`] is the bound it claims, and a tight one: a best that it accepts is one
    /// that [`could_be_better`] says no lag peak can replace (a window of 5 % of the period or
    /// more on either side), whatever the peak's period and the number of beats; a best just
    /// under it could be replaced by some peak.
    #[test]
    fn no_lag_peak_can_replace_a_best_that_lags_hopeless_accepts() {
        let scores = |selection: f64| Scores {
            selection,
            significance: 1.0,
            tightness: 1.0,
            coverage: 1.0,
            coverage_factor: 1.0,
            jitter: 0.0,
        };
        // A best with a long period, so that a shorter period counts for any peak.
        let best =
            Component { period: 1e12, tol: 1.0, assigned: Vec::new(), ticks: Vec::new(), errors: Vec::new() };
        let mut checked = 0;
        for n in [6, 12, 100, 1000, 3000, 100_000] {
            // Over about 4,000 beats, no score is enough (a peak's period may drift far).
            if !lags_hopeless(&scores(1.0), n) {
                continue;
            }
            checked += 1;
            // The least selection score it accepts, by bisection.
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..60 {
                let mid = (lo + hi) / 2.0;
                if lags_hopeless(&scores(mid), n) { hi = mid } else { lo = mid }
            }
            let (at, under) = (scores(hi), scores(hi * 0.999));
            let mut replaceable = false;
            for p in [2.0, 10.0, 999.0, 60_000.0, 86_400_000.0] {
                for share in [0.05, 0.050_001, 0.06, 0.1, 0.25] {
                    let tol = share * p;
                    assert!(!could_be_better(p, tol, n, &best, &at), "n {n}, p {p}, tol {tol}");
                    replaceable |= could_be_better(p, tol, n, &best, &under);
                }
            }
            assert!(replaceable, "n {n}: the bound is not tight");
        }
        assert_eq!(checked, 5);
    }

    #[test]
    fn every_positive_scenario_is_found_with_the_right_period_and_phases() {
        for seed in [1, 2, 3] {
            let e = evaluate(&positives(seed), run);
            assert!(e.failures.is_empty(), "seed {seed}: {:#?}", e.failures);
            assert!(e.max_period_error < 0.01, "seed {seed}: {e:?}");
        }
    }

    #[test]
    fn no_negative_scenario_is_reported() {
        for seed in [1, 2, 3] {
            let e = evaluate(&negatives(seed), run);
            assert_eq!(e.false_positives, 0, "seed {seed}: {:#?}", e.failures);
        }
    }
}
