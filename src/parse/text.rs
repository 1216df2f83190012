//! Turning logged bytes into text: JSON string escapes, nginx's `\xHH` escapes (written by
//! `log_format` without `escape=json`, and in the `combined` format), and invalid UTF-8.
//!
//! Decoding never fails: an unknown escape is kept literally, a lone surrogate becomes U+FFFD and
//! invalid UTF-8 is replaced, so one odd byte never costs a whole line.

use std::borrow::Cow;

/// Text of a logged value. `escaped` says whether `raw` holds a backslash (decided while
/// scanning), so values without one are borrowed with no copy.
pub(crate) fn text(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    if escaped {
        Cow::Owned(into_string(decode_escapes(raw)))
    } else {
        // `from_utf8` validates ASCII a word at a time; `from_utf8_lossy` alone is several times
        // slower on the common, valid case.
        match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(raw),
        }
    }
}

/// A line being parsed: its bytes and, when they are known to be valid UTF-8 (the ingest checks
/// a whole chunk at once, far cheaper than checking each value), the same line as text, so that
/// values are sliced from it with no further check.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> From<&'a [u8]> for Line<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Line { bytes, text: None }
    }
}

impl<'a> From<&'a str> for Line<'a> {
    fn from(text: &'a str) -> Self {
        Line { bytes: text.as_bytes(), text: Some(text) }
    }
}

impl<'a> Line<'a> {
    /// The line's bytes.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// `part` (a slice of this line) as text, when the line is known to be text and `part`
    /// starts and ends on character boundaries.
    #[inline]
    pub(crate) fn str_of(&self, part: &'a [u8]) -> Option<&'a str> {
        let text = self.text?;
        let offset = (part.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        text.get(offset..offset.checked_add(part.len())?)
    }

    /// `part` (a slice of this line, such as one line of a chunk) as a line of its own, still
    /// known to be text when it starts and ends on character boundaries.
    #[must_use]
    pub fn sub_line(&self, part: &'a [u8]) -> Line<'a> {
        Line { bytes: part, text: self.str_of(part) }
    }

    /// Text of a logged value within this line (see [`text`]).
    #[inline]
    pub(crate) fn text(&self, part: &'a [u8], escaped: bool) -> Cow<'a, str> {
        match self.str_of(part).filter(|_| !escaped) {
            Some(s) => Cow::Borrowed(s),
            None => text(part, escaped),
        }
    }
}

/// Bytes of a logged value with its escapes decoded: `\xHH` becomes the raw byte, JSON escapes
/// their character.
pub(crate) fn decode_escapes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else {
            out.push(b'\\');
            break;
        };
        let simple = match e {
            b'"' | b'\\' | b'/' => Some(e),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else if e == b'x' {
            if let Some(v) = hex_byte(raw.get(i + 2..i + 4)) {
                out.push(v);
                i += 4;
            } else {
                out.push(b'\\');
                i += 1;
            }
        } else if e == b'u' {
            match unicode_escape(&raw[i..]) {
                Some((c, used)) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += used;
                }
                None => {
                    out.push(b'\\');
                    i += 1;
                }
            }
        } else {
            out.push(b'\\');
            i += 1;
        }
    }
    out
}

fn into_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_byte(two: Option<&[u8]>) -> Option<u8> {
    let two = two?;
    Some(hex_digit(two[0])? << 4 | hex_digit(two[1])?)
}

fn hex_u16(four: Option<&[u8]>) -> Option<u16> {
    four?.iter().try_fold(0u16, |acc, &b| Some(acc << 4 | u16::from(hex_digit(b)?)))
}

/// `\uXXXX`, or a `\uD8xx\uDCxx` surrogate pair, at the start of `s`; returns the character and
/// the bytes used. A lone surrogate decodes to U+FFFD.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hi = hex_u16(s.get(2..6))?;
    if (0xD800..0xDC00).contains(&hi) {
        if s.get(6..8) == Some(b"\\u") {
            if let Some(lo) = hex_u16(s.get(8..12)) {
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                    return Some((char::from_u32(c).unwrap_or('\u{FFFD}'), 12));
                }
            }
        }
        return Some(('\u{FFFD}', 6));
    }
    Some((char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}'), 6))
}

/// The quotes and backslashes of a line, found 64 bytes at a time (a few vector compares and one
/// bit mask per block) and read off the mask, where a `memchr2` per value paid a call and its
/// set-up for a value of a few dozen bytes. The mask of the last block used is kept, so the values
/// of one line, read left to right, mostly share blocks.
pub(crate) struct Specials<'a> {
    s: &'a [u8],
    /// Start of the block `mask` describes (`usize::MAX` before the first).
    at: usize,
    /// Bit `i` set when `s[at + i]` is a quote or a backslash.
    mask: u64,
}

impl<'a> Specials<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Specials { s, at: usize::MAX, mask: 0 }
    }

    /// Index of the first quote or backslash at or after `from`.
    #[inline(always)]
    fn next(&mut self, from: usize) -> Option<usize> {
        if from >= self.s.len() {
            return None;
        }
        let mut at = from & !63;
        if at != self.at {
            self.load(at);
        }
        let mut m = self.mask & (u64::MAX << (from & 63));
        while m == 0 {
            at += 64;
            if at >= self.s.len() {
                return None;
            }
            self.load(at);
            m = self.mask;
        }
        Some(at + m.trailing_zeros() as usize)
    }

    /// Loads the mask of the block starting at `at` (bits past the end of the line are clear).
    #[inline]
    fn load(&mut self, at: usize) {
        self.at = at;
        self.mask = match self.s.get(at..at + 64).and_then(|b| <&[u8; 64]>::try_from(b).ok()) {
            Some(block) => special_mask(block),
            None => match self.s.len().checked_sub(64).and_then(|last| self.s.get(last..)) {
                // The last, partial block: the block ending at the line's end, shifted.
                Some(end) => {
                    <&[u8; 64]>::try_from(end).map_or(0, |b| special_mask(b) >> (at + 64 - self.s.len()))
                }
                None => {
                    let mut pad = [0u8; 64];
                    let tail = self.s.get(at..).unwrap_or_default();
                    pad[..tail.len()].copy_from_slice(tail);
                    special_mask(&pad)
                }
            },
        };
    }

    /// Scans a quoted string whose opening quote is just before `start`: returns its body,
    /// whether it holds a backslash escape, and the index after the closing quote. `None` when
    /// the line ends first.
    #[inline(always)]
    pub(crate) fn quoted(&mut self, start: usize) -> Option<(&'a [u8], bool, usize)> {
        let mut pos = start;
        let mut escaped = false;
        loop {
            let found = self.next(pos)?;
            if self.s[found] == b'"' {
                return Some((&self.s[start..found], escaped, found + 1));
            }
            escaped = true;
            pos = found + 2;
        }
    }
}

/// Bit `i` set when `block[i]` is `"` or `\\`: SSE2 (part of every x86-64), 16 bytes a compare.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn special_mask(block: &[u8; 64]) -> u64 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let quote = set_splat_i8_m128i(b'"' as i8);
    let backslash = set_splat_i8_m128i(b'\\' as i8);
    let mut mask = 0;
    for (k, part) in block.chunks_exact(16).enumerate() {
        if let Ok(part) = <&[u8; 16]>::try_from(part) {
            let v = load_unaligned_m128i(part);
            let hit = bitor_m128i(cmp_eq_mask_i8_m128i(v, quote), cmp_eq_mask_i8_m128i(v, backslash));
            mask |= u64::from(move_mask_i8_m128i(hit) as u16) << (16 * k);
        }
    }
    mask
}

/// Bit `i` set when `block[i]` is `"` or `\\` (elsewhere than on x86-64).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn special_mask(block: &[u8; 64]) -> u64 {
    special_mask_bytewise(block)
}

/// [`special_mask`] a byte at a time: the reference it is tested against, and the portable one.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn special_mask_bytewise(block: &[u8; 64]) -> u64 {
    block.iter().enumerate().fold(0, |m, (i, &b)| m | u64::from(b == b'"' || b == b'\\') << i)
}

/// [`Specials::quoted`] for one string of a line.
#[inline]
pub(crate) fn scan_quoted(s: &[u8], start: usize) -> Option<(&[u8], bool, usize)> {
    Specials::new(s).quoted(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> String {
        text(s, true).into_owned()
    }

    #[test]
    fn nginx_hex_escapes_become_bytes() {
        assert_eq!(dec(br"a\x22b"), "a\"b");
        // UTF-8 written byte by byte by escape=default.
        assert_eq!(dec(br"caf\xC3\xA9"), "café");
        assert_eq!(dec(br"\x5Cx"), "\\x");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(dec(br#"\"q\" \\ \/ \n\t"#), "\"q\" \\ / \n\t");
        assert_eq!(dec(br"\u00e9\u20AC"), "é€");
        assert_eq!(dec(br"\ud83d\ude00"), "😀");
    }

    #[test]
    fn broken_escapes_never_fail() {
        assert_eq!(dec(br"\q"), "\\q");
        assert_eq!(dec(br"\x4"), "\\x4");
        assert_eq!(dec(br"\xZZ"), "\\xZZ");
        assert_eq!(dec(br"end\"), "end\\");
        assert_eq!(dec(br"\ud800x"), "\u{FFFD}x");
        assert_eq!(dec(br"\u12"), "\\u12");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(dec(br"\xFFok"), "\u{FFFD}ok");
        assert_eq!(text(b"\xffok", false), "\u{FFFD}ok");
        assert!(matches!(text(b"plain", false), Cow::Borrowed("plain")));
    }

    #[test]
    fn values_of_a_text_line_are_sliced_from_it() {
        let line = Line::from("{\"a\":\"héllo\",\"b\":\"x\\x22\"}");
        let b = line.bytes();
        assert_eq!(line.str_of(&b[6..12]), Some("héllo"));
        assert_eq!(line.str_of(&b[6..8]), None, "not on a character boundary");
        assert_eq!(line.str_of(b"elsewhere"), None, "not part of the line");
        assert!(matches!(line.text(&b[6..12], false), Cow::Borrowed("héllo")));
        assert_eq!(line.text(&b[19..24], true), "x\"");
        let bytes = Line::from(b"\xffok".as_slice());
        assert_eq!(bytes.str_of(bytes.bytes()), None);
        assert_eq!(bytes.text(bytes.bytes(), false), "\u{FFFD}ok");
    }

    /// `scan_quoted` as the grammar says it, a byte at a time.
    fn quoted_bytewise(s: &[u8], start: usize) -> Option<(&[u8], bool, usize)> {
        let mut i = start;
        let mut escaped = false;
        loop {
            match s.get(i)? {
                b'"' => return Some((&s[start..i], escaped, i + 1)),
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_block_mask_finds_every_quote_and_backslash(
            block in proptest::collection::vec(proptest::sample::select(vec![b'"', b'\\', b'a', 0, 0xff, b'"' ^ 0x80]), 64)
        ) {
            let block: [u8; 64] = block.try_into().unwrap();
            proptest::prop_assert_eq!(special_mask(&block), special_mask_bytewise(&block));
        }

        /// Strings of any length, so that values start, end and escape on either side of a
        /// 64-byte block, in the last partial block, and in lines shorter than one block.
        #[test]
        fn strings_are_scanned_as_the_grammar_says(
            line in proptest::collection::vec(proptest::sample::select(vec![b'"', b'\\', b'x', b' ']), 0..300),
            starts in proptest::collection::vec(0usize..300, 1..6),
        ) {
            let mut specials = Specials::new(&line);
            for start in starts {
                proptest::prop_assert_eq!(specials.quoted(start), quoted_bytewise(&line, start));
                proptest::prop_assert_eq!(scan_quoted(&line, start), quoted_bytewise(&line, start));
            }
        }
    }
}
