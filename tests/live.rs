//! Live reports: `--replay` (a finished log as if live, deterministic), `--follow` on files that
//! grow, rotate and are truncated, and on a pipe; the Prometheus text.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{bin, read_a_little_then_close, sample};

const T0: i64 = 1_558_723_200; // 2019-05-24T18:40:00Z

fn probe(t: i64) -> String {
    format!(
        r#"{{"msec":"{t}.000","host":"admin.example.com","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}}"#
    )
}

fn person(t: i64, i: i64) -> String {
    format!(
        r#"{{"msec":"{t}.500","host":"admin.example.com","request":"GET /page/{} HTTP/1.1","status":"200","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0","remote_addr":"10.0.0.{}"}}"#,
        ["a", "b", "c", "d"][(i % 4) as usize],
        i % 200
    )
}

/// People browsing for `seconds` from [`T0`], and the incident's probe every 10 s for 30 minutes
/// from `first_beat`: the lines with their times, in order, and the log's text.
fn probe_among_people(seconds: i64, first_beat: i64) -> (Vec<(i64, String)>, String) {
    let mut lines: Vec<(i64, String)> =
        (0..seconds).step_by(7).map(|s| (T0 + s, person(T0 + s, s))).collect();
    lines.extend((0..180).map(|k| (first_beat + 10 * k, probe(first_beat + 10 * k))));
    lines.sort_by_key(|(t, _)| *t);
    let text = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    (lines, text)
}

fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn at(e: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap().timestamp()
}

/// Events into a reader that quits (`| head -1`): a closed pipe ends the run quietly, with exit
/// code 0, as it does a batch run's report. The stream is far larger than a pipe's buffer (a
/// heartbeat a minute for eight hours), so the tool is still writing when the pipe closes.
#[test]
fn events_into_a_closed_pipe_end_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("probe.log");
    let lines: Vec<String> = (0..8 * 360).map(|k| probe(T0 + 10 * k)).collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let args = ["--replay", "--window", "10m", "--format", "events"].map(std::ffi::OsStr::new);
    let (code, stderr) = read_a_little_then_close(&[&args[..], &[log.as_os_str()]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// The incident's probe from 10 minutes in until 40 minutes in, among people browsing for two
/// hours: the events announce it within two minutes of its first beat, and announce it gone
/// once the window no longer holds it; the same bytes whatever the thread count.
#[test]
fn replay_announces_the_probe_within_two_minutes_and_its_end() {
    let first_beat = T0 + 600;
    let (lines, text) = probe_among_people(7200, first_beat);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, &text).unwrap();

    let run = |threads: &str| {
        bin()
            .args([
                "--replay",
                "--window",
                "10m",
                "--format",
                "events",
                "--chunk-bytes",
                "4096",
                "--threads",
                threads,
            ])
            .arg(&log)
            .output()
            .unwrap()
    };
    let out = run("2");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for threads in ["1", "8"] {
        let other = run(threads).stdout;
        assert!(other == out.stdout, "the same events with {threads} thread(s)");
    }
    let events = events(&out.stdout);
    let probe_events: Vec<&Value> = events.iter().filter(|e| e["event"] == "probe").collect();
    let appeared = probe_events.iter().find(|e| e["state"] == "appeared").expect("the probe is announced");
    assert_eq!(appeared["user_agent"], "Go-http-client/1.1");
    assert_eq!(appeared["path"], "/");
    assert!(
        at(appeared) - first_beat <= 120,
        "announced {} s after its first beat",
        at(appeared) - first_beat
    );
    let last_beat = first_beat + 1790;
    let gone = probe_events.iter().find(|e| e["state"] == "gone").expect("its end is announced");
    assert!(at(gone) > last_beat && at(gone) <= last_beat + 600 + 120, "gone at {}", at(gone) - last_beat);
    // A heartbeat for each minute of log time, and a final one with every line counted.
    let beats: Vec<&Value> = events.iter().filter(|e| e["event"] == "heartbeat").collect();
    assert!(beats.len() >= 110, "{} heartbeats", beats.len());
    for beat in beats.iter().filter(|b| b["state"] == "running") {
        let before = lines.iter().filter(|(t, _)| *t < at(beat)).count() as u64;
        assert_eq!(beat["lines"], before, "a heartbeat counts exactly the lines before its time");
        assert_eq!(beat["parsed"], before);
    }
    let last = beats.last().unwrap();
    assert_eq!(last["state"], "final");
    assert_eq!(last["lines"], lines.len() as u64);
}

/// A probe that stops while the window still holds it: within a few minutes of its last beat
/// plus ten, an event says it changed (`not_seen_for_seconds` set) and the verdict that it
/// created sessions; it is gone when the window drops it, an hour or so later.
#[test]
fn a_probe_that_stops_is_announced_as_no_longer_seen_before_it_leaves_the_window() {
    let first_beat = T0 + 600;
    let (_, text) = probe_among_people(10_800, first_beat);
    let out = bin().args(["--replay", "--format", "events"]).write_stdin(text).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&out.stdout);
    let last_beat = first_beat + 1790;
    let states: Vec<(&str, i64)> = events
        .iter()
        .filter(|e| e["event"] == "probe")
        .map(|e| (e["state"].as_str().unwrap(), at(e)))
        .collect();
    assert_eq!(
        states.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        ["appeared", "changed", "gone"],
        "{states:?}"
    );
    let changed = events.iter().find(|e| e["event"] == "probe" && e["state"] == "changed").unwrap();
    let quiet = changed["not_seen_for_seconds"].as_i64().expect("how long it has not been seen");
    // Counted to the last record before the report (people browse every 7 s).
    assert!(
        (600..=720).contains(&quiet) && (0..7).contains(&(at(changed) - last_beat - quiet)),
        "{changed:#?}"
    );
    let verdict = |t: i64| {
        events.iter().find(|e| e["event"] == "heartbeat" && at(e) == t).unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        verdict(at(changed) - 60).starts_with("1 probe likely creates "),
        "{}",
        verdict(at(changed) - 60)
    );
    assert!(verdict(at(changed)).starts_with("1 probe likely created "), "{}", verdict(at(changed)));
    assert!(verdict(at(changed)).contains("not seen in the log's last "), "{}", verdict(at(changed)));
    let gone = states[2].1;
    // The window keeps whole panes of a quarter of it: gone between one hour and one and a
    // quarter after the last beat.
    assert!(
        gone - last_beat >= 3600 && gone - last_beat <= 3600 + 900 + 120,
        "gone {} s after",
        gone - last_beat
    );
}

/// Batch and replay of the same log end with the same findings when the window holds it all.
#[test]
fn replay_ends_where_the_batch_report_is() {
    let log = sample("incident.jsonl");
    let batch = bin().args(["--format", "json"]).arg(&log).output().unwrap();
    let replay = bin().args(["--format", "json", "--replay", "--window", "1d"]).arg(&log).output().unwrap();
    let (b, r): (Value, Value) =
        (serde_json::from_slice(&batch.stdout).unwrap(), serde_json::from_slice(&replay.stdout).unwrap());
    assert_eq!(b["probes"], r["probes"]);
    assert_eq!(b["summary"]["verdict"], r["summary"]["verdict"]);
    assert_eq!(b["summary"]["lines"], r["summary"]["lines"]);
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// What the child prints, gathered as it comes by a thread of its own.
type Gathered = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

fn collect_stdout(child: &mut std::process::Child) -> (Gathered, std::thread::JoinHandle<()>) {
    let out = Gathered::default();
    let mut stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (out, reader)
}

/// Follows `log` with events a minute apart: the running child, what it prints so far, and the
/// thread gathering it.
fn follow_events(log: &std::path::Path) -> (std::process::Child, Gathered, std::thread::JoinHandle<()>) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nginx-forensics"))
        .args(["--follow", "--format", "events", "--every", "1m"])
        .arg(log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, reader) = collect_stdout(&mut child);
    (child, out, reader)
}

/// Waits until `events` (the lines the tool printed so far) show `want` lines read.
fn wait_for_lines(out: &std::sync::Mutex<Vec<u8>>, want: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
        if text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|e| e["lines"] == want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never saw {want} lines read");
}

/// A followed file is appended to, rotated by rename (its last lines written after the rename),
/// truncated in place, and written again; SIGTERM ends the run with the final report: every
/// line written is counted once, and the exit code is 0.
#[cfg(unix)]
#[test]
fn follow_reads_every_line_once_through_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut t = T0;
    let mut batch = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                t += 61; // a minute apart: each line starts a new slot, so each is emitted
                person(t, i as i64)
            })
            .collect()
    };
    append(&log, &batch(3));
    let (mut child, out, reader) = follow_events(&log);
    // The history is read first, then reported at once.
    wait_for_lines(&out, 3);
    append(&log, &batch(4));
    wait_for_lines(&out, 6);
    // Rotation by rename: the server writes two more lines to the old file before reopening.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &batch(2));
    append(&log, &batch(3));
    wait_for_lines(&out, 11);
    // copytruncate: the file is copied away, emptied in place, and written on.
    std::fs::copy(&log, dir.path().join("access.log.2")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, &batch(1));
    wait_for_lines(&out, 12);
    append(&log, &batch(2));
    wait_for_lines(&out, 13);
    rustix_kill(child.id());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0));
    let events = events(&out.lock().unwrap());
    let last = events.last().unwrap();
    assert_eq!(last["event"], "heartbeat");
    assert_eq!(last["state"], "final");
    assert_eq!(last["lines"], 15, "3 + 4 + 2 + 3 + 1 + 2 lines written, each read once");
    assert_eq!(last["malformed"], 0);
}

/// The history is reported as of its latest record, in the middle of a minute; a record later
/// in that same minute must not bring a second report dated at the minute's start (back in log
/// time, and a repeat of what was reported): the reports' times only go forward.
#[cfg(unix)]
#[test]
fn reports_after_a_followed_history_go_forward_in_log_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &[0, 20, 30].map(|s| person(T0 + s, s)));
    let (mut child, out, reader) = follow_events(&log);
    wait_for_lines(&out, 3);
    append(&log, &[40, 70].map(|s| person(T0 + s, s)));
    wait_for_lines(&out, 4);
    append(&log, &[130].map(|s| person(T0 + s, s)));
    wait_for_lines(&out, 5);
    rustix_kill(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    reader.join().unwrap();
    let events = events(&out.lock().unwrap());
    let beats: Vec<(i64, u64)> = events
        .iter()
        .filter(|e| e["event"] == "heartbeat")
        .map(|e| (at(e) - T0, e["lines"].as_u64().unwrap()))
        .collect();
    assert_eq!(beats, [(30, 3), (60, 4), (120, 5), (130, 6)], "(seconds after T0, lines) of each report");
    assert!(events.windows(2).all(|w| at(&w[0]) <= at(&w[1])), "{events:?}");
}

#[cfg(unix)]
fn rustix_kill(pid: u32) {
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
}

/// A pipe that stays open is followed: what comes is reported before the writer closes it, and
/// the end of the pipe ends the run.
#[test]
fn follow_on_a_pipe_reports_before_it_closes_and_ends_with_it() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nginx-forensics"))
        .args(["--follow", "--format", "events"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (out, reader) = collect_stdout(&mut child);
    for i in 0..5 {
        writeln!(stdin, "{}", person(T0 + 61 * i, i)).unwrap();
    }
    stdin.flush().unwrap();
    wait_for_lines(&out, 5);
    writeln!(stdin, "{}", person(T0 + 61 * 5, 5)).unwrap();
    writeln!(stdin, "{}", person(T0 + 61 * 6, 6)).unwrap();
    stdin.flush().unwrap();
    wait_for_lines(&out, 6);
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0));
    let events = events(&out.lock().unwrap());
    assert_eq!(events.last().unwrap()["lines"], 7);
}

/// The Prometheus text of the incident: the probe with its cost, severity as a label, hostile
/// label values escaped; checked by promtool when it is installed (CI installs it).
#[test]
fn prometheus_text_has_the_probe_and_passes_promtool() {
    let out = bin().args(["--format", "prometheus"]).arg(sample("incident.jsonl")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("nginx_forensics_probes 1\n"), "{text}");
    assert!(text.contains(
        r#"nginx_forensics_probe_sessions_per_day{user_agent="Go-http-client/1.1",host="172.12.1.189",path="/",severity="high"} 8640"#
    ), "{text}");
    assert!(text.contains("nginx_forensics_last_record_timestamp_seconds 1558724492\n"), "{text}");
    let hostile = bin().args(["--format", "prometheus"]).arg(sample("hostile.jsonl")).output().unwrap();
    let hostile = String::from_utf8(hostile.stdout).unwrap();
    for (name, text) in [("incident", &text), ("hostile", &hostile)] {
        let Ok(mut check) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("promtool not installed: the exposition format is not checked here");
            return;
        };
        check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let result = check.wait_with_output().unwrap();
        let said =
            String::from_utf8_lossy(&result.stderr).into_owned() + &String::from_utf8_lossy(&result.stdout);
        assert!(result.status.success() && said.trim().is_empty(), "{name}: {said}");
    }
}

/// node_exporter's textfile collector reads the file `-o` writes, on the loopback address;
/// skipped when node_exporter is not installed (CI installs it).
#[cfg(unix)]
#[test]
fn node_exporter_scrapes_the_textfile() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("nginx-forensics.prom");
    let out = bin()
        .args(["--format", "prometheus", "-o"])
        .arg(&prom)
        .arg(sample("incident.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let Ok(mut exporter) = Command::new("prometheus-node-exporter")
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        eprintln!("prometheus-node-exporter not installed: the scrape is not checked here");
        return;
    };
    let mut body = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Read;
            write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
            body.clear();
            let _ = s.read_to_string(&mut body);
            if body.contains("node_textfile") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(body.contains(r#"nginx_forensics_probe_sessions_per_day{host="172.12.1.189",path="/",severity="high",user_agent="Go-http-client/1.1"} 8640"#), "{body}");
    assert!(body.contains("\nnode_textfile_scrape_error 0\n"), "{body}");
}

/// The alerting rule in the README is the first of `docs/alerts.yml`, and promtool accepts them.
#[test]
fn the_alerting_rules_are_the_readmes_and_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("docs/alerts.yml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let body: String = rules.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let shown = readme.split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    assert!(shown.contains("- alert: SessionCreatingProbe"), "{shown}");
    assert!(body.starts_with(shown), "README.md shows the start of docs/alerts.yml:\n{shown}");
    match Command::new("promtool").args(["check", "rules"]).arg(root.join("docs/alerts.yml")).output() {
        Ok(out) => assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => eprintln!("promtool not installed: the rules are not checked here"),
    }
}

/// With `-o`, a followed report is rewritten as the log goes: the HTML page reloads itself while
/// it is followed, and the final page (after SIGTERM) does not.
#[cfg(unix)]
/// Follows `log` with `args`, writing to `page`: the running child and the first report.
fn follow_into(
    args: &[&str],
    page: &std::path::Path,
    log: &std::path::Path,
) -> (std::process::Child, Vec<u8>) {
    let child = Command::new(assert_cmd::cargo::cargo_bin("nginx-forensics"))
        .args(args)
        .arg("--follow")
        .arg("-o")
        .arg(page)
        .arg(log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !page.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, std::fs::read(page).unwrap())
}

#[test]
fn a_followed_html_report_reloads_itself_until_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let page = dir.path().join("report.html");
    append(&log, &(0..3).map(|i| person(T0 + 61 * i, i)).collect::<Vec<_>>());
    let (mut child, live) = follow_into(&["--format", "html"], &page, &log);
    let live = String::from_utf8(live).unwrap();
    assert!(live.contains(r#"<meta http-equiv="refresh" content="60"/>"#));
    rustix_kill(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let last = std::fs::read_to_string(&page).unwrap();
    assert!(!last.contains("http-equiv"), "the final page stays");
    assert!(last.contains("</html>"));
}

/// Under `--follow`, the history a file already holds is cut pane by pane (no report is made
/// before it is read): its first report is still the one a report every minute would have
/// ended on, which `--replay` makes. A 50-minute window is not a whole number of its
/// 12-minute panes, so where the panes are dropped shows.
#[test]
fn the_first_report_of_a_followed_history_is_the_replays_last() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let page = dir.path().join("report.json");
    let mut lines: Vec<String> = (0..1543).map(|i| person(T0 + 7 * i, i)).collect();
    lines.extend((0..720).map(|i| probe(T0 + 3600 + 10 * i)));
    lines.sort_by_key(|l| l[9..19].to_owned());
    append(&log, &lines);
    let args = ["--window", "50m", "--chunk-bytes", "4096", "--format", "json"];
    let replay = bin().args(args).arg("--replay").arg(&log).output().unwrap();
    assert_eq!(replay.status.code(), Some(0));
    let (mut child, first) = follow_into(&args, &page, &log);
    rustix_kill(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let report: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(report["probes"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(&replay.stdout));
}
