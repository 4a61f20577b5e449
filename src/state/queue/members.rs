//! A queue's members and their order: [`Members`] (ids interned in arena
//! chunks, a 12-byte [`Slot`] each, a hash index of slot numbers),
//! [`WaitLine`] (arrival order with O(log n) positions) and
//! [`AdmissionHistory`] (the observed admission rate).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use crate::state::tagindex::TagIndex;

/// Hard cap on a member id in a queue: an id must fit in one arena chunk.
pub const QUEUE_MEMBER_BYTES_LIMIT: usize = 16 * 1024;

pub(super) const CHUNK_BYTES: usize = 1 << 16;
pub(super) const NIL: u32 = u32::MAX;
/// Set in a slot's tag while the member is active.
pub(super) const ACTIVE_BIT: u64 = 1 << 63;
/// Sequence numbers per Fenwick block.
pub(super) const BLOCK: u64 = 64;
/// Seconds of admissions kept to estimate the observed rate.
pub(super) const HISTORY_SECONDS: usize = 60;

// ---------------------------------------------------------------------------
// Members: interned ids, slots and the hash index
// ---------------------------------------------------------------------------

/// One member: where its id lies in the arena and what it is doing. Three
/// `u32`s rather than `u32 + u64` so the record is 12 bytes, not 16.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    /// `chunk << 16 | position`; `NIL` for a free slot.
    pub(super) offset: u32,
    pub(super) tag_low: u32,
    pub(super) tag_high: u32,
}

impl Slot {
    /// Waiting: the arrival sequence number. Active: `ACTIVE_BIT |
    /// deadline_ms` (deadline 0 = none). Free: the next free slot.
    pub(super) fn tag(&self) -> u64 {
        u64::from(self.tag_high) << 32 | u64::from(self.tag_low)
    }

    pub(super) fn set_tag(&mut self, tag: u64) {
        self.tag_low = tag as u32;
        self.tag_high = (tag >> 32) as u32;
    }
}

/// Member ids and their slots. See the module documentation.
#[derive(Clone)]
pub(super) struct Members {
    pub(super) chunks: Vec<Option<Box<[u8]>>>,
    /// Bytes written into each chunk.
    pub(super) chunk_used: Vec<u32>,
    /// Bytes of each chunk that belong to live members.
    pub(super) chunk_live: Vec<u32>,
    pub(super) free_chunks: Vec<u32>,
    /// The chunk new ids go to, or `NIL`.
    pub(super) tail: u32,
    pub(super) slots: Vec<Slot>,
    pub(super) free_slot: u32,
    pub(super) live: usize,
    pub(super) index: TagIndex,
    pub(super) hasher: foldhash::fast::FixedState,
}

pub(super) fn split_offset(offset: u32) -> (usize, usize) {
    ((offset >> 16) as usize, (offset & 0xffff) as usize)
}

/// Reads a LEB128 length; returns it and the header size.
pub(super) fn read_length(data: &[u8]) -> (usize, usize) {
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

pub(super) fn write_length(out: &mut [u8], mut value: usize) -> usize {
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

pub(super) fn length_header(value: usize) -> usize {
    let mut size = 1;
    let mut rest = value >> 7;
    while rest != 0 {
        size += 1;
        rest >>= 7;
    }
    size
}

impl Members {
    pub(super) fn new(seed: u64) -> Members {
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

    pub(super) fn bytes_at(&self, offset: u32) -> &[u8] {
        let (chunk, position) = split_offset(offset);
        let data = self.chunks[chunk]
            .as_deref()
            .expect("slot points into a freed chunk");
        let (length, header) = read_length(&data[position..]);
        &data[position + header..position + header + length]
    }

    pub(super) fn bytes(&self, slot: u32) -> &[u8] {
        self.bytes_at(self.slots[slot as usize].offset)
    }

    pub(super) fn tag(&self, slot: u32) -> u64 {
        self.slots[slot as usize].tag()
    }

    pub(super) fn set_tag(&mut self, slot: u32, tag: u64) {
        self.slots[slot as usize].set_tag(tag);
    }

    pub(super) fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index.find(hash, |slot| self.bytes(slot) == member)
    }

    /// Starts loading the start of [`Members::find`]'s probe for `member`,
    /// reading nothing. Changes nothing.
    pub(super) fn prefetch(&self, member: &[u8]) {
        self.index.prefetch(self.hasher.hash_one(member));
    }

    /// Copies an id into the tail chunk, opening a new one when it is full.
    pub(super) fn append(&mut self, member: &[u8]) -> u32 {
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
    pub(super) fn insert(&mut self, member: &[u8], tag: u64) -> u32 {
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
    pub(super) fn remove(&mut self, slot: u32) {
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
    pub(super) fn evacuate(&mut self, chunk: usize) {
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
    pub(super) fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, record)| record.offset != NIL)
            .map(|(slot, _)| slot as u32)
    }

    pub(super) fn check_invariants(&self) {
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
pub(super) fn entry_bytes(chunks: &[Option<Box<[u8]>>], offset: u32) -> &[u8] {
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
pub(super) struct WaitLine {
    /// Sequence number of `order[0]`; always a multiple of [`BLOCK`].
    pub(super) base: u64,
    pub(super) order: VecDeque<u32>,
    /// Waiting members per block of [`BLOCK`] sequence numbers.
    pub(super) block_live: VecDeque<u8>,
    /// Fenwick tree over `block_live`.
    pub(super) fenwick: Vec<u32>,
    /// No waiting member has a sequence number below this.
    pub(super) head: u64,
    pub(super) waiting: usize,
}

impl WaitLine {
    pub(super) fn new() -> WaitLine {
        WaitLine {
            base: 0,
            order: VecDeque::new(),
            block_live: VecDeque::new(),
            fenwick: Vec::new(),
            head: 0,
            waiting: 0,
        }
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.base + self.order.len() as u64
    }

    pub(super) fn fenwick_add(&mut self, block: usize, delta: i64) {
        let mut index = block;
        while index < self.fenwick.len() {
            self.fenwick[index] = (i64::from(self.fenwick[index]) + delta) as u32;
            index |= index + 1;
        }
    }

    /// Waiting members in blocks `[0, block)`.
    pub(super) fn fenwick_prefix(&self, block: usize) -> u64 {
        let mut sum = 0u64;
        let mut index = block;
        while index > 0 {
            sum += u64::from(self.fenwick[index - 1]);
            // Node `index - 1` covers blocks `[(index - 1) & index, index)`.
            index &= index - 1;
        }
        sum
    }

    pub(super) fn rebuild_fenwick(&mut self) {
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
    pub(super) fn push(&mut self, slot: u32) -> u64 {
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

    pub(super) fn slot_at(&self, seq: u64) -> u32 {
        self.order[(seq - self.base) as usize]
    }

    /// 1-based position of a waiting sequence number.
    pub(super) fn position(&self, seq: u64) -> u64 {
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
    pub(super) fn front(&mut self) -> Option<(u64, u32)> {
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
    pub(super) fn remove(&mut self, seq: u64) {
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
    pub(super) fn drain_front(&mut self) {
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
    pub(super) fn needs_renumbering(&self) -> bool {
        let gaps = self.order.len() - self.waiting;
        gaps > 4096 && gaps > 2 * self.waiting
    }

    /// Rebuilds the line without gaps; `renumbered(slot, seq)` is called for
    /// every waiting member with its new sequence number (order kept).
    pub(super) fn renumber(&mut self, renumbered: &mut dyn FnMut(u32, u64)) {
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
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().copied().filter(|&slot| slot != NIL)
    }

    pub(super) fn check_invariants(&self) {
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
pub(super) struct AdmissionHistory {
    pub(super) seconds: [u64; HISTORY_SECONDS],
    pub(super) counts: [u32; HISTORY_SECONDS],
}

impl AdmissionHistory {
    pub(super) fn new() -> AdmissionHistory {
        AdmissionHistory {
            seconds: [u64::MAX; HISTORY_SECONDS],
            counts: [0; HISTORY_SECONDS],
        }
    }

    pub(super) fn record(&mut self, now_ms: u64) {
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
    pub(super) fn observed(&self, now_ms: u64) -> Option<(u64, u64)> {
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
