//! Generated logs of probing situations, with their ground truth: which callers create
//! sessions, how many a day, and which callers create none. The probe rules' tests and
//! `examples/evaluate` read them.
//!
//! Every situation has people browsing in the background (browsers, many clients, a cookie on
//! each client's first visit where the log has the field) and one or more scheduled callers.

use std::fmt::Write as _;

use super::SplitMix64;

/// 2024-03-01T00:00:00Z, in ms: where every situation starts.
pub const T0: i64 = 1_709_251_200_000;
/// A day, in ms.
pub const DAY: i64 = 86_400_000;
/// How long each situation lasts, in ms.
pub const SPAN: i64 = DAY / 2;

/// What a caller's responses log in `Set-Cookie`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cookie {
    /// The log has no Set-Cookie field.
    NotLogged,
    /// The field is logged and empty on every response.
    Empty,
    /// A new session cookie on every response.
    Every,
    /// A cookie on the first this many responses only: the caller keeps its cookie jar.
    First(u32),
}

/// How the log writes times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// `$msec`: milliseconds.
    Millis,
    /// `$time_iso8601`: whole seconds.
    Seconds,
}

/// A scheduled caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// User agent.
    pub ua: &'static str,
    /// Host.
    pub host: &'static str,
    /// Path probed.
    pub path: &'static str,
    /// Status answered.
    pub status: u16,
    /// Period (ms).
    pub period_ms: i64,
    /// Offset of each location or replica within the period (ms): one phase each.
    pub offsets: Vec<i64>,
    /// What its responses log in `Set-Cookie`.
    pub cookie: Cookie,
    /// The logged `Location` of its responses, if any.
    pub location: Option<&'static str>,
    /// A request the same caller makes after each beat (the redirect followed, or the next
    /// target of a scrape job): path, status, delay (ms) and its own cookie.
    pub then: Option<(&'static str, u16, i64, Cookie)>,
    /// Share of the beats this log holds (a probe spread over backends holds 1/N).
    pub share: f64,
    /// Client addresses of its phases (`""`: not logged); with more addresses than phases, the
    /// beats come from all of them in turn.
    pub clients: Vec<&'static str>,
    /// Whether nginx passed its requests on to the application, where the log has
    /// `$upstream_addr` (`None`: passed on, and logged only if another caller's is).
    pub upstream: Option<bool>,
}

impl Caller {
    /// One phase, every `period_ms`, answered `status`, cookie as given, the whole log.
    #[must_use]
    pub fn new(
        ua: &'static str,
        host: &'static str,
        path: &'static str,
        status: u16,
        period_ms: i64,
    ) -> Self {
        Caller {
            ua,
            host,
            path,
            status,
            period_ms,
            offsets: vec![0],
            cookie: Cookie::NotLogged,
            location: None,
            then: None,
            share: 1.0,
            clients: vec![""],
            upstream: None,
        }
    }

    fn cookie(mut self, c: Cookie) -> Self {
        self.cookie = c;
        self
    }

    fn location(mut self, l: &'static str) -> Self {
        self.location = Some(l);
        self
    }

    fn then(mut self, path: &'static str, status: u16, after_ms: i64, cookie: Cookie) -> Self {
        self.then = Some((path, status, after_ms, cookie));
        self
    }

    fn phases(mut self, offsets: &[i64], clients: &[&'static str]) -> Self {
        self.offsets = offsets.to_vec();
        self.clients = clients.to_vec();
        self
    }

    fn share(mut self, share: f64) -> Self {
        self.share = share;
        self
    }
    fn upstream(mut self, reached: bool) -> Self {
        self.upstream = Some(reached);
        self
    }
}

/// What a situation's log holds, and what a correct report says of it.
#[derive(Clone, Debug)]
pub struct Situation {
    /// A short name.
    pub name: &'static str,
    /// Which probe rule it exercises.
    pub rule: &'static str,
    /// The log: JSON lines in time order.
    pub log: Vec<u8>,
    /// The callers that create sessions: (user agent, host, path) and true sessions a day.
    pub probes: Vec<((&'static str, &'static str, &'static str), f64)>,
    /// Scheduled callers that create no session.
    pub clean: Vec<(&'static str, &'static str, &'static str)>,
}

/// One request of a log.
struct Line {
    t: i64,
    ua: &'static str,
    host: &'static str,
    path: &'static str,
    status: u16,
    client: String,
    set_cookie: Option<bool>,
    location: Option<&'static str>,
    /// `$upstream_addr`, when logged: passed on to the application or answered by nginx.
    upstream: Option<bool>,
}

fn write_line(out: &mut Vec<u8>, l: &Line, stamp: Stamp) {
    let mut s = String::with_capacity(256);
    s.push('{');
    match stamp {
        Stamp::Millis => {
            let _ = write!(s, r#""msec":"{}.{:03}""#, l.t.div_euclid(1000), l.t.rem_euclid(1000));
        }
        Stamp::Seconds => {
            let t = chrono::DateTime::from_timestamp_millis(l.t).unwrap_or_default();
            let _ = write!(s, r#""time_iso8601":"{}""#, t.format("%Y-%m-%dT%H:%M:%S+00:00"));
        }
    }
    let _ = write!(
        s,
        r#","remote_addr":"{}","host":"{}","request":"GET {} HTTP/1.1","status":"{}","body_bytes_sent":"512","http_user_agent":"{}""#,
        l.client, l.host, l.path, l.status, l.ua
    );
    if let Some(set) = l.set_cookie {
        let v = if set { "SESSION=3f2a9c; Path=/; HttpOnly" } else { "" };
        let _ = write!(s, r#","sent_http_set_cookie":"{v}""#);
    }
    if let Some(loc) = l.location {
        let _ = write!(s, r#","sent_http_location":"{loc}""#);
    }
    if let Some(reached) = l.upstream {
        let _ = write!(s, r#","upstream_addr":"{}""#, if reached { "10.0.3.17:8080" } else { "-" });
    }
    s.push_str("}\n");
    out.extend_from_slice(s.as_bytes());
}

/// The field value of the `n`-th response (0-based) under `c`; `None` when not logged.
fn cookie_at(c: Cookie, n: u64) -> Option<bool> {
    match c {
        Cookie::NotLogged => None,
        Cookie::Empty => Some(false),
        Cookie::Every => Some(true),
        Cookie::First(k) => Some(n < u64::from(k)),
    }
}

/// Builds a log of `callers` and browsing people over [`SPAN`], and counts each caller's
/// session-creating responses a day (its follow-up's too, under the follow-up's path).
fn build(seed: u64, stamp: Stamp, cookie_logged: bool, callers: &[Caller]) -> (Vec<u8>, Vec<f64>, Vec<f64>) {
    let mut rng = SplitMix64::new(seed);
    // `$upstream_addr` is logged on every line once a caller's is: people's pages are passed on.
    let upstream_logged = callers.iter().any(|c| c.upstream.is_some());
    let passed_on = |c: Option<bool>| upstream_logged.then_some(c.unwrap_or(true));
    let mut lines = Vec::new();
    // People: 60 browsers, a visit every few minutes each, a cookie on their first response.
    const PAGES: [&str; 5] = ["/", "/products/17", "/cart", "/login", "/search"];
    const CLIENTS: usize = 60;
    for c in 0..CLIENTS {
        let mut t = T0 + (rng.next_f64() * 600_000.0) as i64;
        let mut n = 0u64;
        while t < T0 + SPAN {
            lines.push(Line {
                t,
                ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                host: "shop.example.com",
                path: PAGES[rng.below(PAGES.len())],
                status: 200,
                client: format!("198.51.100.{c}"),
                set_cookie: cookie_logged.then_some(n == 0),
                location: None,
                upstream: passed_on(None),
            });
            n += 1;
            t += 1000 + rng.exponential(900_000.0) as i64;
        }
    }
    let days = SPAN as f64 / DAY as f64;
    let (mut sessions, mut follow_sessions) = (Vec::new(), Vec::new());
    for caller in callers {
        let (mut made, mut follow_made) = (0u64, 0u64);
        let mut answered = 0u64;
        for (phase, &offset) in caller.offsets.iter().enumerate() {
            let mut t = T0 + offset;
            while t < T0 + SPAN {
                // More clients than phases: the beats come from all of them in turn.
                let client = if caller.clients.len() > caller.offsets.len() {
                    caller.clients[answered as usize % caller.clients.len()]
                } else {
                    caller.clients.get(phase).copied().unwrap_or("")
                };
                if caller.share >= 1.0 || rng.next_f64() < caller.share {
                    let set = cookie_at(caller.cookie, answered);
                    made += u64::from(set.unwrap_or(caller.cookie == Cookie::NotLogged));
                    lines.push(Line {
                        t,
                        ua: caller.ua,
                        host: caller.host,
                        path: caller.path,
                        status: caller.status,
                        client: client.to_owned(),
                        set_cookie: set,
                        location: caller.location,
                        upstream: passed_on(caller.upstream),
                    });
                    if let Some((path, status, after, cookie)) = caller.then {
                        let set = cookie_at(cookie, answered);
                        follow_made += u64::from(set.unwrap_or(false));
                        lines.push(Line {
                            t: t + after,
                            ua: caller.ua,
                            host: caller.host,
                            path,
                            status,
                            client: client.to_owned(),
                            set_cookie: set,
                            location: None,
                            upstream: passed_on(None),
                        });
                    }
                    answered += 1;
                }
                t += caller.period_ms;
            }
        }
        sessions.push(made as f64 / days);
        follow_sessions.push(follow_made as f64 / days);
    }
    lines.sort_by_key(|l| l.t);
    let mut log = Vec::with_capacity(lines.len() * 220);
    for l in &lines {
        write_line(&mut log, l, stamp);
    }
    (log, sessions, follow_sessions)
}

const GO: &str = "Go-http-client/1.1";
const ELB: &str = "ELB-HealthChecker/2.0";
const BLACKBOX: &str = "Blackbox Exporter/0.24.0";
const KUBE: &str = "kube-probe/1.29";
const CONSUL: &str = "Consul Health Check";
const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36";
const DATADOG: &str = "Datadog/Synthetics";
const UPTIME: &str = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)";
const APP: &str = "admin.example.com";
/// Twenty client addresses: a phone app's users, not one monitor.
const CLIENTS_20: [&str; 20] = [
    "192.0.2.1",
    "192.0.2.2",
    "192.0.2.3",
    "192.0.2.4",
    "192.0.2.5",
    "192.0.2.6",
    "192.0.2.7",
    "192.0.2.8",
    "192.0.2.9",
    "192.0.2.10",
    "192.0.2.11",
    "192.0.2.12",
    "192.0.2.13",
    "192.0.2.14",
    "192.0.2.15",
    "192.0.2.16",
    "192.0.2.17",
    "192.0.2.18",
    "192.0.2.19",
    "192.0.2.20",
];

/// A situation whose callers are all probes (sessions counted by `build`) or all clean.
fn situation(
    name: &'static str,
    rule: &'static str,
    seed: u64,
    stamp: Stamp,
    callers: Vec<(Caller, bool)>,
) -> Situation {
    let cookie_logged = callers.iter().any(|(c, _)| c.cookie != Cookie::NotLogged);
    let plain: Vec<Caller> = callers.iter().map(|(c, _)| c.clone()).collect();
    let (log, sessions, follow) = build(seed, stamp, cookie_logged, &plain);
    let mut probes = Vec::new();
    let mut clean = Vec::new();
    for (((c, probe), s), f) in callers.iter().zip(sessions).zip(follow) {
        if *probe {
            probes.push(((c.ua, c.host, c.path), s));
        } else {
            clean.push((c.ua, c.host, c.path));
        }
        if let Some((path, ..)) = c.then {
            if f > 0.0 {
                probes.push(((c.ua, c.host, path), f));
            }
        }
    }
    Situation { name, rule, log, probes, clean }
}

/// Every situation, seeded by `seed`: session-creating probes the rules must find, with their
/// true sessions a day, and scheduled callers that create no session, which they must not flag.
#[must_use]
pub fn situations(seed: u64) -> Vec<Situation> {
    let s = |k: u64| seed.wrapping_mul(0x9E37_79B9).wrapping_add(k);
    let login = "http://admin.example.com/login";
    vec![
        situation(
            "incident",
            "a followed login redirect, no Set-Cookie field",
            s(1),
            Stamp::Seconds,
            vec![(
                Caller::new(GO, APP, "/", 302, 10_000).location(login).then(
                    "/login",
                    200,
                    0,
                    Cookie::NotLogged,
                ),
                true,
            )],
        ),
        situation(
            "alb-root-spring",
            "1: a health checker's path is judged, and does not hide another caller's probe there",
            s(2),
            Stamp::Millis,
            vec![
                (
                    Caller::new(ELB, APP, "/", 302, 30_000)
                        .phases(&[0, 13_000], &["10.0.1.5", "10.0.2.7"])
                        .cookie(Cookie::Every)
                        .location(login),
                    true,
                ),
                (
                    Caller::new(BLACKBOX, "admin.example.com:8080", "/", 302, 15_000)
                        .cookie(Cookie::Every)
                        .location(login),
                    true,
                ),
            ],
        ),
        situation(
            "actuator-behind-login",
            "2: a health name is a prior, not a verdict",
            s(3),
            Stamp::Millis,
            vec![(
                Caller::new(KUBE, APP, "/actuator/health", 302, 10_000).cookie(Cookie::Every).location(login),
                true,
            )],
        ),
        situation(
            "context-path-actuator",
            "2, 10: a health endpoint under a context path, behind a login filter",
            s(4),
            Stamp::Millis,
            vec![(
                Caller::new(CONSUL, APP, "/shop/actuator/health/readiness", 302, 10_000)
                    .cookie(Cookie::Every)
                    .location("http://admin.example.com/shop/login"),
                true,
            )],
        ),
        situation(
            "empty-cookie",
            "3: a logged, empty Set-Cookie means no session, whatever the path",
            s(5),
            Stamp::Millis,
            vec![
                (
                    Caller::new(ELB, APP, "/", 200, 30_000)
                        .phases(&[0, 11_000], &["10.0.1.5", "10.0.2.7"])
                        .cookie(Cookie::Empty),
                    false,
                ),
                (Caller::new(GO, APP, "/", 200, 10_000).cookie(Cookie::Empty), false),
                (
                    Caller::new("Prometheus/2.45.0", APP, "/actuator/prometheus", 200, 15_000)
                        .cookie(Cookie::Empty),
                    false,
                ),
                (Caller::new(KUBE, APP, "/up", 200, 10_000).cookie(Cookie::Empty), false),
                (
                    Caller::new(KUBE, "api.example.com", "/health/liveness", 200, 10_000)
                        .cookie(Cookie::Empty),
                    false,
                ),
                (Caller::new(BLACKBOX, APP, "/-/readiness", 200, 15_000).cookie(Cookie::Empty), false),
                (
                    Caller::new(
                        "Feedly/1.0 (+http://www.feedly.com/fetcher.html)",
                        APP,
                        "/blog/feed",
                        200,
                        1_800_000,
                    )
                    .cookie(Cookie::Empty),
                    false,
                ),
            ],
        ),
        situation(
            "cookie-jar",
            "4: sessions counted from the responses that set a cookie",
            s(6),
            Stamp::Millis,
            vec![(Caller::new(UPTIME, APP, "/", 200, 30_000).cookie(Cookie::First(2)), true)],
        ),
        situation(
            "two-targets",
            "5: a second target of a scrape job is not a follow-up",
            s(7),
            Stamp::Millis,
            vec![(
                Caller::new(BLACKBOX, APP, "/", 302, 15_000).cookie(Cookie::Every).location(login).then(
                    "/status-page",
                    200,
                    1_000,
                    Cookie::Every,
                ),
                true,
            )],
        ),
        situation(
            "headless",
            "6: a headless browser on a schedule is a machine",
            s(8),
            Stamp::Millis,
            vec![(Caller::new(HEADLESS, APP, "/dashboard", 200, 60_000).cookie(Cookie::Every), true)],
        ),
        situation(
            "datadog-api-test",
            "6: a synthetic API test, cookies on a path whose name says no session",
            s(9),
            Stamp::Millis,
            vec![(
                Caller::new(DATADOG, APP, "/api/v1/session-check", 200, 60_000).cookie(Cookie::Every),
                true,
            )],
        ),
        situation(
            "three-locations",
            "7: one monitor from three locations is one caller with three phases",
            s(10),
            Stamp::Millis,
            vec![(
                Caller::new(DATADOG, APP, "/", 200, 60_000)
                    .phases(&[0, 30_000, 41_000], &["203.0.113.10", "203.0.113.20", "203.0.113.30"])
                    .cookie(Cookie::Every),
                true,
            )],
        ),
        situation(
            "spread-over-backends",
            "8: a probe spread over three backends",
            s(11),
            Stamp::Millis,
            vec![(Caller::new(BLACKBOX, APP, "/", 200, 15_000).share(1.0 / 3.0).cookie(Cookie::Every), true)],
        ),
        situation(
            "not-monitors",
            "9: feed readers and crawlers are not probes",
            s(12),
            Stamp::Millis,
            vec![
                (
                    Caller::new("Feedly/1.0 (+http://www.feedly.com/fetcher.html)", APP, "/", 200, 1_800_000),
                    false,
                ),
                (
                    Caller::new(
                        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                        APP,
                        "/",
                        200,
                        300_000,
                    ),
                    false,
                ),
                (Caller::new("Tiny Tiny RSS/22.08 (https://tt-rss.org/)", APP, "/news", 200, 900_000), false),
            ],
        ),
        situation(
            "many-clients",
            "9: a key with many distinct clients is people, not a monitor",
            s(16),
            Stamp::Seconds,
            vec![(
                Caller::new("okhttp/4.9.0", APP, "/", 200, 60_000).phases(
                    &[0, 3_000, 7_000, 12_000, 18_000, 25_000, 31_000, 38_000, 44_000, 51_000],
                    &CLIENTS_20,
                ),
                false,
            )],
        ),
        situation(
            "health-endpoints",
            "10: framework health and scrape endpoints",
            s(13),
            Stamp::Millis,
            vec![
                (Caller::new(KUBE, APP, "/livez", 200, 10_000), false),
                (Caller::new(KUBE, APP, "/readyz", 200, 10_000), false),
                (Caller::new(KUBE, "api.example.com", "/health/readiness", 200, 10_000), false),
                (Caller::new(KUBE, "rails.example.com", "/up", 200, 10_000), false),
                (Caller::new(CONSUL, APP, "/ht/", 200, 10_000), false),
                (Caller::new("Prometheus/2.45.0", APP, "/metrics", 200, 15_000), false),
                (Caller::new("Prometheus/2.45.0", APP, "/federate", 200, 30_000), false),
                (Caller::new(BLACKBOX, APP, "/-/liveness", 200, 15_000), false),
                (Caller::new(ELB, APP, "/shop/actuator/health/readiness", 200, 30_000), false),
            ],
        ),
        situation(
            "two-seconds-at-one-second",
            "11: a 2-s caller in a log with 1-s timestamps",
            s(14),
            Stamp::Seconds,
            vec![(Caller::new(BLACKBOX, APP, "/", 200, 2_000).cookie(Cookie::Every), true)],
        ),
        situation(
            "three-seconds-at-one-second",
            "11: a 3-s caller in a log with 1-s timestamps",
            s(15),
            Stamp::Seconds,
            vec![(Caller::new(GO, APP, "/", 302, 3_000).cookie(Cookie::Every).location(login), true)],
        ),
        situation(
            "https-redirect",
            "12: a permanent redirect to https (a web server's) makes no session",
            s(17),
            Stamp::Seconds,
            vec![
                (Caller::new(GO, APP, "/", 301, 10_000).location("https://admin.example.com/"), false),
                (Caller::new(KUBE, "shop.example.com", "/cart", 308, 15_000), false),
            ],
        ),
        situation(
            "https-redirect-followed",
            "12: a probe that follows a redirect to https, logged under the same key: the request it \
             leads to makes the sessions, one a beat; a permanent redirect to a login page makes them too",
            s(18),
            Stamp::Millis,
            vec![
                (
                    Caller::new(BLACKBOX, APP, "/", 301, 15_000).location("https://admin.example.com/").then(
                        "/",
                        302,
                        20,
                        Cookie::NotLogged,
                    ),
                    true,
                ),
                // A permanent redirect to the login page itself: a login redirect all the same.
                (Caller::new(GO, APP, "/app", 301, 10_000).location(login), true),
            ],
        ),
        situation(
            "answered-by-nginx",
            "13: a request nginx answers itself (no upstream) reaches no application",
            s(19),
            Stamp::Seconds,
            vec![
                (Caller::new(UPTIME, "www.example.com", "/", 200, 60_000).upstream(false), false),
                (Caller::new(GO, APP, "/", 301, 10_000).upstream(false), false),
                (Caller::new(BLACKBOX, APP, "/status.html", 200, 15_000).upstream(false), false),
            ],
        ),
        situation(
            "passed-on",
            "13: a root passed on to the application, with the upstream logged",
            s(20),
            Stamp::Millis,
            vec![(Caller::new(GO, APP, "/", 200, 10_000).upstream(true), true)],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_situation_is_parsed_whole_and_counts_what_it_wrote() {
        for s in situations(1) {
            let text = String::from_utf8(s.log.clone()).unwrap();
            for line in text.lines() {
                assert!(
                    crate::parse::parse_line(line.as_bytes(), crate::parse::Format::Json).is_ok(),
                    "{}: {line}",
                    s.name
                );
            }
            assert!(!s.probes.is_empty() || !s.clean.is_empty(), "{}", s.name);
        }
        let jar = situations(1).into_iter().find(|s| s.name == "cookie-jar").unwrap();
        assert_eq!(jar.probes[0].1, 4.0, "two cookies in half a day");
        let incident = situations(1).into_iter().find(|s| s.name == "incident").unwrap();
        assert_eq!(incident.probes[0].1, 8640.0);
    }
}
