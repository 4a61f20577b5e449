//! What the `REQ` table did: [`ReqEffect`], with its tags and its byte
//! encoding (the `effect` grammar in [`crate::state::effect`]), and the
//! lossless reply encoding that remembered replies use in effects and
//! snapshots.

use std::borrow::Cow;

use bytes::Bytes;
use usher_protocol::{ErrorCode, Reply, ServerError};

use crate::encoding::{put_bytes, DecodeError, Reader};

/// `id fingerprint:u64 deadline:u64 reply`.
pub const TAG_REMEMBER: u8 = 43;
/// `id`: its deadline passed.
pub const TAG_FORGET: u8 = 44;

const REPLY_NIL: u8 = 0;
const REPLY_SIMPLE: u8 = 1;
const REPLY_BULK: u8 = 2;
const REPLY_BULK_INT: u8 = 3;
const REPLY_INT: u8 = 4;
const REPLY_DOUBLE: u8 = 5;
const REPLY_BOOL: u8 = 6;
const REPLY_ARRAY: u8 = 7;
const REPLY_MAP: u8 = 8;
const REPLY_ERROR: u8 = 9;
const REPLY_NIL_ARRAY: u8 = 10;
const REPLY_PAIRS: u8 = 11;
const REPLY_SET: u8 = 12;
/// Deepest nesting a remembered reply may have (command replies nest two
/// or three levels).
const REPLY_DEPTH_MAX: usize = usher_protocol::binary::REPLY_DEPTH_MAX;

#[derive(Clone, Debug, PartialEq)]
pub enum ReqEffect {
    /// The reply to `REQ id` is remembered until `deadline_ms`.
    Remember {
        id: Bytes,
        fingerprint: u64,
        deadline_ms: u64,
        reply: Reply,
    },
    /// The remembered reply for `id` was forgotten: its deadline passed.
    Forget { id: Bytes },
}

impl ReqEffect {
    /// The id the effect names (ids are a namespace of their own, not keys).
    pub fn id(&self) -> &Bytes {
        match self {
            ReqEffect::Remember { id, .. } | ReqEffect::Forget { id } => id,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ReqEffect::Remember {
                id,
                fingerprint,
                deadline_ms,
                reply,
            } => {
                out.push(TAG_REMEMBER);
                put_bytes(out, id);
                out.extend_from_slice(&fingerprint.to_le_bytes());
                out.extend_from_slice(&deadline_ms.to_le_bytes());
                encode_reply(reply, out);
            }
            ReqEffect::Forget { id } => {
                out.push(TAG_FORGET);
                put_bytes(out, id);
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<ReqEffect, DecodeError> {
        let effect = match tag {
            TAG_REMEMBER => ReqEffect::Remember {
                id: input.bytes()?,
                fingerprint: input.u64()?,
                deadline_ms: input.u64()?,
                reply: decode_reply(input)?,
            },
            TAG_FORGET => ReqEffect::Forget { id: input.bytes()? },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}

/// Encodes a reply losslessly (the `reply` rule of the module comment).
pub fn encode_reply(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Nil => out.push(REPLY_NIL),
        Reply::NilArray => out.push(REPLY_NIL_ARRAY),
        Reply::Simple(text) => {
            out.push(REPLY_SIMPLE);
            put_bytes(out, text.as_bytes());
        }
        // Inline or not, the same bytes; they read back as `Bulk`, which
        // equals the inline reply.
        Reply::Bulk(bytes) => {
            out.push(REPLY_BULK);
            put_bytes(out, bytes);
        }
        Reply::BulkInline(inline) => {
            out.push(REPLY_BULK);
            put_bytes(out, inline.as_bytes());
        }
        Reply::BulkInt(number) => {
            out.push(REPLY_BULK_INT);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Reply::Int(number) => {
            out.push(REPLY_INT);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Reply::Double(number) => {
            out.push(REPLY_DOUBLE);
            out.extend_from_slice(&number.to_bits().to_le_bytes());
        }
        Reply::Bool(flag) => {
            out.push(REPLY_BOOL);
            out.push(u8::from(*flag));
        }
        Reply::Array(items) => {
            out.push(REPLY_ARRAY);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for item in items {
                encode_reply(item, out);
            }
        }
        Reply::Set(items) => {
            out.push(REPLY_SET);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for item in items {
                encode_reply(item, out);
            }
        }
        Reply::Tuple(tuple) => {
            out.push(REPLY_ARRAY);
            out.extend_from_slice(&(tuple.len() as u32).to_le_bytes());
            tuple.for_each_item(|item| encode_reply(item, out));
        }
        Reply::Ints(ints) => {
            out.push(REPLY_ARRAY);
            out.extend_from_slice(&(ints.as_slice().len() as u32).to_le_bytes());
            for &value in ints.as_slice() {
                out.push(REPLY_INT);
                out.extend_from_slice(&i64::from(value).to_le_bytes());
            }
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            let tag = if matches!(reply, Reply::Map(_)) {
                REPLY_MAP
            } else {
                REPLY_PAIRS
            };
            out.push(tag);
            out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
            for (key, value) in pairs {
                encode_reply(key, out);
                encode_reply(value, out);
            }
        }
        Reply::Error(error) => {
            out.push(REPLY_ERROR);
            out.extend_from_slice(&error.code.as_u16().to_le_bytes());
            put_bytes(out, error.message.as_bytes());
        }
    }
}

pub fn decode_reply(input: &mut Reader<'_>) -> Result<Reply, DecodeError> {
    decode_reply_at(input, 0)
}

fn decode_reply_at(input: &mut Reader<'_>, depth: usize) -> Result<Reply, DecodeError> {
    if depth > REPLY_DEPTH_MAX {
        return Err(DecodeError("reply nested too deeply".into()));
    }
    let tag = input.u8()?;
    let reply = match tag {
        REPLY_NIL => Reply::Nil,
        REPLY_NIL_ARRAY => Reply::NilArray,
        REPLY_SIMPLE => Reply::Simple(Cow::Owned(input.text()?)),
        REPLY_BULK => Reply::Bulk(input.bytes()?),
        REPLY_BULK_INT => Reply::BulkInt(input.i64()?),
        REPLY_INT => Reply::Int(input.i64()?),
        REPLY_DOUBLE => Reply::Double(f64::from_bits(input.u64()?)),
        REPLY_BOOL => match input.u8()? {
            0 => Reply::Bool(false),
            1 => Reply::Bool(true),
            other => return Err(DecodeError(format!("boolean byte {other}"))),
        },
        REPLY_ARRAY => {
            let count = input.count(1)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode_reply_at(input, depth + 1)?);
            }
            Reply::Array(items)
        }
        REPLY_SET => {
            let count = input.count(1)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode_reply_at(input, depth + 1)?);
            }
            Reply::Set(items)
        }
        REPLY_MAP | REPLY_PAIRS => {
            let count = input.count(2)?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                let key = decode_reply_at(input, depth + 1)?;
                let value = decode_reply_at(input, depth + 1)?;
                pairs.push((key, value));
            }
            if tag == REPLY_MAP {
                Reply::Map(pairs)
            } else {
                Reply::Pairs(pairs)
            }
        }
        REPLY_ERROR => {
            let raw = input.u16()?;
            let code = ErrorCode::from_u16(raw)
                .ok_or_else(|| DecodeError(format!("unknown error code {raw}")))?;
            Reply::Error(ServerError::new(code, input.text()?))
        }
        tag => return Err(DecodeError(format!("unknown reply tag {tag}"))),
    };
    Ok(reply)
}
