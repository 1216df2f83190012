//! Per-cluster statistics: what a cluster keeps of its requests, mergeable across workers.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::clients::ClientSet;
use crate::analysis::normalize::is_login_segment;
use crate::analysis::timeline::Timeline;
use crate::model::{Record, TimeResolution, UnixMillis};

/// What a cluster keeps of its requests; merged across workers in any order.
///
/// Laid out in declaration order (`repr(C)`), what every request updates first: the counters,
/// statuses, methods and times fill the first three cache lines, and the client set, sizes and
/// locations, which many logs never fill, come after. A log of many clusters reads each
/// cluster's statistics from memory, a cache line at a time.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct ClusterStats {
    /// Requests in the cluster.
    pub requests: u64,
    /// Earliest request time.
    pub first_seen: UnixMillis,
    /// Latest request time.
    pub last_seen: UnixMillis,
    /// Responses whose `Set-Cookie` was logged non-empty.
    pub set_cookie: u64,
    /// Responses whose line has a Set-Cookie field, empty or not.
    pub set_cookie_logged: u64,
    /// Responses whose logged `Location` points to a login or auth page.
    pub login_redirects: u64,
    /// Requests whose line has an upstream variable.
    pub upstream_logged: u64,
    /// Of those, the requests nginx passed on to an upstream (the application).
    pub upstream_reached: u64,
    /// Requests per status code (two inline before allocating).
    pub statuses: SmallVec<[(u16, u64); 2]>,
    /// Requests per method (`-` when the request line had none); common methods are not
    /// allocated.
    pub methods: SmallVec<[(Cow<'static, str>, u64); 1]>,
    /// Request times, for the periodic detector.
    pub timeline: Timeline,
    /// Hashes of distinct client addresses (up to [`super::MAX_DISTINCT_CLIENTS`]).
    pub clients: ClientSet,
    /// Response bytes: count of responses with a size, sum, min, max (all 0 when none had one;
    /// [`ClusterStats::response_bytes`]). Not an `Option`: its tag would push the statistics
    /// into the allocator's next size class, a sixth more memory on a log of many clusters.
    pub bytes: (u64, u64, u64, u64),
    /// The paths that logged `Location`s point to, with how many responses point to each: the
    /// four first in byte order (the same whatever the order of the merges).
    pub locations: SmallVec<[(Box<str>, u64); 1]>,
}

/// Distinct `Location` paths a cluster keeps.
pub const MAX_LOCATIONS: usize = 4;

/// The path a `Location` points to: without its origin, query and fragment.
fn location_path(location: &str) -> &str {
    let l = location.trim();
    let path = match l.find("://") {
        Some(at) => l[at + 3..].find('/').map_or("/", |p| &l[at + 3 + p..]),
        None => l,
    };
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

/// Adds `n` responses pointing to `path`, keeping the [`MAX_LOCATIONS`] first paths in byte order.
fn add_location(list: &mut SmallVec<[(Box<str>, u64); 1]>, path: &str, n: u64) {
    match list.binary_search_by(|(p, _)| (**p).cmp(path)) {
        Ok(at) => list[at].1 += n,
        Err(at) if at < MAX_LOCATIONS => {
            list.insert(at, (path.into(), n));
            list.truncate(MAX_LOCATIONS);
        }
        Err(_) => {}
    }
}

/// Methods kept as static strings: a cluster of one of them allocates nothing for its method.
const METHODS: [&str; 10] =
    ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "-"];

/// `m` as a static string when it is a common method, else a copy.
fn intern_method(m: &str) -> Cow<'static, str> {
    METHODS.iter().find(|k| **k == m).map_or_else(|| Cow::Owned(m.to_owned()), |k| Cow::Borrowed(*k))
}

/// Adds `n` to `key`'s count in a short list of counts.
fn bump<K: PartialEq, const N: usize>(list: &mut SmallVec<[(K, u64); N]>, key: K, n: u64)
where
    [(K, u64); N]: smallvec::Array<Item = (K, u64)>,
{
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, c)) => *c += n,
        None => list.push((key, n)),
    }
}

/// What a cluster's statistics take from one request; `M` is its method and logged `Location`
/// (borrowed from the record, or owned when kept as a cluster's only request).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Hit<M> {
    time: UnixMillis,
    resolution: TimeResolution,
    status: Option<u16>,
    method: M,
    client: Option<u64>,
    bytes: Option<u64>,
    /// What the response said, one bit each ([`SET_COOKIE`] …): kept in a byte so that a
    /// cluster of one request stays in its allocator size class.
    flags: u8,
    location: Option<M>,
}

impl<'a> Hit<&'a str> {
    #[inline(always)]
    pub(super) fn of(r: &'a Record<'_>, client: Option<u64>) -> Self {
        Hit {
            time: r.time,
            resolution: r.resolution,
            status: r.status,
            method: r.method.as_deref().unwrap_or("-"),
            client,
            bytes: r.bytes,
            flags: flag(r.set_cookie.as_deref().is_some_and(|c| !c.trim().is_empty()), SET_COOKIE)
                | flag(r.set_cookie_logged, SET_COOKIE_LOGGED)
                | flag(
                    r.location.as_deref().is_some_and(|l| l.split(['/', '?', '#']).any(is_login_segment)),
                    LOGIN_REDIRECT,
                )
                | flag(r.upstream.is_some(), UPSTREAM_LOGGED)
                | flag(r.upstream == Some(true), UPSTREAM_REACHED),
            location: r.location.as_deref().map(location_path),
        }
    }

    pub(super) fn kept(&self) -> Hit<Cow<'static, str>> {
        self.with(intern_method(self.method), self.location.map(|l| Cow::Owned(l.to_owned())))
    }
}

impl Hit<Cow<'static, str>> {
    fn view(&self) -> Hit<&str> {
        self.with(&*self.method, self.location.as_deref())
    }
}

/// A hit's flags ([`Hit`]): the response set a cookie.
const SET_COOKIE: u8 = 1;
/// The line has a Set-Cookie field.
const SET_COOKIE_LOGGED: u8 = 2;
/// Its `Location` points to a login page.
const LOGIN_REDIRECT: u8 = 4;
/// The line has an upstream variable.
const UPSTREAM_LOGGED: u8 = 8;
/// nginx passed the request on to an upstream.
const UPSTREAM_REACHED: u8 = 16;

/// `flag` when `on`, else no flag.
fn flag(on: bool, flag: u8) -> u8 {
    if on { flag } else { 0 }
}

impl<M> Hit<M> {
    /// Whether the hit has `flag` (one of [`SET_COOKIE`] …), as 0 or 1 to count it.
    fn count(&self, flag: u8) -> u64 {
        u64::from(self.flags & flag != 0)
    }

    fn with<N>(&self, method: N, location: Option<N>) -> Hit<N> {
        let Hit { time, resolution, status, client, bytes, flags, .. } = *self;
        Hit { time, resolution, status, method, client, bytes, flags, location }
    }
}

/// A cluster's statistics in the table: a cluster of one request keeps just that request, a
/// fraction of the size of whole [`ClusterStats`] (logs of scanners make a cluster of nearly
/// every request); the second request makes them whole. Sizes are in `docs/performance.md`.
#[derive(Clone, Debug)]
pub(super) enum SlotStats {
    /// The only request so far.
    One(Box<Hit<Cow<'static, str>>>),
    /// The statistics of more than one request.
    Many(Box<ClusterStats>),
}

impl SlotStats {
    pub(super) fn observe(&mut self, hit: &Hit<&str>) {
        if let SlotStats::One(first) = self {
            *self = SlotStats::Many(ClusterStats::of(first));
        }
        if let SlotStats::Many(stats) = self {
            stats.observe(hit);
        }
    }

    pub(super) fn merge(&mut self, other: SlotStats) {
        if let SlotStats::One(first) = self {
            *self = SlotStats::Many(ClusterStats::of(first));
        }
        if let SlotStats::Many(stats) = self {
            match other {
                // A piece's one request is observed: the same as merging its statistics,
                // without building them (a log of many paths brings one per path per piece).
                SlotStats::One(hit) => stats.observe(&hit.view()),
                SlotStats::Many(theirs) => stats.merge(*theirs),
            }
        }
    }

    /// The statistics, made whole.
    #[must_use]
    pub(super) fn into_stats(self) -> Box<ClusterStats> {
        match self {
            SlotStats::One(hit) => ClusterStats::of(&hit),
            SlotStats::Many(stats) => stats,
        }
    }

    /// Requests in the cluster.
    #[must_use]
    pub(super) fn requests(&self) -> u64 {
        match self {
            SlotStats::One(_) => 1,
            SlotStats::Many(stats) => stats.requests,
        }
    }

    /// True when the cluster has more than one request (read off the kind, with no pointer
    /// followed).
    #[must_use]
    pub(super) fn is_repeated(&self) -> bool {
        matches!(self, SlotStats::Many(_))
    }
}

impl ClusterStats {
    /// Response bytes: count of responses with a size, sum, min, max; `None` when none had one.
    #[must_use]
    pub fn response_bytes(&self) -> Option<(u64, u64, u64, u64)> {
        (self.bytes.0 > 0).then_some(self.bytes)
    }

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
        match self
            .methods
            .iter_mut()
            .find(|(m, _)| crate::bytes::same_bytes(m.as_bytes(), h.method.as_bytes()))
        {
            Some((_, c)) => *c += 1,
            None => self.methods.push((intern_method(h.method), 1)),
        }
        if let Some(c) = h.client {
            self.clients.insert(c);
        }
        if let Some(b) = h.bytes {
            self.bytes = match self.bytes {
                (0, ..) => (1, b, b, b),
                (n, sum, lo, hi) => (n + 1, sum.saturating_add(b), lo.min(b), hi.max(b)),
            };
        }
        self.set_cookie += h.count(SET_COOKIE);
        self.set_cookie_logged += h.count(SET_COOKIE_LOGGED);
        self.login_redirects += h.count(LOGIN_REDIRECT);
        self.upstream_logged += h.count(UPSTREAM_LOGGED);
        self.upstream_reached += h.count(UPSTREAM_REACHED);
        if let Some(l) = h.location {
            add_location(&mut self.locations, l, 1);
        }
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
            ((0, ..), x) | (x, (0, ..)) => x,
            ((n, s, lo, hi), (n2, s2, lo2, hi2)) => (n + n2, s.saturating_add(s2), lo.min(lo2), hi.max(hi2)),
        };
        self.set_cookie += other.set_cookie;
        self.set_cookie_logged += other.set_cookie_logged;
        self.login_redirects += other.login_redirects;
        self.upstream_logged += other.upstream_logged;
        self.upstream_reached += other.upstream_reached;
        for (path, n) in &other.locations {
            add_location(&mut self.locations, path, *n);
        }
        self.timeline.merge(other.timeline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_paths() {
        assert_eq!(location_path("http://admin.example.com/login?next=%2F"), "/login");
        assert_eq!(location_path("https://h"), "/");
        assert_eq!(location_path("/shop/login#x"), "/shop/login");
        assert_eq!(location_path(" /a "), "/a");
    }

    proptest::proptest! {
        /// The kept locations are the first in byte order with exact counts, however the
        /// responses are split between workers.
        #[test]
        fn locations_merge_in_any_split(paths in proptest::collection::vec(0u8..9, 0..40), split in 0usize..40) {
            let mut all = SmallVec::new();
            let (mut a, mut b) = (SmallVec::new(), SmallVec::new());
            for (i, p) in paths.iter().enumerate() {
                let path = format!("/p{p}");
                add_location(&mut all, &path, 1);
                add_location(if i < split { &mut a } else { &mut b }, &path, 1);
            }
            for (path, n) in &b {
                add_location(&mut a, path, *n);
            }
            let mut want: Vec<(String, u64)> = Vec::new();
            for p in &paths {
                let path = format!("/p{p}");
                match want.iter_mut().find(|(w, _)| *w == path) {
                    Some((_, n)) => *n += 1,
                    None => want.push((path, 1)),
                }
            }
            want.sort();
            want.truncate(MAX_LOCATIONS);
            let got: Vec<(String, u64)> = a.iter().map(|(p, n)| (p.to_string(), *n)).collect();
            proptest::prop_assert_eq!(&got, &want);
            let whole: Vec<(String, u64)> = all.iter().map(|(p, n)| (p.to_string(), *n)).collect();
            proptest::prop_assert_eq!(got, whole);
        }
    }
}
