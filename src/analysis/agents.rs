//! Who is calling: user agents classified by kind from `data/user-agents.tsv`, embedded at build
//! time. The classification is shown in reports and shapes the reasons and the suggested fix; it
//! never replaces the timing evidence.

use std::sync::Arc;

use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet, meta};

/// The table, as shipped.
const TABLE: &str = include_str!("../../data/user-agents.tsv");
/// Its file, for messages.
const FILE: &str = "data/user-agents.tsv";

/// Kinds of caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallerKind {
    /// Load-balancer and orchestrator health checks (ELB, kube-probe, Consul …).
    HealthChecker,
    /// Uptime monitors (UptimeRobot, Pingdom …).
    UptimeMonitor,
    /// Monitoring systems (blackbox exporter, check_http, Zabbix …).
    Monitoring,
    /// Headless and scripted browsers (HeadlessChrome, Puppeteer, Playwright, PhantomJS):
    /// machines on a schedule, with no person keeping a cookie jar.
    HeadlessBrowser,
    /// Generic HTTP clients (`Go-http-client`, `curl`, `python-requests` …): scripts and services.
    HttpClient,
    /// Feed readers.
    FeedReader,
    /// Crawlers and bots.
    Crawler,
    /// Web browsers: they keep their session cookie, so their polling makes no new sessions.
    Browser,
    /// Not in the table, or no user agent.
    Unknown,
}

impl CallerKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "health_checker" => CallerKind::HealthChecker,
            "uptime_monitor" => CallerKind::UptimeMonitor,
            "monitoring" => CallerKind::Monitoring,
            "headless_browser" => CallerKind::HeadlessBrowser,
            "http_client" => CallerKind::HttpClient,
            "feed_reader" => CallerKind::FeedReader,
            "crawler" => CallerKind::Crawler,
            "browser" => CallerKind::Browser,
            _ => return None,
        })
    }

    /// The kind as the report spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::HealthChecker => "health_checker",
            CallerKind::UptimeMonitor => "uptime_monitor",
            CallerKind::Monitoring => "monitoring",
            CallerKind::HeadlessBrowser => "headless_browser",
            CallerKind::HttpClient => "http_client",
            CallerKind::FeedReader => "feed_reader",
            CallerKind::Crawler => "crawler",
            CallerKind::Browser => "browser",
            CallerKind::Unknown => "unknown",
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Agent {
    /// Its kind.
    pub kind: CallerKind,
    /// What reports call it.
    pub name: Arc<str>,
    /// Where its probe path is configured; empty when unknown.
    pub fix: Arc<str>,
}

/// The compiled table.
#[derive(Clone, Debug)]
pub struct UserAgents {
    /// All the patterns in one automaton, reporting every pattern that matches (as a
    /// `regex::RegexSet` does).
    set: meta::Regex,
    agents: Vec<Agent>,
    unknown: Agent,
}

/// A line of the table that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct TableError {
    /// The table's file, as shipped.
    pub file: &'static str,
    /// The line, 1-based (0: the table as a whole).
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl UserAgents {
    /// The built-in table.
    ///
    /// # Errors
    /// When the embedded table is malformed (a test keeps it from shipping so).
    pub fn builtin() -> Result<Self, TableError> {
        Self::parse(TABLE)
    }

    fn parse(text: &str) -> Result<Self, TableError> {
        let mut patterns = Vec::new();
        let mut agents = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split('\t');
            let err = |reason: &str| TableError { file: FILE, line: i + 1, reason: reason.to_owned() };
            let kind = cols.next().and_then(CallerKind::parse).ok_or_else(|| err("unknown kind"))?;
            let pattern = cols.next().filter(|p| !p.is_empty()).ok_or_else(|| err("no pattern"))?;
            let name = cols.next().filter(|n| !n.is_empty()).ok_or_else(|| err("no name"))?;
            let fix = cols.next().unwrap_or("");
            patterns.push(pattern.to_owned());
            agents.push(Agent { kind, name: name.into(), fix: fix.into() });
        }
        // Built at every start, before the ingest, and used on a few clusters at the end: no
        // literal prefilter and no capture groups, whose extraction from case-insensitive
        // patterns costs more at start than it saves on a few matches (see docs/performance.md).
        let set = meta::Regex::builder()
            .syntax(syntax::Config::new().case_insensitive(true))
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .auto_prefilter(false)
                    .which_captures(WhichCaptures::None),
            )
            .build_many(&patterns)
            .map_err(|e| TableError { file: FILE, line: 0, reason: e.to_string() })?;
        let unknown = Agent { kind: CallerKind::Unknown, name: "unidentified client".into(), fix: "".into() };
        Ok(UserAgents { set, agents, unknown })
    }

    /// The first line of the table matching `user_agent`.
    #[must_use]
    pub fn classify(&self, user_agent: Option<&str>) -> &Agent {
        let first = user_agent.and_then(|ua| {
            let mut matched = PatternSet::new(self.set.pattern_len());
            self.set.which_overlapping_matches(&Input::new(ua), &mut matched);
            matched.iter().next()
        });
        first.map_or(&self.unknown, |i| &self.agents[i.as_usize()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_classifies_real_user_agents() {
        let t = UserAgents::builtin().unwrap();
        let kind = |ua: &str| t.classify(Some(ua)).kind;
        use CallerKind::*;
        for (ua, want) in [
            ("ELB-HealthChecker/2.0", HealthChecker),
            ("kube-probe/1.29", HealthChecker),
            ("Consul Health Check", HealthChecker),
            ("GoogleHC/1.0", HealthChecker),
            ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", UptimeMonitor),
            ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", UptimeMonitor),
            ("Blackbox Exporter/0.24.0", Monitoring),
            ("Blackbox-Exporter/0.28.0", Monitoring),
            ("check_http/v2.3.3 (nagios-plugins 2.3.3)", Monitoring),
            ("Zabbix", Monitoring),
            ("Go-http-client/1.1", HttpClient),
            ("curl/7.64.0", HttpClient),
            ("python-requests/2.31.0", HttpClient),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Crawler),
            ("Tiny Tiny RSS/1.11 (http://tt-rss.org/)", FeedReader),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0 Safari/537.36",
                Browser,
            ),
            ("something-else/1.0", Unknown),
        ] {
            assert_eq!(kind(ua), want, "{ua}");
        }
        assert_eq!(t.classify(None).kind, Unknown);
        assert!(t.classify(Some("Go-http-client/1.1")).fix.contains("blackbox exporter"));
    }

    #[test]
    fn a_malformed_table_is_an_error_with_its_line() {
        let e = UserAgents::parse("# c\nnope\tx\ty\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(UserAgents::parse("browser\t(\tx\n").is_err());
    }
}
