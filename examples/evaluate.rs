//! Evaluates the periodic-caller detector on labelled scenarios: precision, recall, period error.
//!
//! `cargo run --release --example evaluate -- 50` runs seeds 1..=50 (default 10) and prints the
//! totals, the failures, and one seed's findings in detail.

use nginx_forensics::analysis::periodic::{PeriodicParams, detect};
use nginx_forensics::synth::scenarios::{Evaluation, Scenario, evaluate, negatives, positives};

fn run(s: &Scenario) -> Vec<(f64, usize)> {
    detect(&s.times, s.res_ms, s.times.len() as u64, &PeriodicParams::default())
        .into_iter()
        .map(|p| (p.period_ms, p.phases))
        .collect()
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
}
