//! Finding and opening inputs: files, directories of rotated logs (walked recursively), stdin.
//!
//! This stage only deals with bytes: it knows nothing of log formats.

mod chunk;
mod discover;
mod follow;
mod open;

use std::fmt;
use std::path::PathBuf;

pub use chunk::{Chunker, Lines, Piece};
pub use discover::{Discovery, InputProblem, discover, is_rotated};
pub use follow::{FollowFile, FollowStdin, Live};
pub use open::{Compression, Opened, ReadBytes, open, open_followed};

/// One input stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file (plain or gzip; detected from its first bytes, not its name).
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("(stdin)"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}
