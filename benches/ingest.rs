//! Ingest benchmarks on generated logs of the incident's format.
//!
//! `cargo bench --bench ingest` (set `NF_BENCH_LINES` for a bigger log; default 200,000 lines,
//! about 77 MB). Groups:
//! - `parse`: one line at a time through [`parse_line`]'s parser, bytes/s;
//! - `ingest`: end to end from a file (read, chunk, parse, account), 1 and 2 threads, bytes/s.

#![allow(clippy::expect_used, reason = "a benchmark whose setup fails has nothing to measure")]
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nginx_forensics::analysis::TimeSpan;
use nginx_forensics::ingest::{self, IngestOptions};
use nginx_forensics::input::Source;
use nginx_forensics::parse::{FieldMap, Format, LineParser};
use nginx_forensics::synth::incident_log;

fn lines() -> u64 {
    std::env::var("NF_BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

fn bench(c: &mut Criterion) {
    let mut log = Vec::new();
    let bytes = incident_log(lines(), 10.0, 1, &mut log).expect("generating into memory cannot fail");

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes));
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
    group.finish();

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("access.log");
    let mut f = std::fs::File::create(&path).expect("temporary file");
    f.write_all(&log).expect("writing the temporary log");
    drop(f);
    let sources = [Source::File(path)];
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
