//! Cutting a byte stream into newline-aligned chunks that workers parse independently.
//!
//! Memory stays bounded whatever the input: a chunk holds about `chunk_bytes` of whole lines,
//! and a line longer than `max_line_bytes` is never buffered whole: its bytes are counted and
//! dropped as they arrive, and it comes out as one [`Piece::Overlong`].

use std::io::{self, Read};

use super::ReadBytes;
use super::open::add_read;

/// What the chunker hands to a worker.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Whole lines (the last one may lack its newline only at the end of the input).
    Lines(Lines),
    /// One line longer than the limit, skipped; its length in bytes.
    Overlong(u64),
}

/// Whole lines: the first `len` bytes of a buffer that keeps its full size, so that reading into
/// it again needs no zero-fill (safe Rust reads only into initialised bytes, and a buffer cut to
/// its lines would have to be zeroed past them before every read).
#[derive(Debug)]
pub struct Lines {
    buf: Vec<u8>,
    len: usize,
}

impl std::ops::Deref for Lines {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl PartialEq for Lines {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Lines {}

impl From<Vec<u8>> for Lines {
    fn from(buf: Vec<u8>) -> Self {
        Lines { len: buf.len(), buf }
    }
}

/// Reads a stream as a sequence of [`Piece`]s.
pub struct Chunker {
    reader: Box<dyn Read + Send>,
    carry: Vec<u8>,
    chunk_bytes: usize,
    max_line_bytes: usize,
    eof: bool,
    /// A read error, returned once the whole lines read before it are handed out.
    error: Option<io::Error>,
    /// A buffer handed back after use, to read the next piece into.
    spare: Option<Vec<u8>>,
    /// Where to add the bytes read, when the reader does not count them itself.
    count: Option<ReadBytes>,
    /// A followed reader had nothing new (see [`super::follow`]).
    paused: bool,
}

impl Chunker {
    /// A chunker over `reader`; `chunk_bytes` is the target chunk size.
    #[must_use]
    pub fn new(reader: Box<dyn Read + Send>, chunk_bytes: usize, max_line_bytes: usize) -> Self {
        Chunker {
            reader,
            carry: Vec::new(),
            chunk_bytes: chunk_bytes.max(1),
            max_line_bytes,
            eof: false,
            error: None,
            spare: None,
            count: None,
            paused: false,
        }
    }

    /// Adds the bytes read to `count` (see [`super::Opened::Stream`]).
    #[must_use]
    pub fn counting(mut self, count: Option<ReadBytes>) -> Self {
        self.count = count;
        self
    }

    /// Hands back the lines of a piece that was used: the next piece is read into their buffer,
    /// so a long input reuses a few buffers instead of allocating (and faulting in) a new one
    /// each time.
    pub fn recycle(&mut self, lines: Lines) {
        if lines.buf.len() >= self.chunk_bytes {
            self.spare = Some(lines.buf);
        }
    }

    /// Reads until `buf[..*filled]` holds `want` bytes or the input ends (or breaks: the error
    /// is kept). `buf` only grows (zero-filled) where it was never that long.
    fn fill(&mut self, buf: &mut Vec<u8>, filled: &mut usize, want: usize) {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        self.paused = false;
        while !self.eof && *filled < want {
            match self.reader.read(&mut buf[*filled..want]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.paused = true;
                    return;
                }
                Ok(0) => self.eof = true,
                Ok(n) => {
                    add_read(self.count.as_ref(), n);
                    *filled += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                }
            }
        }
    }

    /// The next piece, or `None` at the end of the input.
    ///
    /// A followed reader with nothing new makes it hand out the whole lines it has, or, with
    /// none, return an error of kind [`io::ErrorKind::WouldBlock`] (the bytes read so far are
    /// kept for the next call).
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        let mut buf = self.spare.take().unwrap_or_default();
        let mut filled = self.carry.len();
        if buf.len() < filled {
            buf.resize(filled, 0);
        }
        buf[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut want = self.chunk_bytes.max(filled);
        loop {
            self.fill(&mut buf, &mut filled, want);
            if let Some(e) = self.error.take() {
                // The input broke (a damaged .gz): hand out the whole lines read before the
                // damage, drop the torn tail, and report the error on the next call.
                let whole = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |p| p + 1);
                if whole == 0 {
                    return Err(e);
                }
                self.error = Some(e);
                return Ok(Some(Piece::Lines(Lines { buf, len: whole })));
            }
            if filled == 0 {
                if self.paused {
                    self.spare = Some(buf);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                return Ok(None);
            }
            if self.eof {
                return Ok(Some(Piece::Lines(Lines { buf, len: filled })));
            }
            if let Some(nl) = memchr::memrchr(b'\n', &buf[..filled]) {
                self.carry.extend_from_slice(&buf[nl + 1..filled]);
                return Ok(Some(Piece::Lines(Lines { buf, len: nl + 1 })));
            }
            if self.paused && filled <= self.max_line_bytes {
                self.carry.extend_from_slice(&buf[..filled]);
                self.spare = Some(buf);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if filled > self.max_line_bytes {
                self.spare = Some(buf);
                return self.discard_overlong(filled as u64).map(Some);
            }
            // No newline yet, but the line may still fit the limit: read on.
            want = filled + self.chunk_bytes.min(self.max_line_bytes + 1 - filled).max(1);
        }
    }

    /// Drops the rest of an overlong line, keeping what follows its newline.
    fn discard_overlong(&mut self, mut len: u64) -> io::Result<Piece> {
        let mut scratch = vec![0u8; 64 * 1024];
        loop {
            let n = match self.reader.read(&mut scratch) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(Piece::Overlong(len));
                }
                Ok(n) => {
                    add_read(self.count.as_ref(), n);
                    n
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A followed input in the middle of an overlong line: its end will come.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(nl) = memchr::memchr(b'\n', &scratch[..n]) {
                self.carry = scratch[nl + 1..n].to_vec();
                return Ok(Piece::Overlong(len + nl as u64));
            }
            len += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(data: &[u8], chunk: usize, max_line: usize) -> Vec<Piece> {
        let mut c = Chunker::new(Box::new(io::Cursor::new(data.to_vec())), chunk, max_line);
        std::iter::from_fn(|| c.next_piece().unwrap()).collect()
    }

    fn lines_of(ps: &[Piece]) -> Vec<u8> {
        ps.iter()
            .flat_map(|p| match p {
                Piece::Lines(b) => b.to_vec(),
                Piece::Overlong(n) => format!("<{n}>\n").into_bytes(),
            })
            .collect()
    }

    #[test]
    fn chunks_end_on_newlines_and_keep_everything() {
        let data = b"aa\nbbbb\ncc\nd\n";
        for chunk in 1..20 {
            let ps = pieces(data, chunk, 100);
            assert_eq!(lines_of(&ps), data, "chunk {chunk}");
            for p in &ps {
                assert!(matches!(p, Piece::Lines(b) if b.ends_with(b"\n")));
            }
        }
    }

    struct Breaks(Vec<u8>);
    impl Read for Breaks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "damaged"));
            }
            let n = out.len().min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn lines_before_a_read_error_are_kept_then_the_error_is_reported() {
        let mut c = Chunker::new(Box::new(Breaks(b"a\nb\ntor".to_vec())), 1 << 20, 100);
        assert_eq!(c.next_piece().unwrap(), Some(Piece::Lines(b"a\nb\n".to_vec().into())));
        assert!(c.next_piece().is_err());
        assert_eq!(c.next_piece().unwrap(), None);
    }

    #[test]
    fn torn_last_line_is_kept() {
        let ps = pieces(b"a\nb", 64, 100);
        assert_eq!(lines_of(&ps), b"a\nb");
    }

    #[test]
    fn overlong_lines_are_dropped_not_buffered() {
        let mut data = b"ok\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10_000));
        data.extend_from_slice(b"\nafter\n");
        let ps = pieces(&data, 16, 100);
        assert_eq!(lines_of(&ps), b"ok\n<10000>\nafter\n");
        // Overlong at the very end, without a newline.
        let ps = pieces(&[b'y'; 500], 16, 100);
        assert_eq!(ps, vec![Piece::Overlong(500)]);
    }

    #[test]
    fn line_under_the_limit_but_over_the_chunk_is_whole() {
        let mut data = vec![b'z'; 90];
        data.push(b'\n');
        let ps = pieces(&data, 16, 100);
        assert_eq!(ps, vec![Piece::Lines(data.into())]);
    }
}
