//! The report as a stream of events, one JSON object per line (`--format events`): a probe or
//! periodic caller that appears, changes (period, phases, severity or verdict) or goes away, and
//! a heartbeat with the line counts. Each event carries the fields of the JSON report's
//! `probes[]` or `periodic[]` entry, plus `event` (`probe`, `periodic`, `heartbeat`), `state`
//! (`appeared`, `changed`, `gone`; a heartbeat's is `running` or `final`) and `at` (the log time
//! the findings are as of, RFC 3339).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::Report;
use super::units::rfc3339;

/// What identifies a finding from one emission to the next: its kind, key, and its rank among
/// the callers of the same key.
type Key = (&'static str, Option<String>, Option<String>, String, usize);

/// The findings last emitted, to tell what changed.
#[derive(Debug, Default)]
pub struct Events {
    last: BTreeMap<Key, (String, Value)>,
}

/// What makes a finding "changed": its period (to a tenth of a second), phases, and severity or
/// verdict; for a probe, also whether it is still seen at the end of its host's log
/// (`not_seen_for_seconds` null or not: a probe stops long before it leaves the window).
/// Counters that grow with every beat are not changes.
fn signature(kind: &str, v: &Value) -> String {
    let period = v["period_seconds"].as_f64().map_or(0.0, |p| (p * 10.0).round() / 10.0);
    let class = if kind == "probe" { &v["severity"] } else { &v["verdict"] };
    let stopped = kind == "probe" && !v["not_seen_for_seconds"].is_null();
    format!("{period}|{}|{class}|{stopped}", v["phases"])
}

impl Events {
    /// Writes the events that take the last emission to `report`'s findings, then a heartbeat;
    /// `at` is the log time they are as of.
    ///
    /// # Errors
    /// When writing fails.
    pub fn emit(
        &mut self,
        report: &Report,
        at: Option<i64>,
        last: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let at_text = at.map(rfc3339);
        let mut now: BTreeMap<Key, (String, Value)> = BTreeMap::new();
        let mut add =
            |kind: &'static str, user_agent: &Option<String>, host: &Option<String>, path: &str, v: Value| {
                let mut rank = 0;
                while now.contains_key(&(kind, user_agent.clone(), host.clone(), path.to_owned(), rank)) {
                    rank += 1;
                }
                let sig = signature(kind, &v);
                now.insert((kind, user_agent.clone(), host.clone(), path.to_owned(), rank), (sig, v));
            };
        for p in &report.probes {
            add("probe", &p.user_agent, &p.host, &p.path, serde_json::to_value(p).unwrap_or(Value::Null));
        }
        for p in &report.periodic {
            add("periodic", &p.user_agent, &p.host, &p.path, serde_json::to_value(p).unwrap_or(Value::Null));
        }
        for (key, (sig, value)) in &now {
            let state = match self.last.get(key) {
                None => "appeared",
                Some((old, _)) if old != sig => "changed",
                Some(_) => continue,
            };
            write_event(out, key.0, state, &at_text, value)?;
        }
        for (key, (_, value)) in &self.last {
            if !now.contains_key(key) {
                write_event(out, key.0, "gone", &at_text, value)?;
            }
        }
        self.last = now;
        let s = &report.summary;
        let heartbeat = json!({
            "lines": s.lines,
            "parsed": s.parsed,
            "malformed": s.malformed,
            "skipped_lines": s.skipped_lines,
            "analysed": s.analysed,
            "probes": s.probes,
            "periodic_callers": s.periodic_callers,
            "verdict": s.verdict,
        });
        write_event(out, "heartbeat", if last { "final" } else { "running" }, &at_text, &heartbeat)?;
        out.flush()
    }
}

fn write_event(
    out: &mut dyn Write,
    event: &str,
    state: &str,
    at: &Option<String>,
    fields: &Value,
) -> io::Result<()> {
    let mut object = Map::new();
    object.insert("event".into(), Value::from(event));
    object.insert("state".into(), Value::from(state));
    object.insert("at".into(), at.as_deref().map_or(Value::Null, Value::from));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            object.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    super::json::write_line(&Value::Object(object), out)
}

/// A batch run's events: every finding appears, then the final heartbeat.
pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let at = report.span_ms.map(|(_, last)| last);
    Events::default().emit(report, at, true, out)
}
