//! Host and path normalisation, and the path words that the clustering and the probe rules
//! share.
//!
//! Hosts are lowercased and lose their default port (`172.12.1.189:80` is `172.12.1.189`); paths
//! lose their origin, query and fragment, and numeric, UUID and long-hex segments become `:id`
//! (`/orders/123` is `/orders/:id`) unless `--raw-paths`. Health and login paths are never
//! templated: `/health/2` stays what it is. All of this runs for every request, so the word
//! tests are table lookups and a template of a recent target is remembered.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::memo::Memo;

/// Normalises a host: trimmed, lowercase, without a trailing dot or a default port. Borrowed
/// unless it has uppercase letters: this runs for every request.
#[must_use]
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    // Each step is guarded by a test of one end byte: most hosts need none of them.
    let mut h = host;
    let ends = |h: &str, test: fn(&u8) -> bool| {
        h.as_bytes().first().is_some_and(test) || h.as_bytes().last().is_some_and(test)
    };
    if ends(h, u8::is_ascii_whitespace) {
        h = h.trim_ascii();
    }
    if h.as_bytes().last().is_some_and(u8::is_ascii_digit) {
        for port in [":80", ":443"] {
            if let Some(stripped) = h.strip_suffix(port) {
                // `[::1]:80` or `name:80`, but not an IPv6 address ending in `:80`.
                if !stripped.contains(':') || stripped.ends_with(']') {
                    h = stripped;
                    break;
                }
            }
        }
    }
    if h.len() > 1 {
        h = h.strip_suffix('.').unwrap_or(h);
    }
    if crate::bytes::has_ascii_uppercase(h.as_bytes()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// Words of health endpoints (`/health`, `/api/v1/healthz`, `/ping.html`).
const HEALTH_WORDS: [&str; 17] = [
    "health",
    "healthz",
    "healthcheck",
    "health-check",
    "health_check",
    "_health",
    "__health",
    "livez",
    "readyz",
    "ready",
    "live",
    "alive",
    "isalive",
    "ping",
    "status",
    "heartbeat",
    "healthy",
];

/// Words of login, sign-in and single-sign-on paths.
const LOGIN_WORDS: [&str; 14] = [
    "login",
    "signin",
    "sign-in",
    "sign_in",
    "logon",
    "auth",
    "authorize",
    "authenticate",
    "oauth",
    "oauth2",
    "sso",
    "saml",
    "cas",
    "j_spring_security_check",
];

/// A segment up to its first `.` (`ping.html` → `ping`).
fn stem(seg: &str) -> &str {
    // A plain loop: segments are short, and a memchr call costs more than it saves on them.
    &seg[..seg.bytes().position(|b| b == b'.').unwrap_or(seg.len())]
}

/// Every health word, then every login word.
const WORDS: [&str; HEALTH_WORDS.len() + LOGIN_WORDS.len()] = {
    let mut all = [""; HEALTH_WORDS.len() + LOGIN_WORDS.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < HEALTH_WORDS.len() { HEALTH_WORDS[i] } else { LOGIN_WORDS[i - HEALTH_WORDS.len()] };
        i += 1;
    }
    all
};

/// Bits of [`WORDS`] that are health words.
const HEALTH_BITS: u32 = (1 << HEALTH_WORDS.len()) - 1;

/// Row of [`BY_SHAPE`] for a word's first byte: `a`–`z` in either case, then `_`.
const fn shape_row(first: u8) -> Option<usize> {
    match first.to_ascii_lowercase() {
        c @ b'a'..=b'z' => Some((c - b'a') as usize),
        b'_' => Some(26),
        _ => None,
    }
}

/// The words of each first letter and length, as bits of [`WORDS`]: a segment is compared with
/// the zero to two words of its shape, not with all thirty (this runs for every segment of every
/// request).
const BY_SHAPE: [[u32; 32]; 27] = {
    let mut t = [[0u32; 32]; 27];
    let mut i = 0;
    while i < WORDS.len() {
        let w = WORDS[i].as_bytes();
        assert!(w.len() < 32 && WORDS.len() <= 32);
        let Some(row) = shape_row(w[0]) else { panic!("a word starts with a letter or `_`") };
        t[row][w.len()] |= 1 << i;
        i += 1;
    }
    t
};

/// The bits of the [`WORDS`] that `stem` is, ignoring case (at most one bit).
fn word_bits(b: &[u8]) -> u32 {
    let (Some(&first), true) = (b.first(), b.len() < 32) else { return 0 };
    let Some(row) = shape_row(first) else { return 0 };
    let mut candidates = BY_SHAPE[row][b.len()];
    while candidates != 0 {
        let i = candidates.trailing_zeros();
        if WORDS[i as usize].as_bytes().eq_ignore_ascii_case(b) {
            return 1 << i;
        }
        candidates &= candidates - 1;
    }
    0
}

/// `health`, `Healthz`, `ping.html`: a path segment naming a health endpoint.
#[must_use]
pub fn is_health_segment(seg: &str) -> bool {
    word_bits(stem(seg).as_bytes()) & HEALTH_BITS != 0
}

/// `login`, `SignIn`, `auth.php`: a path segment of a login or auth page.
#[must_use]
pub fn is_login_segment(seg: &str) -> bool {
    word_bits(stem(seg).as_bytes()) & !HEALTH_BITS != 0
}

/// An id segment, folded to `:id`: all digits, a UUID, or hex of 16 or more with a digit.
fn is_id_segment(b: &[u8]) -> bool {
    // Digits, a UUID and long hex all start with a hex digit.
    if !b.first().is_some_and(u8::is_ascii_hexdigit) {
        return false;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let uuid = b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() });
    let long_hex = b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit);
    uuid || long_hex
}

/// Bytes that end a path segment (`/`), the path (`?`, `#`) or a segment's stem (`.`).
const PATH_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'/' as usize] = true;
    t[b'?' as usize] = true;
    t[b'#' as usize] = true;
    t[b'.' as usize] = true;
    t
};

/// The path template of a request target: the path without its origin, query and fragment,
/// with id segments folded to `:id` (see the module). Borrowed from `target` unless a segment is
/// folded; then written to `buf`.
pub fn path_template<'a>(target: &'a str, raw_paths: bool, buf: &'a mut String) -> &'a str {
    scan_target(target, raw_paths).template(target, buf)
}

/// What one pass over a request target finds: where its path stands, and the id segments to
/// fold (none when a health or login segment keeps the path whole).
struct TargetScan {
    /// The path is `target[start..end]`, or `/` for an origin alone (`http://host`).
    origin_only: bool,
    start: usize,
    end: usize,
    /// The id segments, each as `target[a..b]`, in order (six inline before allocating).
    ids: SmallVec<[(usize, usize); 6]>,
}

impl TargetScan {
    /// The template of `target`: borrowed from it unless a segment is folded, then written to
    /// `buf`. (Every index is at an ASCII byte or an end: character boundaries.)
    fn template<'a>(&self, target: &'a str, buf: &'a mut String) -> &'a str {
        if self.origin_only {
            return "/";
        }
        if self.ids.is_empty() {
            return target.get(self.start..self.end).unwrap_or_default();
        }
        buf.clear();
        let mut from = self.start;
        for &(a, b) in &self.ids {
            buf.push_str(target.get(from..a).unwrap_or_default());
            buf.push_str(":id");
            from = b;
        }
        buf.push_str(target.get(from..self.end).unwrap_or_default());
        buf
    }
}

/// Scans a request target once: finds where its path ends (`?`, `#`) and which segments are ids
/// (to fold) or health or login words (then nothing is folded). This runs for every request
/// whose target is not in the [`TemplateCache`].
fn scan_target(target: &str, raw_paths: bool) -> TargetScan {
    let bytes = target.as_bytes();
    let mut i = 0;
    let mut origin_only = false;
    // Absolute form (`GET http://host/path`): keep the path.
    if bytes.first() != Some(&b'/') {
        for scheme in [&b"http://"[..], b"https://"] {
            if let Some(rest) = bytes.strip_prefix(scheme) {
                match memchr::memchr(b'/', rest) {
                    Some(at) => i = scheme.len() + at,
                    None => (i, origin_only) = (bytes.len(), true),
                }
            }
        }
    }
    let mut scan = TargetScan { origin_only, start: i, end: bytes.len(), ids: SmallVec::new() };
    // `whole`: nothing is folded (raw paths, or a health or login segment was seen).
    let mut whole = raw_paths;
    let (mut start, mut dot) = (i, None);
    loop {
        // Ordinary bytes are skipped by a table lookup each: a `match` per byte compiled to a
        // jump table that the branch predictor could not follow.
        while bytes.get(i).is_some_and(|&b| !PATH_SPECIAL[usize::from(b)]) {
            i += 1;
        }
        let at = bytes.get(i).copied();
        if at == Some(b'.') {
            dot = dot.or(Some(i));
            i += 1;
            continue;
        }
        if !whole && i > start {
            let seg = bytes.get(start..i).unwrap_or_default();
            if word_bits(bytes.get(start..dot.unwrap_or(i)).unwrap_or_default()) != 0 {
                whole = true;
                scan.ids.clear();
            } else if is_id_segment(seg) {
                scan.ids.push((start, i));
            }
        }
        if at != Some(b'/') {
            if at.is_some() {
                scan.end = i;
            }
            break;
        }
        i += 1;
        (start, dot) = (i, None);
    }
    scan
}

/// The path templates of recent request targets, each as `target[start..end]`: only templates
/// that are a slice of their target are remembered, since a target with an id to fold is mostly
/// new each time.
#[derive(Clone, Debug, Default)]
pub(crate) struct TemplateCache {
    memo: Memo<(u8, u8)>,
}

impl TemplateCache {
    /// The path template of `target`, as [`path_template`] gives it.
    pub(crate) fn template<'a>(&mut self, target: &'a str, raw_paths: bool, buf: &'a mut String) -> &'a str {
        let t = target.as_bytes();
        let slot = self.memo.slot(t);
        if let Some((start, end)) = slot.and_then(|at| self.memo.get(at, t)) {
            return target.get(usize::from(start)..usize::from(end)).unwrap_or_default();
        }
        let scan = scan_target(target, raw_paths);
        // A template that is a slice of its target (both ends fit in a byte when the target is
        // short enough to be remembered).
        if let (Some(at), false, 0, Ok(start), Ok(end)) =
            (slot, scan.origin_only, scan.ids.len(), u8::try_from(scan.start), u8::try_from(scan.end))
        {
            self.memo.put(at, t, (start, end));
        }
        scan.template(target, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn t(target: &str, raw: bool) -> String {
        path_template(target, raw, &mut String::new()).to_owned()
    }

    #[test]
    fn templates() {
        assert_eq!(t("/orders/123", false), "/orders/:id");
        assert_eq!(t("/orders/123?x=1#f", false), "/orders/:id");
        assert_eq!(t("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x", false), "/u/:id/x");
        assert_eq!(t("/blob/deadbeefcafe0123", false), "/blob/:id");
        assert_eq!(t("/blob/deadbeefcafebabe", false), "/blob/deadbeefcafebabe", "no digit: a word");
        assert_eq!(t("/orders/123", true), "/orders/123");
        assert_eq!(t("/", false), "/");
        assert_eq!(t("/health/2", false), "/health/2");
        assert_eq!(t("/login/42", false), "/login/42");
        assert_eq!(t("/api/healthcheck/7", false), "/api/healthcheck/7");
        assert_eq!(t("/Login.php/42", false), "/Login.php/42");
        assert_eq!(t("http://example.com/a/1?q", false), "/a/:id");
        assert_eq!(t("http://example.com", false), "/");
        assert_eq!(
            t("/1/2/3/4/5/6/7/8/x?y", false),
            "/:id/:id/:id/:id/:id/:id/:id/:id/x",
            "more ids than are kept inline"
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(normalize_host("172.12.1.189:80"), "172.12.1.189");
        assert_eq!(normalize_host("Example.COM:443"), "example.com");
        assert_eq!(normalize_host("example.com:8080"), "example.com:8080");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host(" Example.com.:80 "), "example.com");
        assert!(matches!(normalize_host("172.12.1.189:80"), Cow::Borrowed(_)), "no copy without uppercase");
    }

    /// The host rules written plainly, independently of the guarded steps: trim, drop a default
    /// port unless it ends an IPv6 address, drop a trailing dot, lowercase.
    fn reference_host(host: &str) -> String {
        let h = host.trim_ascii();
        let h = match h.rsplit_once(':') {
            Some((name, "80" | "443")) if !name.contains(':') || name.ends_with(']') => name,
            _ => h,
        };
        let h = if h.len() > 1 { h.strip_suffix('.').unwrap_or(h) } else { h };
        h.to_ascii_lowercase()
    }

    /// The template rules written plainly: split at `/`, fold ids unless a word forbids it.
    fn reference_template(target: &str, raw: bool) -> String {
        let mut path = target;
        if !path.starts_with('/') {
            for scheme in ["http://", "https://"] {
                if let Some(rest) = path.strip_prefix(scheme) {
                    path = rest.find('/').map_or("/", |i| &rest[i..]);
                }
            }
        }
        let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
        let segs: Vec<&str> = path.split('/').collect();
        if raw || segs.iter().any(|s| is_health_segment(s) || is_login_segment(s)) {
            return path.to_owned();
        }
        segs.iter().map(|s| if is_id_segment(s.as_bytes()) { ":id" } else { s }).collect::<Vec<_>>().join("/")
    }

    fn target_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let seg = proptest::sample::select(vec![
            "",
            "orders",
            "123",
            "7",
            "health",
            "Login.php",
            "ping.html",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "deadbeefcafe0123",
            "deadbeefcafebabe",
            "a.b",
            "é",
            "app.3f9c1b.js",
            "x?y=1",
            "#f",
            "AUTH",
        ]);
        let prefix = proptest::sample::select(vec!["/", "", "http://h", "https://h.example:8080", "http://"]);
        (prefix, proptest::collection::vec(seg, 0..10)).prop_map(|(p, segs)| format!("{p}{}", segs.join("/")))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Hosts: the guarded steps and the word-at-a-time uppercase test give the plain rules.
        #[test]
        fn hosts_normalise_like_the_plain_rules(
            host in proptest::collection::vec(proptest::sample::select(vec![
                " ", "\t", "A", "a", "Z", "z", "@", "[", "`", "{", ".", ":", "8", "0", "4", "3", "]", "é", "É",
            ]), 0..24),
        ) {
            let host = host.concat();
            proptest::prop_assert_eq!(normalize_host(&host).into_owned(), reference_host(&host));
        }

        /// Templates: the one-pass scan, its fold and the cache give the plain rules, whatever
        /// targets came before (a repeat is served by the cache).
        #[test]
        fn templates_follow_the_plain_rules(
            targets in proptest::collection::vec(target_strategy(), 1..40),
            raw in proptest::bool::ANY,
        ) {
            let mut cache = TemplateCache::default();
            let mut buf = String::new();
            for t in targets.iter().chain(&targets) {
                let want = reference_template(t, raw);
                let mut scratch = String::new();
                proptest::prop_assert_eq!(path_template(t, raw, &mut scratch), want.as_str(), "{}", t);
                proptest::prop_assert_eq!(cache.template(t, raw, &mut buf), want.as_str(), "{}", t);
            }
        }
    }
}
