//! Clustering requests by (user agent, host, path): the table of clusters and its merge.
//!
//! With `remote_addr` empty, this key is what separates callers. Its parts are normalised
//! ([`super::normalize`]): the host lowercased and without its default port, the path as a
//! template. The table is a detector: each worker fills its own, and tables merge a part at a
//! time in parallel. What a cluster keeps is [`ClusterStats`]; its key, [`ClusterKey`]; its
//! count of distinct clients, [`ClientSet`].

mod clients;
mod key;
mod stats;

use std::borrow::Cow;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, IntoParallelRefIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;

pub use clients::{ClientSet, MAX_DISTINCT_CLIENTS};
pub use key::ClusterKey;
pub use stats::ClusterStats;

use super::normalize::{TemplateCache, normalize_host};
use super::timeline::MAX_HITS;
use crate::model::Record;
use key::{encode_part, encodes, order_hash};
use stats::{Hit, SlotStats};

/// What a cluster's path is when the request line had none.
pub const INVALID_REQUEST: &str = "(invalid request line)";
/// What a cluster's path is when no request was logged (`"-"`).
pub const NO_REQUEST: &str = "(no request)";

/// One cluster in the table.
#[derive(Clone, Debug)]
struct Slot {
    /// The table's hash of the key (random seeds: keys are hostile), kept so that the table never
    /// hashes a key again when it grows or merges.
    hash: u64,
    /// A fixed, portable hash of the key (FNV-style), for ordering ties the same way in every
    /// run without reading the key again.
    order_hash: u64,
    /// The encoded key (read with [`ClusterKey::from_encoded`]).
    key: Box<[u8]>,
    /// The statistics, boxed: the table's empty slots then cost a pointer, not a whole
    /// `ClusterStats`. Which of the two kinds they are says, in the slot itself, whether the
    /// cluster has one request or more: sorting out the one-request clusters (most of a
    /// scanner's log) follows no pointer.
    stats: SlotStats,
}

/// One part of a cluster table: its clusters in the order they were first seen, and an index
/// of their positions by key hash.
///
/// Every record looks its cluster up, and with many clusters each lookup is a cache miss: an
/// index of 4-byte positions is an eighth of the size of a table of whole slots, so it stays
/// in the processor's cache where the slots would not. The slots themselves are then read in
/// the order the clusters were first seen, which is how a log comes back to them (a caller
/// that walks a list of paths walks it again at its next beat), and the processor fetches
/// memory read in order ahead of time.
#[derive(Clone, Debug, Default)]
struct Part {
    /// Positions in `slots`, by the slot's `hash`.
    index: HashTable<u32>,
    slots: Vec<Slot>,
}

impl Part {
    /// Adds a cluster not yet in the part.
    fn insert(&mut self, slot: Slot) {
        let Part { index, slots } = self;
        index.insert_unique(slot.hash, position(slots.len()), |&i| slots[i as usize].hash);
        slots.push(slot);
    }

    /// The position of the cluster of this key, whose table hash is `hash`.
    fn find(&self, hash: u64, user_agent: Option<&str>, host: Option<&str>, path: &str) -> Option<u32> {
        self.index
            .find(hash, |&i| {
                let s = &self.slots[i as usize];
                s.hash == hash && encodes(&s.key, user_agent, host, path)
            })
            .copied()
    }

    /// Rebuilds the index after clusters were removed.
    fn reindex(&mut self) {
        let Part { index, slots } = self;
        index.clear();
        for (i, s) in slots.iter().enumerate() {
            index.insert_unique(s.hash, position(i), |&i| slots[i as usize].hash);
        }
    }
}

/// A part of the joint table. One that a panicked worker left locked is still usable: the panic
/// itself is reported when the workers are joined.
fn lock(part: &std::sync::Mutex<Part>) -> std::sync::MutexGuard<'_, Part> {
    part.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A slot's position as the index stores it. A part would need hundreds of gigabytes of
/// clusters to reach `u32::MAX` (and `--max-memory` folds them long before).
fn position(i: usize) -> u32 {
    debug_assert!(u32::try_from(i).is_ok());
    i as u32
}

/// All clusters of the records seen: a detector.
#[derive(Clone, Debug)]
pub struct Clusters {
    raw_paths: bool,
    /// The clusters, in [`PARTS`] parts by a few bits of their hash, so that two workers'
    /// tables are merged a part at a time in parallel.
    parts: [Part; PARTS],
    key: Vec<u8>,
    path: String,
    templates: TemplateCache,
    client_hasher: ahash::RandomState,
    /// What the table holds, for [`Clusters::footprint`]: bytes of keys, clusters of more than
    /// one request, and times kept by timelines.
    key_bytes: usize,
    repeated: usize,
    times: usize,
    /// Clusters folded away to stay within a memory budget.
    folded: Folded,
    /// The table this one fills with the other workers of a batch run, once its own has grown
    /// past [`JOINT_AT`] clusters ([`Clusters::joining`]).
    joint: Joint,
    /// Records go to the joint table, not to `parts`.
    in_joint: bool,
    /// Clusters this table added to the joint table: part of its [`Clusters::footprint`] until
    /// the joint table is merged into a total.
    joint_len: usize,
}

/// The clusters the workers of a batch run hold together, once each one's own table would be a
/// copy of much of the others' (a log of many keys, each seen all along it: every worker sees
/// every key). Each worker then looks its records up here, a part under its lock, rather than
/// in a table of its own: the clusters are held once, not once per worker, and there is no
/// merge of whole tables at the end.
///
/// A log of few keys never gets here: its workers' tables stay small, in their caches, and
/// lock-free.
#[derive(Debug, Default)]
pub struct JointTable {
    parts: [std::sync::Mutex<Part>; PARTS],
    /// Workers' tables given this one and not yet merged into a total.
    holders: std::sync::atomic::AtomicUsize,
}

impl JointTable {
    /// What the table holds, leaving it empty.
    fn take(&self) -> [Part; PARTS] {
        std::array::from_fn(|i| std::mem::take(&mut *lock(&self.parts[i])))
    }

    /// What is left in the table: nothing, once every table given it was merged into a total
    /// (the last one brings it in); else those clusters, for the caller to merge rather than
    /// lose.
    #[must_use]
    pub fn rest(&self, raw_paths: bool) -> Clusters {
        Clusters { parts: self.take(), ..Clusters::new(raw_paths) }
    }
}

/// Clusters (per worker) past which a worker moves its table into the [`JointTable`]: 16,384
/// clusters are about 8 MB of statistics, what a processor's caches can still serve.
const JOINT_AT: usize = 1 << 14;

/// A worker's handle on the [`JointTable`] of its run. The table belongs to every handle; the
/// last one merged into a total ([`Clusters::merge`]) brings in what it holds.
#[derive(Debug, Default)]
struct Joint(Option<std::sync::Arc<JointTable>>);

impl Clone for Joint {
    /// A copy of a table is never part of a run's joint table (only a run's workers are, and
    /// they are not copied).
    fn clone(&self) -> Self {
        debug_assert!(self.0.is_none(), "a table filling a joint table is not copied");
        Joint(None)
    }
}

/// Clusters folded into counts to keep the table within its memory budget
/// ([`Clusters::fold_within`]): the fewest-request clusters, whose statistics are gone. A key
/// seen again after its cluster was folded starts a new cluster, so counts are approximate
/// whenever anything was folded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Clusters folded.
    pub clusters: u64,
    /// Their requests.
    pub requests: u64,
    /// The most requests any folded cluster had.
    pub most_requests: u64,
}

impl Folded {
    fn add(&mut self, other: &Folded) {
        self.clusters += other.clusters;
        self.requests += other.requests;
        self.most_requests = self.most_requests.max(other.most_requests);
    }
}

/// Estimated bytes per cluster in the table (its slot with the table's spare room, its key's
/// allocation and its first request), per cluster of more than one request (whole
/// statistics), and per time a timeline keeps; checked against measured peak memory in
/// `docs/performance.md`.
const CLUSTER_BYTES: usize =
    2 * std::mem::size_of::<Slot>() + std::mem::size_of::<Hit<Cow<'static, str>>>() + 48;
const REPEATED_BYTES: usize = std::mem::size_of::<ClusterStats>() + 64;
const TIME_BYTES: usize = 6;

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

impl Clusters {
    /// Empty clusters; `raw_paths` keeps numeric and id segments as they are.
    #[must_use]
    pub fn new(raw_paths: bool) -> Self {
        Clusters {
            raw_paths,
            parts: std::array::from_fn(|_| Part::default()),
            key: Vec::new(),
            path: String::new(),
            templates: TemplateCache::default(),
            client_hasher: fixed_hasher(),
            key_bytes: 0,
            repeated: 0,
            times: 0,
            folded: Folded::default(),
            joint: Joint::default(),
            in_joint: false,
            joint_len: 0,
        }
    }

    /// This table, to fill `table` with the other workers of a batch run once it grows past
    /// 16,384 clusters. Every table given it must be merged into the run's total (the
    /// last one merged brings the joint table in), and none observes after its
    /// [`Clusters::split_off`].
    #[must_use]
    pub fn joining(mut self, table: &std::sync::Arc<JointTable>) -> Self {
        table.holders.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.joint = Joint(Some(std::sync::Arc::clone(table)));
        self
    }

    /// The clusters so far, leaving this table empty but with its caches.
    #[must_use]
    pub fn split_off(&mut self) -> Clusters {
        let mut taken = Clusters::new(self.raw_paths);
        std::mem::swap(&mut taken.parts, &mut self.parts);
        taken.key_bytes = std::mem::take(&mut self.key_bytes);
        taken.repeated = std::mem::take(&mut self.repeated);
        taken.times = std::mem::take(&mut self.times);
        taken.folded = std::mem::take(&mut self.folded);
        // What was put in the joint table goes with the handle; this table records on its own.
        taken.joint = std::mem::take(&mut self.joint);
        taken.joint_len = std::mem::take(&mut self.joint_len);
        self.in_joint = false;
        taken
    }

    /// Estimated bytes the table holds.
    #[must_use]
    pub fn footprint(&self) -> usize {
        (self.len() + self.joint_len) * CLUSTER_BYTES
            + self.key_bytes
            + self.repeated * REPEATED_BYTES
            + self.times * TIME_BYTES
    }

    /// An upper bound of this table's share of the [`Clusters::footprint`] of any table it is
    /// merged into: every cluster counted as repeated (a merge can make a one-request cluster
    /// repeated, and never adds clusters, keys or times).
    #[must_use]
    pub fn footprint_bound(&self) -> usize {
        (self.len() + self.joint_len) * (CLUSTER_BYTES + REPEATED_BYTES)
            + self.key_bytes
            + self.times * TIME_BYTES
    }

    /// The most that observing `bytes` bytes of log in at most `lines` lines can add to
    /// [`Clusters::footprint_bound`]: a new cluster and a time for each line, and keys of at
    /// most three times the lines' bytes (a path template can double a path: `/1` is `/:id`; a
    /// key adds the lengths of its parts, or a placeholder for a missing request line).
    #[must_use]
    pub fn footprint_bound_of_input(bytes: usize, lines: usize) -> usize {
        const KEY_EXTRA: usize = 64;
        lines * (CLUSTER_BYTES + REPEATED_BYTES + TIME_BYTES + KEY_EXTRA) + 3 * bytes
    }

    /// What was folded to stay within the memory budget.
    #[must_use]
    pub fn folded(&self) -> Folded {
        self.folded
    }

    /// Raises what a folded cluster may have held to `most` requests: a window's panes fold
    /// apart, so a key folded in each of them may have had the sum of their most.
    pub fn folded_at_most(&mut self, most: u64) {
        if self.folded.clusters > 0 {
            self.folded.most_requests = self.folded.most_requests.max(most);
        }
    }

    /// Keeps the table within `budget` bytes: when over, folds the clusters of one request,
    /// then of up to 2, 4, 8... until the table is at most half the budget (so that folding
    /// is rare and its cost shared by the many clusters added in between). The clusters a
    /// periodic caller makes have many requests, and go last.
    pub fn fold_within(&mut self, budget: usize) {
        if self.footprint() <= budget {
            return;
        }
        let mut most = 1u64;
        loop {
            let mut folded = Folded::default();
            let (mut key_bytes, mut repeated, mut times) = (0, 0, 0);
            for part in &mut self.parts {
                part.slots.retain(|s| {
                    let n = s.stats.requests();
                    if n > most {
                        return true;
                    }
                    folded.clusters += 1;
                    folded.requests += n;
                    folded.most_requests = folded.most_requests.max(n);
                    key_bytes += s.key.len();
                    repeated += usize::from(s.stats.is_repeated());
                    times += timeline_times(n);
                    false
                });
                part.reindex();
            }
            self.folded.add(&folded);
            self.key_bytes -= key_bytes;
            self.repeated -= repeated;
            self.times -= times;
            if self.footprint() <= budget / 2 || self.is_empty() {
                break;
            }
            most = most.saturating_mul(2);
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
        let mut locked = None;
        let part = match self.joint.0.as_deref() {
            Some(joint) if self.in_joint => &mut **locked.insert(lock(&joint.parts[part(hash)])),
            _ => &mut self.parts[part(hash)],
        };
        if let Some(slot) =
            part.find(hash, user_agent, host, path).and_then(|i| part.slots.get_mut(i as usize))
        {
            let before = slot.stats.requests();
            self.repeated += usize::from(before == 1);
            self.times += usize::from(before < MAX_HITS as u64);
            slot.stats.observe(&Hit::of(r, client));
        } else {
            let stats = SlotStats::One(Box::new(Hit::of(r, client).kept()));
            self.key.clear();
            encode_part(&mut self.key, user_agent);
            encode_part(&mut self.key, host);
            self.key.extend_from_slice(path.as_bytes());
            let key = self.key.as_slice();
            let slot = Slot { hash, order_hash: order_hash(key), key: key.into(), stats };
            self.key_bytes += key.len();
            self.times += 1;
            part.insert(slot);
            drop(locked);
            if self.in_joint {
                self.joint_len += 1;
            } else if self.joint.0.is_some() && self.len() >= JOINT_AT {
                self.join();
            }
        }
    }

    /// Moves this table's clusters into the joint table, where its records go from now on.
    fn join(&mut self) {
        let Some(joint) = self.joint.0.clone() else { return };
        for (i, theirs) in joint.parts.iter().enumerate() {
            let mut theirs = lock(theirs);
            let before = theirs.slots.len();
            let both = merge_part(&mut theirs, std::mem::take(&mut self.parts[i]));
            self.joint_len += theirs.slots.len() - before;
            drop(theirs);
            self.uncount(&both);
        }
        self.in_joint = true;
    }

    /// Takes off what a merge found counted twice.
    fn uncount(&mut self, both: &Shared) {
        self.key_bytes -= both.key_bytes;
        self.repeated = self.repeated.saturating_add_signed(-both.repeated);
        self.times -= both.times;
    }

    /// Absorbs another instance's clusters, a part at a time in parallel.
    ///
    /// The last table of a run's workers merged brings their joint table in.
    pub fn merge(&mut self, mut other: Clusters) {
        let joint = std::mem::take(&mut other.joint);
        self.joint_len += other.joint_len;
        self.merge_parts(other);
        let Some(joint) = joint.0 else { return };
        if joint.holders.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            let joint = joint.rest(self.raw_paths);
            debug_assert_eq!(
                joint.len(),
                self.joint_len,
                "every cluster added to the joint table is counted"
            );
            self.joint_len = 0;
            // Its keys, times and repeated clusters were counted by the workers that added them.
            self.merge_parts(joint);
        }
    }

    /// [`Clusters::merge`] of the clusters `other` holds itself.
    fn merge_parts(&mut self, other: Clusters) {
        self.key_bytes += other.key_bytes;
        self.repeated += other.repeated;
        self.times += other.times;
        self.folded.add(&other.folded);
        let parts: Vec<(&mut Part, Part)> = self.parts.iter_mut().zip(other.parts).collect();
        // A small table (a piece's) is merged on this thread: splitting it costs more.
        let small = parts.iter().map(|(_, t)| t.slots.len()).sum::<usize>() < SERIAL_MERGE;
        let merged: Vec<Shared> = if small {
            parts.into_iter().map(|(mine, theirs)| merge_part(mine, theirs)).collect()
        } else {
            parts.into_par_iter().map(|(mine, theirs)| merge_part(mine, theirs)).collect()
        };
        for m in merged {
            self.uncount(&m);
        }
    }

    /// Number of clusters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.slots.len()).sum()
    }

    /// True when no record was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.slots.is_empty())
    }

    /// The clusters, in no particular order.
    #[cfg(test)]
    fn into_slots(self) -> Vec<Slot> {
        self.parts.into_iter().flat_map(|p| p.slots).collect()
    }

    /// Splits the clusters into those a report keeps, `head` of them at most (or all with
    /// `usize::MAX`): every repeated cluster (more than one request), then one-request clusters
    /// in the order of their `order_hash`, then key, up to `head`. One-request clusters can be
    /// most of a log (a scanner's): the first are found in one pass with a bounded heap and taken
    /// out of the parts, and the rest stay where they are.
    fn split_kept(self, head: usize) -> Kept {
        let count = self.len();
        let mut repeated_n = 0;
        // The first one-request clusters in the order, as many as could be kept.
        let limit = head.min(count);
        let mut first: BinaryHeap<(u64, &[u8])> = BinaryHeap::new();
        for slot in self.parts.iter().flat_map(|p| &p.slots) {
            if slot.stats.is_repeated() {
                repeated_n += 1;
            } else if head != usize::MAX {
                let item = (slot.order_hash, &*slot.key);
                if first.len() < limit {
                    first.push(item);
                } else if let Some(mut top) = first.peek_mut().filter(|top| item < **top) {
                    *top = item;
                }
            }
        }
        let wanted = head.saturating_sub(repeated_n).min(count - repeated_n);
        while first.len() > wanted {
            first.pop();
        }
        // The last one-request cluster kept: `Bound::All` when `head` keeps every one.
        let last = if head == usize::MAX {
            Bound::All
        } else {
            first.peek().map_or(Bound::None, |&(h, key)| Bound::UpTo(h, key.into()))
        };
        drop(first);
        let (mut repeated, mut single) = (Vec::with_capacity(repeated_n), Vec::with_capacity(wanted));
        let kept = |s: &Slot| {
            s.stats.is_repeated()
                || match &last {
                    Bound::All => true,
                    Bound::None => false,
                    Bound::UpTo(h, key) => (s.order_hash, &*s.key) <= (*h, &**key),
                }
        };
        let mut rest = Unkept(Vec::with_capacity(PARTS));
        for part in self.parts {
            // The kept ones are gathered at the end and split off: the rest (most of a
            // scanner's log) are neither moved nor copied.
            let mut slots = part.slots;
            let mut end = slots.len();
            let mut i = 0;
            while i < end {
                if kept(&slots[i]) {
                    end -= 1;
                    slots.swap(i, end);
                } else {
                    i += 1;
                }
            }
            for slot in slots.drain(end..) {
                if slot.stats.is_repeated() { repeated.push(slot) } else { single.push(slot) }
            }
            rest.0.push(slots);
        }
        Kept { repeated, single, count: count as u64, rest }
    }

    /// The clusters in the order a report lists them, `head` of them at most (or all with
    /// `usize::MAX`; a one-request cluster beyond the head is counted, not kept): by requests,
    /// most first; ties by key among the [`KEY_ORDERED`] biggest, and by a fixed hash of the key
    /// beyond, so that the order never depends on the thread count or on the table's layout.
    #[must_use]
    pub fn into_ordered(self, head: usize) -> Ordered {
        let folded = self.folded;
        let Kept { repeated, mut single, count, rest } = self.split_kept(head);
        // Repeated clusters are sorted as a permutation, then moved once: comparing keys or
        // counters scattered over the heap would dominate.
        let mut order: Vec<(u64, u64, usize)> =
            repeated.par_iter().enumerate().map(|(i, s)| (s.stats.requests(), s.order_hash, i)).collect();
        order.par_sort_unstable_by(|a, b| {
            (b.0, a.1).cmp(&(a.0, b.1)).then_with(|| repeated[a.2].key.cmp(&repeated[b.2].key))
        });
        let mut entries = repeated;
        permute(&mut entries, order.into_iter().map(|(_, _, i)| i).collect());
        single.par_sort_unstable_by(|a, b| a.order_hash.cmp(&b.order_hash).then_with(|| a.key.cmp(&b.key)));
        entries.append(&mut single);
        // The biggest, for people to read: ties by key, part by part. Each key is read into its
        // parts once, and the user agents and hosts (few distinct ones, and long: a user agent
        // shared by thousands of clusters is otherwise compared in full at every step) are
        // compared as their ranks among the distinct ones.
        let head = entries.len().min(KEY_ORDERED);
        let order: Vec<usize> = {
            let parts: Vec<_> = entries[..head].iter().map(|s| key::parts(&s.key)).collect();
            let user_agents = Ranks::among(parts.iter().map(|p| p.0));
            let hosts = Ranks::among(parts.iter().map(|p| p.1));
            let mut order: Vec<(u64, u32, u32, &[u8], usize)> = entries[..head]
                .iter()
                .zip(&parts)
                .enumerate()
                .map(|(i, (s, p))| (s.stats.requests(), user_agents.of(p.0), hosts.of(p.1), p.2, i))
                .collect();
            order.par_sort_unstable_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3))));
            order.into_iter().map(|o| o.4).collect()
        };
        permute(&mut entries[..head], order);
        Ordered { clusters: entries.into_iter().map(OrderedCluster).collect(), count, rest, folded }
    }
}

/// Puts `items` in the order `order` gives (`order[j]` is where the j-th item is now), in place,
/// cycle by cycle: no second list of a hundred thousand clusters to allocate (fresh memory, on
/// one thread). Each position is marked `usize::MAX` once its item is in place.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    debug_assert_eq!(items.len(), order.len());
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != usize::MAX {
            let next = std::mem::replace(&mut order[at], usize::MAX);
            if next == start {
                break;
            }
            items.swap(at, next);
            at = next;
        }
    }
}

/// The ranks of distinct values in their order: comparing two ranks is comparing the values.
struct Ranks<'a>(super::FastMap<Option<&'a [u8]>, u32>);

impl<'a> Ranks<'a> {
    fn among(values: impl Iterator<Item = Option<&'a [u8]>>) -> Self {
        let mut ranks: super::FastMap<Option<&[u8]>, u32> = values.map(|v| (v, 0)).collect();
        let mut distinct: Vec<Option<&[u8]>> = ranks.keys().copied().collect();
        distinct.sort_unstable();
        for (i, v) in distinct.into_iter().enumerate() {
            ranks.insert(v, position(i));
        }
        Ranks(ranks)
    }

    fn of(&self, value: Option<&[u8]>) -> u32 {
        self.0.get(&value).copied().unwrap_or(u32::MAX)
    }
}

/// The last one-request cluster that [`Clusters::split_kept`] keeps.
enum Bound {
    /// Every one is kept.
    All,
    /// None is kept.
    None,
    /// Those up to this `(order_hash, key)` are kept.
    UpTo(u64, Box<[u8]>),
}

/// The clusters a report keeps (see [`Clusters::split_kept`]).
#[derive(Debug)]
struct Kept {
    /// Every repeated cluster, in no particular order.
    repeated: Vec<Slot>,
    /// The first one-request clusters, in no particular order.
    single: Vec<Slot>,
    /// How many clusters there were, kept or not.
    count: u64,
    /// The one-request clusters not kept.
    rest: Unkept,
}

/// One-request clusters a report does not keep (see [`Clusters::into_ordered`]): counted, and
/// only to be freed.
#[derive(Debug)]
pub struct Unkept(Vec<Vec<Slot>>);

impl Unkept {
    /// How many there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }
}

/// The biggest clusters, by requests, are ordered by key within equal request counts; beyond
/// them, ties are ordered by a fixed hash of the key (see [`Clusters::into_ordered`]).
pub const KEY_ORDERED: usize = 10_000;

/// The clusters a report keeps, in its order (see [`Clusters::into_ordered`]).
#[derive(Debug)]
pub struct Ordered {
    /// The kept clusters, most requests first.
    pub clusters: Vec<OrderedCluster>,
    /// How many clusters there were, kept or not.
    pub count: u64,
    /// The one-request clusters not kept: only to be freed.
    pub rest: Unkept,
    /// What was folded during the ingest to stay within the memory budget (not in `count`).
    pub folded: Folded,
}

/// One kept cluster, still as the table stored it: [`OrderedCluster::into_parts`] decodes its
/// key and makes its statistics whole, work that is worth spreading over the workers.
#[derive(Debug)]
pub struct OrderedCluster(Slot);

impl OrderedCluster {
    /// Requests in the cluster.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.0.stats.requests()
    }

    /// The key and the whole statistics, distinct clients counted.
    #[must_use]
    pub fn into_parts(self) -> (ClusterKey, Box<ClusterStats>) {
        let Slot { key, stats, .. } = self.0;
        let mut stats = stats.into_stats();
        stats.clients.flush();
        (ClusterKey::from_encoded(key), stats)
    }
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

/// Tables with fewer clusters than this are merged on one thread.
const SERIAL_MERGE: usize = 4096;

/// Times a timeline keeps for a cluster of `requests`.
fn timeline_times(requests: u64) -> usize {
    usize::try_from(requests.min(MAX_HITS as u64)).unwrap_or(MAX_HITS)
}

/// What two tables counted twice, found by their merge: the keys and statistics of clusters
/// in both, and the times beyond a timeline's limit.
#[derive(Default)]
struct Shared {
    key_bytes: usize,
    /// Counted twice as repeated, less the clusters that became repeated by merging (two of
    /// one request each).
    repeated: isize,
    times: usize,
}

/// Absorbs `other` into `mine` (one part of two workers' clusters); returns what both held.
fn merge_part(mine: &mut Part, mut other: Part) -> Shared {
    let mut shared = Shared::default();
    if other.slots.len() > mine.slots.len() {
        std::mem::swap(mine, &mut other);
    }
    let Part { index, slots } = mine;
    index.reserve(other.slots.len(), |&i| slots[i as usize].hash);
    // Clusters busy in both are merged afterwards in parallel (their client sets and
    // timelines are most of the work, and the last merge of the ingest has the pool to itself);
    // the rest are merged in place.
    let mut busy: Vec<(u32, Slot)> = Vec::new();
    for slot in other.slots {
        // One probe: a new key (most of a scanner's) goes where the search ended.
        let entry = index.entry(
            slot.hash,
            |&i| {
                let s = &slots[i as usize];
                s.hash == slot.hash && s.key == slot.key
            },
            |&i| slots[i as usize].hash,
        );
        match entry {
            Entry::Occupied(found) => {
                let at = *found.get();
                let mine = &mut slots[at as usize];
                // One key, one whole statistics, one timeline up to its limit.
                let (a, b) = (mine.stats.requests(), slot.stats.requests());
                shared.key_bytes += slot.key.len();
                shared.repeated += isize::from(a > 1) + isize::from(b > 1) - 1;
                shared.times += timeline_times(a) + timeline_times(b) - timeline_times(a + b);
                if a.min(b) >= PARALLEL_MERGE {
                    busy.push((at, slot));
                } else {
                    mine.stats.merge(slot.stats);
                }
            }
            Entry::Vacant(place) => {
                place.insert(position(slots.len()));
                slots.push(slot);
            }
        }
    }
    // Each busy cluster paired with its own slot (a key is in `other` once, so the positions
    // are distinct), by walking the slots once in position order.
    if !busy.is_empty() {
        busy.sort_unstable_by_key(|(at, _)| *at);
        let mut busy = busy.into_iter().peekable();
        let pairs: Vec<(&mut Slot, Slot)> = slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, mine)| {
                busy.next_if(|(at, _)| *at as usize == i).map(|(_, theirs)| (mine, theirs))
            })
            .collect();
        pairs.into_par_iter().for_each(|(mine, theirs)| mine.stats.merge(theirs.stats));
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;
    use std::borrow::Cow;

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
                        s.timeline.sorted().times,
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
            let repeated = all.iter().filter(|s| s.stats.requests() > 1).count();
            let wanted = head.saturating_sub(repeated).min(all.len() - repeated);
            let mut want: Vec<_> = all[..repeated + wanted].iter().map(|s| s.key.clone()).collect();
            let kept = c.split_kept(head);
            proptest::prop_assert_eq!(kept.count as usize, all.len());
            proptest::prop_assert!(kept.repeated.iter().all(|s| s.stats.requests() > 1));
            proptest::prop_assert!(kept.single.iter().all(|s| s.stats.requests() == 1));
            let mut got: Vec<_> = kept.repeated.iter().chain(&kept.single).map(|s| s.key.clone()).collect();
            got.sort();
            want.sort();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(kept.rest.len(), all.len() - repeated - wanted);
        }
    }
    #[test]
    fn hostile_keys_do_not_collide() {
        let mut c = Clusters::new(false);
        c.observe(&rec("a", "b\u{0}c", "/x", 0, None));
        c.observe(&rec("a\u{0}b", "c", "/x", 0, None));
        assert_eq!(c.len(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The biggest clusters come by requests, then by key part by part (user agent, host,
        /// path; a missing part first), as comparing the decoded keys orders them: user agents
        /// and hosts shared by many clusters, missing, or prefixes of one another.
        #[test]
        fn the_head_is_ordered_by_requests_then_key_parts(
            clusters in proptest::collection::vec((0usize..5, 0usize..4, 0u32..40, 1usize..4), 1..120),
        ) {
            const AGENTS: [Option<&str>; 5] = [None, Some("Go"), Some("Go-http-client/1.1"), Some("Mozilla/5.0"), Some("")];
            const HOSTS: [Option<&str>; 4] = [None, Some("a"), Some("a.example"), Some("b")];
            let mut table = Clusters::new(true);
            for (i, &(ua, host, path, n)) in clusters.iter().enumerate() {
                for j in 0..n {
                    let mut r = Record::at((i * 10 + j) as i64, TimeResolution::Seconds);
                    r.user_agent = AGENTS[ua].map(Cow::Borrowed);
                    r.host = HOSTS[host].map(Cow::Borrowed);
                    r.target = Some(Cow::Owned(format!("/p{path}")));
                    table.observe(&r);
                }
            }
            let ordered = table.into_ordered(usize::MAX);
            let got: Vec<(u64, Vec<u8>)> =
                ordered.clusters.into_iter().map(|c| (c.requests(), c.0.key.to_vec())).collect();
            let mut want = got.clone();
            want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| key::parts(&a.1).cmp(&key::parts(&b.1))));
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// Workers whose tables grow past [`JOINT_AT`] fill one joint table; merged into a total in
    /// any order, they give what one table of every record gives, with the same footprint
    /// (nothing counted twice, nothing lost), and the joint table is left empty.
    #[test]
    fn workers_filling_a_joint_table_give_what_one_table_gives() {
        // An odd number of keys: each worker's share of the records holds every key alike.
        let keys = 2 * JOINT_AT + 1;
        let records: Vec<(String, i64)> =
            (0..3 * keys).map(|i| (format!("/k{}", i % keys), 10_000 * (i / keys) as i64)).collect();
        let mut one = Clusters::new(true);
        for (path, t) in &records {
            one.observe(&rec("probe", "h", path, *t, None));
        }
        for order in [[0usize, 1, 2], [2, 0, 1]] {
            let joint = std::sync::Arc::new(JointTable::default());
            let mut workers: Vec<Clusters> = (0..3).map(|_| Clusters::new(true).joining(&joint)).collect();
            // Two workers pass the mark, the second finding many of its keys already there; the
            // third, with an eighth of the records, keeps its own table.
            for (i, (path, t)) in records.iter().enumerate() {
                let w = [0, 0, 1, 1, 0, 0, 1, 2][i % 8];
                workers[w].observe(&rec("probe", "h", path, *t, None));
            }
            assert!(workers[0].in_joint && workers[1].in_joint && !workers[2].in_joint);
            let mut total = Clusters::new(true);
            for w in order {
                total.merge(workers[w].split_off());
            }
            assert!(joint.rest(true).is_empty(), "the last table merged brought the joint table in");
            assert_eq!(total.len(), keys);
            assert_eq!(total.footprint(), one.footprint());
            let listed = |c: Clusters| {
                c.into_ordered(usize::MAX)
                    .clusters
                    .into_iter()
                    .map(|c| {
                        let (key, stats) = c.into_parts();
                        (key.path().to_owned(), stats.requests, stats.timeline.len())
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(listed(total), listed(one.clone()));
        }
    }

    /// The report order: by requests, ties by key among the biggest, whatever the split.
    #[test]
    fn ordered_by_requests_then_key() {
        let mut a = Clusters::new(false);
        let mut b = Clusters::new(false);
        for (i, (ua, n)) in [("b", 2), ("a", 2), ("c", 3), ("d", 1), ("e", 1)].into_iter().enumerate() {
            for j in 0..n {
                let part = if (i + j) % 2 == 0 { &mut a } else { &mut b };
                part.observe(&rec(ua, "h", "/", j as i64, None));
            }
        }
        a.merge(b);
        let ordered = a.into_ordered(usize::MAX);
        assert_eq!(ordered.count, 5);
        let got: Vec<(String, u64)> = ordered
            .clusters
            .into_iter()
            .map(|c| {
                let n = c.requests();
                let (key, stats) = c.into_parts();
                assert_eq!(stats.requests, n);
                (key.user_agent().unwrap_or_default().to_owned(), n)
            })
            .collect();
        let want: Vec<(String, u64)> = [("c", 3), ("a", 2), ("b", 2), ("d", 1), ("e", 1)]
            .iter()
            .map(|(u, n)| ((*u).to_owned(), *n))
            .collect();
        assert_eq!(got, want);
    }
}
