//! Orchestration: inputs → ingest → report, the messages on stderr, and the exit status.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;

use crate::analysis::Analysis;
use crate::config::Config;
use crate::ingest::{self, IngestStats, InputStatus};
use crate::input::{Discovery, discover};
use crate::report::escape::terminal;
use crate::report::{self, Report};

/// How a run ended, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Done = 0,
    /// 1: an input could not be read, or `--strict` and malformed lines.
    Error = 1,
    /// 2: usage.
    Usage = 2,
}

/// Runs the analysis described by `config`, writing the report to stdout or `config.output`
/// and messages to `messages`.
///
/// # Errors
/// When the report cannot be written, or the thread pool cannot start.
pub fn run(config: &Config, messages: &mut dyn Write) -> anyhow::Result<Exit> {
    let Discovery { sources, problems } = discover(&config.paths);
    for p in &problems {
        let what = if p.lost_input { "cannot read" } else { "note:" };
        let _ =
            writeln!(messages, "nginx-forensics: {what} {}: {}", terminal(&p.source), terminal(&p.reason));
    }
    let ingested = ingest::run(&sources, &config.ingest, || Analysis::new(&config.analysis))?;
    let findings = ingested.detector.finish(&config.analysis);
    let probes = config.probes.find(&findings);
    let report = Report::new(&ingested.stats, &findings, &probes);
    report_problems(&ingested.stats, messages);

    match &config.output {
        Some(path) => write_atomically(path, |w| report::render(&report, config.format, config.top, w))
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            report::render(&report, config.format, config.top, &mut out)?;
            out.flush()?;
        }
    }

    let lost = problems.iter().any(|p| p.lost_input) || ingested.stats.inputs.iter().any(|i| i.lost_data());
    let strict_fail = config.strict && report.summary.malformed > 0;
    Ok(if lost || strict_fail { Exit::Error } else { Exit::Done })
}

/// Skipped and unreadable inputs (one line each), the first bad lines of each input, and a total.
fn report_problems(stats: &IngestStats, out: &mut dyn Write) {
    for input in &stats.inputs {
        let name = input.source.to_string();
        let name = terminal(&name);
        match &input.status {
            InputStatus::Skipped(why) => {
                let _ = writeln!(out, "nginx-forensics: skipping {name}: {}", terminal(why));
            }
            InputStatus::Unreadable(why) => {
                let _ = writeln!(out, "nginx-forensics: cannot read {name}: {}", terminal(why));
            }
            InputStatus::Read(_) => {}
        }
        if let Some(e) = &input.read_error {
            let _ = writeln!(
                out,
                "nginx-forensics: {name}: read error after line {}: {}",
                input.counts.lines,
                terminal(e)
            );
        }
    }
    for s in &stats.samples {
        let name = stats.inputs[s.input].source.to_string();
        let _ = writeln!(out, "{}:{}: {}", terminal(&name), s.line, terminal(&s.reason));
    }
    let t = stats.totals();
    if t.malformed > 0 || t.too_long > 0 {
        let with = stats.inputs.iter().filter(|i| i.counts.malformed > 0 || i.counts.too_long > 0).count();
        let _ = writeln!(
            out,
            "nginx-forensics: {} of {} lines malformed, {} over the length limit (skipped), in {with} input(s)",
            t.malformed, t.lines, t.too_long
        );
    }
}

/// Writes a file through a temporary file in the same directory, renamed into place.
fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}
