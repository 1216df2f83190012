//! Generators of synthetic access logs with known contents, for benchmarks and tests.
//!
//! Nothing here reads real data; everything is deterministic for a given seed. Not part of the
//! tool: compiled for the crate's own tests, and with the `synth` feature, which the tests,
//! benches and examples turn on.

use std::io::{self, Write};

use chrono::DateTime;

/// A path segment for `n`, of letters that are not hex digits (`g` to `z`): distinct numbers
/// give distinct segments, and none is ever taken for an id and folded into `:id`.
#[must_use]
pub fn letters_only(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push(char::from(b'g' + (n % 20) as u8));
        n /= 20;
        if n == 0 {
            return w;
        }
    }
}

/// A small, fast, deterministic PRNG (SplitMix64): plenty for generating test traffic, and
/// stable across platforms and crate versions, so fixed seeds give fixed logs forever.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Exponentially distributed with the given mean (Poisson inter-arrival times).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:67.0) Gecko/20100101 Firefox/67.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];

/// One line in the `log_format` of `sample-logs/incident.jsonl` (`@timestamp` with 1-s resolution, empty
/// `remote_addr`, `"status": "…"` with its odd space).
#[allow(clippy::too_many_arguments)]
fn incident_line(
    out: &mut Vec<u8>,
    ts: &str,
    client: &str,
    host: &str,
    request: &str,
    status: u16,
    bytes: u32,
    request_time_ms: u32,
    referrer: &str,
    ua: &str,
) {
    let _ = writeln!(
        out,
        "{{\"@timestamp\":\"{ts}\",\"remote_addr\":\"{client}\",\"host\":\"{host}\",\"request\":\"{request}\",\"status\": \"{status}\",\"body_bytes_sent\":\"{bytes}\",\"request_time\":\"{}.{:03}\",\"http_referrer\":\"{referrer}\",\"http_user_agent\":\"{ua}\"}}",
        request_time_ms / 1000,
        request_time_ms % 1000
    );
}

/// Writes `lines` lines like `sample-logs/incident.jsonl`: a `Go-http-client/1.1` probe of `/` every 10 s
/// (302, then `/login`), two ELB nodes on `/health` every 30 s each, Consul on `/health` every
/// 10 s, and browsers at about `human_rate` requests per second. Starts at
/// 2019-05-24T00:00:00Z. Returns the bytes written.
///
/// # Errors
/// Whatever the writer returns.
pub fn incident_log(lines: u64, human_rate: f64, seed: u64, out: &mut dyn Write) -> io::Result<u64> {
    const START: i64 = 1_558_656_000; // 2019-05-24T00:00:00Z
    let mut rng = SplitMix64::new(seed);
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut second = 0i64;
    while written < lines {
        let t = START + second;
        let ts = DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
            .unwrap_or_default();
        let before = buf.len();
        let mut n = 0u64;
        if second % 10 == 4 {
            incident_line(
                &mut buf,
                &ts,
                "",
                "172.12.1.189:80",
                "GET / HTTP/1.1",
                302,
                0,
                10,
                "",
                "Go-http-client/1.1",
            );
            incident_line(
                &mut buf,
                &ts,
                "",
                "172.12.1.189",
                "GET /login HTTP/1.1",
                200,
                1769,
                12,
                "http://172.12.1.189:80",
                "Go-http-client/1.1",
            );
            n += 2;
        }
        if second % 10 == 0 {
            incident_line(
                &mut buf,
                &ts,
                "",
                "localhost",
                "GET /health HTTP/1.1",
                200,
                6,
                1,
                "",
                "Consul Health Check",
            );
            n += 1;
        }
        if second % 30 == 2 || second % 30 == 5 {
            incident_line(
                &mut buf,
                &ts,
                "",
                "172.12.1.189",
                "GET /health HTTP/1.1",
                200,
                6,
                1,
                "",
                "ELB-HealthChecker/2.0",
            );
            n += 1;
        }
        let mut humans = 0;
        let mut x = rng.exponential(1.0 / human_rate);
        while x < 1.0 {
            humans += 1;
            x += rng.exponential(1.0 / human_rate);
        }
        for _ in 0..humans {
            let ua = BROWSERS[rng.below(BROWSERS.len())];
            let client = format!("10.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254));
            let (path, status, size) = match rng.below(10) {
                0 => ("/dashboard".to_owned(), 200, 23_512),
                1 => (format!("/orders/{}", 10_000 + rng.below(90_000)), 200, 8_133),
                2 => (format!("/api/orders?page={}", rng.below(40)), 200, 1_204),
                3 => ("/static/app.3f9c1b.js".to_owned(), 304, 0),
                4 => ("/static/app.3f9c1b.css".to_owned(), 304, 0),
                5 => (format!("/admin/users/{}/edit", rng.below(500)), 200, 12_870),
                6 => ("/login".to_owned(), 200, 1769),
                7 => ("/favicon.ico".to_owned(), 404, 162),
                _ => (format!("/reports?from=2019-05-{:02}&to=2019-05-24", 1 + rng.below(23)), 200, 40_211),
            };
            let request = format!("GET {path} HTTP/1.1");
            incident_line(
                &mut buf,
                &ts,
                &client,
                "admin.example.com",
                &request,
                status,
                size,
                5 + rng.below(400) as u32,
                "https://admin.example.com/dashboard",
                ua,
            );
            n += 1;
        }
        // Stop exactly at `lines`.
        if written + n > lines {
            let keep = (lines - written) as usize;
            let cut = buf[before..]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(keep.saturating_sub(1))
                .map_or(before, |(i, _)| before + i + 1);
            buf.truncate(if keep == 0 { before } else { cut });
            n = lines - written;
        }
        written += n;
        if buf.len() > (1 << 16) - 4096 || written >= lines {
            out.write_all(&buf)?;
            bytes += buf.len() as u64;
            buf.clear();
        }
        second += 1;
    }
    Ok(bytes)
}

/// Writes `lines` lines: the log of [`incident_log`] (half of them) with a scanner's request after each
/// line, at the same time, every one to a different path (`/wp-content/plugins/<random>/readme.txt`
/// as `zgrab`): a cluster per scanner request, the worst case for clustering. Returns the bytes
/// written.
///
/// # Errors
/// Whatever the writer returns.
pub fn scanner_log(lines: u64, seed: u64, out: &mut dyn Write) -> io::Result<u64> {
    let mut base = Vec::new();
    incident_log(lines.div_ceil(2), 10.0, seed, &mut base)?;
    let mut rng = SplitMix64::new(seed ^ 0x5ca7);
    let mut buf = Vec::with_capacity(1 << 16);
    let (mut written, mut bytes) = (0u64, 0u64);
    for line in base.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        buf.extend_from_slice(line);
        buf.push(b'\n');
        written += 1;
        if written >= lines {
            break;
        }
        // `{"@timestamp":"` is 15 bytes; the time is the 25 after it.
        let ts = std::str::from_utf8(line.get(15..40).unwrap_or_default()).unwrap_or_default();
        let name: String = (0..10).map(|_| char::from(b'a' + (rng.below(26) as u8))).collect();
        let client = format!("45.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256));
        incident_line(
            &mut buf,
            ts,
            &client,
            "172.12.1.189",
            &format!("GET /wp-content/plugins/{name}/readme.txt HTTP/1.1"),
            404,
            153,
            1,
            "",
            "Mozilla/5.0 zgrab/0.x",
        );
        written += 1;
        if buf.len() > (1 << 16) - 4096 {
            out.write_all(&buf)?;
            bytes += buf.len() as u64;
            buf.clear();
        }
        if written >= lines {
            break;
        }
    }
    out.write_all(&buf)?;
    Ok(bytes + buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, parse_line};

    #[test]
    fn scanner_log_has_the_lines_asked_and_a_path_per_scanner_request() {
        let mut log = Vec::new();
        scanner_log(1001, 3, &mut log).unwrap();
        let text = String::from_utf8(log).unwrap();
        assert_eq!(text.lines().count(), 1001);
        let paths: std::collections::HashSet<&str> =
            text.lines().filter(|l| l.contains("zgrab")).map(|l| l.split("GET ").nth(1).unwrap()).collect();
        assert_eq!(paths.len(), 500);
        for l in text.lines() {
            assert!(parse_line(l.as_bytes(), Format::Json).is_ok(), "{l}");
        }
    }

    #[test]
    fn incident_log_has_exactly_the_lines_asked_and_all_parse() {
        for lines in [0, 1, 2, 7, 1000] {
            let mut out = Vec::new();
            let bytes = incident_log(lines, 5.0, 1, &mut out).unwrap();
            assert_eq!(bytes as usize, out.len());
            let got: Vec<_> = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
            assert_eq!(got.len() as u64, lines);
            for l in got {
                parse_line(l, Format::Json).unwrap();
            }
        }
    }

    #[test]
    fn same_seed_same_log() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        incident_log(500, 5.0, 7, &mut a).unwrap();
        incident_log(500, 5.0, 7, &mut b).unwrap();
        assert_eq!(a, b);
    }
}

pub mod probes;

/// Labelled request-time scenarios for the periodic-caller detector: every case the detector
/// must get right, with ground truth, generated from fixed seeds.
pub mod scenarios {
    use super::SplitMix64;

    /// What a scenario's detector should report: one finding per entry.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Truth {
        /// True period (ms).
        pub period_ms: f64,
        /// Callers sharing the key at once.
        pub phases: usize,
    }

    /// Request times of one cluster, and what they hold.
    #[derive(Clone, Debug)]
    pub struct Scenario {
        /// Short name.
        pub name: &'static str,
        /// Times (ms), ascending, quantised to `res_ms`.
        pub times: Vec<i64>,
        /// Timestamp resolution (1 or 1000 ms).
        pub res_ms: i64,
        /// Expected findings; empty for negatives.
        pub truth: Vec<Truth>,
    }

    const DAY: f64 = 86_400_000.0;
    const T0: f64 = 1_558_656_000_000.0;

    fn finish(name: &'static str, mut times: Vec<f64>, res_ms: i64, truth: Vec<Truth>) -> Scenario {
        times.sort_by(f64::total_cmp);
        let r = res_ms as f64;
        let times = times.into_iter().map(|t| ((t / r).floor() * r) as i64).collect();
        Scenario { name, times, res_ms, truth }
    }

    fn truth(period_s: f64, phases: usize) -> Vec<Truth> {
        vec![Truth { period_ms: period_s * 1000.0, phases }]
    }

    /// A fixed-rate caller: beats at `offset + k·period`, each logged after a latency of
    /// 20–300 ms, plus uniform jitter of ±`jitter` × period; beats dropped with `drop`
    /// probability or inside `gap` (start, end) ms after the start.
    #[allow(clippy::too_many_arguments)]
    fn fixed_rate(
        rng: &mut SplitMix64,
        period_ms: f64,
        offset_ms: f64,
        span_ms: f64,
        jitter: f64,
        drop: f64,
        gap: Option<(f64, f64)>,
        out: &mut Vec<f64>,
    ) {
        let mut k = 0.0;
        while offset_ms + k * period_ms < span_ms {
            let at = offset_ms + k * period_ms;
            k += 1.0;
            if rng.next_f64() < drop || gap.is_some_and(|(a, b)| at >= a && at < b) {
                continue;
            }
            let latency = 20.0 + 280.0 * rng.next_f64();
            let j = (rng.next_f64() * 2.0 - 1.0) * jitter * period_ms;
            out.push(T0 + at + latency + j);
        }
    }

    fn poisson(rng: &mut SplitMix64, rate_per_s: f64, start: f64, span_ms: f64, out: &mut Vec<f64>) {
        let mut t = start + rng.exponential(1000.0 / rate_per_s);
        while t < start + span_ms {
            out.push(T0 + t);
            t += rng.exponential(1000.0 / rate_per_s);
        }
    }

    /// Every positive scenario, seeded by `seed`.
    #[must_use]
    pub fn positives(seed: u64) -> Vec<Scenario> {
        let mut rng = SplitMix64::new(seed);
        let r = &mut rng;
        let mut v = Vec::new();
        let mut t = Vec::new();
        fixed_rate(r, 10_000.0, 4_000.0, DAY, 0.0, 0.0, None, &mut t);
        v.push(finish("10 s", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_300.0, 0.0, DAY, 0.0, 0.0, None, &mut t);
        v.push(finish("10.3 s at 1-s resolution", std::mem::take(&mut t), 1000, truth(10.3, 1)));
        fixed_rate(r, 3_600_000.0, 120_000.0, DAY, 0.0, 0.0, None, &mut t);
        v.push(finish("hourly, 24 hits", std::mem::take(&mut t), 1000, truth(3600.0, 1)));
        let mut k = 0.0;
        while k * 500.0 < 3_600_000.0 {
            t.push(T0 + k * 500.0 + 3.0 + 2.0 * r.next_f64());
            k += 1.0;
        }
        v.push(finish("0.5 s at ms resolution", std::mem::take(&mut t), 1, truth(0.5, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.0, None, &mut t);
        fixed_rate(r, 10_000.0, 3_000.0, DAY, 0.0, 0.0, None, &mut t);
        v.push(finish("2 replicas, 10 s, offset 3 s", std::mem::take(&mut t), 1000, truth(10.0, 2)));
        for off in [0.0, 7_000.0, 19_000.0] {
            fixed_rate(r, 30_000.0, off, DAY, 0.0, 0.0, None, &mut t);
        }
        v.push(finish("3 replicas, 30 s", std::mem::take(&mut t), 1000, truth(30.0, 3)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.2, None, &mut t);
        v.push(finish("10 s, 20% of beats missing", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.6, None, &mut t);
        v.push(finish("10 s, 60% of beats missing", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.0, Some((36_000_000.0, 43_200_000.0)), &mut t);
        v.push(finish("10 s, 2-hour outage", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY / 2.0, 0.0, 0.0, None, &mut t);
        let mut second = Vec::new();
        fixed_rate(r, 10_000.0, 4_300.0, DAY / 2.0, 0.0, 0.0, None, &mut second);
        t.extend(second.into_iter().map(|x| x + DAY / 2.0));
        v.push(finish("restart shifts the phase", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        // Consul: run the check, then wait the interval: period = interval + latency.
        let mut at = 1_000.0;
        let mut latencies = 0.0;
        let mut n = 0.0;
        while at < DAY {
            t.push(T0 + at);
            let latency = 20.0 + 280.0 * r.next_f64();
            latencies += latency;
            n += 1.0;
            at += 10_000.0 + latency;
        }
        let p = 10.0 + latencies / n / 1000.0;
        v.push(finish("sleep-after 10 s (Consul)", std::mem::take(&mut t), 1, truth(p, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.05, 0.0, None, &mut t);
        v.push(finish("10 s ±5% jitter", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.0, None, &mut t);
        poisson(r, 0.05, 0.0, DAY, &mut t);
        v.push(finish("10 s + random traffic", std::mem::take(&mut t), 1000, truth(10.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY, 0.0, 0.0, None, &mut t);
        // At 1-s resolution phases closer than 2 s cannot be told apart: 7 s keeps them 2–3 s apart.
        fixed_rate(r, 15_000.0, 7_000.0, DAY, 0.0, 0.0, None, &mut t);
        let mut both = truth(10.0, 1);
        both.extend(truth(15.0, 1));
        v.push(finish("10 s and 15 s on one key", std::mem::take(&mut t), 1000, both));
        fixed_rate(r, 300_000.0, 60_000.0, DAY, 0.0, 0.0, Some((30_000_000.0, 37_200_000.0)), &mut t);
        v.push(finish("5 min uptime monitor with an outage", std::mem::take(&mut t), 1000, truth(300.0, 1)));
        fixed_rate(r, 10_000.0, 0.0, DAY / 4.0, 0.0, 0.0, None, &mut t);
        v.push(finish("10 s at ms resolution", std::mem::take(&mut t), 1, truth(10.0, 1)));
        fixed_rate(r, 2_000.0, 400.0, DAY / 8.0, 0.0, 0.0, None, &mut t);
        v.push(finish("2 s at 1-s resolution", std::mem::take(&mut t), 1000, truth(2.0, 1)));
        fixed_rate(r, 3_000.0, 500.0, DAY / 8.0, 0.0, 0.0, None, &mut t);
        v.push(finish("3 s at 1-s resolution", std::mem::take(&mut t), 1000, truth(3.0, 1)));
        // A load balancer sends each beat to one of three backends: this log holds a third.
        fixed_rate(r, 15_000.0, 0.0, DAY, 0.0, 2.0 / 3.0, None, &mut t);
        v.push(finish("15 s, one backend of three", std::mem::take(&mut t), 1000, truth(15.0, 1)));
        // One monitor from three locations, two of them half a period apart.
        for off in [0.0, 30_000.0, 41_000.0] {
            fixed_rate(r, 60_000.0, off, DAY, 0.0, 0.0, None, &mut t);
        }
        v.push(finish("60 s from 3 locations, two 30 s apart", std::mem::take(&mut t), 1000, truth(60.0, 3)));
        v
    }

    /// Traffic that must not be reported, seeded by `seed`.
    #[must_use]
    pub fn negatives(seed: u64) -> Vec<Scenario> {
        let mut rng = SplitMix64::new(seed);
        let r = &mut rng;
        let mut v = Vec::new();
        for (name, rate, res) in [
            ("Poisson 0.01/s", 0.01, 1000),
            ("Poisson 0.1/s", 0.1, 1000),
            ("Poisson 0.1/s, ms", 0.1, 1),
            ("Poisson 1/s", 1.0, 1000),
            ("Poisson 5/s, ms", 5.0, 1),
        ] {
            let mut t = Vec::new();
            poisson(r, rate, 0.0, if rate > 0.5 { DAY / 12.0 } else { DAY }, &mut t);
            v.push(finish(name, t, res, Vec::new()));
        }
        // People: sessions at random times; inside one, page views after 2–120 s of reading.
        let mut t = Vec::new();
        let mut start = 0.0;
        while start < DAY {
            start += r.exponential(1_800_000.0);
            let mut at = start;
            for _ in 0..(2 + r.below(25)) {
                t.push(T0 + at);
                at += 2_000.0 + 118_000.0 * r.next_f64().powi(2);
            }
        }
        v.push(finish("human browsing sessions", t, 1000, Vec::new()));
        // A crawler in bursts: a few fetches a second apart, bursts at random.
        let mut t = Vec::new();
        let mut at = 0.0;
        while at < DAY {
            at += r.exponential(3_600_000.0);
            for i in 0..(3 + r.below(8)) {
                t.push(T0 + at + f64::from(u32::try_from(i).unwrap_or(0)) * (800.0 + 400.0 * r.next_f64()));
            }
        }
        v.push(finish("bursty crawler", t, 1000, Vec::new()));
        let mut t = Vec::new();
        for _ in 0..60 {
            t.push(T0 + 20_000.0 * r.next_f64());
        }
        v.push(finish("a single burst", t, 1000, Vec::new()));
        let mut t = Vec::new();
        fixed_rate(r, 10_000.0, 0.0, 70_000.0, 0.0, 0.0, None, &mut t);
        v.push(finish("fewer than 8 hits", t, 1000, Vec::new()));
        v
    }

    /// Result of running a detector over scenarios.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct Evaluation {
        /// Findings that match a true caller (period within 1 %, same phases).
        pub true_positives: usize,
        /// Findings that match nothing.
        pub false_positives: usize,
        /// True callers not found.
        pub false_negatives: usize,
        /// Mean relative period error of the true positives.
        pub mean_period_error: f64,
        /// Worst relative period error of the true positives.
        pub max_period_error: f64,
        /// Scenario names with a miss or a false finding, and what was found.
        pub failures: Vec<String>,
    }

    impl Evaluation {
        /// TP / (TP + FP).
        #[must_use]
        pub fn precision(&self) -> f64 {
            let d = self.true_positives + self.false_positives;
            if d == 0 { 1.0 } else { self.true_positives as f64 / d as f64 }
        }

        /// TP / (TP + FN).
        #[must_use]
        pub fn recall(&self) -> f64 {
            let d = self.true_positives + self.false_negatives;
            if d == 0 { 1.0 } else { self.true_positives as f64 / d as f64 }
        }
    }

    /// Runs `detect` (returning `(period_ms, phases)` per finding) over `scenarios`.
    pub fn evaluate(scenarios: &[Scenario], detect: impl Fn(&Scenario) -> Vec<(f64, usize)>) -> Evaluation {
        let mut e = Evaluation::default();
        let mut errors = Vec::new();
        for s in scenarios {
            let found = detect(s);
            let mut matched = vec![false; found.len()];
            let mut ok = true;
            for t in &s.truth {
                let hit = found.iter().enumerate().position(|(i, (p, k))| {
                    !matched[i] && *k == t.phases && (p - t.period_ms).abs() <= 0.01 * t.period_ms
                });
                match hit {
                    Some(i) => {
                        matched[i] = true;
                        e.true_positives += 1;
                        errors.push((found[i].0 - t.period_ms).abs() / t.period_ms);
                    }
                    None => {
                        e.false_negatives += 1;
                        ok = false;
                    }
                }
            }
            let extra = matched.iter().filter(|m| !**m).count();
            e.false_positives += extra;
            if !ok || extra > 0 {
                let got: Vec<String> =
                    found.iter().map(|(p, k)| format!("{:.3} s × {k}", p / 1000.0)).collect();
                e.failures.push(format!("{}: found [{}]", s.name, got.join(", ")));
            }
        }
        if !errors.is_empty() {
            e.mean_period_error = errors.iter().sum::<f64>() / errors.len() as f64;
            e.max_period_error = errors.iter().copied().fold(0.0, f64::max);
        }
        e
    }
}
