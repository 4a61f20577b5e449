//! Effects: what a request or a timer *did* to the state, as opposed to what
//! was asked. The engine appends them to the log; recovery replays them with
//! [`State::replay`], which reads no clock and reproduces the same state.
//!
//! Each family owns its effects: a sub-enum ([`KeyEffect`], [`ZsetEffect`],
//! [`QueueEffect`], [`SeatEffect`], [`StockEffect`], [`ReqEffect`]) in its
//! own `effects` file, with its tags, encoding, decoding, and a `replay`
//! beside its commands. This file holds the grammar below, the tag table
//! (which family owns which tags) and the dispatch.
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
//! Lists log what changed at their ends or positions (tags 55 to 61): the
//! items pushed, how many popped from which end, the resolved positions a
//! set, trim or removal touched; never the request (LREM's count and
//! element, LTRIM's indexes), so replay makes no choice of its own. LMOVE
//! changes two keys: a pop on one, a push on the other.
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
//!         | 15 Append     key bytes                 bytes appended to a string
//!         | 16 SetRange   key offset:u64 bytes      a string overwritten from
//!                                                   offset, zero-padded up to it
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
//!         | 45 SetAdd      key member               a member added to a set
//!         | 46 SetRemove   key member               a member removed (SREM, SPOP, SMOVE)
//!         | 55 ListPushLeft  key count:u32 bytes{count}  pushed at the head, in order
//!         | 56 ListPushRight key count:u32 bytes{count}  appended at the tail
//!         | 57 ListPopLeft   key count:u64          popped from the head
//!         | 58 ListPopRight  key count:u64          popped from the tail
//!         | 59 ListSet     key index:u64 bytes      the item at index replaced
//!         | 60 ListTrim    key first:u64 end:u64    only [first, end) kept
//!         | 61 ListRemove  key count:u32 index:u64{count}
//!                                                   items at these positions
//!                                                   (ascending, before removal)
//!                                                   removed
//!         | 50 HashSet     key field bytes          field set to a string
//!         | 51 HashSetInt  key field i64            field set to an integer
//!         | 52 HashRemove  key field
//! seats  := count:u32 seat:u32{count}
//! limit  := 0 | 1 k:u64                             none | k
//! value  := 1 Str bytes | 2 Int i64 | 3 Zset zset | 4 Queue queue
//!         | 5 Seats seat-map | 6 Stock stock        (seats/mod.rs, stock/mod.rs)
//!         | 7 Set set | 8 Hash hash | 9 List list
//! reply  := 0 Nil | 1 Simple text | 2 Bulk bytes | 3 BulkInt i64 | 4 Int i64
//!         | 5 Double bits:u64 | 6 Bool u8 | 7 Array count:u32 reply{count}
//!         | 8 Map count:u32 (reply reply){count} | 9 Error code:u16 text
//!         | 10 NilArray | 11 Pairs count:u32 (reply reply){count}
//!         | 12 Set count:u32 reply{count}
//! list   := count:u32 bytes{count}                 head first, never empty
//! zset   := seed:u64 rng:u64 count:u64 (member score:f64)*   ascending order
//! hash   := seed:u64 count:u32 (field hvalue)*      count >= 1, fields distinct
//! hvalue := 0 bytes | 1 i64                         a string that is an integer's
//!                                                   canonical text is always 1
//! set    := seed:u64 rng:u64 epoch:u32 count:u64 member*
//!                                                   arena order; rng never 0; epoch
//!                                                   of the layout (SSCAN cursors)
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
//! is not where the effect says, or a key holding another type) is a
//! [`ReplayError`]: the log and the state disagree, and recovery refuses to
//! start at that record. Tags are never
//! reused; new effects and value types get new numbers. The reply encoding
//! is lossless (unlike the binary protocol's, which sends `BulkInt` as a
//! string): a remembered reply comes back identical after a restart.

use super::hash::effects::HashEffect;
use super::idempotency::effects::ReqEffect;
use super::key::Key;
use super::key_effects::KeyEffect;
use super::list::effects::ListEffect;
use super::queue::effects::QueueEffect;
use super::seats::effects::SeatEffect;
use super::set::effects::SetEffect;
use super::stock::effects::StockEffect;
use super::value::Value;
use super::zset::effects::ZsetEffect;
use crate::encoding::{DecodeError, Reader};

/// A list of seat numbers in an effect, the type requests carry them in.
pub use usher_protocol::SeatList;

/// One logged effect: a family's own effect, wrapped.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A whole key created, replaced, deleted, expired or re-timed, or
    /// every key flushed.
    Key(KeyEffect),
    /// A sorted-set member added, re-scored or removed.
    Zset(ZsetEffect),
    /// A hash field set or removed.
    Hash(HashEffect),
    /// A queue member joined, admitted, expired, left or touched; settings
    /// changed; the queue closed.
    Queue(QueueEffect),
    /// A seat map's holds, confirmations and releases.
    Seat(SeatEffect),
    /// A SKU's reservations, purchases, refunds and settings.
    Stock(StockEffect),
    /// An entry of the `REQ` table remembered or forgotten.
    Req(ReqEffect),
    /// A list's items pushed, popped, set, trimmed or removed.
    List(ListEffect),
    /// A set member added or removed.
    Set(SetEffect),
}

// The recording path pushes an `Effect` per change: the wrapping must not
// make it larger than the largest family effect needs.
const _: () = assert!(std::mem::size_of::<Effect>() <= 104);

impl From<KeyEffect> for Effect {
    fn from(effect: KeyEffect) -> Effect {
        Effect::Key(effect)
    }
}

impl From<HashEffect> for Effect {
    fn from(effect: HashEffect) -> Effect {
        Effect::Hash(effect)
    }
}

impl From<ZsetEffect> for Effect {
    fn from(effect: ZsetEffect) -> Effect {
        Effect::Zset(effect)
    }
}

impl From<QueueEffect> for Effect {
    fn from(effect: QueueEffect) -> Effect {
        Effect::Queue(effect)
    }
}

impl From<SeatEffect> for Effect {
    fn from(effect: SeatEffect) -> Effect {
        Effect::Seat(effect)
    }
}

impl From<StockEffect> for Effect {
    fn from(effect: StockEffect) -> Effect {
        Effect::Stock(effect)
    }
}

impl From<ListEffect> for Effect {
    fn from(effect: ListEffect) -> Effect {
        Effect::List(effect)
    }
}

impl From<SetEffect> for Effect {
    fn from(effect: SetEffect) -> Effect {
        Effect::Set(effect)
    }
}

impl From<ReqEffect> for Effect {
    fn from(effect: ReqEffect) -> Effect {
        Effect::Req(effect)
    }
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
            Effect::Key(effect) => match effect.key() {
                Some(key) => Target::Key(key),
                None => Target::All,
            },
            Effect::Zset(effect) => Target::Key(effect.key()),
            Effect::Hash(effect) => Target::Key(effect.key()),
            Effect::Queue(effect) => Target::Key(effect.key()),
            Effect::Seat(effect) => Target::Key(effect.key()),
            Effect::Stock(effect) => Target::Key(effect.key()),
            Effect::Req(effect) => Target::ReqId(effect.id()),
            Effect::List(effect) => Target::Key(effect.key()),
            Effect::Set(effect) => Target::Key(effect.key()),
        }
    }

    /// Appends the effect's tag and body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Effect::Key(effect) => effect.encode(out),
            Effect::Zset(effect) => effect.encode(out),
            Effect::Hash(effect) => effect.encode(out),
            Effect::Queue(effect) => effect.encode(out),
            Effect::Seat(effect) => effect.encode(out),
            Effect::Stock(effect) => effect.encode(out),
            Effect::Req(effect) => effect.encode(out),
            Effect::List(effect) => effect.encode(out),
            Effect::Set(effect) => effect.encode(out),
        }
    }

    /// Decodes one effect from the front of `input`, advancing it. The
    /// caller has checked the enclosing record's checksum, so an error here
    /// means a format bug or a file from another version.
    ///
    /// The tag table: each family owns a block of tags (the grammar above
    /// lists every one); a family's `decode` refuses a tag of its block it
    /// does not know. Tags 17 to 31, 47 to 49, 53 to 54 and 62 up are free.
    pub fn decode(input: &mut Reader<'_>) -> Result<Effect, DecodeError> {
        let tag = input.u8()?;
        let effect = match tag {
            1..=5 | 15..=16 => Effect::Key(KeyEffect::decode(tag, input)?),
            6..=7 => Effect::Zset(ZsetEffect::decode(tag, input)?),
            8..=14 => Effect::Queue(QueueEffect::decode(tag, input)?),
            32..=35 => Effect::Seat(SeatEffect::decode(tag, input)?),
            36..=42 => Effect::Stock(StockEffect::decode(tag, input)?),
            43..=44 => Effect::Req(ReqEffect::decode(tag, input)?),
            55..=61 => Effect::List(ListEffect::decode(tag, input)?),
            50..=52 => Effect::Hash(HashEffect::decode(tag, input)?),
            45..=46 => Effect::Set(SetEffect::decode(tag, input)?),
            tag => return Err(DecodeError(format!("unknown effect tag {tag}"))),
        };
        Ok(effect)
    }
}

/// A logged effect that does not fit the state it is replayed on: the log
/// and the state disagree, which only a bug can cause (records are
/// checksummed). Recovery refuses to start rather than diverge silently.
/// Replay checks before it changes anything, so a refused effect leaves
/// the state as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// A family's effect names a key that holds another type.
    WrongType {
        key: Key,
        /// The type the effect's family changes (`TYPE`'s name for it).
        expected: &'static str,
        /// The type the key holds.
        found: &'static str,
    },
    /// The effect does not fit the value at its key: a member, holder,
    /// seat or count is not what the effect says.
    Unfit { key: Key, detail: String },
    /// The effect does not fit the `REQ` table entry it names.
    UnfitReq { id: bytes::Bytes, detail: String },
}

impl ReplayError {
    /// The effect of a family whose type is `expected` names `key`, which
    /// holds `found`.
    pub fn wrong_type(key: &Key, expected: &'static str, found: &Value) -> ReplayError {
        ReplayError::WrongType {
            key: key.clone(),
            expected,
            found: found.type_name(),
        }
    }

    /// The effect on `key` does not fit: `detail` says how.
    pub fn unfit(key: &Key, detail: impl Into<String>) -> ReplayError {
        ReplayError::Unfit {
            key: key.clone(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::WrongType {
                key,
                expected,
                found,
            } => write!(
                f,
                "a {expected} effect names key \"{}\", which holds a {found}",
                key.escape_ascii()
            ),
            ReplayError::Unfit { key, detail } => {
                write!(
                    f,
                    "effect on key \"{}\" does not fit: {detail}",
                    key.escape_ascii()
                )
            }
            ReplayError::UnfitReq { id, detail } => {
                write!(
                    f,
                    "effect on REQ id \"{}\" does not fit: {detail}",
                    id.escape_ascii()
                )
            }
        }
    }
}

impl std::error::Error for ReplayError {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use usher_protocol::{ErrorCode, Reply, ServerError};

    use super::*;
    use crate::client::args;
    use crate::state::hash::effects::HashValue;
    use crate::state::key_effects as key_tags;
    use crate::state::queue::effects::{self as queue_tags, QueueSettings};
    use crate::state::store::State;
    use crate::state::{hash, idempotency, limits::StateLimits, list, seats, set, stock, zset};

    const T0: u64 = 1_700_000_000_000;

    fn key(name: &str) -> Key {
        Key::copy_from_slice(name.as_bytes())
    }

    fn bytes(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    /// Every key's value after a few commands of every family: each value
    /// type, empty and not, as a `Put` would carry it.
    fn values() -> Vec<Value> {
        let mut state = State::new(StateLimits::default());
        for words in [
            &["SET", "short", "v"][..],
            &["SET", "long", &"x".repeat(100)],
            &["SET", "number", "-42"],
            &["ZADD", "z", "1.5", "a", "-2", "b", "inf", "c"],
            &[
                "QUEUE.CONFIG",
                "q",
                "CAPACITY",
                "1",
                "RATE",
                "5",
                "PER",
                "1000",
                "TTL",
                "60000",
            ],
            &["QUEUE.JOIN", "q", "m1"],
            &["QUEUE.JOIN", "q", "m2"],
            &["QUEUE.CONFIG", "empty-queue"],
            &["SEAT.CREATE", "event", "10", "LIMIT", "4"],
            &["SEAT.HOLD", "event", "h1", "60000", "1", "2"],
            &["SEAT.HOLD", "event", "h2", "60000", "3"],
            &["SEAT.CONFIRM", "event", "h2"],
            &["STOCK.CONFIG", "sku", "100", "LIMIT", "5"],
            &["STOCK.RESERVE", "sku", "h1", "2", "60000"],
            &["STOCK.TAKE", "sku", "h2", "3"],
            &["STOCK.CONFIG", "sku-free", "7"],
            &["RPUSH", "list", "a", "", &"long item ".repeat(10)],
            &[
                "HSET",
                "small-hash",
                "f",
                "v",
                "n",
                "-12",
                "big",
                "99999999999",
            ],
            &["SADD", "set", "a", "", &"y".repeat(200)],
        ] {
            let request = usher_protocol::parse(&args(words.iter().copied()))
                .unwrap_or_else(|error| panic!("{words:?}: {error:?}"));
            let reply = state.apply(&request, T0);
            assert!(!matches!(reply, Reply::Error(_)), "{words:?}: {reply:?}");
        }
        let mut values: Vec<Value> = state
            .keyspace
            .iter()
            .map(|(_, e)| e.value.clone())
            .collect();
        values.push(Value::Zset(Box::new(zset::Zset::new(9))));
        let mut large = hash::Hash::new(5);
        for i in 0..100 {
            large.set(
                format!("field-{i}").as_bytes(),
                hash::fields::FieldValue::Int(i),
            );
        }
        large.set(b"text", hash::fields::FieldValue::Bytes(b"not a number"));
        values.push(Value::Hash(large));
        values.push(Value::Set(Box::new(set::Set::new(9))));
        values
    }

    fn replies() -> Vec<Reply> {
        vec![
            Reply::Nil,
            Reply::Simple("OK".into()),
            Reply::Bulk(bytes("bulk")),
            Reply::Bulk(Bytes::new()),
            Reply::BulkInt(-7),
            Reply::Int(i64::MAX),
            Reply::Double(-0.5),
            Reply::Double(f64::INFINITY),
            Reply::Bool(true),
            Reply::Bool(false),
            Reply::Array(vec![Reply::Int(1), Reply::Array(vec![Reply::Nil])]),
            Reply::Set(vec![Reply::Bulk(bytes("member")), Reply::Set(Vec::new())]),
            Reply::Map(vec![(Reply::Simple("k".into()), Reply::Bulk(bytes("v")))]),
            Reply::Pairs(vec![(Reply::Bulk(bytes("f")), Reply::BulkInt(3))]),
            Reply::Error(ServerError::new(
                ErrorCode::Limit,
                "ERR too many".to_string(),
            )),
        ]
    }

    /// One effect (at least) of every kind, with edge values.
    fn samples() -> Vec<Effect> {
        let (k, m, h) = (key("k"), bytes("member"), bytes("holder"));
        let long = Key::copy_from_slice(&[b'k'; 100]);
        let mut effects: Vec<Effect> = values()
            .into_iter()
            .map(|value| {
                KeyEffect::Put {
                    key: k.clone(),
                    value,
                    deadline_ms: Some(T0),
                }
                .into()
            })
            .collect();
        effects.extend([
            KeyEffect::Put {
                key: long.clone(),
                value: Value::Int(1),
                deadline_ms: None,
            }
            .into(),
            KeyEffect::Delete { key: long }.into(),
            KeyEffect::Expired { key: k.clone() }.into(),
            KeyEffect::Deadline {
                key: k.clone(),
                deadline_ms: Some(T0),
            }
            .into(),
            KeyEffect::Deadline {
                key: k.clone(),
                deadline_ms: None,
            }
            .into(),
            KeyEffect::FlushAll.into(),
            KeyEffect::Append {
                key: k.clone(),
                bytes: Bytes::from_static(b"tail"),
            }
            .into(),
            KeyEffect::SetRange {
                key: k.clone(),
                offset: 7,
                bytes: Bytes::from_static(b"mid"),
            }
            .into(),
        ]);
        for score in [0.0, -1.25, f64::INFINITY, f64::NEG_INFINITY] {
            effects.push(
                ZsetEffect::Set {
                    key: k.clone(),
                    member: m.clone(),
                    score,
                }
                .into(),
            );
        }
        effects.push(
            ZsetEffect::Remove {
                key: k.clone(),
                member: Bytes::new(),
            }
            .into(),
        );
        for value in [
            HashValue::Bytes(bytes("text")),
            HashValue::Bytes(Bytes::new()),
            HashValue::Int(i64::MIN),
            HashValue::Int(7),
        ] {
            effects.push(
                HashEffect::Set {
                    key: k.clone(),
                    field: m.clone(),
                    value,
                }
                .into(),
            );
        }
        effects.push(
            HashEffect::Remove {
                key: k.clone(),
                field: m.clone(),
            }
            .into(),
        );
        let settings = QueueSettings {
            capacity: 3,
            rate_members: 5,
            rate_period_ms: 1000,
            rate_anchor_ms: T0,
            ttl_ms: 60_000,
            window: 4,
            admitted_in_window: 2,
        };
        effects.extend([
            QueueEffect::Config {
                key: k.clone(),
                settings,
            }
            .into(),
            QueueEffect::Config {
                key: k.clone(),
                settings: QueueSettings::default(),
            }
            .into(),
            QueueEffect::Join {
                key: k.clone(),
                member: m.clone(),
            }
            .into(),
            QueueEffect::Admit {
                key: k.clone(),
                member: m.clone(),
                at_ms: T0,
                deadline_ms: Some(T0 + 1),
                automatic: true,
            }
            .into(),
            QueueEffect::Admit {
                key: k.clone(),
                member: m.clone(),
                at_ms: T0,
                deadline_ms: None,
                automatic: false,
            }
            .into(),
            QueueEffect::Expire {
                key: k.clone(),
                member: m.clone(),
            }
            .into(),
            QueueEffect::Leave {
                key: k.clone(),
                member: m.clone(),
            }
            .into(),
            QueueEffect::Touch {
                key: k.clone(),
                member: m.clone(),
                deadline_ms: Some(T0),
            }
            .into(),
            QueueEffect::Touch {
                key: k.clone(),
                member: m.clone(),
                deadline_ms: None,
            }
            .into(),
            QueueEffect::Close { key: k.clone() }.into(),
        ]);
        effects.extend([
            SeatEffect::Hold {
                key: k.clone(),
                holder: h.clone(),
                deadline_ms: T0,
                seats: SeatList::from_slice(&[0, 7, u32::MAX >> 1]),
            }
            .into(),
            SeatEffect::Hold {
                key: k.clone(),
                holder: h.clone(),
                deadline_ms: T0,
                seats: SeatList::new(),
            }
            .into(),
            SeatEffect::Confirm {
                key: k.clone(),
                holder: h.clone(),
            }
            .into(),
            SeatEffect::Release {
                key: k.clone(),
                holder: h.clone(),
                seats: SeatList::from_slice(&[3]),
            }
            .into(),
            SeatEffect::HoldExpired {
                key: k.clone(),
                holder: h.clone(),
            }
            .into(),
        ]);
        effects.extend([
            StockEffect::Config {
                key: k.clone(),
                total: 10,
                limit: Some(2),
            }
            .into(),
            StockEffect::Config {
                key: k.clone(),
                total: 0,
                limit: None,
            }
            .into(),
            StockEffect::Reserve {
                key: k.clone(),
                holder: h.clone(),
                quantity: 3,
                deadline_ms: T0,
            }
            .into(),
            StockEffect::Confirm {
                key: k.clone(),
                holder: h.clone(),
            }
            .into(),
            StockEffect::Release {
                key: k.clone(),
                holder: h.clone(),
            }
            .into(),
            StockEffect::Take {
                key: k.clone(),
                holder: h.clone(),
                quantity: u64::MAX,
            }
            .into(),
            StockEffect::Refund {
                key: k.clone(),
                holder: h.clone(),
                quantity: 1,
            }
            .into(),
            StockEffect::ReservationExpired { key: k, holder: h }.into(),
        ]);
        for reply in replies() {
            effects.push(
                ReqEffect::Remember {
                    id: bytes("id"),
                    fingerprint: 0xfeed,
                    deadline_ms: T0,
                    reply,
                }
                .into(),
            );
        }
        effects.push(ReqEffect::Forget { id: bytes("id") }.into());
        let items: usher_protocol::ListItems = [bytes("a"), Bytes::new()].into_iter().collect();
        for left in [true, false] {
            effects.push(
                list::ListEffect::Push {
                    key: key("l"),
                    left,
                    items: items.clone(),
                }
                .into(),
            );
            effects.push(
                list::ListEffect::Pop {
                    key: key("l"),
                    left,
                    count: u64::MAX,
                }
                .into(),
            );
        }
        effects.extend([
            list::ListEffect::Set {
                key: key("l"),
                index: 3,
                item: bytes("x"),
            }
            .into(),
            list::ListEffect::Trim {
                key: key("l"),
                first: 1,
                end: 2,
            }
            .into(),
            list::ListEffect::Remove {
                key: key("l"),
                positions: vec![0, 5, u64::MAX],
            }
            .into(),
            list::ListEffect::Remove {
                key: key("l"),
                positions: Vec::new(),
            }
            .into(),
        ]);
        effects.extend([
            SetEffect::Add {
                key: key("s"),
                member: bytes("member"),
            }
            .into(),
            SetEffect::Remove {
                key: key("s"),
                member: Bytes::new(),
            }
            .into(),
        ]);
        effects
    }

    /// The tag every effect kind is written with: the grammar's table.
    fn expected_tag(effect: &Effect) -> u8 {
        match effect {
            Effect::Key(KeyEffect::Put { .. }) => 1,
            Effect::Key(KeyEffect::Delete { .. }) => 2,
            Effect::Key(KeyEffect::Expired { .. }) => 3,
            Effect::Key(KeyEffect::Deadline { .. }) => 4,
            Effect::Key(KeyEffect::FlushAll) => 5,
            Effect::Key(KeyEffect::Append { .. }) => 15,
            Effect::Key(KeyEffect::SetRange { .. }) => 16,
            Effect::Zset(ZsetEffect::Set { .. }) => 6,
            Effect::Zset(ZsetEffect::Remove { .. }) => 7,
            Effect::Queue(QueueEffect::Config { .. }) => 8,
            Effect::Queue(QueueEffect::Join { .. }) => 9,
            Effect::Queue(QueueEffect::Admit { .. }) => 10,
            Effect::Queue(QueueEffect::Expire { .. }) => 11,
            Effect::Queue(QueueEffect::Leave { .. }) => 12,
            Effect::Queue(QueueEffect::Touch { .. }) => 13,
            Effect::Queue(QueueEffect::Close { .. }) => 14,
            Effect::Seat(SeatEffect::Hold { .. }) => 32,
            Effect::Seat(SeatEffect::Confirm { .. }) => 33,
            Effect::Seat(SeatEffect::Release { .. }) => 34,
            Effect::Seat(SeatEffect::HoldExpired { .. }) => 35,
            Effect::Stock(StockEffect::Config { .. }) => 36,
            Effect::Stock(StockEffect::Reserve { .. }) => 37,
            Effect::Stock(StockEffect::Confirm { .. }) => 38,
            Effect::Stock(StockEffect::Release { .. }) => 39,
            Effect::Stock(StockEffect::Take { .. }) => 40,
            Effect::Stock(StockEffect::Refund { .. }) => 41,
            Effect::Stock(StockEffect::ReservationExpired { .. }) => 42,
            Effect::Req(ReqEffect::Remember { .. }) => 43,
            Effect::Req(ReqEffect::Forget { .. }) => 44,
            Effect::List(list::ListEffect::Push { left: true, .. }) => 55,
            Effect::List(list::ListEffect::Push { left: false, .. }) => 56,
            Effect::List(list::ListEffect::Pop { left: true, .. }) => 57,
            Effect::List(list::ListEffect::Pop { left: false, .. }) => 58,
            Effect::List(list::ListEffect::Set { .. }) => 59,
            Effect::List(list::ListEffect::Trim { .. }) => 60,
            Effect::List(list::ListEffect::Remove { .. }) => 61,
            Effect::Hash(HashEffect::Set {
                value: HashValue::Bytes(_),
                ..
            }) => 50,
            Effect::Hash(HashEffect::Set {
                value: HashValue::Int(_),
                ..
            }) => 51,
            Effect::Hash(HashEffect::Remove { .. }) => 52,
            Effect::Set(SetEffect::Add { .. }) => 45,
            Effect::Set(SetEffect::Remove { .. }) => 46,
        }
    }

    #[test]
    fn every_effect_kind_round_trips_byte_for_byte() {
        let effects = samples();
        let mut tags_seen = std::collections::BTreeSet::new();
        for effect in &effects {
            let mut bytes = Vec::new();
            effect.encode(&mut bytes);
            assert_eq!(bytes[0], expected_tag(effect), "{effect:?}");
            tags_seen.insert(bytes[0]);
            let mut reader = Reader::new(&bytes);
            let decoded = Effect::decode(&mut reader).expect("an encoded effect decodes");
            assert!(reader.is_empty(), "{effect:?} left bytes behind");
            assert_eq!(decoded.target(), effect.target(), "{effect:?}");
            let mut again = Vec::new();
            decoded.encode(&mut again);
            assert_eq!(again, bytes, "{effect:?} re-encodes differently");
            assert_eq!(&decoded, effect);
        }
        let all: Vec<u8> = (1..=16)
            .chain(32..=46)
            .chain(50..=52)
            .chain(55..=61)
            .collect();
        assert_eq!(tags_seen.into_iter().collect::<Vec<_>>(), all);
    }

    #[test]
    fn the_family_tag_constants_are_the_grammar_s() {
        assert_eq!(
            [
                key_tags::TAG_PUT,
                key_tags::TAG_DELETE,
                key_tags::TAG_EXPIRED,
                key_tags::TAG_DEADLINE,
                key_tags::TAG_FLUSH_ALL,
                zset::effects::TAG_SET,
                zset::effects::TAG_REMOVE,
                queue_tags::TAG_CONFIG,
                queue_tags::TAG_JOIN,
                queue_tags::TAG_ADMIT,
                queue_tags::TAG_EXPIRE,
                queue_tags::TAG_LEAVE,
                queue_tags::TAG_TOUCH,
                queue_tags::TAG_CLOSE,
                key_tags::TAG_APPEND,
                key_tags::TAG_SET_RANGE,
            ],
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        );
        assert_eq!(
            [
                seats::effects::TAG_HOLD,
                seats::effects::TAG_CONFIRM,
                seats::effects::TAG_RELEASE,
                seats::effects::TAG_HOLD_EXPIRED,
                stock::effects::TAG_CONFIG,
                stock::effects::TAG_RESERVE,
                stock::effects::TAG_CONFIRM,
                stock::effects::TAG_RELEASE,
                stock::effects::TAG_TAKE,
                stock::effects::TAG_REFUND,
                stock::effects::TAG_RESERVATION_EXPIRED,
                idempotency::effects::TAG_REMEMBER,
                idempotency::effects::TAG_FORGET,
                set::effects::TAG_ADD,
                set::effects::TAG_REMOVE,
            ],
            [32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46]
        );
        assert_eq!(
            [
                list::effects::TAG_PUSH_LEFT,
                list::effects::TAG_PUSH_RIGHT,
                list::effects::TAG_POP_LEFT,
                list::effects::TAG_POP_RIGHT,
                list::effects::TAG_SET,
                list::effects::TAG_TRIM,
                list::effects::TAG_REMOVE,
            ],
            [55, 56, 57, 58, 59, 60, 61]
        );
        assert_eq!(
            [
                hash::effects::TAG_SET,
                hash::effects::TAG_SET_INT,
                hash::effects::TAG_REMOVE,
            ],
            [50, 51, 52]
        );
    }

    #[test]
    fn unknown_tags_and_truncated_effects_are_refused() {
        for tag in (0..=255u8).filter(|tag| !matches!(tag, 1..=16 | 32..=46 | 50..=52 | 55..=61)) {
            let bytes = [tag, 0, 0, 0, 0];
            assert!(
                Effect::decode(&mut Reader::new(&bytes)).is_err(),
                "tag {tag}"
            );
        }
        for effect in samples() {
            let mut bytes = Vec::new();
            effect.encode(&mut bytes);
            for length in 0..bytes.len() {
                let mut reader = Reader::new(&bytes[..length]);
                assert!(
                    Effect::decode(&mut reader).is_err(),
                    "{effect:?} cut at {length}"
                );
            }
        }
    }

    /// The type a family's effects change, as `TYPE` names it; `None` for
    /// effects that apply to a key of any type or to no key.
    fn family_type(effect: &Effect) -> Option<&'static str> {
        match effect {
            Effect::Zset(_) => Some("zset"),
            Effect::Hash(_) => Some("hash"),
            Effect::Queue(_) => Some("queue"),
            Effect::Seat(_) => Some("seats"),
            Effect::Stock(_) => Some("stock"),
            Effect::List(_) => Some("list"),
            Effect::Set(_) => Some("set"),
            Effect::Key(_) | Effect::Req(_) => None,
        }
    }

    /// Every key with its value and deadline, and the next timer.
    type Contents = (Vec<(Key, Value, Option<u64>)>, Option<u64>);

    /// Everything replay could change, to compare before and after.
    fn contents(state: &State) -> Contents {
        let entries = state
            .keyspace
            .iter()
            .map(|(key, entry)| (key.clone(), entry.value.clone(), entry.deadline_ms()))
            .collect();
        (entries, state.next_timer_ms())
    }

    #[test]
    fn a_family_effect_on_a_key_of_another_type_is_wrong_type_and_changes_nothing() {
        let mut checked = std::collections::BTreeSet::new();
        for effect in samples() {
            let (Some(expected), Some(name)) = (family_type(&effect), effect.key()) else {
                continue;
            };
            let key = Key::copy_from_slice(name);
            for value in values() {
                let found = value.type_name();
                if found == expected {
                    continue;
                }
                let mut state = State::new(StateLimits::default());
                state.keyspace.insert(name, value, Some(T0 + 1_000));
                let before = contents(&state);
                assert_eq!(
                    state.replay(&effect),
                    Err(ReplayError::WrongType {
                        key: key.clone(),
                        expected,
                        found,
                    }),
                    "{effect:?} on a {found}"
                );
                assert_eq!(contents(&state), before, "{effect:?} changed a {found}");
                checked.insert((expected, found));
            }
        }
        // Every family against every other type, strings included.
        let types = [
            "string", "zset", "queue", "seats", "stock", "hash", "list", "set",
        ];
        for expected in &types[1..] {
            for found in types.iter().filter(|found| *found != expected) {
                assert!(
                    checked.contains(&(*expected, *found)),
                    "{expected} on {found}"
                );
            }
        }
    }

    #[test]
    fn wrapping_a_family_effect_does_not_grow_the_effect() {
        let largest = [
            std::mem::size_of::<KeyEffect>(),
            std::mem::size_of::<ZsetEffect>(),
            std::mem::size_of::<HashEffect>(),
            std::mem::size_of::<QueueEffect>(),
            std::mem::size_of::<SeatEffect>(),
            std::mem::size_of::<StockEffect>(),
            std::mem::size_of::<ReqEffect>(),
            std::mem::size_of::<ListEffect>(),
            std::mem::size_of::<SetEffect>(),
        ]
        .into_iter()
        .max();
        eprintln!(
            "size_of::<Effect>() = {}, largest family effect = {largest:?}",
            std::mem::size_of::<Effect>()
        );
        assert!(std::mem::size_of::<Effect>() <= 104);
    }
}
