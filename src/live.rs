//! Reporting as the log goes (`--follow`, `--replay`): a sliding window of log time, and what is
//! emitted every `--every`.
//!
//! The ingest cuts every worker's observations at each `--every` of log time and merges them in
//! input order (see [`crate::ingest::IngestOptions::slot_ms`]); before the first observations of
//! a later slot, the [`Window`] total hands the findings of its window to an [`Emitter`]. The
//! window is kept as panes (a quarter of it each, in whole `--every`s): a pane is dropped whole
//! once it ends before the window starts, so memory is bounded by the window and statistics
//! stay exact for what is kept (between the window and the window plus one pane of log time).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::analysis::{Analysis, AnalysisOptions, Detector};
use crate::config::{Config, LiveOptions};
use crate::ingest::{IngestStats, SharedInputs};
use crate::input::InputProblem;
use crate::model::Record;
use crate::report::events::Events;
use crate::report::{self, OutputFormat, Report};

/// What a [`Window`] calls with the analysis of its window and the log time it is as of.
pub type Emit = Arc<Mutex<Emitter>>;

/// The analysis of a sliding window of log time: a detector.
pub struct Window {
    options: Arc<AnalysisOptions>,
    slot_ms: i64,
    window_ms: i64,
    pane_ms: i64,
    /// What a worker observes into; in the total, what came before the first slot.
    current: Analysis,
    /// The total's panes: (pane number, its analysis), oldest first.
    panes: VecDeque<(i64, Analysis)>,
    /// The total's emitter, when the reports before the last are shown
    /// ([`Emitter::shows_each_report`]); workers have none.
    emit: Option<Emit>,
    /// Under `--follow`: no report is made until the inputs' history is read
    /// ([`Detector::history_read`]); with `--replay`, every slot is reported.
    waiting_for_history: bool,
    /// The log time of the history's report: a slot mark at or before it is not reported again
    /// (records after that report and before the next mark go in the next report), so the
    /// reports' times only go forward.
    history_reported_at: Option<i64>,
}

impl Window {
    /// A window: a worker's, or the total's, which hands its reports to `emit` when given one.
    #[must_use]
    pub fn new(options: Arc<AnalysisOptions>, live: &LiveOptions, emit: Option<Emit>) -> Self {
        let options = Arc::new(AnalysisOptions {
            max_memory: options.max_memory.map(|budget| pane_budget(budget, live)),
            ..(*options).clone()
        });
        Window {
            current: Analysis::new(&options),
            options,
            slot_ms: live.every_ms.max(1),
            window_ms: live.window_ms,
            pane_ms: live.pane_ms(),
            panes: VecDeque::new(),
            emit,
            waiting_for_history: live.follow,
            history_reported_at: None,
        }
    }

    /// The analysis of the window: every pane kept, merged.
    #[must_use]
    pub fn snapshot(&self) -> Analysis {
        let mut all = Analysis::new(&self.options);
        all.merge(self.current.clone());
        let mut folded_most = self.current.clusters.folded().most_requests;
        for (_, pane) in &self.panes {
            folded_most += pane.clusters.folded().most_requests;
            all.merge(pane.clone());
        }
        all.clusters.folded_at_most(folded_most);
        all
    }

    fn latest(&mut self) -> &mut Analysis {
        match self.panes.back_mut() {
            Some((_, pane)) => pane,
            None => &mut self.current,
        }
    }
}

impl Detector for Window {
    fn observe(&mut self, record: &Record<'_>) {
        self.current.observe(record);
    }

    fn merge(&mut self, other: Self) {
        self.latest().merge(other.current);
    }

    fn split_off(&mut self) -> Self {
        Window {
            options: self.options.clone(),
            slot_ms: self.slot_ms,
            window_ms: self.window_ms,
            pane_ms: self.pane_ms,
            current: self.current.split_off(),
            panes: VecDeque::new(),
            emit: None,
            waiting_for_history: false,
            history_reported_at: None,
        }
    }

    fn settle(&mut self) {
        self.latest().settle();
    }

    fn history_read(&mut self) {
        // The first report, as of the latest record. The history was cut pane by pane
        // (`IngestOptions::history_slot_ms`), so the panes are first dropped as of that record's
        // slot, as a report every slot would have dropped them.
        self.waiting_for_history = false;
        let at = self.latest_time();
        if let Some(last) = at {
            self.drop_before(last.div_euclid(self.slot_ms).saturating_mul(self.slot_ms));
        }
        self.history_reported_at = at;
        if let Some(emit) = &self.emit {
            let analysis = self.snapshot();
            if let Ok(mut e) = emit.lock() {
                e.emit(analysis, at, false);
            }
        }
    }

    fn advance(&mut self, slot: i64) {
        let at = slot.saturating_mul(self.slot_ms);
        // While following, the history the inputs held is read first with no report for each
        // of its slots (each would be overwritten a moment later): it is reported once, as of its
        // latest record (`history_read`), and a mark at or before that record is not reported
        // again. No report before the first slot: there is nothing to report yet.
        let reported = self.history_reported_at.is_some_and(|h| at <= h);
        if !self.panes.is_empty() && !self.waiting_for_history && !reported {
            if let Some(emit) = &self.emit {
                let analysis = self.snapshot();
                if let Ok(mut e) = emit.lock() {
                    e.emit(analysis, Some(at), false);
                }
            }
        }
        let pane = at.div_euclid(self.pane_ms);
        if self.panes.back().is_none_or(|(p, _)| pane > *p) {
            // A new pane; the total's own observations (those before the first slot) go in it.
            let mut fresh = Analysis::new(&self.options);
            fresh.merge(self.current.split_off());
            self.panes.push_back((pane, fresh));
        }
        self.drop_before(at);
    }
}

/// What each pane's cluster table may hold, of the run's `budget`: a window holds at most
/// `window / pane` rounded up, plus one, panes at once (the window, and the pane it starts
/// inside), and a report merges copies of them all; so each gets the budget shared by twice
/// that many.
fn pane_budget(budget: usize, live: &LiveOptions) -> usize {
    let pane = live.pane_ms().max(1);
    let panes = usize::try_from((live.window_ms.max(0) + pane - 1) / pane + 1).unwrap_or(usize::MAX);
    budget / panes.saturating_mul(2).max(1)
}

impl Window {
    /// The time of the latest record the window holds.
    fn latest_time(&self) -> Option<i64> {
        let spans = self.panes.iter().map(|(_, a)| &a.span).chain([&self.current.span]);
        spans.filter_map(|s| s.range.map(|(_, b)| b)).max()
    }

    /// Drops, whole, the panes that end before the window as of log time `at` starts.
    fn drop_before(&mut self, at: i64) {
        let start = at - self.window_ms;
        while self.panes.front().is_some_and(|(p, _)| (p + 1) * self.pane_ms <= start) {
            if let Some((_, old)) = self.panes.pop_front() {
                crate::analysis::drop_later(old);
            }
        }
    }
}

/// Emits the findings of each window: events on stdout, a file rewritten atomically, or a
/// table redrawn on a terminal.
pub struct Emitter {
    config: Arc<Config>,
    live: LiveOptions,
    inputs: SharedInputs,
    problems: Vec<InputProblem>,
    events: Events,
    /// Where events go when `-o` names a file: opened once, appended to.
    events_file: Option<io::BufWriter<std::fs::File>>,
    /// The last error writing a report, reported once at the end.
    pub error: Option<String>,
}

impl Emitter {
    /// An emitter for `config`'s format and output.
    ///
    /// # Errors
    /// When `-o` names a file that events cannot be appended to.
    pub fn new(
        config: Arc<Config>,
        live: LiveOptions,
        inputs: SharedInputs,
        problems: Vec<InputProblem>,
    ) -> io::Result<Self> {
        let events_file = match (&config.output, config.render.format) {
            (Some(path), OutputFormat::Events) => {
                Some(io::BufWriter::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?))
            }
            _ => None,
        };
        Ok(Emitter { config, live, inputs, problems, events: Events::default(), events_file, error: None })
    }

    /// Where a report goes (`last`: the final one, at the end of the run).
    fn destination(&self, last: bool) -> Destination {
        match self.config.render.format {
            OutputFormat::Events => Destination::Events,
            _ if self.config.output.is_some() => Destination::File,
            OutputFormat::Table if self.live.terminal && !last => Destination::Redrawn,
            _ => Destination::AtEnd,
        }
    }

    /// Whether a report before the last one goes anywhere: events, a file rewritten, or a
    /// table redrawn on a terminal. Otherwise (a report on standard output, or a table that is
    /// not on a terminal) only the final report is printed, and the window's findings need not
    /// be worked out every `--every`.
    #[must_use]
    pub fn shows_each_report(&self) -> bool {
        self.destination(false) != Destination::AtEnd
    }

    /// Emits the window's findings as of log time `at`.
    pub fn emit(&mut self, analysis: Analysis, at: Option<i64>, last: bool) {
        // The line counts so far; the examples of bad lines come with the final report.
        let inputs = self.inputs.lock().map(|i| i.clone()).unwrap_or_default();
        let stats = IngestStats { inputs, samples: Vec::new() };
        let report = crate::app::analyse(&self.config, &stats, &self.problems, analysis).report;
        self.emit_report(&report, at, last);
    }

    /// Emits `report` as of log time `at` (`last`: the final one, at the end of the run).
    pub fn emit_report(&mut self, report: &Report, at: Option<i64>, last: bool) {
        let result = match self.destination(last) {
            Destination::Events => match &mut self.events_file {
                Some(f) => self.events.emit(report, at, last, f),
                None => self.events.emit(report, at, last, &mut io::stdout().lock()),
            },
            Destination::File => {
                let mut render = self.config.render;
                if self.live.follow && !last {
                    render.refresh_seconds =
                        Some(u64::try_from(self.live.every_ms / 1000).unwrap_or(60).clamp(5, 3600));
                }
                // `File` is where `-o` was given.
                self.config.output.as_deref().map_or(Ok(()), |path| {
                    crate::app::write_report(path, |w| report::render(report, &render, w))
                        .map_err(|e| io::Error::other(e.to_string()))
                })
            }
            Destination::Redrawn => {
                let mut out = io::stdout().lock();
                // Home and clear, then the table: redrawn in place, like top.
                out.write_all(b"\x1b[H\x1b[2J")
                    .and_then(|()| report::render(report, &self.config.render, &mut out))
                    .and_then(|()| out.flush())
            }
            // Printed once, at the end, by the caller.
            Destination::AtEnd => Ok(()),
        };
        match result {
            // Standard output went away (`| head`, a reader that quit): nobody is left to read
            // what comes, so the run ends here; like a batch run's, a closed pipe is not a
            // failure, any other error is.
            Err(e) if self.config.output.is_none() => {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
                let _ = writeln!(io::stderr(), "nginx-forensics: writing to standard output: {e}");
                std::process::exit(1);
            }
            Err(e) => self.error = Some(e.to_string()),
            Ok(()) => {}
        }
    }
}

/// Where the emitter sends a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    /// Events on standard output or into their file.
    Events,
    /// The `-o` file, rewritten.
    File,
    /// A table redrawn in place on the terminal.
    Redrawn,
    /// Nowhere now: the final report is printed by the caller.
    AtEnd,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Environment};
    use clap::Parser;

    fn emitter(args: &[&str], env: &Environment) -> Emitter {
        let config = Cli::parse_from(args).into_config(env).unwrap();
        let live = config.live.unwrap();
        Emitter::new(Arc::new(config), live, SharedInputs::default(), Vec::new()).unwrap()
    }

    /// A scanner sending a new path each request, for three hours, with a caller every 10 s
    /// among it: the window's panes and the copy a report merges stay within the run's budget
    /// (each pane folds apart, within its share), the folded clusters are said to have held up
    /// to what they may have held across the panes, and the caller is still found.
    #[test]
    fn a_window_of_scanners_stays_within_the_budget() {
        use crate::model::{Record, TimeResolution};
        use std::borrow::Cow;
        let budget = 4 << 20;
        let options = AnalysisOptions { max_memory: Some(budget), ..AnalysisOptions::default() };
        let live = LiveOptions { follow: false, window_ms: 3_600_000, every_ms: 60_000, terminal: false };
        let mut window = Window::new(Arc::new(options.clone()), &live, None);
        let record = |t: i64, agent: &'static str, path: String| {
            let mut r = Record::at(t, TimeResolution::Millis);
            r.user_agent = Some(Cow::Borrowed(agent));
            r.target = Some(Cow::Owned(path));
            r
        };
        let mut most_seen = 0;
        for minute in 0..180i64 {
            window.advance(minute);
            let mut worker = window.split_off();
            for i in 0..3000 {
                let t = minute * 60_000 + i * 20;
                worker.observe(&record(
                    t,
                    "scanner",
                    format!("/w/{}", crate::synth::letters_only((minute * 3000 + i) as usize)),
                ));
                if i % 500 == 0 {
                    worker.observe(&record(t, "Go-http-client/1.1", "/".to_owned()));
                }
            }
            window.merge(worker);
            window.settle();
            let panes: usize = window.panes.iter().map(|(_, p)| p.clusters.footprint()).sum();
            let snapshot = window.snapshot();
            assert!(panes + snapshot.clusters.footprint() <= budget, "minute {minute}: {panes} in the panes");
            let per_pane: u64 = window.panes.iter().map(|(_, p)| p.clusters.folded().most_requests).sum();
            if snapshot.clusters.folded().clusters > 0 {
                assert!(snapshot.clusters.folded().most_requests >= per_pane);
            }
            most_seen = most_seen.max(snapshot.clusters.folded().clusters);
        }
        assert!(most_seen > 100_000, "the scanner is folded: {most_seen}");
        let findings = window.snapshot().finish(&options);
        let caller = findings.clusters.iter().find(|c| c.stats.requests > 300);
        assert!(caller.is_some_and(|c| c.periodic.len() == 1), "the caller every 10 s is found");
    }

    /// Reports before the last are worked out only where they go somewhere: events, a file
    /// rewritten, a table redrawn on a terminal; a report on standard output is printed once.
    #[test]
    fn each_report_is_made_only_where_it_is_shown() {
        let batch = Environment::batch(0);
        let terminal = Environment { stdout_is_terminal: true, ..Environment::batch(0) };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.json");
        let out = out.to_str().unwrap();
        for (args, env, shown) in [
            (&["nf", "--replay", "--format", "events", "x.log"][..], &batch, true),
            (&["nf", "--replay", "--format", "json", "-o", out, "x.log"][..], &batch, true),
            (&["nf", "--replay", "--format", "prometheus", "-o", out, "x.log"][..], &batch, true),
            (&["nf", "--replay", "x.log"][..], &terminal, true),
            (&["nf", "--replay", "x.log"][..], &batch, false),
            (&["nf", "--replay", "--format", "json", "x.log"][..], &batch, false),
            (&["nf", "--replay", "--format", "prometheus", "x.log"][..], &batch, false),
            (&["nf", "--replay", "--format", "markdown", "x.log"][..], &terminal, false),
        ] {
            assert_eq!(emitter(args, env).shows_each_report(), shown, "{args:?}");
        }
    }
}
