//! A small memory of recent byte strings and what was worked out from each (a request line's
//! split, a request target's path template): most requests of a busy log repeat one of a few
//! hundred, so the work is done once per string rather than once per line.
//!
//! A table of [`ENTRIES`] entries, each holding one string of at most [`MAX_KEY`] bytes, indexed
//! by a hash of the string and checked byte for byte: a colliding string only replaces the
//! entry. Strings crafted to collide cost their own work again, nothing more.

/// The longest string remembered.
pub(crate) const MAX_KEY: usize = 60;

/// Entries of a memo.
const ENTRIES: usize = 1024;

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
}

impl<V> std::fmt::Debug for Memo<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").field("entries", &self.entries.len()).finish_non_exhaustive()
    }
}

impl<V: Copy + Default> Memo<V> {
    /// The entry for `key`, or `None` when `key` is empty or too long to be remembered.
    #[inline]
    pub(crate) fn slot(key: &[u8]) -> Option<usize> {
        if key.is_empty() || key.len() > MAX_KEY {
            return None;
        }
        // A multiplicative hash of the words (the last one overlapping the one before).
        let h = crate::bytes::fold_words(key, 0, key.len() as u64, |h, w| {
            (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
        });
        Some((h >> (64 - ENTRIES.trailing_zeros())) as usize)
    }

    /// The value remembered for `key` in entry `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: usize, key: &[u8]) -> Option<V> {
        let e = self.entries.get(slot)?;
        (usize::from(e.len) == key.len() && crate::bytes::same_bytes(e.key.get(..key.len())?, key))
            .then_some(e.value)
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
                let Some(slot) = Memo::<u32>::slot(key) else {
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
