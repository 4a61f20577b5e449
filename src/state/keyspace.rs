//! The keyspace: the key → entry map, the expiry index, and the only
//! functions that insert, remove or re-time keys (so that expiry bookkeeping
//! and, later, the effect log see every change).
//!
//! Keys live in an insertion-ordered hash map. Removal swaps the last entry
//! into the hole, which keeps every operation O(1) and gives SCAN a cursor
//! that is a position: SCAN walks positions downwards, so an entry moved by a
//! removal can only move to a position not yet visited (a repeat, which SCAN
//! allows), never to one already passed (a miss, which it does not).
//!
//! Deadlines are absolute Unix milliseconds. A key with deadline `d` exists
//! while `now < d`. Expired keys are removed lazily on access and actively by
//! [`Keyspace::expire_due`], which walks an ordered index of deadlines: no
//! sampling, no full scans, and a key is gone on the first tick after its
//! deadline.

use std::collections::BTreeSet;
use std::num::NonZeroU64;

use super::effect::Effect;
use super::graveyard::Graveyard;
use super::key::Key;
use super::key_effects::KeyEffect;
use super::keymap::KeyMap;
use super::record::Log;
use super::value::Value;

// Every key's entry holds a `Value`: a short string must not make it larger.
const _: () = assert!(std::mem::size_of::<Entry>() == 48);

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute deadline in Unix milliseconds; `None` = no expiry. Set only
    /// by the keyspace, which keeps the deadline index in step. Non-zero
    /// makes the entry 8 bytes smaller than an `Option<u64>` (see
    /// [`stored_deadline`]).
    deadline: Option<NonZeroU64>,
}

impl Entry {
    /// Absolute deadline in Unix milliseconds; `None` = no expiry.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline.map(NonZeroU64::get)
    }
}

/// The deadline as entries and the deadline index hold it: a deadline of 0
/// (the first millisecond of 1970, long past either way) is stored as 1.
/// Apply never sets a past deadline (the key is deleted instead), so this
/// only matters for an odd log or snapshot, and keeps every entry small.
fn stored_deadline(deadline_ms: Option<u64>) -> Option<NonZeroU64> {
    deadline_ms.map(|deadline| NonZeroU64::new(deadline).unwrap_or(NonZeroU64::MIN))
}

/// How the key map hashes keys.
pub type KeyHasher = foldhash::fast::FixedState;

type Map = KeyMap<Entry, KeyHasher>;

#[derive(Debug)]
pub struct Keyspace {
    map: Map,
    /// `(deadline, key)` for every key that has a deadline.
    deadlines: BTreeSet<(u64, Key)>,
    /// Keys removed because their deadline passed (lazily or actively).
    pub expired_total: u64,
    /// Whether changes are recorded as effects (on when a log is attached).
    recording: bool,
    /// Effects recorded since the engine last took them.
    effects: Vec<Effect>,
    /// Large removed values, for the engine's freeing thread.
    pub graveyard: Graveyard,
}

impl Keyspace {
    pub fn new(hash_seed: u64) -> Keyspace {
        Keyspace {
            map: Map::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)),
            deadlines: BTreeSet::new(),
            expired_total: 0,
            recording: false,
            effects: Vec::new(),
            graveyard: Graveyard::default(),
        }
    }

    /// Turns effect recording on or off; returns the previous setting.
    pub fn set_recording(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.recording, on)
    }

    /// Records an effect if recording is on. Families that change a value in
    /// place (rather than through `insert`) call this with their own effect,
    /// or, while they hold the value, use the [`Recorder`] that
    /// [`Keyspace::get_live_recorded`] lends with it.
    pub fn record<E: Into<Effect>>(&mut self, effect: impl FnOnce() -> E) {
        if self.recording {
            self.effects.push(effect().into());
        }
    }

    /// A [`Recorder`] for effects that name no key (the `REQ` table's),
    /// for changes made while another part of the state is borrowed.
    pub fn recorder(&mut self) -> Recorder<'_> {
        static NO_KEY: Key = Key::from_static(b"");
        Recorder {
            key: &NO_KEY,
            effects: self.recording.then_some(&mut self.effects),
        }
    }

    /// The effects recorded so far, for the engine to log; the vector keeps
    /// its capacity.
    pub fn effects_mut(&mut self) -> &mut Vec<Effect> {
        &mut self.effects
    }

    /// Number of keys, counting ones whose deadline passed but that have not
    /// been reaped yet (as Redis's DBSIZE does).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn with_deadline(&self) -> usize {
        self.deadlines.len()
    }

    /// The entry for `key` if it exists and has not expired; an expired entry
    /// is removed on the way.
    pub fn get_live(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let index = self.live_index(key, now_ms)?;
        self.map.get_index_mut(index).map(|(_, entry)| entry)
    }

    /// The entry for `key` whether or not its deadline passed (replay reads
    /// no clock: expiry arrives as an effect of its own).
    pub fn get_with_key_mut(&mut self, key: &[u8]) -> Option<(&Key, &mut Entry)> {
        let index = self.map.get_index_of(key)?;
        self.map.get_index_mut(index)
    }

    /// Starts loading `key`'s table slot into the cache without waiting
    /// (see [`KeyMap::prefetch_slot`]); changes nothing.
    #[inline]
    pub fn prefetch_slot(&self, key: &[u8]) {
        self.map.prefetch_slot(key);
    }

    /// Starts loading `key`'s entry into the cache without waiting (see
    /// [`KeyMap::prefetch_entry`]); changes nothing.
    #[inline]
    pub fn prefetch_entry(&self, key: &[u8]) {
        self.map.prefetch_entry(key);
    }

    /// The entry for `key` whatever its deadline, read-only: for cache
    /// hints only (see [`State::prefetch`](super::State::prefetch)), never
    /// for a reply.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get_full(key).map(|(_, _, entry)| entry)
    }

    /// Position of a live key; removes it first if its deadline has passed.
    pub fn live_index(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let (index, _, entry) = self.map.get_full(key)?;
        match entry.deadline_ms() {
            Some(deadline) if deadline <= now_ms => {
                self.expire_at(index);
                None
            }
            _ => Some(index),
        }
    }

    /// Like [`Keyspace::get_live`], with a [`Recorder`] for the effects of
    /// changing the value in place (sorted sets, queues).
    pub fn get_live_recorded(
        &mut self,
        key: &[u8],
        now_ms: u64,
    ) -> Option<(&mut Entry, Recorder<'_>)> {
        let index = self.live_index(key, now_ms)?;
        let Keyspace {
            map,
            recording,
            effects,
            ..
        } = self;
        let (stored, entry) = map.get_index_mut(index)?;
        let recorder = Recorder {
            key: stored,
            effects: recording.then_some(effects),
        };
        Some((entry, recorder))
    }

    /// The entry for `key` whatever its deadline: replay applies effects in
    /// log order and reads no clock, so it never expires a key on its own.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Whether a live key exists (without touching statistics).
    pub fn contains_live(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.live_index(key, now_ms).is_some()
    }

    /// Inserts or replaces a key's value and deadline.
    pub fn insert(&mut self, key: &[u8], value: Value, deadline_ms: Option<u64>) {
        let deadline = stored_deadline(deadline_ms);
        let deadline_ms = deadline.map(NonZeroU64::get);
        // The key is cloned only when something keeps it (an effect, the
        // deadline index): a short key is copied in place, a long one's
        // reference count lives in its own allocation, a likely cache miss.
        if let Some((_, stored, entry)) = self.map.get_full_mut(key) {
            if self.recording {
                self.effects.push(Effect::Key(KeyEffect::Put {
                    key: stored.clone(),
                    value: value.clone(),
                    deadline_ms,
                }));
            }
            let replaced = std::mem::replace(&mut entry.value, value);
            let items = replaced.items();
            self.graveyard.bury(replaced, items);
            let old = std::mem::replace(&mut entry.deadline, deadline);
            if old != deadline {
                let stored = stored.clone();
                self.retime_index(stored, old, deadline);
            }
            return;
        }
        let key = Key::copy_from_slice(key);
        if self.recording {
            self.effects.push(Effect::Key(KeyEffect::Put {
                key: key.clone(),
                value: value.clone(),
                deadline_ms,
            }));
        }
        if let Some(deadline) = deadline_ms {
            self.deadlines.insert((deadline, key.clone()));
        }
        self.map.insert_new(key, Entry { value, deadline });
    }

    /// Changes the deadline of an existing key.
    pub fn set_deadline(&mut self, key: &[u8], deadline_ms: Option<u64>) {
        let deadline = stored_deadline(deadline_ms);
        let deadline_ms = deadline.map(NonZeroU64::get);
        let Some((_, stored, entry)) = self.map.get_full_mut(key) else {
            return;
        };
        if self.recording {
            self.effects.push(Effect::Key(KeyEffect::Deadline {
                key: stored.clone(),
                deadline_ms,
            }));
        }
        let old = std::mem::replace(&mut entry.deadline, deadline);
        if old != deadline {
            let stored = stored.clone();
            self.retime_index(stored, old, deadline);
        }
    }

    fn retime_index(&mut self, key: Key, old: Option<NonZeroU64>, new: Option<NonZeroU64>) {
        if let Some(deadline) = old.map(NonZeroU64::get) {
            let removed = self.deadlines.remove(&(deadline, key.clone()));
            assert!(removed, "deadline index out of step with the keyspace");
        }
        if let Some(deadline) = new.map(NonZeroU64::get) {
            self.deadlines.insert((deadline, key));
        }
    }

    /// Deletes a key (a command's doing); returns whether it existed,
    /// expired or not.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.map.get_index_of(key) {
            Some(index) => {
                let removed = self.remove_at(index);
                if self.recording {
                    if let Some(key) = removed {
                        self.effects.push(KeyEffect::Delete { key }.into());
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Deletes a key (a command's doing, logged as a `Delete`) and hands
    /// back its value and deadline, for a command that puts the value
    /// elsewhere (RENAME); `None` if it does not exist.
    pub fn take(&mut self, key: &[u8]) -> Option<(Value, Option<u64>)> {
        let index = self.map.get_index_of(key)?;
        let (key, entry) = self.map.swap_remove_index(index)?;
        let deadline_ms = entry.deadline_ms();
        if let Some(deadline) = deadline_ms {
            let removed = self.deadlines.remove(&(deadline, key.clone()));
            assert!(removed, "deadline index out of step with the keyspace");
        }
        if self.recording {
            self.effects.push(KeyEffect::Delete { key }.into());
        }
        Some((entry.value, deadline_ms))
    }

    /// Removes the key at `index` because its deadline passed.
    fn expire_at(&mut self, index: usize) {
        let removed = self.remove_at(index);
        if self.recording {
            if let Some(key) = removed {
                self.effects.push(KeyEffect::Expired { key }.into());
            }
        }
        self.expired_total += 1;
    }

    /// Removes the entry at `index` and its deadline; returns its key.
    fn remove_at(&mut self, index: usize) -> Option<Key> {
        let (key, entry) = self.map.swap_remove_index(index)?;
        if let Some(deadline) = entry.deadline_ms() {
            let removed = self.deadlines.remove(&(deadline, key.clone()));
            assert!(removed, "deadline index out of step with the keyspace");
        }
        let items = entry.value.items();
        self.graveyard.bury(entry.value, items);
        Some(key)
    }

    /// The hasher of the key map, for loaders that hash keys on other
    /// threads before [`Keyspace::load_hashed`].
    pub fn key_hasher(&self) -> KeyHasher {
        *self.map.hasher()
    }

    /// Inserts an owned key whose hash (by [`Keyspace::key_hasher`]) is
    /// already known, with one probe of the map (snapshot loading, where
    /// keys are nearly always new). Records no effect, and leaves the
    /// deadline index behind: call [`Keyspace::rebuild_deadline_index`]
    /// after the last one.
    pub fn load_hashed(&mut self, hash: u64, key: Key, value: Value, deadline_ms: Option<u64>) {
        let entry = Entry {
            value,
            deadline: stored_deadline(deadline_ms),
        };
        self.map.insert_hashed(hash, key, entry);
    }

    /// Rebuilds the deadline index from the entries, after
    /// [`Keyspace::load_hashed`]: sorting once and building the tree from
    /// sorted items costs a fraction of inserting keys one by one in random
    /// order, each a walk down the tree.
    pub fn rebuild_deadline_index(&mut self) {
        let mut deadlines: Vec<(u64, Key)> = self
            .map
            .iter()
            .filter_map(|(key, entry)| Some((entry.deadline_ms()?, key.clone())))
            .collect();
        deadlines.sort_unstable();
        // From sorted items, `BTreeSet` builds its nodes in one pass.
        self.deadlines = deadlines.into_iter().collect();
    }

    /// Makes room for `additional` more keys at once (snapshot loading).
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Keeps only the keys `keep` approves (recovery's FlushAll replay).
    pub fn retain_keys(&mut self, keep: impl Fn(&[u8]) -> bool) {
        let doomed: Vec<Key> = self.map.keys().filter(|key| !keep(key)).cloned().collect();
        for key in doomed {
            if let Some(index) = self.map.get_index_of(&key) {
                self.remove_at(index);
            }
        }
    }

    pub fn clear(&mut self) {
        self.record(|| KeyEffect::FlushAll);
        // Every key and every large value goes to the freeing thread: a
        // FLUSHALL of millions of keys would otherwise free them all here.
        let hasher = *self.map.hasher();
        let map = std::mem::replace(&mut self.map, Map::with_hasher(hasher));
        let keys = map.len();
        self.graveyard.bury(map, keys);
        let deadlines = std::mem::take(&mut self.deadlines);
        let timed = deadlines.len();
        self.graveyard.bury(deadlines, timed);
    }

    /// The earliest deadline of any key, for the engine's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Removes up to `max_keys` keys whose deadline is at or before `now_ms`,
    /// earliest first. Returns how many were removed.
    pub fn expire_due(&mut self, now_ms: u64, max_keys: usize) -> usize {
        let mut removed = 0;
        while removed < max_keys {
            let Some((deadline, key)) = self.deadlines.first().cloned() else {
                break;
            };
            if deadline > now_ms {
                break;
            }
            let index = self.map.get_index_of(&key);
            assert!(index.is_some(), "deadline index names a missing key");
            if let Some(index) = index {
                self.expire_at(index);
            }
            removed += 1;
        }
        removed
    }

    /// Entry at a position (for SCAN); `None` past the end.
    pub fn at(&self, index: usize) -> Option<(&Key, &Entry)> {
        self.map.get_index(index)
    }

    /// Every key with its entry, mutable, for rebuilding indexes that live
    /// outside the keyspace (the queue timer index after recovery).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Entry)> {
        self.map.iter_mut()
    }

    /// Every key with its entry, in storage order (for snapshots and tests).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }

    /// Checks that the deadline index and the map agree; used by tests and
    /// debug builds.
    pub fn check_invariants(&self) {
        // The index is right exactly when its (deadline, key) pairs are
        // those of the keys with a deadline. Comparing the two sorted lists
        // reads each side in order: a lookup per key, with its cache misses,
        // costs seconds for millions of keys at start-up.
        let mut in_map: Vec<(u64, &[u8])> = self
            .map
            .iter()
            .filter_map(|(key, entry)| Some((entry.deadline_ms()?, key.as_bytes())))
            .collect();
        let in_index: Vec<(u64, &[u8])> = self
            .deadlines
            .iter()
            .map(|(deadline, key)| (*deadline, key.as_bytes()))
            .collect();
        assert_eq!(
            in_map.len(),
            in_index.len(),
            "deadline index and keys with a deadline differ in number"
        );
        // The index is a sorted set already.
        in_map.sort_unstable();
        assert!(
            in_map == in_index,
            "deadline index out of step with the keys' deadlines"
        );
    }
}

/// Records the effects of an in-place change to one key's value, for
/// families (sorted sets, queues) whose commands and timers change members
/// while they hold the value. Costs nothing when recording is off: the
/// effect is built only when there is somewhere to put it.
pub struct Recorder<'a> {
    /// The map's own key (a clone copies a short key in place, or counts
    /// a reference to a long one).
    key: &'a Key,
    effects: Option<&'a mut Vec<Effect>>,
}

impl Recorder<'_> {
    /// Records `effect(key)` if recording is on.
    #[inline]
    pub fn record<E: Into<Effect>>(&mut self, effect: impl FnOnce(Key) -> E) {
        if let Some(effects) = &mut self.effects {
            effects.push(effect(self.key.clone()).into());
        }
    }

    /// The map's own copy of the key (for indexes that name keys).
    pub fn key(&self) -> &Key {
        self.key
    }
}

impl<E: Into<Effect>> Log<E> for Recorder<'_> {
    #[inline]
    fn record(&mut self, effect: impl FnOnce(Key) -> E) {
        Recorder::record(self, effect);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_hashed_inserts_replaces_and_keeps_the_deadline_index() {
        let mut keyspace = Keyspace::new(3);
        let hasher = keyspace.key_hasher();
        let key = Key::copy_from_slice(b"k");
        let hash = std::hash::BuildHasher::hash_one(&hasher, &key[..]);
        keyspace.load_hashed(hash, key.clone(), Value::string(b"a"), Some(50));
        keyspace.load_hashed(hash, key.clone(), Value::string(b"b"), Some(70));
        keyspace.rebuild_deadline_index();
        keyspace.check_invariants();
        assert_eq!(keyspace.len(), 1);
        assert_eq!(keyspace.next_deadline(), Some(70));
        let entry = keyspace.get_mut(b"k").map(|entry| entry.value.clone());
        assert_eq!(entry, Some(Value::string(b"b")));
        keyspace.load_hashed(hash, key, Value::Int(1), None);
        keyspace.rebuild_deadline_index();
        keyspace.check_invariants();
        assert_eq!(keyspace.next_deadline(), None);
        assert!(keyspace.get_live(b"k", 1_000).is_some());
    }

    #[test]
    #[should_panic(expected = "out of step")]
    fn check_invariants_finds_an_index_item_with_the_wrong_deadline() {
        let mut keyspace = Keyspace::new(3);
        keyspace.insert(b"k", Value::Int(1), Some(10));
        let (deadline, key) = keyspace.deadlines.pop_first().expect("indexed");
        keyspace.deadlines.insert((deadline + 1, key));
        keyspace.check_invariants();
    }

    #[test]
    #[should_panic(expected = "differ in number")]
    fn check_invariants_finds_a_key_missing_from_the_index() {
        let mut keyspace = Keyspace::new(3);
        keyspace.insert(b"k", Value::Int(1), Some(10));
        keyspace.insert(b"j", Value::Int(1), Some(10));
        keyspace.deadlines.pop_first();
        keyspace.check_invariants();
    }

    #[test]
    fn a_deadline_of_zero_is_kept_as_one_and_stays_in_the_past() {
        let mut keyspace = Keyspace::new(3);
        keyspace.insert(b"k", Value::Int(1), Some(0));
        keyspace.check_invariants();
        let deadline = keyspace.get_mut(b"k").map(|entry| entry.deadline_ms());
        assert_eq!(deadline, Some(Some(1)));
        assert_eq!(keyspace.next_deadline(), Some(1));
        keyspace.set_deadline(b"k", Some(0));
        keyspace.check_invariants();
        assert_eq!(keyspace.expire_due(1, 10), 1);
        assert!(keyspace.is_empty());
    }
}
