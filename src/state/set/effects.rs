//! What a set command did, member by member: [`SetEffect`], with its tags
//! and its byte encoding (the `effect` grammar in [`crate::state::effect`]).
//! Creation and whole replacement (`*STORE`) are the keyspace's `Put`;
//! SPOP logs the members it removed as plain removals, so replay never
//! draws.

use bytes::Bytes;

use crate::encoding::{put_tagged_pair, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key member`: a member added.
pub const TAG_ADD: u8 = 45;
/// `key member`: a member removed.
pub const TAG_REMOVE: u8 = 46;

#[derive(Clone, Debug, PartialEq)]
pub enum SetEffect {
    /// A member was added to a set.
    Add { key: Key, member: Bytes },
    /// A member was removed (the key's `Delete` follows if the set became
    /// empty).
    Remove { key: Key, member: Bytes },
}

impl SetEffect {
    pub fn key(&self) -> &Key {
        match self {
            SetEffect::Add { key, .. } | SetEffect::Remove { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SetEffect::Add { key, member } => put_tagged_pair(out, TAG_ADD, key, member),
            SetEffect::Remove { key, member } => put_tagged_pair(out, TAG_REMOVE, key, member),
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<SetEffect, DecodeError> {
        let key = input.key()?;
        let member = input.bytes()?;
        match tag {
            TAG_ADD => Ok(SetEffect::Add { key, member }),
            TAG_REMOVE => Ok(SetEffect::Remove { key, member }),
            tag => Err(DecodeError(format!("unknown effect tag {tag}"))),
        }
    }
}
