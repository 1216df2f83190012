//! Orchestration: inputs → ingest → report, the messages on stderr, and the exit status.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::Analysis;
use crate::config::Config;
use crate::ingest::{self, IngestStats, InputStatus};
use crate::input::{Discovery, ReadBytes, Source, discover};
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
    /// 3: probes found under `--fail-on-probes`.
    Probes = 3,
}

/// Runs the analysis described by `config`, writing the report to stdout or `config.output`
/// and messages to `messages`.
///
/// # Errors
/// When the report cannot be written, or the thread pool cannot start.
pub fn run(config: &Config, messages: &mut dyn Write) -> anyhow::Result<Exit> {
    // Minutes of work are not spent on a report that cannot be written.
    if let Some(path) = &config.output {
        output_dir(path)?;
    }
    let Discovery { sources, problems } = discover(&config.paths);
    for p in &problems {
        if p.lost_input {
            let _ = writeln!(
                messages,
                "nginx-forensics: cannot read {}: {}",
                terminal(&p.source),
                terminal(&p.reason)
            );
        } else if !config.quiet {
            let _ =
                writeln!(messages, "nginx-forensics: note: {}: {}", terminal(&p.source), terminal(&p.reason));
        }
    }
    let mut ingest_options = config.ingest.clone();
    let progress = config.progress.then(|| {
        let read = ReadBytes::default();
        ingest_options.read_bytes = Some(read.clone());
        Progress::start(read, total_bytes(&sources))
    });
    let ingested = ingest::run(&sources, &ingest_options, || Analysis::new(&config.analysis));
    if let Some(p) = progress {
        p.stop();
    }
    let ingested = ingested?;
    let findings = ingested.detector.finish(&config.analysis);
    let judgement = config.probes.judge_all(&findings);
    let report = Report::new(&ingested.stats, &problems, &findings, &judgement);
    report_problems(&ingested.stats, config.quiet, messages);

    match &config.output {
        Some(path) => write_atomically(path, |w| report::render(&report, &config.render, w))
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            report::render(&report, &config.render, &mut out)?;
            out.flush()?;
        }
    }

    let lost = problems.iter().any(|p| p.lost_input) || ingested.stats.inputs.iter().any(|i| i.lost_data());
    // Nothing analysed is never an all-clear: the cron job hears of it.
    let nothing = report.summary.analysed == 0;
    if nothing && !config.quiet {
        let _ = writeln!(messages, "nginx-forensics: {}", terminal(&report.summary.verdict));
    }
    let strict_fail = config.strict && report.summary.malformed > 0;
    if strict_fail && config.quiet {
        let _ =
            writeln!(messages, "nginx-forensics: {} malformed line(s) (--strict)", report.summary.malformed);
    }
    let alarming =
        config.fail_on_probes.is_some_and(|least| judgement.probes.iter().any(|p| p.severity <= least));
    crate::analysis::drop_later((findings, report, judgement, ingested.stats));
    Ok(if lost || strict_fail || nothing {
        Exit::Error
    } else if alarming {
        Exit::Probes
    } else {
        Exit::Done
    })
}

/// Total size of the file inputs, `None` when stdin is among them (its size is unknown).
fn total_bytes(sources: &[Source]) -> Option<u64> {
    sources
        .iter()
        .map(|s| match s {
            Source::Stdin => None,
            Source::File(p) => Some(std::fs::metadata(p).map_or(0, |m| m.len())),
        })
        .sum()
}

/// A progress bar on stderr, drawn from a thread that watches the bytes read. It appears only
/// once a run has taken half a second, so short runs never flash one.
struct Progress {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(read: ReadBytes, total: Option<u64>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            // Drawn hidden from the start, so that the rate and ETA have a history when it shows.
            let (length, template) = match total {
                Some(t) => {
                    (Some(t), "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}")
                }
                None => (None, "{spinner} {binary_bytes} read, {binary_bytes_per_sec}"),
            };
            let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let started = Instant::now();
            let mut shown = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                bar.set_position(read.load(Ordering::Relaxed));
                if !shown && started.elapsed() >= Duration::from_millis(500) {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    shown = true;
                }
            }
            bar.finish_and_clear();
        });
        Progress { done, thread }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Skipped and unreadable inputs (one line each), the first bad lines of each input, and a total.
fn report_problems(stats: &IngestStats, quiet: bool, out: &mut dyn Write) {
    for input in &stats.inputs {
        let name = input.source.to_string();
        let name = terminal(&name);
        match &input.status {
            InputStatus::Skipped(why) if !quiet => {
                let _ = writeln!(out, "nginx-forensics: skipping {name}: {}", terminal(why));
            }
            InputStatus::Unreadable(why) => {
                let _ = writeln!(out, "nginx-forensics: cannot read {name}: {}", terminal(why));
            }
            InputStatus::Skipped(_) | InputStatus::Read(_) => {}
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
    if quiet {
        return;
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
    let dir = output_dir(path)?;
    // A new report gets the mode the umask gives (created 0666, masked as any file is); a
    // report replaced keeps the mode it had.
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    if let Ok(old) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(old.permissions())?;
    }
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}

/// The directory a report at `path` goes to, when it exists.
fn output_dir(path: &Path) -> anyhow::Result<&Path> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "cannot write {}: directory {} does not exist",
        path.display(),
        dir.display()
    );
    Ok(dir)
}
