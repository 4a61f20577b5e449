//! The [`Hash`] structure: a hash's fields and values packed in one byte
//! arena, with an index once it grows (see the module documentation of
//! [`super`]), and its value encoding.

use std::hash::BuildHasher;

use crate::encoding::{put_bytes, sampled_average, DecodeError, Reader};
use crate::state::keymap::prefetch_read;
use crate::state::tagindex::TagIndex;

/// Most fields a hash keeps without an index: found by a walk of its
/// entries, as Redis walks a listpack.
pub const SMALL_FIELDS_MAX: usize = 32;
/// Most arena bytes a hash keeps without an index.
pub const SMALL_BYTES_MAX: usize = 1024;
/// Dead arena bytes an indexed hash tolerates before it compacts (and at
/// most as many as its live bytes).
const DEAD_BYTES_MIN: usize = 4096;
/// Longest arena: entries are addressed by `u32` offsets.
pub const ARENA_BYTES_MAX: usize = u32::MAX as usize;

/// Entry kinds, the low 3 bits of an entry's first byte.
const KIND_BYTES: u8 = 0;
const KIND_I8: u8 = 1;
const KIND_I16: u8 = 2;
const KIND_I32: u8 = 3;
const KIND_I64: u8 = 4;
/// The field length in an entry's first byte that says a varint follows.
const FIELD_LEN_ESCAPE: usize = 31;

/// A field's value: a string that is the canonical decimal form of an
/// integer is stored as the integer (as `Value::Int` for strings), so
/// HINCRBY neither parses nor formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> FieldValue<'a> {
    /// A string as it is stored: an integer when it is one in canonical
    /// form.
    pub fn from_bytes(bytes: &'a [u8]) -> FieldValue<'a> {
        match usher_protocol::number::parse_i64(bytes) {
            Some(number) => FieldValue::Int(number),
            None => FieldValue::Bytes(bytes),
        }
    }

    /// The value's length as a string (HSTRLEN).
    pub fn text_len(&self) -> usize {
        match self {
            FieldValue::Bytes(bytes) => bytes.len(),
            FieldValue::Int(number) => {
                let digits = number.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1;
                digits + usize::from(*number < 0)
            }
        }
    }

    fn kind(&self) -> u8 {
        match *self {
            FieldValue::Bytes(_) => KIND_BYTES,
            FieldValue::Int(n) if i8::try_from(n).is_ok() => KIND_I8,
            FieldValue::Int(n) if i16::try_from(n).is_ok() => KIND_I16,
            FieldValue::Int(n) if i32::try_from(n).is_ok() => KIND_I32,
            FieldValue::Int(_) => KIND_I64,
        }
    }

    /// Bytes the value takes in an entry.
    fn encoded_len(&self) -> usize {
        match self {
            FieldValue::Bytes(bytes) => varint_len(bytes.len()) + bytes.len(),
            FieldValue::Int(_) => int_width(self.kind()),
        }
    }
}

fn int_width(kind: u8) -> usize {
    match kind {
        KIND_I8 => 1,
        KIND_I16 => 2,
        KIND_I32 => 4,
        _ => 8,
    }
}

fn varint_len(mut value: usize) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint the arena holds (written by [`put_varint`]).
fn read_varint(bytes: &[u8], at: &mut usize) -> usize {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// Where an entry's parts lie in the arena.
#[derive(Clone, Copy, Debug)]
struct Entry {
    field_start: usize,
    field_end: usize,
    kind: u8,
    /// The value's payload (after its length for strings).
    value_start: usize,
    end: usize,
}

fn entry_at(arena: &[u8], offset: usize) -> Entry {
    let head = arena[offset];
    let kind = head & 7;
    let mut at = offset + 1;
    let mut field_len = usize::from(head >> 3);
    if field_len == FIELD_LEN_ESCAPE {
        field_len = read_varint(arena, &mut at);
    }
    let field_start = at;
    let field_end = at + field_len;
    let mut value_start = field_end;
    let end = if kind == KIND_BYTES {
        let len = read_varint(arena, &mut value_start);
        value_start + len
    } else {
        value_start + int_width(kind)
    };
    Entry {
        field_start,
        field_end,
        kind,
        value_start,
        end,
    }
}

fn value_of<'a>(arena: &'a [u8], entry: &Entry) -> FieldValue<'a> {
    let payload = &arena[entry.value_start..entry.end];
    match entry.kind {
        KIND_BYTES => FieldValue::Bytes(payload),
        _ => {
            // Sign-extend the little-endian payload.
            let mut buffer = [if payload[payload.len() - 1] & 0x80 != 0 {
                0xff
            } else {
                0
            }; 8];
            buffer[..payload.len()].copy_from_slice(payload);
            FieldValue::Int(i64::from_le_bytes(buffer))
        }
    }
}

fn field_encoded_len(field: &[u8]) -> usize {
    if field.len() < FIELD_LEN_ESCAPE {
        1 + field.len()
    } else {
        1 + varint_len(field.len()) + field.len()
    }
}

fn put_entry(out: &mut Vec<u8>, field: &[u8], value: FieldValue<'_>) {
    // Offsets are `u32`: callers check ARENA_BYTES_MAX before writing.
    assert!(out.len() < ARENA_BYTES_MAX, "hash arena past 4 GiB");
    let kind = value.kind();
    if field.len() < FIELD_LEN_ESCAPE {
        out.push(kind | (field.len() as u8) << 3);
    } else {
        out.push(kind | (FIELD_LEN_ESCAPE as u8) << 3);
        put_varint(out, field.len());
    }
    out.extend_from_slice(field);
    put_value(out, value);
}

fn put_value(out: &mut Vec<u8>, value: FieldValue<'_>) {
    match value {
        FieldValue::Bytes(bytes) => {
            put_varint(out, bytes.len());
            out.extend_from_slice(bytes);
        }
        FieldValue::Int(number) => {
            let width = int_width(value.kind());
            out.extend_from_slice(&number.to_le_bytes()[..width]);
        }
    }
}

/// Grows `arena` for `additional` bytes by an eighth at least, not by
/// doubling: an arena of 10⁶ fields would otherwise carry up to 25 MB it
/// does not use. Large arenas are mappings that grow by `mremap`
/// (`src/alloc.rs`), so growing often costs no copying.
fn reserve<T>(vec: &mut Vec<T>, additional: usize) {
    if vec.capacity() - vec.len() < additional {
        vec.reserve_exact(additional.max(vec.len() / 8).max(4));
    }
}

/// What an indexed hash adds: slots and the index over them.
#[derive(Clone)]
struct Table {
    /// The arena offset of each live entry; a field's slot is its place
    /// here. A removal moves the last slot into the hole.
    slots: Vec<u32>,
    /// Slots, hashed by field bytes.
    index: TagIndex,
    hasher: foldhash::fast::FixedState,
    /// Arena bytes no slot points at (removed or moved entries).
    dead: usize,
}

/// Arena bytes before the first entry: the seed (8 bytes) and, while the
/// hash has no index, its field count (1 byte).
const HEADER: usize = 9;

/// A hash: fields and their values. See the module documentation.
///
/// 32 bytes, kept inside the key's `Value` rather than boxed: a small hash
/// is one allocation (its arena), which saves a 64-byte chunk and a
/// pointer to chase per hash.
#[derive(Clone)]
pub struct Hash {
    /// The header, then the entries, packed: a head byte (kind in the low
    /// 3 bits, the field's length above them, 31 meaning a varint length
    /// follows), the field, then the value (a varint length and bytes, or
    /// an integer of 1, 2, 4 or 8 bytes). The seed in the header keys the
    /// index's hash and HRANDFIELD's draws and is kept in the value
    /// encoding.
    arena: Vec<u8>,
    /// Present once the hash outgrew [`SMALL_FIELDS_MAX`] or
    /// [`SMALL_BYTES_MAX`]; entries are then never moved by a removal.
    table: Option<Box<Table>>,
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hash").field("len", &self.len()).finish()
    }
}

/// Two hashes are equal when they hold the same fields with the same
/// values, whatever their layout.
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(field, value)| other.get(field) == Some(value))
    }
}

/// Why an in-place increment did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum IncrError {
    NotInteger,
    Overflow,
}

impl Hash {
    pub fn new(seed: u64) -> Hash {
        let mut arena = Vec::with_capacity(HEADER);
        arena.extend_from_slice(&seed.to_le_bytes());
        arena.push(0);
        Hash { arena, table: None }
    }

    pub fn len(&self) -> usize {
        match &self.table {
            None => usize::from(self.arena[HEADER - 1]),
            Some(table) => table.slots.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn seed(&self) -> u64 {
        let mut seed = [0; 8];
        seed.copy_from_slice(&self.arena[..8]);
        u64::from_le_bytes(seed)
    }

    /// Bytes the arena would take after one more entry of `field` and
    /// `value`: what the caller checks against [`ARENA_BYTES_MAX`].
    pub fn arena_len_with(&self, field: &[u8], value: FieldValue<'_>) -> usize {
        self.arena.len() + field_encoded_len(field) + value.encoded_len()
    }

    /// Starts loading what a lookup of `field` reads first (see
    /// `State::prefetch`): the index's probe, or the start of a small
    /// hash's arena, which lives apart from the key's entry.
    pub fn prefetch(&self, field: &[u8]) {
        match &self.table {
            Some(table) => table.index.prefetch(table.hasher.hash_one(field)),
            None => prefetch_read(self.arena.as_ptr().cast::<[u8; 128]>()),
        }
    }

    /// The offset of `field`'s entry and, when indexed, its slot.
    fn find(&self, field: &[u8]) -> Option<(usize, u32)> {
        match &self.table {
            None => self.walk().find_map(|(offset, entry)| {
                (&self.arena[entry.field_start..entry.field_end] == field).then_some((offset, 0))
            }),
            Some(table) => {
                let arena = &self.arena;
                let slot = table.index.find(table.hasher.hash_one(field), |slot| {
                    let entry = entry_at(arena, table.slots[slot as usize] as usize);
                    &arena[entry.field_start..entry.field_end] == field
                })?;
                Some((table.slots[slot as usize] as usize, slot))
            }
        }
    }

    /// Every entry in arena order (unindexed hashes only: an indexed
    /// arena holds dead entries).
    fn walk(&self) -> impl Iterator<Item = (usize, Entry)> + '_ {
        let mut offset = HEADER;
        std::iter::from_fn(move || {
            if offset >= self.arena.len() {
                return None;
            }
            let entry = entry_at(&self.arena, offset);
            let at = offset;
            offset = entry.end;
            Some((at, entry))
        })
    }

    pub fn get(&self, field: &[u8]) -> Option<FieldValue<'_>> {
        let (offset, _) = self.find(field)?;
        Some(value_of(&self.arena, &entry_at(&self.arena, offset)))
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(field).is_some()
    }

    /// The field and value at `offset`.
    fn pair_at(&self, offset: usize) -> (&[u8], FieldValue<'_>) {
        let entry = entry_at(&self.arena, offset);
        (
            &self.arena[entry.field_start..entry.field_end],
            value_of(&self.arena, &entry),
        )
    }

    /// Every field and value: in arena order, or in slot order once
    /// indexed.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], FieldValue<'_>)> + '_> {
        match &self.table {
            None => Box::new(self.walk().map(|(offset, _)| self.pair_at(offset))),
            Some(table) => Box::new(
                table
                    .slots
                    .iter()
                    .map(|&offset| self.pair_at(offset as usize)),
            ),
        }
    }

    /// The field and value at position `position` (`< len`): the walk's
    /// or slot order, the order [`Hash::iter`] gives.
    pub fn at(&self, position: usize) -> (&[u8], FieldValue<'_>) {
        match &self.table {
            None => self.iter().nth(position).expect("position below len"),
            Some(table) => self.pair_at(table.slots[position] as usize),
        }
    }

    /// Whether positions are stable under insertion (an indexed hash adds
    /// at the end and fills a hole with the last slot): what HSCAN's cursor
    /// relies on. An unindexed hash is answered in one call.
    pub fn is_indexed(&self) -> bool {
        self.table.is_some()
    }

    /// Sets `field` to `value`; returns whether the field is new. The
    /// caller has checked the limits. Rewrites the value in place when its
    /// encoding keeps its size.
    pub fn set(&mut self, field: &[u8], value: FieldValue<'_>) -> bool {
        match self.find(field) {
            Some((offset, slot)) => {
                self.replace(offset, slot, field, value);
                false
            }
            None => {
                self.insert_new(field, value);
                true
            }
        }
    }

    fn replace(&mut self, offset: usize, slot: u32, field: &[u8], value: FieldValue<'_>) {
        let entry = entry_at(&self.arena, offset);
        // In place when the payload fits: an integer into an integer entry
        // at least as wide (the entry keeps its width), a string into a
        // string entry of the same length.
        match value {
            FieldValue::Int(number)
                if entry.kind != KIND_BYTES && int_width(value.kind()) <= int_width(entry.kind) =>
            {
                let width = int_width(entry.kind);
                self.arena[entry.value_start..entry.end]
                    .copy_from_slice(&number.to_le_bytes()[..width]);
                return;
            }
            FieldValue::Bytes(bytes)
                if entry.kind == KIND_BYTES && entry.end - entry.value_start == bytes.len() =>
            {
                self.arena[entry.value_start..entry.end].copy_from_slice(bytes);
                return;
            }
            _ => {}
        }
        match &mut self.table {
            None => {
                let mut fresh = Vec::with_capacity(field_encoded_len(field) + value.encoded_len());
                put_entry(&mut fresh, field, value);
                self.arena.splice(offset..entry.end, fresh);
            }
            Some(table) => {
                // Entries do not move (slots point at them): the new one
                // goes at the end, the old one is dead.
                table.dead += entry.end - offset;
                let at = self.arena.len();
                reserve(
                    &mut self.arena,
                    field_encoded_len(field) + value.encoded_len(),
                );
                put_entry(&mut self.arena, field, value);
                table.slots[slot as usize] = at as u32;
                self.maybe_compact();
            }
        }
    }

    fn insert_new(&mut self, field: &[u8], value: FieldValue<'_>) {
        let at = self.arena.len();
        reserve(
            &mut self.arena,
            field_encoded_len(field) + value.encoded_len(),
        );
        put_entry(&mut self.arena, field, value);
        match &mut self.table {
            Some(table) => {
                let slot = table.slots.len() as u32;
                reserve(&mut table.slots, 1);
                table.slots.push(at as u32);
                let hash = table.hasher.hash_one(field);
                let (arena, slots, hasher) = (&self.arena, &table.slots, &table.hasher);
                table
                    .index
                    .insert_unique(hash, slot, |slot| slot_hash(arena, slots, hasher, slot));
            }
            None => {
                // At most SMALL_FIELDS_MAX + 1: the count fits its byte.
                self.arena[HEADER - 1] += 1;
                if self.len() > SMALL_FIELDS_MAX || self.arena.len() > SMALL_BYTES_MAX {
                    self.build_table();
                }
            }
        }
    }

    /// Indexes the arena's entries (all live: the hash was unindexed).
    fn build_table(&mut self) {
        let offsets: Vec<u32> = self.walk().map(|(offset, _)| offset as u32).collect();
        let hasher = foldhash::fast::FixedState::with_seed(self.seed());
        let mut index = TagIndex::with_capacity(offsets.len());
        for (slot, &offset) in offsets.iter().enumerate() {
            let (field, _) = self.pair_at(offset as usize);
            let arena = &self.arena;
            index.insert_unique(hasher.hash_one(field), slot as u32, |slot| {
                slot_hash(arena, &offsets, &hasher, slot)
            });
        }
        self.table = Some(Box::new(Table {
            slots: offsets,
            index,
            hasher,
            dead: 0,
        }));
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(table) = &mut self.table else {
            let Some((offset, _)) = self.find(field) else {
                return false;
            };
            let end = entry_at(&self.arena, offset).end;
            self.arena.drain(offset..end);
            self.arena[HEADER - 1] -= 1;
            return true;
        };
        let arena = &self.arena;
        let hash = table.hasher.hash_one(field);
        let slots = &table.slots;
        let Some(slot) = table.index.remove(hash, |slot| {
            let entry = entry_at(arena, slots[slot as usize] as usize);
            &arena[entry.field_start..entry.field_end] == field
        }) else {
            return false;
        };
        let offset = table.slots[slot as usize] as usize;
        table.dead += entry_at(arena, offset).end - offset;
        let last = table.slots.len() as u32 - 1;
        if slot != last {
            // The last slot fills the hole: re-point its index entry.
            let moved = table.slots[last as usize] as usize;
            let entry = entry_at(arena, moved);
            let moved_hash = table
                .hasher
                .hash_one(&arena[entry.field_start..entry.field_end]);
            table.index.remove(moved_hash, |s| s == last);
            table.slots[slot as usize] = moved as u32;
            table.slots.pop();
            let (slots, hasher) = (&table.slots, &table.hasher);
            table.index.insert_unique(moved_hash, slot, |slot| {
                slot_hash(arena, slots, hasher, slot)
            });
        } else {
            table.slots.pop();
        }
        self.maybe_compact();
        true
    }

    /// Rewrites an indexed arena without its dead entries once they
    /// outweigh the live ones, in slot order; slots keep their places, so
    /// the index stays as it is. O(bytes), after as many bytes died.
    fn maybe_compact(&mut self) {
        let Some(table) = &mut self.table else {
            return;
        };
        if table.dead < DEAD_BYTES_MIN || table.dead * 2 < self.arena.len() {
            return;
        }
        let mut fresh = Vec::with_capacity(self.arena.len() - table.dead);
        fresh.extend_from_slice(&self.arena[..HEADER]);
        for offset in table.slots.iter_mut() {
            let start = *offset as usize;
            let end = entry_at(&self.arena, start).end;
            *offset = fresh.len() as u32;
            fresh.extend_from_slice(&self.arena[start..end]);
        }
        table.dead = 0;
        self.arena = fresh;
    }

    /// Adds `delta` to the field's integer value: `None` when the field is
    /// missing, else the new value and whether it was written (in place;
    /// when it needs a wider encoding the caller sets it with
    /// [`Hash::set`]).
    pub fn incr_in_place(
        &mut self,
        field: &[u8],
        delta: i64,
    ) -> Result<Option<(i64, bool)>, IncrError> {
        let Some((offset, _)) = self.find(field) else {
            return Ok(None);
        };
        let entry = entry_at(&self.arena, offset);
        let FieldValue::Int(old) = value_of(&self.arena, &entry) else {
            return Err(IncrError::NotInteger);
        };
        let new = old.checked_add(delta).ok_or(IncrError::Overflow)?;
        let width = int_width(entry.kind);
        if int_width(FieldValue::Int(new).kind()) > width {
            return Ok(Some((new, false)));
        }
        self.arena[entry.value_start..entry.end].copy_from_slice(&new.to_le_bytes()[..width]);
        Ok(Some((new, true)))
    }

    /// About how many bytes [`Hash::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = sampled_average(
            self.iter()
                .map(|(field, value)| field.len() + 4 + 1 + value.text_len().max(8) + 4),
        );
        16 + self.len() * average
    }

    /// Serializes the hash (the `hash` rule in `effect.rs`): seed, count,
    /// then each field with its value, a string (tag 0) or an integer
    /// (tag 1).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed().to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for (field, value) in self.iter() {
            put_bytes(out, field);
            match value {
                FieldValue::Bytes(bytes) => {
                    out.push(0);
                    put_bytes(out, bytes);
                }
                FieldValue::Int(number) => {
                    out.push(1);
                    out.extend_from_slice(&number.to_le_bytes());
                }
            }
        }
    }

    /// Rebuilds a hash from [`Hash::encode`]'s bytes. The count is checked
    /// against the bytes left before anything is sized from it; a repeated
    /// field, an empty hash, a string value that is a canonical integer
    /// (always stored as one) and an arena past [`ARENA_BYTES_MAX`] are
    /// refused.
    pub fn decode(input: &mut Reader<'_>) -> Result<Hash, DecodeError> {
        let seed = input.u64()?;
        // Each pair takes at least 4 + 1 + 4 bytes.
        let count = input.count(9)?;
        if count == 0 {
            return Err(DecodeError("empty hash".into()));
        }
        let mut hash = Hash::new(seed);
        for _ in 0..count {
            let field = input.slice()?;
            let value = match input.u8()? {
                0 => {
                    let bytes = input.slice()?;
                    if let FieldValue::Int(_) = FieldValue::from_bytes(bytes) {
                        return Err(DecodeError("hash string value is an integer".into()));
                    }
                    FieldValue::Bytes(bytes)
                }
                1 => FieldValue::Int(input.i64()?),
                tag => return Err(DecodeError(format!("unknown hash value tag {tag}"))),
            };
            if hash.arena_len_with(field, value) > ARENA_BYTES_MAX {
                return Err(DecodeError("hash arena too large".into()));
            }
            if hash.contains(field) {
                return Err(DecodeError("hash field repeated".into()));
            }
            hash.insert_new(field, value);
        }
        Ok(hash)
    }

    /// Checks the structure; for tests: entries parse, the count, the
    /// index against the slots, the dead-byte count.
    pub fn check_invariants(&self) {
        match &self.table {
            None => {
                assert_eq!(self.walk().count(), self.len(), "field count");
                let mut fields: Vec<&[u8]> = self.iter().map(|(field, _)| field).collect();
                fields.sort_unstable();
                fields.dedup();
                assert_eq!(fields.len(), self.len(), "repeated field");
            }
            Some(table) => {
                assert_eq!(table.slots.len(), self.len(), "slot count");
                assert_eq!(table.index.len(), self.len(), "index count");
                let mut live = 0;
                for (slot, &offset) in table.slots.iter().enumerate() {
                    let (field, _) = self.pair_at(offset as usize);
                    live += entry_at(&self.arena, offset as usize).end - offset as usize;
                    assert_eq!(self.find(field).map(|(_, s)| s), Some(slot as u32));
                }
                assert_eq!(live + table.dead + HEADER, self.arena.len(), "dead bytes");
                #[cfg(test)]
                table.index.check_invariants(|slot| {
                    slot_hash(&self.arena, &table.slots, &table.hasher, slot)
                });
            }
        }
        for (_, value) in self.iter() {
            if let FieldValue::Bytes(bytes) = value {
                assert!(
                    usher_protocol::number::parse_i64(bytes).is_none(),
                    "an integer stored as a string"
                );
            }
        }
    }
}

fn slot_hash(arena: &[u8], slots: &[u32], hasher: &foldhash::fast::FixedState, slot: u32) -> u64 {
    let entry = entry_at(arena, slots[slot as usize] as usize);
    hasher.hash_one(&arena[entry.field_start..entry.field_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_every_integer_width() {
        let mut hash = Hash::new(1);
        let numbers = [0, -1, 127, -128, 128, 40_000, -70_000, i64::MAX, i64::MIN];
        for (i, &n) in numbers.iter().enumerate() {
            hash.set(format!("f{i}").as_bytes(), FieldValue::Int(n));
        }
        hash.set(&[b'x'; 40], FieldValue::Bytes(b"long field"));
        for (i, &n) in numbers.iter().enumerate() {
            assert_eq!(
                hash.get(format!("f{i}").as_bytes()),
                Some(FieldValue::Int(n))
            );
            assert_eq!(FieldValue::Int(n).text_len(), n.to_string().len());
        }
        assert_eq!(
            hash.get(&[b'x'; 40]),
            Some(FieldValue::Bytes(b"long field"))
        );
        hash.check_invariants();
    }

    #[test]
    fn growth_indexes_and_removals_compact() {
        let mut hash = Hash::new(7);
        for i in 0..5000 {
            assert!(hash.set(format!("field-{i}").as_bytes(), FieldValue::Int(i)));
        }
        assert!(hash.is_indexed());
        hash.check_invariants();
        for i in (0..5000).step_by(2) {
            assert!(hash.remove(format!("field-{i}").as_bytes()));
        }
        for i in (1..5000).step_by(2) {
            hash.set(format!("field-{i}").as_bytes(), FieldValue::Bytes(b"text"));
        }
        hash.check_invariants();
        assert_eq!(hash.len(), 2500);
        assert!(hash.arena.len() < 2500 * 30, "{}", hash.arena.len());
        assert_eq!(hash.seed(), 7);
    }
}
