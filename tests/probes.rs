//! Probe forensics end to end: generated logs with known callers (ground truth in each test),
//! and the sample logs.

use nginx_forensics::synth::SplitMix64;
use serde_json::{Value, json};

use crate::common::{run_json, sample};

/// 2024-03-01T00:00:00Z, in ms.
const T0: i64 = 1_709_251_200_000;
const DAY: i64 = 86_400_000;

/// One request of a generated log.
#[derive(Clone)]
struct Req {
    t: i64,
    ua: &'static str,
    host: &'static str,
    method: &'static str,
    path: &'static str,
    status: u16,
    set_cookie: Option<&'static str>,
    location: Option<&'static str>,
}

fn req(t: i64, ua: &'static str, host: &'static str, path: &'static str, status: u16) -> Req {
    Req { t, ua, host, method: "GET", path, status, set_cookie: None, location: None }
}

/// Every `period` ms from `from` to `to` (exclusive), skipping `[gap.0, gap.1)`.
fn every(period: i64, from: i64, to: i64, gap: Option<(i64, i64)>) -> impl Iterator<Item = i64> {
    (0..)
        .map(move |k| from + k * period)
        .take_while(move |&t| t < to)
        .filter(move |&t| gap.is_none_or(|(a, b)| t < a || t >= b))
}

/// People browsing at random over `[from, to)`: background that must never matter.
fn people(seed: u64, n: usize, from: i64, to: i64) -> Vec<Req> {
    const PAGES: [&str; 4] = ["/", "/products/17", "/cart", "/login"];
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let t = from + (rng.next_u64() % (to - from) as u64) as i64;
            let page = PAGES[(rng.next_u64() % 4) as usize];
            req(
                t,
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
                "shop.example.com",
                page,
                200,
            )
        })
        .collect()
}

/// The log as JSON lines with millisecond `msec` times, in time order.
fn log(mut reqs: Vec<Req>) -> Vec<u8> {
    reqs.sort_by_key(|r| r.t);
    let mut out = Vec::new();
    for r in reqs {
        let mut line = json!({
            "msec": format!("{}.{:03}", r.t.div_euclid(1000), r.t.rem_euclid(1000)),
            "remote_addr": "",
            "host": r.host,
            "request": format!("{} {} HTTP/1.1", r.method, r.path),
            "status": r.status.to_string(),
            "body_bytes_sent": "512",
            "http_user_agent": r.ua,
        });
        if let Some(c) = r.set_cookie {
            line["sent_http_set_cookie"] = json!(c);
        }
        if let Some(l) = r.location {
            line["sent_http_location"] = json!(l);
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn analyse(args: &[&str], reqs: Vec<Req>) -> Value {
    let run = run_json(args, Some(log(reqs)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.report
}

fn probes(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().unwrap()
}

fn periodic_paths(report: &Value) -> Vec<(String, String)> {
    report["periodic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["user_agent"].as_str().unwrap().to_owned(), p["path"].as_str().unwrap().to_owned()))
        .collect()
}

fn reasons(p: &Value) -> String {
    p["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

const GO: &str = "Go-http-client/1.1";
const APP: &str = "admin.example.com";

/// The incident's probe: `/` every 10 s answered 302, followed to `/login` in the same second.
fn incident_probe(from: i64, to: i64) -> Vec<Req> {
    every(10_000, from, to, None)
        .flat_map(|t| {
            [
                Req { location: Some("http://admin.example.com/login"), ..req(t, GO, APP, "/", 302) },
                req(t + 4, GO, APP, "/login", 200),
            ]
        })
        .collect()
}

#[test]
fn the_incident_sample_has_exactly_one_probe_the_go_client_on_root() {
    let run = run_json(&[sample("incident.jsonl").to_str().unwrap()], None);
    let probes = probes(&run.report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    let p = &probes[0];
    assert_eq!(p["user_agent"], "Go-http-client/1.1");
    assert_eq!(p["host"], "172.12.1.189");
    assert_eq!(p["path"], "/");
    assert_eq!(p["follow_ups"], json!(["/login"]));
    assert_eq!(p["severity"], "high");
    assert_eq!(p["caller_kind"], "http_client");
    assert_eq!(p["sessions_per_day"], 8640.0);
    assert_eq!(p["session_ttl_seconds"], 1800.0);
    assert_eq!(p["estimated_live_sessions"], 180.0);
    assert!((p["period_seconds"].as_f64().unwrap() - 10.0).abs() < 0.1);
    assert!(reasons(p).contains("strong:"), "{p:#?}");
    // ELB's and Consul's /health are learned health endpoints; the fix names one of them.
    let suggestion = p["suggestion"].as_str().unwrap();
    assert!(suggestion.starts_with("Probe /health instead of /:"), "{suggestion}");
    assert!(suggestion.contains("ELB-HealthChecker/2.0 already uses /health on this host"), "{suggestion}");
    assert!(suggestion.contains("__param_target"), "{suggestion}");
    assert!(
        run.report["summary"]["verdict"].as_str().unwrap().starts_with("1 probe creates ~8,640 sessions/day")
    );
}

#[test]
fn the_whole_sample_directory_has_the_same_single_probe() {
    // The day after the fix holds the same Go client on /health, at the same phase: it is not a
    // follow-up of the probe of two days before.
    let run = run_json(&[sample("").to_str().unwrap()], None);
    let probes = probes(&run.report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0]["path"], "/");
    assert_eq!(probes[0]["follow_ups"], json!(["/login"]));
}

#[test]
fn after_the_fix_and_on_the_other_samples_there_is_no_probe() {
    for s in ["after-fix.jsonl", "rotated", "combined.log", "elastic-keys.jsonl", "hostile.jsonl"] {
        let run = run_json(&[sample(s).to_str().unwrap()], None);
        assert_eq!(probes(&run.report).len(), 0, "{s}: {:#?}", run.report["probes"]);
    }
    // The fixed site still has its periodic callers: quiet because they are right, not unseen.
    let fixed = run_json(&[sample("after-fix.jsonl").to_str().unwrap()], None);
    assert!(periodic_paths(&fixed.report).contains(&(GO.to_owned(), "/health".to_owned())));
    let rotated = run_json(&[sample("rotated").to_str().unwrap()], None);
    assert!(periodic_paths(&rotated.report).contains(&("kube-probe/1.29".to_owned(), "/healthz".to_owned())));
}

#[test]
fn correct_probes_cron_jobs_and_polling_browsers_are_not_flagged() {
    let (from, to) = (T0, T0 + 2 * DAY);
    let mut reqs = people(1, 3000, from, to);
    // A kube-probe on /healthz every 10 s.
    reqs.extend(
        every(10_000, from, to, None)
            .map(|t| req(t + 250, "kube-probe/1.29", "shop.example.com", "/healthz", 200)),
    );
    // An hourly cron POST to an API path.
    reqs.extend(every(3_600_000, from, to, None).map(|t| Req {
        method: "POST",
        ..req(t + 2_000, "curl/8.5.0", "shop.example.com", "/api/reports/rebuild", 200)
    }));
    // A browser tab polling an API every 30 s, and another one polling a page.
    let tab =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15";
    reqs.extend(
        every(30_000, from, from + DAY / 4, None)
            .map(|t| req(t + 7_000, tab, "shop.example.com", "/api/notifications", 200)),
    );
    reqs.extend(
        every(30_000, from, from + DAY / 4, None)
            .map(|t| req(t + 9_000, tab, "shop.example.com", "/dashboard", 200)),
    );
    let report = analyse(&[], reqs);
    let periodic = periodic_paths(&report);
    for (ua, path) in [
        ("kube-probe/1.29", "/healthz"),
        ("curl/8.5.0", "/api/reports/rebuild"),
        (tab, "/api/notifications"),
        (tab, "/dashboard"),
    ] {
        assert!(
            periodic.contains(&(ua.to_owned(), path.to_owned())),
            "{ua} {path} should be periodic: {periodic:?}"
        );
    }
    assert_eq!(probes(&report).len(), 0, "{:#?}", report["probes"]);
    assert!(report["summary"]["verdict"].as_str().unwrap().starts_with("No probe creates sessions"));
}

#[test]
fn an_uptime_monitor_on_root_every_5_minutes_with_an_outage_is_flagged() {
    let (from, to) = (T0, T0 + 2 * DAY);
    let mut reqs = people(2, 2000, from, to);
    let robot = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)";
    // Every 5 minutes for two days, silent for 3 hours in between (the site was down, or the
    // monitor was paused).
    let outage = (T0 + DAY, T0 + DAY + 3 * 3_600_000);
    reqs.extend(
        every(300_000, from, to, Some(outage)).map(|t| req(t + 1_500, robot, "shop.example.com", "/", 200)),
    );
    let report = analyse(&[], reqs);
    let probes = probes(&report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    let p = &probes[0];
    assert_eq!(p["user_agent"], robot);
    assert_eq!(p["path"], "/");
    assert_eq!(p["caller_kind"], "uptime_monitor");
    assert!((p["period_seconds"].as_f64().unwrap() - 300.0).abs() < 1.0, "{p:#?}");
    // 288 a day while active, outage excluded or not: within 10 %.
    let per_day = p["sessions_per_day"].as_f64().unwrap();
    assert!((259.0..=317.0).contains(&per_day), "{per_day}");
    assert!(reasons(p).contains("likely: / is the site's root"), "{p:#?}");
    assert_eq!(p["severity"], "low");
    assert!(p["suggestion"].as_str().unwrap().contains("UptimeRobot"), "{p:#?}");
}

#[test]
fn a_logged_set_cookie_makes_even_an_api_path_a_probe_with_certain_evidence() {
    let (from, to) = (T0, T0 + DAY / 2);
    let mut reqs = people(3, 500, from, to);
    reqs.extend(every(15_000, from, to, None).map(|t| Req {
        set_cookie: Some("JSESSIONID=0F3A; Path=/; HttpOnly"),
        ..req(t, "python-requests/2.31.0", "shop.example.com", "/api/stock", 200)
    }));
    // The same schedule without the cookie, on another API path: not a probe.
    reqs.extend(
        every(15_000, from, to, None)
            .map(|t| req(t + 3_000, "python-requests/2.31.0", "shop.example.com", "/api/prices", 200)),
    );
    let report = analyse(&[], reqs);
    let probes = probes(&report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0]["path"], "/api/stock");
    assert!(reasons(&probes[0]).starts_with("certain: "), "{:#?}", probes[0]);
    assert_eq!(probes[0]["sessions_per_day"], 5760.0);
    assert_eq!(probes[0]["severity"], "high");
}

#[test]
fn a_logged_location_to_a_login_page_is_strong_evidence_without_a_follow_up() {
    let (from, to) = (T0, T0 + DAY / 4);
    let reqs: Vec<Req> = every(20_000, from, to, None)
        .map(|t| Req {
            location: Some("https://app.example.com/sso/authorize?next=%2Freports"),
            ..req(t, "Blackbox Exporter/0.24.0", "app.example.com", "/reports", 302)
        })
        .collect();
    let report = analyse(&[], reqs);
    let probes = probes(&report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert!(
        reasons(&probes[0]).starts_with("strong: answered 302 with a Location to a login page"),
        "{:#?}",
        probes[0]
    );
    assert_eq!(probes[0]["caller_kind"], "monitoring");
    assert_eq!(probes[0]["follow_ups"], json!([]));
}

#[test]
fn session_path_and_no_session_path_override_the_defaults() {
    let (from, to) = (T0, T0 + DAY);
    let mut reqs = people(4, 300, from, to);
    reqs.extend(
        every(60_000, from, to, None).map(|t| req(t, "okhttp/4.12.0", "shop.example.com", "/api/feed", 200)),
    );
    reqs.extend(incident_probe(from, to));
    let plain = analyse(&[], reqs.clone());
    let paths: Vec<&str> = probes(&plain).iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/"]);
    // The user knows /api/feed makes a session, and / does not.
    let told = analyse(&["--session-path", "^/api/feed$", "--no-session-path", "^/$"], reqs);
    let probes = probes(&told);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0]["path"], "/api/feed");
    assert!(reasons(&probes[0]).contains("given: the path matches --session-path"));
    assert_eq!(probes[0]["severity"], "high");
}

#[test]
fn health_path_adds_a_health_endpoint_and_learned_ones_are_named_in_the_fix() {
    let (from, to) = (T0, T0 + DAY / 2);
    let mut reqs = incident_probe(from, to);
    // A Kubernetes probe already uses /internal/alive on this host (not a built-in health path).
    reqs.extend(
        every(10_000, from, to, None).map(|t| req(t + 600, "kube-probe/1.29", APP, "/internal/alive", 200)),
    );
    let report = analyse(&[], reqs.clone());
    let probes_found = probes(&report);
    assert_eq!(probes_found.len(), 1, "{probes_found:#?}");
    let suggestion = probes_found[0]["suggestion"].as_str().unwrap();
    assert!(
        suggestion.starts_with(
            "Probe /internal/alive instead of /: kube-probe/1.29 already uses /internal/alive on this host."
        ),
        "{suggestion}"
    );
    // A Go client that probes /warm is a probe until the user says /warm is a health endpoint.
    let warm: Vec<Req> =
        every(10_000, from, to, None).map(|t| req(t, GO, "other.example.com", "/warm", 200)).collect();
    assert_eq!(probes(&analyse(&[], warm.clone())).len(), 1);
    assert_eq!(probes(&analyse(&["--health-path", "/warm"], warm)).len(), 0);
    // A health name is a prior, not a verdict: `/` named a health endpoint is still a probe
    // when the same caller follows its redirect to the login page; the user silences it with
    // --no-session-path.
    let named = analyse(&["--health-path", "/"], reqs.clone());
    assert_eq!(probes(&named).len(), 1);
    assert!(reasons(&probes(&named)[0]).contains("against (outweighed): / is a health endpoint by its name"));
    assert_eq!(probes(&analyse(&["--no-session-path", "^/$"], reqs)).len(), 0);
}

#[test]
fn session_ttl_and_bytes_set_the_cost() {
    let reqs = incident_probe(T0, T0 + DAY / 2);
    let p = |args: &[&str]| probes(&analyse(args, reqs.clone()))[0].clone();
    let default = p(&[]);
    assert_eq!(default["sessions_per_day"], 8640.0);
    assert_eq!(default["estimated_live_sessions"], 180.0);
    assert_eq!(default["estimated_session_bytes"], 180.0 * 1024.0);
    let day = p(&["--session-ttl", "1d", "--session-bytes", "7000"]);
    assert_eq!(day["session_ttl_seconds"], 86_400.0);
    assert_eq!(day["estimated_live_sessions"], 8640.0);
    assert_eq!(day["estimated_session_bytes"], 8640.0 * 7000.0);
    // Sessions that never expire: every session made since the first hit is still there.
    let never = p(&["--session-ttl", "never"]);
    assert_eq!(never["session_ttl_seconds"], Value::Null);
    assert_eq!(never["requests"], 4320);
    assert_eq!(never["estimated_live_sessions"], 4320.0);
    assert!(never["suggestion"].as_str().unwrap().contains("never expire"));
    let bad = run_json(&["--session-ttl", "soon"], Some(log(reqs)));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--session-ttl"), "{}", bad.stderr);
}

#[test]
fn two_replicas_probing_together_count_double() {
    let (from, to) = (T0, T0 + DAY / 2);
    let mut reqs = incident_probe(from, to);
    reqs.extend(incident_probe(from + 3_000, to));
    let report = analyse(&[], reqs);
    let probes = probes(&report);
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0]["follow_ups"], json!(["/login"]));
    // 17,280 a day, to within the one beat that the offset adds to the active span.
    let per_day = probes[0]["sessions_per_day"].as_f64().unwrap();
    assert!((per_day - 17_280.0).abs() <= 5.0, "{per_day}");
    assert_eq!(probes[0]["requests"], 8640);
}

#[test]
fn probes_are_ordered_by_cost() {
    let (from, to) = (T0, T0 + DAY / 2);
    let mut reqs = incident_probe(from, to);
    let pingdom = "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)";
    reqs.extend(every(60_000, from, to, None).map(|t| req(t + 5_000, pingdom, "www.example.com", "/", 200)));
    let report = analyse(&[], reqs);
    let order: Vec<&str> = probes(&report).iter().map(|p| p["user_agent"].as_str().unwrap()).collect();
    assert_eq!(order, [GO, pingdom]);
    assert!(
        report["summary"]["verdict"].as_str().unwrap().starts_with("2 probes create ~10,080 sessions/day")
    );
}
