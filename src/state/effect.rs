//! Effects: what a request or a timer *did* to the state, as opposed to what
//! was asked. The engine appends them to the log; recovery replays them with
//! [`State::replay`], which reads no clock and reproduces the same state.
//!
//! Rules every family follows:
//! - relative times are already resolved: effects carry absolute deadlines;
//! - timer-driven changes (expiry, admission, release) are effects of their
//!   own, so replay never has to re-run a timer;
//! - every effect names the one key it changes (except `FlushAll`), and a
//!   key's creation or full replacement is a `Put` with its whole value.
//!   Incremental snapshots rely on this: a key captured at log position `p`
//!   skips the effects on it logged before `p` (see `snapshot.rs`).
//!
//! Encoding (little-endian; strings are `u32 length` + bytes; a deadline of
//! 0 means "none"):
//!
//! ```text
//! effect := 1 Put      key deadline:u64 value
//!         | 2 Delete   key
//!         | 3 Expired  key
//!         | 4 Deadline key deadline:u64
//!         | 5 FlushAll
//! value  := 1 Str bytes | 2 Int i64
//! ```
//! Tags are never reused; new effects and value types get new numbers.

use bytes::Bytes;

use super::{State, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// The key now holds `value` with `deadline_ms` (creation or replacement).
    Put {
        key: Bytes,
        value: Value,
        deadline_ms: Option<u64>,
    },
    /// The key was deleted by a command.
    Delete { key: Bytes },
    /// The key was removed because its deadline passed.
    Expired { key: Bytes },
    /// The key's deadline changed (set, moved or removed).
    Deadline {
        key: Bytes,
        deadline_ms: Option<u64>,
    },
    /// Every key was deleted.
    FlushAll,
}

const EFFECT_PUT: u8 = 1;
const EFFECT_DELETE: u8 = 2;
const EFFECT_EXPIRED: u8 = 3;
const EFFECT_DEADLINE: u8 = 4;
const EFFECT_FLUSH_ALL: u8 = 5;

const VALUE_STR: u8 = 1;
const VALUE_INT: u8 = 2;

impl Effect {
    /// The key this effect changes; `None` for `FlushAll`.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Effect::Put { key, .. }
            | Effect::Delete { key }
            | Effect::Expired { key }
            | Effect::Deadline { key, .. } => Some(key),
            Effect::FlushAll => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Effect::Put {
                key,
                value,
                deadline_ms,
            } => {
                out.push(EFFECT_PUT);
                put_bytes(out, key);
                out.extend_from_slice(&deadline_ms.unwrap_or(0).to_le_bytes());
                encode_value(value, out);
            }
            Effect::Delete { key } => {
                out.push(EFFECT_DELETE);
                put_bytes(out, key);
            }
            Effect::Expired { key } => {
                out.push(EFFECT_EXPIRED);
                put_bytes(out, key);
            }
            Effect::Deadline { key, deadline_ms } => {
                out.push(EFFECT_DEADLINE);
                put_bytes(out, key);
                out.extend_from_slice(&deadline_ms.unwrap_or(0).to_le_bytes());
            }
            Effect::FlushAll => out.push(EFFECT_FLUSH_ALL),
        }
    }

    /// Decodes one effect from the front of `input`, advancing it. The
    /// caller has checked the enclosing record's checksum, so an error here
    /// means a format bug or a file from another version.
    pub fn decode(input: &mut Reader<'_>) -> Result<Effect, DecodeError> {
        let effect = match input.u8()? {
            EFFECT_PUT => {
                let key = input.bytes()?;
                let deadline_ms = deadline(input.u64()?);
                let value = decode_value(input)?;
                Effect::Put {
                    key,
                    value,
                    deadline_ms,
                }
            }
            EFFECT_DELETE => Effect::Delete {
                key: input.bytes()?,
            },
            EFFECT_EXPIRED => Effect::Expired {
                key: input.bytes()?,
            },
            EFFECT_DEADLINE => Effect::Deadline {
                key: input.bytes()?,
                deadline_ms: deadline(input.u64()?),
            },
            EFFECT_FLUSH_ALL => Effect::FlushAll,
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}

fn deadline(raw: u64) -> Option<u64> {
    (raw != 0).then_some(raw)
}

pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes a whole value (used by `Put` and by snapshots).
pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(bytes) => {
            out.push(VALUE_STR);
            put_bytes(out, bytes);
        }
        Value::Int(number) => {
            out.push(VALUE_INT);
            out.extend_from_slice(&number.to_le_bytes());
        }
    }
}

pub fn decode_value(input: &mut Reader<'_>) -> Result<Value, DecodeError> {
    match input.u8()? {
        VALUE_STR => Ok(Value::Str(input.bytes()?)),
        VALUE_INT => Ok(Value::Int(input.i64()?)),
        tag => Err(DecodeError(format!("unknown value tag {tag}"))),
    }
}

/// A decoding failure inside a checksummed record or snapshot chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked little-endian reader over a byte slice.
pub struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, position: 0 }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.data.len()
    }

    pub fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| DecodeError(format!("truncated at byte {}", self.position)))?;
        let slice = &self.data[self.position..end];
        self.position = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    /// A length-prefixed byte string, copied into its own allocation.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(length)?))
    }
}

impl State {
    /// Applies one logged effect. Reads no clock; records no new effects.
    pub fn replay(&mut self, effect: &Effect) {
        let recording = self.keyspace.set_recording(false);
        match effect {
            Effect::Put {
                key,
                value,
                deadline_ms,
            } => self.keyspace.insert(key, value.clone(), *deadline_ms),
            Effect::Delete { key } => {
                self.keyspace.remove(key);
            }
            Effect::Expired { key } => {
                if self.keyspace.remove(key) {
                    self.keyspace.expired_total += 1;
                }
            }
            Effect::Deadline { key, deadline_ms } => self.keyspace.set_deadline(key, *deadline_ms),
            Effect::FlushAll => self.keyspace.clear(),
        }
        self.keyspace.set_recording(recording);
    }
}
