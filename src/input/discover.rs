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

/// Expands `paths` (`-` is stdin) into sources. An empty list means stdin. `output`, the report
/// the run writes, is never one of them (a report kept beside the logs, in the directory read):
/// it is left out with a note.
#[must_use]
pub fn discover(paths: &[PathBuf], output: Option<&Path>) -> Discovery {
    let mut out = Discovery::default();
    // Taken as if already read, so that the check every file goes through leaves it out.
    let output = output.and_then(|o| std::fs::canonicalize(o).ok());
    let mut seen: HashSet<PathBuf> = output.iter().cloned().collect();
    let output = output.as_deref();
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
            Ok(m) if m.is_dir() => walk(path, &mut out, &mut seen, output),
            Ok(_) => add_file(path.clone(), &mut out, &mut seen, output),
        }
    }
    drop_compressed_copies(&mut out);
    out
}

/// Drops `X.gz` when `X` is read too and holds the same log (`gunzip -k`, or logrotate's
/// `compress` caught before it removed `X`): read twice, every request would count twice, and
/// a probe's sessions a day with it. The copy is named in a note.
fn drop_compressed_copies(out: &mut Discovery) {
    let plain: HashSet<PathBuf> = out
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::File(p) if p.extension().is_none_or(|e| e != "gz") => Some(p.clone()),
            _ => None,
        })
        .collect();
    let mut dropped = Vec::new();
    out.sources.retain(|s| {
        let Source::File(p) = s else { return true };
        let original = p.with_extension("");
        let copy =
            p.extension().is_some_and(|e| e == "gz") && plain.contains(&original) && same_log(&original, p);
        if copy {
            dropped.push((p.clone(), original));
        }
        !copy
    });
    for (gz, original) in dropped {
        out.problems.push(InputProblem {
            source: gz.display().to_string(),
            reason: format!(
                "a compressed copy of {}, which is read instead: the log is read once",
                original.display()
            ),
            lost_input: false,
        });
    }
}

/// Whether gzip file `gz` holds what `plain` holds: the size its trailer records (modulo
/// 2^32) and the first 64 KiB are the same. A `.gz` still being written has no trailer yet, and
/// is then read as well (and reported as cut short where it is).
fn same_log(plain: &Path, gz: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    const PREFIX: u64 = 64 * 1024;
    // Regular files only: reading a named pipe here would take its data from the run.
    let regular = |p: &Path| std::fs::metadata(p).ok().filter(std::fs::Metadata::is_file);
    let (Some(plain_meta), Some(_)) = (regular(plain), regular(gz)) else { return false };
    let size = plain_meta.len();
    let trailer = std::fs::File::open(gz).and_then(|mut f| {
        f.seek(SeekFrom::End(-4))?;
        let mut isize = [0u8; 4];
        f.read_exact(&mut isize)?;
        Ok(u32::from_le_bytes(isize))
    });
    if trailer.ok() != Some((size % (1 << 32)) as u32) {
        return false;
    }
    let prefix = |r: &mut dyn Read| -> Option<Vec<u8>> {
        let mut v = Vec::new();
        r.take(PREFIX).read_to_end(&mut v).ok()?;
        Some(v)
    };
    let ours = std::fs::File::open(plain).ok().and_then(|mut f| prefix(&mut f));
    let theirs = std::fs::File::open(gz)
        .ok()
        .and_then(|f| prefix(&mut flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f))));
    ours.is_some() && ours == theirs
}

fn add_file(path: PathBuf, out: &mut Discovery, seen: &mut HashSet<PathBuf>, output: Option<&Path>) {
    // The same file reached twice (named twice, or through a symlink) is read once.
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if output == Some(key.as_path()) {
        out.problems.push(InputProblem {
            source: path.display().to_string(),
            reason: "the report this run writes (--output): not read".to_owned(),
            lost_input: false,
        });
    } else if seen.insert(key) {
        out.sources.push(Source::File(path));
    }
}

fn walk(dir: &Path, out: &mut Discovery, seen: &mut HashSet<PathBuf>, output: Option<&Path>) {
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
        add_file(f, out, seen, output);
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
    fn a_compressed_copy_of_a_log_also_read_is_read_once() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let log = b"{\"msec\":\"1.0\",\"request\":\"GET / HTTP/1.1\"}\n".repeat(3000);
        let gzip = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        std::fs::write(dir.path().join("access.log.1"), &log).unwrap();
        std::fs::write(dir.path().join("access.log.1.gz"), gzip(&log)).unwrap();
        // Another generation, and a `.gz` whose plain namesake holds something else.
        std::fs::write(dir.path().join("access.log.2.gz"), gzip(&log)).unwrap();
        std::fs::write(dir.path().join("other.log"), b"not the same\n").unwrap();
        std::fs::write(dir.path().join("other.log.gz"), gzip(b"not the same either\n")).unwrap();
        let d = discover(&[dir.path().to_path_buf()], None);
        let names: Vec<String> = d
            .sources
            .iter()
            .map(|s| match s {
                Source::File(p) => p.file_name().unwrap().to_string_lossy().into_owned(),
                Source::Stdin => "-".to_owned(),
            })
            .collect();
        assert_eq!(names, ["access.log.2.gz", "access.log.1", "other.log", "other.log.gz"]);
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        assert!(!d.problems[0].lost_input);
        assert!(d.problems[0].source.ends_with("access.log.1.gz"));
        assert!(d.problems[0].reason.starts_with("a compressed copy of "), "{}", d.problems[0].reason);
        // Named on the command line, the same.
        let both = [dir.path().join("access.log.1.gz"), dir.path().join("access.log.1")];
        assert_eq!(discover(&both, None).sources, vec![Source::File(dir.path().join("access.log.1"))]);
    }

    #[test]
    fn the_report_a_run_writes_is_not_one_of_its_inputs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("access.log"), b"x\n").unwrap();
        std::fs::write(dir.path().join("report.json"), b"{}\n").unwrap();
        let all = [dir.path().to_path_buf()];
        assert_eq!(discover(&all, None).sources.len(), 2);
        // Named another way (through `.`), it is the same file.
        let d = discover(&all, Some(&dir.path().join(".").join("report.json")));
        assert_eq!(d.sources, vec![Source::File(dir.path().join("access.log"))]);
        assert_eq!(d.problems.len(), 1);
        assert!(!d.problems[0].lost_input);
        // A report not written yet leaves everything.
        assert_eq!(discover(&all, Some(&dir.path().join("new.json"))).sources.len(), 2);
    }

    #[test]
    fn missing_path_is_a_problem() {
        let d = discover(&[PathBuf::from("/nonexistent/nginx-forensics-test")], None);
        assert!(d.sources.is_empty());
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].lost_input);
    }

    #[test]
    fn no_paths_means_stdin_and_dash_once() {
        assert_eq!(discover(&[], None).sources, vec![Source::Stdin]);
        let d = discover(&[PathBuf::from("-"), PathBuf::from("-")], None);
        assert_eq!(d.sources, vec![Source::Stdin]);
    }
}
