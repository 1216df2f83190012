//! Opening a [`Source`] as a byte stream, decompressing gzip in-process.
//!
//! Compression is recognised by magic bytes, not by file name, so a `.gz` piped on stdin works
//! and a misnamed file does not break. Multi-member gzip (concatenated `.gz` files, `pigz`
//! output) is read to the end.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::Source;
use super::follow::{FollowFile, FollowStdin, Live};

/// How an input was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain text.
    None,
    /// gzip.
    Gzip,
}

/// An opened input.
pub enum Opened {
    /// A byte stream to read, and the counter its reader must add the bytes it reads to.
    ///
    /// A gzip stream counts its compressed bytes itself. A plain stream does not: a counting
    /// wrapper around the file would hide its reads into uninitialised memory, and every chunk
    /// would be zero-filled before being read into (a pass over all the input for nothing).
    Stream(Box<dyn Read + Send>, Compression, Option<ReadBytes>),
    /// A compression this build does not read; the text says which.
    Unsupported(&'static str),
}

const BUF_BYTES: usize = 256 * 1024;

/// Bytes read from the inputs themselves (before decompression), for a progress display.
pub type ReadBytes = Arc<AtomicU64>;

/// Adds `n` bytes read to `count`, when there is one.
pub(super) fn add_read(count: Option<&ReadBytes>, n: usize) {
    if let Some(c) = count {
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A buffered reader that adds the bytes consumed from it to a shared counter: the compressed
/// bytes under a gzip decoder.
struct Counting<R> {
    inner: R,
    count: Option<ReadBytes>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        add_read(self.count.as_ref(), n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        add_read(self.count.as_ref(), amt);
        self.inner.consume(amt);
    }
}

/// Opens `source`, peeking at its first bytes to recognise compression. The bytes read from it
/// are to be added to `read_bytes`, when given (see [`Opened::Stream`]).
pub fn open(source: &Source, read_bytes: Option<&ReadBytes>) -> io::Result<Opened> {
    let count = read_bytes.cloned();
    match source {
        Source::Stdin => {
            widen_pipe(&io::stdin());
            wrap(BufReader::with_capacity(BUF_BYTES, io::stdin()), count)
        }
        Source::File(path) => wrap(BufReader::with_capacity(BUF_BYTES, File::open(path)?), count),
    }
}

/// Opens `source` to follow it (`--follow`): a plain file by its path ([`FollowFile`]), standard
/// input as a pipe that may stay open ([`FollowStdin`]). A compressed file is read once, as
/// without `--follow`: nothing appends to a `.gz`.
pub fn open_followed(source: &Source, live: &Live, read_bytes: Option<&ReadBytes>) -> io::Result<Opened> {
    let count = read_bytes.cloned();
    match source {
        Source::Stdin => {
            widen_pipe(&io::stdin());
            let mut r = BufReader::with_capacity(BUF_BYTES, FollowStdin::new(live.clone()));
            // The first bytes say whether it is compressed: wait for them (or the end).
            loop {
                match r.fill_buf() {
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            wrap(r, count)
        }
        Source::File(path) => {
            let mut head = [0u8; 6];
            let n = File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
            if n >= 2 && head[..2] == [0x1f, 0x8b] || super::is_rotated(path) {
                return open(source, read_bytes);
            }
            Ok(Opened::Stream(Box::new(FollowFile::new(path, live.clone())), Compression::None, count))
        }
    }
}

/// Asks for a 1 MiB pipe buffer when stdin is a pipe (`zcat … | nginx-forensics`): with the
/// default 64 KiB, the writer and this reader switch turns sixteen times as often. Anything else
/// (a file, a terminal, a refusal) leaves stdin as it is.
fn widen_pipe(stdin: &io::Stdin) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::pipe::fcntl_setpipe_size(stdin, PIPE_BYTES);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stdin;
}

/// The pipe buffer asked for: Linux's default ceiling for unprivileged processes
/// (`/proc/sys/fs/pipe-max-size`).
#[cfg(target_os = "linux")]
const PIPE_BYTES: usize = 1 << 20;

fn wrap<R: Read + Send + 'static>(mut r: BufReader<R>, count: Option<ReadBytes>) -> io::Result<Opened> {
    let head = r.fill_buf()?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Opened::Stream(
            Box::new(MultiGzDecoder::new(Counting { inner: r, count })),
            Compression::Gzip,
            None,
        ),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Opened::Unsupported("zstd-compressed (decompress it first: zstdcat FILE | nginx-forensics)")
        }
        [b'B', b'Z', b'h', ..] => {
            Opened::Unsupported("bzip2-compressed (decompress it first: bzcat FILE | nginx-forensics)")
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            Opened::Unsupported("xz-compressed (decompress it first: xzcat FILE | nginx-forensics)")
        }
        _ => Opened::Stream(Box::new(r), Compression::None, count),
    })
}
