//! What a seat command or timer did to one event: [`SeatEffect`], with its
//! tags and its byte encoding (the `effect` grammar in
//! [`crate::state::effect`]). SEAT.CREATE is the keyspace's `Put`.

use bytes::Bytes;

use crate::encoding::{put_tagged_pair, DecodeError, Reader};
use crate::state::key::{Key, ReadKey};

/// A list of seat numbers in an effect, the type requests carry them in.
pub use usher_protocol::SeatList;

/// `key holder deadline:u64 seats`: seats newly held (free until then);
/// the holder's deadline set.
pub const TAG_HOLD: u8 = 32;
/// `key holder`: every seat it held is sold.
pub const TAG_CONFIRM: u8 = 33;
/// `key holder seats`: the seats released.
pub const TAG_RELEASE: u8 = 34;
/// `key holder`: its holds' deadline passed.
pub const TAG_HOLD_EXPIRED: u8 = 35;

#[derive(Clone, Debug, PartialEq)]
pub enum SeatEffect {
    /// `holder` now also holds `seats` (free until then), and its holds
    /// share `deadline_ms`.
    Hold {
        key: Key,
        holder: Bytes,
        deadline_ms: u64,
        seats: SeatList,
    },
    /// Every seat `holder` held is sold to it.
    Confirm { key: Key, holder: Bytes },
    /// `holder` released `seats` (all held by it).
    Release {
        key: Key,
        holder: Bytes,
        seats: SeatList,
    },
    /// `holder`'s holds were released because their deadline passed.
    HoldExpired { key: Key, holder: Bytes },
}

impl SeatEffect {
    pub fn key(&self) -> &Key {
        match self {
            SeatEffect::Hold { key, .. }
            | SeatEffect::Confirm { key, .. }
            | SeatEffect::Release { key, .. }
            | SeatEffect::HoldExpired { key, .. } => key,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SeatEffect::Hold {
                key,
                holder,
                deadline_ms,
                seats,
            } => {
                put_tagged_pair(out, TAG_HOLD, key, holder);
                out.extend_from_slice(&deadline_ms.to_le_bytes());
                put_seats(out, seats);
            }
            SeatEffect::Confirm { key, holder } => put_tagged_pair(out, TAG_CONFIRM, key, holder),
            SeatEffect::Release { key, holder, seats } => {
                put_tagged_pair(out, TAG_RELEASE, key, holder);
                put_seats(out, seats);
            }
            SeatEffect::HoldExpired { key, holder } => {
                put_tagged_pair(out, TAG_HOLD_EXPIRED, key, holder)
            }
        }
    }

    /// Decodes the effect after its `tag`.
    pub fn decode(tag: u8, input: &mut Reader<'_>) -> Result<SeatEffect, DecodeError> {
        let effect = match tag {
            TAG_HOLD => SeatEffect::Hold {
                key: input.key()?,
                holder: input.bytes()?,
                deadline_ms: input.u64()?,
                seats: get_seats(input)?,
            },
            TAG_CONFIRM => SeatEffect::Confirm {
                key: input.key()?,
                holder: input.bytes()?,
            },
            TAG_RELEASE => SeatEffect::Release {
                key: input.key()?,
                holder: input.bytes()?,
                seats: get_seats(input)?,
            },
            TAG_HOLD_EXPIRED => SeatEffect::HoldExpired {
                key: input.key()?,
                holder: input.bytes()?,
            },
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}

/// A seat list: count, then each seat.
pub fn put_seats(out: &mut Vec<u8>, seats: &[u32]) {
    out.extend_from_slice(&(seats.len() as u32).to_le_bytes());
    for seat in seats {
        out.extend_from_slice(&seat.to_le_bytes());
    }
}

/// A seat list (`put_seats`).
pub fn get_seats(input: &mut Reader<'_>) -> Result<SeatList, DecodeError> {
    let count = input.count(4)?;
    (0..count).map(|_| input.u32()).collect()
}
