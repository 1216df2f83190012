//! Clustering requests by (user agent, host, path).
//!
//! With `remote_addr` empty, as in the incident, this key is what separates callers. Hosts are
//! lowercased and lose their default port (`172.12.1.189:80` is `172.12.1.189`); paths lose their
//! query and fragment, and numeric, UUID and long-hex segments become `:id` (`/orders/123` is
//! `/orders/:id`) unless `--raw-paths`. Health, login and `/` paths are never templated.

use std::borrow::Cow;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use smallvec::SmallVec;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hasher};

use super::timeline::Timeline;
use crate::memo::Memo;
use crate::model::{Record, TimeResolution, UnixMillis};

/// Distinct client addresses counted exactly up to this many per cluster.
pub const MAX_DISTINCT_CLIENTS: usize = 10_000;

/// What a cluster's path is when the request line had none.
pub const INVALID_REQUEST: &str = "(invalid request line)";
/// What a cluster's path is when no request was logged (`"-"`).
pub const NO_REQUEST: &str = "(no request)";

/// The key of a cluster: user agent, normalised host and path template. It keeps the one string
/// the clustering built for its hash map (`-` or `LEN:` before the user agent and the host, then
/// the path), so making keys of half a million clusters copies nothing; the parts are read
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

    /// The key [`Clusters`] encoded (see [`Slot::key`]).
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
fn encode_part(key: &mut Vec<u8>, part: Option<&str>) {
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
fn encodes(key: &[u8], user_agent: Option<&str>, host: Option<&str>, path: &str) -> bool {
    let mut at = 0;
    for want in [user_agent, host] {
        let same = match (decode_part(key, &mut at), want) {
            (Some(None), None) => true,
            (Some(Some((start, end))), Some(want)) => {
                crate::same_bytes(&key[start as usize..end as usize], want.as_bytes())
            }
            _ => false,
        };
        if !same {
            return false;
        }
    }
    crate::same_bytes(key.get(at..).unwrap_or_default(), path.as_bytes())
}

/// Reads one part written by [`encode_part`] at `*at`: `Some(None)` for an absent part,
/// `Some(Some(range))` for a present one, `None` when the bytes are not such a part.
#[allow(clippy::option_option)]
fn decode_part(key: &[u8], at: &mut usize) -> Option<Option<(u32, u32)>> {
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

/// Per-cluster statistics, mergeable.
#[derive(Clone, Debug, Default)]
pub struct ClusterStats {
    /// Requests.
    pub requests: u64,
    /// Requests per status code (two inline before allocating).
    pub statuses: SmallVec<[(u16, u64); 2]>,
    /// Requests per method (`-` when the request line had none); common methods are not
    /// allocated.
    pub methods: SmallVec<[(Cow<'static, str>, u64); 1]>,
    /// Earliest and latest request time.
    pub first_seen: UnixMillis,
    /// Latest request time.
    pub last_seen: UnixMillis,
    /// Hashes of distinct client addresses (up to [`MAX_DISTINCT_CLIENTS`]).
    pub clients: ClientSet,
    /// Response bytes: count of responses with a size, sum, min, max.
    pub bytes: Option<(u64, u64, u64, u64)>,
    /// Responses whose `Set-Cookie` was logged non-empty.
    pub set_cookie: u64,
    /// Responses whose logged `Location` points to a login or auth page.
    pub login_redirects: u64,
    /// Request times.
    pub timeline: Timeline,
}

/// Distinct client hashes, up to [`MAX_DISTINCT_CLIENTS`]: the first is kept inline, so the many
/// clusters with one client (a scanner's) allocate nothing for it.
///
/// The others are appended, and each batch (as long as the run so far, and at least 1,024) is
/// sorted and merged into a sorted, distinct run: a busy cluster's hashes then go through memory
/// in order. A hash set took a cache miss per insert once a worker's sets outgrew its cache, and
/// with two workers each fills its own sets. A run of up to 64 is searched before appending, so
/// the few clients of most clusters are not appended again and again.
#[derive(Clone, Debug, Default)]
pub struct ClientSet {
    one: Option<u64>,
    /// `items[..sorted]`: distinct, ascending, without `one`; then the hashes appended since.
    items: Vec<u64>,
    sorted: u32,
    /// More distinct clients were seen than are counted; the set no longer changes.
    capped: bool,
}

/// Hashes appended to a [`ClientSet`] between two merges into its sorted run, at least.
const CLIENT_BATCH: usize = 1024;

/// A sorted run up to this long is searched before a hash is appended.
const SEARCHED_RUN: usize = 64;

impl ClientSet {
    /// Adds `h`.
    #[inline]
    pub fn insert(&mut self, h: u64) {
        if self.capped {
            return;
        }
        match self.one {
            None => self.one = Some(h),
            Some(one) if one == h => {}
            Some(_) => {
                let sorted = self.sorted as usize;
                // A short run is searched first, so that the few clients of most clusters are
                // not appended again and again.
                if sorted <= SEARCHED_RUN && self.items[..sorted].binary_search(&h).is_ok() {
                    return;
                }
                // Batches as long as the run (at least CLIENT_BATCH): merging a batch then costs
                // a few steps per new hash, however long the run.
                if self.items.len() - sorted >= sorted.max(CLIENT_BATCH) {
                    self.flush();
                    if self.capped {
                        return;
                    }
                }
                self.items.push(h);
            }
        }
    }

    /// Merges the appended hashes into the sorted run, and caps the set: done once a cluster
    /// is complete, so that [`ClientSet::len`] need not work on a copy.
    pub(crate) fn flush(&mut self) {
        let sorted = self.sorted as usize;
        if self.items.len() == sorted {
            return;
        }
        let (run, batch) = self.items.split_at_mut(sorted);
        batch.sort_unstable();
        // `one` counts too: at most MAX_DISTINCT_CLIENTS in all.
        let room = MAX_DISTINCT_CLIENTS - usize::from(self.one.is_some());
        let mut merged = Vec::with_capacity((run.len() + batch.len()).min(room + 1));
        let (mut i, mut j) = (0, 0);
        while merged.len() <= room {
            // The smaller head; a hash in both (or repeated in the batch) is taken once.
            let h = match (run.get(i), batch.get(j)) {
                (Some(&a), Some(&b)) if a <= b => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => break,
            };
            if merged.last() != Some(&h) && self.one != Some(h) {
                merged.push(h);
            }
        }
        if merged.len() > room {
            merged = Vec::new();
            self.capped = true;
        }
        self.sorted = u32::try_from(merged.len()).unwrap_or(u32::MAX);
        self.items = merged;
    }

    /// Absorbs another worker's set (a union, capped as one set would be).
    pub fn merge(&mut self, mut other: ClientSet) {
        if self.capped {
            return;
        }
        other.flush();
        if other.capped {
            *self = other;
            return;
        }
        if self.one.is_none() {
            self.one = other.one.take();
        }
        self.flush();
        self.items.extend(other.one);
        self.items.extend(other.items);
        self.flush();
    }

    /// This set with its appended hashes merged: itself once flushed (as `finish` leaves it),
    /// else a flushed copy.
    fn settled(&self) -> Cow<'_, ClientSet> {
        if self.items.len() == self.sorted as usize {
            return Cow::Borrowed(self);
        }
        let mut copy = self.clone();
        copy.flush();
        Cow::Owned(copy)
    }

    /// Distinct clients counted (at most [`MAX_DISTINCT_CLIENTS`]).
    #[must_use]
    pub fn len(&self) -> usize {
        let set = self.settled();
        if set.capped { MAX_DISTINCT_CLIENTS } else { usize::from(set.one.is_some()) + set.items.len() }
    }

    /// True when more distinct clients were seen than [`MAX_DISTINCT_CLIENTS`].
    #[must_use]
    pub fn capped(&self) -> bool {
        self.settled().capped
    }

    /// True when no client was logged.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.one.is_none() && !self.capped
    }
}

const METHODS: [&str; 10] =
    ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "-"];

fn intern_method(m: &str) -> Cow<'static, str> {
    METHODS.iter().find(|k| **k == m).map_or_else(|| Cow::Owned(m.to_owned()), |k| Cow::Borrowed(*k))
}

fn bump<K: PartialEq, const N: usize>(list: &mut SmallVec<[(K, u64); N]>, key: K, n: u64)
where
    [(K, u64); N]: smallvec::Array<Item = (K, u64)>,
{
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, c)) => *c += n,
        None => list.push((key, n)),
    }
}

/// What a cluster's statistics take from one request; `M` is its method (borrowed from the
/// record, or interned when kept as a cluster's only request).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit<M> {
    time: UnixMillis,
    resolution: TimeResolution,
    status: Option<u16>,
    method: M,
    client: Option<u64>,
    bytes: Option<u64>,
    set_cookie: bool,
    login_redirect: bool,
}

impl<'a> Hit<&'a str> {
    #[inline(always)]
    fn of(r: &'a Record<'_>, client: Option<u64>) -> Self {
        Hit {
            time: r.time,
            resolution: r.resolution,
            status: r.status,
            method: r.method.as_deref().unwrap_or("-"),
            client,
            bytes: r.bytes,
            set_cookie: r.set_cookie.as_deref().is_some_and(|c| !c.trim().is_empty()),
            login_redirect: r
                .location
                .as_deref()
                .is_some_and(|l| l.split(['/', '?', '#']).any(is_login_segment)),
        }
    }

    fn kept(&self) -> Hit<Cow<'static, str>> {
        self.with_method(intern_method(self.method))
    }
}

impl Hit<Cow<'static, str>> {
    fn view(&self) -> Hit<&str> {
        self.with_method(&self.method)
    }
}

impl<M> Hit<M> {
    fn with_method<N>(&self, method: N) -> Hit<N> {
        let Hit { time, resolution, status, client, bytes, set_cookie, login_redirect, .. } = *self;
        Hit { time, resolution, status, method, client, bytes, set_cookie, login_redirect }
    }
}

/// A cluster's statistics in its slot: a cluster of one request keeps just that request (72
/// bytes, where the whole [`ClusterStats`] take 256; a scanner makes half a million such
/// clusters); the second request makes them whole.
#[derive(Clone, Debug)]
pub enum SlotStats {
    /// The only request so far.
    One(Box<Hit<Cow<'static, str>>>),
    /// The statistics of several.
    Many(Box<ClusterStats>),
}

impl SlotStats {
    fn observe(&mut self, hit: &Hit<&str>) {
        if let SlotStats::One(first) = self {
            *self = SlotStats::Many(ClusterStats::of(first));
        }
        if let SlotStats::Many(stats) = self {
            stats.observe(hit);
        }
    }

    fn merge(&mut self, other: SlotStats) {
        if let SlotStats::One(first) = self {
            *self = SlotStats::Many(ClusterStats::of(first));
        }
        if let SlotStats::Many(stats) = self {
            stats.merge(*other.into_stats());
        }
    }

    /// The statistics, made whole.
    #[must_use]
    pub fn into_stats(self) -> Box<ClusterStats> {
        match self {
            SlotStats::One(hit) => ClusterStats::of(&hit),
            SlotStats::Many(stats) => stats,
        }
    }

    /// Requests.
    #[must_use]
    pub fn requests(&self) -> u64 {
        match self {
            SlotStats::One(_) => 1,
            SlotStats::Many(stats) => stats.requests,
        }
    }

    /// True for a cluster of several requests (read off the kind, with no pointer followed).
    #[must_use]
    pub fn several(&self) -> bool {
        matches!(self, SlotStats::Many(_))
    }
}

impl ClusterStats {
    /// The statistics of one request.
    fn of(hit: &Hit<Cow<'static, str>>) -> Box<Self> {
        let mut stats = Box::<ClusterStats>::default();
        stats.observe(&hit.view());
        stats
    }

    fn observe(&mut self, h: &Hit<&str>) {
        if self.requests == 0 {
            self.first_seen = h.time;
            self.last_seen = h.time;
        }
        self.requests += 1;
        self.first_seen = self.first_seen.min(h.time);
        self.last_seen = self.last_seen.max(h.time);
        if let Some(s) = h.status {
            bump(&mut self.statuses, s, 1);
        }
        match self.methods.iter_mut().find(|(m, _)| crate::same_bytes(m.as_bytes(), h.method.as_bytes())) {
            Some((_, c)) => *c += 1,
            None => self.methods.push((intern_method(h.method), 1)),
        }
        if let Some(c) = h.client {
            self.clients.insert(c);
        }
        if let Some(b) = h.bytes {
            self.bytes = Some(match self.bytes {
                None => (1, b, b, b),
                Some((n, sum, lo, hi)) => (n + 1, sum.saturating_add(b), lo.min(b), hi.max(b)),
            });
        }
        self.set_cookie += u64::from(h.set_cookie);
        self.login_redirects += u64::from(h.login_redirect);
        self.timeline.push(h.time, h.resolution);
    }

    fn merge(&mut self, other: ClusterStats) {
        if other.requests == 0 {
            return;
        }
        if self.requests == 0 {
            *self = other;
            return;
        }
        self.requests += other.requests;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for (s, n) in other.statuses {
            bump(&mut self.statuses, s, n);
        }
        for (m, n) in other.methods {
            bump(&mut self.methods, m, n);
        }
        self.clients.merge(other.clients);
        self.bytes = match (self.bytes, other.bytes) {
            (Some((n, s, lo, hi)), Some((n2, s2, lo2, hi2))) => {
                Some((n + n2, s.saturating_add(s2), lo.min(lo2), hi.max(hi2)))
            }
            (x, None) | (None, x) => x,
        };
        self.set_cookie += other.set_cookie;
        self.login_redirects += other.login_redirects;
        self.timeline.merge(other.timeline);
    }
}

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
    if has_uppercase(h.as_bytes()) { Cow::Owned(h.to_ascii_lowercase()) } else { Cow::Borrowed(h) }
}

/// True when `b` has an ASCII uppercase letter: eight bytes at a time, with the "has a byte
/// between" word trick (exact; bytes over 127 never count).
fn has_uppercase(b: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    let between = |x: u64| {
        // Bytes greater than b'A' - 1 and less than b'Z' + 1.
        let low = x & (ONES * 127);
        (ONES * (127 + u64::from(b'Z' + 1)) - low)
            & !x
            & (low + ONES * (127 - u64::from(b'A' - 1)))
            & (ONES * 128)
    };
    crate::fold_words(b, 0, 0, |found, w| found | between(w)) != 0
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
struct TemplateCache {
    memo: Memo<(u8, u8)>,
}

impl TemplateCache {
    /// The path template of `target`, as [`path_template`] gives it.
    fn template<'a>(&mut self, target: &'a str, raw_paths: bool, buf: &'a mut String) -> &'a str {
        let t = target.as_bytes();
        let slot = Memo::<(u8, u8)>::slot(t);
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

/// One cluster in the table.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The table's hash of the key (random seeds: keys are hostile), kept so that the table never
    /// hashes a key again when it grows or merges.
    hash: u64,
    /// A fixed, portable hash of the key (FNV-style), for ordering ties the same way in every
    /// run without reading the key again.
    pub order_hash: u64,
    /// The encoded key (read with [`ClusterKey::from_encoded`]).
    pub key: Box<[u8]>,
    /// The statistics, boxed: the table's empty slots then cost a pointer, not a whole
    /// `ClusterStats`. Which of the two kinds they are says, in the slot itself, whether the
    /// cluster has one request or several: telling a scanner's half a million one-request
    /// clusters apart follows no pointer.
    pub stats: SlotStats,
}

/// All clusters of the records seen: a detector.
#[derive(Clone, Debug)]
pub struct Clusters {
    raw_paths: bool,
    /// The clusters, in [`PARTS`] tables by a few bits of their hash, so that two workers'
    /// tables are merged a part at a time in parallel.
    tables: [HashTable<Slot>; PARTS],
    key: Vec<u8>,
    path: String,
    templates: TemplateCache,
    client_hasher: ahash::RandomState,
}

/// Fixed seeds: distinct-client counts must not vary between runs through hash collisions.
fn fixed_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x006e_6769_6e78, 0x666f_7265_6e73, 0x6963_7321, 0x0c1a_57e5)
}

/// The cluster table's hasher: random seeds, drawn once per process so that every worker's
/// table hashes alike and merging needs no re-hashing.
fn table_hasher() -> &'static ahash::RandomState {
    static HASHER: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    HASHER.get_or_init(ahash::RandomState::new)
}

/// A fixed hash of an encoded cluster key (FNV-style, eight bytes at a time, then a final mix):
/// the same on every platform and build, so orders made with it are.
fn order_hash(key: &[u8]) -> u64 {
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

impl Clusters {
    /// Empty clusters; `raw_paths` keeps numeric and id segments as they are.
    #[must_use]
    pub fn new(raw_paths: bool) -> Self {
        Clusters {
            raw_paths,
            tables: std::array::from_fn(|_| HashTable::new()),
            key: Vec::new(),
            path: String::new(),
            templates: TemplateCache::default(),
            client_hasher: fixed_hasher(),
        }
    }

    /// Takes one record into account.
    pub fn observe(&mut self, r: &Record<'_>) {
        let path = match (&r.target, &r.raw_request) {
            (Some(t), _) => self.templates.template(t, self.raw_paths, &mut self.path),
            (None, Some(_)) => INVALID_REQUEST,
            (None, None) => NO_REQUEST,
        };
        let user_agent = r.user_agent.as_deref();
        let host = r.host.as_deref().map(normalize_host);
        let host = host.as_deref();
        let client = r.client.as_deref().map(|c| {
            let mut h = self.client_hasher.build_hasher();
            h.write(c.as_bytes());
            h.finish()
        });
        // The key is hashed and compared part by part: it is only encoded (copied) for a new
        // cluster.
        let mut h = table_hasher().build_hasher();
        for part in [user_agent, host] {
            h.write_usize(part.map_or(usize::MAX, str::len));
            h.write(part.unwrap_or_default().as_bytes());
        }
        h.write(path.as_bytes());
        let hash = h.finish();
        if let Some(slot) = self.tables[part(hash)]
            .find_mut(hash, |s| s.hash == hash && encodes(&s.key, user_agent, host, path))
        {
            slot.stats.observe(&Hit::of(r, client));
        } else {
            let stats = SlotStats::One(Box::new(Hit::of(r, client).kept()));
            self.key.clear();
            encode_part(&mut self.key, user_agent);
            encode_part(&mut self.key, host);
            self.key.extend_from_slice(path.as_bytes());
            let key = self.key.as_slice();
            let slot = Slot { hash, order_hash: order_hash(key), key: key.into(), stats };
            self.tables[part(hash)].insert_unique(hash, slot, |s| s.hash);
        }
    }

    /// Absorbs another instance's clusters, a part at a time in parallel.
    pub fn merge(&mut self, other: Clusters) {
        let parts: Vec<(&mut HashTable<Slot>, HashTable<Slot>)> =
            self.tables.iter_mut().zip(other.tables).collect();
        parts.into_par_iter().for_each(|(mine, theirs)| merge_table(mine, theirs));
    }

    /// Number of clusters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tables.iter().map(HashTable::len).sum()
    }

    /// True when no record was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(HashTable::is_empty)
    }

    /// The clusters, in no particular order.
    #[must_use]
    pub fn into_slots(self) -> Vec<Slot> {
        self.tables.into_iter().flatten().collect()
    }

    /// Splits the clusters into those a report keeps, `head` of them at most (or all with
    /// `usize::MAX`): every cluster of several requests, then one-request clusters in the order
    /// of their `order_hash`, then key, up to `head`. A scanner makes half a million of those:
    /// the first are found in one pass with a bounded heap and taken out of the tables, and the
    /// rest stay where they are, with nothing copied.
    #[must_use]
    pub fn split_kept(mut self, head: usize) -> Kept {
        let count = self.len();
        let mut several_n = 0;
        // The first one-request clusters in the order, as many as could be kept.
        let limit = head.min(count);
        let mut first: BinaryHeap<(u64, &[u8])> = BinaryHeap::new();
        for slot in self.tables.iter().flatten() {
            if slot.stats.several() {
                several_n += 1;
            } else if head != usize::MAX {
                let item = (slot.order_hash, &*slot.key);
                if first.len() < limit {
                    first.push(item);
                } else if let Some(mut top) = first.peek_mut().filter(|top| item < **top) {
                    *top = item;
                }
            }
        }
        let wanted = head.saturating_sub(several_n).min(count - several_n);
        while first.len() > wanted {
            first.pop();
        }
        // The last one-request cluster kept (every one when `head` keeps all).
        let last: Option<Option<(u64, Box<[u8]>)>> =
            if head == usize::MAX { Some(None) } else { first.peek().map(|&(h, key)| Some((h, key.into()))) };
        drop(first);
        let (mut several, mut single) = (Vec::with_capacity(several_n), Vec::with_capacity(wanted));
        let kept = |s: &mut Slot| {
            s.stats.several()
                || last.as_ref().is_some_and(|last| {
                    last.as_ref().is_none_or(|(h, key)| (s.order_hash, &*s.key) <= (*h, &**key))
                })
        };
        for table in &mut self.tables {
            for slot in table.extract_if(kept) {
                if slot.stats.several() { several.push(slot) } else { single.push(slot) }
            }
        }
        Kept { several, single, count: count as u64, rest: self }
    }
}

/// The clusters a report keeps (see [`Clusters::split_kept`]).
#[derive(Debug)]
pub struct Kept {
    /// Every cluster of several requests, in no particular order.
    pub several: Vec<Slot>,
    /// The first one-request clusters, in no particular order.
    pub single: Vec<Slot>,
    /// How many clusters there were, kept or not.
    pub count: u64,
    /// The one-request clusters not kept.
    pub rest: Clusters,
}

/// Tables a cluster table is split into.
const PARTS: usize = 4;

/// The table of a key's hash: bits that neither pick a bucket (the low bits, in tables under
/// 2^32 slots) nor tag it (the top seven).
fn part(hash: u64) -> usize {
    (hash >> 32) as usize & (PARTS - 1)
}

/// Clusters with at least this many requests on both sides of a merge are merged in parallel.
const PARALLEL_MERGE: u64 = 1024;

/// Absorbs `other` into `mine` (one part of two workers' clusters).
fn merge_table(mine: &mut HashTable<Slot>, mut other: HashTable<Slot>) {
    if other.len() > mine.len() {
        std::mem::swap(mine, &mut other);
    }
    mine.reserve(other.len(), |s| s.hash);
    // Clusters busy in both are taken out and merged in parallel (their client sets and
    // timelines are most of the work, and the last merge of the ingest has the pool to itself);
    // the rest are merged in place.
    let mut busy = Vec::new();
    for slot in other {
        // One probe: a new key (most of a scanner's) goes where the search ended.
        match mine.entry(slot.hash, |s| s.hash == slot.hash && s.key == slot.key, |s| s.hash) {
            Entry::Occupied(found)
                if found.get().stats.requests().min(slot.stats.requests()) >= PARALLEL_MERGE =>
            {
                busy.push((found.remove().0, slot));
            }
            Entry::Occupied(mut found) => found.get_mut().stats.merge(slot.stats),
            Entry::Vacant(place) => {
                place.insert(slot);
            }
        }
    }
    let merged: Vec<Slot> = busy
        .into_par_iter()
        .map(|(mut found, theirs)| {
            found.stats.merge(theirs.stats);
            found
        })
        .collect();
    for slot in merged {
        mine.insert_unique(slot.hash, slot, |s| s.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;
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

    /// The host rules written plainly (the function's first form).
    fn reference_host(host: &str) -> String {
        let mut h = host.trim_ascii();
        for port in [":80", ":443"] {
            if let Some(stripped) = h.strip_suffix(port) {
                if !stripped.contains(':') || stripped.ends_with(']') {
                    h = stripped;
                    break;
                }
            }
        }
        if h.len() > 1 {
            h = h.strip_suffix('.').unwrap_or(h);
        }
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

    fn rec<'a>(
        ua: &'a str,
        host: &'a str,
        target: &'a str,
        time: i64,
        client: Option<&'a str>,
    ) -> Record<'a> {
        let mut r = Record::at(time, TimeResolution::Seconds);
        r.user_agent = Some(Cow::Borrowed(ua));
        r.host = Some(Cow::Borrowed(host));
        r.target = Some(Cow::Borrowed(target));
        r.method = Some(Cow::Borrowed("GET"));
        r.status = Some(302);
        r.client = client.map(Cow::Borrowed);
        r
    }

    #[test]
    fn incident_hosts_are_one_cluster_and_merging_is_order_free() {
        let records = [
            rec("Go-http-client/1.1", "172.12.1.189:80", "/", 0, None),
            rec("Go-http-client/1.1", "172.12.1.189", "/", 10_000, Some("10.0.0.1")),
            rec("Go-http-client/1.1", "172.12.1.189", "/login", 10_000, Some("10.0.0.1")),
            rec("ELB-HealthChecker/2.0", "172.12.1.189", "/health", 3_000, Some("10.0.0.2")),
        ];
        let build = |order: &[usize]| {
            let mut parts: Vec<Clusters> = Vec::new();
            for &i in order {
                let mut c = Clusters::new(false);
                c.observe(&records[i]);
                parts.push(c);
            }
            let mut all = Clusters::new(false);
            for p in parts {
                all.merge(p);
            }
            let mut v: Vec<_> = all
                .into_slots()
                .into_iter()
                .map(|Slot { key, stats, .. }| {
                    let s = stats.into_stats();
                    (
                        ClusterKey::from_encoded(key),
                        s.requests,
                        s.first_seen,
                        s.last_seen,
                        s.clients.len(),
                        s.timeline.sorted().0,
                    )
                })
                .collect();
            v.sort();
            v
        };
        let a = build(&[0, 1, 2, 3]);
        assert_eq!(a, build(&[3, 2, 1, 0]));
        assert_eq!(a.len(), 3);
        let root =
            a.iter().find(|c| c.0.path() == "/" && c.0.user_agent() == Some("Go-http-client/1.1")).unwrap();
        assert_eq!(root.0.host(), Some("172.12.1.189"));
        assert_eq!((root.1, root.2, root.3, root.4), (2, 0, 10_000, 1));
        assert_eq!(root.5, vec![0, 10_000]);
    }

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

    #[test]
    fn distinct_clients_are_counted_up_to_the_cap_in_any_split() {
        let addrs: Vec<String> = (0..MAX_DISTINCT_CLIENTS + 5)
            .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let count = |n: usize, split: usize| {
            let (mut a, mut b) = (Clusters::new(false), Clusters::new(false));
            for (i, addr) in addrs[..n].iter().chain(addrs[..n].iter().rev()).enumerate() {
                let part = if i % split == 0 { &mut a } else { &mut b };
                part.observe(&rec("ua", "h", "/", 0, Some(addr)));
            }
            a.merge(b);
            let slots = a.into_slots();
            assert_eq!(slots.len(), 1);
            let stats = slots.into_iter().next().map(|s| s.stats.into_stats()).unwrap();
            (stats.clients.len(), stats.clients.capped())
        };
        for split in [1, 2, 3] {
            assert_eq!(count(MAX_DISTINCT_CLIENTS, split), (MAX_DISTINCT_CLIENTS, false), "exactly full");
            assert_eq!(count(MAX_DISTINCT_CLIENTS + 5, split), (MAX_DISTINCT_CLIENTS, true), "over");
            assert_eq!(count(7, split), (7, false));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Two workers' clients, with sizes on either side of a batch and of the cap, overlapping
        /// or not, repeated: the merged set counts what a plain set of all of them counts, up to
        /// the cap, whether or not a worker's last batch was merged into its sorted run.
        #[test]
        fn the_client_set_counts_like_a_hash_set(
            sizes in proptest::collection::vec(proptest::sample::select(vec![
                0u64, 1, 7, 1_023, 1_024, 1_025, 5_000, 9_999, 10_000, 10_001, 10_100, 10_239, 10_241, 11_000,
            ]), 2),
            overlap in proptest::sample::select(vec![0u64, 1, 500, 5_000, 20_000]),
            repeats in 1usize..3,
        ) {
            let mix = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
            let side = |from: u64, n: u64| -> Vec<u64> {
                (0..repeats).flat_map(|_| (from..from + n).map(mix)).collect()
            };
            let (ha, hb) = (side(0, sizes[0]), side(sizes[0].saturating_sub(overlap), sizes[1]));
            let (mut a, mut b) = (ClientSet::default(), ClientSet::default());
            ha.iter().for_each(|&h| a.insert(h));
            hb.iter().for_each(|&h| b.insert(h));
            a.merge(b);
            let distinct = ha.iter().chain(&hb).collect::<std::collections::HashSet<_>>().len();
            proptest::prop_assert_eq!(a.len(), distinct.min(MAX_DISTINCT_CLIENTS));
            proptest::prop_assert_eq!(a.capped(), distinct > MAX_DISTINCT_CLIENTS);
            proptest::prop_assert_eq!(a.is_empty(), distinct == 0);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The kept clusters are every cluster of several requests and the first one-request
        /// clusters in the order, as sorting all of them would pick; the rest are left behind.
        #[test]
        fn split_kept_keeps_what_sorting_all_would(
            paths in proptest::collection::vec(0u32..300, 0..400),
            head in proptest::sample::select(vec![0usize, 1, 5, 50, 150, 299, 300, 1_000, usize::MAX]),
        ) {
            let mut c = Clusters::new(true);
            for p in &paths {
                c.observe(&rec("ua", "h", &format!("/{p}"), 0, None));
            }
            let mut all = c.clone().into_slots();
            let by = |s: &Slot| (s.order_hash, s.key.clone());
            all.sort_by_key(|s| (s.stats.requests() == 1, by(s)));
            let several = all.iter().filter(|s| s.stats.requests() > 1).count();
            let wanted = head.saturating_sub(several).min(all.len() - several);
            let mut want: Vec<_> = all[..several + wanted].iter().map(|s| s.key.clone()).collect();
            let kept = c.split_kept(head);
            proptest::prop_assert_eq!(kept.count as usize, all.len());
            proptest::prop_assert!(kept.several.iter().all(|s| s.stats.requests() > 1));
            proptest::prop_assert!(kept.single.iter().all(|s| s.stats.requests() == 1));
            let mut got: Vec<_> = kept.several.iter().chain(&kept.single).map(|s| s.key.clone()).collect();
            got.sort();
            want.sort();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(kept.rest.len(), all.len() - several - wanted);
        }
    }

    #[test]
    fn hostile_keys_do_not_collide() {
        let mut c = Clusters::new(false);
        c.observe(&rec("a", "b\u{0}c", "/x", 0, None));
        c.observe(&rec("a\u{0}b", "c", "/x", 0, None));
        assert_eq!(c.len(), 2);
    }
}
