//! Evaluates the periodic-caller detector on labelled scenarios (precision, recall, period
//! error), then the probe rules on generated probing situations through the whole tool
//! (precision, recall, sessions per day within 15 %, `--fail-on-probes`).
//!
//! `cargo run --release --example evaluate -- 50` runs seeds 1..=50 (default 10) of the periodic
//! scenarios and a fifth as many (at least 2) of the probing situations, and prints the totals,
//! the failures, and one seed's findings in detail.

use clap::Parser;
use nginx_forensics::analysis::periodic::{PeriodicParams, detect};
use nginx_forensics::app::{self, Exit};
use nginx_forensics::cli::{Cli, Environment};
use nginx_forensics::synth::probes::{Situation, situations};
use nginx_forensics::synth::scenarios::{Evaluation, Scenario, evaluate, negatives, positives};

fn run(s: &Scenario) -> Vec<(f64, usize)> {
    detect(&s.times, s.res_ms, s.times.len() as u64, &PeriodicParams::default())
        .into_iter()
        .map(|p| (p.period_ms, p.phases))
        .collect()
}

/// A probe the tool reported.
struct Found {
    key: (String, String, String),
    sessions_per_day: f64,
    severity: String,
    /// Said to be gone from the end of the log: every situation's callers run to its end.
    gone: bool,
}

/// What the tool reported of a situation (run as a user would, through a JSON report file),
/// and its exit code under `--fail-on-probes`.
fn report(s: &Situation, dir: &std::path::Path) -> anyhow::Result<(Vec<Found>, Exit)> {
    let log = dir.join(format!("{}.log", s.name));
    let out = dir.join(format!("{}.json", s.name));
    std::fs::write(&log, &s.log)?;
    let args = ["nginx-forensics", "--format", "json", "--fail-on-probes", "-q", "-o"];
    let paths = [out.to_string_lossy().into_owned(), log.to_string_lossy().into_owned()];
    let cli = Cli::try_parse_from(args.iter().map(|a| (*a).to_owned()).chain(paths))?;
    let config = cli.into_config(&Environment::batch(chrono::Utc::now().timestamp_millis()))?;
    let exit = app::run(&config, &mut std::io::sink())?;
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let found = report["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Found {
            key: (text(&p["user_agent"]), text(&p["host"]), text(&p["path"])),
            sessions_per_day: p["sessions_per_day"].as_f64().unwrap_or(0.0),
            severity: text(&p["severity"]),
            gone: p["reasons"].to_string().contains("note: not seen in the log's last"),
        })
        .collect();
    Ok((found, exit))
}

/// Probe precision and recall, sessions a day and `--fail-on-probes` over the situations of
/// `seeds` seeds.
fn evaluate_probes(seeds: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut tp, mut fp, mut fns, mut within, mut alarms_right, mut cases) = (0, 0, 0, 0, 0, 0);
    let mut gone = 0;
    let mut failures = Vec::new();
    let owned =
        |(ua, host, path): &(&str, &str, &str)| ((*ua).to_owned(), (*host).to_owned(), (*path).to_owned());
    for seed in 1..=seeds {
        for s in situations(seed) {
            cases += 1;
            let (found, exit) = report(&s, dir.path())?;
            for (key, truth) in &s.probes {
                match found.iter().find(|f| f.key == owned(key)) {
                    Some(f) if (f.sessions_per_day - truth).abs() <= 0.15 * truth => {
                        tp += 1;
                        within += 1;
                    }
                    Some(f) => {
                        tp += 1;
                        failures.push(format!(
                            "seed {seed} {}: {key:?}: {} sessions/day, true {truth}",
                            s.name, f.sessions_per_day
                        ));
                    }
                    None => {
                        fns += 1;
                        failures.push(format!("seed {seed} {}: missed {key:?} ({})", s.name, s.rule));
                    }
                }
            }
            for f in found.iter().filter(|f| f.gone) {
                gone += 1;
                failures.push(format!(
                    "seed {seed} {}: {:?} said gone, though it runs to the end",
                    s.name, f.key
                ));
            }
            for f in found.iter().filter(|f| !s.probes.iter().any(|(key, _)| f.key == owned(key))) {
                fp += 1;
                failures.push(format!(
                    "seed {seed} {}: false probe {:?} [{}] ({})",
                    s.name, f.key, f.severity, s.rule
                ));
            }
            // `--fail-on-probes` at its default severity fires when a caller makes 100 sessions
            // a day or more, and only then.
            let should = s.probes.iter().any(|(_, truth)| *truth >= 100.0);
            let fired = exit == Exit::Probes;
            if should == fired {
                alarms_right += 1;
            } else {
                let what = if fired { "fired" } else { "stayed silent" };
                failures.push(format!("seed {seed} {}: --fail-on-probes {what} ({})", s.name, s.rule));
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!("\nprobe situations: {cases} ({seeds} seeds)");
    println!("true positives {tp}, false positives {fp}, false negatives {fns}");
    println!(
        "precision {:.4}, recall {:.4}, sessions/day within 15 %: {within} of {tp}, --fail-on-probes right: {alarms_right} of {cases}",
        ratio(tp, tp + fp),
        ratio(tp, tp + fns)
    );
    println!("probes said gone from the end of the log, though they run to it: {gone}");
    for f in &failures {
        println!("  {f}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let seeds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut total = Evaluation::default();
    let mut errors = Vec::new();
    let mut scenarios = 0;
    for seed in 1..=seeds {
        let mut all = positives(seed);
        all.extend(negatives(seed));
        scenarios += all.len();
        let e = evaluate(&all, run);
        total.true_positives += e.true_positives;
        total.false_positives += e.false_positives;
        total.false_negatives += e.false_negatives;
        total.max_period_error = total.max_period_error.max(e.max_period_error);
        errors.push(e.mean_period_error);
        for f in e.failures {
            total.failures.push(format!("seed {seed}: {f}"));
        }
    }
    total.mean_period_error = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    println!("seeds: {seeds}, scenarios: {scenarios}");
    println!(
        "true positives {}, false positives {}, false negatives {}",
        total.true_positives, total.false_positives, total.false_negatives
    );
    println!(
        "precision {:.4}, recall {:.4}, mean period error {:.5} %, worst {:.4} %",
        total.precision(),
        total.recall(),
        100.0 * total.mean_period_error,
        100.0 * total.max_period_error
    );
    for f in &total.failures {
        println!("  {f}");
    }
    println!("\nseed 1 in detail:");
    let mut all = positives(1);
    all.extend(negatives(1));
    for s in &all {
        let found = detect(&s.times, s.res_ms, s.times.len() as u64, &PeriodicParams::default());
        let shown: Vec<String> = found
            .iter()
            .map(|p| {
                format!(
                    "{:.3} s × {} (restarts {}, jitter {:.3} s, coverage {:.2}, fraction {:.2}, confidence {:.2} = S {:.2} T {:.2} C {:.2})",
                    p.period_ms / 1000.0,
                    p.phases,
                    p.restarts,
                    p.jitter_ms / 1000.0,
                    p.coverage,
                    p.periodic_fraction,
                    p.confidence,
                    p.significance,
                    p.tightness,
                    p.coverage_factor
                )
            })
            .collect();
        println!(
            "  {:<40} {:>6} hits: {}",
            s.name,
            s.times.len(),
            if shown.is_empty() { "-".into() } else { shown.join("; ") }
        );
    }
    evaluate_probes((seeds / 5).max(2))
}
