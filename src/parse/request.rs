//! Request lines: `GET /path?q HTTP/1.1` split into method, target and protocol, or kept raw
//! when it is not of that shape (TLS handshakes sent to port 80, scanners' garbage). Most
//! lines of a busy log repeat a few hundred request lines, so a line split lately is split by a
//! lookup ([`RequestLines`]).

use std::borrow::Cow;

use crate::memo::Memo;
use crate::model::Record;

impl<'a> Record<'a> {
    /// Splits a request line into method, target and protocol, or keeps it raw when it is not
    /// of that shape; a line split before is split by `lines`' memory of it.
    pub(crate) fn set_request_line(&mut self, line: Cow<'a, str>, lines: &mut RequestLines) {
        match line {
            Cow::Borrowed(s) => match lines.split(s) {
                Some((m, t, p)) => {
                    self.method = Some(Cow::Borrowed(m));
                    self.target = Some(Cow::Borrowed(t));
                    self.protocol = p.map(Cow::Borrowed);
                }
                None => self.raw_request = Some(Cow::Borrowed(s)),
            },
            Cow::Owned(s) => match split_request_line(&s) {
                Some((m, t, p)) => {
                    self.method = Some(Cow::Owned(m.to_owned()));
                    self.target = Some(Cow::Owned(t.to_owned()));
                    self.protocol = p.map(|p| Cow::Owned(p.to_owned()));
                }
                None => self.raw_request = Some(Cow::Owned(s)),
            },
        }
    }
}

/// Where a request line splits: where the method ends, where the target ends, and whether a
/// protocol follows; `None` for a line that does not split.
type Split = Option<(u8, u8, bool)>;

/// The request lines a parser split lately (most requests of a busy log repeat a few hundred),
/// so that a line seen again is split by a lookup.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestLines {
    memo: Memo<Split>,
}

impl RequestLines {
    /// [`split_request_line`], remembered.
    fn split<'s>(&mut self, s: &'s str) -> Option<(&'s str, &'s str, Option<&'s str>)> {
        let slot = self.memo.slot(s.as_bytes());
        if let Some(split) = slot.and_then(|at| self.memo.get(at, s.as_bytes())) {
            let (m, t, p) = split?;
            let (m, t) = (usize::from(m), usize::from(t));
            return Some((s.get(..m)?, s.get(m + 1..t)?, if p { Some(s.get(t + 1..)?) } else { None }));
        }
        let parts = split_request_line(s);
        if let Some(at) = slot {
            // Offsets fit in a byte: a remembered line is short.
            let offsets = parts.map(|(m, t, p)| (m.len(), m.len() + 1 + t.len(), p.is_some()));
            match offsets.map(|(m, t, p)| (u8::try_from(m), u8::try_from(t), p)) {
                Some((Ok(m), Ok(t), p)) => self.memo.put(at, s.as_bytes(), Some((m, t, p))),
                None => self.memo.put(at, s.as_bytes(), None),
                Some(_) => {}
            }
        }
        parts
    }
}

/// `"GET /p?q HTTP/1.1"` → `("GET", "/p?q", Some("HTTP/1.1"))`; `"GET /p"` (HTTP/0.9) has no
/// protocol. Anything else (`\x16\x03\x01…`, `"-"`, three words without a method) is `None`.
fn split_request_line(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let b = s.as_bytes();
    // The method: up to 20 uppercase letters, `-` or `_`, then a space, read in one loop.
    let mut first = 0;
    loop {
        match b.get(first) {
            Some(b' ') if first > 0 => break,
            Some(&c) if first < 20 && (c.is_ascii_uppercase() || c == b'-' || c == b'_') => first += 1,
            _ => return None,
        }
    }
    let method = &s[..first];
    let rest = &s[first + 1..];
    // The protocol is short, so the last space is looked for from the end; nearly every line
    // ends in ` HTTP/x.y`, checked directly.
    let r = rest.as_bytes();
    let last = match r.len().checked_sub(9) {
        // (The version's three bytes are checked in a plain loop: `contains` would call memchr.)
        Some(at)
            if r[at] == b' ' && r[at + 1..at + 6] == *b"HTTP/" && r[at + 6..].iter().all(|&c| c != b' ') =>
        {
            Some(at)
        }
        _ => memchr::memrchr(b' ', r),
    };
    let (target, protocol) = match last {
        None => (rest, None),
        Some(last) => (&rest[..last], Some(&rest[last + 1..])),
    };
    // The one pass over the target that checks for control bytes also rejects a third word.
    let target_ok = !target.is_empty() && clean_target(target.as_bytes());
    let protocol_ok = protocol.is_none_or(|p| p.starts_with("HTTP/"));
    (target_ok && protocol_ok).then_some((method, target, protocol))
}

/// True when `t` has no control byte, DEL or space: eight bytes at a time, with the "has a byte
/// less than" and "has a zero byte" word tricks (exact as to whether there is one).
fn clean_target(t: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let bad = |x: u64| {
        let below_space = x.wrapping_sub(ONES * 0x21) & !x & HIGH;
        let del = x ^ (ONES * 0x7f);
        let is_del = del.wrapping_sub(ONES) & !del & HIGH;
        below_space | is_del != 0
    };
    !crate::bytes::fold_words(t, b'a', false, |found, w| found | bad(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;

    #[test]
    fn request_lines() {
        assert_eq!(split_request_line("GET /a?b=1 HTTP/1.1"), Some(("GET", "/a?b=1", Some("HTTP/1.1"))));
        assert_eq!(split_request_line("GET /"), Some(("GET", "/", None)));
        assert_eq!(split_request_line("\u{16}\u{3}\u{1}\u{0}"), None);
        assert_eq!(split_request_line("-"), None);
        assert_eq!(split_request_line("get / HTTP/1.1"), None);
        assert_eq!(split_request_line("GET /a b HTTP/1.1"), None);
        assert_eq!(split_request_line("GET / FTP"), None);
        assert_eq!(split_request_line(""), None);
        assert_eq!(split_request_line("GET / HTTP/1.1 "), None);
        assert_eq!(split_request_line("GET  /"), None);
        assert_eq!(split_request_line(&format!("{} /", "A".repeat(20))), Some((&*"A".repeat(20), "/", None)));
        assert_eq!(split_request_line(&format!("{} /", "A".repeat(21))), None);
        // A space, a control byte or DEL anywhere in a long target, on either side of a word.
        for at in 1..20 {
            for bad in [' ', '\u{1}', '\u{1f}', '\u{7f}'] {
                let mut target: Vec<char> = "/abcdefghijklmnopqrstuvwxyz".chars().collect();
                target[at] = bad;
                let target: String = target.into_iter().collect();
                assert_eq!(split_request_line(&format!("GET {target} HTTP/1.1")), None, "{target:?}");
                assert_eq!(split_request_line(&format!("GET {target}")), None, "{target:?}");
            }
        }
        assert_eq!(
            split_request_line("GET /é€~!\u{80} HTTP/1.1"),
            Some(("GET", "/é€~!\u{80}", Some("HTTP/1.1")))
        );
        assert_eq!(split_request_line("GET / HTTP/1 1"), None);
        assert_eq!(split_request_line("GET /x HTTP/1.1 x"), None);
    }

    /// The request line read word by word, as its grammar says.
    fn split_by_words(s: &str) -> Option<(&str, &str, Option<&str>)> {
        let words: Vec<&str> = s.split(' ').collect();
        let (method, target, protocol) = match words[..] {
            [m, t] => (m, t, None),
            [m, t, p] => (m, t, Some(p)),
            _ => return None,
        };
        let ok = (1..=20).contains(&method.len())
            && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            && !target.is_empty()
            && !target.bytes().any(|b| b < 0x20 || b == 0x7f)
            && protocol.is_none_or(|p| p.starts_with("HTTP/"));
        ok.then_some((method, target, protocol))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Split directly, and by a memory of the lines before (each line comes twice: the
        /// second time from memory, unless another line took its entry).
        #[test]
        fn request_lines_split_as_their_grammar_says(
            lines in proptest::collection::vec(
                "(GET|POST|[A-Z_-]{0,22}|get)( {0,2})(/[a-z0-9 ?=\x01\x1f\x7f!~é]{0,40}|-)?( {0,2})(HTTP/1.1|FTP|HTTP/2.0 |HTTP/1 1|xHTTP/1.1|HTTP/1.1 )?",
                1..6,
            )
        ) {
            let mut memory = RequestLines::default();
            for s in lines.iter().chain(&lines) {
                let want = split_by_words(s);
                proptest::prop_assert_eq!(split_request_line(s), want);
                proptest::prop_assert_eq!(memory.split(s), want);
            }
        }
    }

    #[test]
    fn owned_request_line_is_split_too() {
        let mut r = Record::at(0, TimeResolution::Seconds);
        r.set_request_line(Cow::Owned("POST /x HTTP/2.0".to_owned()), &mut RequestLines::default());
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.target.as_deref(), Some("/x"));
        let mut r = Record::at(0, TimeResolution::Seconds);
        r.set_request_line(Cow::Borrowed("SSH-2.0-Go"), &mut RequestLines::default());
        assert_eq!(r.raw_request.as_deref(), Some("SSH-2.0-Go"));
        assert!(r.method.is_none());
    }
}
