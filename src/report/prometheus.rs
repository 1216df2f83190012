//! The report as Prometheus text (exposition format 0.0.4), for node_exporter's textfile
//! collector: the probes with what they cost, and what the run read.
//!
//! Series are bounded: one set per listed probe (`--max-clusters`). Label values are escaped as
//! the format asks (`\\`, `\"`, `\n`); a probe's labels are its user agent, host, path and
//! severity, plus `caller` when one key has several callers.

use std::collections::HashMap;
use std::io::{self, Write};

use super::Report;

/// A label value, escaped for the exposition format.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A per-probe family: its name, its help, and the value of a probe.
type PerProbe = (&'static str, &'static str, fn(&super::ProbeReport) -> f64);

fn family(out: &mut dyn Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// A number as the format writes it.
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "NaN".into()
    }
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    // Each probe's labels; a second caller on the same key gets `caller="1"` and so on.
    let mut seen: HashMap<(&Option<String>, &Option<String>, &str), usize> = HashMap::new();
    let labels: Vec<String> = report
        .probes
        .iter()
        .map(|p| {
            let n = seen.entry((&p.user_agent, &p.host, p.path.as_str())).or_insert(0);
            let caller = if *n == 0 { String::new() } else { format!(",caller=\"{n}\"") };
            *n += 1;
            format!(
                "user_agent=\"{}\",host=\"{}\",path=\"{}\",severity=\"{}\"{caller}",
                label(p.user_agent.as_deref().unwrap_or("")),
                label(p.host.as_deref().unwrap_or("")),
                label(&p.path),
                p.severity.as_str()
            )
        })
        .collect();
    let per_probe: [PerProbe; 4] = [
        ("nginx_forensics_probe_sessions_per_day", "Sessions a probe creates per day (estimated).", |p| {
            p.sessions_per_day
        }),
        ("nginx_forensics_probe_requests", "Requests of a probe in the analysed log.", |p| p.requests as f64),
        ("nginx_forensics_probe_period_seconds", "A probe's period.", |p| p.period_seconds),
        (
            "nginx_forensics_probe_not_seen_seconds",
            "Log time since a probe's last request, once it is gone from its host's log (0 while seen).",
            |p| f64::from(p.not_seen_for_seconds.unwrap_or(0)),
        ),
    ];
    family(out, "nginx_forensics_probes", "gauge", "Probes that create sessions (all, listed or not).")?;
    writeln!(out, "nginx_forensics_probes {}", s.probes)?;
    for (name, help, value) in per_probe {
        family(out, name, "gauge", help)?;
        for (p, l) in report.probes.iter().zip(&labels) {
            writeln!(out, "{name}{{{l}}} {}", number(value(p)))?;
        }
    }
    family(out, "nginx_forensics_periodic_callers", "gauge", "Fixed-interval callers found.")?;
    writeln!(out, "nginx_forensics_periodic_callers {}", s.periodic_callers)?;
    family(
        out,
        "nginx_forensics_unjudged_callers",
        "gauge",
        "Fixed-interval callers the log cannot judge (no status and no Set-Cookie logged).",
    )?;
    writeln!(out, "nginx_forensics_unjudged_callers {}", s.unjudged_callers)?;
    family(out, "nginx_forensics_lines", "gauge", "Lines read, by what became of them.")?;
    for (kind, n) in [("parsed", s.parsed), ("malformed", s.malformed), ("skipped", s.skipped_lines)] {
        writeln!(out, "nginx_forensics_lines{{kind=\"{kind}\"}} {n}")?;
    }
    family(
        out,
        "nginx_forensics_analysed_records",
        "gauge",
        "Records analysed (0: nothing was, never an all-clear).",
    )?;
    writeln!(out, "nginx_forensics_analysed_records {}", s.analysed)?;
    family(
        out,
        "nginx_forensics_inputs_lost",
        "gauge",
        "Inputs that could not be read, at all or to their end.",
    )?;
    writeln!(out, "nginx_forensics_inputs_lost {}", s.inputs.iter().filter(|i| i.error.is_some()).count())?;
    family(
        out,
        "nginx_forensics_folded_clusters",
        "gauge",
        "Clusters folded into counts to stay within --max-memory.",
    )?;
    writeln!(out, "nginx_forensics_folded_clusters {}", s.folded.clusters)?;
    if let Some((_, last)) = report.span_ms {
        family(
            out,
            "nginx_forensics_last_record_timestamp_seconds",
            "gauge",
            "Log time of the latest record.",
        )?;
        writeln!(out, "nginx_forensics_last_record_timestamp_seconds {}", number(last as f64 / 1000.0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label("Go-http-client/1.1"), "Go-http-client/1.1");
    }
}
