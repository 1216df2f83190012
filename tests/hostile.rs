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
