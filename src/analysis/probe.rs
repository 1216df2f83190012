//! Probe forensics: which fixed-interval callers hit a path that creates a session instead of a
//! health endpoint, with the evidence, the cost and the fix.
//!
//! A *probe finding* is a periodic caller whose path is not a health endpoint and, by the
//! evidence, creates a session. Evidence, strongest first: a logged `Set-Cookie` (certain); a
//! redirect that the same caller follows to a login page, or a login page itself (strong); the
//! user's `--session-path` (given); `/` or an application page answered 2xx/3xx (likely). Health
//! endpoints, static assets, `/metrics`, `/robots.txt`, `/favicon.ico` and API paths create no
//! session unless a `Set-Cookie` says otherwise. Browsers are never probes: they send their
//! session cookie back, so their polling makes no new session. A follow-up request (`/` → 302 →
//! `/login` by the same caller within two seconds) is folded into the probe it follows.
//!
//! The rules decide and measure; what a probe finding says in words is the report's
//! (`report::probe`).

use std::collections::HashMap;

use regex::RegexSet;

use super::agents::{CallerKind, UserAgents};
use super::normalize::{is_health_segment, is_login_segment};
use super::{ClusterFinding, Findings};
use crate::model::UnixMillis;

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SessionTtl {
    /// Sessions expire this many seconds after their last use.
    Seconds(f64),
    /// Never expire (Spring Session with `Integer.MAX_VALUE` as its timeout, for one).
    Never,
}

/// Settings of the probe rules.
#[derive(Clone, Debug)]
pub struct ProbeRules {
    /// Extra health endpoints (`--health-path`).
    pub health_paths: Vec<String>,
    /// Paths known to create sessions (`--session-path`).
    pub session_paths: RegexSet,
    /// Paths known not to (`--no-session-path`).
    pub no_session_paths: RegexSet,
    /// Session lifetime (`--session-ttl`, default 30 min: the Spring/Tomcat default).
    pub session_ttl: SessionTtl,
    /// Bytes one session holds in the store (`--session-bytes`).
    pub session_bytes: u64,
    /// The user-agent table.
    pub agents: UserAgents,
}

/// Default bytes per session: a small Spring Session in Redis (the session hash with its
/// creation, last-access and max-inactive attributes, plus its expiry keys) is about 1 KiB.
pub const DEFAULT_SESSION_BYTES: u64 = 1024;

/// How strong a probe's cost is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Certain or strong evidence, and at least 1,000 sessions a day (or 100 that never expire).
    High,
    /// Certain or strong evidence, or likely evidence with at least 1,000 sessions a day.
    Medium,
    /// Likely evidence only, and fewer sessions.
    Low,
}

impl Severity {
    /// As the report spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// One piece of evidence that a probe creates sessions, with the numbers it rests on. Listed
/// strongest first: certain, strong, given, likely.
#[derive(Clone, Debug, PartialEq)]
pub enum Evidence {
    /// Certain: the log has a `Set-Cookie` field, and it was set on this many responses.
    CookiesLogged {
        /// Responses that set a cookie.
        set_cookie: u64,
        /// Requests of the cluster.
        requests: u64,
    },
    /// Strong: mostly redirected, and the same caller followed to a login page within 2 s.
    FollowedToLogin {
        /// The cluster's most frequent status.
        status: Option<u16>,
        /// The login page it followed to.
        login: String,
    },
    /// Strong: mostly redirected, with a logged `Location` to a login page.
    LoginLocation {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
    /// Strong: the probed path is itself a login page, mostly answered 2xx.
    LoginPage {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
    /// Given: the path matches `--session-path`.
    SessionPath,
    /// Likely: `/` or an application page, mostly answered 2xx or 3xx, where most web
    /// frameworks give a visitor without a cookie a new session.
    ApplicationPage {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
}

/// Where a probe should point instead.
#[derive(Clone, Debug, PartialEq)]
pub enum Fix {
    /// A health endpoint that a known health checker already polls on this host.
    LearnedHealth {
        /// The health path.
        health: String,
        /// Who polls it (its user agent, or its name).
        who: String,
    },
    /// A built-in health endpoint that answers on this host.
    HealthOnHost {
        /// The health path.
        health: String,
        /// Its most frequent status.
        status: Option<u16>,
    },
    /// No health endpoint seen on this host.
    AnyHealthEndpoint,
}

/// A periodic caller that creates sessions: what was found, by what evidence, at what cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Where it was found: an index into [`Findings::clusters`].
    pub cluster: usize,
    /// Which of that cluster's fixed-interval callers it is: an index into its `periodic`.
    pub caller: usize,
    /// User agent; `None` when not logged.
    pub user_agent: Option<String>,
    /// Host (normalised); `None` when not logged.
    pub host: Option<String>,
    /// The probed path.
    pub path: String,
    /// Paths the same caller follows up to within two seconds (the redirect chain); their
    /// requests are not counted again.
    pub follow_ups: Vec<String>,
    /// Requests to the probed path explained by its schedule.
    pub requests: u64,
    /// Period (ms).
    pub period_ms: f64,
    /// Callers sharing the key at different phases.
    pub phases: usize,
    /// The periodic detector's confidence, in [0, 1].
    pub confidence: f64,
    /// First probe.
    pub first_seen: UnixMillis,
    /// Last probe.
    pub last_seen: UnixMillis,
    /// Who is calling, by its user agent.
    pub caller_kind: CallerKind,
    /// What the caller is, by its user agent.
    pub caller_name: String,
    /// Where such a caller's probe path is configured, from the user-agent table; empty when
    /// unknown.
    pub caller_fix: String,
    /// Severity, from the evidence and the cost.
    pub severity: Severity,
    /// The evidence, strongest first.
    pub evidence: Vec<Evidence>,
    /// Session-creating requests per day while the probe was active (all phases).
    pub sessions_per_day: f64,
    /// With a TTL: sessions alive at once (sessions per day × TTL in days). With `never`: the
    /// sessions made since the probe's first hit in the log (they all stay).
    pub estimated_live_sessions: f64,
    /// The session TTL assumed (`--session-ttl`); `None` for sessions that never expire.
    pub session_ttl_seconds: Option<f64>,
    /// Bytes those sessions hold (`estimated_live_sessions × --session-bytes`).
    pub estimated_session_bytes: f64,
    /// Where the probe should point instead.
    pub fix: Fix,
}

/// Health paths learned per host (`None`: no host logged): each path that a known health checker
/// polls there, with who polls it, sorted.
type LearnedHealth<'a> = HashMap<Option<&'a str>, Vec<(&'a str, String)>>;

/// Health endpoints whose last segment is not a health word.
const HEALTH_PATHS: [&str; 6] =
    ["/-/healthy", "/-/ready", "/server-status", "/nginx_status", "/stub_status", "/hc"];
/// Extensions of static files, which no framework gives a session.
const STATIC_EXTENSIONS: [&str; 22] = [
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "woff", "woff2",
    "ttf", "eot", "otf", "pdf", "zip", "gz", "mp4", "webm",
];

/// A health endpoint by the built-in list: its last segment is a health word
/// (`/health`, `/api/v1/healthz`, `/ping.html`), or `/actuator/health` and below, or one of
/// `/-/healthy`, `/-/ready`, `/server-status`, `/nginx_status`, `/stub_status`, `/hc`.
#[must_use]
pub fn is_builtin_health_path(path: &str) -> bool {
    if path.starts_with("/actuator/health") || HEALTH_PATHS.contains(&path) {
        return true;
    }
    is_health_segment(path.trim_end_matches('/').rsplit('/').next().unwrap_or(""))
}

/// The extension of a path's last segment (`/a/app.js` → `js`).
fn extension(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next()?;
    last.rsplit_once('.').map(|(_, e)| e)
}

/// Paths that create no session by default: static assets, `/metrics`, `/robots.txt`,
/// `/favicon.ico`, sitemaps, API and JSON endpoints.
#[must_use]
pub fn is_sessionless_by_default(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    extension(&lower)
        .is_some_and(|e| STATIC_EXTENSIONS.contains(&e) || e == "json" || e == "xml" || e == "txt")
        || lower == "/metrics"
        || lower.starts_with("/metrics/")
        || lower == "/api"
        || lower.contains("/api/")
        || lower.starts_with("/graphql")
        || lower.starts_with("/static/")
        || lower.starts_with("/assets/")
}

/// True when a segment of `path` is a login or auth word (`/login`, `/oauth2/authorize`).
fn is_login_path(path: &str) -> bool {
    path.split('/').any(is_login_segment)
}

/// Share of a cluster's requests answered with a status in `range`.
fn share(c: &ClusterFinding, range: std::ops::RangeInclusive<u16>) -> f64 {
    let n: u64 = c.stats.statuses.iter().filter(|(s, _)| range.contains(s)).map(|(_, n)| n).sum();
    n as f64 / c.stats.requests.max(1) as f64
}

/// One periodic caller: indices into the findings.
#[derive(Clone, Copy)]
struct Caller {
    cluster: usize,
    periodic: usize,
}

impl ProbeRules {
    fn is_health(&self, c: &ClusterFinding, learned: &LearnedHealth<'_>) -> bool {
        let path = c.key.path();
        is_builtin_health_path(path)
            || self.health_paths.iter().any(|h| h == path)
            || learned.get(&c.key.host()).is_some_and(|l| l.iter().any(|(p, _)| *p == path))
    }

    /// Finds the probes among the periodic callers of `findings`, most costly first.
    #[must_use]
    pub fn find(&self, findings: &Findings) -> Vec<Probe> {
        let clusters = &findings.clusters;
        let callers: Vec<Caller> = clusters
            .iter()
            .enumerate()
            .flat_map(|(ci, c)| (0..c.periodic.len()).map(move |pi| Caller { cluster: ci, periodic: pi }))
            .collect();
        // Health endpoints learned per host: what known health checkers poll there.
        let mut learned: LearnedHealth<'_> = HashMap::new();
        for caller in &callers {
            let c = &clusters[caller.cluster];
            let agent = self.agents.classify(c.key.user_agent());
            if agent.kind == CallerKind::HealthChecker {
                let who = c.key.user_agent().map(str::to_owned).unwrap_or_else(|| agent.name.clone());
                learned.entry(c.key.host()).or_default().push((c.key.path(), who));
            }
        }
        for list in learned.values_mut() {
            list.sort();
            list.dedup();
        }
        // Follow-ups: the same caller, same period, at the same time, its beats 0–2 s after those of
        // a caller that is mostly redirected.
        let mut follow_ups: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut folded = vec![false; callers.len()];
        for (i, a) in callers.iter().enumerate() {
            let ca = &clusters[a.cluster];
            if share(ca, 300..=399) < 0.5 {
                continue;
            }
            let pa = &ca.periodic[a.periodic];
            for (j, b) in callers.iter().enumerate() {
                let cb = &clusters[b.cluster];
                let pb = &cb.periodic[b.periodic];
                if i != j
                    && cb.key.user_agent() == ca.key.user_agent()
                    && cb.key.path() != ca.key.path()
                    && (pb.period_ms - pa.period_ms).abs() <= 0.01 * pa.period_ms
                    && pb.first_seen <= pa.last_seen + 2000
                    && pb.last_seen >= pa.first_seen
                    && follows(pa.first_seen, pb.first_seen, pa.period_ms)
                {
                    follow_ups.entry(i).or_default().push(j);
                    folded[j] = true;
                }
            }
        }
        let mut probes = Vec::new();
        for (i, &is_follow_up) in folded.iter().enumerate() {
            if is_follow_up && !follow_ups.contains_key(&i) {
                continue;
            }
            if let Some(p) = self.judge(clusters, callers.as_slice(), i, follow_ups.get(&i), &learned) {
                probes.push(p);
            }
        }
        probes.sort_by(|a, b| {
            b.estimated_live_sessions
                .total_cmp(&a.estimated_live_sessions)
                .then(b.sessions_per_day.total_cmp(&a.sessions_per_day))
                .then_with(|| (&a.user_agent, &a.host, &a.path).cmp(&(&b.user_agent, &b.host, &b.path)))
        });
        probes
    }

    fn judge(
        &self,
        clusters: &[ClusterFinding],
        callers: &[Caller],
        i: usize,
        follow_ups: Option<&Vec<usize>>,
        learned: &LearnedHealth<'_>,
    ) -> Option<Probe> {
        let c = &clusters[callers[i].cluster];
        let p = &c.periodic[callers[i].periodic];
        let path = c.key.path();
        let agent = self.agents.classify(c.key.user_agent());
        if agent.kind == CallerKind::Browser
            || self.is_health(c, learned)
            || self.no_session_paths.is_match(path)
        {
            return None;
        }
        let follow_paths: Vec<String> = follow_ups
            .map(|f| f.iter().map(|&j| clusters[callers[j].cluster].key.path().to_owned()).collect())
            .unwrap_or_default();
        let redirects = share(c, 300..=399);
        let answered = share(c, 200..=399);
        let status = main_status(c);
        let mut evidence = Vec::new();
        if c.stats.set_cookie > 0 {
            evidence
                .push(Evidence::CookiesLogged { set_cookie: c.stats.set_cookie, requests: c.stats.requests });
        }
        if redirects >= 0.5 {
            if let Some(login) = follow_paths.iter().find(|f| is_login_path(f)) {
                evidence.push(Evidence::FollowedToLogin { status, login: login.clone() });
            } else if c.stats.login_redirects > 0 {
                evidence.push(Evidence::LoginLocation { status });
            }
        }
        if is_login_path(path) && share(c, 200..=299) >= 0.5 {
            evidence.push(Evidence::LoginPage { status });
        }
        if self.session_paths.is_match(path) {
            evidence.push(Evidence::SessionPath);
        }
        let strong = !evidence.is_empty();
        let sessionless = is_sessionless_by_default(path);
        if !strong && sessionless {
            return None;
        }
        if !sessionless && answered >= 0.5 {
            evidence.push(Evidence::ApplicationPage { status });
        }
        if evidence.is_empty() {
            return None;
        }
        let sessions_per_day = (p.requests as f64 / (p.active_ms / 86_400_000.0)).round();
        let (live, ttl) = match self.session_ttl {
            SessionTtl::Seconds(s) => ((sessions_per_day * s / 86_400.0).round(), Some(s)),
            SessionTtl::Never => (p.requests as f64, None),
        };
        let severity =
            if strong && (sessions_per_day >= 1000.0 || (ttl.is_none() && sessions_per_day >= 100.0)) {
                Severity::High
            } else if strong || sessions_per_day >= 1000.0 {
                Severity::Medium
            } else {
                Severity::Low
            };
        Some(Probe {
            cluster: callers[i].cluster,
            caller: callers[i].periodic,
            user_agent: c.key.user_agent().map(str::to_owned),
            host: c.key.host().map(str::to_owned),
            path: path.to_owned(),
            follow_ups: follow_paths,
            requests: p.requests,
            period_ms: p.period_ms,
            phases: p.phases,
            confidence: p.confidence,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            caller_kind: agent.kind,
            caller_name: agent.name.clone(),
            caller_fix: agent.fix.clone(),
            severity,
            evidence,
            sessions_per_day,
            estimated_live_sessions: live,
            session_ttl_seconds: ttl,
            estimated_session_bytes: live * self.session_bytes as f64,
            fix: fix(clusters, c, learned),
        })
    }
}

/// Where a probe of `c` should point instead: a health path a known checker polls on the same
/// host, else a built-in health endpoint that answers there, else any.
fn fix(clusters: &[ClusterFinding], c: &ClusterFinding, learned: &LearnedHealth<'_>) -> Fix {
    let host = c.key.host();
    if let Some((health, who)) = learned.get(&host).and_then(|l| l.first()) {
        return Fix::LearnedHealth { health: (*health).to_owned(), who: who.clone() };
    }
    clusters
        .iter()
        .find(|o| {
            // Seen more than once: a cluster of one request may not be kept (see `Findings`).
            o.stats.requests > 1
                && o.key.host() == host
                && is_builtin_health_path(o.key.path())
                && share(o, 200..=299) >= 0.5
        })
        .map_or(Fix::AnyHealthEndpoint, |h| Fix::HealthOnHost {
            health: h.key.path().to_owned(),
            status: main_status(h),
        })
}

/// True when beats at `b` come 0–2 s after beats at `a` of the same `period` (ms): the first
/// beat of either may be missing from the log, so compare phases, not first hits.
fn follows(a: UnixMillis, b: UnixMillis, period_ms: f64) -> bool {
    let period = period_ms.round().max(1.0) as i64;
    let lag = (b - a).rem_euclid(period);
    lag <= 2000 && lag < period / 2
}

/// The status a cluster was answered most often (the lowest among equals); `None` when no
/// status was logged.
fn main_status(c: &ClusterFinding) -> Option<u16> {
    c.stats.statuses.iter().max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s))).map(|(s, _)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths() {
        for p in [
            "/health",
            "/healthz",
            "/livez",
            "/readyz",
            "/actuator/health",
            "/actuator/health/liveness",
            "/-/healthy",
            "/server-status",
            "/nginx_status",
            "/api/v1/health",
            "/ping.html",
            "/status",
        ] {
            assert!(is_builtin_health_path(p), "{p}");
        }
        for p in ["/", "/login", "/healthy-food/recipes", "/dashboard", "/orders/:id"] {
            assert!(!is_builtin_health_path(p), "{p}");
        }
    }

    #[test]
    fn sessionless_paths() {
        for p in [
            "/metrics",
            "/robots.txt",
            "/favicon.ico",
            "/static/app.js",
            "/api/orders",
            "/v1/api/x",
            "/data.json",
            "/sitemap.xml",
            "/assets/logo.png",
        ] {
            assert!(is_sessionless_by_default(p), "{p}");
        }
        for p in ["/", "/login", "/dashboard", "/orders/:id", "/admin"] {
            assert!(!is_sessionless_by_default(p), "{p}");
        }
    }
}
