//! Per-cluster statistics: what a cluster keeps of its requests, mergeable across workers.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::clients::ClientSet;
use crate::analysis::normalize::is_login_segment;
use crate::analysis::timeline::Timeline;
use crate::model::{Record, TimeResolution, UnixMillis};

/// What a cluster keeps of its requests; merged across workers in any order.
#[derive(Clone, Debug, Default)]
pub struct ClusterStats {
    /// Requests in the cluster.
    pub requests: u64,
    /// Requests per status code (two inline before allocating).
    pub statuses: SmallVec<[(u16, u64); 2]>,
    /// Requests per method (`-` when the request line had none); common methods are not
    /// allocated.
    pub methods: SmallVec<[(Cow<'static, str>, u64); 1]>,
    /// Earliest request time.
    pub first_seen: UnixMillis,
    /// Latest request time.
    pub last_seen: UnixMillis,
    /// Hashes of distinct client addresses (up to [`super::MAX_DISTINCT_CLIENTS`]).
    pub clients: ClientSet,
    /// Response bytes: count of responses with a size, sum, min, max.
    pub bytes: Option<(u64, u64, u64, u64)>,
    /// Responses whose `Set-Cookie` was logged non-empty.
    pub set_cookie: u64,
    /// Responses whose logged `Location` points to a login or auth page.
    pub login_redirects: u64,
    /// Request times, for the periodic detector.
    pub timeline: Timeline,
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

/// What a cluster's statistics take from one request; `M` is its method (borrowed from the
/// record, or interned when kept as a cluster's only request).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Hit<M> {
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
    pub(super) fn of(r: &'a Record<'_>, client: Option<u64>) -> Self {
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

    pub(super) fn kept(&self) -> Hit<Cow<'static, str>> {
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
            stats.merge(*other.into_stats());
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
