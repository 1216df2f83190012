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

use std::collections::HashMap;

use regex::RegexSet;
use serde::Serialize;

use super::agents::{CallerKind, UserAgents};
use super::cluster::{is_health_segment, is_login_segment};
use super::{Activity, ClusterFinding, Findings};
use crate::model::UnixMillis;

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SessionTtl {
    /// Seconds.
    Seconds(f64),
    /// Never expire (Spring's `Integer.MAX_VALUE`, as in the incident's second app).
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// A probe that creates sessions; serialised as the JSON report's `probes[]` (times in RFC 3339,
/// the period in seconds).
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    /// User agent; `null` when not logged.
    pub user_agent: Option<String>,
    /// Host (normalised); `null` when not logged.
    pub host: Option<String>,
    /// The probed path.
    pub path: String,
    /// Paths the same caller follows up to within two seconds (the redirect chain); their
    /// requests are not counted again.
    pub follow_ups: Vec<String>,
    /// Requests to the probed path explained by its schedule.
    pub requests: u64,
    /// Period (ms); `period_seconds` in the report.
    #[serde(rename = "period_seconds", serialize_with = "crate::model::ser::ms_as_seconds")]
    pub period_ms: f64,
    /// First probe.
    #[serde(serialize_with = "crate::model::ser::rfc3339")]
    pub first_seen: UnixMillis,
    /// Last probe.
    #[serde(serialize_with = "crate::model::ser::rfc3339")]
    pub last_seen: UnixMillis,
    /// Who is calling.
    pub caller_kind: CallerKind,
    /// What the caller is, by its user agent.
    pub caller_name: String,
    /// Severity.
    pub severity: Severity,
    /// The evidence, strongest first (`certain:`, `strong:`, `given:`, `likely:`), then the caller.
    pub reasons: Vec<String>,
    /// Session-creating requests per day while the probe was active (all phases).
    pub sessions_per_day: f64,
    /// With a TTL: sessions alive at once (sessions per day × TTL in days). With `never`: the
    /// sessions made since the probe's first hit in the log (they all stay).
    pub estimated_live_sessions: f64,
    /// The session TTL assumed (`--session-ttl`); `null` for `never`.
    pub session_ttl_seconds: Option<f64>,
    /// Bytes those sessions hold (`estimated_live_sessions × --session-bytes`).
    pub estimated_session_bytes: f64,
    /// What to change, in plain words.
    pub suggestion: String,
    /// When the probe was active, for pictures.
    #[serde(skip)]
    pub activity: Option<Activity>,
}

const HEALTH_PATHS: [&str; 6] =
    ["/-/healthy", "/-/ready", "/server-status", "/nginx_status", "/stub_status", "/hc"];
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
    fn is_health(&self, c: &ClusterFinding, learned: &HashMap<Option<&str>, Vec<(&str, String)>>) -> bool {
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
        let mut learned: HashMap<Option<&str>, Vec<(&str, String)>> = HashMap::new();
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
        learned: &HashMap<Option<&str>, Vec<(&str, String)>>,
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
        let mut reasons = Vec::new();
        let mut strong = false;
        if c.stats.set_cookie > 0 {
            reasons.push(format!(
                "certain: {} of {} responses set a cookie (Set-Cookie is logged)",
                c.stats.set_cookie, c.stats.requests
            ));
            strong = true;
        }
        if redirects >= 0.5 {
            if let Some(login) = follow_paths.iter().find(|f| is_login_path(f)) {
                reasons.push(format!(
                    "strong: answered {} and the same caller followed to {login} within 2 s: a login redirect",
                    main_status(c)
                ));
                strong = true;
            } else if c.stats.login_redirects > 0 {
                reasons.push(format!("strong: answered {} with a Location to a login page", main_status(c)));
                strong = true;
            }
        }
        if is_login_path(path) && share(c, 200..=299) >= 0.5 {
            reasons.push(format!("strong: {path} is a login page, answered {}", main_status(c)));
            strong = true;
        }
        if self.session_paths.is_match(path) {
            reasons.push("given: the path matches --session-path".to_owned());
            strong = true;
        }
        let sessionless = is_sessionless_by_default(path);
        if !strong && sessionless {
            return None;
        }
        if !sessionless && answered >= 0.5 {
            let what = if path == "/" { "the site's root" } else { "an application page" };
            reasons.push(format!(
                "likely: {path} is {what}, answered {}; most web frameworks (Spring, PHP, Rails, Django) give every \
                 visitor without a cookie a new session there",
                main_status(c)
            ));
        }
        if reasons.is_empty() {
            return None;
        }
        reasons.push(format!(
            "caller: {} ({}), every {} with {} phase(s), confidence {:.2}",
            agent.name,
            agent.kind.as_str(),
            crate::model::human_seconds(p.period_ms / 1000.0),
            p.phases,
            p.confidence
        ));
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
            user_agent: c.key.user_agent().map(str::to_owned),
            host: c.key.host().map(str::to_owned),
            path: path.to_owned(),
            follow_ups: follow_paths,
            requests: p.requests,
            period_ms: p.period_ms,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            caller_kind: agent.kind,
            caller_name: agent.name.clone(),
            severity,
            reasons,
            sessions_per_day,
            estimated_live_sessions: live,
            session_ttl_seconds: ttl,
            estimated_session_bytes: live * self.session_bytes as f64,
            suggestion: self.suggest(clusters, c, learned, &agent.fix),
            activity: c.activity.get(callers[i].periodic).cloned(),
        })
    }

    fn suggest(
        &self,
        clusters: &[ClusterFinding],
        c: &ClusterFinding,
        learned: &HashMap<Option<&str>, Vec<(&str, String)>>,
        fix: &str,
    ) -> String {
        let path = c.key.path();
        let host = c.key.host();
        let mut s = if let Some((health, who)) = learned.get(&host).and_then(|l| l.first()) {
            format!("Probe {health} instead of {path}: {who} already uses {health} on this host.")
        } else if let Some(h) = clusters.iter().find(|o| {
            // Seen more than once: a cluster of one request may not be kept (see `Findings`).
            o.stats.requests > 1
                && o.key.host() == host
                && is_builtin_health_path(o.key.path())
                && share(o, 200..=299) >= 0.5
        }) {
            format!("Probe {} instead of {path}: it answers {} on this host.", h.key.path(), main_status(h))
        } else {
            format!(
                "Probe a health endpoint that creates no session instead of {path} (for example Spring Boot \
                 Actuator's /actuator/health), or exempt the probe's path from session creation."
            )
        };
        if !fix.is_empty() {
            s.push_str(" Where: ");
            s.push_str(fix);
            s.push('.');
        }
        if self.session_ttl == SessionTtl::Never {
            s.push_str(
                " Sessions never expire here: the ones already made stay until deleted; give sessions a TTL.",
            );
        }
        s
    }
}

/// True when beats at `b` come 0–2 s after beats at `a` of the same `period` (ms): the first
/// beat of either may be missing from the log, so compare phases, not first hits.
fn follows(a: UnixMillis, b: UnixMillis, period_ms: f64) -> bool {
    let period = period_ms.round().max(1.0) as i64;
    let lag = (b - a).rem_euclid(period);
    lag <= 2000 && lag < period / 2
}

fn main_status(c: &ClusterFinding) -> String {
    c.stats
        .statuses
        .iter()
        .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)))
        .map_or_else(|| "-".to_owned(), |(s, _)| s.to_string())
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
