//! What a hash command did, field by field: [`HashEffect`], with its tags
//! and its byte encoding (the `effect` grammar in [`crate::state::effect`]).
//! Creation and whole replacement are the keyspace's `Put`. A set carries
//! the value it left (HINCRBY's result, not its increment), so replay
//! computes nothing.

use bytes::Bytes;

use crate::encoding::{put_bytes, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key field bytes`: a field set to a string.
pub const TAG_SET: u8 = 50;
/// `key field i64`: a field set to an integer (its canonical text).
pub const TAG_SET_INT: u8 = 51;
/// `key field`: a field removed.
pub const TAG_REMOVE: u8 = 52;

/// A field's new value in an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashValue {
    Bytes(Bytes),
    Int(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum HashEffect {
    /// A field was added or got a new value.
    Set {
        key: Key,
        field: Bytes,
        value: HashValue,
    },
    /// A field was removed (the key's `Delete` follows if the hash became
    /// empty).
    Remove { key: Key, field: Bytes },
}

impl HashEffect {
    pub fn key(&self) -> &Key {
        match self {
            HashEffect::Set { key, .. } | HashEffect::Remove { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            HashEffect::Set {
                key,
                field,
                value: HashValue::Bytes(bytes),
            } => {
                out.push(TAG_SET);
                put_bytes(out, key);
                put_bytes(out, field);
                put_bytes(out, bytes);
            }
            HashEffect::Set {
                key,
                field,
                value: HashValue::Int(number),
            } => {
                out.push(TAG_SET_INT);
                put_bytes(out, key);
                put_bytes(out, field);
                out.extend_from_slice(&number.to_le_bytes());
            }
            HashEffect::Remove { key, field } => {
                out.push(TAG_REMOVE);
                put_bytes(out, key);
                put_bytes(out, field);
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<HashEffect, DecodeError> {
        let effect = match tag {
            TAG_SET => HashEffect::Set {
                key: input.key()?,
                field: input.bytes()?,
                value: HashValue::Bytes(input.bytes()?),
            },
            TAG_SET_INT => HashEffect::Set {
                key: input.key()?,
                field: input.bytes()?,
                value: HashValue::Int(input.i64()?),
            },
            TAG_REMOVE => HashEffect::Remove {
                key: input.key()?,
                field: input.bytes()?,
            },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}
