//! The keyspace's map: keys and their values in one dense vector, found
//! through a hash table of `u32` positions into it.
//!
//! The layout is the one `indexmap` has (dense entries, removal swaps the
//! last entry into the hole, so SCAN and the snapshot walk positions), with
//! two differences that matter on the request path:
//!
//! - **Prefetching.** [`KeyMap::prefetch_slot`] and
//!   [`KeyMap::prefetch_entry`] start loading a key's table slot, then its
//!   entry, without waiting for either, so the engine can warm every key of
//!   a pipeline before applying the first request: the cache misses of 16
//!   lookups then overlap instead of following one another. A lookup in a
//!   map larger than the caches is otherwise two or three misses in a row
//!   (measured: 30 % of the server's time on `GET -P 16` over 10⁵ keys went
//!   to them). `indexmap` does not expose its table, so it cannot do this.
//! - **Smaller.** Positions are `u32` (4 bytes a slot, not 8) and the hash is
//!   not stored with each entry (it is recomputed from the key when the
//!   table grows or an entry moves): 13 bytes less per key.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::key::Key;

/// Most entries a map holds: positions are `u32`.
pub const ENTRIES_MAX: usize = u32::MAX as usize;

#[derive(Debug, Clone)]
pub struct KeyMap<V, S> {
    entries: Vec<(Key, V)>,
    /// Positions in `entries`, hashed by their entry's key.
    table: HashTable<u32>,
    hasher: S,
}

impl<V, S: BuildHasher> KeyMap<V, S> {
    pub fn with_hasher(hasher: S) -> KeyMap<V, S> {
        KeyMap {
            entries: Vec::new(),
            table: HashTable::new(),
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
            .find(hash, |&index| entries[index as usize].0.as_bytes() == key)
            .map(|&index| index as usize)
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
        let Self {
            entries,
            table,
            hasher,
        } = self;
        table.insert_unique(hash, index as u32, |&moved| {
            hasher.hash_one(entries[moved as usize].0.as_bytes())
        });
        entries.push((key, value));
        index
    }

    /// Removes the entry at `index`; the last entry takes its place.
    pub fn swap_remove_index(&mut self, index: usize) -> Option<(Key, V)> {
        let last = self.entries.len().checked_sub(1)?;
        if index > last {
            return None;
        }
        let hash = self.hash(&self.entries[index].0);
        match self.table.find_entry(hash, |&slot| slot as usize == index) {
            Ok(occupied) => {
                occupied.remove();
            }
            Err(_) => panic!("key map table has no slot for entry {index}"),
        }
        if index != last {
            let hash = self.hash(&self.entries[last].0);
            let slot = self.table.find_mut(hash, |&slot| slot as usize == last);
            assert!(slot.is_some(), "key map table has no slot for entry {last}");
            if let Some(slot) = slot {
                *slot = index as u32;
            }
        }
        Some(self.entries.swap_remove(index))
    }

    /// First of two prefetch steps for a lookup of `key`: starts loading the
    /// table slots that may hold its position, without reading them. Call
    /// it for every key of a group, then [`KeyMap::prefetch_entry`] for
    /// each, then look them up: the misses of each step then overlap across
    /// the group. Changes nothing; any key may be passed.
    #[inline]
    pub fn prefetch_slot(&self, key: &[u8]) {
        // The closure sees each candidate slot (its control byte matched)
        // by reference; only its address is used. Returning false goes on
        // to the end of the probe, almost always the same control group.
        let _ = self.table.find(self.hash(key), |slot| {
            prefetch_read(slot as *const u32);
            false
        });
    }

    /// Second prefetch step: reads the candidate slots (warmed by
    /// [`KeyMap::prefetch_slot`]) and starts loading the entries they point
    /// to, without waiting for them.
    #[inline]
    pub fn prefetch_entry(&self, key: &[u8]) {
        let entries = self.entries.as_ptr();
        let _ = self.table.find(self.hash(key), |&index| {
            prefetch_read(entries.wrapping_add(index as usize));
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
        self.entries.reserve(additional);
        let Self {
            entries,
            table,
            hasher,
        } = self;
        table.reserve(additional, |&moved| {
            hasher.hash_one(entries[moved as usize].0.as_bytes())
        });
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.table.clear();
    }

    /// Panics unless every entry has exactly one slot, at its position
    /// (O(entries) lookups: for tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        assert_eq!(self.table.len(), self.entries.len(), "key map slot count");
        for (index, (key, _)) in self.entries.iter().enumerate() {
            assert_eq!(
                self.get_index_of(key),
                Some(index),
                "key map slot of {key:?}"
            );
        }
    }
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

    /// Random inserts, replacements and removals against a `HashMap`.
    #[test]
    fn agrees_with_a_hash_map() {
        let mut map = map();
        let mut model: HashMap<Key, u64> = HashMap::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for step in 0..200_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = key(seed % 2_000);
            if seed.is_multiple_of(3) {
                let removed = map
                    .get_index_of(&k)
                    .and_then(|index| map.swap_remove_index(index));
                assert_eq!(removed.map(|(_, v)| v), model.remove(&k), "step {step}");
            } else {
                insert(&mut map, k.clone(), step);
                model.insert(k, step);
            }
            if step.is_multiple_of(20_000) {
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
