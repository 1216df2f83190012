//! Orchestration: inputs → ingest → report, the messages on stderr, and the exit status.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::Analysis;
use crate::config::Config;
use crate::ingest::SharedInputs;
use crate::ingest::{self, IngestStats, InputStatus};
use crate::input::{Discovery, Live, ReadBytes, Source, discover};
use crate::live::{Emitter, Window};
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
    } else {
        stdout_is_open()?;
    }
    let live = config.live.filter(|l| l.follow).map(|_| Live::default());
    let Discovery { sources, problems } = discover(&config.paths, config.output.as_deref());
    // A batch run reading a stream on stdin (`tail -F access.log | nginx-forensics`) reports
    // when the stream ends; Ctrl-C ends the writer too, so the first SIGINT lets the stream
    // end and the report be made rather than losing it.
    let stdin_stream =
        live.is_none() && sources.iter().any(|s| matches!(s, Source::Stdin)) && !stdin_is_a_file();
    if stdin_stream {
        STDIN_STREAM.store(StreamState::Reading as u8, Ordering::SeqCst);
    }
    if config.output.is_some() || live.is_some() || stdin_stream {
        handle_signals(live.clone());
    }
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
        Progress::start(read, total_bytes(&sources), stdin_stream)
    });
    let mut emitter = None;
    let ingested = match config.live {
        None => {
            // The workers' clusters go to one table once there are many: the total, made apart,
            // is where the workers' tables and that one are merged.
            let joint = Arc::new(crate::analysis::cluster::JointTable::default());
            let make = || Analysis::joining(&config.analysis, &joint);
            let mut ingested =
                ingest::run_into(&sources, &ingest_options, make, Analysis::new(&config.analysis));
            // Nothing is left in it: every worker's table is merged into the total. Were one not,
            // its clusters would still be counted rather than lost.
            let rest = joint.rest(config.analysis.raw_paths);
            debug_assert!(rest.is_empty(), "the joint table is merged into the total");
            if let Ok(ingested) = &mut ingested {
                ingested.detector.clusters.merge(rest);
            }
            ingested
        }
        Some(options) => {
            let shared = SharedInputs::default();
            ingest_options.follow = live.clone();
            ingest_options.slot_ms = Some(options.every_ms);
            ingest_options.history_slot_ms = Some(options.pane_ms());
            ingest_options.live_inputs = Some(shared.clone());
            let emitting = Emitter::new(Arc::new(config.clone()), options, shared, problems.clone())
                .with_context(|| "opening the events output")?;
            // Reports before the last are only made where they are shown; a report on standard
            // output is printed once, below.
            let shown = emitting.shows_each_report();
            let emit = Arc::new(std::sync::Mutex::new(emitting));
            emitter = Some(emit.clone());
            let analysis = Arc::new(config.analysis.clone());
            let total = Window::new(analysis.clone(), &options, shown.then_some(emit));
            let make = || Window::new(analysis.clone(), &options, None);
            ingest::run_into(&sources, &ingest_options, make, total)
                .map(|i| ingest::Ingested { stats: i.stats, detector: i.detector.snapshot() })
        }
    };
    if let Some(p) = progress {
        p.stop();
    }
    let mut ingested = ingested?;
    if stdin_stream && stream_was_interrupted() {
        // What the stream sent before it is analysed, and the run says it was cut short.
        if let Some(stdin) = ingested.stats.inputs.iter_mut().find(|i| matches!(i.source, Source::Stdin)) {
            stdin.interrupt();
        }
    }
    let Analysed { findings, judgement, report } =
        analyse(config, &ingested.stats, &problems, ingested.detector);
    report_problems(&ingested.stats, config.quiet, messages);

    let events = config.render.format == report::OutputFormat::Events;
    match &config.output {
        _ if events && emitter.is_some() => {
            // The final events: what changed since the last emission, and the final heartbeat.
            let at = findings.span.map(|(_, last)| last);
            if let Some(mut emit) = emitter.as_ref().and_then(|e| e.lock().ok()) {
                emit.emit_report(&report, at, true);
            }
        }
        Some(path) => write_report(path, |w| report::render(&report, &config.render, w))
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            report::render(&report, &config.render, &mut out)?;
            out.flush()?;
        }
    }
    if let Some(emit) = emitter.as_ref().and_then(|e| e.lock().ok()) {
        if let Some(e) = &emit.error {
            let _ = writeln!(messages, "nginx-forensics: writing a live report: {}", terminal(e));
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
        config.fail_on_probes.is_some_and(|least| judgement.worst().is_some_and(|worst| worst <= least));
    crate::analysis::drop_later((findings, report, judgement, ingested.stats));
    Ok(if lost || strict_fail || nothing {
        Exit::Error
    } else if alarming {
        Exit::Probes
    } else {
        Exit::Done
    })
}

/// What the analysis of a run (or of a live window) decided, and its report.
pub(crate) struct Analysed {
    pub(crate) findings: crate::analysis::Findings,
    pub(crate) judgement: crate::analysis::probe::Judgement,
    pub(crate) report: Report,
}

/// Analyses what the ingest gathered, judges every periodic caller and builds the report (with
/// the HTML pictures only for the HTML report).
pub(crate) fn analyse(
    config: &Config,
    stats: &IngestStats,
    problems: &[crate::input::InputProblem],
    analysis: Analysis,
) -> Analysed {
    let findings = analysis.finish(&config.analysis);
    let judgement = config.probes.judge_all(&findings);
    let mut report = Report::new(stats, problems, &findings, &judgement);
    if config.render.format == report::OutputFormat::Html {
        report.draw_activity(&findings, &judgement);
    }
    Analysed { findings, judgement, report }
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
    /// `stream`: a stream on stdin is read, which a first Ctrl-C lets end and be reported.
    fn start(read: ReadBytes, total: Option<u64>, stream: bool) -> Self {
        PROGRESS_TELLS_OF_INTERRUPTS.store(stream, Ordering::SeqCst);
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            // Drawn hidden from the start, so that the rate and ETA have a history when it shows.
            let (length, template) = match total {
                Some(t) => {
                    (Some(t), "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}")
                }
                None if stream => (
                    None,
                    "{spinner} {binary_bytes} read, {binary_bytes_per_sec}: reported when stdin ends or on Ctrl-C",
                ),
                None => (None, "{spinner} {binary_bytes} read, {binary_bytes_per_sec}"),
            };
            let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let started = Instant::now();
            let mut shown = false;
            let mut told = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                bar.set_position(read.load(Ordering::Relaxed));
                if stream && !told && STDIN_STREAM.load(Ordering::SeqCst) == StreamState::Interrupted as u8 {
                    told = true;
                    if shown {
                        bar.println(INTERRUPTED);
                    } else {
                        eprintln!("{INTERRUPTED}");
                    }
                }
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
/// Writes the report to `path`: through a temporary file renamed over it when `path` is a
/// regular file or does not exist (a killed run never leaves half a report); directly into a
/// device, a FIFO or a socket (`-o /dev/null`, `-o /dev/stdout` stay what they are); and for a
/// symlink, to the file it points to, leaving the link in place.
pub(crate) fn write_report(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(real) if real.is_file() => write_atomically(&real, write),
            _ => write_directly(path, write),
        },
        Ok(m) if !m.is_file() => write_directly(path, write),
        _ => write_atomically(path, write),
    }
}

/// Writes into `path` as it is (a device, a FIFO, what a symlink points to).
fn write_directly(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    let mut w = io::BufWriter::new(file);
    write(&mut w)?;
    w.flush()?;
    Ok(())
}

/// What a first Ctrl-C on a stream on stdin prints.
const INTERRUPTED: &str = "nginx-forensics: interrupted: standard input is reported when it ends (interrupt again to quit without a report)";

/// A progress line is drawn for a stream on stdin, and prints [`INTERRUPTED`] above itself.
static PROGRESS_TELLS_OF_INTERRUPTS: AtomicBool = AtomicBool::new(false);

/// Where a batch run reading a stream on stdin is ([`StreamState`] as a number).
static STDIN_STREAM: AtomicU8 = AtomicU8::new(StreamState::None as u8);

/// A batch run's stream on stdin: the first SIGINT while it is read lets it end and be reported.
#[repr(u8)]
enum StreamState {
    /// No stream on stdin, or under `--follow` (which has its own way to stop).
    None,
    /// Being read: a SIGINT marks it interrupted.
    Reading,
    /// Interrupted while read: the report says so; another SIGINT quits.
    Interrupted,
    /// Read to its end: a SIGINT quits, as in any batch run.
    Read,
}

/// Set by the SIGINT handler itself, at delivery: the thread that acts on signals may run only
/// after the stream has ended (Ctrl-C ends its writer too), and must then not take the Ctrl-C
/// that cut the stream short for a second one.
static SIGINT_DELIVERED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Once a batch run's stream on stdin has ended: whether a SIGINT cut it short. Such a stream
/// stays `Interrupted` (the signal thread, if it has not yet acted on that SIGINT, then lets it
/// pass, and quits on the next); one that ended by itself becomes `Read`, where a SIGINT quits.
fn stream_was_interrupted() -> bool {
    let (reading, interrupted) = (StreamState::Reading as u8, StreamState::Interrupted as u8);
    let delivered = SIGINT_DELIVERED.get().is_some_and(|d| d.load(Ordering::SeqCst));
    let next = if delivered { interrupted } else { StreamState::Read as u8 };
    match STDIN_STREAM.compare_exchange(reading, next, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => delivered,
        Err(now) => now == interrupted,
    }
}

/// Whether standard input is a regular file (`< access.log`), which ends by itself.
fn stdin_is_a_file() -> bool {
    #[cfg(unix)]
    {
        rustix::fs::fstat(io::stdin()).is_ok_and(|s| {
            rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::RegularFile
        })
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The temporary file a report is being written to, removed when the run is interrupted.
static WRITING: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// On SIGINT or SIGTERM, removes the report being written (if any) and exits as the signal
/// would have (128 + its number): no `.tmpXXXXXX` is left beside the reports.
///
/// Under `--follow` (`live`), the first SIGINT or SIGTERM asks the inputs to stop instead, so
/// that the final report is written and the run exits 0 (a second one exits at once), and SIGHUP
/// asks followed files to look at their paths again.
fn handle_signals(live: Option<Live>) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let wanted: &[i32] = if live.is_some() { &[SIGINT, SIGTERM, SIGHUP] } else { &[SIGINT, SIGTERM] };
        if live.is_none() && STDIN_STREAM.load(Ordering::SeqCst) == StreamState::Reading as u8 {
            let delivered = SIGINT_DELIVERED.get_or_init(|| Arc::new(AtomicBool::new(false)));
            let _ = signal_hook::flag::register(SIGINT, delivered.clone());
        }
        if let Ok(mut signals) = signal_hook::iterator::Signals::new(wanted) {
            std::thread::spawn(move || {
                let mut first_sigint = true;
                for signal in signals.forever() {
                    let (reading, interrupted) = (StreamState::Reading as u8, StreamState::Interrupted as u8);
                    let first = signal == SIGINT && std::mem::replace(&mut first_sigint, false);
                    match &live {
                        Some(l) if signal == SIGHUP => l.reopen(),
                        Some(l) if !l.stopped() => l.stop(),
                        None if signal == SIGINT
                            && STDIN_STREAM
                                .compare_exchange(reading, interrupted, Ordering::SeqCst, Ordering::SeqCst)
                                .is_ok() =>
                        {
                            // A progress line would draw over it: the progress thread says it.
                            if !PROGRESS_TELLS_OF_INTERRUPTS.load(Ordering::SeqCst) {
                                let _ = writeln!(io::stderr(), "{INTERRUPTED}");
                            }
                        }
                        // The Ctrl-C that cut the stream short, acted on after the stream ended:
                        // already counted (`stream_was_interrupted`), so the report goes on.
                        None if first && STDIN_STREAM.load(Ordering::SeqCst) == interrupted => {}
                        _ => {
                            if let Some(partial) = WRITING.lock().ok().and_then(|mut w| w.take()) {
                                let _ = std::fs::remove_file(partial);
                            }
                            std::process::exit(128 + signal);
                        }
                    }
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = live;
}

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
    if let Ok(mut w) = WRITING.lock() {
        *w = Some(tmp.path().to_path_buf());
    }
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
    if let Ok(mut w) = WRITING.lock() {
        *w = None;
    }
    Ok(())
}

/// An error when standard output was closed (`>&-`): the report would go nowhere. The
/// standard library opens `/dev/null` read-write in place of a closed standard descriptor at
/// start, where a shell's `> /dev/null` opens it write-only; that is how the two are told apart.
fn stdout_is_open() -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{FileType, OFlags};
        let out = io::stdout();
        let stat = rustix::fs::fstat(&out).ok();
        let is_null = stat.is_some_and(|s| {
            FileType::from_raw_mode(s.st_mode) == FileType::CharacterDevice
                && rustix::fs::major(s.st_rdev) == 1
                && rustix::fs::minor(s.st_rdev) == 3
        });
        let read_write = rustix::fs::fcntl_getfl(&out).is_ok_and(|f| f.contains(OFlags::RDWR));
        anyhow::ensure!(!(is_null && read_write), "standard output is closed: nowhere to write the report");
    }
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
