//! Word-at-a-time byte helpers for the hot path: tests and comparisons that read eight bytes
//! at a time where a byte loop or a library call cost more than the work.
//!
//! Each helper is exact (no false positives or negatives) and is checked by a property test
//! against the plain byte-at-a-time rule it replaces.

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

/// True when `b` has an ASCII uppercase letter: eight bytes at a time, with the "has a byte
/// between" word trick (exact; bytes over 127 never count).
pub(crate) fn has_ascii_uppercase(b: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    let between = |x: u64| {
        // Bytes greater than b'A' - 1 and less than b'Z' + 1.
        let low = x & (ONES * 127);
        (ONES * (127 + u64::from(b'Z' + 1)) - low)
            & !x
            & (low + ONES * (127 - u64::from(b'A' - 1)))
            & (ONES * 128)
    };
    fold_words(b, 0, 0, |found, w| found | between(w)) != 0
}

#[cfg(test)]
mod tests {
    use super::{fold_words, has_ascii_uppercase, same_bytes};

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

        #[test]
        fn has_ascii_uppercase_is_any_uppercase_byte(b in proptest::collection::vec(proptest::sample::select(vec![
            0u8, b'@', b'A', b'M', b'Z', b'[', b'`', b'a', b'z', 0x7f, 0x80, 0xc1, 0xda, 0xff,
        ]), 0..40)) {
            proptest::prop_assert_eq!(has_ascii_uppercase(&b), b.iter().any(u8::is_ascii_uppercase));
        }
    }
}
