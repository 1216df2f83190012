//! Expanding the command line's paths into a list of [`Source`]s.
//!
//! Directories are walked recursively, following symlinks (loops are detected and reported,
//! never followed forever). Within a directory, rotated files are ordered oldest first
//! (`access.log.3.gz`, `access.log.2.gz`, `access.log.1`, `access.log`), which only makes the
//! report's input list easy to read: results do not depend on the order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Source;

/// A path that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputProblem {
    /// The path, as given or found.
    pub source: String,
    /// What went wrong, for the user (`permission denied`, `symlink loop`).
    pub reason: String,
    /// True when input was lost (exit 1); false for a note such as a symlink loop.
    pub lost_input: bool,
}

/// The expanded inputs.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Inputs to read, in order.
    pub sources: Vec<Source>,
    /// Paths that could not be used.
    pub problems: Vec<InputProblem>,
}

/// Expands `paths` (`-` is stdin) into sources. An empty list means stdin.
#[must_use]
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut out = Discovery::default();
    let mut seen = HashSet::new();
    if paths.is_empty() {
        out.sources.push(Source::Stdin);
    }
    for path in paths {
        if path.as_os_str() == "-" {
            if seen.insert(PathBuf::from("-")) {
                out.sources.push(Source::Stdin);
            }
            continue;
        }
        match std::fs::metadata(path) {
            Err(e) => out.problems.push(InputProblem {
                source: path.display().to_string(),
                reason: e.to_string(),
                lost_input: true,
            }),
            Ok(m) if m.is_dir() => walk(path, &mut out, &mut seen),
            Ok(_) => add_file(path.clone(), &mut out, &mut seen),
        }
    }
    out
}

fn add_file(path: PathBuf, out: &mut Discovery, seen: &mut HashSet<PathBuf>) {
    // The same file reached twice (named twice, or through a symlink) is read once.
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.insert(key) {
        out.sources.push(Source::File(path));
    }
}

fn walk(dir: &Path, out: &mut Discovery, seen: &mut HashSet<PathBuf>) {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let lost_input = e.loop_ancestor().is_none();
                let source = e.path().map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                let reason = match (e.loop_ancestor(), e.io_error()) {
                    (Some(a), _) => format!("symlink loop back to {}; not followed", a.display()),
                    (None, Some(io)) => io.to_string(),
                    (None, None) => e.to_string(),
                };
                out.problems.push(InputProblem { source, reason, lost_input });
            }
        }
    }
    files.sort_by_cached_key(|p| rotation_key(p));
    for f in files {
        add_file(f, out, seen);
    }
}

/// True for a rotated generation of a log (`access.log.1`, `access.log-20240301`, anything
/// gzipped), which no server writes to any more: `--follow` reads it once and follows the rest.
#[must_use]
pub fn is_rotated(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.ends_with(".gz") || rotation_key(path).2 != i64::MAX
}

/// Sort key that puts rotated generations of one log oldest first: for the base name
/// `access.log`, `.N` suffixes count down (`.3` before `.2`), date suffixes count up, and the
/// live file comes last.
fn rotation_key(path: &Path) -> (PathBuf, String, i64, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bare = name.strip_suffix(".gz").unwrap_or(&name);
    let split = bare
        .rfind(['.', '-'])
        .map(|i| (&bare[..i], &bare[i + 1..]))
        .filter(|(_, tail)| !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()));
    match split {
        // `access.log.12`: generation 12 is older than generation 1.
        Some((base, n)) if n.len() <= 4 => {
            let n: i64 = n.parse().unwrap_or(0);
            (dir, base.to_owned(), i64::MIN + 1 + (9999 - n), name.clone())
        }
        // `access.log-20240301` (dateext): older dates first.
        Some((base, d)) => {
            (dir, base.to_owned(), i64::MIN / 2 + d.parse::<i64>().unwrap_or(0) % (1 << 40), name.clone())
        }
        None => (dir, bare.to_owned(), i64::MAX, name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_sort_oldest_first() {
        let mut names = vec![
            "access.log",
            "access.log.1",
            "access.log.10.gz",
            "access.log.2.gz",
            "error.log",
            "site-access.log-20240302.gz",
            "site-access.log-20240301.gz",
            "site-access.log",
        ];
        names.sort_by_key(|n| rotation_key(Path::new(n)));
        assert_eq!(
            names,
            [
                "access.log.10.gz",
                "access.log.2.gz",
                "access.log.1",
                "access.log",
                "error.log",
                "site-access.log-20240301.gz",
                "site-access.log-20240302.gz",
                "site-access.log",
            ]
        );
    }

    #[test]
    fn missing_path_is_a_problem() {
        let d = discover(&[PathBuf::from("/nonexistent/nginx-forensics-test")]);
        assert!(d.sources.is_empty());
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].lost_input);
    }

    #[test]
    fn no_paths_means_stdin_and_dash_once() {
        assert_eq!(discover(&[]).sources, vec![Source::Stdin]);
        let d = discover(&[PathBuf::from("-"), PathBuf::from("-")]);
        assert_eq!(d.sources, vec![Source::Stdin]);
    }
}
