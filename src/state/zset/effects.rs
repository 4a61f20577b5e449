//! What a sorted-set command did, member by member: [`ZsetEffect`], with
//! its tags and its byte encoding (the `effect` grammar in
//! [`crate::state::effect`]). Creation and whole replacement are the
//! keyspace's `Put`.

use bytes::Bytes;

use crate::encoding::{put_bytes, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key member score:f64`: a member added or re-scored.
pub const TAG_SET: u8 = 6;
/// `key member`: a member removed.
pub const TAG_REMOVE: u8 = 7;

#[derive(Clone, Debug, PartialEq)]
pub enum ZsetEffect {
    /// A sorted-set member was added or got a new score.
    Set { key: Key, member: Bytes, score: f64 },
    /// A sorted-set member was removed (the key's `Delete` follows if the
    /// set became empty).
    Remove { key: Key, member: Bytes },
}

impl ZsetEffect {
    pub fn key(&self) -> &Key {
        match self {
            ZsetEffect::Set { key, .. } | ZsetEffect::Remove { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ZsetEffect::Set { key, member, score } => {
                out.push(TAG_SET);
                put_bytes(out, key);
                put_bytes(out, member);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
            ZsetEffect::Remove { key, member } => {
                out.push(TAG_REMOVE);
                put_bytes(out, key);
                put_bytes(out, member);
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<ZsetEffect, DecodeError> {
        let effect = match tag {
            TAG_SET => ZsetEffect::Set {
                key: input.key()?,
                member: input.bytes()?,
                score: input.f64()?,
            },
            TAG_REMOVE => ZsetEffect::Remove {
                key: input.key()?,
                member: input.bytes()?,
            },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}
