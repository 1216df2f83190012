//! A probe finding in words: the JSON report's `probes[]` entry, with its evidence as sentences
//! and its fix as advice.

use serde::{Serialize, Serializer};

use super::activity::Activity;
use super::units::{human_seconds, rfc3339, round3};
use crate::analysis::agents::CallerKind;
use crate::analysis::probe::{Evidence, Fix, Probe, Severity};

/// A probe that creates sessions: the JSON report's `probes[]` (times in RFC 3339, the period in
/// seconds).
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
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
    /// Period in seconds (ms precision); for a period not settled, the mean gap.
    pub period_seconds: f64,
    /// False when the period is not settled (a known monitor with a new cookie on every
    /// response, found by that alone).
    pub period_settled: bool,
    /// Callers sharing the key at different phases (locations, replicas).
    pub phases: usize,
    /// Distinct client addresses of the probed cluster; `null` when none was logged.
    pub distinct_clients: Option<u64>,
    /// Share of the responses with a `Set-Cookie` field that set a cookie; `null` when the log
    /// has no such field for this caller.
    pub cookie_share: Option<f64>,
    /// First probe.
    pub first_seen: String,
    /// Last probe.
    pub last_seen: String,
    /// Log time from its last request to the last record of its host, in whole seconds, when
    /// long enough to say it is gone (three of its beats, at least 10 min); `null` while it is
    /// seen at the end of its host's log.
    pub not_seen_for_seconds: Option<u32>,
    /// Who is calling, by its user agent (`health_checker`, `http_client` …).
    pub caller_kind: CallerKind,
    /// What the caller is, by its user agent.
    pub caller_name: String,
    /// `high`, `medium` or `low`.
    pub severity: Severity,
    /// The evidence for, strongest first (`certain:`, `strong:`, `given:`, `likely:`), then
    /// against (`against:`, outweighed), notes (`note:`), and the caller.
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
    /// When the probe was active, for pictures ([`super::Report::draw_activity`]).
    #[serde(skip)]
    pub activity: Option<Activity>,
}

impl ProbeReport {
    /// The report of `p`; its picture is drawn apart ([`super::Report::draw_activity`]).
    #[must_use]
    pub fn new(p: &Probe) -> Self {
        let mut reasons: Vec<String> = p.evidence.iter().map(|e| reason(e, &p.path)).collect();
        let clients =
            p.distinct_clients.map_or_else(String::new, |n| format!(", from {n} client address(es)"));
        reasons.push(match p.caller {
            Some(_) => format!(
                "caller: {} ({}), every {} with {} phase(s), confidence {:.2}{clients}",
                p.caller_name,
                p.caller_kind.as_str(),
                human_seconds(p.period_ms / 1000.0),
                p.phases,
                p.confidence
            ),
            None => format!(
                "caller: {} ({}), about every {} (period not settled){clients}",
                p.caller_name,
                p.caller_kind.as_str(),
                human_seconds(p.period_ms / 1000.0)
            ),
        });
        ProbeReport {
            user_agent: p.user_agent.clone(),
            host: p.host.clone(),
            path: p.path.clone(),
            follow_ups: p.follow_ups.clone(),
            requests: p.requests,
            period_seconds: round3(p.period_ms / 1000.0),
            period_settled: p.caller.is_some(),
            phases: p.phases,
            distinct_clients: p.distinct_clients,
            cookie_share: p.cookie_share.map(round3),
            first_seen: rfc3339(p.first_seen),
            last_seen: rfc3339(p.last_seen),
            not_seen_for_seconds: Some(Evidence::quiet_s(&p.evidence)).filter(|&s| s > 0),
            caller_kind: p.caller_kind,
            caller_name: p.caller_name.to_string(),
            severity: p.severity,
            reasons,
            sessions_per_day: p.sessions_per_day,
            estimated_live_sessions: p.estimated_live_sessions,
            session_ttl_seconds: p.session_ttl_seconds,
            estimated_session_bytes: p.estimated_session_bytes,
            suggestion: suggestion(p),
            activity: None,
        }
    }
}

/// A share as a whole percentage: `25%`.
fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// A status as the report shows it: `302`, or `-` when none was logged.
fn status(s: Option<u16>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// One piece of evidence about a probe of `path`, as a sentence that starts with its strength.
fn reason(e: &Evidence, path: &str) -> String {
    match e {
        Evidence::CookiesSet { set, logged } => {
            format!("certain: {set} of {logged} responses set a cookie (Set-Cookie is logged)")
        }
        Evidence::CookieJar { set, logged } => format!(
            "certain: {set} of {logged} responses set a cookie ({}): the caller keeps its cookies, so only \
             those responses make sessions",
            percent(*set as f64 / (*logged).max(1) as f64)
        ),
        Evidence::FollowedToLogin { status: s, login } => format!(
            "strong: answered {} and the same caller followed to {login} within 2 s: a login redirect",
            status(*s)
        ),
        Evidence::LoginLocation { status: s, location } => format!(
            "strong: answered {} with a Location to a login page ({location}): a login filter saves the request \
             in a new session before it redirects",
            status(*s)
        ),
        Evidence::LoginPage { status: s } => {
            format!("strong: {path} is a login page, answered {}", status(*s))
        }
        Evidence::SessionPath => "given: the path matches --session-path".to_owned(),
        Evidence::ApplicationPage { status: s } => {
            let what = if path == "/" { "the site's root" } else { "an application page" };
            format!(
                "likely: {path} is {what}, answered {}; most web frameworks (Spring, PHP, Rails, Django) give every \
                 visitor without a cookie a new session there",
                status(*s)
            )
        }
        Evidence::HealthName { scrape: false } => {
            format!("against (outweighed): {path} is a health endpoint by its name")
        }
        Evidence::HealthName { scrape: true } => {
            format!("against (outweighed): {path} is a metrics endpoint by its name")
        }
        Evidence::SessionlessName => {
            format!(
                "against (outweighed): {path} is a static file or an API by its name, which usually make no session"
            )
        }
        Evidence::BrowserAgent => {
            "against (outweighed): a browser's user agent, though it keeps no cookie".to_owned()
        }
        Evidence::PartialBeats { coverage } => format!(
            "note: this log holds {} of the expected beats (about 1 in {}: a load balancer spreading the probe \
             over backends, or gaps); sessions are counted from the beats logged here",
            percent(*coverage),
            (1.0 / coverage.max(0.01)).round()
        ),
        Evidence::PermanentRedirects { share } => format!(
            "note: {} of its responses are permanent redirects (301/308), as a web server answers for https or \
             another host, which make no session; sessions are counted from the others",
            percent(*share)
        ),
        Evidence::Unreached { share } => format!(
            "note: nginx answered {} of its requests itself (no upstream: a static file, a redirect or a cached \
             response), which no application saw; sessions are counted from the others",
            percent(*share)
        ),
        Evidence::NotSeenSince { quiet_ms, last_seen } => format!(
            "note: not seen in the log's last {} (last at {}): fixed, moved or paused; its sessions a day are \
             what it made while it ran",
            super::units::human_rounded(*quiet_ms as f64 / 1000.0),
            rfc3339(*last_seen)
        ),
        Evidence::PeriodUnsettled => {
            "note: the period is not settled at this log's resolution; a known monitor with \
                                      a new cookie on every response is a finding anyway"
                .to_owned()
        }
    }
}

/// What to change about probe `p`, in plain words.
fn suggestion(p: &Probe) -> String {
    let path = &p.path;
    let mut s = match &p.fix {
        Fix::LearnedHealth { health, who } => {
            format!("Probe {health} instead of {path}: {who} already uses {health} on this host.")
        }
        Fix::HealthOnHost { health, status: st } => {
            format!("Probe {health} instead of {path}: it answers {} on this host.", status(*st))
        }
        Fix::AnyHealthEndpoint => format!(
            "Probe a health endpoint that creates no session instead of {path} (for example Spring Boot \
             Actuator's /actuator/health), or exempt the probe's path from session creation."
        ),
    };
    if !p.caller_fix.is_empty() {
        s.push_str(" Where: ");
        s.push_str(&p.caller_fix);
        s.push('.');
    }
    if p.session_ttl_seconds.is_none() {
        s.push_str(
            " Sessions never expire here: the ones already made stay until deleted; give sessions a TTL.",
        );
    }
    s
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for CallerKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
