//! Effects: what a request or a timer *did* to the state, as opposed to what
//! was asked. The engine appends them to the log; recovery replays them with
//! [`State::replay`], which reads no clock and reproduces the same state.
//!
//! Rules every family follows:
//! - relative times are already resolved: effects carry absolute deadlines;
//! - timer-driven changes (expiry, admission, release) are effects of their
//!   own, so replay never has to re-run a timer;
//! - every effect names the one key it changes (except `FlushAll`, and the
//!   `REQ` table's effects, which name one id), and a key's creation or
//!   full replacement is a `Put` with its whole value.
//!   Incremental snapshots rely on this: a key captured at log position `p`
//!   skips the effects on it logged before `p` (see `snapshot.rs`).
//!
//! Sorted sets and queues change member by member, so besides `Put` they
//! log one delta per member changed (tags 6 to 14). A delta names its key
//! and carries everything replay needs without a clock or a choice of its
//! own: the resolved score, the admitted member with its absolute deadline
//! and the time the rate window and eta history count it at. Replay runs
//! the same functions the command or timer ran, so counters, rate windows
//! and eta history come out the same. A delta on a key that is missing
//! during replay is skipped: with a snapshot, that key was deleted before
//! the snapshot reached it, and its `Delete` follows in the log.
//!
//! Seat maps and stock log one delta per change too (tags 32 to 42): the
//! holder, the seats or units, and the absolute deadline; a hold or
//! reservation released by time is an effect of its own. The `REQ` table
//! is state as well, but not a key: its entries are named by their ids, a
//! namespace of their own (tags 43 and 44), and `FlushAll` empties it along
//! with the keyspace.
//!
//! Encoding (little-endian; strings (`key`, `member`, `holder`, `id`,
//! `bytes`, `text`) are `u32 length` + bytes; a deadline of 0 means "none";
//! `f64` is its IEEE-754 bits):
//!
//! ```text
//! effect := 1 Put         key deadline:u64 value
//!         | 2 Delete      key
//!         | 3 Expired     key
//!         | 4 Deadline    key deadline:u64
//!         | 5 FlushAll
//!         | 6 ZsetSet     key member score:f64      member added or re-scored
//!         | 7 ZsetRemove  key member
//!         | 8 QueueConfig key settings              settings after QUEUE.CONFIG
//!         | 9 QueueJoin   key member                appended to the line
//!         | 10 QueueAdmit key member at_ms:u64 deadline:u64 automatic:u8
//!                                                   the line's front admitted;
//!                                                   automatic = counts in the
//!                                                   RATE window
//!         | 11 QueueExpire key member               an active member's deadline passed
//!         | 12 QueueLeave key member                QUEUE.LEAVE (waiting or active)
//!         | 13 QueueTouch key member deadline:u64   QUEUE.TOUCH
//!         | 14 QueueClose key                       waiting members dropped, closed
//!         | 32 SeatHold    key holder deadline:u64 seats
//!                                                   seats newly held (free until
//!                                                   then); the holder's deadline set
//!         | 33 SeatConfirm key holder               every seat it held is sold
//!         | 34 SeatRelease key holder seats         the seats released
//!         | 35 SeatHoldExpired key holder           its holds' deadline passed
//!         | 36 StockConfig key total:u64 limit      an existing SKU's total and limit
//!         | 37 StockReserve key holder quantity:u64 deadline:u64
//!         | 38 StockConfirm key holder              what it reserved is sold
//!         | 39 StockRelease key holder              what it reserved is available
//!         | 40 StockTake   key holder quantity:u64
//!         | 41 StockRefund key holder quantity:u64  units actually refunded
//!         | 42 StockReservationExpired key holder   its reservation's deadline passed
//!         | 43 ReqRemember id fingerprint:u64 deadline:u64 reply
//!         | 44 ReqForget   id                       its deadline passed
//! seats  := count:u32 seat:u32{count}
//! limit  := 0 | 1 k:u64                             none | k
//! value  := 1 Str bytes | 2 Int i64 | 3 Zset zset | 4 Queue queue
//!         | 5 Seats seat-map | 6 Stock stock        (state/seats.rs, state/stock.rs)
//! reply  := 0 Nil | 1 Simple text | 2 Bulk bytes | 3 BulkInt i64 | 4 Int i64
//!         | 5 Double bits:u64 | 6 Bool u8 | 7 Array count:u32 reply{count}
//!         | 8 Map count:u32 (reply reply){count} | 9 Error code:u16 text
//!         | 10 NilArray
//! zset   := seed:u64 rng:u64 count:u64 (member score:f64)*   ascending order
//! settings := capacity:u64 rate_members:u64 rate_period_ms:u64
//!             rate_anchor_ms:u64 ttl_ms:u64 window:u64 admitted_in_window:u64
//! queue  := seed:u64 settings closed:u8
//!           joined_total:u64 admitted_total:u64 expired_total:u64
//!           left_total:u64 dropped_total:u64
//!           history:u32 (second:u64 admissions:u32)*   eta history, by second
//!           waiting:u64 member*                        oldest first
//!           active:u64 (member deadline:u64)*          expiry order; no deadline last, by id
//! ```
//! `seed` is the value's hash and priority seed (and `rng` the sorted set's
//! priority generator), so a value rebuilt from the log alone gets the same
//! layout as the original, and later insertions into a decoded one draw the
//! same priorities. Hash indexes, trees, arenas and counting structures are
//! not stored; decoding builds them afresh, so a decoded value holds the
//! same members, order, deadlines, settings and counters in a layout of its
//! own. Nothing observable depends on layout: equal deadlines expire in an
//! order set by the member's hash under the value's seed, not by slot.
//!
//! An effect that does not fit the state it is replayed on (a member that
//! is not where the effect says) is a [`ReplayError`]: the log and the state
//! disagree, and recovery refuses to start at that record. Tags are never
//! reused; new effects and value types get new numbers. The reply encoding
//! is lossless (unlike the binary protocol's, which sends `BulkInt` as a
//! string): a remembered reply comes back identical after a restart.

use std::borrow::Cow;

use bytes::Bytes;

use super::key::Key;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::queue::{self, Queue, QueueSettings};
use super::zset::{self, Zset};
use super::{idempotency, seats, stock, State, Value};

/// A list of seat numbers in an effect, the type requests carry them in.
pub use usher_protocol::SeatList;

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
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
    /// A sorted-set member was added or got a new score.
    ZsetSet { key: Key, member: Bytes, score: f64 },
    /// A sorted-set member was removed (the key's `Delete` follows if the
    /// set became empty).
    ZsetRemove { key: Key, member: Bytes },
    /// A queue's settings and rate window after QUEUE.CONFIG.
    QueueConfig { key: Key, settings: QueueSettings },
    /// A member joined the end of a queue's line.
    QueueJoin { key: Key, member: Bytes },
    /// The oldest waiting member was admitted at `at_ms` until
    /// `deadline_ms` (`None` = no expiry); `automatic` admissions count in
    /// the RATE window.
    QueueAdmit {
        key: Key,
        member: Bytes,
        at_ms: u64,
        deadline_ms: Option<u64>,
        automatic: bool,
    },
    /// An active member's deadline passed.
    QueueExpire { key: Key, member: Bytes },
    /// A waiting or active member left.
    QueueLeave { key: Key, member: Bytes },
    /// An active member's deadline changed.
    QueueTouch {
        key: Key,
        member: Bytes,
        deadline_ms: Option<u64>,
    },
    /// A queue was closed and its waiting members dropped.
    QueueClose { key: Key },
    /// `holder` now also holds `seats` (free until then), and its holds
    /// share `deadline_ms`.
    SeatHold {
        key: Key,
        holder: Bytes,
        deadline_ms: u64,
        seats: SeatList,
    },
    /// Every seat `holder` held is sold to it.
    SeatConfirm { key: Key, holder: Bytes },
    /// `holder` released `seats` (all held by it).
    SeatRelease {
        key: Key,
        holder: Bytes,
        seats: SeatList,
    },
    /// `holder`'s holds were released because their deadline passed.
    SeatHoldExpired { key: Key, holder: Bytes },
    /// An existing SKU's total and limit are now these.
    StockConfig {
        key: Key,
        total: u64,
        limit: Option<u64>,
    },
    /// `holder` reserved `quantity` more units; its reservations share
    /// `deadline_ms`.
    StockReserve {
        key: Key,
        holder: Bytes,
        quantity: u64,
        deadline_ms: u64,
    },
    /// Every unit `holder` reserved is sold to it.
    StockConfirm { key: Key, holder: Bytes },
    /// Every unit `holder` reserved went back to available.
    StockRelease { key: Key, holder: Bytes },
    /// `holder` bought `quantity` units at once.
    StockTake {
        key: Key,
        holder: Bytes,
        quantity: u64,
    },
    /// `quantity` units `holder` bought went back to available.
    StockRefund {
        key: Key,
        holder: Bytes,
        quantity: u64,
    },
    /// `holder`'s reservation went back to available because its deadline
    /// passed.
    StockReservationExpired { key: Key, holder: Bytes },
    /// The reply to `REQ id` is remembered until `deadline_ms`.
    ReqRemember {
        id: Bytes,
        fingerprint: u64,
        deadline_ms: u64,
        reply: Reply,
    },
    /// The remembered reply for `id` was forgotten: its deadline passed.
    ReqForget { id: Bytes },
}

/// What an effect changes, for recovery's snapshot-position filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// One key of the keyspace.
    Key(&'a [u8]),
    /// One entry of the `REQ` table (ids are a namespace of their own).
    ReqId(&'a [u8]),
    /// Everything (`FlushAll`).
    All,
}

const EFFECT_PUT: u8 = 1;
const EFFECT_DELETE: u8 = 2;
const EFFECT_EXPIRED: u8 = 3;
const EFFECT_DEADLINE: u8 = 4;
const EFFECT_FLUSH_ALL: u8 = 5;
const EFFECT_ZSET_SET: u8 = 6;
const EFFECT_ZSET_REMOVE: u8 = 7;
const EFFECT_QUEUE_CONFIG: u8 = 8;
const EFFECT_QUEUE_JOIN: u8 = 9;
const EFFECT_QUEUE_ADMIT: u8 = 10;
const EFFECT_QUEUE_EXPIRE: u8 = 11;
const EFFECT_QUEUE_LEAVE: u8 = 12;
const EFFECT_QUEUE_TOUCH: u8 = 13;
const EFFECT_QUEUE_CLOSE: u8 = 14;
const EFFECT_SEAT_HOLD: u8 = 32;
const EFFECT_SEAT_CONFIRM: u8 = 33;
const EFFECT_SEAT_RELEASE: u8 = 34;
const EFFECT_SEAT_HOLD_EXPIRED: u8 = 35;
const EFFECT_STOCK_CONFIG: u8 = 36;
const EFFECT_STOCK_RESERVE: u8 = 37;
const EFFECT_STOCK_CONFIRM: u8 = 38;
const EFFECT_STOCK_RELEASE: u8 = 39;
const EFFECT_STOCK_TAKE: u8 = 40;
const EFFECT_STOCK_REFUND: u8 = 41;
const EFFECT_STOCK_RESERVATION_EXPIRED: u8 = 42;
const EFFECT_REQ_REMEMBER: u8 = 43;
const EFFECT_REQ_FORGET: u8 = 44;

const VALUE_STR: u8 = 1;
const VALUE_INT: u8 = 2;
const VALUE_ZSET: u8 = 3;
const VALUE_QUEUE: u8 = 4;
const VALUE_SEATS: u8 = 5;
const VALUE_STOCK: u8 = 6;

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
/// Deepest nesting a remembered reply may have (command replies nest two
/// or three levels).
const REPLY_DEPTH_MAX: usize = usher_protocol::binary::REPLY_DEPTH_MAX;

impl Effect {
    /// The key this effect changes; `None` for `FlushAll` and for effects
    /// on the `REQ` table (see [`Effect::target`]).
    pub fn key(&self) -> Option<&[u8]> {
        match self.target() {
            Target::Key(key) => Some(key),
            Target::ReqId(_) | Target::All => None,
        }
    }

    /// What this effect changes.
    pub fn target(&self) -> Target<'_> {
        match self {
            Effect::Put { key, .. }
            | Effect::Delete { key }
            | Effect::Expired { key }
            | Effect::Deadline { key, .. }
            | Effect::ZsetSet { key, .. }
            | Effect::ZsetRemove { key, .. }
            | Effect::QueueConfig { key, .. }
            | Effect::QueueJoin { key, .. }
            | Effect::QueueAdmit { key, .. }
            | Effect::QueueExpire { key, .. }
            | Effect::QueueLeave { key, .. }
            | Effect::QueueTouch { key, .. }
            | Effect::QueueClose { key }
            | Effect::SeatHold { key, .. }
            | Effect::SeatConfirm { key, .. }
            | Effect::SeatRelease { key, .. }
            | Effect::SeatHoldExpired { key, .. }
            | Effect::StockConfig { key, .. }
            | Effect::StockReserve { key, .. }
            | Effect::StockConfirm { key, .. }
            | Effect::StockRelease { key, .. }
            | Effect::StockTake { key, .. }
            | Effect::StockRefund { key, .. }
            | Effect::StockReservationExpired { key, .. } => Target::Key(key),
            Effect::ReqRemember { id, .. } | Effect::ReqForget { id } => Target::ReqId(id),
            Effect::FlushAll => Target::All,
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
            Effect::ZsetSet { key, member, score } => {
                out.push(EFFECT_ZSET_SET);
                put_bytes(out, key);
                put_bytes(out, member);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
            Effect::ZsetRemove { key, member } => {
                put_key_member(out, EFFECT_ZSET_REMOVE, key, member);
            }
            Effect::QueueConfig { key, settings } => {
                out.push(EFFECT_QUEUE_CONFIG);
                put_bytes(out, key);
                put_settings(out, settings);
            }
            Effect::QueueJoin { key, member } => {
                put_key_member(out, EFFECT_QUEUE_JOIN, key, member);
            }
            Effect::QueueAdmit {
                key,
                member,
                at_ms,
                deadline_ms,
                automatic,
            } => {
                put_key_member(out, EFFECT_QUEUE_ADMIT, key, member);
                out.extend_from_slice(&at_ms.to_le_bytes());
                out.extend_from_slice(&deadline_ms.unwrap_or(0).to_le_bytes());
                out.push(u8::from(*automatic));
            }
            Effect::QueueExpire { key, member } => {
                put_key_member(out, EFFECT_QUEUE_EXPIRE, key, member);
            }
            Effect::QueueLeave { key, member } => {
                put_key_member(out, EFFECT_QUEUE_LEAVE, key, member);
            }
            Effect::QueueTouch {
                key,
                member,
                deadline_ms,
            } => {
                put_key_member(out, EFFECT_QUEUE_TOUCH, key, member);
                out.extend_from_slice(&deadline_ms.unwrap_or(0).to_le_bytes());
            }
            Effect::QueueClose { key } => {
                out.push(EFFECT_QUEUE_CLOSE);
                put_bytes(out, key);
            }
            Effect::SeatHold {
                key,
                holder,
                deadline_ms,
                seats,
            } => {
                keyed(out, EFFECT_SEAT_HOLD, key, holder);
                out.extend_from_slice(&deadline_ms.to_le_bytes());
                put_seats(out, seats);
            }
            Effect::SeatConfirm { key, holder } => keyed(out, EFFECT_SEAT_CONFIRM, key, holder),
            Effect::SeatRelease { key, holder, seats } => {
                keyed(out, EFFECT_SEAT_RELEASE, key, holder);
                put_seats(out, seats);
            }
            Effect::SeatHoldExpired { key, holder } => {
                keyed(out, EFFECT_SEAT_HOLD_EXPIRED, key, holder)
            }
            Effect::StockConfig { key, total, limit } => {
                out.push(EFFECT_STOCK_CONFIG);
                put_bytes(out, key);
                out.extend_from_slice(&total.to_le_bytes());
                put_option(out, *limit);
            }
            Effect::StockReserve {
                key,
                holder,
                quantity,
                deadline_ms,
            } => {
                keyed(out, EFFECT_STOCK_RESERVE, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
                out.extend_from_slice(&deadline_ms.to_le_bytes());
            }
            Effect::StockConfirm { key, holder } => keyed(out, EFFECT_STOCK_CONFIRM, key, holder),
            Effect::StockRelease { key, holder } => keyed(out, EFFECT_STOCK_RELEASE, key, holder),
            Effect::StockTake {
                key,
                holder,
                quantity,
            } => {
                keyed(out, EFFECT_STOCK_TAKE, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
            }
            Effect::StockRefund {
                key,
                holder,
                quantity,
            } => {
                keyed(out, EFFECT_STOCK_REFUND, key, holder);
                out.extend_from_slice(&quantity.to_le_bytes());
            }
            Effect::StockReservationExpired { key, holder } => {
                keyed(out, EFFECT_STOCK_RESERVATION_EXPIRED, key, holder)
            }
            Effect::ReqRemember {
                id,
                fingerprint,
                deadline_ms,
                reply,
            } => {
                out.push(EFFECT_REQ_REMEMBER);
                put_bytes(out, id);
                out.extend_from_slice(&fingerprint.to_le_bytes());
                out.extend_from_slice(&deadline_ms.to_le_bytes());
                encode_reply(reply, out);
            }
            Effect::ReqForget { id } => {
                out.push(EFFECT_REQ_FORGET);
                put_bytes(out, id);
            }
        }
    }

    /// Decodes one effect from the front of `input`, advancing it. The
    /// caller has checked the enclosing record's checksum, so an error here
    /// means a format bug or a file from another version.
    pub fn decode(input: &mut Reader<'_>) -> Result<Effect, DecodeError> {
        let effect = match input.u8()? {
            EFFECT_PUT => {
                let key = input.key()?;
                let deadline_ms = deadline(input.u64()?);
                let value = decode_value(input)?;
                Effect::Put {
                    key,
                    value,
                    deadline_ms,
                }
            }
            EFFECT_DELETE => Effect::Delete { key: input.key()? },
            EFFECT_EXPIRED => Effect::Expired { key: input.key()? },
            EFFECT_DEADLINE => Effect::Deadline {
                key: input.key()?,
                deadline_ms: deadline(input.u64()?),
            },
            EFFECT_FLUSH_ALL => Effect::FlushAll,
            EFFECT_ZSET_SET => Effect::ZsetSet {
                key: input.key()?,
                member: input.bytes()?,
                score: input.f64()?,
            },
            EFFECT_ZSET_REMOVE => Effect::ZsetRemove {
                key: input.key()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_CONFIG => Effect::QueueConfig {
                key: input.key()?,
                settings: get_settings(input)?,
            },
            EFFECT_QUEUE_JOIN => Effect::QueueJoin {
                key: input.key()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_ADMIT => Effect::QueueAdmit {
                key: input.key()?,
                member: input.bytes()?,
                at_ms: input.u64()?,
                deadline_ms: deadline(input.u64()?),
                automatic: input.flag()?,
            },
            EFFECT_QUEUE_EXPIRE => Effect::QueueExpire {
                key: input.key()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_LEAVE => Effect::QueueLeave {
                key: input.key()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_TOUCH => Effect::QueueTouch {
                key: input.key()?,
                member: input.bytes()?,
                deadline_ms: deadline(input.u64()?),
            },
            EFFECT_QUEUE_CLOSE => Effect::QueueClose { key: input.key()? },
            EFFECT_SEAT_HOLD => Effect::SeatHold {
                key: input.key()?,
                holder: input.bytes()?,
                deadline_ms: input.u64()?,
                seats: input.seats()?,
            },
            EFFECT_SEAT_CONFIRM => Effect::SeatConfirm {
                key: input.key()?,
                holder: input.bytes()?,
            },
            EFFECT_SEAT_RELEASE => Effect::SeatRelease {
                key: input.key()?,
                holder: input.bytes()?,
                seats: input.seats()?,
            },
            EFFECT_SEAT_HOLD_EXPIRED => Effect::SeatHoldExpired {
                key: input.key()?,
                holder: input.bytes()?,
            },
            EFFECT_STOCK_CONFIG => Effect::StockConfig {
                key: input.key()?,
                total: input.u64()?,
                limit: input.option()?,
            },
            EFFECT_STOCK_RESERVE => Effect::StockReserve {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
                deadline_ms: input.u64()?,
            },
            EFFECT_STOCK_CONFIRM => Effect::StockConfirm {
                key: input.key()?,
                holder: input.bytes()?,
            },
            EFFECT_STOCK_RELEASE => Effect::StockRelease {
                key: input.key()?,
                holder: input.bytes()?,
            },
            EFFECT_STOCK_TAKE => Effect::StockTake {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
            },
            EFFECT_STOCK_REFUND => Effect::StockRefund {
                key: input.key()?,
                holder: input.bytes()?,
                quantity: input.u64()?,
            },
            EFFECT_STOCK_RESERVATION_EXPIRED => Effect::StockReservationExpired {
                key: input.key()?,
                holder: input.bytes()?,
            },
            EFFECT_REQ_REMEMBER => Effect::ReqRemember {
                id: input.bytes()?,
                fingerprint: input.u64()?,
                deadline_ms: input.u64()?,
                reply: decode_reply(input)?,
            },
            EFFECT_REQ_FORGET => Effect::ReqForget { id: input.bytes()? },
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

fn put_key_member(out: &mut Vec<u8>, tag: u8, key: &[u8], member: &[u8]) {
    out.push(tag);
    put_bytes(out, key);
    put_bytes(out, member);
}

/// Tag, key and holder: the head of every seat and stock effect.
fn keyed(out: &mut Vec<u8>, tag: u8, key: &[u8], holder: &[u8]) {
    out.push(tag);
    put_bytes(out, key);
    put_bytes(out, holder);
}

/// A seat list: count, then each seat.
pub fn put_seats(out: &mut Vec<u8>, seats: &[u32]) {
    out.extend_from_slice(&(seats.len() as u32).to_le_bytes());
    for seat in seats {
        out.extend_from_slice(&seat.to_le_bytes());
    }
}

/// An optional number: 0, or 1 and the number.
pub fn put_option(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            out.extend_from_slice(&value.to_le_bytes());
        }
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
        Reply::Map(pairs) => {
            out.push(REPLY_MAP);
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
    let reply = match input.u8()? {
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
        REPLY_MAP => {
            let count = input.count(2)?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                let key = decode_reply_at(input, depth + 1)?;
                let value = decode_reply_at(input, depth + 1)?;
                pairs.push((key, value));
            }
            Reply::Map(pairs)
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

/// Encodes a whole value (used by `Put` and by snapshots).
/// About how many bytes [`encode_value`] writes for `value`: exact for
/// strings, from counts and a sample of member lengths for the other types.
/// A snapshot asks for a buffer this big, prefaulted off the engine thread,
/// before it serializes a large value.
pub fn encoded_len_hint(value: &Value) -> usize {
    match value {
        Value::Str(bytes) => 5 + bytes.len(),
        Value::Short(short) => 5 + short.as_bytes().len(),
        Value::Int(_) => 9,
        Value::Zset(zset) => 1 + zset.encoded_len_hint(),
        Value::Queue(queue) => 1 + queue.encoded_len_hint(),
        Value::Seats(map) => 1 + map.encoded_len_hint(),
        Value::Stock(stock) => 1 + stock.encoded_len_hint(),
    }
}

/// The average of the first few lengths, rounded up (0 if none): what
/// [`encoded_len_hint`] takes as every member's length.
pub(crate) fn sampled_average(lengths: impl Iterator<Item = usize>) -> usize {
    const SAMPLE: usize = 32;
    let (count, sum) = lengths
        .take(SAMPLE)
        .fold((0, 0), |(count, sum), length| (count + 1, sum + length));
    if count == 0 {
        0
    } else {
        sum.div_ceil(count)
    }
}

pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(bytes) => {
            out.push(VALUE_STR);
            put_bytes(out, bytes);
        }
        Value::Short(short) => {
            out.push(VALUE_STR);
            put_bytes(out, short.as_bytes());
        }
        Value::Int(number) => {
            out.push(VALUE_INT);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::Zset(zset) => {
            out.push(VALUE_ZSET);
            zset.encode(out);
        }
        Value::Queue(queue) => {
            out.push(VALUE_QUEUE);
            queue.encode(out);
        }
        Value::Seats(map) => {
            out.push(VALUE_SEATS);
            map.encode(out);
        }
        Value::Stock(stock) => {
            out.push(VALUE_STOCK);
            stock.encode(out);
        }
    }
}

pub fn decode_value(input: &mut Reader<'_>) -> Result<Value, DecodeError> {
    match input.u8()? {
        VALUE_STR => Ok(Value::string(input.slice()?)),
        VALUE_INT => Ok(Value::Int(input.i64()?)),
        VALUE_ZSET => Ok(Value::Zset(Box::new(Zset::decode(input)?))),
        VALUE_QUEUE => Ok(Value::Queue(Box::new(Queue::decode(input)?))),
        VALUE_SEATS => Ok(Value::Seats(Box::new(seats::SeatMap::decode(input)?))),
        VALUE_STOCK => Ok(Value::Stock(Box::new(stock::Stock::decode(input)?))),
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

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let mut raw = [0u8; 2];
        raw.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(raw))
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

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A byte that must be 0 or 1.
    pub fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError(format!(
                "flag byte {other} at byte {}",
                self.position - 1
            ))),
        }
    }

    /// A length-prefixed byte string, borrowed from the input.
    pub fn slice(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    /// A length-prefixed key name (in place when short, see [`Key`]).
    pub fn key(&mut self) -> Result<Key, DecodeError> {
        Ok(Key::copy_from_slice(self.slice()?))
    }

    /// A length-prefixed byte string, copied into its own allocation.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(length)?))
    }

    /// A length-prefixed UTF-8 string.
    pub fn text(&mut self) -> Result<String, DecodeError> {
        let at = self.position;
        String::from_utf8(self.slice()?.to_vec())
            .map_err(|_| DecodeError(format!("text at byte {at} is not UTF-8")))
    }

    /// A `u32` count of items that take at least `item_bytes` each, checked
    /// against what is left so that a bad count cannot allocate much.
    pub fn count(&mut self, item_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.position;
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.data.len() - self.position {
            return Err(DecodeError(format!(
                "count {count} at byte {at} runs past the end"
            )));
        }
        Ok(count)
    }

    /// A seat list (`put_seats`).
    pub fn seats(&mut self) -> Result<SeatList, DecodeError> {
        let count = self.count(4)?;
        (0..count).map(|_| self.u32()).collect()
    }

    /// An optional number (`put_option`).
    pub fn option(&mut self) -> Result<Option<u64>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            flag => Err(DecodeError(format!("option flag {flag}"))),
        }
    }
}

/// A logged effect that does not fit the state it is replayed on: the log
/// and the state disagree, which only a bug can cause (records are
/// checksummed). Recovery refuses to start rather than diverge silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

impl State {
    /// Applies one logged effect. Reads no clock; records no new effects.
    /// Queues it touches are put back in the timer index, due at once when
    /// they could admit (the engine's first tick works out the real time);
    /// seat maps and stock it touches are registered under their earliest
    /// hold deadline.
    pub fn replay(&mut self, effect: &Effect) -> Result<(), ReplayError> {
        let recording = self.keyspace.set_recording(false);
        let result = match effect {
            Effect::Put {
                key,
                value,
                deadline_ms,
            } => {
                self.keyspace.insert(key, value.clone(), *deadline_ms);
                match value {
                    Value::Queue(_) => queue::replayed(self, key),
                    Value::Seats(_) | Value::Stock(_) => self.register_holds(key),
                    _ => {}
                }
                Ok(())
            }
            Effect::Delete { key } => {
                self.keyspace.remove(key);
                Ok(())
            }
            Effect::Expired { key } => {
                if self.keyspace.remove(key) {
                    self.keyspace.expired_total += 1;
                }
                Ok(())
            }
            Effect::Deadline { key, deadline_ms } => {
                self.keyspace.set_deadline(key, *deadline_ms);
                Ok(())
            }
            Effect::FlushAll => {
                self.keyspace.clear();
                self.queue_timers.clear();
                self.holds.clear();
                self.idempotency.clear();
                Ok(())
            }
            Effect::ZsetSet { .. } | Effect::ZsetRemove { .. } => zset::replay(self, effect),
            Effect::QueueConfig { .. }
            | Effect::QueueJoin { .. }
            | Effect::QueueAdmit { .. }
            | Effect::QueueExpire { .. }
            | Effect::QueueLeave { .. }
            | Effect::QueueTouch { .. }
            | Effect::QueueClose { .. } => queue::replay(self, effect),
            Effect::SeatHold { .. }
            | Effect::SeatConfirm { .. }
            | Effect::SeatRelease { .. }
            | Effect::SeatHoldExpired { .. } => seats::replay(self, effect),
            Effect::StockConfig { .. }
            | Effect::StockReserve { .. }
            | Effect::StockConfirm { .. }
            | Effect::StockRelease { .. }
            | Effect::StockTake { .. }
            | Effect::StockRefund { .. }
            | Effect::StockReservationExpired { .. } => stock::replay(self, effect),
            Effect::ReqRemember { .. } | Effect::ReqForget { .. } => {
                idempotency::replay(self, effect)
            }
        };
        self.keyspace.set_recording(recording);
        result
    }
}
