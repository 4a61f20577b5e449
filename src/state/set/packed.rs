//! The [`Set`] structure: members packed one after another in a byte arena,
//! found by a [`TagIndex`] of their offsets.
//!
//! Why this layout: a set of ids is mostly its members' bytes, and the
//! per-member costs of a general hash set (a heap allocation per member, a
//! pointer, a length, a cached hash) are larger than a 22-byte id. Here a
//! member costs its bytes, a one-byte header (two from 64 bytes on) and
//! the index's six bytes per bucket (a 16-bit tag and the member's 4-byte
//! arena offset), nothing else: 10⁶ members of 22 bytes take 23 MB of
//! arena and a 2²¹-bucket index (12.6 MB), about 36 bytes per member,
//! against about 72 in Redis 7.0 (measured: see `mod.rs`).
//!
//! - A record is `header` (a LEB128 varint of `length · 2 + dead`) and the
//!   member's bytes. Removal only marks the record dead; its bytes are
//!   counted in `dead_bytes`, and once dead bytes are more than half the
//!   arena the live records are copied into a fresh arena in the same
//!   order (`compact`), so a set that shrank gives its memory back.
//! - The arena grows by doubling (from an exact fit) up to
//!   [`MAPPED_ALLOCATION_BYTES_MIN`], then
//!   by 1/64 at a time: from there the allocator moves a mapping's page
//!   table entries instead of copying (`src/alloc.rs`), so small steps are
//!   cheap and leave at most 1.6 % of the arena unused.
//! - `blocks` holds, for each 1 KiB block of the arena after the first, the
//!   offset of the first record that starts in it (or none): the way in to
//!   the arena from any byte offset, for random draws and SSCAN cursors, at
//!   1 byte per 256 of arena (nothing for a set under 1 KiB; 0.09 bytes per
//!   22-byte member). Finding a record from a byte walks at most the
//!   records of one block (44 of 23 bytes), so a draw reads ~22 headers.
//! - A set of at most [`SMALL_MAX`] members has no index: finding a member
//!   scans its few records, and the set is its 96-byte header and its
//!   arena, grown to fit (a 3-member set of 22-byte ids: 96 + 92 bytes,
//!   against 288 with an index of 8 buckets and a rounded-up arena). The
//!   index is built when the set grows past it and dropped by a compaction
//!   that leaves it small.
//!
//! Random draws (SPOP, SRANDMEMBER) take a random byte of the arena and the
//! first live record at or after it, from the value's own generator
//! (xorshift64*, seeded from the set's seed): deterministic given the
//! value, and every member can be drawn, but not with equal chances (a
//! member after a run of dead records is likelier), like Redis's own
//! bucket-then-chain draw. The generator state is part of the encoding.

use std::hash::BuildHasher;

use crate::alloc::MAPPED_ALLOCATION_BYTES_MIN;
use crate::encoding::{put_bytes, sampled_average, DecodeError, Reader};
use crate::state::tagindex::TagIndex;

/// Log2 of the arena block size that `blocks` indexes.
const BLOCK_SHIFT: u32 = 10;
/// `blocks` entry of a block in which no record starts.
const NO_RECORD: u32 = u32::MAX;
/// Largest arena: offsets are `u32`, and `u32::MAX` marks no record.
pub const ARENA_BYTES_MAX: usize = u32::MAX as usize - 1;
/// Longest member the record header can describe (3 varint bytes).
pub const MEMBER_BYTES_LIMIT: usize = (1 << 20) - 1;
/// Most members of a set kept without an index.
const SMALL_MAX: usize = 16;
/// Dead bytes below which a set with an index is never compacted (copying a small arena
/// to save little is not worth it).
const COMPACT_DEAD_BYTES_MIN: usize = 256;

/// A set of byte strings. See the module documentation for the layout.
#[derive(Clone)]
pub struct Set {
    arena: Vec<u8>,
    dead_bytes: usize,
    blocks: Vec<u32>,
    /// Arena offsets of the live records, hashed by member bytes; `None`
    /// while the set has never held more than [`SMALL_MAX`] members since
    /// its last compaction (a scan of a few records is as fast, and a small
    /// set costs 72 bytes less).
    index: Option<Box<TagIndex>>,
    /// Live members.
    len: u32,
    hasher: foldhash::fast::FixedState,
    /// The seed `hasher` was made from, kept for serialization.
    seed: u64,
    /// Generator state (xorshift64*, never 0), serialized.
    rng: u64,
    /// Changes whenever records move (a compaction, or a decode that drops
    /// dead records): SSCAN cursors carry it. Serialized.
    epoch: u32,
}

// Every set key holds one: a small set is this header and its arena.
const _: () = assert!(std::mem::size_of::<Set>() == 96);

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Set").field("len", &self.len()).finish()
    }
}

/// Two sets are equal when they hold the same members, whatever their
/// layout and generator state.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().all(|member| other.contains(member))
    }
}

/// Bytes of the header of a record of `len` bytes.
fn header_len(len: usize) -> usize {
    match len * 2 + 1 {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        _ => 3,
    }
}

/// Bytes a record of a `len`-byte member takes in the arena.
pub fn record_bytes(len: usize) -> usize {
    header_len(len) + len
}

fn put_header(arena: &mut Vec<u8>, len: usize) {
    let mut value = len * 2;
    while value >= 0x80 {
        arena.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    arena.push(value as u8);
}

/// The record at `at`: its header length, member length and whether it is
/// dead.
#[inline]
fn read_header(arena: &[u8], at: usize) -> (usize, usize, bool) {
    let mut value = 0usize;
    let mut shift = 0;
    let mut used = 0;
    loop {
        let byte = arena[at + used];
        value |= usize::from(byte & 0x7f) << shift;
        used += 1;
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    (used, value >> 1, value & 1 == 1)
}

/// The member stored at `at`.
#[inline]
fn member_at(arena: &[u8], at: u32) -> &[u8] {
    let at = at as usize;
    let (head, len, _) = read_header(arena, at);
    &arena[at + head..at + head + len]
}

/// Notes in `blocks` that a record starts at `at`, the arena's end: the
/// entry of block `b` is `blocks[b - 1]`, block 0's first record being at 0.
fn note_block_start(blocks: &mut Vec<u32>, at: usize) {
    let block = at >> BLOCK_SHIFT;
    if block == 0 {
        return;
    }
    while blocks.len() < block - 1 {
        blocks.push(NO_RECORD);
    }
    if blocks.len() == block - 1 {
        blocks.push(at as u32);
    }
}

impl Set {
    pub fn new(seed: u64) -> Set {
        Set {
            arena: Vec::new(),
            dead_bytes: 0,
            blocks: Vec::new(),
            index: None,
            len: 0,
            hasher: foldhash::fast::FixedState::with_seed(seed),
            seed,
            rng: seed | 1,
            epoch: 0,
        }
    }

    /// Whether members are found through an index (else by a scan of the
    /// arena: a small set).
    pub fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the arena: live and dead records.
    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Arena bytes the live records take (what a compaction would leave).
    pub fn live_bytes(&self) -> usize {
        self.arena.len() - self.dead_bytes
    }

    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let arena = &self.arena;
        match &self.index {
            Some(index) => index.find(self.hash(member), |at| member_at(arena, at) == member),
            None => self
                .live_offsets()
                .find(|&at| member_at(arena, at) == member),
        }
    }

    /// The offsets of the live records, in order.
    fn live_offsets(&self) -> impl Iterator<Item = u32> + '_ {
        let arena = &self.arena;
        let mut at = 0usize;
        std::iter::from_fn(move || {
            while at < arena.len() {
                let (head, len, dead) = read_header(arena, at);
                let start = at;
                at += head + len;
                if !dead {
                    return Some(start as u32);
                }
            }
            None
        })
    }

    /// Builds the index of every live record (a set growing past
    /// [`SMALL_MAX`]).
    fn build_index(&mut self, capacity: usize) {
        let mut index = TagIndex::with_capacity(capacity);
        let (arena, hasher) = (&self.arena, &self.hasher);
        for at in self.live_offsets() {
            let hash = hasher.hash_one(member_at(arena, at));
            index.insert_unique(hash, at, |other| hasher.hash_one(member_at(arena, other)));
        }
        self.index = Some(Box::new(index));
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Starts loading the start of the index's probe for `member`, reading
    /// nothing (see `State::prefetch`). Changes nothing.
    pub fn prefetch(&self, member: &[u8]) {
        if let Some(index) = &self.index {
            index.prefetch(self.hash(member));
        }
    }

    /// Adds `member`; returns whether it was new. The caller checked that
    /// the record fits (`live_bytes() + record_bytes(len)` at most
    /// [`ARENA_BYTES_MAX`]) and the member's length.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.find(member).is_some() {
            return false;
        }
        let needed = record_bytes(member.len());
        if self.arena.len() + needed > ARENA_BYTES_MAX {
            self.compact();
        }
        assert!(
            self.arena.len() + needed <= ARENA_BYTES_MAX && member.len() <= MEMBER_BYTES_LIMIT,
            "set arena full"
        );
        self.grow_for(needed);
        let at = self.arena.len();
        self.note_record_start(at);
        put_header(&mut self.arena, member.len());
        self.arena.extend_from_slice(member);
        self.len += 1;
        if let Some(index) = &mut self.index {
            let (arena, hasher) = (&self.arena, &self.hasher);
            let hash = hasher.hash_one(member);
            index.insert_unique(hash, at as u32, |other| {
                hasher.hash_one(member_at(arena, other))
            });
        } else if self.len() > SMALL_MAX {
            self.build_index(self.len());
        }
        true
    }

    /// Makes room for `needed` more arena bytes: doubling while small, then
    /// in steps of 1/64 (see the module documentation).
    fn grow_for(&mut self, needed: usize) {
        let (len, capacity) = (self.arena.len(), self.arena.capacity());
        if capacity - len >= needed {
            return;
        }
        let step = if capacity < MAPPED_ALLOCATION_BYTES_MIN {
            capacity
        } else {
            capacity / 64
        };
        let target = (capacity + step).max(len + needed).min(ARENA_BYTES_MAX);
        self.arena.reserve_exact(target - len);
    }

    /// Notes that a record starts at `at`, the arena's end. Block 0 has no
    /// entry (its first record is at 0), so a small set's `blocks` is empty.
    fn note_record_start(&mut self, at: usize) {
        note_block_start(&mut self.blocks, at);
    }

    /// The first record start in `block` (`NO_RECORD` if none).
    fn block_start(&self, block: usize) -> u32 {
        match block {
            0 => 0,
            _ => self.blocks[block - 1],
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let hash = self.hash(member);
        let arena = &self.arena;
        let found = match &mut self.index {
            Some(index) => index.remove(hash, |at| member_at(arena, at) == member),
            None => self.find(member),
        };
        let Some(at) = found else {
            return false;
        };
        self.len -= 1;
        let at = at as usize;
        let (head, len, _) = read_header(&self.arena, at);
        // The dead bit is the header's lowest bit, in its first byte.
        self.arena[at] |= 1;
        self.dead_bytes += head + len;
        self.maybe_compact();
        true
    }

    fn maybe_compact(&mut self) {
        if self.is_empty() {
            // The key goes too; drop the memory at once anyway.
            *self = Set {
                rng: self.rng,
                epoch: self.epoch.wrapping_add(1),
                ..Set::new(self.seed)
            };
            return;
        }
        let worth = self.dead_bytes >= COMPACT_DEAD_BYTES_MIN || self.index.is_none();
        if worth && self.dead_bytes * 2 > self.arena.len() {
            self.compact();
        }
    }

    /// Copies the live records into a fresh arena, in order, and rebuilds
    /// the index and blocks. O(n), after at least n/2 removals.
    fn compact(&mut self) {
        let mut fresh = Set::new(self.seed);
        fresh.arena.reserve_exact(self.live_bytes());
        if self.len() > SMALL_MAX {
            fresh.index = Some(Box::new(TagIndex::with_capacity(self.len())));
        }
        for member in self.iter() {
            fresh.insert(member);
        }
        fresh.rng = self.rng;
        fresh.epoch = self.epoch.wrapping_add(1);
        *self = fresh;
    }

    /// The live members, in arena order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let arena = &self.arena;
        let mut at = 0usize;
        std::iter::from_fn(move || {
            while at < arena.len() {
                let (head, len, dead) = read_header(arena, at);
                let start = at + head;
                at = start + len;
                if !dead {
                    return Some(&arena[start..start + len]);
                }
            }
            None
        })
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `[0, bound)` from the generator (`bound` > 0).
    pub fn random_below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_random()) * u128::from(bound)) >> 64) as u64
    }

    /// The first record start at or after byte `at` (the arena's length if
    /// none).
    fn boundary_at_or_after(&self, at: usize) -> usize {
        if at >= self.arena.len() {
            return self.arena.len();
        }
        // Blocks past the last record's start (which the last record spans)
        // have no entry.
        let mut block = (at >> BLOCK_SHIFT).min(self.blocks.len());
        // Block 0 always starts with a record at 0, which is <= at.
        let mut start = loop {
            let start = self.block_start(block);
            if start != NO_RECORD && start as usize <= at {
                break start as usize;
            }
            block -= 1;
        };
        while start < at {
            let (head, len, _) = read_header(&self.arena, start);
            start += head + len;
        }
        start
    }

    /// The first live record at or after the record start `at`, wrapping
    /// around to the arena's start; `None` if the set is empty.
    fn live_from(&self, mut at: usize) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        loop {
            if at >= self.arena.len() {
                at = 0;
            }
            let (head, len, dead) = read_header(&self.arena, at);
            if !dead {
                return Some(at as u32);
            }
            at += head + len;
        }
    }

    /// A random member's arena offset (see the module documentation).
    pub fn random_offset(&mut self) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        let byte = self.random_below(self.arena.len() as u64) as usize;
        let start = self.boundary_at_or_after(byte);
        self.live_from(start)
    }

    /// The member at an offset from [`Set::random_offset`] or
    /// [`Set::offsets`].
    pub fn member(&self, at: u32) -> &[u8] {
        member_at(&self.arena, at)
    }

    /// The arena offsets of every live member, in order.
    pub fn offsets(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.live_offsets());
        out
    }

    /// One SSCAN step: from `cursor` (0 = start), calls `visit` on live
    /// members until `count` records were visited; returns the next cursor
    /// (0 when done). A cursor holds the layout's epoch in its high 32 bits
    /// and an arena offset in its low 32: after a compaction, or a decode
    /// (a restart), an old cursor starts over, which may repeat members but
    /// never misses one, as SCAN promises.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        let epoch = u64::from(self.epoch);
        let mut at = if cursor >> 32 == epoch {
            self.boundary_at_or_after((cursor & 0xffff_ffff) as usize)
        } else {
            0
        };
        let mut visited = 0;
        while at < self.arena.len() && visited < count {
            let (head, len, dead) = read_header(&self.arena, at);
            if !dead {
                visit(&self.arena[at + head..at + head + len]);
                visited += 1;
            }
            at += head + len;
        }
        if at >= self.arena.len() {
            0
        } else {
            // `at` > 0 here: at least one record was passed.
            epoch << 32 | at as u64
        }
    }

    /// About how many bytes [`Set::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = sampled_average(self.iter().map(<[u8]>::len));
        24 + self.len() * (4 + average)
    }

    /// Serializes the set: seed, generator state, layout epoch, count and
    /// members in arena order (the `set` rule in `effect.rs`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.rng.to_le_bytes());
        // The epoch of the layout decoding gives: the same records in the
        // same order, so the same layout unless dead records are dropped.
        let epoch = self.epoch.wrapping_add(u32::from(self.dead_bytes > 0));
        out.extend_from_slice(&epoch.to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for member in self.iter() {
            put_bytes(out, member);
        }
    }

    /// Rebuilds a set from [`Set::encode`]'s bytes. Refuses a zero
    /// generator state, repeated or overlong members and a count the bytes
    /// cannot hold, before sizing anything by it.
    pub fn decode(input: &mut Reader<'_>) -> Result<Set, DecodeError> {
        let seed = input.u64()?;
        let rng = input.u64()?;
        if rng == 0 {
            return Err(DecodeError("set with a zero generator state".into()));
        }
        let epoch = input.u32()?;
        let count = input.u64()?;
        // Each member takes at least its 4-byte length.
        let left = input.remaining();
        if count.saturating_mul(4) > left as u64 {
            return Err(DecodeError(format!("set count {count} runs past the end")));
        }
        let mut set = Set::new(seed);
        if count as usize > SMALL_MAX {
            set.index = Some(Box::new(TagIndex::with_capacity(count as usize)));
        }
        for _ in 0..count {
            let member = input.slice()?;
            if member.len() > MEMBER_BYTES_LIMIT
                || set.live_bytes() + record_bytes(member.len()) > ARENA_BYTES_MAX
            {
                return Err(DecodeError("set member too long or set too large".into()));
            }
            if !set.insert(member) {
                return Err(DecodeError("set member repeated".into()));
            }
        }
        set.rng = rng;
        set.epoch = epoch;
        Ok(set)
    }

    /// Checks the whole structure; for tests: records parse to the arena's
    /// end, dead bytes add up, every live record is indexed, blocks name
    /// each block's first record.
    pub fn check_invariants(&self) {
        assert_ne!(self.rng, 0, "zero generator state");
        let mut at = 0usize;
        let (mut live, mut dead_bytes) = (0usize, 0usize);
        let mut blocks = Vec::new();
        while at < self.arena.len() {
            note_block_start(&mut blocks, at);
            let (head, len, dead) = read_header(&self.arena, at);
            assert_eq!(head, header_len(len), "header not minimal");
            if dead {
                dead_bytes += head + len;
            } else {
                live += 1;
                let member = &self.arena[at + head..at + head + len];
                assert_eq!(self.find(member), Some(at as u32), "member not indexed");
            }
            at += head + len;
        }
        assert_eq!(at, self.arena.len(), "record runs past the arena");
        assert_eq!(live, self.len(), "live count");
        assert_eq!(dead_bytes, self.dead_bytes, "dead bytes");
        assert_eq!(blocks, self.blocks, "block starts");
        if let Some(index) = &self.index {
            assert_eq!(index.len(), self.len(), "index length");
            #[cfg(test)]
            {
                let arena = &self.arena;
                index.check_invariants(|at| self.hasher.hash_one(member_at(arena, at)));
            }
        } else {
            assert!(self.len() <= SMALL_MAX, "a large set without an index");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> u64 {
        std::env::var("USHER_PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(64)
    }

    #[test]
    fn headers_round_trip_at_every_width() {
        for len in [0usize, 1, 63, 64, 8191, 8192, MEMBER_BYTES_LIMIT] {
            let mut arena = Vec::new();
            put_header(&mut arena, len);
            assert_eq!(arena.len(), header_len(len), "{len}");
            assert_eq!(read_header(&arena, 0), (arena.len(), len, false));
        }
    }

    #[test]
    fn matches_a_model_under_churn_with_long_members_and_compactions() {
        churn(500, cases() * 60);
    }

    /// Sets that cross [`SMALL_MAX`] both ways, with and without an index.
    #[test]
    fn small_sets_match_a_model_as_they_grow_and_shrink() {
        churn(SMALL_MAX as u64 + 8, cases() * 30);
    }

    fn churn(ids: u64, steps: u64) {
        let mut model = std::collections::HashSet::new();
        let mut set = Set::new(7);
        let mut x = 0x1234_5678u64;
        for step in 0..steps {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = (x >> 33) % ids;
            // Some members long enough for two-byte headers and records
            // that span blocks.
            let member = if id.is_multiple_of(7) {
                vec![id as u8; 5000 + id as usize]
            } else {
                format!("member-{id}").into_bytes()
            };
            if (x >> 20).is_multiple_of(3) {
                assert_eq!(set.remove(&member), model.remove(&member));
            } else {
                assert_eq!(set.insert(&member), model.insert(member.clone()));
            }
            if step.is_multiple_of(97) {
                set.check_invariants();
            }
            if let Some(at) = set.random_offset() {
                assert!(model.contains(set.member(at)));
            }
        }
        set.check_invariants();
        let members: std::collections::HashSet<Vec<u8>> = set.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(members, model);
    }

    #[test]
    fn scan_visits_every_member_present_throughout() {
        let mut set = Set::new(3);
        for i in 0..3000 {
            set.insert(format!("m{i}").as_bytes());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = set.scan(cursor, 100, |member| {
                seen.insert(member.to_vec());
            });
            // Removals between calls (some compacting) never hide members
            // that stay.
            for i in 0..60 {
                set.remove(format!("m{}", 1000 + round * 60 + i).as_bytes());
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for member in set.iter() {
            assert!(seen.contains(member));
        }
    }
    #[test]
    fn a_decoded_set_keeps_cursors_only_when_its_layout_is_the_same() {
        let mut set = Set::new(5);
        for i in 0..2000 {
            set.insert(format!("member-{i}").as_bytes());
        }
        let cursor = set.scan(0, 100, |_| {});
        let decode = |set: &Set| {
            let mut bytes = Vec::new();
            set.encode(&mut bytes);
            let decoded = Set::decode(&mut Reader::new(&bytes)).expect("decodes");
            let mut again = Vec::new();
            decoded.encode(&mut again);
            assert_eq!(bytes, again, "re-encodes differently");
            decoded
        };
        // No dead records: the same layout, the cursor goes on.
        let same = decode(&set);
        assert_eq!(same.scan(cursor, 1, |_| {}), set.scan(cursor, 1, |_| {}));
        // Dead records before the cursor: the decoded layout differs, so
        // the cursor starts over (first member again) instead of skipping.
        set.remove(b"member-3");
        let moved = decode(&set);
        let mut first = Vec::new();
        moved.scan(cursor, 1, |member| first.push(member.to_vec()));
        assert_eq!(first, vec![b"member-0".to_vec()]);
    }
}
