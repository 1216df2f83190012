//! Probe verdicts, rule by rule, through the JSON report and the exit code of
//! `--fail-on-probes`, on generated situations whose ground truth is known
//! (`nginx_forensics::synth::probes`): every session-creating probe found with its sessions a
//! day within 15 %, nothing else flagged.

use nginx_forensics::synth::probes::{Situation, situations};
use serde_json::Value;

use crate::common::run_json;

/// The situation `name` of seed 1, its report under `--fail-on-probes`, and the exit code.
fn judged(name: &str) -> (Situation, Value, i32) {
    let s = situations(1).into_iter().find(|s| s.name == name).expect("a situation of that name");
    let run = run_json(&["--fail-on-probes", "-q"], Some(s.log.clone()));
    assert!(run.code == 0 || run.code == 3, "{}: exit {} {}", name, run.code, run.stderr);
    (s, run.report, run.code)
}

fn probes(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().expect("probes[]")
}

fn key(p: &Value) -> (String, String, String) {
    let s = |k: &str| p[k].as_str().unwrap_or("-").to_owned();
    (s("user_agent"), s("host"), s("path"))
}

fn reasons(p: &Value) -> String {
    p["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

/// Checks the whole verdict on `name`: exactly the true probes, each within 15 % of its true
/// sessions a day, and `--fail-on-probes` firing exactly when one makes 100 or more a day.
/// Returns the report for the rule's own checks.
fn verdict(name: &str) -> Value {
    let (s, report, code) = judged(name);
    let found = probes(&report);
    for ((ua, host, path), truth) in &s.probes {
        let p = found
            .iter()
            .find(|p| key(p) == ((*ua).to_owned(), (*host).to_owned(), (*path).to_owned()))
            .unwrap_or_else(|| panic!("{name}: {ua} {host} {path} not found in {found:#?}"));
        let got = p["sessions_per_day"].as_f64().unwrap();
        assert!((got - truth).abs() <= 0.15 * truth, "{name}: {path}: {got} sessions/day, true {truth}");
    }
    assert_eq!(found.len(), s.probes.len(), "{name}: {found:#?}");
    for (ua, host, path) in &s.clean {
        assert!(!found.iter().any(|p| key(p) == ((*ua).to_owned(), (*host).to_owned(), (*path).to_owned())));
    }
    let should_fire = s.probes.iter().any(|(_, truth)| *truth >= 100.0);
    assert_eq!(code, if should_fire { 3 } else { 0 }, "{name}: --fail-on-probes");
    report
}

fn probe<'a>(report: &'a Value, path: &str) -> &'a Value {
    probes(report).iter().find(|p| p["path"] == path).unwrap_or_else(|| panic!("no probe on {path}"))
}

#[test]
fn a_followed_login_redirect_is_observed_evidence() {
    let report = verdict("incident");
    let p = probe(&report, "/");
    assert_eq!(p["severity"], "high");
    assert_eq!(p["follow_ups"], serde_json::json!(["/login"]));
    assert_eq!(p["cookie_share"], Value::Null, "no Set-Cookie field in this log");
}

#[test]
fn a_health_checkers_path_is_judged_and_hides_no_other_probe() {
    let report = verdict("alb-root-spring");
    let elb = probes(&report).iter().find(|p| p["user_agent"] == "ELB-HealthChecker/2.0").unwrap();
    assert_eq!(elb["severity"], "high");
    assert_eq!(elb["phases"], 2);
    assert_eq!(elb["cookie_share"], 1.0);
    assert!(reasons(elb).contains("certain: "), "{elb:#?}");
}

#[test]
fn a_health_name_is_a_prior_that_cookies_outweigh() {
    for name in ["actuator-behind-login", "context-path-actuator"] {
        let report = verdict(name);
        let p = &probes(&report)[0];
        assert_eq!(p["severity"], "high", "{name}");
        let why = reasons(p);
        assert!(why.contains("is a health endpoint by its name"), "{why}");
        assert!(why.contains("with a Location to a login page"), "{why}");
    }
}

#[test]
fn a_logged_empty_set_cookie_rules_sessions_out_whatever_the_path() {
    let report = verdict("empty-cookie");
    assert!(probes(&report).is_empty());
    // Every one of those callers is still a periodic caller: found, and judged harmless.
    let periodic = report["periodic"].as_array().unwrap();
    for path in ["/", "/actuator/prometheus", "/up", "/health/liveness", "/-/readiness"] {
        assert!(periodic.iter().any(|p| p["path"] == path), "{path}");
    }
}

#[test]
fn a_cookie_jar_makes_only_the_sessions_it_was_given() {
    let report = verdict("cookie-jar");
    let p = &probes(&report)[0];
    assert_eq!(p["severity"], "low");
    assert!(p["cookie_share"].as_f64().unwrap() < 0.01);
    assert!(reasons(p).contains("keeps its cookies"), "{p:#?}");
}

#[test]
fn a_second_scrape_target_is_not_a_follow_up() {
    let report = verdict("two-targets");
    assert_eq!(probe(&report, "/")["follow_ups"], serde_json::json!([]));
    assert_eq!(probe(&report, "/status-page")["severity"], "high");
}

#[test]
fn headless_browsers_and_synthetic_api_tests_are_machines() {
    let report = verdict("headless");
    assert_eq!(probes(&report)[0]["caller_kind"], "headless_browser");
    let report = verdict("datadog-api-test");
    let p = &probes(&report)[0];
    assert_eq!(p["caller_kind"], "uptime_monitor");
    assert!(reasons(p).contains("against (outweighed): /api/v1/session-check is a static file or an API"));
}

#[test]
fn one_monitor_from_three_locations_is_one_caller() {
    let report = verdict("three-locations");
    let p = &probes(&report)[0];
    assert_eq!(p["phases"], 3);
    assert!((p["period_seconds"].as_f64().unwrap() - 60.0).abs() < 0.1, "{p:#?}");
    assert_eq!(p["distinct_clients"], 3);
}

#[test]
fn a_probe_spread_over_backends_counts_the_beats_this_host_answered() {
    let report = verdict("spread-over-backends");
    let p = &probes(&report)[0];
    assert!((p["period_seconds"].as_f64().unwrap() - 15.0).abs() < 0.1, "{p:#?}");
    assert!(reasons(p).contains("note: this log holds 3"), "{}", reasons(p));
}

#[test]
fn feed_readers_and_crawlers_are_not_probes() {
    let report = verdict("not-monitors");
    assert!(probes(&report).is_empty());
}

#[test]
fn a_permanent_redirect_makes_no_session_but_the_request_it_leads_to_may() {
    // Redirected to https and not followed here: not a probe, and said why.
    let report = verdict("https-redirect");
    assert!(probes(&report).is_empty());
    let periodic = report["periodic"].as_array().unwrap();
    assert_eq!(periodic.len(), 2, "{periodic:#?}");
    for p in periodic {
        let v = p["verdict"].as_str().unwrap();
        assert!(v.starts_with("not a probe: answered 30") && v.contains("a permanent redirect"), "{v}");
    }
    let line = report["summary"]["verdict"].as_str().unwrap();
    assert!(
        line.starts_with("No probe creates sessions (2 periodic caller(s): 2 permanent redirects)"),
        "{line}"
    );
    // Followed, and the https request logged under the same key: a probe whose sessions are
    // counted from the requests that are not redirects (`verdict` checks the count).
    let report = verdict("https-redirect-followed");
    let p = probe(&report, "/");
    let reasons = reasons(p);
    assert!(reasons.contains("likely: / is the site's root, answered 302"), "{reasons}");
    assert!(reasons.contains("note: 50% of its responses are permanent redirects"), "{reasons}");
}

#[test]
fn a_request_nginx_answers_itself_reaches_no_application() {
    let report = verdict("answered-by-nginx");
    assert!(probes(&report).is_empty());
    let periodic = report["periodic"].as_array().unwrap();
    let root =
        periodic.iter().find(|p| p["host"] == "www.example.com").expect("the uptime monitor's schedule");
    assert!(
        root["verdict"].as_str().unwrap().starts_with("not a probe: nginx answered every request itself"),
        "{root:#?}"
    );
    let line = report["summary"]["verdict"].as_str().unwrap();
    assert!(line.contains("answered by nginx itself"), "{line}");
    // Passed on to the application: the upstream field clears nothing by being there.
    let report = verdict("passed-on");
    let reasons = reasons(probe(&report, "/"));
    assert!(reasons.contains("likely: / is the site's root, answered 200"), "{reasons}");
    assert!(!reasons.contains("nginx answered"), "{reasons}");
}

/// The verdict line claims only what the log shows: a probe judged by its path and status
/// alone is "likely", with what would confirm it; one the log confirms is not.
#[test]
fn a_probe_judged_by_path_and_status_alone_is_likely_in_the_verdict() {
    let report = verdict("passed-on");
    let line = report["summary"]["verdict"].as_str().unwrap();
    assert!(
        line.starts_with(
            "1 probe likely creates ~8,640 sessions/day (by path and status alone: log $sent_http_set_cookie"
        ),
        "{line}"
    );
    for confirmed in ["incident", "cookie-jar", "three-seconds-at-one-second"] {
        let report = verdict(confirmed);
        let line = report["summary"]["verdict"].as_str().unwrap();
        assert!(line.contains(" probe creates ") && !line.contains("likely"), "{confirmed}: {line}");
    }
}

#[test]
fn framework_health_and_scrape_endpoints_are_known() {
    let report = verdict("health-endpoints");
    assert!(probes(&report).is_empty());
}

#[test]
fn fast_callers_are_found_at_one_second_resolution() {
    for (name, period) in [("two-seconds-at-one-second", 2.0), ("three-seconds-at-one-second", 3.0)] {
        let report = verdict(name);
        let p = &probes(&report)[0];
        assert!((p["period_seconds"].as_f64().unwrap() - period).abs() < 0.05, "{name}: {p:#?}");
        assert_eq!(p["severity"], "high");
    }
}

#[test]
fn a_known_monitor_with_a_new_cookie_each_time_is_found_before_its_period_is_settled() {
    // 40 beats at irregular gaps (a retrying monitor): no fixed interval, a cookie every time.
    let mut log = Vec::new();
    let mut t: i64 = 1_709_251_200_000;
    for i in 0..40 {
        t += 5_000 + (i * 7_919 % 11) * 1_000;
        log.extend_from_slice(
            format!(
                "{{\"msec\":\"{}.{:03}\",\"host\":\"admin.example.com\",\"request\":\"GET / HTTP/1.1\",\"status\":\"200\",\"http_user_agent\":\"Blackbox Exporter/0.24.0\",\"sent_http_set_cookie\":\"SESSION=x{i}\"}}\n",
                t / 1000,
                t % 1000
            )
            .as_bytes(),
        );
    }
    let run = run_json(&["--fail-on-probes"], Some(log));
    assert_eq!(run.code, 3, "{}", run.stderr);
    let p = &probes(&run.report)[0];
    assert_eq!(p["period_settled"], false, "{p:#?}");
    assert!(reasons(p).contains("period is not settled"));
}

#[test]
fn many_distinct_clients_are_people_not_a_monitor() {
    let report = verdict("many-clients");
    assert!(probes(&report).is_empty());
}

#[test]
fn every_periodic_caller_says_what_the_rules_made_of_it() {
    let (_, report, _) = judged("health-endpoints");
    let periodic = report["periodic"].as_array().unwrap();
    assert!(!periodic.is_empty());
    for p in periodic {
        let v = p["verdict"].as_str().unwrap();
        assert!(
            v.starts_with("not a probe: a health endpoint")
                || v.starts_with("not a probe: a metrics endpoint"),
            "{p:#?}"
        );
    }
    let verdict = report["summary"]["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("No probe creates sessions ("), "{verdict}");
    assert!(verdict.contains("health endpoints") && verdict.contains("metrics endpoints"), "{verdict}");
    let (_, report, _) = judged("incident");
    let login = report["periodic"].as_array().unwrap().iter().find(|p| p["path"] == "/login").unwrap();
    assert!(login["verdict"].as_str().unwrap().starts_with("follow-up of a probe"));
}

#[test]
fn callers_too_fast_for_the_timestamps_are_named_not_cleared() {
    // A script hitting / every second, logged with 1-s timestamps: no period can be tested.
    let mut log = Vec::new();
    for i in 0..600i64 {
        let t = chrono::DateTime::from_timestamp(1_709_251_200 + i, 0).unwrap();
        log.extend_from_slice(
            format!(
                "{{\"time_iso8601\":\"{}\",\"host\":\"admin.example.com\",\"request\":\"GET / HTTP/1.1\",\"status\":\"200\",\"http_user_agent\":\"curl/8.5.0\"}}\n",
                t.format("%Y-%m-%dT%H:%M:%S+00:00")
            )
            .as_bytes(),
        );
    }
    let run = run_json(&[], Some(log));
    let verdict = run.report["summary"]["verdict"].as_str().unwrap();
    assert!(verdict.contains("1 caller(s) too fast for this log's 1-s timestamps"), "{verdict}");
    assert_eq!(run.report["summary"]["untimed_callers"], 1);
}

/// The incident's lines with the `status` key taken out.
fn incident_without_status() -> Vec<u8> {
    let text = std::fs::read_to_string(crate::common::sample("incident.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        v.remove("status");
        out.push_str(&Value::Object(v).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// A log without `$status` (and without a `Set-Cookie` field) cannot show whether a caller
/// makes sessions: the incident's probe is then "not judged", and the verdict says it cannot
/// tell, never "No probe creates sessions".
#[test]
fn callers_a_log_without_status_cannot_judge_are_never_cleared() {
    let run = run_json(&["-q"], Some(incident_without_status()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let verdict = run.report["summary"]["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with(
            "Cannot tell whether 2 periodic caller(s) create sessions: the log has no status (4 periodic caller(s): 2 health endpoints, 2 not judged: no status logged)"
        ),
        "{verdict}"
    );
    let probe = run.report["periodic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "/" && p["user_agent"] == "Go-http-client/1.1")
        .unwrap();
    assert!(probe["verdict"].as_str().unwrap().starts_with("not judged: the log has no status"), "{probe}");
    // The health checks are still judged by their path.
    assert_eq!(run.report["summary"]["probes"], 0);
    assert_eq!(run.report["summary"]["unjudged_callers"], 2);

    // The incident as logged, and a script every 30 s on another host whose requests have no
    // status: the probe is found, and the script is left unjudged rather than cleared.
    let mut log = std::fs::read(crate::common::sample("incident.jsonl")).unwrap();
    for k in 0..40 {
        log.extend(
            format!(
                "{{\"msec\":\"{}.000\",\"host\":\"reports.example.com\",\"request\":\"GET /dashboard HTTP/1.1\",\"http_user_agent\":\"python-requests/2.31\"}}\n",
                1_558_723_294 + 30 * k
            )
            .bytes(),
        );
    }
    let run = run_json(&["-q"], Some(log));
    let verdict = run.report["summary"]["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with(
            "1 probe creates ~8,640 sessions/day; 1 more periodic caller(s) not judged: the log has no status for their requests"
        ),
        "{verdict}"
    );
}
