//! Probe forensics: which scheduled callers create a session on every beat, by the evidence,
//! what that costs, and what to probe instead.
//!
//! Every fixed-interval caller is judged by weighing what the log shows against what names
//! suggest. What the log shows comes first: a `Set-Cookie` field set on most responses is
//! certain, set on none (logged, but empty) rules sessions out whatever the path, and set on a
//! few means a caller that keeps its cookie jar, whose sessions are counted from those
//! responses; a redirect to a login page that the same caller follows is observed too. Names
//! come after: a health or scrape endpoint (`data/health-paths.tsv`), a static file or an API
//! creates no session unless the log says otherwise; `/` or an application page answered 2xx
//! or 3xx is likely to, when the log has no `Set-Cookie` field to tell. Who calls matters:
//! browsers keep their cookie (unless the log shows a new one each time), feed readers and
//! crawlers are not monitors, and a key with many distinct clients is people, not a probe.
//! A follow-up request (`/` → 302 → `/login` by the same caller on the same host, where the
//! redirect points, within two seconds) is folded into the probe it follows. A known monitor
//! that gets a new cookie on every response is a finding even when its period is not settled.
//!
//! The rules decide and measure; the report words the findings (`report::probe`).

mod finding;

use super::FastMap as HashMap;

use rayon::prelude::*;
use regex::RegexSet;

pub use finding::{Cleared, Evidence, Fix, Judgement, Probe, Severity, UnlistedProbe};

use super::agents::{Agent, CallerKind, UserAgents};
use super::cluster::ClusterKey;
use super::endpoints::{Endpoint, Endpoints, is_login_path, is_sessionless_by_name};
use super::normalize::path_template;
use super::periodic::Periodicity;
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
    /// Health and scrape endpoints by name, with the user's `--health-path`s.
    pub endpoints: Endpoints,
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

/// A key with more distinct clients than this (and more than four per phase) is people, or a
/// sampled log of many callers, not one monitor: a probe comes from one or a few addresses.
pub const MANY_CLIENTS: usize = 16;

/// Follow-ups listed for one probe at most.
const MAX_FOLLOW_UPS: usize = 8;

/// Share of responses with a `Set-Cookie` field from which the field counts as logged.
const LOGGED: f64 = 0.5;

/// The least time a probe must be missing from the end of the log to be said to be no longer
/// seen there.
const QUIET_MS: i64 = 10 * 60_000;

/// Fewest requests of a known monitor whose period is not settled, for a finding: enough to be
/// a schedule rather than a few visits.
const MIN_UNSETTLED: u64 = 8;

/// Health paths learned per host (`None`: no host logged): each path that a known health checker
/// polls there, with who polls it, sorted.
type LearnedHealth<'a> = HashMap<Option<&'a str>, Vec<(&'a str, String)>>;

/// One periodic caller: indices into the findings.
#[derive(Clone, Copy)]
struct Caller {
    cluster: usize,
    periodic: usize,
}

/// What the log shows about a cluster's cookies.
#[derive(Clone, Copy, Debug)]
struct Cookies {
    /// The `Set-Cookie` field is on most of its lines.
    logged: bool,
    /// Responses that set a cookie, and responses with the field.
    set: u64,
    with_field: u64,
}

impl Cookies {
    fn of(c: &ClusterFinding) -> Self {
        let s = &c.stats;
        Cookies {
            logged: s.set_cookie_logged as f64 >= LOGGED * s.requests as f64,
            set: s.set_cookie,
            with_field: s.set_cookie_logged,
        }
    }

    /// Share of the responses with the field that set a cookie.
    fn share(self) -> f64 {
        if self.with_field == 0 { 0.0 } else { self.set as f64 / self.with_field as f64 }
    }

    /// A cookie on most responses: every beat makes a session.
    fn on_most(self) -> bool {
        self.logged && self.share() >= 0.5
    }
}

impl ProbeRules {
    /// Judges every scheduled caller of `findings`: the probes, most costly first, and why
    /// each other fixed-interval caller is not one.
    #[must_use]
    pub fn judge_all(&self, findings: &Findings) -> Judgement {
        let clusters = &findings.clusters;
        let callers: Vec<Caller> =
            findings.callers().into_iter().map(|(cluster, periodic)| Caller { cluster, periodic }).collect();
        // Each distinct user agent classified once (in parallel): a log of many callers mostly
        // has few user agents.
        let user_agents: Vec<Option<&str>> =
            callers.par_iter().with_min_len(1024).map(|k| clusters[k.cluster].key.user_agent()).collect();
        let mut distinct: HashMap<Option<&str>, usize> = HashMap::default();
        let which: Vec<usize> = user_agents
            .iter()
            .map(|&ua| {
                let n = distinct.len();
                *distinct.entry(ua).or_insert(n)
            })
            .collect();
        let mut names: Vec<(usize, Option<&str>)> = distinct.into_iter().map(|(ua, i)| (i, ua)).collect();
        names.sort_unstable_by_key(|&(i, _)| i);
        let classified: Vec<&Agent> = names.par_iter().map(|&(_, ua)| self.agents.classify(ua)).collect();
        let agents: Vec<&Agent> = which.iter().map(|&i| classified[i]).collect();
        let learned = learned_health(clusters, &callers, &agents, &self.endpoints);
        let healthy = self.health_on_hosts(clusters);
        let (follow_ups, folded) = follow_ups(clusters, &callers);
        // Where each host's log ends: a probe is gone from the end of its host's log, not from
        // the end of other hosts' logs read with it (a log of another site, another year).
        let mut host_end: HashMap<Option<&str>, UnixMillis> = HashMap::default();
        for c in clusters {
            let end = host_end.entry(c.key.host()).or_insert(c.stats.last_seen);
            *end = (*end).max(c.stats.last_seen);
        }
        let log_end = |c: &ClusterFinding| host_end.get(&c.key.host()).copied();
        // A caller weighed: the same inputs whenever it is asked, so that the listed head can be
        // weighed again in full once the order is known.
        let weigh = |source: Source| match source {
            Source::Scheduled(i) => {
                let caller = callers[i];
                let follow: Vec<&str> = follow_ups
                    .get(&i)
                    .map(|f| f.iter().map(|&j| clusters[callers[j].cluster].key.path()).collect())
                    .unwrap_or_default();
                let c = &clusters[caller.cluster];
                let p = &c.periodic[caller.periodic];
                self.judge(c, caller.cluster, agents[i], Some((caller.periodic, p)), follow, log_end(c))
            }
            Source::Unsettled(ci) => {
                let c = &clusters[ci];
                self.judge(c, ci, self.agents.classify(c.key.user_agent()), None, Vec::new(), log_end(c))
            }
        };
        // Each caller is judged on its own: in parallel, collected in the callers' order (a log
        // can hold a hundred thousand of them), each probe kept as what orders and counts it.
        let judged: Vec<Result<Ranked<'_>, Cleared>> = (0..callers.len())
            .into_par_iter()
            .map(|i| {
                if folded[i] && !follow_ups.contains_key(&i) {
                    return Err(Cleared::FollowUp);
                }
                weigh(Source::Scheduled(i)).map(|w| Ranked::of(&w, Source::Scheduled(i)))
            })
            .collect();
        let cleared: Vec<(usize, usize, Cleared)> = judged
            .iter()
            .zip(&callers)
            .filter_map(|(judged, caller)| {
                judged.as_ref().err().map(|why| (caller.cluster, caller.periodic, why.clone()))
            })
            .collect();
        // The probes take the list of results' place, with no second list of them all.
        let mut probes: Vec<Ranked<'_>> = judged.into_iter().filter_map(Result::ok).collect();
        // Known monitors that get a new cookie on every response, with no settled period; and
        // callers too fast for the log's timestamps, whose period cannot be tested.
        let mut untimed = Vec::new();
        for (ci, c) in clusters.iter().enumerate().filter(|(_, c)| c.periodic.is_empty()) {
            // Counters first: the user agent is classified only for the few that can matter.
            let cookies = Cookies::of(c);
            let unsettled = cookies.logged && cookies.share() >= 0.9 && c.stats.requests >= MIN_UNSETTLED;
            if !unsettled && !c.too_fast {
                continue;
            }
            let agent = self.agents.classify(c.key.user_agent());
            if let Some(probe) = unsettled.then(|| weigh(Source::Unsettled(ci)).ok()).flatten() {
                probes.push(Ranked::of(&probe, Source::Unsettled(ci)));
            } else if c.too_fast && is_machine(agent, c) {
                untimed.push(ci);
            }
        }
        // Ties last by where the probe was pushed (callers with a schedule first, each in the
        // clusters' order): a total order, so the parallel sort is deterministic.
        let order = |a: &Ranked<'_>, b: &Ranked<'_>| {
            let (x, y) = (&a.tally, &b.tally);
            b.estimated_live_sessions
                .total_cmp(&a.estimated_live_sessions)
                .then(y.sessions_per_day.total_cmp(&x.sessions_per_day))
                .then_with(|| a.key.cmp(b.key))
                .then(a.period_ms.total_cmp(&b.period_ms))
                .then((x.caller.is_none(), x.cluster, x.caller).cmp(&(
                    y.caller.is_none(),
                    y.cluster,
                    y.caller,
                )))
        };
        // Only the listed head is put in order and worded: the others are only counted and
        // summed, and their severities looked up.
        let head = crate::select::least(&probes, findings.listed_clusters, order);
        let mut listed = vec![false; probes.len()];
        for &i in &head {
            listed[i] = true;
        }
        let mut unlisted: Vec<UnlistedProbe> = Vec::with_capacity(probes.len() - head.len());
        unlisted.extend(probes.iter().zip(&listed).filter(|(_, listed)| !**listed).map(|(r, _)| r.tally));
        // The head weighed again, in full: a probe the first time, so a probe again (`judge`
        // depends on nothing but its inputs).
        let probes = head
            .par_iter()
            .filter_map(|&i| weigh(probes[i].source).ok())
            .map(|w| with_fix(w.into_probe(), &learned, &healthy))
            .collect();
        Judgement { probes, unlisted, cleared, untimed }
    }

    /// The first cluster per host (in the clusters' order) that is a health endpoint by name,
    /// seen more than once and mostly answered 2xx.
    fn health_on_hosts<'a>(
        &self,
        clusters: &'a [ClusterFinding],
    ) -> HashMap<Option<&'a str>, &'a ClusterFinding> {
        // The test on each cluster in parallel (a path's name is matched against the table), the
        // first per host in order.
        let health: Vec<bool> = clusters
            .par_iter()
            .with_min_len(1024)
            // Seen more than once: a cluster of one request may not be kept (see `Findings`).
            // The counters first: the name is matched only for the clusters mostly answered 2xx.
            .map(|o| {
                o.stats.requests > 1 && share(o, 200..=299) >= 0.5 && self.endpoints.is_health(o.key.path())
            })
            .collect();
        let mut healthy = HashMap::default();
        for (o, _) in clusters.iter().zip(health).filter(|(_, h)| *h) {
            healthy.entry(o.key.host()).or_insert(o);
        }
        healthy
    }

    /// Weighs the evidence on cluster `c` (index `ci`) and its caller `caller` (or, with
    /// `None`, the cluster as a whole, whose period is not settled); a probe when it creates
    /// sessions. `log_end` is the time of the last record analysed of its host.
    fn judge<'a>(
        &self,
        c: &'a ClusterFinding,
        ci: usize,
        agent: &'a Agent,
        caller: Option<(usize, &Periodicity)>,
        follow_ups: Vec<&'a str>,
        log_end: Option<UnixMillis>,
    ) -> Result<Weighed<'a>, Cleared> {
        let path = c.key.path();
        let cookies = Cookies::of(c);
        let given = self.session_paths.is_match(path);
        // Ruled out: the user says so, or the log shows no cookie on any response.
        if self.no_session_paths.is_match(path) {
            return Err(Cleared::NoSessionPath);
        }
        if cookies.logged && cookies.set == 0 && !given {
            return Err(Cleared::NoCookieSet);
        }
        // A request nginx answered itself (no upstream: a static file, a `return`, a cached
        // response) reaches no application, so it makes no session: where most lines have an
        // upstream variable and none was passed on, the caller makes none, whatever the path.
        let upstream_logged = c.stats.upstream_logged as f64 >= LOGGED * c.stats.requests as f64;
        if upstream_logged && c.stats.upstream_reached == 0 && cookies.set == 0 && !given {
            return Err(Cleared::NoUpstream);
        }
        let reached =
            upstream_logged.then(|| c.stats.upstream_reached as f64 / c.stats.upstream_logged.max(1) as f64);
        // Not a monitor: feed readers and crawlers; browsers, unless the log shows a new
        // cookie each time; many clients.
        let phases = caller.map_or(1, |(_, p)| p.phases);
        let clients = (!c.stats.clients.is_empty()).then(|| c.stats.clients.len());
        match agent.kind {
            kind @ (CallerKind::FeedReader | CallerKind::Crawler) => return Err(Cleared::NotAMonitor(kind)),
            CallerKind::Browser if !cookies.on_most() => return Err(Cleared::Browser),
            _ => {}
        }
        if let Some(n) = clients.filter(|&n| n > MANY_CLIENTS && n > 4 * phases) {
            return Err(Cleared::ManyClients(n as u64));
        }
        // A period not settled: only a known monitor (the caller checked its cookies).
        let monitor = matches!(
            agent.kind,
            CallerKind::HealthChecker
                | CallerKind::UptimeMonitor
                | CallerKind::Monitoring
                | CallerKind::HeadlessBrowser
        );
        if caller.is_none() && !monitor {
            return Err(Cleared::NoEvidence);
        }
        // The status the evidence names: a permanent redirect only when the caller got nothing
        // else (see `moved` below).
        let status = main_status(c, |s| !matches!(s, 301 | 308)).or_else(|| main_status(c, |_| true));
        let redirected = share(c, 300..=399) >= 0.5;
        let followed = redirected.then(|| follow_ups.iter().find(|f| is_login_path(f))).flatten();
        let to_login = redirected && 2 * c.stats.login_redirects >= c.stats.requests;
        let login_page = is_login_path(path) && share(c, 200..=299) >= 0.5;
        let by_name = self.endpoints.classify(path);
        let sessionless = by_name.is_some() || is_sessionless_by_name(path);

        let mut evidence = Vec::new();
        if cookies.on_most() {
            evidence.push(Evidence::CookiesSet { set: cookies.set, logged: cookies.with_field });
        } else if cookies.logged && cookies.set > 0 {
            evidence.push(Evidence::CookieJar { set: cookies.set, logged: cookies.with_field });
        }
        if let Some(login) = followed {
            evidence.push(Evidence::FollowedToLogin { status, login: (*login).to_owned() });
        } else if to_login {
            let location = c.stats.locations.iter().max_by_key(|(_, n)| *n).map(|(l, _)| l.to_string());
            evidence.push(Evidence::LoginLocation { status, location: location.unwrap_or_default() });
        }
        if login_page && !cookies.logged {
            evidence.push(Evidence::LoginPage { status });
        }
        if given {
            evidence.push(Evidence::SessionPath);
        }
        let observed = cookies.on_most() || followed.is_some() || given;
        let strong = observed || !evidence.is_empty();
        // A name that says "no session" holds unless the log says otherwise.
        if sessionless && !strong {
            return Err(match by_name {
                Some(kind) => Cleared::HealthName { scrape: kind == Endpoint::Scrape },
                None => Cleared::SessionlessName,
            });
        }
        // Permanent redirects (301, 308) are what a web server answers for another scheme or
        // host (`return 301 https://$host$request_uri`) before any application runs: they are
        // no sign of a session, and where a caller's beats mix them with the request they lead
        // to (logged under the same key), only the others can make sessions.
        let moved = share(c, 301..=301) + share(c, 308..=308);
        if !cookies.logged && !sessionless && share(c, 200..=399) - moved >= 0.5 {
            evidence.push(Evidence::ApplicationPage { status });
        }
        if evidence.is_empty() {
            // "Not answered 2xx or 3xx" is only known where the status is logged.
            let with_status: u64 = c.stats.statuses.iter().map(|(_, n)| n).sum();
            if !cookies.logged && 2 * with_status < c.stats.requests {
                return Err(Cleared::NoStatus);
            }
            if moved >= 0.5 {
                return Err(Cleared::PermanentRedirect {
                    status: main_status(c, |s| matches!(s, 301 | 308)),
                });
            }
            return Err(Cleared::NoEvidence);
        }
        match by_name {
            Some(kind) => evidence.push(Evidence::HealthName { scrape: kind == Endpoint::Scrape }),
            None if sessionless => evidence.push(Evidence::SessionlessName),
            None => {}
        }
        if agent.kind == CallerKind::Browser {
            evidence.push(Evidence::BrowserAgent);
        }

        // The cost: requests a day while active, times the share that set a cookie where
        // the log says.
        let (requests, period_ms, confidence, first_seen, last_seen, per_day) = match caller {
            Some((_, p)) => {
                if p.coverage < 0.6 {
                    evidence.push(Evidence::PartialBeats { coverage: p.coverage });
                }
                let per_day = p.requests as f64 / (p.active_ms / 86_400_000.0);
                (p.requests, p.period_ms, p.confidence, p.first_seen, p.last_seen, per_day)
            }
            None => {
                evidence.push(Evidence::PeriodUnsettled);
                let s = &c.stats;
                let gap = (s.last_seen - s.first_seen) as f64 / (s.requests.max(2) - 1) as f64;
                let active = (s.last_seen - s.first_seen) as f64 + gap;
                (s.requests, gap, 0.0, s.first_seen, s.last_seen, s.requests as f64 / (active / 86_400_000.0))
            }
        };
        // Not seen at the end of the log: fixed, moved or paused. What it cost is what it cost
        // while it ran; the report says since when it has not been seen. Three of its beats
        // (as this log holds them: a probe spread over backends skips some here), and at least
        // `QUIET_MS`, so that a log ending between two beats is not taken for a stop.
        if let Some(end) = log_end {
            let coverage = caller.map_or(1.0, |(_, p)| p.coverage).max(0.05);
            let quiet_ms = end - last_seen;
            if quiet_ms as f64 >= (3.0 * period_ms / coverage).max(QUIET_MS as f64) {
                evidence.push(Evidence::NotSeenSince { quiet_ms, last_seen });
            }
        }
        // Where the log has the field, only the responses that set a cookie make sessions;
        // where it has not, at most those that reached the application and were not permanent
        // redirects (mostly the same requests: nginx itself gives the redirects to https).
        let cookie_share = cookies.logged.then(|| cookies.share());
        // A permanent redirect to a login page makes a session like any login redirect: where
        // the caller got no other redirect, its login redirects are among the permanent ones.
        let other_redirects = share(c, 302..=303) + share(c, 307..=307);
        let to_login_share = c.stats.login_redirects as f64 / c.stats.requests.max(1) as f64;
        let moved_elsewhere = if other_redirects > 0.0 { moved } else { (moved - to_login_share).max(0.0) };
        if cookie_share.is_none() {
            if moved_elsewhere > 0.0 {
                evidence.push(Evidence::PermanentRedirects { share: moved_elsewhere });
            }
            if let Some(reached) = reached.filter(|&r| r < 1.0) {
                evidence.push(Evidence::Unreached { share: 1.0 - reached });
            }
        }
        let session_share =
            cookie_share.unwrap_or_else(|| (1.0 - moved_elsewhere).min(reached.unwrap_or(1.0)));
        let sessions_per_day = (per_day * session_share).round();
        let (live, ttl) = match self.session_ttl {
            SessionTtl::Seconds(s) => ((sessions_per_day * s / 86_400.0).round(), Some(s)),
            SessionTtl::Never => ((requests as f64 * session_share).round(), None),
        };
        let costly = sessions_per_day >= 1000.0 || (ttl.is_none() && sessions_per_day >= 100.0);
        let severity = if observed && costly {
            Severity::High
        } else if observed || to_login || login_page || sessions_per_day >= 1000.0 {
            Severity::Medium
        } else {
            Severity::Low
        };
        Ok(Weighed {
            cluster: ci,
            caller: caller.map(|(i, _)| i),
            key: &c.key,
            follow_ups,
            requests,
            period_ms,
            phases,
            confidence,
            first_seen,
            last_seen,
            agent,
            distinct_clients: clients.map(|n| n as u64),
            cookie_share,
            severity,
            evidence,
            sessions_per_day,
            estimated_live_sessions: live,
            session_ttl_seconds: ttl,
            estimated_session_bytes: live * self.session_bytes as f64,
        })
    }
}

/// A probe as the rules weighed it: its key and follow-ups borrowed from the findings, its
/// words and fix not yet built.
struct Weighed<'a> {
    cluster: usize,
    caller: Option<usize>,
    key: &'a ClusterKey,
    follow_ups: Vec<&'a str>,
    requests: u64,
    period_ms: f64,
    phases: usize,
    confidence: f64,
    first_seen: UnixMillis,
    last_seen: UnixMillis,
    agent: &'a Agent,
    distinct_clients: Option<u64>,
    cookie_share: Option<f64>,
    severity: Severity,
    evidence: Vec<Evidence>,
    sessions_per_day: f64,
    estimated_live_sessions: f64,
    session_ttl_seconds: Option<f64>,
    estimated_session_bytes: f64,
}

/// Which caller a probe is: a scheduled caller (an index into the callers), or a cluster whose
/// period is not settled.
#[derive(Clone, Copy)]
enum Source {
    Scheduled(usize),
    Unsettled(usize),
}

/// A probe as the order and the totals need it: every probe of a log is kept so (a log can make
/// a hundred thousand), and only those a report lists are weighed again into a [`Probe`].
struct Ranked<'a> {
    source: Source,
    /// Where it is, how severe, what it costs: what it is kept as when not listed.
    tally: UnlistedProbe,
    key: &'a ClusterKey,
    estimated_live_sessions: f64,
    period_ms: f64,
}

impl<'a> Ranked<'a> {
    fn of(w: &Weighed<'a>, source: Source) -> Self {
        Ranked {
            source,
            tally: UnlistedProbe {
                cluster: w.cluster,
                caller: w.caller,
                severity: w.severity,
                sessions_per_day: w.sessions_per_day,
                likely: Evidence::only_likely(&w.evidence),
                quiet_s: Evidence::quiet_s(&w.evidence),
            },
            key: w.key,
            estimated_live_sessions: w.estimated_live_sessions,
            period_ms: w.period_ms,
        }
    }
}

impl Weighed<'_> {
    /// The probe in full (its fix still to be found: [`with_fix`]).
    fn into_probe(self) -> Probe {
        Probe {
            cluster: self.cluster,
            caller: self.caller,
            user_agent: self.key.user_agent().map(str::to_owned),
            host: self.key.host().map(str::to_owned),
            path: self.key.path().to_owned(),
            follow_ups: self.follow_ups.into_iter().map(str::to_owned).collect(),
            requests: self.requests,
            period_ms: self.period_ms,
            phases: self.phases,
            confidence: self.confidence,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            caller_kind: self.agent.kind,
            caller_name: self.agent.name.clone(),
            caller_fix: self.agent.fix.clone(),
            distinct_clients: self.distinct_clients,
            cookie_share: self.cookie_share,
            severity: self.severity,
            evidence: self.evidence,
            sessions_per_day: self.sessions_per_day,
            estimated_live_sessions: self.estimated_live_sessions,
            session_ttl_seconds: self.session_ttl_seconds,
            estimated_session_bytes: self.estimated_session_bytes,
            fix: Fix::AnyHealthEndpoint,
        }
    }
}

/// True when `agent` and `c` are not people: not a browser, feed reader or crawler, and few
/// clients.
fn is_machine(agent: &Agent, c: &ClusterFinding) -> bool {
    !matches!(agent.kind, CallerKind::Browser | CallerKind::FeedReader | CallerKind::Crawler)
        && (c.stats.clients.is_empty() || c.stats.clients.len() <= MANY_CLIENTS)
}

/// Health endpoints learned per host: what known health checkers poll there. They suggest the
/// fix; they do not exempt a path (a health checker left on `/` is judged like anyone).
fn learned_health<'a>(
    clusters: &'a [ClusterFinding],
    callers: &[Caller],
    agents: &[&Agent],
    endpoints: &Endpoints,
) -> LearnedHealth<'a> {
    let mut learned: LearnedHealth<'a> = HashMap::default();
    for (caller, agent) in callers.iter().zip(agents) {
        let c = &clusters[caller.cluster];
        if agent.kind == CallerKind::HealthChecker
            && endpoints.is_health(c.key.path())
            && share(c, 200..=299) >= 0.5
        {
            let who = c.key.user_agent().map(str::to_owned).unwrap_or_else(|| agent.name.to_string());
            learned.entry(c.key.host()).or_default().push((c.key.path(), who));
        }
    }
    for list in learned.values_mut() {
        list.sort();
        list.dedup();
    }
    learned
}

/// `probe` with its fix: a health path a known checker polls on the same host, else a health
/// endpoint that answers there, else any.
fn with_fix(
    mut probe: Probe,
    learned: &LearnedHealth<'_>,
    healthy: &HashMap<Option<&str>, &ClusterFinding>,
) -> Probe {
    let host = probe.host.as_deref();
    probe.fix = if let Some((health, who)) =
        learned.get(&host).and_then(|l| l.iter().find(|(h, _)| *h != probe.path))
    {
        Fix::LearnedHealth { health: (*health).to_owned(), who: who.clone() }
    } else if let Some(h) = healthy.get(&host).filter(|h| h.key.path() != probe.path) {
        Fix::HealthOnHost { health: h.key.path().to_owned(), status: main_status(h, |_| true) }
    } else {
        Fix::AnyHealthEndpoint
    };
    probe
}

/// Follow-ups: for each caller that is mostly redirected, the callers on the same host with
/// the same user agent and period whose beats come 0–2 s after its own, at the path the
/// redirect points to (a logged `Location`; without one, a login or auth page). Returns them
/// by caller, and which callers are folded into another. Callers are looked up by (host, user
/// agent, path), so the work is linear in callers.
fn follow_ups(clusters: &[ClusterFinding], callers: &[Caller]) -> (HashMap<usize, Vec<usize>>, Vec<bool>) {
    type Key<'a> = (Option<&'a str>, Option<&'a str>);
    // The callers on login pages (found in parallel: this reads every caller's key), by host
    // and user agent, in order.
    let on_login: Vec<usize> = callers
        .par_iter()
        .enumerate()
        .with_min_len(1024)
        .filter_map(|(i, caller)| is_login_path(clusters[caller.cluster].key.path()).then_some(i))
        .collect();
    let mut logins: HashMap<Key<'_>, Vec<usize>> = HashMap::default();
    for i in on_login {
        let c = &clusters[callers[i].cluster];
        let list = logins.entry((c.key.host(), c.key.user_agent())).or_default();
        if list.len() < MAX_FOLLOW_UPS {
            list.push(i);
        }
    }
    // Callers redirected, in parallel (this reads every caller's statistics); those that log
    // where they go need the index by path, built once if any does.
    let redirected: Vec<(usize, bool)> = callers
        .par_iter()
        .enumerate()
        .with_min_len(1024)
        .filter_map(|(i, a)| {
            let ca = &clusters[a.cluster];
            (share(ca, 300..=399) >= 0.5).then(|| (i, !ca.stats.locations.is_empty()))
        })
        .collect();
    // The callers by path, built only when a redirect names where it goes: a log of many
    // callers that log no `Location` never needs it.
    let by_path = redirected.iter().any(|&(_, located)| located).then(|| {
        let mut map: HashMap<(Key<'_>, &str), Vec<usize>> = HashMap::default();
        for (j, caller) in callers.iter().enumerate() {
            let c = &clusters[caller.cluster];
            map.entry(((c.key.host(), c.key.user_agent()), c.key.path())).or_default().push(j);
        }
        map
    });
    if logins.is_empty() && by_path.is_none() {
        // No login page among the callers and no redirect that logs where it goes: nothing
        // can be a follow-up.
        return (HashMap::default(), vec![false; callers.len()]);
    }
    // Each redirected caller's follow-ups, in parallel, in the order of its candidates.
    let matched: Vec<(usize, Vec<usize>)> = redirected
        .into_par_iter()
        .with_min_len(256)
        .map_init(String::new, |buf, (i, located)| {
            let a = &callers[i];
            let ca = &clusters[a.cluster];
            let key = (ca.key.host(), ca.key.user_agent());
            let mut candidates: Vec<usize> = Vec::new();
            match &by_path {
                Some(by_path) if located => {
                    for (location, _) in &ca.stats.locations {
                        let template = path_template(location, false, buf).to_owned();
                        for path in [&**location, template.as_str()] {
                            candidates.extend(by_path.get(&(key, path)).into_iter().flatten());
                        }
                    }
                    candidates.sort_unstable();
                    candidates.dedup();
                }
                _ => candidates.extend(logins.get(&key).into_iter().flatten()),
            }
            let pa = &ca.periodic[a.periodic];
            candidates.retain(|&j| {
                let cb = &clusters[callers[j].cluster];
                let pb = &cb.periodic[callers[j].periodic];
                j != i
                    && cb.key.path() != ca.key.path()
                    && (pb.period_ms - pa.period_ms).abs() <= 0.01 * pa.period_ms
                    && pb.first_seen <= pa.last_seen + 2000
                    && pb.last_seen >= pa.first_seen
                    && follows(pa.first_seen, pb.first_seen, pa.period_ms)
            });
            (i, candidates)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect();
    let mut found: HashMap<usize, Vec<usize>> = HashMap::default();
    let mut folded = vec![false; callers.len()];
    for (i, mut m) in matched {
        for &j in &m {
            folded[j] = true;
        }
        m.truncate(MAX_FOLLOW_UPS);
        found.insert(i, m);
    }
    (found, folded)
}

/// Share of a cluster's requests answered with a status in `range`.
fn share(c: &ClusterFinding, range: std::ops::RangeInclusive<u16>) -> f64 {
    let n: u64 = c.stats.statuses.iter().filter(|(s, _)| range.contains(s)).map(|(_, n)| n).sum();
    n as f64 / c.stats.requests.max(1) as f64
}

/// True when beats at `b` come 0–2 s after beats at `a` of the same `period` (ms): the first
/// beat of either may be missing from the log, so compare phases, not first hits.
fn follows(a: UnixMillis, b: UnixMillis, period_ms: f64) -> bool {
    let period = period_ms.round().max(1.0) as i64;
    let lag = (b - a).rem_euclid(period);
    lag <= 2000 && lag < period / 2
}

/// The status a cluster was answered most often (the lowest among equals) of those `counted`;
/// `None` when none was logged.
fn main_status(c: &ClusterFinding, counted: impl Fn(u16) -> bool) -> Option<u16> {
    c.stats
        .statuses
        .iter()
        .filter(|(s, _)| counted(*s))
        .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)))
        .map(|(s, _)| *s)
}
