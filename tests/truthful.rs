//! No silent all-clear: what the report says when it could not look, and reports true to the
//! last character (inputs that failed, totals, file modes, names), through the binary.

use std::io::Write as _;

use serde_json::Value;

use crate::common::{bin, input, run_json, sample};

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

fn verdict(report: &Value) -> &str {
    report["summary"]["verdict"].as_str().unwrap()
}

/// A gzip file cut in the middle: its first lines read, then a read error.
fn damaged_gz(dir: &std::path::Path) -> std::path::PathBuf {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(sample("incident.jsonl")).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.join("access.log.1.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    cut
}

#[test]
fn nothing_analysed_is_never_an_all_clear() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("a.txt"), "hello\nworld\n").unwrap();
    std::fs::write(notes.join("b.txt"), "no log here\n").unwrap();
    let incident = sample("incident.jsonl");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["/nonexistent/access.log"], "Nothing analysed: 1 input(s) could not be read"),
        (vec![path(&empty)], "Nothing analysed: no input found"),
        (vec![path(&notes)], "Nothing analysed: 2 input(s) skipped (not access logs, or empty)"),
        (
            vec!["--since", "2030-01-01", path(&incident)],
            "Nothing analysed: 456 record(s) outside the window",
        ),
    ];
    for (args, want) in cases {
        for extra in [&[][..], &["--fail-on-probes"][..]] {
            let all: Vec<&str> = extra.iter().copied().chain(args.iter().copied()).collect();
            let run = run_json(&all, None);
            assert_eq!(run.code, 1, "{all:?}: {}", run.stderr);
            assert_eq!(verdict(&run.report), want, "{all:?}");
            assert_eq!(run.report["summary"]["analysed"], 0);
        }
    }
}

#[test]
fn mostly_unanalysed_says_so_in_the_verdict() {
    let run = run_json(&["--until", "2019-05-24T18:45:00Z", path(&sample("incident.jsonl"))], None);
    let v = verdict(&run.report);
    assert!(v.contains("; only "), "{v}");
    assert!(v.contains("record(s) outside the window"), "{v}");
}

#[test]
fn inputs_that_could_not_be_read_are_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let gz = damaged_gz(dir.path());
    let fix = sample("after-fix.jsonl");
    let args = ["/nonexistent/access.log", path(&gz), path(&fix)];
    let run = run_json(&args, None);
    assert_eq!(run.code, 1);
    let inputs = run.report["summary"]["inputs"].as_array().unwrap();
    let missing = inputs.iter().find(|i| i["source"] == "/nonexistent/access.log").unwrap();
    assert!(missing["error"].as_str().unwrap().contains("No such file"), "{missing}");
    let damaged = inputs.iter().find(|i| i["source"] == path(&gz)).unwrap();
    assert!(damaged["error"].as_str().unwrap().contains("read error"), "{damaged}");
    let fine = inputs.iter().find(|i| i["source"].as_str().unwrap().ends_with("after-fix.jsonl")).unwrap();
    assert_eq!(fine["error"], Value::Null);
    for format in ["table", "markdown", "html"] {
        let out = bin().args(["--format", format]).args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("No such file or directory"), "{format}");
        assert!(text.contains("read error after line"), "{format}");
    }
}

#[test]
fn a_status_snapshot_is_not_an_access_log() {
    let snapshot =
        br#"{"time":"2024-03-01T00:00:00Z","connections":{"active":3,"idle":10},"requests":{"total":1234}}
{"time":"2024-03-01T00:00:10Z","connections":{"active":4,"idle":9},"requests":{"total":1240}}
"#;
    let run = run_json(&[], Some(snapshot.to_vec()));
    assert_eq!(run.code, 1);
    let i = input(&run.report, 0);
    assert_eq!(i["format"], "skipped");
    assert!(i["reason"].as_str().unwrap().contains("a time but no request or status"), "{i}");
}

#[test]
fn an_unknown_time_key_is_named_with_the_flag_to_use() {
    let log = br#"{"ts":"2024-03-01T00:00:00Z","req":"GET / HTTP/1.1","status":200,"ua":"curl/8"}
"#;
    let run = run_json(&[], Some(log.to_vec()));
    let reason = input(&run.report, 0)["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("--field time=ts"), "{reason}");
    let fixed = run_json(&["--field", "time=ts", "--field", "request=req"], Some(log.to_vec()));
    assert_eq!(fixed.report["summary"]["parsed"], 1);
}

#[test]
fn cut_combined_lines_are_truncated_lines() {
    let log = b"203.0.113.9 - - [10/Oct/2000:13:55:36 +0000] \"GET /a HTTP/1.1\" 200 152 \"-\" \"curl/8\"
203.0.113.9 - - [10/Oct/2000:13:55:37 +0000] \"GET /a HTTP/1.1\" 200 152 \"-\" \"Mozilla/5.0 (X11; Lin
203.0.113.9 - - [10/Oct/2000:13:55:38 +0000] \"GET /a HTTP/1.1\" 200 152 \"http://a.exa
203.0.113.9 - - [10/Oct/2000:13:55:39 +0000] \"GET /a HTTP/1.1\" 4";
    let run = run_json(&[], Some(log.to_vec()));
    assert_eq!(run.report["summary"]["parsed"], 1);
    assert_eq!(run.report["summary"]["malformed"], 3);
    for e in run.report["errors"].as_array().unwrap() {
        assert!(e["reason"].as_str().unwrap().starts_with("truncated line"), "{e}");
    }
}

#[test]
fn the_cluster_total_is_the_real_one_in_every_format() {
    let mut log = Vec::new();
    for i in 0..30 {
        log.extend_from_slice(
            format!(
                "{{\"msec\":\"1709251200.{i:03}\",\"request\":\"GET /p{i} HTTP/1.1\",\"status\":\"200\"}}\n"
            )
            .as_bytes(),
        );
    }
    let run = run_json(&["--max-clusters", "5", "--top", "5"], Some(log.clone()));
    assert_eq!(run.report["summary"]["clusters"], 30);
    assert_eq!(run.report["clusters"].as_array().unwrap().len(), 5);
    for format in ["table", "markdown", "html"] {
        let out = bin()
            .args(["--format", format, "--max-clusters", "5", "--top", "5"])
            .write_stdin(log.clone())
            .output();
        let text = String::from_utf8(out.unwrap().stdout).unwrap();
        assert!(text.contains("Top clusters (5 of 30)"), "{format}: {text}");
    }
}

#[test]
fn standard_input_is_named_stdin_and_empty_tables_say_none() {
    let run = run_json(&[], Some(b"garbage\n".to_vec()));
    assert_eq!(input(&run.report, 0)["source"], "(stdin)");
    let empty = tempfile::tempdir().unwrap();
    let out = bin().arg(path(empty.path())).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Inputs: none found"), "{text}");
    assert!(!text.contains("│ source │"), "{text}");
}

#[cfg(unix)]
#[test]
fn report_files_get_the_umask_mode_and_keep_an_old_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let run = |target: &std::path::Path| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec {} -q --format json -o {} {}",
                assert_cmd::cargo::cargo_bin("nginx-forensics").display(),
                target.display(),
                sample("incident.jsonl").display()
            ))
            .status()
            .unwrap()
    };
    assert!(run(&out).success());
    assert_eq!(mode(&out), 0o644);
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(run(&out).success());
    assert_eq!(mode(&out), 0o600, "a replaced report keeps its mode");
    let missing = dir.path().join("no-such-dir").join("r.json");
    let out = bin().args(["-o", path(&missing), path(&sample("incident.jsonl"))]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("cannot write {}", missing.display())), "{err}");
    assert!(!err.contains("no-such-dir/.tmp"), "no temporary file's name: {err}");
}

#[test]
fn html_colours_the_verdict_by_the_worst_severity_and_keeps_words_whole() {
    let jar =
        nginx_forensics::synth::probes::situations(1).into_iter().find(|s| s.name == "cookie-jar").unwrap();
    let out = bin().args(["--format", "html"]).write_stdin(jar.log).output().unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains("<p class=\"verdict low\">"), "a low finding is not drawn like a high one");
    assert!(page.contains("<td><span class=\"sev low\">low</span></td>"));
    assert!(!page.contains("overflow-wrap:anywhere"), "no word broken inside a user agent, host or path");
    let incident = bin().args(["--format", "html", path(&sample("incident.jsonl"))]).output().unwrap();
    assert!(String::from_utf8(incident.stdout).unwrap().contains("<p class=\"verdict bad\">"));
}

#[test]
fn the_table_fits_columns_and_piped_output_keeps_its_widths() {
    let table_lines = |text: &str| -> Vec<usize> {
        text.lines().filter(|l| l.starts_with(['╭', '│', '├', '╰'])).map(|l| l.chars().count()).collect()
    };
    let fitted = bin().env("COLUMNS", "100").arg(path(&sample("incident.jsonl"))).output().unwrap();
    let fitted = String::from_utf8(fitted.stdout).unwrap();
    assert!(table_lines(&fitted).iter().all(|&w| w <= 100), "{fitted}");
    assert!(fitted.contains('…'), "long user agents and paths are shortened with an ellipsis");
    let piped = bin().env_remove("COLUMNS").arg(path(&sample("incident.jsonl"))).output().unwrap();
    let piped = String::from_utf8(piped.stdout).unwrap();
    assert!(table_lines(&piped).iter().any(|&w| w > 100), "piped output keeps the natural widths");
}

#[test]
fn the_readme_shows_what_the_binary_prints() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let from = readme.find("## What it prints").unwrap();
    let block = &readme[from..];
    let start = block.find("```text\n").unwrap() + "```text\n".len();
    let shown = &block[start..start + block[start..].find("\n…\n").unwrap()];
    let out = bin().arg(path(&sample(""))).output().unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.starts_with(shown), "README.md's output is stale:\n{printed}");
}

#[test]
fn a_user_agent_key_spelled_differently_is_named_with_the_flag_to_use() {
    let log =
        br#"{"time":"2024-03-01T00:00:00Z","request":"GET / HTTP/1.1","status":"200","agentString":"curl/8"}
"#;
    let run = run_json(&[], Some(log.to_vec()));
    let hint = input(&run.report, 0)["hint"].as_str().unwrap().to_owned();
    assert!(hint.contains("--field user_agent=agentString"), "{hint}");
    let fixed = run_json(&["--field", "user_agent=agentString"], Some(log.to_vec()));
    assert_eq!(input(&fixed.report, 0)["hint"], Value::Null);
    assert_eq!(fixed.report["clusters"][0]["user_agent"], "curl/8");
}

/// A caller of one request a beat every `period` s, `beats` times from 2019-05-24T18:40:00Z, on
/// a path that makes sessions.
fn slow_probe(period: i64, beats: i64) -> Vec<u8> {
    (0..beats)
        .map(|k| {
            format!(
                "{{\"msec\":\"{}.000\",\"host\":\"admin\",\"request\":\"GET / HTTP/1.1\",\"status\":\"302\",\"http_user_agent\":\"Go-http-client/1.1\"}}\n",
                1_558_723_200 + period * k
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// A log too short to show a slow caller says so: never a bare all-clear after a few seconds of
/// log. What it says is true: a caller of one request a beat at the period it names is found,
/// and one slower is not, in the same span (a caller of several requests a beat needs fewer
/// beats, hence "may").
#[test]
fn a_short_log_says_which_callers_it_cannot_see() {
    let short = run_json(&[], Some(slow_probe(10, 3)));
    assert_eq!(
        verdict(&short.report),
        "No probe creates sessions (0 periodic caller(s)); only 20 s of log time: no schedule can be seen in less than 60 s"
    );
    // Eight beats a minute apart: 7 min of log, so a caller every 60 s is the slowest seen.
    let seen = run_json(&[], Some(slow_probe(60, 8)));
    assert_eq!(
        verdict(&seen.report),
        "1 probe likely creates ~1,440 sessions/day (by path and status alone: log $sent_http_set_cookie to be \
         sure); only 7 min of log time: callers slower than every 60 s may be missed"
    );
    // A slower caller in that span has seven beats: it is not found, as the verdict warned.
    let missed = run_json(&[], Some(slow_probe(70, 7)));
    assert_eq!(missed.report["summary"]["probes"], 0);
    assert!(verdict(&missed.report).ends_with("callers slower than every 60 s may be missed"));
    // Long enough for a caller every 5 min: nothing to warn of.
    let long = run_json(&[], Some(slow_probe(300, 8)));
    assert_eq!(
        verdict(&long.report),
        "1 probe likely creates ~288 sessions/day (by path and status alone: log $sent_http_set_cookie to be sure)"
    );
    let day = run_json(&[path(&sample("incident.jsonl"))], None);
    assert!(
        verdict(&day.report)
            .ends_with("only 20 min of log time: callers slower than every 2.85 min may be missed")
    );
}

/// One input lost among several that were read: the exit code is 1, and the verdict line (what
/// a cron job mails) says why, though most was analysed.
#[test]
fn a_lost_input_is_named_in_the_verdict_even_when_most_was_read() {
    let incident = sample("incident.jsonl");
    let after = sample("after-fix.jsonl");
    let run = run_json(&[path(&incident), path(&after), "/nonexistent/access.log"], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let verdict = verdict(&run.report);
    assert!(
        verdict.starts_with(
            "1 probe created ~8,640 sessions/day (not seen in the log's last 43 h); 1 input(s) could not be read"
        ),
        "{verdict}"
    );
}

/// The incident's probe for the first 4 hours of a day of its host's log: what it cost while it
/// ran, and that it is gone (fixed, moved or paused), never "creates" as if it still did. A log
/// of another host that goes on later says nothing about it.
#[test]
fn a_probe_gone_from_the_end_of_its_hosts_log_is_said_to_have_made_sessions() {
    // `hours` of `host`'s log from midnight: Consul on /health, and the probe for its first
    // `probe_hours`, every 10 s.
    let log = |host: &str, hours: i64, probe_hours: i64| {
        let line = |t: i64, path: &str, status: u16, ua: &str| {
            format!(
                r#"{{"msec":"{t}.000","host":"{host}","request":"GET {path} HTTP/1.1","status":"{status}","http_user_agent":"{ua}","sent_http_location":"{}"}}"#,
                if status == 302 { "/login" } else { "" }
            ) + "\n"
        };
        let mut text = String::new();
        for i in 0..hours * 360 {
            let t = 1_558_656_000 + 10 * i;
            text.push_str(&line(t, "/health", 200, "Consul Health Check"));
            if i < probe_hours * 360 {
                text.push_str(&line(t + 2, "/", 302, "Go-http-client/1.1"));
            }
        }
        text
    };
    let gone = run_json(&[], Some(log("172.12.1.189", 24, 4).into_bytes()));
    assert_eq!(
        verdict(&gone.report),
        "1 probe created ~8,640 sessions/day (not seen in the log's last 20 h)"
    );
    let reasons = gone.report["probes"][0]["reasons"].to_string();
    assert!(
        reasons.contains("note: not seen in the log's last 20 h (last at 2019-05-24T03:59:52Z)"),
        "{reasons}"
    );
    // Still there at the end: it creates them.
    let running = run_json(&[], Some(log("172.12.1.189", 24, 24).into_bytes()));
    assert_eq!(verdict(&running.report), "1 probe creates ~8,640 sessions/day");
    // Its host's log ends with it; another host's log goes on for the day.
    let two = log("172.12.1.189", 4, 4) + &log("shop.example.com", 24, 0);
    let other = run_json(&[], Some(two.into_bytes()));
    assert_eq!(verdict(&other.report), "1 probe creates ~8,640 sessions/day");
}
