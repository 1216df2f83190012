//! Ingest benchmarks on generated logs of the incident's format.
//!
//! `cargo bench --bench ingest` (set `NF_BENCH_LINES` for a bigger log; default 200,000 lines,
//! about 77 MB). Groups:
//! - `parse`, `parse_lines`: one line at a time through the JSON parser, bytes/s and lines/s:
//!   `json_lines` as nginx writes them (read by the previous line's layout), `json_lines_general`
//!   with every other line's layout changed (one space), so every line takes the general scanner;
//! - `cluster`: the clustering detector alone on parsed records (key, path template, stats,
//!   timeline), records/s and bytes of log/s; `cluster_scanner` the same on a scanner's log (a
//!   cluster per request);
//! - `ingest`: end to end from a file (read, chunk, parse, account), 1 and 2 threads, bytes/s;
//! - `analysis`: the same plus clustering and periodic detection (what the binary does), on the
//!   incident's log and on a scanner's log;
//! - `detect`: the periodic-caller detector alone on the labelled scenarios, timestamps/s.

#![allow(clippy::expect_used, reason = "a benchmark whose setup fails has nothing to measure")]
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nginx_forensics::analysis::cluster::Clusters;
use nginx_forensics::analysis::periodic::{PeriodicParams, detect};
use nginx_forensics::analysis::{Analysis, AnalysisOptions, TimeSpan};
use nginx_forensics::ingest::{self, IngestOptions};
use nginx_forensics::input::Source;
use nginx_forensics::parse::{FieldMap, Format, LineParser};
use nginx_forensics::synth::scenarios::{negatives, positives};
use nginx_forensics::synth::{incident_log, scanner_log};

fn lines() -> u64 {
    std::env::var("NF_BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

fn bench(c: &mut Criterion) {
    let mut log = Vec::new();
    let bytes = incident_log(lines(), 10.0, 1, &mut log).expect("generating into memory cannot fail");

    let line_count = log.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    // The same lines, every other one with `"status": "` written `"status":"`.
    let mixed: Vec<Vec<u8>> = log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let text = String::from_utf8_lossy(l);
            if i % 2 == 1 { text.replacen("\"status\": \"", "\"status\":\"", 1) } else { text.into_owned() }
                .into_bytes()
        })
        .collect();
    for (name, throughput) in
        [("parse", Throughput::Bytes(bytes)), ("parse_lines", Throughput::Elements(line_count))]
    {
        let mut group = c.benchmark_group(name);
        group.throughput(throughput);
        group.sample_size(10);
        group.bench_function("json_lines", |b| {
            let mut parser = LineParser::new(Format::Json, FieldMap::default());
            b.iter(|| {
                let mut ok = 0u64;
                for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    ok += u64::from(parser.parse(black_box(line)).is_ok());
                }
                ok
            });
        });
        group.bench_function("json_lines_general", |b| {
            let mut parser = LineParser::new(Format::Json, FieldMap::default());
            b.iter(|| {
                let mut ok = 0u64;
                for line in &mixed {
                    ok += u64::from(parser.parse(black_box(line.as_slice())).is_ok());
                }
                ok
            });
        });
        group.finish();
    }

    let mut scanner = Vec::new();
    let scanner_bytes = scanner_log(lines(), 1, &mut scanner).expect("generating into memory cannot fail");
    for (name, data) in [("cluster", &log), ("cluster_scanner", &scanner)] {
        let mut parser = LineParser::new(Format::Json, FieldMap::default());
        let records: Vec<_> = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| parser.parse(l).ok())
            .collect();
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        let units = [
            ("lines", Throughput::Elements(records.len() as u64)),
            ("bytes", Throughput::Bytes(data.len() as u64)),
        ];
        for (unit, throughput) in units {
            group.throughput(throughput);
            group.bench_function(format!("observe_{unit}"), |b| {
                b.iter(|| {
                    let mut clusters = Clusters::new(false);
                    for r in &records {
                        clusters.observe(black_box(r));
                    }
                    clusters.len()
                });
            });
        }
        group.finish();
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("access.log");
    let mut f = std::fs::File::create(&path).expect("temporary file");
    f.write_all(&log).expect("writing the temporary log");
    drop(f);
    let sources = [Source::File(path.clone())];
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    for threads in [1, 2] {
        let opts = IngestOptions { threads, ..IngestOptions::default() };
        group.bench_function(format!("file_{threads}_threads"), |b| {
            b.iter(|| ingest::run(&sources, &opts, TimeSpan::default).map(|o| o.stats.totals().parsed));
        });
    }
    group.finish();

    let scanner_path = dir.path().join("scanner.log");
    std::fs::write(&scanner_path, &scanner).expect("writing the temporary scanner log");
    let options = AnalysisOptions::default();
    let opts = IngestOptions::default();
    for (name, source, size) in
        [("file_2_threads", &path, bytes), ("scanner_file_2_threads", &scanner_path, scanner_bytes)]
    {
        let mut group = c.benchmark_group("analysis");
        group.throughput(Throughput::Bytes(size));
        group.sample_size(10);
        let sources = [Source::File(source.clone())];
        group.bench_function(name, |b| {
            b.iter(|| {
                ingest::run(&sources, &opts, || Analysis::new(&options))
                    .map(|o| o.detector.finish(&options).clusters.len())
            });
        });
        group.finish();
    }

    let mut scenarios = positives(1);
    scenarios.extend(negatives(1));
    let stamps: usize = scenarios.iter().map(|s| s.times.len()).sum();
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(stamps as u64));
    group.sample_size(10);
    let params = PeriodicParams::default();
    group.bench_function("scenarios", |b| {
        b.iter(|| {
            scenarios
                .iter()
                .map(|s| detect(&s.times, s.res_ms, s.times.len() as u64, &params).len())
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
