//! The domain vocabulary shared by every stage: one access-log request as a typed [`Record`].
//!
//! Text fields borrow from the line being parsed whenever the log wrote them without escapes,
//! so the hot path allocates only for fields that needed decoding.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat};

use crate::memo::Memo;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

/// The precision the log gave a timestamp: never claim more than this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeResolution {
    /// Milliseconds (`$msec`, ISO 8601 with a fraction, epoch milliseconds).
    Millis,
    /// Whole seconds (`$time_iso8601`, `$time_local`, epoch seconds).
    Seconds,
}

/// One request, as logged, normalised across formats.
///
/// `None` means the log did not carry the field, or carried `"-"` or `""`.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    /// When the request was logged, in UTC.
    pub time: UnixMillis,
    /// How precise `time` is.
    pub resolution: TimeResolution,
    /// Request method (`GET`), when the request line was well-formed.
    pub method: Option<Cow<'a, str>>,
    /// Request target as logged: path plus query (`/orders/12?x=1`); a query logged apart from
    /// the URI (`$args`) is not added.
    pub target: Option<Cow<'a, str>>,
    /// Protocol (`HTTP/1.1`), when logged.
    pub protocol: Option<Cow<'a, str>>,
    /// The raw request line when it is not `METHOD TARGET PROTOCOL` (TLS handshakes sent to
    /// port 80, scanners' garbage). Such a request is still a record.
    pub raw_request: Option<Cow<'a, str>>,
    /// Host as logged (`$host`, `$http_host`, `$server_name`), unnormalised.
    pub host: Option<Cow<'a, str>>,
    /// User agent.
    pub user_agent: Option<Cow<'a, str>>,
    /// HTTP status code.
    pub status: Option<u16>,
    /// Client address: `$remote_addr`, else the first `X-Forwarded-For` address.
    pub client: Option<Cow<'a, str>>,
    /// Response size in bytes.
    pub bytes: Option<u64>,
    /// A `Set-Cookie` response header or upstream cookie, when the log carries one.
    pub set_cookie: Option<Cow<'a, str>>,
    /// A `Location` response header, when the log carries one.
    pub location: Option<Cow<'a, str>>,
}

impl<'a> Record<'a> {
    /// A record with a time and nothing else; parsers fill in the rest.
    #[must_use]
    pub fn at(time: UnixMillis, resolution: TimeResolution) -> Self {
        Record {
            time,
            resolution,
            method: None,
            target: None,
            protocol: None,
            raw_request: None,
            host: None,
            user_agent: None,
            status: None,
            client: None,
            bytes: None,
            set_cookie: None,
            location: None,
        }
    }

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
        let slot = Memo::<Split>::slot(s.as_bytes());
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
    !crate::fold_words(t, b'a', false, |found, w| found | bad(w))
}

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
#[must_use]
pub fn rfc3339(ms: UnixMillis) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// `x` rounded to three decimals (milliseconds, when `x` is in seconds).
#[must_use]
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Serde helpers for the report's units: times as RFC 3339, durations in seconds.
pub mod ser {
    use serde::Serializer;

    use super::UnixMillis;

    /// A time as RFC 3339 (see [`super::rfc3339`]).
    ///
    /// # Errors
    /// The serializer's.
    pub fn rfc3339<S: Serializer>(ms: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*ms))
    }

    /// A duration in milliseconds as seconds, to the millisecond.
    ///
    /// # Errors
    /// The serializer's.
    pub fn ms_as_seconds<S: Serializer>(ms: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::round3(ms / 1000.0))
    }
}

/// A duration in the unit a person would say: `500 ms`, `10 s`, `10.3 s`, `5 min`, `1 h`, `2 d`.
pub fn human_seconds(seconds: f64) -> String {
    let (value, unit) = if seconds < 1.0 {
        (seconds * 1000.0, "ms")
    } else if seconds < 120.0 {
        (seconds, "s")
    } else if seconds < 3600.0 {
        (seconds / 60.0, "min")
    } else if seconds < 172_800.0 {
        (seconds / 3600.0, "h")
    } else {
        (seconds / 86_400.0, "d")
    };
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_units() {
        assert_eq!(human_seconds(0.5), "500 ms");
        assert_eq!(human_seconds(10.0), "10 s");
        assert_eq!(human_seconds(10.3), "10.3 s");
        assert_eq!(human_seconds(300.0), "5 min");
        assert_eq!(human_seconds(3600.0), "1 h");
        assert_eq!(human_seconds(86_400.0 * 3.0), "3 d");
    }

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
