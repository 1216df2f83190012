//! Hostile shapes: records that must not be lost to where they stand, invisible characters, and
//! limits that hold whatever the log holds.

use serde_json::Value;

use crate::common::{bin, run_json};

/// The incident's probe (`/` every 10 s, 302, followed to `/login`) for an hour, as JSON lines.
fn probe_hour() -> Vec<String> {
    (0..360)
        .flat_map(|i| {
            let t = 1_558_723_294 + i * 10;
            [
                format!(r#"{{"msec":"{t}.000","host":"admin.example.com","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#),
                format!(r#"{{"msec":"{t}.004","host":"admin.example.com","request":"GET /login HTTP/1.1","status":"200","http_user_agent":"Go-http-client/1.1"}}"#),
            ]
        })
        .collect()
}

fn far_off(t: &str) -> String {
    format!(
        r#"{{"time":"{t}","host":"admin.example.com","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#
    )
}

#[test]
fn a_far_off_time_is_malformed_wherever_it_stands_and_hides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut reports: Vec<Value> = Vec::new();
    for odd in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1558723294000000000", "4102444800"] {
        for at in ["first", "middle", "last"] {
            let mut lines = probe_hour();
            let pos = match at {
                "first" => 0,
                "middle" => lines.len() / 2,
                _ => lines.len(),
            };
            lines.insert(pos, far_off(odd));
            let log = dir.path().join("access.log");
            std::fs::write(&log, lines.join("\n") + "\n").unwrap();
            for threads in ["1", "2", "8"] {
                let run =
                    run_json(&["--threads", threads, "--chunk-bytes", "4096", log.to_str().unwrap()], None);
                let report = &run.report;
                assert_eq!(report["summary"]["malformed"], 1, "{odd} {at} {threads}");
                let probes = report["probes"].as_array().unwrap();
                assert_eq!(probes.len(), 1, "{odd} {at} {threads}: the probe is found");
                assert!(report["errors"][0]["reason"].as_str().unwrap().contains("time"), "{odd}");
                let mut r = report.clone();
                r["summary"]["inputs"] = Value::Null;
                r["errors"] = Value::Null;
                reports.push(r);
            }
            let piped = bin().args(["--format", "json"]).write_stdin(lines.join("\n")).output().unwrap();
            let mut r: Value = serde_json::from_slice(&piped.stdout).unwrap();
            r["summary"]["inputs"] = Value::Null;
            r["errors"] = Value::Null;
            reports.push(r);
        }
    }
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "the same report whatever the position, threads or input"
    );
}

/// A stream of two rotated logs in the wrong order (the later 20 days first, as a glob can
/// sort them), with a monitor every 10 minutes at millisecond resolution: its times span 40
/// days, more than milliseconds keep, so its timeline is in seconds however the stream is cut
/// into pieces and whatever the thread count.
#[test]
fn a_span_too_long_for_milliseconds_is_in_seconds_however_the_input_is_cut() {
    let line = |k: i64| {
        format!(
            r#"{{"msec":"{}.{:03}","host":"admin.example.com","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#,
            1_558_723_294 + k * 600,
            123 + (k * 37) % 50
        )
    };
    let log: String = (2880..5760).chain(0..2880).map(|k| line(k) + "\n").collect();
    let mut reports = Vec::new();
    for chunk in ["4096", "65536", "1048576"] {
        for threads in ["1", "2", "8"] {
            let run =
                run_json(&["--chunk-bytes", chunk, "--threads", threads], Some(log.clone().into_bytes()));
            let periodic = &run.report["periodic"];
            assert_eq!(periodic[0]["timestamp_resolution"], "s", "{chunk} {threads}: {periodic}");
            assert_eq!(periodic[0]["period_seconds"], 600.0, "{chunk} {threads}");
            reports.push(run.stdout);
        }
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "the same report however the input is cut");
}

#[test]
fn invisible_characters_are_shown_in_every_human_format() {
    let log = "{\"msec\":\"1558723294.000\",\"request\":\"GET / HTTP/1.1\",\"status\":\"200\",\"http_user_agent\":\"Go-http-\u{200b}client/1.1\u{feff}\"}\n";
    for format in ["table", "markdown", "html"] {
        let out = bin().args(["--format", format]).write_stdin(log).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{200b}') && !text.contains('\u{feff}'), "{format}");
        assert!(text.contains("u{200b}"), "{format}: {text}");
    }
}

#[test]
fn threads_are_capped_and_the_output_does_not_change() {
    let log = probe_hour().join("\n");
    let one = bin().args(["--format", "json", "--threads", "1"]).write_stdin(log.clone()).output().unwrap();
    let many = bin()
        .args(["--format", "json", "--threads", "10000"])
        .write_stdin(log)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(one.stdout, many.stdout);
}

#[cfg(unix)]
#[test]
fn output_files_are_only_files() {
    use std::os::unix::fs::FileTypeExt;
    let bin_path = assert_cmd::cargo::cargo_bin("nginx-forensics");
    let incident = crate::common::sample("incident.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let sh = |script: String| {
        std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir.path()).output().unwrap()
    };
    // A symlink: the file it points to is replaced, the link stays.
    std::fs::write(dir.path().join("real.txt"), "old").unwrap();
    std::os::unix::fs::symlink("real.txt", dir.path().join("link.txt")).unwrap();
    let out = sh(format!("{} -q -o link.txt {}", bin_path.display(), incident.display()));
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::symlink_metadata(dir.path().join("link.txt")).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(dir.path().join("real.txt")).unwrap().starts_with("1 probe creates"));
    // A FIFO stays a FIFO, and gets the report.
    assert!(sh("mkfifo fifo".to_owned()).status.success());
    let reader = std::thread::spawn({
        let fifo = dir.path().join("fifo");
        move || std::fs::read_to_string(fifo).unwrap()
    });
    let out = sh(format!("{} -q -o fifo {}", bin_path.display(), incident.display()));
    assert!(out.status.success());
    assert!(reader.join().unwrap().starts_with("1 probe creates"));
    assert!(std::fs::metadata(dir.path().join("fifo")).unwrap().file_type().is_fifo());
    // The process's own standard output, through /proc.
    let out = sh(format!("{} -q -o /proc/self/fd/1 {}", bin_path.display(), incident.display()));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 probe creates"), "{out:?}");
    // Nothing else was left in the directory: no temporary file.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["fifo", "link.txt", "real.txt"]);
    // A closed standard output is an error, not a silent success.
    let out = sh(format!("{} {} >&-", bin_path.display(), incident.display()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard output is closed"));
}

#[test]
fn a_100_kb_path_is_shortened_in_the_table() {
    let path = format!("/{}", "a".repeat(100_000));
    let host = format!("h{}.example", "b".repeat(100_000));
    let mut log = String::new();
    for i in 0..200 {
        log.push_str(&format!(
            "{{\"msec\":\"{}.000\",\"host\":\"{host}\",\"request\":\"GET {path} HTTP/1.1\",\"status\":\"200\",\"http_user_agent\":\"Go-http-client/1.1\"}}\n",
            1_558_723_294 + i * 10
        ));
    }
    let out = bin().write_stdin(log).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("probe likely creates"), "{}", &text[..200.min(text.len())]);
    assert!(text.lines().all(|l| l.chars().count() <= 1_010), "every line is bounded");
}

#[test]
fn records_after_a_long_first_line_or_padding_are_read() {
    let record = |i: u64| {
        format!(
            "{{\"msec\":\"{}.000\",\"request\":\"GET / HTTP/1.1\",\"status\":\"200\",\"http_user_agent\":\"curl/8\"}}\n",
            1_558_723_294 + i
        )
    };
    let records: String = (0..50).map(record).collect();
    let mib = 1 << 20;
    let cases: [(&str, Vec<u8>, (u64, u64)); 3] = [
        (
            "a first line over 1 MiB",
            [vec![b'x'; mib + 10], b"\n".to_vec(), records.clone().into_bytes()].concat(),
            (1, 0),
        ),
        ("1 MiB of blank lines", [vec![b'\n'; mib + 10], records.clone().into_bytes()].concat(), (0, 0)),
        (
            "a NUL run over 1 MiB glued to the first record",
            [vec![0u8; mib + 10], records.clone().into_bytes()].concat(),
            (1, 0),
        ),
    ];
    for (name, data, (too_long, malformed)) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(&log, &data).unwrap();
        let run = run_json(&[log.to_str().unwrap()], None);
        let s = &run.report["summary"];
        assert_eq!(s["inputs"][0]["format"], "json", "{name}");
        assert_eq!(s["skipped"]["too_long"], too_long, "{name}");
        assert_eq!(s["malformed"], malformed, "{name}");
        let lost_to_the_glue = u64::from(name.contains("glued"));
        assert_eq!(s["parsed"], 50 - lost_to_the_glue, "{name}");
    }
}

#[test]
fn the_memory_budget_folds_the_long_tail_keeps_the_probe_and_says_so() {
    // The incident's probe among 57,600 scanner requests, each on a path of its own.
    let mut lines = Vec::new();
    for (i, pair) in probe_hour().chunks(2).enumerate() {
        lines.extend_from_slice(pair);
        for j in 0..160 {
            let t = 1_558_723_294 + i * 10;
            lines.push(format!(
                r#"{{"msec":"{t}.{:03}","host":"admin.example.com","request":"GET /x/{} HTTP/1.1","status":"404","http_user_agent":"scanner"}}"#,
                j * 6,
                nginx_forensics::synth::letters_only(i * 160 + j)
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let path = log.to_str().unwrap();

    let whole = run_json(&["--max-memory", "0", path], None).report;
    assert_eq!(whole["summary"]["folded"]["clusters"], 0);
    assert_eq!(whole["summary"]["clusters"], 57_600 + 2);
    // Without a budget, workers that each see tens of thousands of keys fill one table
    // together: the same report whatever the threads and pieces.
    for (threads, chunk) in [("1", "65536"), ("2", "4096"), ("8", "65536")] {
        let run = run_json(&["--max-memory", "0", "--threads", threads, "--chunk-bytes", chunk, path], None);
        assert_eq!(run.report, whole, "{threads} threads, pieces of {chunk}");
    }

    // With pieces of 64 KiB, none may be kept apart by a worker (one piece could reach the
    // budget); with pieces of 4 KiB, the first are kept apart until the budget comes near (the
    // more threads, the sooner), and the rest merged in order, folding: the same report.
    for chunk in ["65536", "4096"] {
        let mut reports = Vec::new();
        for threads in ["1", "2", "8"] {
            let run =
                run_json(&["--max-memory", "2M", "--threads", threads, "--chunk-bytes", chunk, path], None);
            reports.push(run.report);
        }
        let piped =
            run_json(&["--max-memory", "2M", "--chunk-bytes", chunk], Some(std::fs::read(&log).unwrap()));
        reports.push(piped.report);
        for r in &mut reports {
            r["summary"]["inputs"] = Value::Null;
        }
        assert!(reports.windows(2).all(|w| w[0] == w[1]), "the same report whatever the threads or input");

        let report = &reports[0];
        let folded = &report["summary"]["folded"];
        assert!(folded["clusters"].as_u64().unwrap() > 40_000, "{folded}");
        assert_eq!(folded["clusters"], folded["requests"], "only one-request clusters are folded");
        assert_eq!(folded["most_requests"], 1);
        assert_eq!(report["summary"]["lines"], lines.len() as u64, "every line still counted");
        let probes = report["probes"].as_array().unwrap();
        assert_eq!(probes.len(), 1, "the probe survives the folding");
        assert_eq!(probes[0]["requests"], whole["probes"][0]["requests"], "with its exact counts");
        let verdict = report["summary"]["verdict"].as_str().unwrap();
        assert!(
            verdict.starts_with("1 probe creates") && verdict.contains("folded to stay within --max-memory"),
            "{verdict}"
        );
    }
    let table = bin().args(["--max-memory", "2M", path]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("folded"));
}

/// Many paths on one host, each answered 302 at the same beats by one user agent: every path is
/// a probe. All are judged and counted, the lists stop at `--max-clusters`, and the report is the
/// same bytes whatever the thread count and from stdin (the callers are judged in parallel).
#[test]
fn a_probe_on_every_path_is_counted_listed_up_to_the_cap_and_the_same_whatever_the_threads() {
    let mut log = String::new();
    for beat in 0..12 {
        for i in 0..2000 {
            log.push_str(&format!(
                r#"{{"msec":"{}.{:03}","host":"app.example.com","request":"GET /p/x{i} HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#,
                1_558_723_294 + beat * 60,
                i % 1000
            ));
            log.push('\n');
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, &log).unwrap();
    let path = path.to_str().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "8"] {
        let run =
            run_json(&["--max-clusters", "100", "--threads", threads, "--chunk-bytes", "65536", path], None);
        let summary = &run.report["summary"];
        assert_eq!(summary["probes"], 2000, "{threads}");
        assert_eq!(summary["probes_listed"], 100);
        assert_eq!(summary["periodic_callers"], 2000);
        assert_eq!(summary["periodic_listed"], 100);
        assert_eq!(run.report["probes"].as_array().unwrap().len(), 100);
        let verdict = summary["verdict"].as_str().unwrap();
        assert!(verdict.starts_with("2,000 probes likely create ~2,880,000 sessions/day"), "{verdict}");
        outputs.push(run.stdout);
    }
    let piped = run_json(&["--max-clusters", "100", "--chunk-bytes", "65536"], Some(log.into_bytes()));
    let same_input = |mut r: Value| {
        r["summary"]["inputs"] = Value::Null;
        r
    };
    let file: Value = serde_json::from_slice(&outputs[0]).unwrap();
    assert_eq!(same_input(file), same_input(piped.report));
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the same report whatever the threads");
}

/// A probe beyond `--max-clusters` still counts: its severity decides `--fail-on-probes`, its
/// sessions are in the verdict, and the periodic table (which orders callers by requests, not
/// by sessions) still calls it a probe.
#[test]
fn a_probe_beyond_the_listed_ones_still_decides_the_exit_code_and_its_verdict() {
    let mut log = String::new();
    // `/app` every 5 s for an hour, a cookie set on 11 of every 20 responses: sessions observed,
    // 17,280 requests and 9,504 sessions a day, high.
    for i in 0..720 {
        let t = 1_558_723_294 + i * 5;
        let cookie = if i % 20 < 11 { format!("SESSION=s{i}; Path=/") } else { String::new() };
        log.push_str(&format!(
            r#"{{"msec":"{t}.000","host":"app.example.com","request":"GET /app HTTP/1.1","status":"200","http_user_agent":"curl/8.5.0","sent_http_set_cookie":"{cookie}"}}"#
        ));
        log.push('\n');
    }
    // `/` every 8 s, redirected, no cookie field: sessions inferred, 10,800 a day, medium. More
    // sessions than `/app`, so it is the probe listed first; fewer requests, so it is not the
    // periodic caller listed first.
    for i in 0..450 {
        let t = 1_558_723_294 + i * 8;
        log.push_str(&format!(
            r#"{{"msec":"{t}.000","host":"app.example.com","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#
        ));
        log.push('\n');
    }
    let run = run_json(
        &["--max-clusters", "1", "--top", "1", "--fail-on-probes", "--min-severity", "high"],
        Some(log.clone().into_bytes()),
    );
    let summary = &run.report["summary"];
    assert_eq!(summary["probes"], 2);
    assert_eq!(summary["probes_listed"], 1);
    assert_eq!(
        summary["verdict"],
        "2 probes create ~20,304 sessions/day (1 of them only likely, by path and status alone: log \
         $sent_http_set_cookie to be sure)"
    );
    let listed = &run.report["probes"][0];
    assert_eq!((listed["path"].as_str(), listed["severity"].as_str()), (Some("/"), Some("medium")));
    let periodic = &run.report["periodic"][0];
    assert_eq!(
        (periodic["path"].as_str(), periodic["verdict"].as_str()),
        (Some("/app"), Some("probe (high)"))
    );
    assert_eq!(run.code, 3, "the unlisted probe is high: {}", run.stderr);
    // Every probe listed: the same two, the same verdict.
    let all = run_json(&[], Some(log.into_bytes()));
    let severities: Vec<&str> =
        all.report["probes"].as_array().unwrap().iter().filter_map(|p| p["severity"].as_str()).collect();
    assert_eq!(severities, ["medium", "high"]);
    assert_eq!(all.report["summary"]["verdict"], summary["verdict"]);
}
