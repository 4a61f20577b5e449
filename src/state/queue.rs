//! Waiting rooms: the [`Queue`] structure, the QUEUE.* commands, and the
//! timer index that lets the engine admit and expire members on its own.
//!
//! A queue holds *waiting* members in arrival order and *active* members
//! (admitted, optionally until a deadline). Admission is automatic when the
//! queue has a CAPACITY (at most n active; a freed slot is refilled at once)
//! and/or a RATE (at most n admitted per period, in fixed windows anchored
//! when the rate was set); with neither, only `QUEUE.ADMIT` admits.
//!
//! Layout, chosen for ~10⁶ waiting members at well under 64 bytes each:
//! - [`Members`]: member ids interned once in 64 KiB chunks (length-prefixed,
//!   no per-member allocation), a 12-byte [`Slot`] per member, and a hash
//!   table of 4-byte slot numbers. A chunk whose live bytes fall under a
//!   quarter is evacuated, so churn does not leak memory.
//! - [`WaitLine`]: the waiting order as a deque of slot numbers indexed by
//!   arrival sequence number, with a Fenwick tree over blocks of 64 sequence
//!   numbers, so a position (rank among the waiting) is O(log n), joining and
//!   admitting the oldest are O(log n), and gaps left by admissions and
//!   departures are compacted away in amortized O(1).
//! - Active members with a deadline sit in an ordered set of
//!   `(deadline, member hash, slot)`, so expiry pops due entries without
//!   scanning. Equal deadlines (everyone admitted in the same millisecond)
//!   expire in member-hash order, which depends only on the id and the
//!   queue's seed: every copy of a queue, however its slots are numbered,
//!   expires them in the same order.
//!
//! Time-driven changes go through exactly two functions, each of which logs
//! its own effect: [`Queue::admit_one`] (one member admitted, with its
//! absolute deadline) and [`Queue::expire_one`] (one active member's
//! deadline passed). Commands first catch up on due work (bounded by
//! [`INLINE_EFFECTS_MAX`]), and the engine's timer does the rest through
//! [`run_timers`], driven by the [`QueueTimers`] index of `(next due time,
//! queue key)`.
//!
//! Durability: every change is logged as a per-member effect (`QueueJoin`,
//! `QueueAdmit`, ... in `effect.rs`) through the key's [`Recorder`], and
//! [`replay`] applies each through the same `*_slot` functions the commands
//! use, so counters, rate windows and eta history come out the same. A
//! queue's full serialization ([`Queue::encode`]) keeps members, order,
//! deadlines, settings and counters; the hash index, arena layout and
//! Fenwick tree are rebuilt when it is decoded.

use std::collections::{BTreeSet, VecDeque};
use std::hash::BuildHasher;

use bytes::Bytes;
use usher_protocol::reply::Word;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effect::{
    get_settings, put_bytes, put_settings, DecodeError, Effect, Reader, ReplayError,
};
use super::keyspace::{Keyspace, Recorder};
use super::tagindex::TagIndex;
use super::{State, StateLimits, Value};

/// Most admissions and expiries a single command performs while catching up;
/// anything beyond waits for the engine's timer, which has a CPU budget.
pub const INLINE_EFFECTS_MAX: usize = 256;

/// Waiting members from which `QUEUE.CLOSE` rebuilds the member table
/// from the active ones instead of removing the waiting ones one by one
/// (when fewer are active than waiting); see [`Queue::close_line`].
const CLOSE_REBUILD_WAITING_MIN: usize = 4096;

/// The member table and line a `QUEUE.CLOSE` set aside, for the engine to
/// free off its thread (held only to be dropped).
pub struct ClosedLine {
    members: Members,
    _line: WaitLine,
}

impl ClosedLine {
    /// Members in the old table: the graveyard's measure of its size.
    pub fn items(&self) -> usize {
        self.members.live
    }
}

/// Hard cap on a member id in a queue: an id must fit in one arena chunk.
pub const QUEUE_MEMBER_BYTES_LIMIT: usize = 16 * 1024;

const CHUNK_BYTES: usize = 1 << 16;
const NIL: u32 = u32::MAX;
/// Set in a slot's tag while the member is active.
const ACTIVE_BIT: u64 = 1 << 63;
/// Sequence numbers per Fenwick block.
const BLOCK: u64 = 64;
/// Seconds of admissions kept to estimate the observed rate.
const HISTORY_SECONDS: usize = 60;

// ---------------------------------------------------------------------------
// Members: interned ids, slots and the hash index
// ---------------------------------------------------------------------------

/// One member: where its id lies in the arena and what it is doing. Three
/// `u32`s rather than `u32 + u64` so the record is 12 bytes, not 16.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// `chunk << 16 | position`; `NIL` for a free slot.
    offset: u32,
    tag_low: u32,
    tag_high: u32,
}

impl Slot {
    /// Waiting: the arrival sequence number. Active: `ACTIVE_BIT |
    /// deadline_ms` (deadline 0 = none). Free: the next free slot.
    fn tag(&self) -> u64 {
        u64::from(self.tag_high) << 32 | u64::from(self.tag_low)
    }

    fn set_tag(&mut self, tag: u64) {
        self.tag_low = tag as u32;
        self.tag_high = (tag >> 32) as u32;
    }
}

/// Member ids and their slots. See the module documentation.
#[derive(Clone)]
struct Members {
    chunks: Vec<Option<Box<[u8]>>>,
    /// Bytes written into each chunk.
    chunk_used: Vec<u32>,
    /// Bytes of each chunk that belong to live members.
    chunk_live: Vec<u32>,
    free_chunks: Vec<u32>,
    /// The chunk new ids go to, or `NIL`.
    tail: u32,
    slots: Vec<Slot>,
    free_slot: u32,
    live: usize,
    index: TagIndex,
    hasher: foldhash::fast::FixedState,
}

fn split_offset(offset: u32) -> (usize, usize) {
    ((offset >> 16) as usize, (offset & 0xffff) as usize)
}

/// Reads a LEB128 length; returns it and the header size.
fn read_length(data: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0;
    for (index, byte) in data.iter().enumerate() {
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (value, index + 1);
        }
        shift += 7;
    }
    panic!("queue arena entry without a complete length");
}

fn write_length(out: &mut [u8], mut value: usize) -> usize {
    let mut index = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[index] = byte;
            return index + 1;
        }
        out[index] = byte | 0x80;
        index += 1;
    }
}

fn length_header(value: usize) -> usize {
    let mut size = 1;
    let mut rest = value >> 7;
    while rest != 0 {
        size += 1;
        rest >>= 7;
    }
    size
}

impl Members {
    fn new(seed: u64) -> Members {
        Members {
            chunks: Vec::new(),
            chunk_used: Vec::new(),
            chunk_live: Vec::new(),
            free_chunks: Vec::new(),
            tail: NIL,
            slots: Vec::new(),
            free_slot: NIL,
            live: 0,
            index: TagIndex::default(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
        }
    }

    fn bytes_at(&self, offset: u32) -> &[u8] {
        let (chunk, position) = split_offset(offset);
        let data = self.chunks[chunk]
            .as_deref()
            .expect("slot points into a freed chunk");
        let (length, header) = read_length(&data[position..]);
        &data[position + header..position + header + length]
    }

    fn bytes(&self, slot: u32) -> &[u8] {
        self.bytes_at(self.slots[slot as usize].offset)
    }

    fn tag(&self, slot: u32) -> u64 {
        self.slots[slot as usize].tag()
    }

    fn set_tag(&mut self, slot: u32, tag: u64) {
        self.slots[slot as usize].set_tag(tag);
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index.find(hash, |slot| self.bytes(slot) == member)
    }

    /// Starts loading the start of [`Members::find`]'s probe for `member`,
    /// reading nothing. Changes nothing.
    fn prefetch(&self, member: &[u8]) {
        self.index.prefetch(self.hasher.hash_one(member));
    }

    /// Copies an id into the tail chunk, opening a new one when it is full.
    fn append(&mut self, member: &[u8]) -> u32 {
        let need = length_header(member.len()) + member.len();
        assert!(need <= CHUNK_BYTES, "queue member longer than a chunk");
        if self.tail == NIL || self.chunk_used[self.tail as usize] as usize + need > CHUNK_BYTES {
            let fresh = vec![0u8; CHUNK_BYTES].into_boxed_slice();
            self.tail = match self.free_chunks.pop() {
                Some(chunk) => {
                    self.chunks[chunk as usize] = Some(fresh);
                    chunk
                }
                None => {
                    assert!(self.chunks.len() < 1 << 16, "queue arena is full");
                    self.chunks.push(Some(fresh));
                    self.chunk_used.push(0);
                    self.chunk_live.push(0);
                    (self.chunks.len() - 1) as u32
                }
            };
        }
        let chunk = self.tail as usize;
        let position = self.chunk_used[chunk] as usize;
        let data = self.chunks[chunk]
            .as_deref_mut()
            .expect("tail chunk is allocated");
        let header = write_length(&mut data[position..], member.len());
        data[position + header..position + need].copy_from_slice(member);
        self.chunk_used[chunk] += need as u32;
        self.chunk_live[chunk] += need as u32;
        (chunk as u32) << 16 | position as u32
    }

    /// Adds a member that is not present; returns its slot.
    fn insert(&mut self, member: &[u8], tag: u64) -> u32 {
        let offset = self.append(member);
        let mut record = Slot {
            offset,
            tag_low: 0,
            tag_high: 0,
        };
        record.set_tag(tag);
        let slot = if self.free_slot != NIL {
            let slot = self.free_slot;
            self.free_slot = self.slots[slot as usize].tag_low;
            self.slots[slot as usize] = record;
            slot
        } else {
            assert!(self.slots.len() < NIL as usize, "queue slot space full");
            self.slots.push(record);
            (self.slots.len() - 1) as u32
        };
        let hash = self.hasher.hash_one(member);
        let Members {
            index,
            hasher,
            chunks,
            slots,
            ..
        } = self;
        index.insert_unique(hash, slot, |other| {
            hasher.hash_one(entry_bytes(chunks, slots[other as usize].offset))
        });
        self.live += 1;
        slot
    }

    /// Removes a member by slot.
    fn remove(&mut self, slot: u32) {
        let offset = self.slots[slot as usize].offset;
        assert!(offset != NIL, "removing a free queue slot");
        let member = self.bytes_at(offset);
        let hash = self.hasher.hash_one(member);
        let entry_size = (length_header(member.len()) + member.len()) as u32;
        let removed = self.index.remove(hash, |other| other == slot);
        assert!(removed.is_some(), "queue member missing from its index");
        let (chunk, _) = split_offset(offset);
        self.chunk_live[chunk] -= entry_size;
        let record = &mut self.slots[slot as usize];
        record.offset = NIL;
        record.set_tag(u64::from(self.free_slot));
        self.free_slot = slot;
        self.live -= 1;
        if chunk as u32 != self.tail && (self.chunk_live[chunk] as usize) < CHUNK_BYTES / 4 {
            self.evacuate(chunk);
        }
    }

    /// Moves a sparse chunk's live ids to the tail and frees it. The live
    /// entries are the ones their member's slot still points at.
    fn evacuate(&mut self, chunk: usize) {
        let Some(data) = self.chunks[chunk].take() else {
            return;
        };
        let used = self.chunk_used[chunk] as usize;
        let mut position = 0;
        while position < used {
            let (length, header) = read_length(&data[position..]);
            let member = &data[position + header..position + header + length];
            let here = (chunk as u32) << 16 | position as u32;
            let hash = self.hasher.hash_one(member);
            let slots = &self.slots;
            let owner = self
                .index
                .find(hash, |slot| slots[slot as usize].offset == here);
            if let Some(slot) = owner {
                let moved = self.append(member);
                self.slots[slot as usize].offset = moved;
            }
            position += header + length;
        }
        self.chunk_used[chunk] = 0;
        self.chunk_live[chunk] = 0;
        self.free_chunks.push(chunk as u32);
    }

    /// Every live slot number.
    fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, record)| record.offset != NIL)
            .map(|(slot, _)| slot as u32)
    }

    fn check_invariants(&self) {
        let live: Vec<u32> = self.live_slots().collect();
        assert_eq!(live.len(), self.live, "live member count wrong");
        assert_eq!(self.index.len(), self.live, "index size wrong");
        let mut live_bytes = vec![0u32; self.chunks.len()];
        for &slot in &live {
            let member = self.bytes(slot);
            assert_eq!(
                self.find(member),
                Some(slot),
                "index does not find a member"
            );
            let (chunk, _) = split_offset(self.slots[slot as usize].offset);
            live_bytes[chunk] += (length_header(member.len()) + member.len()) as u32;
        }
        assert_eq!(live_bytes, self.chunk_live, "chunk live bytes wrong");
    }
}

/// The id at an arena offset, for hashing while the index is borrowed.
fn entry_bytes(chunks: &[Option<Box<[u8]>>], offset: u32) -> &[u8] {
    let (chunk, position) = split_offset(offset);
    let data = chunks[chunk]
        .as_deref()
        .expect("slot points into a freed chunk");
    let (length, header) = read_length(&data[position..]);
    &data[position + header..position + header + length]
}

// ---------------------------------------------------------------------------
// WaitLine: arrival order with O(log n) positions
// ---------------------------------------------------------------------------

/// The waiting members in arrival order. Sequence number `s` is at
/// `order[s - base]`; `NIL` marks one that left or was admitted.
#[derive(Clone, Debug)]
struct WaitLine {
    /// Sequence number of `order[0]`; always a multiple of [`BLOCK`].
    base: u64,
    order: VecDeque<u32>,
    /// Waiting members per block of [`BLOCK`] sequence numbers.
    block_live: VecDeque<u8>,
    /// Fenwick tree over `block_live`.
    fenwick: Vec<u32>,
    /// No waiting member has a sequence number below this.
    head: u64,
    waiting: usize,
}

impl WaitLine {
    fn new() -> WaitLine {
        WaitLine {
            base: 0,
            order: VecDeque::new(),
            block_live: VecDeque::new(),
            fenwick: Vec::new(),
            head: 0,
            waiting: 0,
        }
    }

    fn next_seq(&self) -> u64 {
        self.base + self.order.len() as u64
    }

    fn fenwick_add(&mut self, block: usize, delta: i64) {
        let mut index = block;
        while index < self.fenwick.len() {
            self.fenwick[index] = (i64::from(self.fenwick[index]) + delta) as u32;
            index |= index + 1;
        }
    }

    /// Waiting members in blocks `[0, block)`.
    fn fenwick_prefix(&self, block: usize) -> u64 {
        let mut sum = 0u64;
        let mut index = block;
        while index > 0 {
            sum += u64::from(self.fenwick[index - 1]);
            // Node `index - 1` covers blocks `[(index - 1) & index, index)`.
            index &= index - 1;
        }
        sum
    }

    fn rebuild_fenwick(&mut self) {
        self.fenwick.clear();
        self.fenwick
            .extend(self.block_live.iter().map(|&count| u32::from(count)));
        for index in 0..self.fenwick.len() {
            let parent = index | (index + 1);
            if parent < self.fenwick.len() {
                self.fenwick[parent] += self.fenwick[index];
            }
        }
    }

    /// Appends a waiting slot; returns its sequence number.
    fn push(&mut self, slot: u32) -> u64 {
        let seq = self.next_seq();
        self.order.push_back(slot);
        let block = ((seq - self.base) / BLOCK) as usize;
        if block == self.block_live.len() {
            self.block_live.push_back(1);
            // A new Fenwick node covers its own block plus the nodes below
            // it that end just before it.
            let index = self.fenwick.len();
            let mut value = 1u32;
            let low = index & (index + 1);
            let mut child = index;
            while child > low {
                value += self.fenwick[child - 1];
                child = (child - 1) & child;
            }
            self.fenwick.push(value);
        } else {
            self.block_live[block] += 1;
            self.fenwick_add(block, 1);
        }
        self.waiting += 1;
        seq
    }

    fn slot_at(&self, seq: u64) -> u32 {
        self.order[(seq - self.base) as usize]
    }

    /// 1-based position of a waiting sequence number.
    fn position(&self, seq: u64) -> u64 {
        let offset = (seq - self.base) as usize;
        let block = offset / BLOCK as usize;
        let block_start = block * BLOCK as usize;
        let within = self
            .order
            .range(block_start..=offset)
            .filter(|&&slot| slot != NIL)
            .count() as u64;
        self.fenwick_prefix(block) + within
    }

    /// The oldest waiting member as `(seq, slot)`.
    fn front(&mut self) -> Option<(u64, u32)> {
        if self.waiting == 0 {
            return None;
        }
        loop {
            let slot = self.slot_at(self.head);
            if slot != NIL {
                return Some((self.head, slot));
            }
            self.head += 1;
        }
    }

    /// Marks a waiting sequence number gone.
    fn remove(&mut self, seq: u64) {
        let offset = (seq - self.base) as usize;
        let slot = std::mem::replace(&mut self.order[offset], NIL);
        assert!(slot != NIL, "removing a member that is not waiting");
        let block = offset / BLOCK as usize;
        self.block_live[block] -= 1;
        self.fenwick_add(block, -1);
        self.waiting -= 1;
        // Renumbering is the caller's business (slots record their seq).
        self.drain_front();
    }

    /// Drops whole blocks before the head once they are half the line, so
    /// admissions from the front cost amortized O(1) memory work.
    fn drain_front(&mut self) {
        if self.waiting == 0 {
            self.head = self.next_seq();
        }
        let blocks = ((self.head - self.base) / BLOCK) as usize;
        if blocks < 64 || blocks * 2 < self.block_live.len() {
            return;
        }
        self.order.drain(..blocks * BLOCK as usize);
        self.block_live.drain(..blocks);
        self.base += blocks as u64 * BLOCK;
        self.rebuild_fenwick();
        if self.order.capacity() > 4 * self.order.len().max(1024) {
            self.order.shrink_to(2 * self.order.len());
            self.block_live.shrink_to(2 * self.block_live.len());
            self.fenwick.shrink_to(2 * self.fenwick.len());
        }
    }

    /// Whether gaps from departures dominate the line.
    fn needs_renumbering(&self) -> bool {
        let gaps = self.order.len() - self.waiting;
        gaps > 4096 && gaps > 2 * self.waiting
    }

    /// Rebuilds the line without gaps; `renumbered(slot, seq)` is called for
    /// every waiting member with its new sequence number (order kept).
    fn renumber(&mut self, renumbered: &mut dyn FnMut(u32, u64)) {
        let live: Vec<u32> = self
            .order
            .iter()
            .copied()
            .filter(|&slot| slot != NIL)
            .collect();
        let base = self.next_seq().div_ceil(BLOCK) * BLOCK;
        *self = WaitLine::new();
        self.base = base;
        self.head = base;
        for slot in live {
            let seq = self.push(slot);
            renumbered(slot, seq);
        }
    }

    /// Every waiting slot, oldest first.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().copied().filter(|&slot| slot != NIL)
    }

    fn check_invariants(&self) {
        assert_eq!(self.base % BLOCK, 0);
        assert_eq!(self.iter().count(), self.waiting, "waiting count wrong");
        assert!(self.head >= self.base && self.head <= self.next_seq());
        for seq in self.base..self.head {
            assert_eq!(self.slot_at(seq), NIL, "a waiting member before head");
        }
        let mut expected = WaitLine {
            block_live: self.block_live.clone(),
            ..WaitLine::new()
        };
        expected.rebuild_fenwick();
        assert_eq!(expected.fenwick, self.fenwick, "Fenwick tree out of step");
        for (block, &count) in self.block_live.iter().enumerate() {
            let start = block * BLOCK as usize;
            let end = (start + BLOCK as usize).min(self.order.len());
            let live = self
                .order
                .range(start..end)
                .filter(|&&slot| slot != NIL)
                .count();
            assert_eq!(live, usize::from(count), "block count wrong");
        }
    }
}

// ---------------------------------------------------------------------------
// Observed admission rate
// ---------------------------------------------------------------------------

/// Admissions per second over the last [`HISTORY_SECONDS`] seconds, for the
/// eta of queues without a configured rate.
#[derive(Clone, Debug, PartialEq)]
struct AdmissionHistory {
    seconds: [u64; HISTORY_SECONDS],
    counts: [u32; HISTORY_SECONDS],
}

impl AdmissionHistory {
    fn new() -> AdmissionHistory {
        AdmissionHistory {
            seconds: [u64::MAX; HISTORY_SECONDS],
            counts: [0; HISTORY_SECONDS],
        }
    }

    fn record(&mut self, now_ms: u64) {
        let second = now_ms / 1000;
        let index = (second % HISTORY_SECONDS as u64) as usize;
        if self.seconds[index] != second {
            self.seconds[index] = second;
            self.counts[index] = 0;
        }
        self.counts[index] = self.counts[index].saturating_add(1);
    }

    /// `(admissions, span_ms)` over the recent seconds that saw admissions;
    /// the span runs from the start of the oldest such second to the end of
    /// the current one.
    fn observed(&self, now_ms: u64) -> Option<(u64, u64)> {
        let second = now_ms / 1000;
        let mut total = 0u64;
        let mut oldest = second;
        for (index, &stamp) in self.seconds.iter().enumerate() {
            if stamp <= second && stamp + (HISTORY_SECONDS as u64) > second {
                total += u64::from(self.counts[index]);
                if self.counts[index] > 0 {
                    oldest = oldest.min(stamp);
                }
            }
        }
        (total > 0).then_some((total, (second - oldest + 1) * 1000))
    }
}

// ---------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------

/// Where a member stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// 1-based position in line.
    Waiting(u64),
    /// Admitted; absolute deadline in Unix ms, `None` = no expiry.
    Active(Option<u64>),
    None,
}

/// A queue's settings and rate-window state: what QUEUE.CONFIG changes, and
/// what its effect carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSettings {
    /// Most active members at once; 0 = no limit.
    pub capacity: u64,
    /// Most members admitted automatically per rate window; 0 = no rate.
    pub rate_members: u64,
    pub rate_period_ms: u64,
    /// Start of rate window 0.
    pub rate_anchor_ms: u64,
    /// Lifetime of an admission; 0 = no expiry.
    pub ttl_ms: u64,
    /// The rate window `admitted_in_window` counts for.
    pub window: u64,
    pub admitted_in_window: u64,
}

/// A waiting room. See the module documentation.
#[derive(Clone)]
pub struct Queue {
    /// Seed of the member hash index, kept for serialization.
    seed: u64,
    /// Most active members at once; 0 = no limit.
    capacity: u64,
    /// Most members admitted automatically per rate window; 0 = no rate.
    rate_members: u64,
    rate_period_ms: u64,
    /// Start of rate window 0.
    rate_anchor_ms: u64,
    /// Lifetime of an admission; 0 = no expiry.
    ttl_ms: u64,
    closed: bool,
    members: Members,
    line: WaitLine,
    /// `(deadline_ms, slot)` of every active member with a deadline.
    deadlines: BTreeSet<(u64, u64, u32)>,
    active: u64,
    /// The rate window `admitted_in_window` counts for.
    window: u64,
    admitted_in_window: u64,
    history: AdmissionHistory,
    joined_total: u64,
    admitted_total: u64,
    expired_total: u64,
    left_total: u64,
    dropped_total: u64,
    /// The due time this queue is registered under in [`QueueTimers`].
    timer_due: Option<u64>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("waiting", &self.line.waiting)
            .field("active", &self.active)
            .field("capacity", &self.capacity)
            .field("rate_members", &self.rate_members)
            .field("rate_period_ms", &self.rate_period_ms)
            .field("ttl_ms", &self.ttl_ms)
            .field("closed", &self.closed)
            .finish()
    }
}

/// Queues are equal when their settings, counters, waiting lines (ids in
/// order) and active members (ids with deadlines) are, whatever the layout.
impl PartialEq for Queue {
    fn eq(&self, other: &Queue) -> bool {
        let settings = |q: &Queue| {
            (
                q.capacity,
                q.rate_members,
                q.rate_period_ms,
                q.rate_anchor_ms,
                q.ttl_ms,
                q.closed,
                q.window,
                q.admitted_in_window,
                q.active,
            )
        };
        let counters = |q: &Queue| {
            (
                q.joined_total,
                q.admitted_total,
                q.expired_total,
                q.left_total,
                q.dropped_total,
            )
        };
        settings(self) == settings(other)
            && counters(self) == counters(other)
            && self.history == other.history
            && self.waiting_members().eq(other.waiting_members())
            && self.active_members() == other.active_members()
    }
}

impl Queue {
    /// Starts loading where `member`'s entry lives, for a QUEUE.JOIN or
    /// QUEUE.POS about to run (see `State::prefetch`). Changes nothing.
    pub fn prefetch(&self, member: &[u8]) {
        self.members.prefetch(member);
    }

    pub fn new(seed: u64) -> Queue {
        Queue {
            seed,
            capacity: 0,
            rate_members: 0,
            rate_period_ms: 0,
            rate_anchor_ms: 0,
            ttl_ms: 0,
            closed: false,
            members: Members::new(seed),
            line: WaitLine::new(),
            deadlines: BTreeSet::new(),
            active: 0,
            window: 0,
            admitted_in_window: 0,
            history: AdmissionHistory::new(),
            joined_total: 0,
            admitted_total: 0,
            expired_total: 0,
            left_total: 0,
            dropped_total: 0,
            timer_due: None,
        }
    }

    pub fn waiting(&self) -> usize {
        self.line.waiting
    }

    pub fn active(&self) -> u64 {
        self.active
    }

    /// Bytes of arena chunks allocated for member ids (for memory figures
    /// and tests: evacuation gives chunks back as members go).
    pub fn arena_bytes(&self) -> usize {
        self.members.chunks.iter().flatten().count() * CHUNK_BYTES
    }

    /// Waiting member ids, oldest first.
    pub fn waiting_members(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.line.iter().map(|slot| self.members.bytes(slot))
    }

    /// Active member ids with their deadlines (0 = none), sorted by id.
    pub fn active_members(&self) -> Vec<(&[u8], u64)> {
        let mut active: Vec<(&[u8], u64)> = self
            .members
            .live_slots()
            .filter_map(|slot| {
                let tag = self.members.tag(slot);
                (tag & ACTIVE_BIT != 0).then(|| (self.members.bytes(slot), tag & !ACTIVE_BIT))
            })
            .collect();
        active.sort_unstable();
        active
    }

    /// Where a member stands, as of the last processed time.
    pub fn standing(&self, member: &[u8]) -> Standing {
        let Some(slot) = self.members.find(member) else {
            return Standing::None;
        };
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            Standing::Active((deadline != 0).then_some(deadline))
        } else {
            Standing::Waiting(self.line.position(tag))
        }
    }

    fn automatic(&self) -> bool {
        self.capacity > 0 || self.rate_members > 0
    }

    /// Free active slots under CAPACITY.
    fn room(&self) -> u64 {
        if self.capacity == 0 {
            u64::MAX
        } else {
            self.capacity.saturating_sub(self.active)
        }
    }

    fn window_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.rate_anchor_ms) / self.rate_period_ms
    }

    /// Automatic admissions the RATE still allows in the window of `now_ms`.
    fn rate_budget(&self, now_ms: u64) -> u64 {
        if self.rate_members == 0 {
            return u64::MAX;
        }
        if self.window_at(now_ms) != self.window {
            self.rate_members
        } else {
            self.rate_members.saturating_sub(self.admitted_in_window)
        }
    }

    fn window_end(&self, now_ms: u64) -> u64 {
        self.rate_anchor_ms
            .saturating_add((self.window_at(now_ms) + 1).saturating_mul(self.rate_period_ms))
    }

    /// The settings and rate-window state, as a `QueueConfig` effect
    /// carries them.
    pub fn settings(&self) -> QueueSettings {
        QueueSettings {
            capacity: self.capacity,
            rate_members: self.rate_members,
            rate_period_ms: self.rate_period_ms,
            rate_anchor_ms: self.rate_anchor_ms,
            ttl_ms: self.ttl_ms,
            window: self.window,
            admitted_in_window: self.admitted_in_window,
        }
    }

    fn set_settings(&mut self, settings: QueueSettings) {
        self.capacity = settings.capacity;
        self.rate_members = settings.rate_members;
        self.rate_period_ms = settings.rate_period_ms;
        self.rate_anchor_ms = settings.rate_anchor_ms;
        self.ttl_ms = settings.ttl_ms;
        self.window = settings.window;
        self.admitted_in_window = settings.admitted_in_window;
    }

    fn member_bytes(&self, slot: u32) -> Bytes {
        Bytes::copy_from_slice(self.members.bytes(slot))
    }

    /// **Effect: admission.** Admits the oldest waiting member at `now_ms`
    /// with deadline `now + ttl` (none if TTL is 0); `automatic` admissions
    /// count against the RATE window. Logs `QueueAdmit`; returns the
    /// member's slot.
    fn admit_one(&mut self, now_ms: u64, automatic: bool, recorder: &mut Recorder) -> Option<u32> {
        let (seq, slot) = self.line.front()?;
        let deadline = if self.ttl_ms > 0 {
            now_ms.saturating_add(self.ttl_ms)
        } else {
            0
        };
        self.admit_slot(seq, slot, now_ms, deadline, automatic);
        recorder.record(|key| Effect::QueueAdmit {
            key,
            member: self.member_bytes(slot),
            at_ms: now_ms,
            deadline_ms: (deadline != 0).then_some(deadline),
            automatic,
        });
        Some(slot)
    }

    /// Moves a waiting member (sequence number `seq`) to the active set
    /// until `deadline` (0 = none); shared by [`Queue::admit_one`] and
    /// replay.
    fn admit_slot(&mut self, seq: u64, slot: u32, now_ms: u64, deadline: u64, automatic: bool) {
        assert!(
            deadline & ACTIVE_BIT == 0,
            "admission deadline out of range"
        );
        self.line.remove(seq);
        if deadline != 0 {
            let entry = self.expiry_entry(deadline, slot);
            self.deadlines.insert(entry);
        }
        self.members.set_tag(slot, ACTIVE_BIT | deadline);
        self.active += 1;
        self.admitted_total += 1;
        self.history.record(now_ms);
        if automatic && self.rate_members > 0 {
            let window = self.window_at(now_ms);
            if window != self.window {
                self.window = window;
                self.admitted_in_window = 0;
            }
            self.admitted_in_window += 1;
        }
        self.renumber_if_sparse();
    }

    /// **Effect: expiry.** Removes an active member whose deadline passed;
    /// logs `QueueExpire`.
    fn expire_one(&mut self, deadline_ms: u64, slot: u32, recorder: &mut Recorder) {
        recorder.record(|key| Effect::QueueExpire {
            key,
            member: self.member_bytes(slot),
        });
        self.expire_slot(deadline_ms, slot);
    }

    fn expire_slot(&mut self, deadline_ms: u64, slot: u32) {
        let removed = self.deadlines.remove(&self.expiry_entry(deadline_ms, slot));
        assert!(removed, "expiring a member that has no such deadline");
        self.members.remove(slot);
        self.active -= 1;
        self.expired_total += 1;
    }

    /// Appends a member that is not in the queue to the line (QUEUE.JOIN).
    fn join_member(&mut self, member: &[u8]) {
        self.push_waiting(member);
        self.joined_total += 1;
    }

    fn push_waiting(&mut self, member: &[u8]) {
        let seq = self.line.next_seq();
        let slot = self.members.insert(member, seq);
        let pushed = self.line.push(slot);
        assert_eq!(seq, pushed);
    }

    /// Removes a waiting or active member (QUEUE.LEAVE).
    fn leave_slot(&mut self, slot: u32) {
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 {
                let removed = self.deadlines.remove(&self.expiry_entry(deadline, slot));
                assert!(removed, "active member missing from the deadline set");
            }
            self.active -= 1;
        } else {
            self.line.remove(tag);
        }
        self.members.remove(slot);
        self.left_total += 1;
        self.renumber_if_sparse();
    }

    /// Gives an active member a new deadline (0 = none).
    fn touch_slot(&mut self, slot: u32, deadline: u64) {
        assert!(deadline & ACTIVE_BIT == 0, "touch deadline out of range");
        let old = self.members.tag(slot) & !ACTIVE_BIT;
        if old != 0 {
            let removed = self.deadlines.remove(&self.expiry_entry(old, slot));
            assert!(removed, "active member missing from the deadline set");
        }
        if deadline != 0 {
            let entry = self.expiry_entry(deadline, slot);
            self.deadlines.insert(entry);
        }
        self.members.set_tag(slot, ACTIVE_BIT | deadline);
    }

    /// Closes the queue and drops every waiting member; returns how many,
    /// and what the engine should free off its thread.
    ///
    /// With more members waiting than active (the usual close: a crowd
    /// still in line, a few thousand admitted), the member table is rebuilt
    /// from the active members and the old one handed back whole, rather
    /// than removing the waiting members one by one: that stopped the
    /// engine for 237 ms at 2·10⁶ waiting (measured), and every client with
    /// it. Both ways leave the same queue (same members, deadlines and
    /// counters; slot numbers differ, which nothing observable depends on),
    /// and replay takes the same way as the original, as it sees the same
    /// counts.
    fn close_line(&mut self) -> (usize, Option<ClosedLine>) {
        self.closed = true;
        let waiting = self.line.waiting;
        let next = self.line.next_seq();
        let mut line = WaitLine::new();
        line.base = next.div_ceil(BLOCK) * BLOCK;
        line.head = line.base;
        let old_line = std::mem::replace(&mut self.line, line);
        self.dropped_total += waiting as u64;
        if waiting < CLOSE_REBUILD_WAITING_MIN || waiting as u64 <= self.active {
            for slot in old_line.iter() {
                self.members.remove(slot);
            }
            return (waiting, None);
        }
        let mut kept = Members::new(self.seed);
        let mut deadlines = BTreeSet::new();
        for slot in self.members.live_slots() {
            let tag = self.members.tag(slot);
            if tag & ACTIVE_BIT == 0 {
                continue;
            }
            let member = self.members.bytes(slot);
            let moved = kept.insert(member, tag);
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 {
                deadlines.insert((deadline, kept.hasher.hash_one(member), moved));
            }
        }
        assert_eq!(
            kept.live as u64, self.active,
            "active count matches the table"
        );
        let members = std::mem::replace(&mut self.members, kept);
        self.deadlines = deadlines;
        (
            waiting,
            Some(ClosedLine {
                members,
                _line: old_line,
            }),
        )
    }

    /// The deadline set's entry for an active member.
    fn expiry_entry(&self, deadline: u64, slot: u32) -> (u64, u64, u32) {
        let hash = self.members.hasher.hash_one(self.members.bytes(slot));
        (deadline, hash, slot)
    }

    fn renumber_if_sparse(&mut self) {
        if self.line.needs_renumbering() {
            let members = &mut self.members;
            self.line
                .renumber(&mut |slot, seq| members.set_tag(slot, seq));
        }
    }

    /// Expires active members whose deadline is at or before `now_ms`,
    /// earliest first, at most `max`. Returns how many.
    fn expire_due(&mut self, now_ms: u64, max: usize, recorder: &mut Recorder) -> usize {
        let mut done = 0;
        while done < max {
            match self.deadlines.first() {
                Some(&(deadline, _, slot)) if deadline <= now_ms => {
                    self.expire_one(deadline, slot, recorder);
                    done += 1;
                }
                _ => break,
            }
        }
        done
    }

    /// Admits automatically while CAPACITY and RATE allow, at most `max`.
    fn admit_ready(&mut self, now_ms: u64, max: usize, recorder: &mut Recorder) -> usize {
        let mut done = 0;
        while done < max
            && self.automatic()
            && self.line.waiting > 0
            && self.room() > 0
            && self.rate_budget(now_ms) > 0
        {
            self.admit_one(now_ms, true, recorder);
            done += 1;
        }
        done
    }

    /// All time-driven work due at `now_ms`: expiries first (their slots are
    /// refilled by the admissions that follow), at most `max` effects.
    fn run_due(&mut self, now_ms: u64, max: usize, recorder: &mut Recorder) -> usize {
        let expired = self.expire_due(now_ms, max, recorder);
        expired + self.admit_ready(now_ms, max - expired, recorder)
    }

    /// When this queue next has time-driven work: an active deadline, or
    /// an admission the RATE or CAPACITY will allow. `now_ms` (or earlier)
    /// means work is pending now.
    fn next_due(&self, now_ms: u64) -> Option<u64> {
        let expiry = self.deadlines.first().map(|&(deadline, _, _)| deadline);
        let admission = if self.automatic() && self.line.waiting > 0 && self.room() > 0 {
            if self.rate_budget(now_ms) > 0 {
                Some(now_ms)
            } else {
                Some(self.window_end(now_ms))
            }
        } else {
            None
        };
        match (expiry, admission) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// [`Queue::next_due`] without a clock, for a queue rebuilt by replay:
    /// the earliest deadline, or 0 (due at once) when an admission may be
    /// possible, so the engine's first tick works out the real time.
    fn next_due_unclocked(&self) -> Option<u64> {
        let expiry = self.deadlines.first().map(|&(deadline, _, _)| deadline);
        if self.automatic() && self.line.waiting > 0 && self.room() > 0 {
            Some(0)
        } else {
            expiry
        }
    }

    /// Expires one member now if its deadline passed, so a command about
    /// that member never sees it alive past its deadline.
    fn expire_member_if_due(&mut self, member: &[u8], now_ms: u64, recorder: &mut Recorder) {
        let Some(slot) = self.members.find(member) else {
            return;
        };
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 && deadline <= now_ms {
                self.expire_one(deadline, slot, recorder);
            }
        }
    }

    /// Estimated milliseconds until the member at `position` is admitted;
    /// `None` when there is nothing to estimate from.
    fn eta_ms(&self, position: u64, now_ms: u64) -> Option<u64> {
        if self.rate_members > 0 {
            let budget = self.rate_budget(now_ms);
            if position <= budget {
                return Some(0);
            }
            let windows = (position - budget).div_ceil(self.rate_members);
            let until_next = self.window_end(now_ms) - now_ms;
            return Some(
                until_next.saturating_add((windows - 1).saturating_mul(self.rate_period_ms)),
            );
        }
        let (admitted, span_ms) = self.history.observed(now_ms)?;
        Some((position.saturating_mul(span_ms)).div_ceil(admitted))
    }

    fn standing_reply(&self, standing: Standing, now_ms: u64, with_eta: bool) -> Reply {
        match standing {
            Standing::Waiting(position) => {
                if with_eta {
                    let eta = self
                        .eta_ms(position, now_ms)
                        .map_or(-1, |eta| eta.min(i64::MAX as u64) as i64);
                    Reply::tuple(Some(Word::WaitingBulk), &[position as i64, eta], None)
                } else {
                    Reply::tuple(Some(Word::WaitingBulk), &[position as i64], None)
                }
            }
            Standing::Active(deadline) => Reply::tuple(
                Some(Word::ActiveBulk),
                &[deadline.map_or(-1, |d| d.saturating_sub(now_ms) as i64)],
                None,
            ),
            Standing::None => Reply::tuple(Some(Word::NoneBulk), &[], None),
        }
    }

    /// Serializes the whole queue (the `queue` rule in `effect.rs`).
    /// The encoding is canonical (waiting members in line order, active
    /// ones in expiry order, those without a deadline by id), so equal
    /// queues encode to equal bytes whatever their layout.
    /// About how many bytes [`Queue::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = super::effect::sampled_average(
            self.line
                .iter()
                .chain(self.members.live_slots())
                .map(|slot| self.members.bytes(slot).len()),
        );
        let history = self.history.seconds.len() * 16;
        256 + history + self.line.waiting * (4 + average) + self.active as usize * (12 + average)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        put_settings(out, &self.settings());
        out.push(u8::from(self.closed));
        for counter in [
            self.joined_total,
            self.admitted_total,
            self.expired_total,
            self.left_total,
            self.dropped_total,
        ] {
            out.extend_from_slice(&counter.to_le_bytes());
        }
        let seconds = self.history.seconds.iter().zip(&self.history.counts);
        let recorded = || seconds.clone().filter(|(&second, _)| second != u64::MAX);
        out.extend_from_slice(&(recorded().count() as u32).to_le_bytes());
        for (second, count) in recorded() {
            out.extend_from_slice(&second.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&(self.line.waiting as u64).to_le_bytes());
        for slot in self.line.iter() {
            put_bytes(out, self.members.bytes(slot));
        }
        out.extend_from_slice(&self.active.to_le_bytes());
        for &(deadline, _, slot) in &self.deadlines {
            put_bytes(out, self.members.bytes(slot));
            out.extend_from_slice(&deadline.to_le_bytes());
        }
        let mut without_deadline: Vec<&[u8]> = self
            .members
            .live_slots()
            .filter(|&slot| self.members.tag(slot) == ACTIVE_BIT)
            .map(|slot| self.members.bytes(slot))
            .collect();
        without_deadline.sort_unstable();
        for member in without_deadline {
            put_bytes(out, member);
            out.extend_from_slice(&0u64.to_le_bytes());
        }
    }

    /// Rebuilds a queue from [`Queue::encode`]'s bytes: arena, hash index,
    /// line and Fenwick tree are built afresh. Refuses input that would
    /// break an invariant (repeated or oversized members, waiting members
    /// in a closed queue, deadlines out of range).
    pub fn decode(input: &mut Reader<'_>) -> Result<Queue, DecodeError> {
        let mut queue = Queue::new(input.u64()?);
        queue.set_settings(get_settings(input)?);
        queue.closed = input.flag()?;
        queue.joined_total = input.u64()?;
        queue.admitted_total = input.u64()?;
        queue.expired_total = input.u64()?;
        queue.left_total = input.u64()?;
        queue.dropped_total = input.u64()?;
        let recorded = input.u32()? as usize;
        if recorded > HISTORY_SECONDS {
            return Err(DecodeError(format!(
                "queue admission history of {recorded} seconds"
            )));
        }
        for _ in 0..recorded {
            let second = input.u64()?;
            let count = input.u32()?;
            let index = (second % HISTORY_SECONDS as u64) as usize;
            if second == u64::MAX || queue.history.seconds[index] != u64::MAX {
                return Err(DecodeError(
                    "queue admission history repeats a second".into(),
                ));
            }
            queue.history.seconds[index] = second;
            queue.history.counts[index] = count;
        }
        let waiting = input.u64()?;
        if queue.closed && waiting > 0 {
            return Err(DecodeError("closed queue with waiting members".into()));
        }
        for _ in 0..waiting {
            let member = input.slice()?;
            queue.check_new_member(member)?;
            queue.push_waiting(member);
        }
        let active = input.u64()?;
        for _ in 0..active {
            let member = input.slice()?;
            let deadline = input.u64()?;
            queue.check_new_member(member)?;
            if deadline & ACTIVE_BIT != 0 {
                return Err(DecodeError(format!(
                    "queue deadline {deadline} out of range"
                )));
            }
            let slot = queue.members.insert(member, ACTIVE_BIT | deadline);
            if deadline != 0 {
                let entry = queue.expiry_entry(deadline, slot);
                queue.deadlines.insert(entry);
            }
            queue.active += 1;
        }
        Ok(queue)
    }

    fn check_new_member(&self, member: &[u8]) -> Result<(), DecodeError> {
        if member.len() > QUEUE_MEMBER_BYTES_LIMIT {
            return Err(DecodeError(format!(
                "queue member of {} bytes",
                member.len()
            )));
        }
        if self.members.find(member).is_some() {
            return Err(DecodeError("queue member repeated".into()));
        }
        Ok(())
    }

    /// Checks every internal invariant; for tests.
    pub fn check_invariants(&self) {
        self.members.check_invariants();
        self.line.check_invariants();
        let mut waiting = 0;
        let mut active = 0;
        let mut with_deadline = 0;
        for slot in self.members.live_slots() {
            let tag = self.members.tag(slot);
            if tag & ACTIVE_BIT != 0 {
                active += 1;
                let deadline = tag & !ACTIVE_BIT;
                if deadline != 0 {
                    with_deadline += 1;
                    assert!(
                        self.deadlines.contains(&self.expiry_entry(deadline, slot)),
                        "active member missing from the deadline set"
                    );
                }
            } else {
                waiting += 1;
                assert_eq!(self.line.slot_at(tag), slot, "line and slot disagree");
            }
        }
        assert_eq!(waiting, self.line.waiting, "waiting count wrong");
        assert_eq!(active, self.active, "active count wrong");
        assert_eq!(with_deadline, self.deadlines.len(), "stray deadlines");
        if self.closed {
            assert_eq!(self.line.waiting, 0, "a closed queue has waiting members");
        }
    }
}

// ---------------------------------------------------------------------------
// Timer index
// ---------------------------------------------------------------------------

/// `(due_ms, key)` for every queue with time-driven work, so the engine
/// finds the next one without looking at every queue. An entry whose queue
/// was deleted, replaced or re-timed is stale; it is recognised (the queue's
/// own `timer_due` differs) and dropped when it comes up.
#[derive(Clone, Debug, Default)]
pub struct QueueTimers {
    due: BTreeSet<(u64, Bytes)>,
}

impl QueueTimers {
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(due, _)| *due)
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    pub fn clear(&mut self) {
        self.due.clear();
    }

    /// Re-registers a queue under its current next due time.
    fn sync(&mut self, key: &[u8], queue: &mut Queue, now_ms: u64) {
        self.register(key, queue, queue.next_due(now_ms));
    }

    fn register(&mut self, key: &[u8], queue: &mut Queue, next: Option<u64>) {
        if next == queue.timer_due {
            return;
        }
        let key = Bytes::copy_from_slice(key);
        if let Some(old) = queue.timer_due {
            self.due.remove(&(old, key.clone()));
        }
        if let Some(due) = next {
            self.due.insert((due, key));
        }
        queue.timer_due = next;
    }
}

/// Puts a queue that replay created or changed back in the timer index
/// (see [`Queue::next_due_unclocked`]).
pub fn replayed(state: &mut State, key: &[u8]) {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    if let Some(entry) = keyspace.get_mut(key) {
        if let Value::Queue(queue) = &mut entry.value {
            let next = queue.next_due_unclocked();
            queue_timers.register(key, queue, next);
        }
    }
}

/// Rebuilds the timer index from every queue in the keyspace (after
/// recovery, whose snapshot loads values without replaying effects).
pub fn rebuild_timers(state: &mut State) {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    queue_timers.clear();
    for (key, entry) in keyspace.iter_mut() {
        if let Value::Queue(queue) = &mut entry.value {
            queue.timer_due = None;
            let next = queue.next_due_unclocked();
            queue_timers.register(key, queue, next);
        }
    }
}

/// Runs due queue work at `now_ms`: at most `max` items, an item being one
/// admission, one expiry or one stale index entry. Returns how many.
pub fn run_timers(state: &mut State, now_ms: u64, max: usize) -> usize {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    let mut done = 0;
    while done < max {
        let Some((due, key)) = queue_timers.due.first().cloned() else {
            break;
        };
        if due > now_ms {
            break;
        }
        queue_timers.due.remove(&(due, key.clone()));
        let (queue, mut recorder) = match keyspace.get_live_recorded(&key, now_ms) {
            Some((entry, recorder)) => match &mut entry.value {
                Value::Queue(queue) if queue.timer_due == Some(due) => (queue, recorder),
                _ => {
                    done += 1;
                    continue;
                }
            },
            None => {
                done += 1;
                continue;
            }
        };
        queue.timer_due = None;
        let effects = queue.run_due(now_ms, max - done, &mut recorder);
        queue_timers.sync(&key, queue, now_ms);
        assert!(
            effects > 0 || queue.timer_due.is_none_or(|next| next > now_ms),
            "a queue reported due work but did none"
        );
        done += effects.max(1);
    }
    done
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

const NO_SUCH_QUEUE: ServerError =
    ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such queue");
const QUEUE_CLOSED: ServerError = ServerError::new_static(
    ErrorCode::QueueClosed,
    "CLOSED queue is closed, no more joins",
);

fn queue_in<'a>(
    keyspace: &'a mut Keyspace,
    key: &[u8],
    now_ms: u64,
) -> Result<(&'a mut Queue, Recorder<'a>), ServerError> {
    match keyspace.get_live_recorded(key, now_ms) {
        None => Err(NO_SUCH_QUEUE),
        Some((entry, recorder)) => match &mut entry.value {
            Value::Queue(queue) => Ok((queue, recorder)),
            _ => Err(ServerError::WRONG_TYPE),
        },
    }
}

/// Runs a command on an existing queue: catches up on due work first, then
/// re-registers the queue's timer after.
fn with_queue(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    command: impl FnOnce(&mut Queue, &StateLimits, &mut Recorder) -> Reply,
) -> Reply {
    let State {
        keyspace,
        queue_timers,
        limits,
        ..
    } = state;
    let (queue, mut recorder) = match queue_in(keyspace, key, now_ms) {
        Ok(found) => found,
        Err(error) => return error.into(),
    };
    queue.run_due(now_ms, INLINE_EFFECTS_MAX, &mut recorder);
    let reply = command(queue, limits, &mut recorder);
    queue_timers.sync(key, queue, now_ms);
    reply
}

fn check_ttl(ttl_ms: u64, limits: &StateLimits) -> Result<(), ServerError> {
    if ttl_ms > limits.queue_ttl_ms_max {
        return Err(ServerError::limit("TTL in ms", limits.queue_ttl_ms_max));
    }
    Ok(())
}

/// ```text
/// QUEUE.CONFIG queue [CAPACITY n] [RATE n PER ms] [TTL ms]
/// ```
/// Creates the queue, or changes it live; OK. 0 switches a setting off.
/// Raising CAPACITY or RATE admits at once. A new RATE period starts its
/// windows now; a new count keeps the current window's tally. A new TTL
/// applies to later admissions and touches.
pub fn config(
    state: &mut State,
    key: &[u8],
    capacity: Option<u64>,
    rate: Option<(u64, u64)>,
    ttl_ms: Option<u64>,
    now_ms: u64,
) -> Reply {
    if let Some(ttl) = ttl_ms {
        if let Err(error) = check_ttl(ttl, &state.limits) {
            return error.into();
        }
    }
    if let Some((_, period)) = rate {
        if period > state.limits.queue_rate_period_ms_max {
            return ServerError::limit("RATE period in ms", state.limits.queue_rate_period_ms_max)
                .into();
        }
    }
    match state.keyspace.get_live(key, now_ms) {
        Some(entry) if !matches!(entry.value, Value::Queue(_)) => {
            return ServerError::WRONG_TYPE.into()
        }
        Some(_) => {}
        None => {
            if let Err(error) = state.room_for_key(now_ms) {
                return error.into();
            }
            let queue = Queue::new(state.hash_seed);
            state
                .keyspace
                .insert(key, Value::Queue(Box::new(queue)), None);
        }
    }
    with_queue(state, key, now_ms, |queue, _, recorder| {
        let before = queue.settings();
        if let Some(capacity) = capacity {
            queue.capacity = capacity;
        }
        if let Some((members, period_ms)) = rate {
            if members == 0 {
                queue.rate_members = 0;
                queue.rate_period_ms = 0;
            } else {
                if queue.rate_members == 0 || queue.rate_period_ms != period_ms {
                    queue.rate_period_ms = period_ms;
                    queue.rate_anchor_ms = now_ms;
                    queue.window = 0;
                    queue.admitted_in_window = 0;
                }
                queue.rate_members = members;
            }
        }
        if let Some(ttl) = ttl_ms {
            queue.ttl_ms = ttl;
        }
        let settings = queue.settings();
        if settings != before {
            recorder.record(|key| Effect::QueueConfig { key, settings });
        }
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        Reply::OK
    })
}

/// ```text
/// QUEUE.JOIN queue member
/// ```
/// `["waiting", position]` (1-based, arrival order) or `["active", ttl_ms]`
/// (-1 = no expiry). Joining again changes nothing. A newcomer is admitted
/// at once when CAPACITY and RATE allow. Errors if the queue is closed or
/// missing.
pub fn join(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let standing = queue.standing(member);
        if standing != Standing::None {
            return queue.standing_reply(standing, now_ms, false);
        }
        if queue.closed {
            return QUEUE_CLOSED.into();
        }
        if member.len() > limits.member_bytes_max.min(QUEUE_MEMBER_BYTES_LIMIT) {
            return ServerError::limit(
                "member length in bytes",
                limits.member_bytes_max.min(QUEUE_MEMBER_BYTES_LIMIT) as u64,
            )
            .into();
        }
        if queue.members.live >= limits.queue_members_max {
            return ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR queue is full: queue_members_max ({}) reached",
                    limits.queue_members_max
                ),
            )
            .into();
        }
        queue.join_member(member);
        recorder.record(|key| Effect::QueueJoin {
            key,
            member: Bytes::copy_from_slice(member),
        });
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        let standing = queue.standing(member);
        queue.standing_reply(standing, now_ms, false)
    })
}

/// ```text
/// QUEUE.POS queue member
/// ```
/// `["waiting", position, eta_ms]`, `["active", ttl_ms]` or `["none"]`.
/// eta_ms follows the configured RATE (CAPACITY may delay further) or,
/// without one, the admissions of the last minute; -1 when neither exists.
pub fn pos(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let standing = queue.standing(member);
        queue.standing_reply(standing, now_ms, true)
    })
}

/// ```text
/// QUEUE.ADMIT queue n
/// ```
/// Admits up to n waiting members, oldest first, never beyond CAPACITY;
/// replies the ids admitted. Not limited by RATE, and not counted in its
/// windows: this is the operator's own door.
pub fn admit(state: &mut State, key: &[u8], count: u64, now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        if count > limits.reply_items_max as u64 {
            return ServerError::limit("QUEUE.ADMIT count", limits.reply_items_max as u64).into();
        }
        let take = count.min(queue.line.waiting as u64).min(queue.room());
        let mut admitted = Vec::with_capacity(take as usize);
        for _ in 0..take {
            let Some(slot) = queue.admit_one(now_ms, false, recorder) else {
                break;
            };
            admitted.push(Reply::Bulk(Bytes::copy_from_slice(
                queue.members.bytes(slot),
            )));
        }
        Reply::Array(admitted)
    })
}

/// ```text
/// QUEUE.TOUCH queue member [TTL ms]
/// ```
/// Restarts an active member's lifetime from now, with the given TTL or the
/// queue's (0 = no expiry): `["active", ttl_ms]`; `["none"]` if the member
/// is not active.
pub fn touch(
    state: &mut State,
    key: &[u8],
    member: &[u8],
    ttl_ms: Option<u64>,
    now_ms: u64,
) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        if let Some(ttl) = ttl_ms {
            if let Err(error) = check_ttl(ttl, limits) {
                return error.into();
            }
        }
        queue.expire_member_if_due(member, now_ms, recorder);
        let Some(slot) = queue.members.find(member) else {
            return queue.standing_reply(Standing::None, now_ms, false);
        };
        if queue.members.tag(slot) & ACTIVE_BIT == 0 {
            return queue.standing_reply(Standing::None, now_ms, false);
        }
        let ttl = ttl_ms.unwrap_or(queue.ttl_ms);
        let deadline = if ttl > 0 {
            now_ms.saturating_add(ttl)
        } else {
            0
        };
        queue.touch_slot(slot, deadline);
        recorder.record(|key| Effect::QueueTouch {
            key,
            member: Bytes::copy_from_slice(member),
            deadline_ms: (deadline != 0).then_some(deadline),
        });
        queue.standing_reply(queue.standing(member), now_ms, false)
    })
}

/// ```text
/// QUEUE.LEAVE queue member
/// ```
/// 1 if the member was waiting or active and is now gone, else 0. A freed
/// active slot is refilled at once when CAPACITY (and RATE) allow.
pub fn leave(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let Some(slot) = queue.members.find(member) else {
            return Reply::Int(0);
        };
        queue.leave_slot(slot);
        recorder.record(|key| Effect::QueueLeave {
            key,
            member: Bytes::copy_from_slice(member),
        });
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        Reply::Int(1)
    })
}

/// ```text
/// QUEUE.CLOSE queue
/// ```
/// Drops every waiting member and refuses later joins; active members stay
/// until they leave or expire. Replies how many were dropped.
pub fn close(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let mut set_aside = None;
    let reply = with_queue(state, key, now_ms, |queue, _, recorder| {
        let (dropped, closed) = queue.close_line();
        set_aside = closed;
        recorder.record(|key| Effect::QueueClose { key });
        Reply::Int(dropped as i64)
    });
    if let Some(closed) = set_aside {
        let items = closed.items();
        state.keyspace.graveyard.bury(closed, items);
    }
    reply
}

/// ```text
/// QUEUE.DROP queue
/// ```
/// Deletes the queue and everyone in it: 1 if it existed, else 0.
pub fn drop_queue(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        None => Reply::Int(0),
        Some(entry) if !matches!(entry.value, Value::Queue(_)) => ServerError::WRONG_TYPE.into(),
        Some(_) => {
            // Its timer entry, if any, is now stale and is dropped when due.
            state.keyspace.remove(key);
            Reply::Int(1)
        }
    }
}

/// ```text
/// QUEUE.INFO queue
/// ```
/// A map: waiting, active, admitted_total, expired_total, left_total,
/// joined_total, dropped_total, capacity (nil = none), rate and
/// rate_period_ms (nil = none), ttl_ms (0 = no expiry), closed.
pub fn info(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, _| {
        let field = |name: &'static str, value: Reply| (Reply::bulk_static(name.as_bytes()), value);
        let optional = |value: u64| {
            if value == 0 {
                Reply::Nil
            } else {
                Reply::Int(value as i64)
            }
        };
        Reply::Map(vec![
            field("waiting", Reply::Int(queue.line.waiting as i64)),
            field("active", Reply::Int(queue.active as i64)),
            field("admitted_total", Reply::Int(queue.admitted_total as i64)),
            field("expired_total", Reply::Int(queue.expired_total as i64)),
            field("left_total", Reply::Int(queue.left_total as i64)),
            field("joined_total", Reply::Int(queue.joined_total as i64)),
            field("dropped_total", Reply::Int(queue.dropped_total as i64)),
            field("capacity", optional(queue.capacity)),
            field("rate", optional(queue.rate_members)),
            field("rate_period_ms", optional(queue.rate_period_ms)),
            field("ttl_ms", Reply::Int(queue.ttl_ms as i64)),
            field("closed", Reply::Bool(queue.closed)),
        ])
    })
}

// ---------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------

/// Applies a logged queue effect (see `effect.rs`) through the same
/// functions the command or timer used, then puts the queue back in the
/// timer index. A member that does not stand where the effect says is a
/// [`ReplayError`]: the log and the state disagree.
pub fn replay(state: &mut State, effect: &Effect) -> Result<(), ReplayError> {
    let key = match effect.key() {
        Some(key) => key,
        None => return Err(ReplayError("not a queue effect".into())),
    };
    let Some(entry) = state.keyspace.get_mut(key) else {
        // Deleted before a snapshot reached it; its Delete follows.
        return Ok(());
    };
    let Value::Queue(queue) = &mut entry.value else {
        return Err(ReplayError(format!(
            "queue effect on key \"{}\", which holds a {}",
            key.escape_ascii(),
            entry.value.type_name()
        )));
    };
    let mismatch = |what: &str, member: &[u8]| {
        Err(ReplayError(format!(
            "{what}: member \"{}\" of queue \"{}\"",
            member.escape_ascii(),
            key.escape_ascii()
        )))
    };
    match effect {
        Effect::QueueConfig { settings, .. } => {
            if settings.rate_members > 0 && settings.rate_period_ms == 0 {
                return Err(ReplayError("queue rate without a period".into()));
            }
            queue.set_settings(*settings);
        }
        Effect::QueueJoin { member, .. } => {
            if queue.closed {
                return mismatch("join to a closed queue", member);
            }
            if member.len() > QUEUE_MEMBER_BYTES_LIMIT || queue.members.find(member).is_some() {
                return mismatch("join of a member already present or too long", member);
            }
            queue.join_member(member);
        }
        Effect::QueueAdmit {
            member,
            at_ms,
            deadline_ms,
            automatic,
            ..
        } => {
            let deadline = deadline_ms.unwrap_or(0);
            let front = queue.line.front();
            let Some((seq, slot)) =
                front.filter(|&(_, slot)| queue.members.bytes(slot) == &member[..])
            else {
                return mismatch("admission of a member not at the front of the line", member);
            };
            if deadline & ACTIVE_BIT != 0 {
                return mismatch("admission deadline out of range", member);
            }
            queue.admit_slot(seq, slot, *at_ms, deadline, *automatic);
        }
        Effect::QueueExpire { member, .. } => {
            let tag = queue
                .members
                .find(member)
                .map(|slot| (slot, queue.members.tag(slot)));
            match tag {
                Some((slot, tag)) if tag & ACTIVE_BIT != 0 && tag != ACTIVE_BIT => {
                    queue.expire_slot(tag & !ACTIVE_BIT, slot);
                }
                _ => return mismatch("expiry of a member without a deadline", member),
            }
        }
        Effect::QueueLeave { member, .. } => match queue.members.find(member) {
            Some(slot) => queue.leave_slot(slot),
            None => return mismatch("departure of a member not in the queue", member),
        },
        Effect::QueueTouch {
            member,
            deadline_ms,
            ..
        } => {
            let deadline = deadline_ms.unwrap_or(0);
            match queue.members.find(member) {
                Some(slot)
                    if queue.members.tag(slot) & ACTIVE_BIT != 0 && deadline & ACTIVE_BIT == 0 =>
                {
                    queue.touch_slot(slot, deadline);
                }
                _ => return mismatch("touch of a member that is not active", member),
            }
        }
        Effect::QueueClose { .. } => {
            // Recovery serves no client yet: what the close set aside is
            // freed here.
            let _ = queue.close_line();
        }
        _ => return Err(ReplayError("not a queue effect".into())),
    }
    replayed(state, key);
    Ok(())
}
