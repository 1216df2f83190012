//! A small memory of recent byte strings and what was worked out from each (a request line's
//! split, a request target's path template): most requests of a busy log repeat one of a few
//! hundred, so the work is done once per string rather than once per line.
//!
//! A table of [`ENTRIES`] entries, each holding one string of at most [`MAX_KEY`] bytes, indexed
//! by a hash of the string and checked byte for byte: a colliding string only replaces the
//! entry. Strings crafted to collide cost their own work again, nothing more.
//!
//! A memo that finds almost nothing (a log where every request differs: a scanner's, or a
//! probe on each of many paths) rests for a while: a lookup that misses costs a cache miss on
//! its entry and a copy of the string, for nothing. The values are worked out the same either
//! way; only the work saved differs.

/// The longest string remembered.
pub(crate) const MAX_KEY: usize = 60;

/// Entries of a memo.
const ENTRIES: usize = 1024;

/// Lookups over which a memo's hits are counted, and the fewest hits in them that keep it in use.
const WINDOW: u32 = 4096;
const FEWEST_HITS: u32 = WINDOW / 16;

/// Strings that go by unremembered while a memo rests.
const REST: u32 = 1 << 16;

#[derive(Clone, Copy)]
struct Entry<V> {
    /// Length of `key` (0: an empty entry; an empty string is never remembered).
    len: u8,
    key: [u8; MAX_KEY],
    value: V,
}

/// Recent strings and their values.
#[derive(Clone, Default)]
pub(crate) struct Memo<V> {
    /// Allocated on the first value remembered.
    entries: Vec<Entry<V>>,
    /// Lookups and hits in the current window.
    lookups: u32,
    hits: u32,
    /// Strings still to go by unremembered, while the memo rests.
    resting: u32,
}

impl<V> std::fmt::Debug for Memo<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").field("entries", &self.entries.len()).finish_non_exhaustive()
    }
}

impl<V: Copy + Default> Memo<V> {
    /// The entry for `key`, or `None` when `key` is not to be looked up: empty, too long to be
    /// remembered, or come while the memo rests.
    #[inline]
    pub(crate) fn slot(&mut self, key: &[u8]) -> Option<usize> {
        if self.resting > 0 {
            self.resting -= 1;
            return None;
        }
        if key.is_empty() || key.len() > MAX_KEY {
            return None;
        }
        // A multiplicative hash of the words (the last one overlapping the one before).
        let h = crate::bytes::fold_words(key, 0, key.len() as u64, |h, w| {
            (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
        });
        Some((h >> (64 - ENTRIES.trailing_zeros())) as usize)
    }

    /// The value remembered for `key` in entry `slot`. Every [`WINDOW`] lookups, a memo that
    /// found fewer than [`FEWEST_HITS`] starts to rest for [`REST`] strings.
    #[inline]
    pub(crate) fn get(&mut self, slot: usize, key: &[u8]) -> Option<V> {
        let found = self.entries.get(slot).and_then(|e| {
            (usize::from(e.len) == key.len() && crate::bytes::same_bytes(e.key.get(..key.len())?, key))
                .then_some(e.value)
        });
        self.lookups += 1;
        self.hits += u32::from(found.is_some());
        if self.lookups == WINDOW {
            if self.hits < FEWEST_HITS {
                self.resting = REST;
            }
            (self.lookups, self.hits) = (0, 0);
        }
        found
    }

    /// Remembers `value` for `key` in entry `slot`.
    pub(crate) fn put(&mut self, slot: usize, key: &[u8], value: V) {
        if self.entries.is_empty() {
            self.entries = vec![Entry { len: 0, key: [0; MAX_KEY], value: V::default() }; ENTRIES];
        }
        if let (Some(e), Ok(len)) = (self.entries.get_mut(slot), u8::try_from(key.len())) {
            if let Some(place) = e.key.get_mut(..key.len()) {
                place.copy_from_slice(key);
                (e.len, e.value) = (len, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memo that finds nothing rests: no lookups for [`REST`] strings, then it tries again;
    /// one that keeps finding what it remembered never rests.
    #[test]
    fn a_memo_that_finds_nothing_rests_and_tries_again() {
        let mut memo: Memo<u32> = Memo::default();
        let lookup = |memo: &mut Memo<u32>, key: &[u8]| -> Option<Option<u32>> {
            let slot = memo.slot(key)?;
            let got = memo.get(slot, key);
            if got.is_none() {
                memo.put(slot, key, 7);
            }
            Some(got)
        };
        for i in 0..WINDOW {
            assert_eq!(lookup(&mut memo, format!("/p/x{i}").as_bytes()), Some(None), "{i}");
        }
        for i in 0..REST {
            assert_eq!(lookup(&mut memo, b"/again"), None, "resting: {i}");
        }
        assert_eq!(lookup(&mut memo, b"/again"), Some(None));
        // A few strings again and again: found, so it never rests.
        for i in 0..4 * WINDOW {
            let key = format!("/q/{}", i % 8);
            let got = lookup(&mut memo, key.as_bytes());
            assert!(got.is_some(), "{i}");
            assert!(i < 8 || got == Some(Some(7)), "{i}");
        }
    }

    proptest::proptest! {
        /// Whatever was remembered before, a string's value is the last remembered for it or
        /// nothing; never another string's.
        #[test]
        fn a_memo_gives_back_only_what_was_put_for_that_string(
            ops in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..70), 0u32..1000), 0..200),
        ) {
            let mut memo: Memo<u32> = Memo::default();
            let mut last = std::collections::HashMap::new();
            for (key, value) in &ops {
                let Some(slot) = memo.slot(key) else {
                    proptest::prop_assert!(key.is_empty() || key.len() > MAX_KEY);
                    continue;
                };
                if let Some(got) = memo.get(slot, key) {
                    proptest::prop_assert_eq!(Some(&got), last.get(key));
                }
                memo.put(slot, key, *value);
                last.insert(key.clone(), *value);
                proptest::prop_assert_eq!(memo.get(slot, key), Some(*value));
            }
        }
    }
}
