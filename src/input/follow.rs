//! Following inputs that grow (`--follow`): a file by its path, like `tail -F`, and a pipe that
//! stays open.
//!
//! A followed reader never waits: with nothing new it returns [`io::ErrorKind::WouldBlock`], so
//! that the whole lines read so far are parsed at once and other inputs get their turn (see
//! [`super::Chunker::next_piece`]); the caller waits between rounds. It ends (reads 0 bytes) only
//! when [`Live::stop`] is set.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What every followed input shares: the request to stop (SIGINT, SIGTERM) and to look at the
/// paths again (SIGHUP).
#[derive(Clone, Debug, Default)]
pub struct Live {
    stop: Arc<AtomicBool>,
    reopen: Arc<AtomicU64>,
    caught_up: Arc<AtomicBool>,
}

impl Live {
    /// Asks every followed input to end: each reads to the end of what is there, then ends.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// True once [`Live::stop`] was called.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Asks every followed file to look at its path again, now.
    pub fn reopen(&self) {
        self.reopen.fetch_add(1, Ordering::SeqCst);
    }

    /// Notes that every followed input has been read to its end once: what comes now is new.
    pub fn catch_up(&self) {
        self.caught_up.store(true, Ordering::SeqCst);
    }

    /// True once every followed input was read to its end (what they held when the run
    /// started: their history).
    #[must_use]
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::SeqCst)
    }

    fn reopens(&self) -> u64 {
        self.reopen.load(Ordering::SeqCst)
    }
}

/// Identity of a file: a path names another file once the log was rotated by rename.
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (0, m.created().ok().and_then(|t| t.elapsed().ok()).map_or(0, |d| d.as_secs()))
}

/// A file followed by its path.
///
/// - Rotation by rename (logrotate's `create`): the file the path named is read to its end (it
///   became `access.log.1`: its last lines are read, once), then the new file from its start.
/// - Truncation (`copytruncate`): the file is read again from its start once it is shorter than
///   what was read.
/// - A path with no file yet (between a rename and the new file): waited for.
pub struct FollowFile {
    path: PathBuf,
    file: Option<File>,
    id: (u64, u64),
    pos: u64,
    live: Live,
    seen_reopens: u64,
}

impl FollowFile {
    /// Follows `path` from the start of the file it names now (or from the start of the first
    /// file that appears there).
    #[must_use]
    pub fn new(path: &Path, live: Live) -> Self {
        let seen_reopens = live.reopens();
        let mut f =
            FollowFile { path: path.to_path_buf(), file: None, id: (0, 0), pos: 0, live, seen_reopens };
        f.open_path();
        f
    }

    fn open_path(&mut self) -> bool {
        match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok((file, m)) => {
                self.id = identity(&m);
                self.file = Some(file);
                self.pos = 0;
                true
            }
            Err(_) => false,
        }
    }

    /// At the end of the open file: what became of the path?
    fn look_again(&mut self) -> io::Result<bool> {
        let Ok(m) = std::fs::metadata(&self.path) else { return Ok(false) };
        if self.file.is_none() || identity(&m) != self.id {
            // Rotated (or the file appeared): the old one was read to its end.
            return Ok(self.open_path());
        }
        if m.len() < self.pos {
            // Truncated in place: what is there now was written after the truncation.
            if let Some(f) = &mut self.file {
                f.seek(SeekFrom::Start(0))?;
            }
            self.pos = 0;
            return Ok(true);
        }
        Ok(false)
    }
}

impl Read for FollowFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let reopens = self.live.reopens();
            if reopens != self.seen_reopens {
                self.seen_reopens = reopens;
                self.look_again()?;
            }
            if let Some(f) = &mut self.file {
                let n = f.read(buf)?;
                if n > 0 {
                    self.pos += n as u64;
                    return Ok(n);
                }
            }
            if self.look_again()? {
                continue;
            }
            if self.live.stopped() {
                return Ok(0);
            }
            return Err(io::ErrorKind::WouldBlock.into());
        }
    }
}

/// Standard input followed: a read waits at most a tenth of a second for data, so that the
/// lines that came are parsed at once and a stop is heard. The end of the pipe ends it.
pub struct FollowStdin {
    live: Live,
}

impl FollowStdin {
    /// Follows standard input.
    #[must_use]
    pub fn new(live: Live) -> Self {
        FollowStdin { live }
    }
}

impl Read for FollowStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            use rustix::event::{PollFd, PollFlags, poll};
            let stdin = io::stdin();
            let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
            let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => {
                    if self.live.stopped() {
                        return Ok(0);
                    }
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => return Err(e.into()),
            }
        }
        if self.live.stopped() {
            return Ok(0);
        }
        io::stdin().lock().read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_now(f: &mut FollowFile) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn appended_renamed_and_truncated_files_are_read_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let live = Live::default();
        let mut f = FollowFile::new(&path, live.clone());
        assert_eq!(read_now(&mut f), b"", "no file yet");
        std::fs::write(&path, b"a\nb\n").unwrap();
        assert_eq!(read_now(&mut f), b"a\nb\n", "the file appears");
        let mut w = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        w.write_all(b"c\n").unwrap();
        assert_eq!(read_now(&mut f), b"c\n", "appended");
        // Rotation by rename: the writer still appends to the old file, then a new one is made.
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        w.write_all(b"d\n").unwrap();
        std::fs::write(&path, b"e1\ne2\n").unwrap();
        assert_eq!(read_now(&mut f), b"d\ne1\ne2\n", "the rotated file to its end, then the new one");
        // copytruncate: the file is emptied in place and written again.
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.set_len(0).unwrap();
        w.write_all(b"f\n").unwrap();
        assert_eq!(read_now(&mut f), b"f\n", "truncated: read again from the start");
        live.stop();
        let mut buf = [0u8; 4];
        assert_eq!(f.read(&mut buf).unwrap(), 0, "a stop ends it");
    }
}
