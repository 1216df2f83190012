//! Generators of synthetic access logs with known contents, for benchmarks and tests.
//!
//! Nothing here reads real data; everything is deterministic for a given seed.

use std::io::{self, Write};

use chrono::DateTime;

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

/// One line in the incident's `log_format` (`@timestamp` with 1-s resolution, empty
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

/// Writes `lines` lines of the incident's log: a `Go-http-client/1.1` probe of `/` every 10 s
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, parse_line};

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
