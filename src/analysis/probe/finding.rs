//! What a probe finding is: the caller, the evidence for and against (typed, with the numbers
//! it rests on), the cost and the fix. The report words it (`report::probe`).

use crate::analysis::agents::CallerKind;
use crate::model::UnixMillis;

/// How strong a probe's cost is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Sessions observed (cookies on most responses, a followed login redirect) or given by
    /// `--session-path`, and at least 1,000 a day (or 100 that never expire).
    High,
    /// Sessions observed or given at a lower cost; or inferred from a login redirect or a login
    /// page; or inferred otherwise at 1,000 a day or more.
    Medium,
    /// Inferred at a lower cost, or a few cookies from a caller that keeps its cookie jar.
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

/// One piece of evidence about a probe, with the numbers it rests on: for (it creates
/// sessions), against (outweighed, listed so the reader sees what was weighed), or a note on
/// what the log holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Evidence {
    /// For, certain: the log has a `Set-Cookie` field, set on `set` of the `logged` responses
    /// that have it, most of them: a session per beat.
    CookiesSet {
        /// Responses that set a cookie.
        set: u64,
        /// Responses whose line has the field.
        logged: u64,
    },
    /// For, certain but few: a cookie on `set` of the `logged` responses, under half. The caller
    /// keeps its cookie jar, and only those responses make sessions.
    CookieJar {
        /// Responses that set a cookie.
        set: u64,
        /// Responses whose line has the field.
        logged: u64,
    },
    /// For, observed: mostly redirected, and the same caller followed to a login page within
    /// 2 s.
    FollowedToLogin {
        /// The cluster's most frequent status.
        status: Option<u16>,
        /// The login page it followed to.
        login: String,
    },
    /// For, inferred: mostly redirected to a login page (by the logged `Location`): a login
    /// filter, which saves the request in a new session before it redirects.
    LoginLocation {
        /// The cluster's most frequent status.
        status: Option<u16>,
        /// Where most of the redirects point.
        location: String,
    },
    /// For, inferred: the probed path is itself a login page, mostly answered 2xx.
    LoginPage {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
    /// For, given: the path matches `--session-path`.
    SessionPath,
    /// For, likely: `/` or an application page, mostly answered 2xx or 3xx, and the log has no
    /// `Set-Cookie` field to say otherwise: most web frameworks give a visitor without a cookie
    /// a new session there.
    ApplicationPage {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
    /// Against, outweighed: by its name a health endpoint (or a metrics scrape).
    HealthName {
        /// A metrics scrape rather than a health check.
        scrape: bool,
    },
    /// Against, outweighed: by its name a static file or an API, which create no session.
    SessionlessName,
    /// Against, outweighed: a browser user agent, which would send its cookie back.
    BrowserAgent,
    /// Note: the log holds this share of the caller's expected beats; where a load balancer
    /// spreads a probe over N backends, about 1/N. Sessions are counted from the beats logged.
    PartialBeats {
        /// Beats present, of those expected.
        coverage: f64,
    },
    /// Note: this share of the caller's responses are permanent redirects (301, 308), which a
    /// web server gives for another scheme or host and which make no session; sessions are
    /// counted from the others.
    PermanentRedirects {
        /// Permanent redirects, of all its responses.
        share: f64,
    },
    /// Note: this share of the caller's requests nginx answered itself (its upstream variable
    /// logged as `-`: a static file, a `return`, a cached response), which no application saw;
    /// sessions are counted from the others.
    Unreached {
        /// Requests answered without an upstream, of those with the field.
        share: f64,
    },
    /// Note: not seen in the last `quiet_ms` of the log (its last request at `last_seen`):
    /// fixed, moved or paused. Its sessions a day are what it made while it ran.
    NotSeenSince {
        /// Log time from its last request to the last record analysed.
        quiet_ms: i64,
        /// Its last request.
        last_seen: UnixMillis,
    },
    /// Note: the period is not settled (too few beats at the log's resolution, or an irregular
    /// schedule); a known monitor that gets a new cookie on every response is a finding anyway.
    PeriodUnsettled,
}

impl Evidence {
    /// Whether it shows sessions being made, rather than suggesting it: a logged cookie, a
    /// redirect to a login page, a login page, `--session-path`. A probe with none of these
    /// is only likely, judged by its path and status.
    #[must_use]
    pub fn confirms(&self) -> bool {
        matches!(
            self,
            Evidence::CookiesSet { .. }
                | Evidence::CookieJar { .. }
                | Evidence::FollowedToLogin { .. }
                | Evidence::LoginLocation { .. }
                | Evidence::LoginPage { .. }
                | Evidence::SessionPath
        )
    }

    /// How long before its host's log ends a probe was last seen ([`Evidence::NotSeenSince`]),
    /// in whole seconds and at least 1; 0 when it was seen at the end.
    #[must_use]
    pub fn quiet_s(evidence: &[Evidence]) -> u32 {
        evidence
            .iter()
            .find_map(|e| match e {
                Evidence::NotSeenSince { quiet_ms, .. } => {
                    Some(u32::try_from((quiet_ms / 1000).max(1)).unwrap_or(u32::MAX))
                }
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Whether `evidence` holds only suggestions ([`Evidence::confirms`] none).
    #[must_use]
    pub fn only_likely(evidence: &[Evidence]) -> bool {
        !evidence.iter().any(Evidence::confirms)
    }
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
    /// A health endpoint by name that answers 2xx on this host.
    HealthOnHost {
        /// The health path.
        health: String,
        /// Its most frequent status.
        status: Option<u16>,
    },
    /// No health endpoint seen on this host.
    AnyHealthEndpoint,
}

/// A caller that creates sessions: what was found, by what evidence, at what cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Where it was found: an index into `Findings::clusters`.
    pub cluster: usize,
    /// Which of that cluster's fixed-interval callers it is (an index into its `periodic`);
    /// `None` for a caller whose period is not settled.
    pub caller: Option<usize>,
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
    /// Period (ms); for a period not settled, the mean gap.
    pub period_ms: f64,
    /// Callers sharing the key at different phases (locations, replicas).
    pub phases: usize,
    /// The periodic detector's confidence, in [0, 1]; 0 for a period not settled.
    pub confidence: f64,
    /// First probe.
    pub first_seen: UnixMillis,
    /// Last probe.
    pub last_seen: UnixMillis,
    /// Who is calling, by its user agent.
    pub caller_kind: CallerKind,
    /// What the caller is, by its user agent.
    pub caller_name: std::sync::Arc<str>,
    /// Where such a caller's probe path is configured, from the user-agent table; empty when
    /// unknown.
    pub caller_fix: std::sync::Arc<str>,
    /// Distinct client addresses of the cluster; `None` when none was logged.
    pub distinct_clients: Option<u64>,
    /// Share of the responses with a `Set-Cookie` field that set a cookie; `None` when the log
    /// has no such field for this cluster.
    pub cookie_share: Option<f64>,
    /// Severity, from the evidence and the cost.
    pub severity: Severity,
    /// The evidence: for it, strongest first, then against it, then notes.
    pub evidence: Vec<Evidence>,
    /// Sessions made per day while the probe was active (all phases): requests per day, times
    /// the share of responses that set a cookie where the log has that field.
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

/// Why a scheduled caller is not a probe: the evidence that decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Cleared {
    /// The path matches `--no-session-path`.
    NoSessionPath,
    /// The log's `Set-Cookie` field is empty on every response.
    NoCookieSet,
    /// A follow-up of another probe (the redirect it follows): counted there.
    FollowUp,
    /// A feed reader or a crawler: not a monitor.
    NotAMonitor(CallerKind),
    /// A browser, which sends its session cookie back.
    Browser,
    /// Many distinct clients: people, or a sampled log of many callers.
    ManyClients(u64),
    /// A health or scrape endpoint by name, and nothing in the log says otherwise.
    HealthName {
        /// A metrics scrape rather than a health check.
        scrape: bool,
    },
    /// A static file or an API by name, and nothing in the log says otherwise.
    SessionlessName,
    /// Mostly answered with a permanent redirect (301, 308), as a web server answers for another
    /// scheme or host, and nothing in the log says a session is made: the request it leads to,
    /// where the log has it, is judged on its own.
    PermanentRedirect {
        /// The cluster's most frequent status.
        status: Option<u16>,
    },
    /// The log has an upstream variable on most of its lines, and nginx passed none of its
    /// requests on: a static file, a `return` or a cached response, which no application saw.
    NoUpstream,
    /// No evidence of a session: not answered 2xx or 3xx, no cookie, no login redirect.
    NoEvidence,
    /// Not judged: the log has neither a status for most of its requests nor a `Set-Cookie`
    /// field, so whether it makes sessions cannot be told.
    NoStatus,
}

impl Cleared {
    /// Whether the caller was looked at and ruled out, rather than left unjudged for want of
    /// evidence in the log.
    #[must_use]
    pub fn judged(&self) -> bool {
        !matches!(self, Cleared::NoStatus)
    }
}

/// The probe rules' verdict on every scheduled caller of a log.
#[derive(Clone, Debug, Default)]
pub struct Judgement {
    /// The probes a report lists, most costly first: the first [`Findings::listed_clusters`]
    /// of them, in full.
    ///
    /// [`Findings::listed_clusters`]: crate::analysis::Findings::listed_clusters
    pub probes: Vec<Probe>,
    /// The other probes, in no particular order (but the same in every run): only what the
    /// totals, the verdict and the periodic table need. A log can make a hundred thousand
    /// probes, and the report words a thousand.
    pub unlisted: Vec<UnlistedProbe>,
    /// The fixed-interval callers that are not probes, as (cluster, caller) indices into the
    /// findings, with why.
    pub cleared: Vec<(usize, usize, Cleared)>,
    /// Clusters of callers (not people) whose requests come faster than the log's timestamps
    /// can time (under two ticks apart): their period cannot be tested at this resolution.
    pub untimed: Vec<usize>,
}

/// A probe beyond those a report lists: where it is, how severe, what it costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnlistedProbe {
    /// An index into `Findings::clusters`.
    pub cluster: usize,
    /// Which of that cluster's fixed-interval callers it is; `None` for a period not settled.
    pub caller: Option<usize>,
    /// Its severity.
    pub severity: Severity,
    /// Sessions it makes per day.
    pub sessions_per_day: f64,
    /// Only likely ([`Evidence::only_likely`]): judged by its path and status alone.
    pub likely: bool,
    /// Not seen in this last stretch of the log, in whole seconds, at least 1
    /// ([`Evidence::quiet_s`]); 0 when seen at its end. Seconds in 32 bits keep every probe's
    /// tally as small as before it had this (a log can hold a hundred thousand probes).
    pub quiet_s: u32,
}

impl Judgement {
    /// Every probe, listed or not, as what the totals read.
    fn tallies(&self) -> impl Iterator<Item = UnlistedProbe> + '_ {
        let listed = self.probes.iter().map(|p| UnlistedProbe {
            cluster: p.cluster,
            caller: p.caller,
            severity: p.severity,
            sessions_per_day: p.sessions_per_day,
            likely: Evidence::only_likely(&p.evidence),
            quiet_s: Evidence::quiet_s(&p.evidence),
        });
        listed.chain(self.unlisted.iter().copied())
    }

    /// Every probe, listed or not.
    #[must_use]
    pub fn probe_count(&self) -> usize {
        self.probes.len() + self.unlisted.len()
    }

    /// The probes not seen at the end of the log, and the shortest time (s) they have not been.
    #[must_use]
    pub fn quiet(&self) -> (usize, Option<u32>) {
        let quiet = || self.tallies().map(|p| p.quiet_s).filter(|&s| s > 0);
        (quiet().count(), quiet().min())
    }

    /// The probes judged by their path and status alone ([`Evidence::only_likely`]).
    #[must_use]
    pub fn likely_count(&self) -> usize {
        self.tallies().filter(|p| p.likely).count()
    }

    /// The fixed-interval callers the log could not judge ([`Cleared::judged`]).
    #[must_use]
    pub fn unjudged_count(&self) -> usize {
        self.cleared.iter().filter(|(_, _, c)| !c.judged()).count()
    }

    /// The sessions all probes make per day. Each probe's is a whole number, so the sum is
    /// exact in any order.
    #[must_use]
    pub fn sessions_per_day(&self) -> f64 {
        self.tallies().map(|p| p.sessions_per_day).sum()
    }

    /// The most severe of all probes, if any (`High` is the least).
    #[must_use]
    pub fn worst(&self) -> Option<Severity> {
        self.tallies().map(|p| p.severity).min()
    }

    /// Every probe as (cluster, caller) and its severity, listed ones first.
    pub fn severities(&self) -> impl Iterator<Item = ((usize, Option<usize>), Severity)> + '_ {
        self.tallies().map(|p| ((p.cluster, p.caller), p.severity))
    }
}
