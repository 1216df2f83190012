//! The reports end to end: every format, hostile content through each, the cron options
//! (`--since/--until`, `--fail-on-probes`, `--output`, `--quiet`), colour and broken pipes.

use std::io::Write;

use serde_json::{Value, json};

use crate::common::{bin, read_a_little_then_close, run_json, sample};

const FORMATS: [&str; 4] = ["table", "json", "markdown", "html"];

/// Runs the binary from the repository root (so input names in reports are relative and
/// snapshots do not depend on where the repository is), feeding `stdin`.
fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut cmd = bin();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    cmd.write_stdin(stdin.unwrap_or_default().to_vec());
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// The HTML report parsed as XML: it must be well-formed (every tag closed, attributes quoted,
/// no raw control characters, no undefined entities).
fn assert_well_formed(html: &str) {
    let body = html.strip_prefix("<!DOCTYPE html>\n").expect("doctype first");
    if let Err(e) = roxmltree::Document::parse(body) {
        panic!("HTML is not well-formed: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of every format on a fixed report: the incident and the hostile sample together.

fn snapshot_run(format: &str) -> String {
    let args =
        ["--format", format, "--color", "never", "sample-logs/incident.jsonl", "sample-logs/hostile.jsonl"];
    let (code, stdout, stderr) = run(&args, None);
    assert_eq!(code, 0, "{stderr}");
    text(stdout)
}

#[test]
fn snapshot_table() {
    insta::assert_snapshot!("table", snapshot_run("table"));
}

#[test]
fn snapshot_json() {
    insta::assert_snapshot!("json", snapshot_run("json"));
}

#[test]
fn snapshot_markdown() {
    insta::assert_snapshot!("markdown", snapshot_run("markdown"));
}

#[test]
fn snapshot_html() {
    let html = snapshot_run("html");
    assert_well_formed(&html);
    insta::assert_snapshot!("html", html);
}

// ---------------------------------------------------------------------------------------------
// Hostile content: a probe whose user agent, host and path carry terminal escapes, HTML and
// Markdown, through every format.

const EVIL_UA: &str = "evil\u{1b}]0;title\u{7}\u{1b}[2J<script>alert(1)</script> | `x` *y* [z](http://e)";
const EVIL_HOST: &str = "h\u{1b}[31most<b>";
const EVIL_PATH: &str = "/<svg/onload=alert(1)>|\u{9b}31m";

fn hostile_log() -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..60 {
        let t = 1_709_251_200 + 10 * k;
        let line = json!({
            "msec": format!("{t}.000"),
            "host": EVIL_HOST,
            "request": format!("GET {EVIL_PATH} HTTP/1.1"),
            "status": "302",
            "sent_http_set_cookie": "SESSION=x",
            "http_user_agent": EVIL_UA,
        });
        writeln!(out, "{line}").unwrap();
    }
    out
}

#[test]
fn hostile_strings_are_neutralised_in_every_format() {
    let log = hostile_log();
    for format in FORMATS {
        let (code, stdout, stderr) = run(&["--format", format, "--color", "always"], Some(&log));
        assert_eq!(code, 0, "{format}: {stderr}");
        let out = text(stdout);
        // No raw C0/C1 control characters from the log (colour codes are the tool's own, and
        // only in the table: they never sit inside logged text).
        let logged_controls =
            out.replace("\u{1b}[1;31m", "").replace("\u{1b}[1;32m", "").replace("\u{1b}[1;33m", "");
        let logged_controls = logged_controls.replace("\u{1b}[1m", "").replace("\u{1b}[0m", "");
        assert!(
            !logged_controls.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{9b}'),
            "{format}: raw control character in {logged_controls:?}"
        );
        if format == "markdown" || format == "html" {
            assert!(!out.contains("<script>"), "{format}: raw <script>");
            assert!(!out.contains("<svg/onload"), "{format}: raw <svg/onload");
        }
        match format {
            "json" => {
                let report: Value = serde_json::from_str(&out).unwrap();
                let probe = &report["probes"][0];
                assert_eq!(probe["user_agent"], EVIL_UA, "JSON keeps the exact text");
                assert_eq!(probe["host"], "h\u{1b}[31most<b>");
                assert_eq!(probe["path"], EVIL_PATH);
            }
            "table" => {
                assert!(out.contains(r"evil\x1b]0;title\x07\x1b[2J<scr"), "{out}");
                assert!(!out.contains("\u{1b}[2J"));
            }
            "markdown" => {
                assert!(
                    out.contains(r"evil\\x1b\]0;title\\x07\\x1b\[2J&lt;script&gt;alert(1)&lt;/script&gt; \| \`x\` \*y\* \[z\](http://e)"),
                    "{out}"
                );
                // Every table row still has exactly the header's columns: no `|` got through.
                for line in out.lines().filter(|l| l.starts_with("| ") && l.contains("evil")) {
                    let cols = line.replace(r"\|", "").matches('|').count();
                    assert!(cols == 9 || cols == 8 || cols == 7, "{line}");
                }
            }
            "html" => {
                assert_well_formed(&out);
                assert!(
                    out.contains("evil\\x1b]0;title\\x07\\x1b[2J&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{out}"
                );
                assert!(out.contains("/&lt;svg/onload=alert(1)&gt;|\\x9b31m"), "{out}");
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn markdown_tables_keep_their_columns_with_hostile_cells() {
    let (_, stdout, _) = run(&["--format", "markdown"], Some(&hostile_log()));
    let out = text(stdout);
    let mut header_cols = 0;
    for line in out.lines() {
        if !line.starts_with('|') {
            header_cols = 0;
            continue;
        }
        let cols = line.replace(r"\|", "").matches('|').count();
        if header_cols == 0 {
            header_cols = cols;
        }
        assert_eq!(cols, header_cols, "{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Cron and batch.

#[test]
fn since_and_until_limit_the_analysis_and_count_the_rest() {
    let incident = sample("incident.jsonl");
    let incident = incident.to_str().unwrap();
    let all = run_json(&[incident], None).report;
    let late = run_json(&["--since", "2019-05-24T18:51:32Z", incident], None).report;
    let s = &late["summary"];
    assert_eq!(s["parsed"], all["summary"]["parsed"], "parsed still counts every line");
    assert_eq!(s["since"], "2019-05-24T18:51:32Z");
    assert_eq!(s["until"], Value::Null);
    let outside = s["outside_window"].as_u64().unwrap();
    assert!(outside > 100 && outside < 300, "{outside}");
    let clustered: u64 =
        late["clusters"].as_array().unwrap().iter().map(|c| c["requests"].as_u64().unwrap()).sum();
    assert_eq!(clustered + outside, s["parsed"].as_u64().unwrap());
    assert!(s["first_seen"].as_str().unwrap() >= "2019-05-24T18:51:32Z");
    let probe = &late["probes"][0];
    assert!(probe["first_seen"].as_str().unwrap() >= "2019-05-24T18:51:32Z");
    assert_eq!(probe["requests"], 60);

    let early = run_json(&["--until", "2019-05-24T18:51:32Z", incident], None).report;
    assert!(early["summary"]["last_seen"].as_str().unwrap() < "2019-05-24T18:51:32Z");
    assert_eq!(
        early["summary"]["outside_window"].as_u64().unwrap() + outside,
        all["summary"]["parsed"].as_u64().unwrap(),
        "the two halves split the log"
    );
    // Relative to now: a 2019 log has nothing in the last day.
    let recent = run_json(&["--since", "24h", incident], None).report;
    assert_eq!(recent["summary"]["outside_window"], all["summary"]["parsed"]);
    assert_eq!(recent["clusters"], json!([]));
    assert_eq!(recent["probes"], json!([]));
    // Nonsense is a usage error.
    for bad in [["--since", "yesterday"], ["--until", "2019-13-45"]] {
        let r = run_json(&[bad[0], bad[1], incident], None);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(bad[0]), "{}", r.stderr);
    }
    let r = run_json(&["--since", "2019-05-25", "--until", "2019-05-24", incident], None);
    assert_eq!(r.code, 2);
}

/// A day of an uptime monitor on `/` every 5 minutes: a low-severity probe.
fn low_severity_log() -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..288 {
        let line = json!({
            "msec": format!("{}.250", 1_709_251_200 + 300 * k),
            "host": "www.example.com",
            "request": "GET / HTTP/1.1",
            "status": "200",
            "http_user_agent": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        });
        writeln!(out, "{line}").unwrap();
    }
    out
}

#[test]
fn fail_on_probes_exits_3_by_severity_and_errors_still_exit_1() {
    let incident = sample("incident.jsonl");
    let incident = incident.to_str().unwrap();
    let after = sample("after-fix.jsonl");
    let after = after.to_str().unwrap();
    let code = |args: &[&str], stdin: Option<&[u8]>| run(args, stdin).0;
    assert_eq!(code(&["--fail-on-probes", incident], None), 3);
    assert_eq!(code(&["--fail-on-probes", "--min-severity", "high", incident], None), 3);
    assert_eq!(code(&["--fail-on-probes", after], None), 0);
    assert_eq!(code(&[incident], None), 0, "without the flag probes are not a failure");
    let low = low_severity_log();
    assert_eq!(code(&["--fail-on-probes", "--format", "json"], Some(&low)), 0, "default: medium and up");
    assert_eq!(code(&["--fail-on-probes", "--min-severity", "low"], Some(&low)), 3);
    // An unreadable input is an error, whatever was found.
    assert_eq!(code(&["--fail-on-probes", incident, "/nonexistent/access.log"], None), 1);
    // The report is still written in full when the exit code is 3.
    let (c, stdout, _) = run(&["--fail-on-probes", "--format", "json", incident], None);
    assert_eq!(c, 3);
    let report: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["probes"].as_array().unwrap().len(), 1);
}

#[test]
fn output_is_written_atomically_and_matches_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.md");
    std::fs::write(&target, "an older report\n").unwrap();
    let incident = sample("incident.jsonl");
    let incident = incident.to_str().unwrap();
    let (code, stdout, stderr) =
        run(&["--format", "markdown", "--output", target.to_str().unwrap(), incident], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    let (_, direct, _) = run(&["--format", "markdown", incident], None);
    assert_eq!(std::fs::read(&target).unwrap(), direct, "the file is the whole report");
    // Nothing else is left in the directory: no temporary file.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.md")]);
    // A report that cannot be written is an error, and leaves nothing behind.
    let missing = dir.path().join("no/such/dir/report.md");
    let (code, _, stderr) = run(&["--output", missing.to_str().unwrap(), incident], None);
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!("cannot write {}", missing.display())), "{stderr}");
    assert!(!missing.exists());
}

#[test]
fn quiet_leaves_only_errors_on_stderr() {
    let hostile = sample("hostile.jsonl");
    let hostile = hostile.to_str().unwrap();
    let rotated = sample("rotated");
    let rotated = rotated.to_str().unwrap();
    let (_, _, loud) = run(&[hostile, rotated], None);
    assert!(loud.contains("hostile.jsonl:7:") && loud.contains("skipping"), "{loud}");
    let (code, stdout, quiet) = run(&["--quiet", hostile, rotated], None);
    assert_eq!(code, 0);
    assert_eq!(quiet, "");
    assert!(!stdout.is_empty(), "the report is still printed");
    let (code, _, errors) = run(&["-q", hostile, "/nonexistent/access.log"], None);
    assert_eq!(code, 1);
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("cannot read /nonexistent/access.log"), "{errors}");
    let (code, _, strict) = run(&["-q", "--strict", hostile], None);
    assert_eq!(code, 1);
    assert!(strict.contains("6 malformed line(s)"), "{strict}");
}

#[test]
fn colour_is_opt_in_when_not_a_terminal_and_never_in_other_formats() {
    let incident = sample("incident.jsonl");
    let incident = incident.to_str().unwrap();
    let (_, plain, _) = run(&[incident], None);
    assert!(!plain.contains(&0x1b), "not a terminal: no colour by default");
    let (_, coloured, _) = run(&["--color", "always", incident], None);
    let first = text(coloured).lines().next().unwrap().to_owned();
    assert!(first.starts_with("\u{1b}[1;31m1 probe creates ~8,640 sessions/day;"), "{first:?}");
    assert!(first.ends_with("\u{1b}[0m"), "the verdict's colour ends on its line: {first:?}");
    // Green only for an all-clear: a verdict with a caveat (here a log too short to show a
    // caller every 5 min) is yellow, in the table and in the HTML.
    for (name, colour, class) in [("rotated", "1;32", "ok"), ("after-fix.jsonl", "1;33", "warn")] {
        let log = sample(name);
        let (_, coloured, _) = run(&["--color", "always", log.to_str().unwrap()], None);
        let first = text(coloured).lines().next().unwrap().to_owned();
        assert!(
            first.starts_with(&format!("\u{1b}[{colour}mNo probe creates sessions")),
            "{name}: {first:?}"
        );
        let (_, page, _) = run(&["--format", "html", log.to_str().unwrap()], None);
        assert!(text(page).contains(&format!("<p class=\"verdict {class}\">")), "{name}");
    }
    let (_, md, _) = run(&["--color", "always", "--format", "markdown", incident], None);
    assert!(!md.contains(&0x1b));
    let mut cmd = bin();
    cmd.env("NO_COLOR", "1").args(["--color", "auto", incident]);
    assert!(!cmd.output().unwrap().stdout.contains(&0x1b));
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    // A report far larger than a pipe's buffer, read one line, then the pipe closed: `| head -1`.
    let mut log = Vec::new();
    for k in 0..20_000 {
        writeln!(
            log,
            r#"{{"msec":"{}.000","host":"h","request":"GET /page-{k}-{} HTTP/1.1","status":"200","http_user_agent":"ua"}}"#,
            1_709_251_200 + k,
            "x".repeat(40)
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.log");
    std::fs::write(&file, log).unwrap();
    let args = ["--format", "json", "--raw-paths"].map(std::ffi::OsStr::new);
    let (code, stderr) = read_a_little_then_close(&[&args[..], &[file.as_os_str()]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn html_pictures_show_each_caller_as_a_comb() {
    let incident = sample("incident.jsonl");
    let (code, stdout, _) = run(&["--format", "html", incident.to_str().unwrap()], None);
    assert_eq!(code, 0);
    let html = text(stdout);
    assert_well_formed(&html);
    assert!(
        !html.contains("<script") && !html.contains("http-equiv") && !html.contains("src="),
        "self-contained"
    );
    assert!(!html.contains("href="), "no external requests or links");
    // One picture per probe and per periodic caller.
    assert_eq!(html.matches("<svg").count(), 1 + 4);
    // The probe's comb: 12 periods of 10 s hold 12 hits.
    let probe = &html[html.find("<section class=\"probe\">").unwrap()..];
    let svg = &probe[..probe.find("</svg>").unwrap()];
    assert_eq!(svg.matches("class=\"tick\"").count(), 12, "{svg}");
}

#[test]
fn a_scanners_log_is_bounded_in_the_report_and_ordered_the_same_whatever_the_threads() {
    // 24,000 lines: 12,000 scanner requests, each a cluster of its own, more than the 10,000
    // clusters ordered by key (beyond them ties are ordered by a fixed hash of the key).
    let mut log = Vec::new();
    nginx_forensics::synth::scanner_log(24_000, 7, &mut log).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scanner.log");
    std::fs::write(&file, &log).unwrap();
    let file = file.to_str().unwrap();
    let json = |args: &[&str]| {
        let (code, stdout, stderr) = run(&[&["--format", "json", file], args].concat(), None);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let all_1 = json(&["--max-clusters", "0", "--threads", "1", "--chunk-bytes", "65536"]);
    let all_2 = json(&["--max-clusters", "0", "--threads", "2", "--chunk-bytes", "65536"]);
    assert!(all_1 == all_2, "thread count changed the output");
    let all: Value = serde_json::from_slice(&all_1).unwrap();
    let total = all["summary"]["clusters"].as_u64().unwrap();
    assert!(total > 12_000, "{total}");
    assert_eq!(all["clusters"].as_array().unwrap().len() as u64, total);
    assert_eq!(all["summary"]["clusters_listed"], total);
    // By default the JSON lists the 1,000 biggest, in key order within equal request counts.
    let some: Value = serde_json::from_slice(&json(&[])).unwrap();
    let listed = some["clusters"].as_array().unwrap();
    assert_eq!(listed.len(), 1000);
    assert_eq!(some["summary"]["clusters_listed"], 1000);
    assert_eq!(some["summary"]["clusters"], total);
    assert_eq!(listed[..], all["clusters"].as_array().unwrap()[..1000]);
    let key = |c: &Value| {
        (
            std::cmp::Reverse(c["requests"].as_u64().unwrap()),
            c["user_agent"].as_str().map(str::to_owned),
            c["host"].as_str().map(str::to_owned),
            c["path"].as_str().unwrap().to_owned(),
        )
    };
    assert!(listed.windows(2).all(|w| key(&w[0]) < key(&w[1])), "not in (requests, key) order");
    // The probe is still found among them.
    assert_eq!(some["probes"][0]["path"], "/");
}
