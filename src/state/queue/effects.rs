//! What a queue command or timer did, member by member: [`QueueEffect`],
//! with its tags and its byte encoding (the `effect` grammar in
//! [`crate::state::effect`]), and [`QueueSettings`], which both the queue
//! and its `Config` effect carry. Creation and whole replacement are the
//! keyspace's `Put`.

use bytes::Bytes;

use crate::encoding::{put_bytes, put_deadline, put_tagged_pair, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key settings`: settings after QUEUE.CONFIG.
pub const TAG_CONFIG: u8 = 8;
/// `key member`: appended to the line.
pub const TAG_JOIN: u8 = 9;
/// `key member at_ms:u64 deadline:u64 automatic:u8`: the line's front admitted.
pub const TAG_ADMIT: u8 = 10;
/// `key member`: an active member's deadline passed.
pub const TAG_EXPIRE: u8 = 11;
/// `key member`: QUEUE.LEAVE (waiting or active).
pub const TAG_LEAVE: u8 = 12;
/// `key member deadline:u64`: QUEUE.TOUCH.
pub const TAG_TOUCH: u8 = 13;
/// `key`: waiting members dropped, closed.
pub const TAG_CLOSE: u8 = 14;

/// A queue's settings and rate-window state: what QUEUE.CONFIG changes, and
/// what its effect carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSettings {
    /// Most active members at once; 0 = no limit.
    pub capacity: u64,
    /// Most members admitted automatically per rate window; 0 = no rate.
    pub rate_members: u64,
    pub rate_period_ms: u64,
    /// Start of rate window 0.
    pub rate_anchor_ms: u64,
    /// Lifetime of an admission; 0 = no expiry.
    pub ttl_ms: u64,
    /// The rate window `admitted_in_window` counts for.
    pub window: u64,
    pub admitted_in_window: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum QueueEffect {
    /// A queue's settings and rate window after QUEUE.CONFIG.
    Config { key: Key, settings: QueueSettings },
    /// A member joined the end of a queue's line.
    Join { key: Key, member: Bytes },
    /// The oldest waiting member was admitted at `at_ms` until
    /// `deadline_ms` (`None` = no expiry); `automatic` admissions count in
    /// the RATE window.
    Admit {
        key: Key,
        member: Bytes,
        at_ms: u64,
        deadline_ms: Option<u64>,
        automatic: bool,
    },
    /// An active member's deadline passed.
    Expire { key: Key, member: Bytes },
    /// A waiting or active member left.
    Leave { key: Key, member: Bytes },
    /// An active member's deadline changed.
    Touch {
        key: Key,
        member: Bytes,
        deadline_ms: Option<u64>,
    },
    /// A queue was closed and its waiting members dropped.
    Close { key: Key },
}

impl QueueEffect {
    pub fn key(&self) -> &Key {
        match self {
            QueueEffect::Config { key, .. }
            | QueueEffect::Join { key, .. }
            | QueueEffect::Admit { key, .. }
            | QueueEffect::Expire { key, .. }
            | QueueEffect::Leave { key, .. }
            | QueueEffect::Touch { key, .. }
            | QueueEffect::Close { key } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            QueueEffect::Config { key, settings } => {
                out.push(TAG_CONFIG);
                put_bytes(out, key);
                put_settings(out, settings);
            }
            QueueEffect::Join { key, member } => put_tagged_pair(out, TAG_JOIN, key, member),
            QueueEffect::Admit {
                key,
                member,
                at_ms,
                deadline_ms,
                automatic,
            } => {
                put_tagged_pair(out, TAG_ADMIT, key, member);
                out.extend_from_slice(&at_ms.to_le_bytes());
                put_deadline(out, *deadline_ms);
                out.push(u8::from(*automatic));
            }
            QueueEffect::Expire { key, member } => put_tagged_pair(out, TAG_EXPIRE, key, member),
            QueueEffect::Leave { key, member } => put_tagged_pair(out, TAG_LEAVE, key, member),
            QueueEffect::Touch {
                key,
                member,
                deadline_ms,
            } => {
                put_tagged_pair(out, TAG_TOUCH, key, member);
                put_deadline(out, *deadline_ms);
            }
            QueueEffect::Close { key } => {
                out.push(TAG_CLOSE);
                put_bytes(out, key);
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<QueueEffect, DecodeError> {
        let effect = match tag {
            TAG_CONFIG => QueueEffect::Config {
                key: input.key()?,
                settings: get_settings(input)?,
            },
            TAG_JOIN => QueueEffect::Join {
                key: input.key()?,
                member: input.bytes()?,
            },
            TAG_ADMIT => QueueEffect::Admit {
                key: input.key()?,
                member: input.bytes()?,
                at_ms: input.u64()?,
                deadline_ms: input.deadline()?,
                automatic: input.flag()?,
            },
            TAG_EXPIRE => QueueEffect::Expire {
                key: input.key()?,
                member: input.bytes()?,
            },
            TAG_LEAVE => QueueEffect::Leave {
                key: input.key()?,
                member: input.bytes()?,
            },
            TAG_TOUCH => QueueEffect::Touch {
                key: input.key()?,
                member: input.bytes()?,
                deadline_ms: input.deadline()?,
            },
            TAG_CLOSE => QueueEffect::Close { key: input.key()? },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}

/// Encodes a queue's settings (the `settings` rule of the format).
pub fn put_settings(out: &mut Vec<u8>, settings: &QueueSettings) {
    for field in [
        settings.capacity,
        settings.rate_members,
        settings.rate_period_ms,
        settings.rate_anchor_ms,
        settings.ttl_ms,
        settings.window,
        settings.admitted_in_window,
    ] {
        out.extend_from_slice(&field.to_le_bytes());
    }
}

/// Decodes a queue's settings; refuses a rate without a period, which
/// would divide by zero.
pub fn get_settings(input: &mut Reader<'_>) -> Result<QueueSettings, DecodeError> {
    let settings = QueueSettings {
        capacity: input.u64()?,
        rate_members: input.u64()?,
        rate_period_ms: input.u64()?,
        rate_anchor_ms: input.u64()?,
        ttl_ms: input.u64()?,
        window: input.u64()?,
        admitted_in_window: input.u64()?,
    };
    if settings.rate_members > 0 && settings.rate_period_ms == 0 {
        return Err(DecodeError("queue rate without a period".into()));
    }
    Ok(settings)
}
