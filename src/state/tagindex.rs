//! `TagIndex`: a hash index of `u32` positions into a caller's array (holder
//! slots, queue members, sorted-set members), whose probe can be warmed
//! without reading anything.
//!
//! Why not `hashbrown::HashTable<u32>`: the engine warms the cache for a
//! whole pipeline before applying it, and a `hashbrown` probe starts by
//! reading its control bytes, whose address it does not give out, so
//! warming a lookup would mean doing it and waiting for that miss (62 % of
//! SEAT.HOLD's warm-up, 6 % of the server's time under holds at -P 16).
//! Here the bytes a probe reads first sit at an address that follows from
//! the hash alone ([`TagIndex::prefetch`]).
//!
//! Layout: six bytes per bucket (one more than `hashbrown`'s five: the
//! tag has 16 bits, see [`TagIndex::tag`]) and `hashbrown`'s largest load
//! (7/8): a 2-byte tag per bucket, in one array so a probe scans one cache
//! line of them, and the position in a parallel array read only when the
//! tag matches. A tag is 0 (empty), 1 (deleted) or the hash's top 16 bits
//! (2 if they are below 2). Linear probing from the bucket the hash's low bits
//! name; a removal leaves a deletion mark unless the next bucket is empty,
//! and marks are dropped whenever the table is rebuilt: on growth, or at the
//! same size when marks fill a table at most half full of live entries (as
//! `hashbrown` decides; rebuilding in place whenever marks fill it would,
//! under churn near the limit, rebuild every few operations).
//!
//! The hash of a stored position is never kept: rebuilding hashes each
//! entry again through the caller's closure, which reads the item (as
//! `hashbrown`'s growth does).
//!
//! **Rebuilding is spread over the inserts that follow it**, as Redis
//! spreads its rehashing: the full table is set aside as a draining one,
//! lookups and removals try the fresh table and then it, inserts go to the
//! fresh table only, and each insert first moves the next
//! [`DRAIN_BUCKETS_PER_INSERT`] buckets of it across. Rebuilding a queue's
//! index at once would stall the engine, and with it every client, for as
//! long as hashing every member again takes: 257 ms at 1.8 million members
//! and 573 ms at 3.7 million (`QUEUE.JOIN`, one `apply` each). Each step
//! hashes a batch of items before placing any, so their cache misses
//! overlap: adding 2·10⁶ new sorted-set members costs 668–780 ns per apply,
//! against 646–820 when rebuilding at once and 764–890 for a step that
//! hashes items one by one (`cargo bench --bench growth`).

use super::keymap::prefetch_read;

const EMPTY: Tag = 0;
const DELETED: Tag = 1;

/// A bucket's tag: empty, deleted, or 16 bits of a full bucket's hash.
type Tag = u16;

/// Most positions an index holds: at most 7/8 of 2³² buckets.
pub const POSITIONS_MAX: usize = (1 << 32) / 8 * 7;

/// Buckets of a draining table that each insert moves into the fresh one.
/// Growth sets aside a table 7/8 full and the fresh one has room for 7/8
/// of twice as many buckets, so any step of two or more drains it before
/// the fresh table fills.
///
/// Bigger steps end the drain sooner (while a table drains, a lookup of an
/// absent item probes both tables), but each item moved is hashed again,
/// which reads it: 0.15–0.35 µs apiece when it is not in the cache. Server
/// CPU per 2-seat hold for a new holder each time, alternating runs:
/// 1.17–1.22 µs rebuilding at once, 1.24–1.29 with steps of 8, 1.23–1.26
/// with 16, 1.19–1.24 with 32, 1.16–1.23 with 64. But at 50,000 queue
/// joins a second, steps of 64 kept the engine busy for 655 ms straight
/// while a 2-million-member index drained, and p99 rose to 19–38 ms; with
/// 8 or 16 it stayed at 0.4–0.7 ms (`tools/compare.sh` growth part).
pub const DRAIN_BUCKETS_PER_INSERT: usize = 16;

/// Items a drain hashes before it places any of them.
const DRAIN_BATCH: usize = 16;

/// A table set aside by a rebuild, still holding the positions not yet
/// moved to the fresh table. It takes no inserts; a moved or removed
/// position leaves a deletion mark, so probes through it stay whole.
#[derive(Debug, Clone)]
struct Draining {
    tags: Vec<Tag>,
    positions: Vec<u32>,
    /// Buckets before this one are drained (empty or deleted).
    next: usize,
    /// Full buckets.
    live: usize,
}

impl Draining {
    #[inline]
    fn find_bucket(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<usize> {
        find_in(&self.tags, &self.positions, hash, eq)
    }
}

/// The bucket of `tags`/`positions` holding a position under `hash` that
/// `eq` accepts: linear probing from the hash's home to an empty bucket.
#[inline]
fn find_in(
    tags: &[Tag],
    positions: &[u32],
    hash: u64,
    mut eq: impl FnMut(u32) -> bool,
) -> Option<usize> {
    if tags.is_empty() {
        return None;
    }
    let tag = TagIndex::tag(hash);
    let mask = tags.len() - 1;
    let mut at = hash as usize & mask;
    loop {
        let here = tags[at];
        if here == EMPTY {
            return None;
        }
        if here == tag && eq(positions[at]) {
            return Some(at);
        }
        at = (at + 1) & mask;
    }
}

#[derive(Debug, Clone, Default)]
pub struct TagIndex {
    /// One per bucket: empty, deleted or a full bucket's tag. Empty, or a
    /// power of two long.
    tags: Vec<Tag>,
    /// The position stored in each full bucket.
    positions: Vec<u32>,
    /// Full buckets, here and in `draining`: the index's length.
    live: usize,
    /// Full and deleted buckets of `tags`: a probe stops only at an empty
    /// one, so this stays at most 7/8 of the buckets (one is always empty).
    used: usize,
    /// The table being drained into this one, after a rebuild (boxed: most
    /// indexes never hold one, and the index sits in every queue, sorted
    /// set and holder table).
    draining: Option<Box<Draining>>,
    /// Rebuilds so far (tests check they stay rare).
    #[cfg(test)]
    rebuilds: usize,
    /// Most buckets one insert has moved from a draining table (tests
    /// check the bound).
    #[cfg(test)]
    most_drained_at_once: usize,
    /// Inserts that had to finish a drain at once (tests check there are
    /// none).
    #[cfg(test)]
    drains_cut_short: usize,
}

impl TagIndex {
    /// Fewest buckets of an index that has any.
    const BUCKETS_MIN: usize = 8;

    /// An index with room for `positions` without growing.
    pub fn with_capacity(positions: usize) -> TagIndex {
        if positions == 0 {
            return TagIndex::default();
        }
        let buckets = Self::buckets_for(positions);
        TagIndex {
            tags: vec![EMPTY; buckets],
            positions: vec![0; buckets],
            ..TagIndex::default()
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.tags.len().wrapping_sub(1)
    }

    /// The hash's top 16 bits, moved off the two marks: a probe passing a
    /// full bucket of another item reads that item (its slot and its bytes:
    /// two or three cache misses) once in 65,534.
    ///
    /// Why 16 bits: with 4·10⁶ 2-seat holds by new holders, where every
    /// lookup of a holder misses, an 8-bit tag makes 4 % of lookups compare
    /// an id, and those compares are half of `HolderTable::find`'s time;
    /// 16 bits give 4–11 % more holds/s and 4–9 % less server CPU. The
    /// extra byte per bucket costs about 2 B per queue member and 1 B per
    /// held seat; queue steps and ZADD run at the same speed.
    #[inline]
    fn tag(hash: u64) -> Tag {
        ((hash >> 48) as Tag).max(DELETED + 1)
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// The bucket of the fresh table holding a position under `hash` that
    /// `eq` accepts.
    #[inline]
    fn find_bucket(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<usize> {
        find_in(&self.tags, &self.positions, hash, eq)
    }

    /// The first bucket from `hash`'s home that holds no position (empty or
    /// deleted): where an insert goes.
    #[inline]
    fn free_bucket(&self, hash: u64) -> usize {
        let mask = self.mask();
        let mut at = self.home(hash);
        while self.tags[at] > DELETED {
            at = (at + 1) & mask;
        }
        at
    }

    /// The position under `hash` that `eq` accepts.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if let Some(at) = self.find_bucket(hash, &mut eq) {
            return Some(self.positions[at]);
        }
        let draining = self.draining.as_deref()?;
        let at = draining.find_bucket(hash, eq)?;
        Some(draining.positions[at])
    }

    /// Adds `position` under `hash`; the caller knows no position under it
    /// is equal. `rehash` gives the hash of a stored position (growing
    /// rebuilds the table, a few buckets per insert).
    pub fn insert_unique(&mut self, hash: u64, position: u32, rehash: impl Fn(u32) -> u64) {
        self.make_room(1, &rehash);
        self.drain(DRAIN_BUCKETS_PER_INSERT, &rehash);
        self.put(Self::tag(hash), hash, position);
        self.live += 1;
    }

    /// Stores `position` with `tag` in the fresh table's first free bucket
    /// from `hash`'s home.
    #[inline]
    fn put(&mut self, tag: Tag, hash: u64, position: u32) {
        let at = self.free_bucket(hash);
        if self.tags[at] == EMPTY {
            self.used += 1;
        }
        self.tags[at] = tag;
        self.positions[at] = position;
    }

    /// Removes and returns the position under `hash` that `eq` accepts.
    pub fn remove(&mut self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let Some(at) = self.find_bucket(hash, &mut eq) else {
            let draining = self.draining.as_deref_mut()?;
            let at = draining.find_bucket(hash, eq)?;
            draining.tags[at] = DELETED;
            draining.live -= 1;
            self.live -= 1;
            return Some(draining.positions[at]);
        };
        let position = self.positions[at];
        // A bucket before an empty one ends every probe that reaches it
        // anyway, so it can be emptied rather than marked.
        if self.tags[(at + 1) & self.mask()] == EMPTY {
            self.tags[at] = EMPTY;
            self.used -= 1;
        } else {
            self.tags[at] = DELETED;
        }
        self.live -= 1;
        Some(position)
    }

    /// Makes room for `additional` more positions at once (loaders): no
    /// table is left draining.
    pub fn reserve(&mut self, additional: usize, rehash: impl Fn(u32) -> u64) {
        self.make_room(additional, &rehash);
        self.drain(usize::MAX, &rehash);
    }

    /// Makes room in the fresh table for `additional` more positions:
    /// when they would not fit, finishes any drain (rare: a drain ends long
    /// before the fresh table fills) and starts a rebuild, at the same
    /// size when deletion marks are what fill the table (live positions at
    /// most half of what it may hold), else grown (see the module comment).
    fn make_room(&mut self, additional: usize, rehash: &impl Fn(u32) -> u64) {
        // Positions still draining will land here too: counting them keeps
        // every drain step within the fresh table's room.
        let draining = self.draining.as_deref().map_or(0, |draining| draining.live);
        let needed = self
            .used
            .saturating_add(draining)
            .saturating_add(additional);
        let room = self.tags.len() / 8 * 7;
        if needed <= room {
            return;
        }
        #[cfg(test)]
        {
            if additional == 1 && self.draining.is_some() {
                self.drains_cut_short += 1;
            }
        }
        self.drain(usize::MAX, rehash);
        let live = self.live.saturating_add(additional);
        assert!(
            live <= POSITIONS_MAX,
            "index past {POSITIONS_MAX} positions"
        );
        let buckets = if live <= room / 2 {
            self.tags.len()
        } else {
            Self::buckets_for(live.max(room + 1))
        };
        self.rebuild(buckets);
    }

    /// Buckets of a table built to hold `positions`.
    fn buckets_for(positions: usize) -> usize {
        positions
            .saturating_mul(8)
            .div_ceil(7)
            .max(Self::BUCKETS_MIN)
            .next_power_of_two()
    }

    /// Sets the table aside to drain into a fresh one of `buckets` buckets
    /// (no deletion marks). Nothing may be draining.
    fn rebuild(&mut self, buckets: usize) {
        assert!(self.draining.is_none(), "rebuild while draining");
        #[cfg(test)]
        {
            self.rebuilds += 1;
        }
        let tags = std::mem::replace(&mut self.tags, vec![EMPTY; buckets]);
        let positions = std::mem::replace(&mut self.positions, vec![0; buckets]);
        self.used = 0;
        if self.live > 0 {
            self.draining = Some(Box::new(Draining {
                tags,
                positions,
                next: 0,
                live: self.live,
            }));
        }
    }

    /// Moves the positions of up to `buckets` more buckets of the draining
    /// table into the fresh one (`rehash` gives their hashes), and drops it
    /// once it is empty.
    fn drain(&mut self, buckets: usize, rehash: &impl Fn(u32) -> u64) {
        let Some(mut draining) = self.draining.take() else {
            return;
        };
        let end = draining
            .next
            .saturating_add(buckets)
            .min(draining.tags.len());
        #[cfg(test)]
        {
            if buckets != usize::MAX {
                let moved = end - draining.next;
                self.most_drained_at_once = self.most_drained_at_once.max(moved);
            }
        }
        // In batches, in three passes: hash every item of the batch (the
        // reads of independent items overlap, where hashing and placing one
        // at a time made each placement's probe wait for its item), warm
        // each one's home in the fresh table, then place them.
        let mut batch = [(0u32, 0 as Tag, 0u64); DRAIN_BATCH];
        let mut at = draining.next;
        while at < end {
            let mut filled = 0;
            while at < end && filled < DRAIN_BATCH {
                let tag = draining.tags[at];
                if tag > DELETED {
                    batch[filled].0 = draining.positions[at];
                    batch[filled].1 = tag;
                    // Marked, not emptied: later probes in the draining
                    // table pass through it, and must not find the
                    // position there again.
                    draining.tags[at] = DELETED;
                    draining.live -= 1;
                    filled += 1;
                }
                at += 1;
            }
            for item in &mut batch[..filled] {
                item.2 = rehash(item.0);
            }
            for &(_, _, hash) in &batch[..filled] {
                let home = self.home(hash);
                prefetch_read(self.tags.as_ptr().wrapping_add(home));
                prefetch_read(self.positions.as_ptr().wrapping_add(home));
            }
            for &(position, tag, hash) in &batch[..filled] {
                debug_assert_eq!(Self::tag(hash), tag, "rehash disagrees with insert");
                self.put(tag, hash, position);
            }
        }
        draining.next = end;
        if draining.live > 0 && draining.next < draining.tags.len() {
            self.draining = Some(draining);
        } else {
            assert_eq!(
                draining.live, 0,
                "draining table emptied with live positions"
            );
        }
    }

    /// Warms the cache for a lookup of `hash`: starts loading the tag and
    /// position the probe reads first, reading nothing (their address
    /// follows from the hash). Changes nothing.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.tags.is_empty() {
            let home = self.home(hash);
            prefetch_read(self.tags.as_ptr().wrapping_add(home));
            prefetch_read(self.positions.as_ptr().wrapping_add(home));
        }
        if let Some(draining) = self.draining.as_deref() {
            let home = hash as usize & (draining.tags.len() - 1);
            prefetch_read(draining.tags.as_ptr().wrapping_add(home));
            prefetch_read(draining.positions.as_ptr().wrapping_add(home));
        }
    }

    /// Panics unless counts and marks agree, the load is at most 7/8 and
    /// every full bucket is reachable from its home (`rehash` gives a
    /// position's hash). For tests.
    #[cfg(test)]
    pub fn check_invariants(&self, rehash: impl Fn(u32) -> u64) {
        let full = self.tags.iter().filter(|&&tag| tag > DELETED).count();
        let used = self.tags.iter().filter(|&&tag| tag != EMPTY).count();
        let draining_live = self.draining.as_deref().map_or(0, |draining| {
            let full = draining.tags.iter().filter(|&&tag| tag > DELETED).count();
            assert_eq!(full, draining.live, "draining full bucket count");
            assert!(draining.live > 0, "an empty table left draining");
            assert!(
                draining.tags[..draining.next]
                    .iter()
                    .all(|&tag| tag <= DELETED),
                "a drained bucket still full"
            );
            Self::check_probes(&draining.tags, &draining.positions, &rehash);
            draining.live
        });
        assert_eq!(full + draining_live, self.live, "full bucket count");
        assert_eq!(used, self.used, "used bucket count");
        assert!(
            (self.used + draining_live) * 8 <= self.tags.len() * 7,
            "load above 7/8"
        );
        Self::check_probes(&self.tags, &self.positions, &rehash);
    }

    /// Panics unless every full bucket's tag is its position's and the
    /// bucket is reachable from its home.
    #[cfg(test)]
    fn check_probes(tags: &[Tag], positions: &[u32], rehash: &impl Fn(u32) -> u64) {
        let mask = tags.len().wrapping_sub(1);
        for (at, &tag) in tags.iter().enumerate() {
            if tag <= DELETED {
                continue;
            }
            let hash = rehash(positions[at]);
            assert_eq!(Self::tag(hash), tag, "tag of bucket {at}");
            let mut probe = hash as usize & mask;
            while probe != at {
                assert!(tags[probe] != EMPTY, "bucket {at} cut off from its home");
                probe = (probe + 1) & mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    use proptest::prelude::*;

    use super::*;

    /// Items are strings; positions index `items`. `hasher` may cluster.
    struct Model<S> {
        index: TagIndex,
        items: Vec<Option<String>>,
        hasher: S,
    }

    impl<S: Fn(&str) -> u64> Model<S> {
        fn new(hasher: S) -> Self {
            Model {
                index: TagIndex::default(),
                items: Vec::new(),
                hasher,
            }
        }

        fn rehash(&self) -> impl Fn(u32) -> u64 + '_ {
            |position| {
                let item = self.items[position as usize].as_deref();
                (self.hasher)(item.expect("live position"))
            }
        }

        fn find(&self, item: &str) -> Option<u32> {
            let items = &self.items;
            self.index.find((self.hasher)(item), |position| {
                items[position as usize].as_deref() == Some(item)
            })
        }

        fn insert(&mut self, item: &str) -> u32 {
            assert!(self.find(item).is_none());
            let position = self.items.len() as u32;
            self.items.push(Some(item.to_string()));
            let hash = (self.hasher)(item);
            let (items, hasher) = (&self.items, &self.hasher);
            self.index.insert_unique(hash, position, |other| {
                hasher(items[other as usize].as_deref().expect("live position"))
            });
            position
        }

        fn remove(&mut self, item: &str) -> Option<u32> {
            let items = &self.items;
            let removed = self.index.remove((self.hasher)(item), |position| {
                items[position as usize].as_deref() == Some(item)
            })?;
            self.items[removed as usize] = None;
            Some(removed)
        }

        fn check(&self) {
            self.index.check_invariants(self.rehash());
        }
    }

    /// Proptest cases per property (`USHER_PROPTEST_CASES` raises it).
    fn cases() -> u32 {
        std::env::var("USHER_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64)
    }

    fn spread(item: &str) -> u64 {
        foldhash::fast::FixedState::with_seed(7).hash_one(item)
    }

    /// Few homes and few tags: long runs, wrap-around and equal tags.
    fn clustered(item: &str) -> u64 {
        let h = spread(item);
        (h & 0x3) | ((h >> 62) << 62) | (0x8 << 56) | 0xfff0
    }

    /// Top 16 bits 0 to 3 only: the tag must not take a mark's value (0
    /// is empty, 1 deleted), or such items are lost.
    fn low_tags(item: &str) -> u64 {
        let h = spread(item);
        (h & !(0xffff << 48)) | ((h % 4) << 48)
    }

    fn run_ops(ops: &[(bool, u8)], hasher: fn(&str) -> u64) {
        let mut model = Model::new(hasher);
        let mut reference: HashMap<String, u32> = HashMap::new();
        for &(insert, n) in ops {
            let item = format!("item:{n}");
            if insert {
                if let std::collections::hash_map::Entry::Vacant(vacant) = reference.entry(item) {
                    let position = model.insert(vacant.key());
                    vacant.insert(position);
                }
            } else {
                assert_eq!(model.remove(&item), reference.remove(&item), "{item}");
            }
            model.check();
        }
        assert_eq!(model.index.len(), reference.len());
        for n in 0..=u8::MAX {
            let item = format!("item:{n}");
            assert_eq!(model.find(&item), reference.get(&item).copied(), "{item}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((any::<bool>(), any::<u8>()), 0..600)) {
            run_ops(&ops, spread);
        }

        #[test]
        fn behaves_like_a_map_when_hashes_cluster(ops in prop::collection::vec((any::<bool>(), any::<u8>()), 0..600)) {
            run_ops(&ops, clustered);
        }

        #[test]
        fn behaves_like_a_map_when_hash_tops_equal_the_marks(ops in prop::collection::vec((any::<bool>(), any::<u8>()), 0..600)) {
            run_ops(&ops, low_tags);
        }
    }

    #[test]
    fn churn_is_bounded_by_rebuilding_at_the_same_size() {
        // Holds come and go all through a sale: the table must not grow
        // with the number of holders ever seen, only with those alive.
        let mut model = Model::new(spread);
        for n in 0..100_000 {
            let item = format!("holder:{n}");
            model.insert(&item);
            if n >= 100 {
                let old = format!("holder:{}", n - 100);
                assert!(model.remove(&old).is_some());
            }
        }
        model.check();
        assert_eq!(model.index.len(), 100);
        assert!(
            model.index.tags.len() <= 256,
            "{} buckets",
            model.index.tags.len()
        );
    }

    #[test]
    fn churn_at_the_load_limit_rebuilds_rarely() {
        // Fill a table to one below its limit, then replace one entry at a
        // time: each replacement may add a deletion mark, but rebuilds must
        // not come every few operations.
        let mut model = Model::new(spread);
        for n in 0..895 {
            model.insert(&format!("m:{n}"));
        }
        assert_eq!(model.index.tags.len(), 1024);
        let before = model.index.rebuilds;
        for n in 0..10_000 {
            assert!(model.remove(&format!("m:{n}")).is_some());
            model.insert(&format!("m:{}", n + 895));
        }
        model.check();
        assert!(
            model.index.rebuilds - before <= 10,
            "{} rebuilds for 10000 replacements",
            model.index.rebuilds - before
        );
    }

    #[test]
    fn six_bytes_per_bucket_at_most_seven_eighths_full() {
        let mut model = Model::new(spread);
        for n in 0..7 * 1024 {
            model.insert(&format!("m:{n}"));
        }
        assert_eq!(model.index.tags.len(), 8192);
        let bytes = 2 * model.index.tags.capacity() + 4 * model.index.positions.capacity();
        assert_eq!(bytes, 6 * 8192);
        assert_eq!(TagIndex::with_capacity(7 * 1024).tags.len(), 8192);
    }

    #[test]
    fn growth_moves_a_few_buckets_per_insert_and_answers_meanwhile() {
        // Rebuilding all at once would stall the engine for as long as hashing
        // every member again takes (573 ms at 3.7 million queue members).
        let mut model = Model::new(spread);
        let mut drained_while_checked = 0;
        for n in 0..50_000u32 {
            model.insert(&format!("m:{n}"));
            if n % 3 == 0 {
                assert!(model.remove(&format!("m:{}", n / 2)).is_some());
            }
            if model.index.draining.is_some() && n % 97 == 0 {
                drained_while_checked += 1;
                model.check();
                for probe in (0..=n).step_by(211) {
                    let item = format!("m:{probe}");
                    let expected = model.items[probe as usize].is_some().then_some(probe);
                    assert_eq!(model.find(&item), expected, "{item} while draining");
                }
            }
        }
        model.check();
        assert!(
            model.index.rebuilds >= 10,
            "{} rebuilds",
            model.index.rebuilds
        );
        assert!(drained_while_checked > 0, "never checked while draining");
        assert!(
            model.index.most_drained_at_once <= DRAIN_BUCKETS_PER_INSERT,
            "{} buckets moved by one insert",
            model.index.most_drained_at_once
        );
        assert_eq!(model.index.drains_cut_short, 0, "a drain finished at once");
    }

    #[test]
    fn reserving_leaves_nothing_draining() {
        let mut model = Model::new(spread);
        for n in 0..1000 {
            model.insert(&format!("m:{n}"));
        }
        let (items, hasher) = (&model.items, &model.hasher);
        model.index.reserve(100_000, |other| {
            hasher(items[other as usize].as_deref().expect("live position"))
        });
        assert!(model.index.draining.is_none());
        model.check();
        assert_eq!(model.find("m:999"), Some(999));
    }

    #[test]
    fn warming_changes_nothing_and_tolerates_any_hash() {
        let mut model = Model::new(spread);
        let empty = TagIndex::default();
        empty.prefetch(12345);
        for n in 0..1000 {
            model.insert(&format!("m:{n}"));
        }
        for hash in [0, 1, u64::MAX, spread("m:5"), spread("absent")] {
            model.index.prefetch(hash);
        }
        model.check();
        assert_eq!(model.find("m:5"), Some(5));
    }
}
