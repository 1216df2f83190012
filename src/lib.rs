//! `nginx-forensics`: find the callers that quietly hurt a service, from Nginx access logs.
//!
//! The crate is a pipeline whose modules are its stages:
//!
//! 1. [`input`] finds the inputs (files, directories of rotated logs, stdin) and opens them,
//!    decompressing gzip in-process;
//! 2. [`parse`] turns one line (JSON in any common key set, with nginx's `\xHH` escapes, or the
//!    `combined` text format) into a typed [`model::Record`];
//! 3. [`ingest`] streams every input in newline-aligned chunks across a rayon pool, accounts for
//!    every line (parsed, malformed with `file:line: reason`, or skipped with a reason) and feeds
//!    the records to a [`analysis::Detector`];
//! 4. [`report`] turns the result into a [`report::Report`] and renders it.
//!
//! ```
//! use nginx_forensics::{ingest, input::Source, analysis::TimeSpan};
//! let line = br#"{"@timestamp":"2019-05-24T18:41:34+00:00","host":"172.12.1.189:80","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}"#;
//! let dir = std::env::temp_dir().join("nf-doc-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("access.log");
//! std::fs::write(&path, [line.as_slice(), b"\n"].concat()).unwrap();
//! let out = ingest::run(&[Source::File(path)], &ingest::IngestOptions::default(), TimeSpan::default).unwrap();
//! assert_eq!(out.stats.totals().parsed, 1);
//! ```

pub mod analysis;
pub mod app;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod input;
mod memo;
pub mod model;
pub mod parse;
pub mod report;
pub mod synth;

/// Drops `value` on a thread of its own, which nothing waits for: freeing half a million small
/// allocations (the clusters of a scanner's log) one by one costs more than the work that made
/// them, and the process's exit does not wait for it.
pub(crate) fn drop_later<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// `a == b` for the short byte strings compared on every line (the literals between JSON values,
/// the parts of a cluster key): up to 32 bytes, a few word compares in line, where a `memcmp`
/// call cost more than the comparison; longer ones are left to `memcmp`.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| s.get(i..i + 8).and_then(|w| w.try_into().ok()).map(u64::from_le_bytes);
    match n {
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=32 => {
            // Words at 0, 8, 16 (as far as they fit) and one ending at the end, overlapping.
            let mut i = 0;
            while i + 8 < n {
                if word(a, i) != word(b, i) {
                    return false;
                }
                i += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

/// Folds `f` over little-endian words that cover `b`, for tests of "any byte such that" and for
/// hashes: the whole words, then the last eight bytes (overlapping the words before, which such
/// uses allow), or for a `b` shorter than a word its bytes padded with `pad`. A plain loop: an
/// iterator chain of the three cases cost more than the words.
#[inline]
pub(crate) fn fold_words<T>(b: &[u8], pad: u8, init: T, mut f: impl FnMut(T, u64) -> T) -> T {
    let word =
        |at: usize| b.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map_or(0, u64::from_le_bytes);
    let n = b.len();
    if n < 8 {
        let mut w = [pad; 8];
        for (d, s) in w.iter_mut().zip(b) {
            *d = *s;
        }
        return f(init, u64::from_le_bytes(w));
    }
    let mut acc = init;
    let mut at = 0;
    while at + 8 <= n {
        acc = f(acc, word(at));
        at += 8;
    }
    if at < n { f(acc, word(n - 8)) } else { acc }
}

#[cfg(test)]
mod tests {
    use super::{fold_words, same_bytes};

    proptest::proptest! {
        /// The words hold every byte of `b`, and no other byte but the padding of a short `b`.
        #[test]
        fn the_words_cover_every_byte_and_no_other(b in proptest::collection::vec(0u8..6, 0..40), pad in 0u8..6) {
            for v in 0u8..6 {
                let seen = fold_words(&b, pad, false, |seen, w| seen || w.to_le_bytes().contains(&v));
                proptest::prop_assert_eq!(seen, b.contains(&v) || (b.len() < 8 && v == pad), "{}", v);
            }
        }

        #[test]
        fn same_bytes_is_equality(a in proptest::collection::vec(0u8..3, 0..40), flip in 0usize..40) {
            let mut b = a.clone();
            proptest::prop_assert!(same_bytes(&a, &b));
            if let Some(x) = b.get_mut(flip) {
                *x ^= 1;
            }
            proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
            proptest::prop_assert_eq!(same_bytes(&a, &b[..b.len().saturating_sub(1)]), a.is_empty());
        }
    }
}
