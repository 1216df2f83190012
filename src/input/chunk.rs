//! Cutting a byte stream into newline-aligned chunks that workers parse independently.
//!
//! Memory stays bounded whatever the input: a chunk holds about `chunk_bytes` of whole lines,
//! and a line longer than `max_line_bytes` is never buffered whole: its bytes are counted and
//! dropped as they arrive, and it comes out as one [`Piece::Overlong`].

use std::io::{self, Read};
use std::sync::atomic::Ordering;

use super::ReadBytes;

/// What the chunker hands to a worker.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Whole lines (the last one may lack its newline only at the end of the input).
    Lines(Vec<u8>),
    /// One line longer than the limit, skipped; its length in bytes.
    Overlong(u64),
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
        }
    }

    /// Adds the bytes read to `count` (see [`super::Opened::Stream`]).
    #[must_use]
    pub fn counting(mut self, count: Option<ReadBytes>) -> Self {
        self.count = count;
        self
    }

    /// Hands back the buffer of a piece that was used: the next piece is read into it, so a
    /// long input reuses a few buffers instead of allocating (and faulting in) a new one each time.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= self.chunk_bytes {
            self.spare = Some(buf);
        }
    }

    fn counted(&self, n: usize) {
        if let Some(c) = &self.count {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Reads until `buf` holds `want` bytes or the input ends (or breaks: the error is kept).
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) {
        while !self.eof && buf.len() < want {
            let need = (want - buf.len()) as u64;
            match (&mut self.reader).take(need).read_to_end(buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.counted(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                }
            }
        }
    }

    /// The next piece, or `None` at the end of the input.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        let mut buf = match self.spare.take() {
            Some(mut spare) => {
                spare.clear();
                spare.extend_from_slice(&self.carry);
                self.carry.clear();
                spare
            }
            None => std::mem::take(&mut self.carry),
        };
        buf.reserve(self.chunk_bytes.saturating_sub(buf.len()));
        let mut want = self.chunk_bytes;
        loop {
            self.fill(&mut buf, want);
            if let Some(e) = self.error.take() {
                // The input broke (a damaged .gz): hand out the whole lines read before the
                // damage, drop the torn tail, and report the error on the next call.
                buf.truncate(memchr::memrchr(b'\n', &buf).map_or(0, |p| p + 1));
                if buf.is_empty() {
                    return Err(e);
                }
                self.error = Some(e);
                return Ok(Some(Piece::Lines(buf)));
            }
            if buf.is_empty() {
                return Ok(None);
            }
            if self.eof {
                return Ok(Some(Piece::Lines(buf)));
            }
            if let Some(nl) = memchr::memrchr(b'\n', &buf) {
                self.carry = buf.split_off(nl + 1);
                return Ok(Some(Piece::Lines(buf)));
            }
            if buf.len() > self.max_line_bytes {
                return self.discard_overlong(buf.len() as u64).map(Some);
            }
            // No newline yet, but the line may still fit the limit: read on.
            want = buf.len() + self.chunk_bytes.min(self.max_line_bytes + 1 - buf.len()).max(1);
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
                    self.counted(n);
                    n
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
                Piece::Lines(b) => b.clone(),
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
        assert_eq!(c.next_piece().unwrap(), Some(Piece::Lines(b"a\nb\n".to_vec())));
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
        assert_eq!(ps, vec![Piece::Lines(data)]);
    }
}
