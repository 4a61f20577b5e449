//! What happened to whole keys: [`KeyEffect`] (a key created or replaced
//! with its whole value, deleted, expired or re-timed, or every key
//! flushed; and a string appended to or overwritten in part), with its tags
//! and its byte encoding (the `effect` grammar in [`super::effect`]). Every
//! family creates and replaces keys through these.

use bytes::Bytes;

use crate::encoding::{put_bytes, put_deadline, DecodeError, Reader};

use super::key::{Key, ReadKey};
use super::value::{decode_value, encode_value, Value};

/// `key deadline:u64 value`.
pub const TAG_PUT: u8 = 1;
/// `key`.
pub const TAG_DELETE: u8 = 2;
/// `key`.
pub const TAG_EXPIRED: u8 = 3;
/// `key deadline:u64`.
pub const TAG_DEADLINE: u8 = 4;
/// Nothing else.
pub const TAG_FLUSH_ALL: u8 = 5;
/// `key bytes`.
pub const TAG_APPEND: u8 = 15;
/// `key offset:u64 bytes`.
pub const TAG_SET_RANGE: u8 = 16;

#[derive(Clone, Debug, PartialEq)]
pub enum KeyEffect {
    /// The key now holds `value` with `deadline_ms` (creation or replacement).
    Put {
        key: Key,
        value: Value,
        deadline_ms: Option<u64>,
    },
    /// The key was deleted by a command.
    Delete { key: Key },
    /// The key was removed because its deadline passed.
    Expired { key: Key },
    /// The key's deadline changed (set, moved or removed).
    Deadline { key: Key, deadline_ms: Option<u64> },
    /// Every key was deleted and every remembered `REQ` reply forgotten.
    FlushAll,
    /// `bytes` were appended to the string at `key` (`APPEND` on an
    /// existing key: logging the whole value would make each append cost
    /// as much log as the string is long).
    Append { key: Key, bytes: Bytes },
    /// The string at `key` was overwritten with `bytes` from `offset`,
    /// padded with zero bytes up to it (`SETRANGE` on an existing key).
    SetRange { key: Key, offset: u64, bytes: Bytes },
}

impl KeyEffect {
    /// The key this effect changes; `None` for `FlushAll`.
    pub fn key(&self) -> Option<&Key> {
        match self {
            KeyEffect::Put { key, .. }
            | KeyEffect::Delete { key }
            | KeyEffect::Expired { key }
            | KeyEffect::Deadline { key, .. }
            | KeyEffect::Append { key, .. }
            | KeyEffect::SetRange { key, .. } => Some(key),
            KeyEffect::FlushAll => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KeyEffect::Put {
                key,
                value,
                deadline_ms,
            } => {
                out.push(TAG_PUT);
                put_bytes(out, key);
                put_deadline(out, *deadline_ms);
                encode_value(value, out);
            }
            KeyEffect::Delete { key } => {
                out.push(TAG_DELETE);
                put_bytes(out, key);
            }
            KeyEffect::Expired { key } => {
                out.push(TAG_EXPIRED);
                put_bytes(out, key);
            }
            KeyEffect::Deadline { key, deadline_ms } => {
                out.push(TAG_DEADLINE);
                put_bytes(out, key);
                put_deadline(out, *deadline_ms);
            }
            KeyEffect::FlushAll => out.push(TAG_FLUSH_ALL),
            KeyEffect::Append { key, bytes } => {
                out.push(TAG_APPEND);
                put_bytes(out, key);
                put_bytes(out, bytes);
            }
            KeyEffect::SetRange { key, offset, bytes } => {
                out.push(TAG_SET_RANGE);
                put_bytes(out, key);
                out.extend_from_slice(&offset.to_le_bytes());
                put_bytes(out, bytes);
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<KeyEffect, DecodeError> {
        let effect = match tag {
            TAG_PUT => KeyEffect::Put {
                key: input.key()?,
                deadline_ms: input.deadline()?,
                value: decode_value(input)?,
            },
            TAG_DELETE => KeyEffect::Delete { key: input.key()? },
            TAG_EXPIRED => KeyEffect::Expired { key: input.key()? },
            TAG_DEADLINE => KeyEffect::Deadline {
                key: input.key()?,
                deadline_ms: input.deadline()?,
            },
            TAG_FLUSH_ALL => KeyEffect::FlushAll,
            TAG_APPEND => KeyEffect::Append {
                key: input.key()?,
                bytes: input.bytes()?,
            },
            TAG_SET_RANGE => KeyEffect::SetRange {
                key: input.key()?,
                offset: input.u64()?,
                bytes: input.bytes()?,
            },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}
