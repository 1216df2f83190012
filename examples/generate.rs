//! Writes a synthetic log in the incident's format to stdout.
//!
//! `cargo run --release --example generate -- 1000000 > /tmp/incident-1m.log`
//! Arguments: lines (default 100000), browser requests per second (default 10), seed (default 1).
//! With `--scanner` first: every other line a scanner's request to a new path (a cluster each).

use std::io::{self, Write};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let scanner = args.next_if(|a| a == "--scanner").is_some();
    let lines = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rate = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if scanner {
        nginx_forensics::synth::scanner_log(lines, seed, &mut out)?;
    } else {
        nginx_forensics::synth::incident_log(lines, rate, seed, &mut out)?;
    }
    out.flush()
}
