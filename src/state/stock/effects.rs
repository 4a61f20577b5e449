//! What a stock command or timer did to one SKU: [`StockEffect`], with its
//! tags and its byte encoding (the `effect` grammar in
//! [`crate::state::effect`]). A SKU's creation is the keyspace's `Put`.

use bytes::Bytes;

use crate::encoding::{put_bytes, put_option, put_tagged_pair, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// `key total:u64 limit`: an existing SKU's total and limit.
pub const TAG_CONFIG: u8 = 36;
/// `key holder quantity:u64 deadline:u64`.
pub const TAG_RESERVE: u8 = 37;
/// `key holder`: what it reserved is sold.
pub const TAG_CONFIRM: u8 = 38;
/// `key holder`: what it reserved is available.
pub const TAG_RELEASE: u8 = 39;
/// `key holder quantity:u64`.
pub const TAG_TAKE: u8 = 40;
/// `key holder quantity:u64`: units actually refunded.
pub const TAG_REFUND: u8 = 41;
/// `key holder`: its reservation's deadline passed.
pub const TAG_RESERVATION_EXPIRED: u8 = 42;

#[derive(Clone, Debug, PartialEq)]
pub enum StockEffect {
    /// An existing SKU's total and limit are now these.
    Config {
        key: Key,
        total: u64,
        limit: Option<u64>,
    },
    /// `holder` reserved `quantity` more units; its reservations share
    /// `deadline_ms`.
    Reserve {
        key: Key,
        holder: Bytes,
        quantity: u64,
        deadline_ms: u64,
    },
    /// Every unit `holder` reserved is sold to it.
    Confirm { key: Key, holder: Bytes },
    /// Every unit `holder` reserved went back to available.
    Release { key: Key, holder: Bytes },
    /// `holder` bought `quantity` units at once.
    Take {
        key: Key,
        holder: Bytes,
        quantity: u64,
    },
    /// `quantity` units `holder` bought went back to available.
    Refund {
        key: Key,
        holder: Bytes,
        quantity: u64,
    },
    /// `holder`'s reservation went back to available because its deadline
    /// passed.
    ReservationExpired { key: Key, holder: Bytes },
}

impl StockEffect {
    pub fn key(&self) -> &Key {
        match self {
            StockEffect::Config { key, .. }
            | StockEffect::Reserve { key, .. }
            | StockEffect::Confirm { key, .. }
            | StockEffect::Release { key, .. }
            | StockEffect::Take { key, .. }
            | StockEffect::Refund { key, .. }
            | StockEffect::ReservationExpired { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            StockEffect::Config { key, total, limit } => {
                out.push(TAG_CONFIG);
                put_bytes(out, key);
                out.extend_from_slice(&total.to_le_bytes());
                put_option(out, *limit);
            }
            StockEffect::Reserve {
                key,
                holder,
                quantity,
                deadline_ms,
            } => {
                put_tagged_pair(out, TAG_RESERVE, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
                out.extend_from_slice(&deadline_ms.to_le_bytes());
            }
            StockEffect::Confirm { key, holder } => put_tagged_pair(out, TAG_CONFIRM, key, holder),
            StockEffect::Release { key, holder } => put_tagged_pair(out, TAG_RELEASE, key, holder),
            StockEffect::Take {
                key,
                holder,
                quantity,
            } => {
                put_tagged_pair(out, TAG_TAKE, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
            }
            StockEffect::Refund {
                key,
                holder,
                quantity,
            } => {
                put_tagged_pair(out, TAG_REFUND, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
            }
            StockEffect::ReservationExpired { key, holder } => {
                put_tagged_pair(out, TAG_RESERVATION_EXPIRED, key, holder)
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<StockEffect, DecodeError> {
        let effect = match tag {
            TAG_CONFIG => StockEffect::Config {
                key: input.key()?,
                total: input.u64()?,
                limit: input.option()?,
            },
            TAG_RESERVE => StockEffect::Reserve {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
                deadline_ms: input.u64()?,
            },
            TAG_CONFIRM => StockEffect::Confirm {
                key: input.key()?,
                holder: input.bytes()?,
            },
            TAG_RELEASE => StockEffect::Release {
                key: input.key()?,
                holder: input.bytes()?,
            },
            TAG_TAKE => StockEffect::Take {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
            },
            TAG_REFUND => StockEffect::Refund {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
            },
            TAG_RESERVATION_EXPIRED => StockEffect::ReservationExpired {
                key: input.key()?,
                holder: input.bytes()?,
            },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}
