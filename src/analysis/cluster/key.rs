//! The key of a cluster: user agent, normalised host and path template, encoded as one string.

/// The key of a cluster: user agent, normalised host and path template. It keeps the one string
/// the clustering built for its hash map (`-` or `LEN:` before the user agent and the host, then
/// the path), so making keys of many clusters copies nothing; the parts are read
/// through accessors. Ordered by user agent, host, path (`None` first).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterKey {
    text: Box<str>,
    user_agent: Option<(u32, u32)>,
    host: Option<(u32, u32)>,
    path: u32,
}

impl ClusterKey {
    /// The key of these parts.
    #[must_use]
    pub fn new(user_agent: Option<&str>, host: Option<&str>, path: &str) -> Self {
        let mut text = Vec::new();
        encode_part(&mut text, user_agent);
        encode_part(&mut text, host);
        text.extend_from_slice(path.as_bytes());
        Self::from_encoded(text.into_boxed_slice())
    }

    /// The key of an encoding made by [`ClusterKey::new`] or by the cluster table.
    #[must_use]
    pub fn from_encoded(raw: Box<[u8]>) -> Self {
        let mut at = 0usize;
        let user_agent = decode_part(&raw, &mut at);
        let host = decode_part(&raw, &mut at);
        let path = at;
        match (user_agent, host, String::from_utf8(raw.into_vec())) {
            (Some(user_agent), Some(host), Ok(text)) if text.is_char_boundary(path) => ClusterKey {
                text: text.into_boxed_str(),
                user_agent,
                host,
                path: u32::try_from(path).unwrap_or(u32::MAX),
            },
            // Not made by `Clusters` (never the case): keep what can be read.
            (_, _, text) => {
                let text = text.unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                ClusterKey::new(None, None, &text)
            }
        }
    }

    /// The encoded key (distinct keys have distinct encodings).
    #[must_use]
    pub fn encoded(&self) -> &str {
        &self.text
    }

    /// User agent; `None` when not logged.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.map(|(a, b)| self.text.get(a as usize..b as usize).unwrap_or_default())
    }

    /// Normalised host; `None` when not logged.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.host.map(|(a, b)| self.text.get(a as usize..b as usize).unwrap_or_default())
    }

    /// Path template.
    #[must_use]
    pub fn path(&self) -> &str {
        self.text.get(self.path as usize..).unwrap_or_default()
    }
}

impl Ord for ClusterKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.user_agent(), self.host(), self.path()).cmp(&(other.user_agent(), other.host(), other.path()))
    }
}

impl PartialOrd for ClusterKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends `-` for an absent part, else its length in decimal, `:` and the part.
pub(super) fn encode_part(key: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => key.push(b'-'),
        Some(s) => {
            key.extend_from_slice(itoa::Buffer::new().format(s.len()).as_bytes());
            key.push(b':');
            key.extend_from_slice(s.as_bytes());
        }
    }
}

/// True when `key` is the encoding of these parts (read back with [`decode_part`]).
pub(super) fn encodes(key: &[u8], user_agent: Option<&str>, host: Option<&str>, path: &str) -> bool {
    let mut at = 0;
    for want in [user_agent, host] {
        let same = match (decode_part(key, &mut at), want) {
            (Some(None), None) => true,
            (Some(Some((start, end))), Some(want)) => {
                crate::bytes::same_bytes(&key[start as usize..end as usize], want.as_bytes())
            }
            _ => false,
        };
        if !same {
            return false;
        }
    }
    crate::bytes::same_bytes(key.get(at..).unwrap_or_default(), path.as_bytes())
}

/// Reads one part written by [`encode_part`] at `*at`: `Some(None)` for an absent part,
/// `Some(Some(range))` for a present one, `None` when the bytes are not such a part.
#[allow(clippy::option_option)]
pub(super) fn decode_part(key: &[u8], at: &mut usize) -> Option<Option<(u32, u32)>> {
    if key.get(*at) == Some(&b'-') {
        *at += 1;
        return Some(None);
    }
    let digits = key.get(*at..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    // Read on every request (to compare keys): digits folded here, not through `str::parse`.
    let len = key[*at..*at + digits]
        .iter()
        .try_fold(0usize, |n, &d| n.checked_mul(10)?.checked_add(usize::from(d - b'0')))?;
    let start = *at + digits + 1;
    let end = start.checked_add(len)?;
    if key.get(*at + digits) != Some(&b':') || end > key.len() {
        return None;
    }
    *at = end;
    Some(Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?)))
}

/// The parts of an encoded key as bytes, in the order keys sort by (user agent, host, path;
/// `None` first), read without decoding the key into a [`ClusterKey`].
pub(super) fn parts(key: &[u8]) -> (Option<&[u8]>, Option<&[u8]>, &[u8]) {
    let mut at = 0;
    let part = |range: Option<(u32, u32)>| range.and_then(|(a, b)| key.get(a as usize..b as usize));
    match (decode_part(key, &mut at), decode_part(key, &mut at)) {
        (Some(user_agent), Some(host)) => (part(user_agent), part(host), key.get(at..).unwrap_or_default()),
        // Not an encoding (never the case): as `ClusterKey::from_encoded` reads it.
        _ => (None, None, key),
    }
}

/// A fixed hash of an encoded cluster key (FNV-style, eight bytes at a time, then a final mix):
/// the same on every platform and build, so orders made with it are.
pub(super) fn order_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ key.len() as u64;
    for word in key.chunks(8) {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_parts_and_order() {
        let parts: [(Option<&str>, Option<&str>, &str); 7] = [
            (None, None, "/"),
            (None, Some(""), "/"),
            (Some(""), None, "/a"),
            (Some("1:2"), Some("-"), "/x"),
            (Some("curl/8 é"), Some("h"), "(no request)"),
            (Some("curl/8 é"), Some("h"), ""),
            (Some(&"u".repeat(1234)), Some("10:h"), "/10:"),
        ];
        let keys: Vec<ClusterKey> = parts.iter().map(|&(u, h, p)| ClusterKey::new(u, h, p)).collect();
        for (k, &(u, h, p)) in keys.iter().zip(&parts) {
            assert_eq!((k.user_agent(), k.host(), k.path()), (u, h, p));
        }
        for (a, pa) in keys.iter().zip(&parts) {
            for (b, pb) in keys.iter().zip(&parts) {
                assert_eq!(a.cmp(b), pa.cmp(pb), "{pa:?} {pb:?}");
                assert_eq!(a == b, pa == pb);
            }
        }
        let odd = ClusterKey::from_encoded(b"12:short".to_vec().into_boxed_slice());
        assert_eq!((odd.user_agent(), odd.host(), odd.path()), (None, None, "12:short"));
    }
}
