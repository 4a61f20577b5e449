//! Holders and hold deadlines, shared by seat maps and stock: the per-key
//! [`HolderTable`] (interned holder ids in stable slots, each with one hold
//! deadline) and the keyspace-wide [`HoldIndex`] (which keys have a hold
//! deadline, and the earliest one), which together let the engine's timer
//! release expired holds without scanning anything.
//!
//! Memory matters here: a 10⁶-seat event with 10⁵ holders must fit in about
//! 16 bytes per seat. So a slot is 16 bytes of boxed bytes (the holder id and
//! the family's variable payload, e.g. a seat list, in one allocation), an
//! 8-byte deadline and the family's small fixed data (stock's counts; seat
//! maps keep none, their counts follow from the seat list); the id → slot index is
//! a [`TagIndex`] that stores only slot numbers and hashes ids out of the
//! slots; and the deadline order is a binary heap of `(deadline, slot)` with
//! lazy deletion (an entry counts only while the slot still has exactly that
//! deadline; stale entries are popped as soon as they reach the top, and the
//! heap is rebuilt when they outnumber live ones).
//!
//! Slots are handed out lowest-free-first from a free list, in request order,
//! so slot numbers are deterministic: replaying the same requests gives the
//! same slots (the id index itself is randomly seeded and never observable).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::hash::BuildHasher;

use super::key::Key;

use super::tagindex::TagIndex;

/// Longest holder id the slot layout can store (its length is one byte).
/// The configured `holder_bytes_max` may not exceed it.
pub const HOLDER_ID_BYTES_MAX: usize = 255;

/// A holder's slot: `bytes` is `[id length][id][payload]`, and is empty when
/// the slot is free.
#[derive(Clone, Debug, PartialEq)]
struct Slot<T> {
    bytes: Box<[u8]>,
    /// Absolute hold deadline in Unix milliseconds; 0 = no deadline (a real
    /// deadline is always at least 1 ms after some `now >= 0`).
    deadline_ms: u64,
    data: T,
}

impl<T> Slot<T> {
    fn is_free(&self) -> bool {
        self.bytes.is_empty()
    }

    fn id(&self) -> &[u8] {
        let length = usize::from(self.bytes[0]);
        &self.bytes[1..1 + length]
    }

    fn payload(&self) -> &[u8] {
        let length = usize::from(self.bytes[0]);
        &self.bytes[1 + length..]
    }
}

/// One used slot of a table being restored (see [`HolderTable::restore`]).
pub struct Restored<'a, T> {
    pub slot: u32,
    pub id: &'a [u8],
    pub payload: &'a [u8],
    pub data: T,
    pub deadline_ms: Option<u64>,
}

/// Holders of one key, by id, in stable numbered slots.
#[derive(Clone, Debug)]
pub struct HolderTable<T> {
    slots: Vec<Slot<T>>,
    /// Free slot numbers; the lowest is reused first.
    free: BinaryHeap<Reverse<u32>>,
    index: TagIndex,
    hasher: foldhash::fast::RandomState,
    /// `(deadline, slot)`, possibly stale; see the module comment.
    expiries: BinaryHeap<Reverse<(u64, u32)>>,
    live: usize,
    /// Slots with a deadline.
    timed: usize,
}

impl<T: Default> Default for HolderTable<T> {
    fn default() -> Self {
        HolderTable {
            slots: Vec::new(),
            free: BinaryHeap::new(),
            index: TagIndex::default(),
            hasher: foldhash::fast::RandomState::default(),
            expiries: BinaryHeap::new(),
            live: 0,
            timed: 0,
        }
    }
}

impl<T: Default> HolderTable<T> {
    /// Number of holders.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Rebuilds a table (from a snapshot or a logged value): `slot_count`
    /// slots, of which `holders` are used and the rest free, as they were when encoded. Refuses slots
    /// out of range or used twice, ids used twice or of a bad length, and a
    /// deadline of 0.
    pub fn restore(slot_count: u32, holders: Vec<Restored<'_, T>>) -> Result<Self, &'static str> {
        let mut table = HolderTable {
            slots: (0..slot_count)
                .map(|_| Slot {
                    bytes: Box::default(),
                    deadline_ms: 0,
                    data: T::default(),
                })
                .collect(),
            ..HolderTable::default()
        };
        for Restored {
            slot: number,
            id,
            payload,
            data,
            deadline_ms: deadline,
        } in holders
        {
            if id.is_empty() || id.len() > HOLDER_ID_BYTES_MAX {
                return Err("holder id of a bad length");
            }
            if table.find(id).is_some() {
                return Err("holder id listed twice");
            }
            if deadline == Some(0) {
                return Err("holder deadline 0");
            }
            if table
                .slots
                .get(number as usize)
                .is_none_or(|record| !record.is_free())
            {
                return Err("holder slot out of range or listed twice");
            }
            let mut bytes = Vec::with_capacity(1 + id.len() + payload.len());
            bytes.push(id.len() as u8);
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(payload);
            let record = &mut table.slots[number as usize];
            record.bytes = bytes.into_boxed_slice();
            record.data = data;
            let hash = table.hasher.hash_one(id);
            let (slots, hasher) = (&table.slots, &table.hasher);
            table.index.insert_unique(hash, number, |other| {
                hasher.hash_one(slots[other as usize].id())
            });
            table.live += 1;
            table.set_deadline(number, deadline);
        }
        table.free = table
            .slots
            .iter()
            .enumerate()
            .filter(|(_, record)| record.is_free())
            .map(|(number, _)| Reverse(number as u32))
            .collect();
        Ok(table)
    }

    /// Highest slot number ever used, plus one (for encodings that must
    /// bound slot numbers).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The slot of holder `id`, if it has one.
    pub fn find(&self, id: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let slots = &self.slots;
        self.index
            .find(hash, |slot| slots[slot as usize].id() == id)
    }

    /// Starts loading the start of [`HolderTable::find`]'s probe for `id`,
    /// reading nothing. Changes nothing.
    #[inline]
    pub fn prefetch(&self, id: &[u8]) {
        self.index.prefetch(self.hasher.hash_one(id));
    }

    /// Adds holder `id` (which must be absent) with `data` and `payload`
    /// (one allocation for both); returns its slot.
    pub fn insert(&mut self, id: &[u8], data: T, payload: &[u8]) -> u32 {
        assert!(
            !id.is_empty() && id.len() <= HOLDER_ID_BYTES_MAX,
            "holder id length is checked by the command handler"
        );
        debug_assert!(self.find(id).is_none(), "holder inserted twice");
        let mut bytes = Vec::with_capacity(1 + id.len() + payload.len());
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(payload);
        let slot = Slot {
            bytes: bytes.into_boxed_slice(),
            deadline_ms: 0,
            data,
        };
        let number = match self.free.pop() {
            Some(Reverse(number)) => {
                self.slots[number as usize] = slot;
                number
            }
            None => {
                assert!(
                    self.slots.len() < u32::MAX as usize,
                    "holder count is bounded by holders_per_key_max"
                );
                let number = self.slots.len() as u32;
                self.slots.push(slot);
                number
            }
        };
        let hash = self.hasher.hash_one(id);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, number, |other| {
            hasher.hash_one(slots[other as usize].id())
        });
        self.live += 1;
        number
    }

    /// Removes a holder and frees its slot.
    pub fn remove(&mut self, slot: u32) {
        self.set_deadline(slot, None);
        let record = &mut self.slots[slot as usize];
        assert!(!record.is_free(), "removing a free holder slot");
        let hash = self.hasher.hash_one(record.id());
        let removed = self.index.remove(hash, |other| other == slot);
        assert!(removed.is_some(), "holder index out of step with its slots");
        let record = &mut self.slots[slot as usize];
        record.bytes = Box::default();
        record.data = T::default();
        self.free.push(Reverse(slot));
        self.live -= 1;
    }

    pub fn id(&self, slot: u32) -> &[u8] {
        self.slots[slot as usize].id()
    }

    pub fn payload(&self, slot: u32) -> &[u8] {
        self.slots[slot as usize].payload()
    }

    /// Replaces a holder's payload (one reallocation of its bytes).
    pub fn set_payload(&mut self, slot: u32, payload: &[u8]) {
        let record = &mut self.slots[slot as usize];
        assert!(!record.is_free(), "payload for a free holder slot");
        let head = 1 + record.id().len();
        let mut bytes = Vec::with_capacity(head + payload.len());
        bytes.extend_from_slice(&record.bytes[..head]);
        bytes.extend_from_slice(payload);
        record.bytes = bytes.into_boxed_slice();
    }

    pub fn data(&self, slot: u32) -> &T {
        &self.slots[slot as usize].data
    }

    pub fn data_mut(&mut self, slot: u32) -> &mut T {
        &mut self.slots[slot as usize].data
    }

    pub fn deadline(&self, slot: u32) -> Option<u64> {
        let deadline = self.slots[slot as usize].deadline_ms;
        (deadline != 0).then_some(deadline)
    }

    /// Sets or clears a holder's deadline.
    pub fn set_deadline(&mut self, slot: u32, deadline_ms: Option<u64>) {
        let record = &mut self.slots[slot as usize];
        let old = record.deadline_ms;
        let new = deadline_ms.unwrap_or(0);
        assert!(deadline_ms != Some(0), "a hold deadline is at least 1");
        if old == new {
            return;
        }
        record.deadline_ms = new;
        match (old, new) {
            (0, _) => self.timed += 1,
            (_, 0) => self.timed -= 1,
            _ => {}
        }
        if new != 0 {
            self.expiries.push(Reverse((new, slot)));
            if self.expiries.len() > 2 * self.timed + 64 {
                self.rebuild_expiries();
            }
        }
        self.drop_stale_top();
    }

    /// Pops stale entries off the top of the heap, so that its top is always
    /// a real deadline and the timer never wakes for nothing.
    fn drop_stale_top(&mut self) {
        while let Some(&Reverse((deadline, slot))) = self.expiries.peek() {
            if self.slots[slot as usize].deadline_ms == deadline {
                break;
            }
            self.expiries.pop();
        }
    }

    /// Drops stale heap entries by rebuilding it from the slots.
    fn rebuild_expiries(&mut self) {
        let entries: Vec<Reverse<(u64, u32)>> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, record)| record.deadline_ms != 0)
            .map(|(number, record)| Reverse((record.deadline_ms, number as u32)))
            .collect();
        self.expiries = BinaryHeap::from(entries);
    }

    /// The earliest deadline of any holder.
    pub fn next_deadline(&self) -> Option<u64> {
        self.expiries.peek().map(|Reverse((deadline, _))| *deadline)
    }

    /// The next holder whose deadline is at or before `now_ms`, earliest
    /// first. The caller releases its holds and clears the deadline.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<u32> {
        while let Some(&Reverse((deadline, slot))) = self.expiries.peek() {
            if deadline > now_ms {
                return None;
            }
            self.expiries.pop();
            if self.slots[slot as usize].deadline_ms == deadline {
                // The caller clears the deadline, which makes any duplicate
                // entry for the same slot and deadline stale.
                return Some(slot);
            }
        }
        None
    }

    /// About how many bytes an encoding of every slot takes: one marker per
    /// slot, and per holder `fixed` bytes plus its id and payload, averaged
    /// over the first few holders (a snapshot prefaults a buffer this big).
    pub fn encoded_len_hint(&self, fixed: usize) -> usize {
        let average = crate::encoding::sampled_average(
            self.iter()
                .map(|(_, id, payload, _, _)| id.len() + payload.len()),
        );
        self.slot_count() + self.len() * (fixed + average)
    }

    /// Every holder: `(slot, id, payload, data, deadline)`, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8], &[u8], &T, Option<u64>)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, record)| !record.is_free())
            .map(|(number, record)| {
                let deadline = (record.deadline_ms != 0).then_some(record.deadline_ms);
                (
                    number as u32,
                    record.id(),
                    record.payload(),
                    &record.data,
                    deadline,
                )
            })
    }

    /// Asserts that the slots, the id index, the free list and the deadline
    /// heap agree.
    pub fn check_invariants(&self) {
        let queued: std::collections::HashSet<(u64, u32)> =
            self.expiries.iter().map(|Reverse(entry)| *entry).collect();
        let mut live = 0;
        let mut timed = 0;
        for (number, record) in self.slots.iter().enumerate() {
            if record.is_free() {
                assert!(record.deadline_ms == 0, "free slot with a deadline");
                continue;
            }
            live += 1;
            assert!(!record.id().is_empty(), "holder with an empty id");
            assert_eq!(
                self.find(record.id()),
                Some(number as u32),
                "holder id does not find its own slot"
            );
            if record.deadline_ms != 0 {
                timed += 1;
                assert!(
                    queued.contains(&(record.deadline_ms, number as u32)),
                    "holder deadline missing from the expiry heap"
                );
            }
        }
        if let Some(Reverse((deadline, slot))) = self.expiries.peek() {
            assert_eq!(
                self.slots[*slot as usize].deadline_ms, *deadline,
                "stale entry on top of the expiry heap"
            );
        }
        assert_eq!(live, self.live, "live holder count out of step");
        assert_eq!(timed, self.timed, "timed holder count out of step");
        assert_eq!(self.index.len(), self.live, "stray holder index entries");
        assert_eq!(
            self.free.len() + self.live,
            self.slots.len(),
            "free list out of step with the slots"
        );
        for Reverse(number) in &self.free {
            assert!(
                self.slots[*number as usize].is_free(),
                "free list names a used slot"
            );
        }
    }
}

/// Holder tables compare by their slots (ids, payloads, data, deadlines and
/// which slots are free): that is the whole observable state, and replay
/// produces the same slot numbers. The hash index and the heap's stale
/// entries are internal.
impl<T: PartialEq> PartialEq for HolderTable<T> {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots
    }
}

/// Keys whose value has a hold deadline (seat maps, stock), each under the
/// earliest deadline it had when last registered. Each such value remembers
/// the deadline it is registered under; [`HoldIndex::sync`] keeps the two in
/// step. Entries of keys that were deleted or overwritten stay until they
/// are due and are then dropped by the timer, which checks the value.
#[derive(Clone, Debug, Default)]
pub struct HoldIndex {
    entries: BTreeSet<(u64, Key)>,
}

impl HoldIndex {
    /// Registers `key` under `next` (its value's earliest deadline, if
    /// any), replacing the registration recorded in `registered`.
    pub fn sync(&mut self, key: &Key, registered: &mut Option<u64>, next: Option<u64>) {
        if *registered == next {
            return;
        }
        if let Some(old) = registered.take() {
            self.entries.remove(&(old, key.clone()));
        }
        if let Some(deadline) = next {
            self.entries.insert((deadline, key.clone()));
        }
        *registered = next;
    }

    /// The earliest registered deadline.
    pub fn first(&self) -> Option<u64> {
        self.entries.first().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns the earliest entry if it is due at `now_ms`.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(u64, Key)> {
        match self.entries.first() {
            Some((deadline, _)) if *deadline <= now_ms => self.entries.pop_first(),
            _ => None,
        }
    }

    /// Whether `key` is registered under `deadline` (for invariant checks).
    pub fn contains(&self, deadline: u64, key: &Key) -> bool {
        self.entries.contains(&(deadline, key.clone()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
