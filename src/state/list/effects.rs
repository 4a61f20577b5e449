//! What a list command did: [`ListEffect`], with its tags and its byte
//! encoding (the `effect` grammar in [`crate::state::effect`]). Creation
//! and whole replacement are the keyspace's `Put`; the last item's removal
//! is its `Delete`.
//!
//! Effects say what changed, never what was asked: a pop logs how many
//! items went from which end, LREM the positions it removed, LTRIM the
//! resolved range it kept, so replay makes no choice of its own.

use bytes::Bytes;
use usher_protocol::ListItems;

use crate::encoding::{put_bytes, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key count:u32 bytes{count}`: items pushed at the head, one after
/// another (so the last ends up first).
pub const TAG_PUSH_LEFT: u8 = 55;
/// `key count:u32 bytes{count}`: items appended at the tail.
pub const TAG_PUSH_RIGHT: u8 = 56;
/// `key count:u64`: items popped from the head.
pub const TAG_POP_LEFT: u8 = 57;
/// `key count:u64`: items popped from the tail.
pub const TAG_POP_RIGHT: u8 = 58;
/// `key index:u64 bytes`: the item at a position replaced.
pub const TAG_SET: u8 = 59;
/// `key first:u64 end:u64`: only the items at `[first, end)` kept.
pub const TAG_TRIM: u8 = 60;
/// `key count:u32 index:u64{count}`: the items at these positions (strictly
/// ascending, counted before the removal) removed.
pub const TAG_REMOVE: u8 = 61;

#[derive(Clone, Debug, PartialEq)]
pub enum ListEffect {
    /// Items pushed at the head (`left`) or the tail, in push order.
    Push {
        key: Key,
        left: bool,
        items: ListItems,
    },
    /// `count` items popped from the head (`left`) or the tail.
    Pop { key: Key, left: bool, count: u64 },
    /// The item at `index` replaced.
    Set { key: Key, index: u64, item: Bytes },
    /// Only the items at positions `[first, end)` kept.
    Trim { key: Key, first: u64, end: u64 },
    /// The items at `positions` removed.
    Remove { key: Key, positions: Vec<u64> },
}

impl ListEffect {
    pub fn key(&self) -> &Key {
        match self {
            ListEffect::Push { key, .. }
            | ListEffect::Pop { key, .. }
            | ListEffect::Set { key, .. }
            | ListEffect::Trim { key, .. }
            | ListEffect::Remove { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ListEffect::Push { key, left, items } => {
                out.push(if *left { TAG_PUSH_LEFT } else { TAG_PUSH_RIGHT });
                put_bytes(out, key);
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for item in items {
                    put_bytes(out, item);
                }
            }
            ListEffect::Pop { key, left, count } => {
                out.push(if *left { TAG_POP_LEFT } else { TAG_POP_RIGHT });
                put_bytes(out, key);
                out.extend_from_slice(&count.to_le_bytes());
            }
            ListEffect::Set { key, index, item } => {
                out.push(TAG_SET);
                put_bytes(out, key);
                out.extend_from_slice(&index.to_le_bytes());
                put_bytes(out, item);
            }
            ListEffect::Trim { key, first, end } => {
                out.push(TAG_TRIM);
                put_bytes(out, key);
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&end.to_le_bytes());
            }
            ListEffect::Remove { key, positions } => {
                out.push(TAG_REMOVE);
                put_bytes(out, key);
                out.extend_from_slice(&(positions.len() as u32).to_le_bytes());
                for position in positions {
                    out.extend_from_slice(&position.to_le_bytes());
                }
            }
        }
    }

    /// Decodes the effect after its `tag`. Counts are checked against the
    /// bytes left before anything is allocated.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<ListEffect, DecodeError> {
        let effect = match tag {
            TAG_PUSH_LEFT | TAG_PUSH_RIGHT => {
                let key = input.key()?;
                let count = input.count(4)?;
                let mut items = ListItems::with_capacity(count);
                for _ in 0..count {
                    items.push(input.bytes()?);
                }
                ListEffect::Push {
                    key,
                    left: tag == TAG_PUSH_LEFT,
                    items,
                }
            }
            TAG_POP_LEFT | TAG_POP_RIGHT => ListEffect::Pop {
                key: input.key()?,
                left: tag == TAG_POP_LEFT,
                count: input.u64()?,
            },
            TAG_SET => ListEffect::Set {
                key: input.key()?,
                index: input.u64()?,
                item: input.bytes()?,
            },
            TAG_TRIM => ListEffect::Trim {
                key: input.key()?,
                first: input.u64()?,
                end: input.u64()?,
            },
            TAG_REMOVE => {
                let key = input.key()?;
                let count = input.count(8)?;
                let mut positions = Vec::with_capacity(count);
                for _ in 0..count {
                    positions.push(input.u64()?);
                }
                ListEffect::Remove { key, positions }
            }
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}
