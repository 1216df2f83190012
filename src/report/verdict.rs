//! The verdict: the one line a cron job and a person read first. Never an all-clear when the
//! run could not look; with no probe, why each periodic caller is not one.

use super::InputSummary;
use super::units::human_seconds;
use super::view::thousands;
use crate::analysis::Findings;
use crate::analysis::agents::CallerKind;
use crate::analysis::periodic::PeriodicParams;
use crate::analysis::probe::{Cleared, Judgement};
use crate::ingest::LineCounts;

/// What the run could look at: the counts the verdict needs to say what it did not see.
pub(super) struct Looked {
    lines: u64,
    parsed: u64,
    malformed: u64,
    analysed: u64,
    outside: u64,
    inputs: usize,
    skipped: usize,
    unreadable: usize,
    /// Inputs stopped by the user before they ended (not counted in `unreadable`).
    interrupted: usize,
}

impl Looked {
    pub(super) fn of(totals: &LineCounts, inputs: &[InputSummary], findings: &Findings) -> Self {
        let count = |f: &str| inputs.iter().filter(|i| i.format == f).count();
        Looked {
            lines: totals.lines,
            parsed: totals.parsed,
            malformed: totals.malformed,
            analysed: findings.records,
            outside: findings.outside_window,
            inputs: inputs.len(),
            skipped: count("skipped"),
            unreadable: count("unreadable")
                + inputs
                    .iter()
                    .filter(|i| i.format != "unreadable" && i.error.is_some() && !i.interrupted)
                    .count(),
            interrupted: inputs.iter().filter(|i| i.interrupted).count(),
        }
    }

    /// What kept records from the analysis, as parts of a sentence.
    fn losses(&self) -> Vec<String> {
        let n = thousands;
        let mut parts = Vec::new();
        if self.inputs == 0 {
            parts.push("no input found".to_owned());
        }
        if self.unreadable > 0 {
            parts.push(format!("{} input(s) could not be read", self.unreadable));
        }
        if self.interrupted > 0 {
            parts.push("standard input interrupted (Ctrl-C) before it ended".to_owned());
        }
        if self.skipped > 0 {
            parts.push(format!("{} input(s) skipped (not access logs, or empty)", self.skipped));
        }
        if self.malformed > 0 {
            parts.push(format!("{} of {} line(s) malformed", n(self.malformed), n(self.lines)));
        }
        if self.outside > 0 {
            parts.push(format!("{} record(s) outside the window", n(self.outside)));
        }
        parts
    }
}

/// The one-line verdict: how many probes, and the sessions they create a day; with none, why
/// each periodic caller is not one, and what could not be timed. Never an all-clear when
/// nothing was analysed; and when most of what was read could not be analysed, it says so.
/// With it, whether it carries a caveat that makes "no probe" less than an all-clear (callers
/// not judged or not timed, input lost, a log too short, periodic callers possibly folded):
/// reports draw such a verdict as a warning, not in the all-clear's colour.
pub(super) fn verdict(judgement: &Judgement, findings: &Findings, looked: &Looked) -> (String, bool) {
    if looked.analysed == 0 {
        let mut losses = looked.losses();
        if losses.is_empty() {
            losses.push("the inputs hold no records".to_owned());
        }
        return (format!("Nothing analysed: {}", losses.join(", ")), true);
    }
    let periodic = findings.periodic_count();
    let unjudged = judgement.unjudged_count();
    let mut caveat = unjudged > 0;
    let mut text = if judgement.probe_count() == 0 {
        let mut why: Vec<((&str, &str), usize)> = Vec::new();
        for (_, _, c) in &judgement.cleared {
            let label = short(c);
            match why.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => why.push((label, 1)),
            }
        }
        let why: Vec<String> = why
            .iter()
            .map(|((one, many), n)| format!("{} {}", thousands(*n as u64), if *n == 1 { one } else { many }))
            .collect();
        let periodic = thousands(periodic as u64);
        // Never "no probe" when some callers could not be judged.
        let head = if unjudged == 0 {
            "No probe creates sessions".to_owned()
        } else {
            format!(
                "Cannot tell whether {} periodic caller(s) create sessions: the log has no status",
                thousands(unjudged as u64)
            )
        };
        if why.is_empty() {
            format!("{head} ({periodic} periodic caller(s))")
        } else {
            format!("{head} ({periodic} periodic caller(s): {})", why.join(", "))
        }
    } else {
        let per_day = judgement.sessions_per_day();
        let n = judgement.probe_count();
        let likely = judgement.likely_count();
        let (quiet, since) = judgement.quiet();
        let s = if n == 1 { "" } else { "s" };
        // Probes judged by their path and status alone are said to be likely, with what would
        // confirm them; probes gone from the end of the log are said to have made sessions, not
        // to make them: the line a person acts on does not claim what the log does not show.
        let maybe = if likely == n { "likely " } else { "" };
        let verb = if quiet == n {
            "created"
        } else if n == 1 {
            "creates"
        } else {
            "create"
        };
        let mut text = format!(
            "{} probe{s} {maybe}{verb} ~{} sessions/day",
            thousands(n as u64),
            thousands(per_day.round() as u64)
        );
        let mut notes = Vec::new();
        if let Some(since) = since {
            let since = super::units::human_rounded(f64::from(since));
            notes.push(match (quiet == n, n == 1) {
                (true, true) => format!("not seen in the log's last {since}"),
                (true, false) => format!("none seen in the log's last {since}"),
                (false, _) => {
                    format!("{} of them not seen in the log's last {since}", thousands(quiet as u64))
                }
            });
        }
        if likely == n {
            notes.push("by path and status alone: log $sent_http_set_cookie to be sure".to_owned());
        } else if likely > 0 {
            notes.push(format!(
                "{} of them only likely, by path and status alone: log $sent_http_set_cookie to be sure",
                thousands(likely as u64)
            ));
        }
        if !notes.is_empty() {
            text.push_str(&format!(" ({})", notes.join("; ")));
        }
        if unjudged > 0 {
            text.push_str(&format!(
                "; {} more periodic caller(s) not judged: the log has no status for their requests",
                thousands(unjudged as u64)
            ));
        }
        text
    };
    let mostly_lost = looked.outside > looked.analysed
        || looked.malformed > looked.parsed
        || 2 * (looked.skipped + looked.unreadable) > looked.inputs
        || looked.interrupted > 0;
    caveat |= mostly_lost || looked.unreadable > 0;
    if mostly_lost {
        text.push_str(&format!(
            "; only {} record(s) analysed: {}",
            thousands(looked.analysed),
            looked.losses().join(", ")
        ));
    } else if looked.unreadable > 0 {
        // Fewer lost than read, but lost: the line a cron job mails says why it failed.
        text.push_str(&format!("; {} input(s) could not be read", thousands(looked.unreadable as u64)));
    }
    if let Some((first, last)) = findings.span {
        let short = too_short(&findings.schedule, last.saturating_sub(first));
        caveat |= !short.is_empty();
        text.push_str(&short);
    }
    let rhythm_of_the_log: usize = findings.clusters.iter().map(|c| c.suppressed).sum();
    caveat |= rhythm_of_the_log > 0;
    if rhythm_of_the_log > 0 {
        text.push_str(&format!(
            "; {} apparent fixed-interval caller(s) not judged: the log only has records around their \
             beats (sampled or gappy), so their rhythm is the log's",
            thousands(rhythm_of_the_log as u64)
        ));
    }
    let folded = &findings.folded;
    if folded.clusters > 0 {
        text.push_str(&format!(
            "; {} cluster(s) of at most {} request(s) folded to stay within --max-memory",
            thousands(folded.clusters),
            thousands(folded.most_requests)
        ));
        let could_be_periodic = findings.folded_could_be_periodic();
        caveat |= could_be_periodic;
        if could_be_periodic {
            text.push_str(" (periodic callers among them are not seen)");
        }
    }
    let untimed = judgement.untimed.len();
    if untimed > 0 {
        text.push_str(&format!(
            "; {} caller(s) too fast for this log's 1-s timestamps to test for a schedule",
            thousands(untimed as u64)
        ));
    }
    (text, caveat || untimed > 0)
}

/// The slowest interval monitors commonly use (uptime checkers, scrape jobs): a log too short
/// to show a caller this slow says so in the verdict.
const SLOW_MONITOR_MS: i64 = 5 * 60_000;

/// What a short log cannot show, as a clause of the verdict (empty when `span` ms of log shows
/// a caller every [`SLOW_MONITOR_MS`] to the detector set by `schedule`).
fn too_short(schedule: &PeriodicParams, span: i64) -> String {
    let longest = schedule.longest_visible_period_ms(span);
    let min_span = schedule.min_span_ms;
    let human = |ms: i64| human_seconds((ms / 1000) as f64);
    if longest >= SLOW_MONITOR_MS {
        String::new()
    } else if span == 0 {
        "; every record has the same time: no schedule can be seen".to_owned()
    } else if longest == 0 {
        let span = human_seconds(span as f64 / 1000.0);
        format!("; only {span} of log time: no schedule can be seen in less than {}", human(min_span))
    } else {
        format!(
            "; only {} of log time: callers slower than every {} may be missed",
            human(span),
            human(longest)
        )
    }
}

/// Why a caller is not a probe, in a few words for counting in the verdict: one, and several.
fn short(c: &Cleared) -> (&'static str, &'static str) {
    match c {
        Cleared::NoSessionPath => ("on --no-session-path", "on --no-session-path"),
        Cleared::NoCookieSet => ("with an empty Set-Cookie", "with an empty Set-Cookie"),
        Cleared::FollowUp => ("follow-up", "follow-ups"),
        Cleared::NotAMonitor(CallerKind::FeedReader) => ("feed reader", "feed readers"),
        Cleared::NotAMonitor(_) => ("crawler", "crawlers"),
        Cleared::Browser => ("browser", "browsers"),
        Cleared::ManyClients(_) => ("with many clients", "with many clients"),
        Cleared::HealthName { scrape: false } => ("health endpoint", "health endpoints"),
        Cleared::HealthName { scrape: true } => ("metrics endpoint", "metrics endpoints"),
        Cleared::SessionlessName => ("static file or API", "static files or APIs"),
        Cleared::PermanentRedirect { .. } => ("permanent redirect", "permanent redirects"),
        Cleared::NoUpstream => ("answered by nginx itself", "answered by nginx itself"),
        Cleared::NoEvidence => ("with no sign of a session", "with no sign of a session"),
        Cleared::NoStatus => ("not judged: no status logged", "not judged: no status logged"),
    }
}

/// Why a periodic caller is not a probe, as `periodic[].verdict` says it.
pub(super) fn cleared_words(c: &Cleared) -> String {
    match c {
        Cleared::NoSessionPath => "not a probe: the path matches --no-session-path".to_owned(),
        Cleared::NoCookieSet => "not a probe: the logged Set-Cookie is empty on every response".to_owned(),
        Cleared::FollowUp => "follow-up of a probe (the redirect it follows), counted there".to_owned(),
        Cleared::NotAMonitor(kind) => {
            format!("not a probe: a {}, not a monitor", kind.as_str().replace('_', " "))
        }
        Cleared::Browser => "not a probe: a browser, which sends its session cookie back".to_owned(),
        Cleared::ManyClients(n) => {
            format!("not a probe: {n} distinct clients, people rather than one monitor")
        }
        Cleared::HealthName { scrape: false } => "not a probe: a health endpoint".to_owned(),
        Cleared::HealthName { scrape: true } => "not a probe: a metrics endpoint".to_owned(),
        Cleared::SessionlessName => "not a probe: a static file or an API".to_owned(),
        Cleared::NoStatus => "not judged: the log has no status for most of its requests and no Set-Cookie \
             field, so whether it makes sessions cannot be told (add $status to the log_format)"
            .to_owned(),
        Cleared::PermanentRedirect { status } => format!(
            "not a probe: answered {}, a permanent redirect (as a web server answers for https or another \
             host), which makes no session; the request it leads to, where this log has it, is judged on its own",
            status.map_or_else(|| "301/308".to_owned(), |s| s.to_string())
        ),
        Cleared::NoUpstream => {
            "not a probe: nginx answered every request itself (no upstream: a static file, \
             a redirect or a cached response), so no application saw it"
                .to_owned()
        }
        Cleared::NoEvidence => {
            "not a probe: no sign of a session (no cookie, no login redirect, not answered 2xx or 3xx)"
                .to_owned()
        }
    }
}
