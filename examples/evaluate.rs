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

/// What the tool reported of a situation: its probes as (user agent, host, path, sessions a
/// day, severity), and the exit code under `--fail-on-probes`.
fn report(s: &Situation, dir: &std::path::Path) -> (Vec<(String, String, String, f64, String)>, Exit) {
    let log = dir.join(format!("{}.log", s.name));
    let out = dir.join(format!("{}.json", s.name));
    std::fs::write(&log, &s.log).expect("write the generated log");
    let args = ["nginx-forensics", "--format", "json", "--fail-on-probes", "-q", "-o"];
    let cli = Cli::try_parse_from(
        args.iter().copied().chain([out.to_str().unwrap_or(""), log.to_str().unwrap_or("")]),
    )
    .expect("valid flags");
    let config =
        cli.into_config(&Environment::batch(chrono::Utc::now().timestamp_millis())).expect("valid config");
    let exit = app::run(&config, &mut std::io::sink()).expect("a run");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("the report")).expect("JSON");
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let probes = report["probes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        text(&p["user_agent"]),
                        text(&p["host"]),
                        text(&p["path"]),
                        p["sessions_per_day"].as_f64().unwrap_or(0.0),
                        text(&p["severity"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (probes, exit)
}

/// Probe precision and recall over the situations of `seeds` seeds.
fn evaluate_probes(seeds: u64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut tp, mut fp, mut fns, mut within, mut alarms_right, mut cases) = (0, 0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for seed in 1..=seeds {
        for s in situations(seed) {
            cases += 1;
            let (found, exit) = report(&s, dir.path());
            for ((ua, host, path), truth) in &s.probes {
                match found.iter().find(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str()) == (*ua, *host, *path))
                {
                    Some(f) => {
                        tp += 1;
                        if (f.3 - truth).abs() <= 0.15 * truth {
                            within += 1;
                        } else {
                            failures.push(format!(
                                "seed {seed} {}: {ua} {path}: {} sessions/day, true {truth}",
                                s.name, f.3
                            ));
                        }
                    }
                    None => {
                        fns += 1;
                        failures
                            .push(format!("seed {seed} {}: missed {ua} {host} {path} ({})", s.name, s.rule));
                    }
                }
            }
            for f in &found {
                if !s.probes.iter().any(|((ua, host, path), _)| {
                    (f.0.as_str(), f.1.as_str(), f.2.as_str()) == (*ua, *host, *path)
                }) {
                    fp += 1;
                    failures.push(format!(
                        "seed {seed} {}: false probe {} {} {} [{}] ({})",
                        s.name, f.0, f.1, f.2, f.4, s.rule
                    ));
                }
            }
            // `--fail-on-probes` at its default severity: on when a caller creates sessions in
            // earnest (at least one a day for every 100 of its... any count over 100 a day).
            let should = s.probes.iter().any(|(_, truth)| *truth >= 100.0);
            let fired = exit == Exit::Probes;
            if should == fired {
                alarms_right += 1;
            } else {
                failures.push(format!(
                    "seed {seed} {}: --fail-on-probes {} ({})",
                    s.name,
                    if fired { "fired" } else { "silent" },
                    s.rule
                ));
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
    for f in &failures {
        println!("  {f}");
    }
}

fn main() {
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
    evaluate_probes((seeds / 5).max(2));
}
