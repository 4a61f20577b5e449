//! The keyspace's map: keys and their values in one dense vector, found
//! through an open-addressing table of positions into it.
//!
//! The layout is the one `indexmap` has (dense entries, removal swaps the
//! last entry into the hole, so SCAN and the snapshot walk positions), with
//! two differences that matter on the request path:
//!
//! - **Prefetching.** [`KeyMap::prefetch_slot`] and
//!   [`KeyMap::prefetch_entry`] start loading a key's table bucket, then its
//!   entry, without waiting for either, so the engine can warm every key of
//!   a pipeline before applying the first request: the cache misses of 16
//!   lookups then overlap instead of following one another. A lookup in a
//!   map larger than the caches is otherwise two or three misses in a row
//!   (measured: 30 % of the server's time on `GET -P 16` over 10⁵ keys went
//!   to them). The first step is pure address arithmetic: the bucket a key
//!   starts probing at follows from its hash alone, which is why the table
//!   is our own ([`Positions`]) and not `hashbrown`'s, whose first read (its
//!   control bytes) cannot be prefetched and so stalled the first step.
//! - **Smaller.** Positions are `u32` and the hash is not stored with each
//!   entry: a bucket is 8 bytes, half of it a tag from the hash. The table
//!   never rehashes a key: the tag alone gives a bucket's home.

use std::hash::BuildHasher;

use super::key::Key;

/// Most entries a map holds: positions are `u32`, and at most 3/4 of the
/// table's buckets (at most 2³² of them) are used.
pub const ENTRIES_MAX: usize = 3 << 30;

#[derive(Debug, Clone)]
pub struct KeyMap<V, S> {
    entries: Vec<(Key, V)>,
    /// Positions in `entries`, hashed by their entry's key.
    table: Positions,
    hasher: S,
}

impl<V, S: BuildHasher> KeyMap<V, S> {
    pub fn with_hasher(hasher: S) -> KeyMap<V, S> {
        KeyMap {
            entries: Vec::new(),
            table: Positions::default(),
            hasher,
        }
    }

    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Position of `key`.
    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.index_hashed(self.hash(key), key)
    }

    #[inline]
    fn index_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.table
            .find(hash, |index| entries[index].0.as_bytes() == key)
            .map(|bucket| self.table.position(bucket))
    }

    /// Position, key and value of `key`.
    #[inline]
    pub fn get_full(&self, key: &[u8]) -> Option<(usize, &Key, &V)> {
        let index = self.get_index_of(key)?;
        let (key, value) = &self.entries[index];
        Some((index, key, value))
    }

    /// Position, key and value of `key`, the value mutable.
    #[inline]
    pub fn get_full_mut(&mut self, key: &[u8]) -> Option<(usize, &Key, &mut V)> {
        let index = self.get_index_of(key)?;
        let (key, value) = &mut self.entries[index];
        Some((index, key, value))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_full_mut(key).map(|(_, _, value)| value)
    }

    /// Key and value at a position; `None` past the end.
    #[inline]
    pub fn get_index(&self, index: usize) -> Option<(&Key, &V)> {
        self.entries.get(index).map(|(key, value)| (key, value))
    }

    #[inline]
    pub fn get_index_mut(&mut self, index: usize) -> Option<(&Key, &mut V)> {
        self.entries
            .get_mut(index)
            .map(|(key, value)| (&*key, value))
    }

    /// Appends `key`, which the caller has just looked up and not found:
    /// no second probe for it. Returns its position.
    pub fn insert_new(&mut self, key: Key, value: V) -> usize {
        let hash = self.hash(&key);
        debug_assert!(
            self.index_hashed(hash, &key).is_none(),
            "key already present"
        );
        self.push_hashed(hash, key, value)
    }

    /// Inserts `key` or replaces its value, its hash already known (by
    /// [`KeyMap::hasher`]; loaders hash on other threads). Returns its
    /// position.
    pub fn insert_hashed(&mut self, hash: u64, key: Key, value: V) -> usize {
        debug_assert_eq!(hash, self.hash(&key));
        if let Some(index) = self.index_hashed(hash, &key) {
            self.entries[index].1 = value;
            return index;
        }
        self.push_hashed(hash, key, value)
    }

    /// Appends an absent `key` whose hash is `hash`.
    fn push_hashed(&mut self, hash: u64, key: Key, value: V) -> usize {
        let index = self.entries.len();
        assert!(index < ENTRIES_MAX, "key map full");
        self.table.insert(hash, index);
        self.entries.push((key, value));
        index
    }

    /// Removes the entry at `index`; the last entry takes its place.
    pub fn swap_remove_index(&mut self, index: usize) -> Option<(Key, V)> {
        let last = self.entries.len().checked_sub(1)?;
        if index > last {
            return None;
        }
        let hash = self.hash(&self.entries[index].0);
        let bucket = self.table.find(hash, |at| at == index);
        let Some(bucket) = bucket else {
            panic!("key map table has no bucket for entry {index}")
        };
        self.table.remove(bucket);
        if index != last {
            let hash = self.hash(&self.entries[last].0);
            let bucket = self.table.find(hash, |at| at == last);
            let Some(bucket) = bucket else {
                panic!("key map table has no bucket for entry {last}")
            };
            self.table.set_position(bucket, index);
        }
        Some(self.entries.swap_remove(index))
    }

    /// First of two prefetch steps for a lookup of `key`: starts loading the
    /// table bucket its probe starts at, reading nothing (the address
    /// follows from the hash). Call it for every key of a group, then
    /// [`KeyMap::prefetch_entry`] for each, then look them up: the misses of
    /// each step then overlap across the group. Changes nothing; any key may
    /// be passed.
    #[inline]
    pub fn prefetch_slot(&self, key: &[u8]) {
        self.table.prefetch(self.hash(key));
    }

    /// Second prefetch step: reads the probe (warmed by
    /// [`KeyMap::prefetch_slot`]) and starts loading the entries whose tag
    /// matches, without waiting for them.
    #[inline]
    pub fn prefetch_entry(&self, key: &[u8]) {
        let entries = self.entries.as_ptr();
        let _ = self.table.find(self.hash(key), |index| {
            prefetch_read(entries.wrapping_add(index));
            false
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut V)> {
        self.entries.iter_mut().map(|(key, value)| (&*key, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Makes room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        // The table first: it refuses a count past ENTRIES_MAX by name.
        self.table.reserve(additional);
        self.entries.reserve(additional);
    }

    /// Empties the map, keeping its memory (as `Vec::clear` does).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.table.clear();
    }

    /// Panics unless every entry has exactly one bucket, at its position,
    /// and the table's own invariants hold (O(entries) lookups: for tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        self.table.check_invariants();
        assert_eq!(
            self.table.entries(),
            self.entries.len(),
            "key map bucket count"
        );
        for (index, (key, _)) in self.entries.iter().enumerate() {
            assert_eq!(
                self.get_index_of(key),
                Some(index),
                "key map bucket of {key:?}"
            );
        }
    }
}

/// How many buckets the table of an empty map has after
/// `reserve(entries)`, and so, with [`home_bucket`], where in it a hash
/// lands: loaders sort keys by that region so that inserting them touches
/// one small part of the table at a time.
pub fn buckets_for(entries: usize) -> usize {
    Positions::buckets_for(entries)
}

/// The bucket a key with `hash` starts probing at in a table of `buckets`
/// buckets (a power of two).
pub fn home_bucket(hash: u64, buckets: usize) -> usize {
    Positions::tag(hash) as usize & (buckets - 1)
}

/// An open-addressing hash table of positions: linear probing, at most 3/4
/// of the buckets used, and no tombstones (a removal shifts the rest of
/// its probe run back), so a probe always ends at an empty bucket.
///
/// A bucket is 0 when empty, else `tag << 32 | (position + 1)`, where `tag`
/// is the top half of the key's hash and its low bits are the bucket the
/// key's probe starts at (its home). So growing and shifting never need the
/// key, and a probe compares tags before it touches an entry: two keys
/// whose tags are equal share their home and all 32 hash bits, which is
/// rare.
///
/// **Growth is spread over the inserts that follow it**: the full table is
/// set aside as a [`Draining`] one that lookups try second and inserts
/// never touch, and each insert first moves its next
/// [`DRAIN_BUCKETS_PER_INSERT`] buckets into the new table. Growing 6.3
/// million keys' table at once stopped the engine for 187–207 ms.
#[derive(Debug, Clone, Default)]
struct Positions {
    /// Empty, or a power of two long (at most 2³²).
    buckets: Vec<u64>,
    /// Used buckets.
    len: usize,
    /// The table before the last growth, until it is drained (boxed: it
    /// is there for a few growths' worth of inserts only).
    draining: Option<Box<Draining>>,
    /// Most buckets one insert has moved (tests check the bound).
    #[cfg(test)]
    most_drained_at_once: usize,
    /// Inserts that had to finish a drain at once (tests check there are
    /// none).
    #[cfg(test)]
    drains_cut_short: usize,
}

/// Buckets of a draining table that each insert moves into the new one.
/// The new table has room for twice the drained table's entries, so any
/// step of two or more empties it in time. A bigger step shortens the time
/// during which lookups of absent keys probe both tables, and costs more
/// per insert: 16, as in `tagindex.rs` (see there), is two cache lines read
/// in order and at most 12 entries placed; no key is hashed again.
const DRAIN_BUCKETS_PER_INSERT: usize = 16;

/// Entries a drain warms before it places any of them.
const DRAIN_BATCH: usize = 16;

/// A table set aside by growth. It takes no inserts. A bucket moved out or
/// removed becomes [`GONE`] instead of shifting its run back, so the
/// drain's cursor never has an entry move behind it, and probes pass it.
#[derive(Debug, Clone)]
struct Draining {
    buckets: Vec<u64>,
    /// Buckets before this one hold nothing live.
    next: usize,
    /// Live buckets.
    len: usize,
}

/// A draining bucket whose entry has left: not empty (probes go on past
/// it) and never a live bucket, whose low half is at least 1.
const GONE: u64 = 1 << 32;

/// A bucket found by a lookup: in the table, or in the one draining into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    at: usize,
    draining: bool,
}

/// The bucket of `buckets` whose tag matches `hash` and whose position `eq`
/// accepts, probing from the hash's home to the first empty bucket, past
/// [`GONE`] ones (only a draining table has them).
#[inline]
fn find_in(buckets: &[u64], hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
    if buckets.is_empty() {
        return None;
    }
    let tag = Positions::tag(hash);
    let mask = buckets.len() - 1;
    let mut at = tag as usize & mask;
    loop {
        let bucket = buckets[at];
        if bucket == 0 {
            return None;
        }
        // The low half is checked only on a tag match: `GONE` has tag 1.
        if (bucket >> 32) as u32 == tag && bucket as u32 != 0 && eq(position_of(bucket)) {
            return Some(at);
        }
        at = (at + 1) & mask;
    }
}

impl Positions {
    /// Fewest buckets of a table that has any.
    const BUCKETS_MIN: usize = 8;

    #[inline]
    fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// Entries held, here and draining.
    fn entries(&self) -> usize {
        self.len + self.draining.as_deref().map_or(0, |draining| draining.len)
    }

    /// The bucket whose tag matches `hash` and whose position `eq` accepts,
    /// probing from the hash's home to the first empty bucket: in the
    /// table, then in the draining one.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<Slot> {
        if let Some(at) = find_in(&self.buckets, hash, &mut eq) {
            return Some(Slot {
                at,
                draining: false,
            });
        }
        let at = find_in(&self.draining.as_deref()?.buckets, hash, eq)?;
        Some(Slot { at, draining: true })
    }

    #[inline]
    fn bucket(&mut self, slot: Slot) -> &mut u64 {
        match (slot.draining, self.draining.as_deref_mut()) {
            (false, _) => &mut self.buckets[slot.at],
            (true, Some(draining)) => &mut draining.buckets[slot.at],
            (true, None) => panic!("a draining slot with no draining table"),
        }
    }

    #[inline]
    fn position(&self, slot: Slot) -> usize {
        let bucket = match (slot.draining, self.draining.as_deref()) {
            (false, _) => self.buckets[slot.at],
            (true, Some(draining)) => draining.buckets[slot.at],
            (true, None) => panic!("a draining slot with no draining table"),
        };
        position_of(bucket)
    }

    fn set_position(&mut self, slot: Slot, position: usize) {
        let bucket = self.bucket(slot);
        assert!(*bucket as u32 != 0, "set_position on an empty bucket");
        *bucket = bucket_of((*bucket >> 32) as u32, position);
    }

    /// Starts loading the cache line of `hash`'s home bucket (in both
    /// tables while one drains).
    #[inline]
    fn prefetch(&self, hash: u64) {
        let tag = Self::tag(hash) as usize;
        if !self.buckets.is_empty() {
            prefetch_read(self.buckets.as_ptr().wrapping_add(tag & self.mask()));
        }
        if let Some(draining) = self.draining.as_deref() {
            let home = tag & (draining.buckets.len() - 1);
            prefetch_read(draining.buckets.as_ptr().wrapping_add(home));
        }
    }

    /// Adds `position` under `hash` (the caller knows its key is absent).
    fn insert(&mut self, hash: u64, position: usize) {
        self.make_room(1);
        self.drain(DRAIN_BUCKETS_PER_INSERT);
        self.place(bucket_of(Self::tag(hash), position));
        self.len += 1;
    }

    /// Puts `bucket` in the first empty bucket from its home.
    fn place(&mut self, bucket: u64) {
        let mask = self.mask();
        let mut at = (bucket >> 32) as usize & mask;
        while self.buckets[at] != 0 {
            at = (at + 1) & mask;
        }
        self.buckets[at] = bucket;
    }

    /// Removes the entry of `slot`.
    fn remove(&mut self, slot: Slot) {
        if !slot.draining {
            return self.remove_here(slot.at);
        }
        let Some(draining) = self.draining.as_deref_mut() else {
            panic!("a draining slot with no draining table");
        };
        assert!(
            draining.buckets[slot.at] as u32 != 0,
            "removing an empty bucket"
        );
        draining.buckets[slot.at] = GONE;
        draining.len -= 1;
        if draining.len == 0 {
            self.draining = None;
        }
    }

    /// Empties bucket `at` and shifts back the entries after it in its run
    /// that may move (those whose home is not between the hole and them).
    fn remove_here(&mut self, at: usize) {
        assert!(self.buckets[at] != 0, "removing an empty bucket");
        let mask = self.mask();
        let mut hole = at;
        let mut next = at;
        loop {
            next = (next + 1) & mask;
            let bucket = self.buckets[next];
            if bucket == 0 {
                break;
            }
            let home = (bucket >> 32) as usize & mask;
            // The entry may fill the hole if the hole lies on its probe
            // path, from its home up to where it sits.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.buckets[hole] = bucket;
                hole = next;
            }
        }
        self.buckets[hole] = 0;
        self.len -= 1;
    }

    /// Grows the table at once, if need be, so `additional` more entries
    /// keep at most 3/4 of the buckets used (loaders, before a bulk
    /// insert): nothing is left draining.
    fn reserve(&mut self, additional: usize) {
        self.make_room(additional);
        self.drain(usize::MAX);
    }

    /// Makes room for `additional` more entries: when they and those still
    /// draining would not fit in 3/4 of the buckets, finishes any drain
    /// (growth comes long after a drain ends, so this is for loaders) and
    /// sets the table aside to drain into one big enough.
    fn make_room(&mut self, additional: usize) {
        let needed = self.entries().saturating_add(additional);
        if needed.saturating_mul(4) <= self.buckets.len().saturating_mul(3) {
            return;
        }
        assert!(needed <= ENTRIES_MAX, "key map past {ENTRIES_MAX} entries");
        let wanted = Self::buckets_for(needed);
        assert!(wanted <= 1 << 32, "key map table past 2^32 buckets");
        #[cfg(test)]
        {
            if additional == 1 && self.draining.is_some() {
                self.drains_cut_short += 1;
            }
        }
        self.drain(usize::MAX);
        let old = std::mem::replace(&mut self.buckets, vec![0; wanted]);
        if self.len > 0 {
            self.draining = Some(Box::new(Draining {
                buckets: old,
                next: 0,
                len: self.len,
            }));
        }
        self.len = 0;
    }

    /// Moves the entries of up to `buckets` more draining buckets into the
    /// table, and drops the draining table once it holds none.
    fn drain(&mut self, buckets: usize) {
        let Some(mut draining) = self.draining.take() else {
            return;
        };
        let end = draining
            .next
            .saturating_add(buckets)
            .min(draining.buckets.len());
        #[cfg(test)]
        {
            if buckets != usize::MAX {
                let moved = end - draining.next;
                self.most_drained_at_once = self.most_drained_at_once.max(moved);
            }
        }
        // In batches: warm every entry's home in the new table, then place
        // them, so their cache misses overlap instead of each placement's
        // probe waiting for its own.
        let mut batch = [0u64; DRAIN_BATCH];
        let mask = self.mask();
        let mut at = draining.next;
        while at < end {
            let mut filled = 0;
            while at < end && filled < DRAIN_BATCH {
                let bucket = draining.buckets[at];
                if bucket as u32 != 0 {
                    batch[filled] = bucket;
                    draining.buckets[at] = GONE;
                    draining.len -= 1;
                    filled += 1;
                }
                at += 1;
            }
            for &bucket in &batch[..filled] {
                let home = (bucket >> 32) as usize & mask;
                prefetch_read(self.buckets.as_ptr().wrapping_add(home));
            }
            for &bucket in &batch[..filled] {
                self.place(bucket);
            }
            self.len += filled;
        }
        draining.next = end;
        if draining.len > 0 {
            assert!(end < draining.buckets.len(), "drained past live entries");
            self.draining = Some(draining);
        }
    }

    /// Buckets of a table grown to hold `entries`.
    fn buckets_for(entries: usize) -> usize {
        entries
            .saturating_mul(4)
            .div_ceil(3)
            .max(Self::BUCKETS_MIN)
            .next_power_of_two()
    }

    fn clear(&mut self) {
        self.buckets.fill(0);
        self.len = 0;
        self.draining = None;
    }

    /// Every used bucket is reachable from its home without crossing an
    /// empty one, the counts are right and the load is at most 3/4; while
    /// a table drains, the same holds for it and nothing live sits before
    /// its cursor.
    #[cfg(test)]
    fn check_invariants(&self) {
        let used = self.buckets.iter().filter(|&&bucket| bucket != 0).count();
        assert_eq!(used, self.len, "used bucket count");
        assert!(
            self.entries() * 4 <= self.buckets.len() * 3,
            "load above 3/4"
        );
        Self::check_probes(&self.buckets);
        if let Some(draining) = self.draining.as_deref() {
            let live = draining
                .buckets
                .iter()
                .filter(|&&bucket| bucket as u32 != 0);
            assert_eq!(live.count(), draining.len, "draining live count");
            assert!(draining.len > 0, "an empty table left draining");
            assert!(
                draining.buckets[..draining.next]
                    .iter()
                    .all(|&bucket| bucket as u32 == 0),
                "a live bucket behind the drain"
            );
            Self::check_probes(&draining.buckets);
        }
    }

    #[cfg(test)]
    fn check_probes(buckets: &[u64]) {
        let mask = buckets.len().wrapping_sub(1);
        for (at, &bucket) in buckets.iter().enumerate() {
            if bucket as u32 == 0 {
                continue;
            }
            let mut probe = (bucket >> 32) as usize & mask;
            while probe != at {
                assert!(buckets[probe] != 0, "bucket {at} cut off from its home");
                probe = (probe + 1) & mask;
            }
        }
    }
}

#[inline]
fn bucket_of(tag: u32, position: usize) -> u64 {
    u64::from(tag) << 32 | (position as u64 + 1)
}

#[inline]
fn position_of(bucket: u64) -> usize {
    (bucket as u32 - 1) as usize
}

/// Asks the CPU to load both cache lines of `*item` (no more than two: an
/// entry is under 128 bytes). A prefetch is a hint: it cannot fault or
/// change memory, whatever the address.
#[inline(always)]
pub(super) fn prefetch_read<T>(item: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let first = item.cast::<i8>();
        let last = first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1));
        // SAFETY: `_mm_prefetch` only hints the cache; it never dereferences
        // the pointer in a way that can fault, so any address is sound.
        unsafe {
            _mm_prefetch(first, _MM_HINT_T0);
            _mm_prefetch(last, _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    type Map = KeyMap<u64, foldhash::fast::FixedState>;

    fn map() -> Map {
        KeyMap::with_hasher(foldhash::fast::FixedState::with_seed(3))
    }

    fn key(n: u64) -> Key {
        Key::copy_from_slice(format!("key:{n}").as_bytes())
    }

    /// Inserts or replaces, as the snapshot loader does.
    fn insert(map: &mut Map, key: Key, value: u64) -> usize {
        let hash = map.hasher().hash_one(key.as_bytes());
        map.insert_hashed(hash, key, value)
    }

    #[test]
    fn insert_replace_and_find() {
        let mut map = map();
        assert_eq!(insert(&mut map, key(1), 10), 0);
        assert_eq!(insert(&mut map, key(2), 20), 1);
        assert_eq!(
            insert(&mut map, key(1), 11),
            0,
            "replacing keeps the position"
        );
        assert_eq!(map.len(), 2);
        assert_eq!(map.get_full(b"key:1"), Some((0, &key(1), &11)));
        assert_eq!(map.get_index(1), Some((&key(2), &20)));
        assert_eq!(map.get_index_of(b"key:3"), None);
        for key in [&b"key:3"[..], b"key:1"] {
            map.prefetch_slot(key);
            map.prefetch_entry(key);
        }
        map.check_invariants();
    }

    #[test]
    fn loaders_can_tell_where_a_hash_lands() {
        for entries in [1, 6, 7, 1_000, 100_000] {
            let mut map = map();
            map.reserve(entries);
            let buckets = buckets_for(entries);
            assert_eq!(map.table.buckets.len(), buckets, "{entries} entries");
            let hash = map.hasher().hash_one(b"key:1");
            map.insert_hashed(hash, key(1), 1);
            // Alone in the table, the key sits in its home bucket.
            let slot = map.table.find(hash, |index| index == 0);
            let home = Slot {
                at: home_bucket(hash, buckets),
                draining: false,
            };
            assert_eq!(slot, Some(home), "{entries} entries");
        }
    }

    #[test]
    fn insert_new_appends_without_a_second_probe() {
        let mut map = map();
        assert_eq!(map.insert_new(key(1), 10), 0);
        assert_eq!(map.insert_new(key(2), 20), 1);
        assert_eq!(map.get_full(b"key:2"), Some((1, &key(2), &20)));
        map.check_invariants();
    }

    #[test]
    fn swap_remove_moves_the_last_entry_into_the_hole() {
        let mut map = map();
        for n in 0..5 {
            insert(&mut map, key(n), n);
        }
        assert_eq!(map.swap_remove_index(1), Some((key(1), 1)));
        assert_eq!(map.get_index(1), Some((&key(4), &4)));
        assert_eq!(map.get_index_of(b"key:4"), Some(1));
        assert_eq!(map.get_index_of(b"key:1"), None);
        assert_eq!(map.swap_remove_index(3), Some((key(3), 3)), "the last one");
        assert_eq!(map.swap_remove_index(3), None, "past the end");
        map.check_invariants();
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn long_keys_and_growth() {
        let mut map = map();
        let long = |n: u64| Key::copy_from_slice(format!("{n}:{}", "x".repeat(40)).as_bytes());
        for n in 0..10_000 {
            insert(&mut map, long(n), n);
        }
        map.reserve(50_000);
        for n in (0..10_000).step_by(3) {
            let index = map.get_index_of(&long(n)).expect("present");
            map.swap_remove_index(index);
        }
        map.check_invariants();
        for n in 0..10_000 {
            assert_eq!(map.get_full(&long(n)).is_some(), n % 3 != 0, "key {n}");
        }
        map.clear();
        assert!(map.is_empty());
        map.check_invariants();
    }

    #[test]
    fn growth_moves_a_few_buckets_per_insert_and_answers_meanwhile() {
        // Growing 6.3 million keys' table at once stopped the engine for
        // 187–207 ms; each insert now moves a few buckets.
        let mut map = map();
        let mut checked_while_draining = 0;
        let mut growths = 0;
        let mut buckets = 0;
        for n in 0..60_000u64 {
            map.insert_new(key(n), n);
            if n % 4 == 0 {
                let index = map.get_index_of(key(n / 2).as_bytes()).expect("present");
                assert_eq!(map.swap_remove_index(index).map(|(_, v)| v), Some(n / 2));
            }
            if map.table.buckets.len() != buckets {
                buckets = map.table.buckets.len();
                growths += 1;
            }
            if map.table.draining.is_some() && n % 37 == 0 {
                checked_while_draining += 1;
                map.check_invariants();
                for probe in (0..=n).step_by(101) {
                    let removed = probe % 2 == 0 && 2 * probe <= n;
                    let found = map.get_full(key(probe).as_bytes()).map(|(_, _, v)| *v);
                    assert_eq!(found, (!removed).then_some(probe), "key {probe}");
                }
            }
        }
        map.check_invariants();
        assert!(growths >= 10, "{growths} growths");
        assert!(checked_while_draining > 0, "never checked while draining");
        assert!(
            map.table.most_drained_at_once <= DRAIN_BUCKETS_PER_INSERT,
            "{} buckets moved by one insert",
            map.table.most_drained_at_once
        );
        assert_eq!(map.table.drains_cut_short, 0, "a drain finished at once");
    }

    #[test]
    fn reserving_leaves_nothing_draining() {
        let mut map = map();
        for n in 0..1000 {
            map.insert_new(key(n), n);
        }
        map.reserve(100_000);
        assert!(map.table.draining.is_none());
        map.check_invariants();
        assert_eq!(map.get_full(b"key:999").map(|(_, _, v)| *v), Some(999));
    }

    /// Hashes whose tags take 16 values, half of them homed in the last
    /// buckets: long runs that wrap around the end of the table, and equal
    /// tags for different keys.
    #[derive(Clone, Default)]
    struct Clustered;

    impl BuildHasher for Clustered {
        type Hasher = Clustering;
        fn build_hasher(&self) -> Clustering {
            Clustering(foldhash::fast::FixedState::with_seed(5).build_hasher())
        }
    }

    struct Clustering(foldhash::fast::FoldHasher);

    impl std::hash::Hasher for Clustering {
        fn finish(&self) -> u64 {
            let spread = self.0.finish() % 16;
            let tag = if spread < 8 {
                spread
            } else {
                u64::from(u32::MAX) - spread
            };
            tag << 32
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.write(bytes);
        }
    }

    #[test]
    fn clustered_hashes_wrap_and_shift_back() {
        random_against_a_hash_map(KeyMap::with_hasher(Clustered), 300, 20_000);
    }

    /// Random inserts, replacements and removals against a `HashMap`.
    #[test]
    fn agrees_with_a_hash_map() {
        random_against_a_hash_map(map(), 2_000, 200_000);
    }

    fn random_against_a_hash_map<S: BuildHasher>(mut map: KeyMap<u64, S>, keys: u64, steps: u64) {
        let mut model: HashMap<Key, u64> = HashMap::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for step in 0..steps {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = key(seed % keys);
            if seed.is_multiple_of(3) {
                let removed = map
                    .get_index_of(&k)
                    .and_then(|index| map.swap_remove_index(index));
                assert_eq!(removed.map(|(_, v)| v), model.remove(&k), "step {step}");
            } else {
                let hash = map.hasher().hash_one(k.as_bytes());
                map.insert_hashed(hash, k.clone(), step);
                model.insert(k, step);
            }
            if step.is_multiple_of(steps / 10) {
                map.check_invariants();
            }
        }
        map.check_invariants();
        assert_eq!(map.len(), model.len());
        for (k, v) in &model {
            assert_eq!(map.get_full(k).map(|(_, _, v)| *v), Some(*v));
        }
        let mut seen: Vec<&Key> = map.keys().collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), model.len(), "every key once");
    }
}
