//! The streaming, parallel driver: every input is cut into newline-aligned chunks that worker
//! threads parse; each worker keeps its own counters, and hands each chunk's observations to a
//! total that merges them in input order (see [`crate::analysis::Detector`]).
//!
//! Every line is accounted for: parsed, malformed (with `source:line: reason`) or skipped with a
//! reason (empty, NUL padding, over the length limit). Line numbers are exact even though chunks
//! are parsed out of order: each chunk counts its lines, and numbers are fixed up after the merge.

use std::sync::Mutex;

use crate::analysis::Detector;
use crate::input::{
    Chunker, Compression, Lines, Live, Opened, Piece, ReadBytes, Source, open, open_followed,
};
use crate::model::TimeResolution;
use crate::parse::{
    DETECT_LINES, Detection, FieldMap, Format, Line, LineParser, detect, trim_leading_nul, user_agent_hint,
};

/// How to ingest.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Target chunk size in bytes.
    pub chunk_bytes: usize,
    /// Longest line read; longer lines are skipped and counted.
    pub max_line_bytes: usize,
    /// JSON key mapping.
    pub fields: FieldMap,
    /// Malformed or overlong lines kept as examples per input.
    pub samples_per_input: usize,
    /// Where to count the bytes read from the inputs (for a progress display).
    pub read_bytes: Option<ReadBytes>,
    /// Follow the inputs as they grow (`--follow`), until this asks them to stop.
    pub follow: Option<Live>,
    /// Cut the observations at every multiple of this many milliseconds of log time, and call
    /// [`Detector::advance`] on the total before the first of a later slot: what live reports
    /// are emitted on. `None`: no cuts (a batch run).
    pub slot_ms: Option<i64>,
    /// Under `--follow`, the history the inputs held is cut at every multiple of this many
    /// milliseconds instead (a whole multiple of `slot_ms`): no report is made before that
    /// history is read, so only where the window's panes start matters. `None`: `slot_ms`.
    pub history_slot_ms: Option<i64>,
    /// Where the inputs' status and counts are kept as they are read, for reports made while
    /// reading (`--follow`); counts are added a piece at a time. `None`: kept privately.
    pub live_inputs: Option<SharedInputs>,
}

/// The inputs' status and counts, shared with whoever reports while the ingest runs.
pub type SharedInputs = std::sync::Arc<Mutex<Vec<InputStats>>>;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            threads: 0,
            chunk_bytes: 1 << 20,
            max_line_bytes: 1 << 20,
            fields: FieldMap::default(),
            samples_per_input: 5,
            read_bytes: None,
            follow: None,
            slot_ms: None,
            history_slot_ms: None,
            live_inputs: None,
        }
    }
}

/// Line counts of one input or of all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines read.
    pub lines: u64,
    /// Lines that are records.
    pub parsed: u64,
    /// Lines that are not records.
    pub malformed: u64,
    /// Empty (or blank) lines, skipped.
    pub empty: u64,
    /// Lines over the length limit, skipped.
    pub too_long: u64,
    /// Lines of NUL bytes only (left by `copytruncate`), skipped.
    pub nul_padding: u64,
    /// Records whose time has milliseconds.
    pub millis_records: u64,
}

impl LineCounts {
    /// What was counted since `before` (these counts only grow).
    #[must_use]
    pub fn since(&self, before: &LineCounts) -> LineCounts {
        LineCounts {
            lines: self.lines - before.lines,
            parsed: self.parsed - before.parsed,
            malformed: self.malformed - before.malformed,
            empty: self.empty - before.empty,
            too_long: self.too_long - before.too_long,
            nul_padding: self.nul_padding - before.nul_padding,
            millis_records: self.millis_records - before.millis_records,
        }
    }

    /// Lines skipped for any reason.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.empty + self.too_long + self.nul_padding
    }

    fn add(&mut self, o: &LineCounts) {
        self.lines += o.lines;
        self.parsed += o.parsed;
        self.malformed += o.malformed;
        self.empty += o.empty;
        self.too_long += o.too_long;
        self.nul_padding += o.nul_padding;
        self.millis_records += o.millis_records;
    }
}

/// What became of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputStatus {
    /// Read as this format.
    Read(Format),
    /// Not read: not an access log, empty, or an unsupported compression.
    Skipped(String),
    /// Could not be opened or read at all.
    Unreadable(String),
}

/// One input's outcome.
#[derive(Clone, Debug)]
pub struct InputStats {
    /// Where the input was read from.
    pub source: Source,
    /// Format, or why it was not read.
    pub status: InputStatus,
    /// Compression, once opened.
    pub compression: Option<Compression>,
    /// Line counts.
    pub counts: LineCounts,
    /// An error that ended reading early (the lines before it are counted).
    pub read_error: Option<String>,
    /// A hint on reading it better (a key the built-in names do not read).
    pub hint: Option<String>,
    /// Reading was stopped by the user before the input ended (Ctrl-C on a stream on stdin):
    /// `read_error` says so.
    pub interrupted: bool,
}

impl InputStats {
    /// True when some of this input's data could not be read.
    #[must_use]
    pub fn lost_data(&self) -> bool {
        matches!(self.status, InputStatus::Unreadable(_)) || self.read_error.is_some()
    }

    /// Marks this input stopped by the user (SIGINT) before it ended: what came before is
    /// counted, and the input is lost in part.
    pub fn interrupt(&mut self) {
        self.read_error.get_or_insert_with(|| "interrupted (SIGINT) before the input ended".to_owned());
        self.interrupted = true;
    }
}

/// A malformed or skipped line, kept as an example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIssue {
    /// Index into [`IngestStats::inputs`].
    pub input: usize,
    /// 1-based line number.
    pub line: u64,
    /// Why the line is not a record.
    pub reason: String,
    /// Malformed, or skipped (over the length limit).
    pub kind: SampleKind,
}

/// Why a line kept as an example is not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SampleKind {
    /// Not a record of the input's format.
    Malformed,
    /// Over the length limit: not read.
    Skipped,
}

/// The reason given for a line over the length limit.
fn overlong(len: impl std::fmt::Display, max: usize) -> String {
    format!("line of {len} bytes is over the {max}-byte limit; skipped")
}

/// Accounting of everything read.
#[derive(Clone, Debug, Default)]
pub struct IngestStats {
    /// Every input, in the order given.
    pub inputs: Vec<InputStats>,
    /// The first malformed and overlong lines of each input, by input then line.
    pub samples: Vec<LineIssue>,
}

impl IngestStats {
    /// Counts over all inputs.
    #[must_use]
    pub fn totals(&self) -> LineCounts {
        let mut t = LineCounts::default();
        for i in &self.inputs {
            t.add(&i.counts);
        }
        t
    }
}

/// The result of [`run`].
#[derive(Debug)]
pub struct Ingested<D> {
    /// Every line and input accounted for.
    pub stats: IngestStats,
    /// The merged detector.
    pub detector: D,
}

/// One unit of work: a piece of one input.
struct Work {
    input: u32,
    chunk: u32,
    format: Format,
    piece: Piece,
}

impl Work {
    /// The bytes of its lines, and how many lines there are (at most).
    fn size(&self) -> (usize, usize) {
        match &self.piece {
            Piece::Lines(lines) => (lines.len(), memchr::memchr_iter(b'\n', lines).count() + 1),
            Piece::Overlong(_) => (0, 0),
        }
    }
}

/// Reads the inputs one after another and yields their pieces. Runs under a lock, so one
/// worker reads (or decompresses) while the others parse, and at most one piece per
/// worker is in memory.
struct Feed<'s> {
    sources: &'s [Source],
    opts: &'s IngestOptions,
    inputs: &'s Mutex<Vec<InputStats>>,
    next_input: usize,
    current: Option<OpenInput>,
    /// Followed inputs that had nothing new when last asked, taken in turn.
    live: std::collections::VecDeque<OpenInput>,
    /// Followed files with no line yet, opened again (from their start) in turn.
    pending: Vec<usize>,
    /// A piece read during detection, handed out right after the first.
    held: std::collections::VecDeque<Work>,
    /// Buffers the workers are done with, to read into again.
    spares: &'s Mutex<Vec<Lines>>,
}

/// The input a [`Feed`] is reading.
struct OpenInput {
    /// Its index.
    input: u32,
    /// What reads its pieces.
    chunker: Chunker,
    /// Its format.
    format: Format,
    /// The number of the next piece.
    next_chunk: u32,
}

impl Feed<'_> {
    fn update(&self, index: usize, f: impl FnOnce(&mut InputStats)) {
        if let Ok(mut inputs) = self.inputs.lock() {
            f(&mut inputs[index]);
        }
    }

    /// Opens input `index`, detects its format and returns its first piece.
    fn start(&mut self, index: usize) -> Option<Work> {
        let source = &self.sources[index];
        let opened = match &self.opts.follow {
            Some(live) => open_followed(source, live, self.opts.read_bytes.as_ref()),
            None => open(source, self.opts.read_bytes.as_ref()),
        };
        let (reader, count) = match opened {
            Err(e) => {
                self.update(index, |s| s.status = InputStatus::Unreadable(e.to_string()));
                return None;
            }
            Ok(Opened::Unsupported(what)) => {
                self.update(index, |s| s.status = InputStatus::Skipped(what.to_owned()));
                return None;
            }
            Ok(Opened::Stream(reader, compression, count)) => {
                self.update(index, |s| s.compression = Some(compression));
                (reader, count)
            }
        };
        let mut chunker =
            Chunker::new(reader, self.opts.chunk_bytes, self.opts.max_line_bytes).counting(count);
        // Detection sees the first records wherever they stand: pieces are gathered, in order,
        // until they hold DETECT_LINES non-empty lines, the input ends, or DETECT_MAX_BYTES were
        // gathered. Lines over the length limit and runs of blank or NUL lines before the first
        // record are gathered too, to be counted in their place.
        let mut gathered: Vec<Piece> = Vec::new();
        // The first non-empty lines, each with its newline: all that detection reads. Each piece
        // is scanned once, and blank or NUL lines are not copied.
        let mut first = Vec::new();
        let mut found = 0;
        let mut bytes = 0usize;
        while found < DETECT_LINES && bytes < DETECT_MAX_BYTES {
            match chunker.next_piece() {
                Ok(Some(Piece::Lines(buf))) => {
                    bytes += buf.len();
                    let wanted = DETECT_LINES - found;
                    let lines =
                        buf.split(|&b| b == b'\n').filter(|l| !trim_leading_nul(l.trim_ascii()).is_empty());
                    for line in lines.take(wanted) {
                        first.extend_from_slice(line);
                        first.push(b'\n');
                        found += 1;
                    }
                    gathered.push(Piece::Lines(buf));
                }
                Ok(Some(overlong)) => gathered.push(overlong),
                Ok(None) => break,
                // A followed input with nothing new: decide on the lines there are; with none, a
                // file is opened again later (nothing of it was counted) and stdin waited for.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if found > 0 {
                        break;
                    }
                    if matches!(self.sources[index], Source::File(_)) {
                        self.pending.push(index);
                        return None;
                    }
                    std::thread::sleep(FOLLOW_POLL);
                }
                Err(e) => {
                    if gathered.is_empty() {
                        self.update(index, |s| s.status = InputStatus::Unreadable(e.to_string()));
                        return None;
                    }
                    self.update(index, |s| s.read_error = Some(e.to_string()));
                    break;
                }
            }
        }
        if gathered.is_empty() {
            self.update(index, |s| s.status = InputStatus::Skipped("empty input".to_owned()));
            return None;
        }
        let detection = if found > 0 {
            detect(&first, &self.opts.fields)
        } else if gathered.iter().any(|p| matches!(p, Piece::Overlong(_))) {
            Detection::NotAccessLog(format!(
                "not an access log: no line under the {}-byte limit in its first {} MiB",
                self.opts.max_line_bytes,
                DETECT_MAX_BYTES >> 20
            ))
        } else {
            Detection::NotAccessLog("no non-empty lines".into())
        };
        match detection {
            Detection::NotAccessLog(why) => {
                self.update(index, |s| s.status = InputStatus::Skipped(why));
                None
            }
            Detection::Format(format) => {
                let hint =
                    (format == Format::Json).then(|| user_agent_hint(&first, &self.opts.fields)).flatten();
                self.update(index, |s| {
                    s.status = InputStatus::Read(format);
                    s.hint = hint;
                });
                let input = u32::try_from(index).unwrap_or(u32::MAX);
                let mut works = gathered.into_iter().zip(0u32..).map(|(piece, chunk)| Work {
                    input,
                    chunk,
                    format,
                    piece,
                });
                let first = works.next();
                self.held.extend(works);
                let next_chunk = u32::try_from(self.held.len()).unwrap_or(u32::MAX) + 1;
                self.current = Some(OpenInput { input, chunker, format, next_chunk });
                first
            }
        }
    }
}

/// The chunk number of the mark that follows the history of the followed inputs.
const HISTORY_READ: u32 = u32::MAX;

/// How long a followed input with nothing new is left before it is asked again.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl Feed<'_> {
    /// The next piece of any followed input, in turn: waits while none has anything new, and
    /// ends when all have ended (after a stop, each reads to its end first).
    fn follow_round(&mut self) -> Option<Work> {
        let live = self.opts.follow.clone()?;
        loop {
            if live.stopped() {
                for index in std::mem::take(&mut self.pending) {
                    self.update(index, |s| {
                        s.status = InputStatus::Skipped("no lines before the stop".into())
                    });
                }
            }
            for index in std::mem::take(&mut self.pending) {
                if let Some(work) = self.start(index) {
                    return Some(work);
                }
            }
            for _ in 0..self.live.len() {
                let Some(mut open) = self.live.pop_front() else { break };
                if let Some(buf) = self.spares.lock().ok().and_then(|mut s| s.pop()) {
                    open.chunker.recycle(buf);
                }
                match open.chunker.next_piece() {
                    Ok(Some(piece)) => {
                        let work =
                            Work { input: open.input, chunk: open.next_chunk, format: open.format, piece };
                        open.next_chunk += 1;
                        self.live.push_back(open);
                        return Some(work);
                    }
                    Ok(None) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.live.push_back(open),
                    Err(e) => self.update(open.input as usize, |s| s.read_error = Some(e.to_string())),
                }
            }
            if self.live.is_empty() && self.pending.is_empty() {
                return None;
            }
            if !live.caught_up() {
                // Every followed input is at its end: a mark, merged after all the history,
                // tells the total (`Detector::history_read`).
                live.catch_up();
                let piece = Piece::Lines(Vec::new().into());
                return Some(Work { input: 0, chunk: HISTORY_READ, format: Format::Json, piece });
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

/// Detection gathers at most this much before deciding (64 MiB): far more than a piece, so a
/// first line over the length limit, or a long run of blank or NUL lines before the first
/// record, does not hide the records after it.
pub const DETECT_MAX_BYTES: usize = 64 << 20;

impl Iterator for Feed<'_> {
    type Item = Work;

    fn next(&mut self) -> Option<Work> {
        if let Some(work) = self.held.pop_front() {
            return Some(work);
        }
        loop {
            if let Some(open) = &mut self.current {
                let (input, format) = (open.input, open.format);
                if let Some(buf) = self.spares.lock().ok().and_then(|mut s| s.pop()) {
                    open.chunker.recycle(buf);
                }
                match open.chunker.next_piece() {
                    Ok(Some(piece)) => {
                        let work = Work { input, chunk: open.next_chunk, format, piece };
                        open.next_chunk += 1;
                        return Some(work);
                    }
                    Ok(None) => self.current = None,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.live.extend(self.current.take());
                    }
                    Err(e) => {
                        self.current = None;
                        self.update(input as usize, |s| s.read_error = Some(e.to_string()));
                    }
                }
                continue;
            }
            if self.next_input >= self.sources.len() {
                return self.follow_round();
            }
            self.next_input += 1;
            if let Some(work) = self.start(self.next_input - 1) {
                return Some(work);
            }
        }
    }
}

/// An example line kept by a worker, numbered within its chunk until the merge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    chunk: u32,
    line_in_chunk: u64,
    reason: String,
    kind: SampleKind,
}

/// How many lines one piece of an input held, for numbering lines across pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ChunkLines {
    input: u32,
    chunk: u32,
    lines: u64,
}

/// The observations of a piece within one log-time slot, and the lines they came from.
struct Segment<D> {
    slot: i64,
    detector: D,
    input: usize,
    lines: LineCounts,
    /// The mark that every followed input's history was read (no observations).
    history_read: bool,
}

/// One worker's share.
struct Partial<D> {
    detector: D,
    /// The log-time slot of the piece's observations so far (`IngestOptions::slot_ms`), and
    /// the observations of its earlier slots.
    slot: Option<i64>,
    segments: Vec<Segment<D>>,
    /// The counts of the piece's input when its current segment started.
    segment_base: LineCounts,
    counts: Vec<LineCounts>,
    chunk_lines: Vec<ChunkLines>,
    samples: Vec<Vec<Sample>>,
    parsers: Vec<LineParser>,
}

impl<D: Detector> Partial<D> {
    fn new(detector: D, inputs: usize) -> Self {
        Partial {
            detector,
            slot: None,
            segments: Vec::new(),
            segment_base: LineCounts::default(),
            counts: vec![LineCounts::default(); inputs],
            chunk_lines: Vec::new(),
            samples: vec![Vec::new(); inputs],
            parsers: Vec::new(),
        }
    }

    fn parser(&mut self, format: Format, fields: &FieldMap) -> usize {
        if let Some(i) = self.parsers.iter().position(|p| p.format() == format) {
            return i;
        }
        self.parsers.push(LineParser::new(format, fields.clone()));
        self.parsers.len() - 1
    }

    /// Keeps the `keep` earliest samples of an input.
    fn sample(
        &mut self,
        input: usize,
        keep: usize,
        chunk: u32,
        line_in_chunk: u64,
        reason: impl FnOnce() -> String,
        kind: SampleKind,
    ) {
        let list = &mut self.samples[input];
        if list.len() >= keep
            && list.last().is_none_or(|l| (l.chunk, l.line_in_chunk) < (chunk, line_in_chunk))
        {
            return;
        }
        let s = Sample { chunk, line_in_chunk, reason: reason(), kind };
        let at = list.partition_point(|l| l < &s);
        list.insert(at, s);
        list.truncate(keep);
    }

    fn process(&mut self, work: Work, opts: &IngestOptions, spares: &Mutex<Vec<Lines>>) {
        let input = work.input as usize;
        let keep = opts.samples_per_input;
        match work.piece {
            Piece::Overlong(len) => {
                self.counts[input].lines += 1;
                self.counts[input].too_long += 1;
                let max = opts.max_line_bytes;
                self.sample(input, keep, work.chunk, 0, || overlong(len, max), SampleKind::Skipped);
                self.chunk_lines.push(ChunkLines { input: work.input, chunk: work.chunk, lines: 1 });
            }
            Piece::Lines(buf) => {
                let p = self.parser(work.format, &opts.fields);
                let mut parser = std::mem::replace(
                    &mut self.parsers[p],
                    LineParser::new(work.format, FieldMap::default()),
                );
                let mut counts = self.counts[input];
                let mut n = 0u64;
                // The width of a slot for this piece, as a multiple of `slot_ms`: wider for the
                // history of followed inputs. A piece parsed before the mark that ends the
                // history is made was read before it (the feed makes the mark after reading the
                // last of the history), so it is history; one parsed later is cut finely, which
                // is never wrong.
                let widen = match (opts.slot_ms, opts.history_slot_ms, &opts.follow) {
                    (Some(ms), Some(wide), Some(live)) if !live.caught_up() && wide % ms == 0 => wide / ms,
                    _ => 1,
                };
                // One UTF-8 check for the whole chunk: values are then sliced as text with no
                // check of their own (a chunk with an invalid byte is checked value by value).
                let chunk = Line::from(&*buf);
                let text = simdutf8::basic::from_utf8(&buf).ok().map(Line::from).unwrap_or(chunk);
                for line in lines(&buf) {
                    n += 1;
                    counts.lines += 1;
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.len() > opts.max_line_bytes {
                        counts.too_long += 1;
                        let (len, max) = (line.len(), opts.max_line_bytes);
                        self.sample(
                            input,
                            keep,
                            work.chunk,
                            n - 1,
                            || overlong(len, max),
                            SampleKind::Skipped,
                        );
                        continue;
                    }
                    let body = line.trim_ascii();
                    let unpadded = trim_leading_nul(body);
                    if unpadded.is_empty() {
                        if body.is_empty() {
                            counts.empty += 1;
                        } else {
                            counts.nul_padding += 1;
                        }
                        continue;
                    }
                    let body = unpadded.trim_ascii_start();
                    match parser.parse(text.sub_line(body)) {
                        Ok(ref record) => {
                            counts.parsed += 1;
                            counts.millis_records += u64::from(record.resolution == TimeResolution::Millis);
                            if let Some(ms) = opts.slot_ms {
                                // A later slot starts a new segment; a late record joins the
                                // current one.
                                let slot = record.time.div_euclid(ms * widen) * widen;
                                match self.slot {
                                    Some(current) if slot > current => {
                                        // This record starts the next segment.
                                        let mut before = counts;
                                        before.lines -= 1;
                                        before.parsed -= 1;
                                        before.millis_records -=
                                            u64::from(record.resolution == TimeResolution::Millis);
                                        let lines = before.since(&self.segment_base);
                                        self.segment_base = before;
                                        let detector = self.detector.split_off();
                                        self.segments.push(Segment {
                                            slot: current,
                                            detector,
                                            input,
                                            lines,
                                            history_read: false,
                                        });
                                        self.slot = Some(slot);
                                    }
                                    Some(_) => {}
                                    None => self.slot = Some(slot),
                                }
                            }
                            self.detector.observe(record);
                        }
                        Err(e) => {
                            counts.malformed += 1;
                            self.sample(
                                input,
                                keep,
                                work.chunk,
                                n - 1,
                                || e.to_string(),
                                SampleKind::Malformed,
                            );
                        }
                    }
                }
                self.counts[input] = counts;
                self.parsers[p] = parser;
                self.chunk_lines.push(ChunkLines { input: work.input, chunk: work.chunk, lines: n });
                if let Ok(mut spares) = spares.lock() {
                    spares.push(buf);
                }
            }
        }
    }

    /// The piece's observations, by log-time slot, leaving the detector empty.
    fn hand_over(&mut self, input: usize) -> Vec<Segment<D>> {
        let mut segments = std::mem::take(&mut self.segments);
        let lines = self.counts[input].since(&self.segment_base);
        let slot = self.slot.take().unwrap_or(i64::MIN);
        segments.push(Segment {
            slot,
            detector: self.detector.split_off(),
            input,
            lines,
            history_read: false,
        });
        segments
    }

    fn merge(mut self, other: Self, keep: usize) -> Self {
        self.detector.merge(other.detector);
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            a.add(b);
        }
        self.chunk_lines.extend(other.chunk_lines);
        for (a, b) in self.samples.iter_mut().zip(other.samples) {
            a.extend(b);
            a.sort();
            a.truncate(keep);
        }
        self
    }
}

/// The lines of a chunk, without their `\n`; a last line without one counts too.
/// (memchr finds the newlines: this runs over every byte of the input.)
fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    ends.take(if buf.is_empty() { 0 } else { usize::MAX }).map(move |end| {
        let line = &body[start..end];
        start = end + 1;
        line
    })
}

/// Most worker threads per core: more only wait for a piece to read.
pub const THREADS_PER_CORE: usize = 4;

/// The workers to start: as asked (or one per core), at most [`THREADS_PER_CORE`] per core,
/// and no more than there can be pieces when every input is a plain file of known size (a
/// compressed file or stdin can hold any number).
#[must_use]
pub fn workers(sources: &[Source], opts: &IngestOptions) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let asked = if opts.threads == 0 { cores } else { opts.threads };
    let pieces: Option<u64> = sources
        .iter()
        .map(|s| match s {
            Source::File(p) if p.extension().is_none_or(|e| e != "gz") => {
                std::fs::metadata(p).ok().map(|m| m.len().div_ceil(opts.chunk_bytes.max(1) as u64) + 1)
            }
            _ => None,
        })
        .sum();
    let most = pieces.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    asked.min(THREADS_PER_CORE * cores).min(most).max(1)
}

/// The number of the next piece to merge, the pieces waiting for their turn (each as its
/// observations by log-time slot), and the workers whose observations kept apart
/// ([`Apart`]) are still to be merged: no piece is merged before they all are.
type Queue<D> = (u64, std::collections::BTreeMap<u64, Vec<Segment<D>>>, usize);

/// The total of the pieces merged so far, and the pieces parsed ahead of their turn.
///
/// A worker that hands a piece over merges, in order, whatever has come in, unless another
/// worker is already merging: then it goes back to parsing (the merging worker takes its piece
/// too). Only when too many pieces wait does it wait for its turn to merge, so that memory
/// stays bounded when merging is the slower part (a log of unique keys).
struct InOrder<D> {
    /// What waits to be merged ([`Queue`]).
    queue: Mutex<Queue<D>>,
    /// The total, and the latest log-time slot merged into it.
    total: Mutex<(D, Option<i64>)>,
    /// Pieces that may wait before a worker waits to merge.
    most_waiting: usize,
    /// Where the counts of what is merged are added, for reports made while reading.
    live_inputs: Option<SharedInputs>,
}

impl<D: Detector> InOrder<D> {
    fn add(&self, seq: u64, piece: Vec<Segment<D>>) {
        let backlog = {
            let mut queue = lock(&self.queue);
            queue.1.insert(seq, piece);
            queue.1.len() > self.most_waiting
        };
        self.merge_waiting(backlog);
    }

    /// Merges a worker's observations kept apart ([`Apart`]): they come before every piece
    /// in the queue, so the queue is merged once the last worker's are in.
    fn add_apart(&self, observed: D) {
        {
            let mut total = lock(&self.total);
            total.0.merge(observed);
            let mut queue = lock(&self.queue);
            queue.2 -= 1;
            if queue.2 > 0 {
                return;
            }
            drop(queue);
            total.0.settle();
        }
        self.merge_waiting(true);
    }

    /// Merges, in order, whatever has come in: waiting for the total when `wait`, else only if
    /// no other worker is merging.
    fn merge_waiting(&self, wait: bool) {
        loop {
            let mut total = if wait {
                lock(&self.total)
            } else {
                match self.total.try_lock() {
                    Ok(total) => total,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => return,
                }
            };
            while let Some(piece) = self.next_piece() {
                let (total, latest) = &mut *total;
                for Segment { slot, detector, input, lines, history_read } in piece {
                    if history_read {
                        total.history_read();
                        continue;
                    }
                    if latest.is_none_or(|l| slot > l) && slot != i64::MIN {
                        total.advance(slot);
                        *latest = Some(slot);
                    }
                    // Counted in input order, as the observations are merged: a report made
                    // while reading counts exactly the lines of what it analysed.
                    if let Some(shared) = &self.live_inputs {
                        if let Some(i) = lock(shared).get_mut(input) {
                            i.counts.add(&lines);
                        }
                    }
                    total.merge(detector);
                    total.settle();
                }
            }
            drop(total);
            // A piece handed over between the last look and the unlock found the total busy:
            // its worker went back to parsing, so this one merges it.
            let queue = lock(&self.queue);
            if queue.2 > 0 || !queue.1.contains_key(&queue.0) {
                return;
            }
        }
    }

    /// The next piece in order, if it was handed over.
    fn next_piece(&self) -> Option<Vec<Segment<D>>> {
        let mut queue = lock(&self.queue);
        if queue.2 > 0 {
            return None;
        }
        let next = queue.0;
        let piece = queue.1.remove(&next)?;
        queue.0 += 1;
        Some(piece)
    }
}

/// Whether the next piece may be kept apart by its worker (observed into what the worker keeps
/// across its pieces, merged into the total only at the end) rather than merged in order.
///
/// Merging every piece in order, each followed by [`Detector::settle`], is what makes a run that
/// keeps within a budget the same whatever the threads; but it makes every piece's observations
/// a table of their own, merged one at a time while the other workers wait or parse. Until
/// `settle` could act, order does not matter: merges are associative and commutative, a total
/// only grows, and it is at most the sum of the bounds of what it absorbed
/// ([`Detector::settle_bound`]). So the pieces are kept apart while the bounds of what the
/// workers hold, with room reserved for the pieces still being parsed, sum to at most the
/// budget; from the first piece that does not fit, every piece is merged in order, after all
/// that was kept apart. Which piece that is depends on timing; the result does not.
struct Apart {
    /// Pieces are still kept apart (only in a batch run: live reports need the order).
    open: bool,
    /// The bounds of what the workers keep apart, plus what is reserved for their pieces in
    /// progress.
    reserved: usize,
    /// [`Detector::settle_budget`].
    budget: Option<usize>,
}

impl Apart {
    /// What to reserve for a piece whose observations grow a bound by at most `bound()`, when
    /// it may be kept apart (reserved until [`Apart::release`]); `None`: merge it in order.
    /// The bound is only worked out while it can matter (it scans the piece for its lines).
    fn admit(&mut self, bound: impl FnOnce() -> usize) -> Option<usize> {
        if !self.open {
            return None;
        }
        let Some(budget) = self.budget else { return Some(0) };
        let bound = bound();
        if self.reserved.saturating_add(bound) <= budget {
            self.reserved += bound;
            Some(bound)
        } else {
            self.open = false;
            None
        }
    }

    /// A piece kept apart is done: its reservation is replaced by what it grew its bound by.
    fn release(&mut self, reserved: usize, grown: usize) {
        if self.budget.is_some() {
            debug_assert!(grown <= reserved, "a piece grew its bound by {grown} > {reserved}");
            self.reserved = self.reserved - reserved + grown;
        }
    }
}

/// A lock that a panicked worker left behind is still usable: the panic itself is reported
/// when the workers are joined.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads every source, parses every line and feeds the records to detectors made by `make`.
///
/// Per-input problems (unreadable, not an access log) are recorded in the stats, never fatal.
///
/// # Errors
/// Only when an ingest worker panicked (a bug).
pub fn run<D, F>(sources: &[Source], opts: &IngestOptions, make: F) -> anyhow::Result<Ingested<D>>
where
    D: Detector,
    F: Fn() -> D + Sync + Send,
{
    let total = make();
    run_into(sources, opts, make, total)
}

/// [`run`], merging into `total` (which may differ from what `make` makes: a live report's
/// total emits what the workers' detectors only gather).
///
/// # Errors
/// Only when an ingest worker panicked (a bug).
pub fn run_into<D, F>(
    sources: &[Source],
    opts: &IngestOptions,
    make: F,
    total: D,
) -> anyhow::Result<Ingested<D>>
where
    D: Detector,
    F: Fn() -> D + Sync + Send,
{
    let fresh = sources
        .iter()
        .map(|s| InputStats {
            source: s.clone(),
            status: InputStatus::Skipped("not read".into()),
            compression: None,
            counts: LineCounts::default(),
            read_error: None,
            hint: None,
            interrupted: false,
        })
        .collect::<Vec<_>>();
    let inputs: SharedInputs = opts.live_inputs.clone().unwrap_or_default();
    *lock(&inputs) = fresh;
    let n = sources.len();
    let keep = opts.samples_per_input;
    let spares = Mutex::new(Vec::new());
    let feed = Feed {
        sources,
        opts,
        inputs: &inputs,
        next_input: 0,
        current: None,
        live: std::collections::VecDeque::new(),
        pending: Vec::new(),
        held: std::collections::VecDeque::new(),
        spares: &spares,
    };
    // The pieces are numbered as they are read, and merged into the total in that order
    // whichever worker parsed them: what the total settles on never depends on the threads.
    // In a batch run, the first pieces are kept apart by their workers instead, as long as no
    // total of them can make `settle` act ([`Apart`]).
    let threads = workers(sources, opts);
    let batch = opts.slot_ms.is_none() && opts.follow.is_none();
    let apart = Apart { open: batch, reserved: 0, budget: total.settle_budget() };
    let feed = Mutex::new((feed, 0u64, apart));
    let total = InOrder {
        queue: Mutex::new((0, std::collections::BTreeMap::new(), if batch { threads } else { 0 })),
        total: Mutex::new((total, None)),
        most_waiting: 2 * threads,
        live_inputs: opts.live_inputs.clone(),
    };
    let partials: Vec<Partial<D>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut partial = Partial::new(make(), n);
                    let mut kept_apart = batch;
                    loop {
                        let next = {
                            let mut feed = lock(&feed);
                            let (feed, seq, apart) = &mut *feed;
                            feed.next().map(|work| {
                                let detector = &partial.detector;
                                let bound = || {
                                    let (bytes, lines) = work.size();
                                    detector.settle_bound_of_input(bytes, lines)
                                };
                                if let Some(reserved) = apart.admit(bound) {
                                    return (0, work, Some(reserved));
                                }
                                // Numbered among the pieces merged in order: all come after
                                // those kept apart.
                                *seq += 1;
                                (*seq - 1, work, None)
                            })
                        };
                        let Some((seq, work, reserved)) = next else { break };
                        if let Some(reserved) = reserved {
                            let before = partial.detector.settle_bound();
                            partial.process(work, opts, &spares);
                            let grown = partial.detector.settle_bound().saturating_sub(before);
                            lock(&feed).2.release(reserved, grown);
                            continue;
                        }
                        // The first piece merged in order: what was kept apart goes first.
                        if std::mem::take(&mut kept_apart) {
                            total.add_apart(partial.detector.split_off());
                        }
                        let input = work.input as usize;
                        let mark = work.chunk == HISTORY_READ;
                        partial.segment_base = partial.counts[input];
                        partial.process(work, opts, &spares);
                        let mut segments = partial.hand_over(input);
                        if mark {
                            segments.iter_mut().for_each(|s| s.history_read = true);
                        }
                        total.add(seq, segments);
                    }
                    if kept_apart {
                        total.add_apart(partial.detector.split_off());
                    }
                    partial
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join()).collect::<Result<Vec<_>, _>>()
    })
    .map_err(|_| anyhow::anyhow!("an ingest worker panicked"))?;
    let Some(mut partial) = partials.into_iter().reduce(|a, b| a.merge(b, keep)) else {
        anyhow::bail!("no ingest worker ran");
    };
    let InOrder { total, queue, .. } = total;
    let waiting = queue.into_inner().map_or(1, |q| q.1.len());
    debug_assert_eq!(waiting, 0, "every piece is merged once all are parsed");
    partial.detector = total.into_inner().map_err(|_| anyhow::anyhow!("an ingest worker panicked"))?.0;
    let mut inputs = lock(&inputs).clone();
    for (stats, counts) in inputs.iter_mut().zip(&partial.counts) {
        stats.counts = *counts;
    }

    // Chunk i of an input starts after the lines of its chunks 0..i.
    let mut chunk_lines = partial.chunk_lines;
    chunk_lines.sort_unstable();
    let mut starts = std::collections::HashMap::with_capacity(chunk_lines.len());
    let mut prev = None;
    let mut before = 0u64;
    for ChunkLines { input, chunk, lines } in chunk_lines {
        if prev != Some(input) {
            before = 0;
            prev = Some(input);
        }
        starts.insert((input, chunk), before);
        before += lines;
    }
    let samples = partial
        .samples
        .into_iter()
        .enumerate()
        .flat_map(|(input, list)| {
            let starts = &starts;
            list.into_iter().map(move |s| {
                let key = (u32::try_from(input).unwrap_or(u32::MAX), s.chunk);
                let line = starts.get(&key).copied().unwrap_or(0) + s.line_in_chunk + 1;
                LineIssue { input, line, reason: s.reason, kind: s.kind }
            })
        })
        .collect();
    Ok(Ingested { stats: IngestStats { inputs, samples }, detector: partial.detector })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::TimeSpan;

    fn ingest_bytes(data: &[u8], chunk_bytes: usize, threads: usize) -> Ingested<TimeSpan> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, data).unwrap();
        let opts = IngestOptions { threads, chunk_bytes, max_line_bytes: 200, ..IngestOptions::default() };
        run(&[Source::File(path)], &opts, TimeSpan::default).unwrap()
    }

    const GOOD: &str = r#"{"time":"1558723294","status":"200","request":"GET / HTTP/1.1"}"#;

    /// A detector whose `settle` depends on the order of the pieces: over its budget it
    /// forgets everything, and remembers when (the record count at the time, and the last
    /// record seen). Its bound is its record count, and a piece's the number of its lines: as
    /// tight as it can be.
    #[derive(Default)]
    struct Forgetful {
        records: u64,
        last: i64,
        budget: Option<usize>,
        forgotten: Vec<(u64, i64)>,
    }

    impl Detector for Forgetful {
        fn observe(&mut self, record: &crate::model::Record<'_>) {
            self.records += 1;
            self.last = self.last.max(record.time);
        }
        fn merge(&mut self, other: Self) {
            self.records += other.records;
            self.last = self.last.max(other.last);
            self.forgotten.extend(other.forgotten);
        }
        fn split_off(&mut self) -> Self {
            Forgetful { budget: self.budget, ..std::mem::take(self) }
        }
        fn settle(&mut self) {
            if self.budget.is_some_and(|b| self.records as usize > b) {
                self.forgotten.push((self.records, self.last));
                self.records = 0;
            }
        }
        fn settle_budget(&self) -> Option<usize> {
            self.budget
        }
        fn settle_bound(&self) -> usize {
            self.records as usize
        }
        fn settle_bound_of_input(&self, _bytes: usize, lines: usize) -> usize {
            lines
        }
    }

    /// Pieces kept apart by their workers until the budget comes near, then merged in order:
    /// what `settle` decides is the same as with every piece merged in order on one thread.
    #[test]
    fn pieces_kept_apart_settle_as_pieces_merged_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let lines: Vec<String> = (0..3000)
            .map(|i| format!(r#"{{"time":"{}","request":"GET / HTTP/1.1"}}"#, 1_558_723_294 + i))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let run_with = |threads: usize, budget: Option<usize>, slot_ms: Option<i64>| {
            let opts = IngestOptions { threads, chunk_bytes: 2048, slot_ms, ..IngestOptions::default() };
            let make = || Forgetful { budget, ..Forgetful::default() };
            let got = run(&[Source::File(path.clone())], &opts, make).unwrap().detector;
            (got.records, got.last, got.forgotten)
        };
        for budget in [Some(300), Some(1000), Some(5000), None] {
            // Cut at log-time slots, every piece is merged in order: the reference.
            let reference = run_with(1, budget, Some(1 << 40));
            assert_eq!(reference.0 + reference.2.iter().map(|f| f.0).sum::<u64>(), 3000);
            if budget == Some(300) {
                assert!(reference.2.len() > 2, "the budget acts several times: {:?}", reference.2);
            }
            for threads in [1, 2, 3, 8] {
                assert_eq!(run_with(threads, budget, None), reference, "{threads} threads, {budget:?}");
            }
        }
    }

    #[test]
    fn every_line_is_accounted_for_with_its_number() {
        let long = format!("{{\"time\":\"{}\"}}", "x".repeat(300));
        let data = format!(
            "{GOOD}\r\n\n   \n{GOOD}\n{{\"time\":\"1558723295\",\n\0\0\0\0\n{long}\n[1,2]\n\0\0{GOOD}\n{GOOD}"
        );
        for chunk in [1, 7, 64, 4096] {
            for threads in [1, 2] {
                let out = ingest_bytes(data.as_bytes(), chunk, threads);
                let c = out.stats.inputs[0].counts;
                assert_eq!((c.lines, c.parsed, c.malformed), (10, 4, 2), "chunk {chunk}");
                assert_eq!((c.empty, c.nul_padding, c.too_long), (2, 1, 1));
                assert_eq!(c.lines, c.parsed + c.malformed + c.skipped());
                let got: Vec<_> = out.stats.samples.iter().map(|s| (s.line, s.kind)).collect();
                let (malformed, skipped) = (SampleKind::Malformed, SampleKind::Skipped);
                assert_eq!(
                    got,
                    vec![(5, malformed), (7, skipped), (8, malformed)],
                    "chunk {chunk} threads {threads}"
                );
                assert_eq!(out.detector.range, Some((1_558_723_294_000, 1_558_723_294_000)));
            }
        }
    }

    #[test]
    fn lines_split_at_newlines_and_keep_a_torn_last_line() {
        let all = |b: &[u8]| lines(b).map(<[u8]>::to_vec).collect::<Vec<_>>();
        assert!(all(b"").is_empty());
        assert_eq!(all(b"\n"), vec![b"".to_vec()]);
        assert_eq!(all(b"a\n"), vec![b"a".to_vec()]);
        assert_eq!(all(b"a\nb"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(all(b"a\n\nb\n"), vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
        assert_eq!(all(b"\r\n\n"), vec![b"\r".to_vec(), b"".to_vec()]);
    }

    #[test]
    fn samples_keep_the_earliest_lines() {
        let data = "nope\n".repeat(50);
        let out = ingest_bytes(format!("{GOOD}\n{data}").as_bytes(), 16, 2);
        let lines: Vec<_> = out.stats.samples.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert_eq!(out.stats.inputs[0].counts.malformed, 50);
    }

    #[test]
    fn unreadable_and_skipped_inputs_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let err = dir.path().join("error.log");
        std::fs::write(&err, "2024/03/01 12:00:00 [error] 1#1: boom\n").unwrap();
        let empty = dir.path().join("empty.log");
        std::fs::write(&empty, "").unwrap();
        let sources = [Source::File(dir.path().join("missing.log")), Source::File(err), Source::File(empty)];
        let out = run(&sources, &IngestOptions::default(), TimeSpan::default).unwrap();
        let s = &out.stats.inputs;
        assert!(matches!(s[0].status, InputStatus::Unreadable(_)) && s[0].lost_data());
        assert!(matches!(&s[1].status, InputStatus::Skipped(r) if r.starts_with("not an access log")));
        assert_eq!(s[1].counts.lines, 0);
        assert!(matches!(&s[2].status, InputStatus::Skipped(r) if r == "empty input"));
    }

    /// The progress counter sees every byte of the files as stored: plain files counted by the
    /// chunker (an overlong line's too), a gzip file by its compressed bytes.
    #[test]
    fn bytes_read_are_counted_as_stored() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("access.log");
        let text = format!("{GOOD}\n{}\n{GOOD}\n", "x".repeat(10_000)).repeat(30);
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("access.log.1.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        let packed = enc.finish().unwrap();
        std::fs::write(&gz, &packed).unwrap();
        for (source, size) in [(plain, text.len()), (gz, packed.len())] {
            let read = ReadBytes::default();
            let opts = IngestOptions {
                chunk_bytes: 4096,
                max_line_bytes: 200,
                read_bytes: Some(read.clone()),
                ..IngestOptions::default()
            };
            let out = run(&[Source::File(source)], &opts, TimeSpan::default).unwrap();
            assert_eq!(out.stats.inputs[0].counts.too_long, 30);
            assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), size as u64);
        }
    }
}
