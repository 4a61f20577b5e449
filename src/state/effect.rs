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
//! Encoding (little-endian; strings are `u32 length` + bytes; a deadline of
//! 0 means "none"; `f64` is its IEEE-754 bits):
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
//! value  := 1 Str bytes | 2 Int i64 | 3 Zset zset | 4 Queue queue
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
//! reused; new effects and value types get new numbers.

use bytes::Bytes;

use super::queue::{self, Queue, QueueSettings};
use super::zset::{self, Zset};
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
    /// A sorted-set member was added or got a new score.
    ZsetSet {
        key: Bytes,
        member: Bytes,
        score: f64,
    },
    /// A sorted-set member was removed (the key's `Delete` follows if the
    /// set became empty).
    ZsetRemove { key: Bytes, member: Bytes },
    /// A queue's settings and rate window after QUEUE.CONFIG.
    QueueConfig { key: Bytes, settings: QueueSettings },
    /// A member joined the end of a queue's line.
    QueueJoin { key: Bytes, member: Bytes },
    /// The oldest waiting member was admitted at `at_ms` until
    /// `deadline_ms` (`None` = no expiry); `automatic` admissions count in
    /// the RATE window.
    QueueAdmit {
        key: Bytes,
        member: Bytes,
        at_ms: u64,
        deadline_ms: Option<u64>,
        automatic: bool,
    },
    /// An active member's deadline passed.
    QueueExpire { key: Bytes, member: Bytes },
    /// A waiting or active member left.
    QueueLeave { key: Bytes, member: Bytes },
    /// An active member's deadline changed.
    QueueTouch {
        key: Bytes,
        member: Bytes,
        deadline_ms: Option<u64>,
    },
    /// A queue was closed and its waiting members dropped.
    QueueClose { key: Bytes },
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

const VALUE_STR: u8 = 1;
const VALUE_INT: u8 = 2;
const VALUE_ZSET: u8 = 3;
const VALUE_QUEUE: u8 = 4;

impl Effect {
    /// The key this effect changes; `None` for `FlushAll`.
    pub fn key(&self) -> Option<&[u8]> {
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
            | Effect::QueueClose { key } => Some(key),
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
            EFFECT_ZSET_SET => Effect::ZsetSet {
                key: input.bytes()?,
                member: input.bytes()?,
                score: input.f64()?,
            },
            EFFECT_ZSET_REMOVE => Effect::ZsetRemove {
                key: input.bytes()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_CONFIG => Effect::QueueConfig {
                key: input.bytes()?,
                settings: get_settings(input)?,
            },
            EFFECT_QUEUE_JOIN => Effect::QueueJoin {
                key: input.bytes()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_ADMIT => Effect::QueueAdmit {
                key: input.bytes()?,
                member: input.bytes()?,
                at_ms: input.u64()?,
                deadline_ms: deadline(input.u64()?),
                automatic: input.flag()?,
            },
            EFFECT_QUEUE_EXPIRE => Effect::QueueExpire {
                key: input.bytes()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_LEAVE => Effect::QueueLeave {
                key: input.bytes()?,
                member: input.bytes()?,
            },
            EFFECT_QUEUE_TOUCH => Effect::QueueTouch {
                key: input.bytes()?,
                member: input.bytes()?,
                deadline_ms: deadline(input.u64()?),
            },
            EFFECT_QUEUE_CLOSE => Effect::QueueClose {
                key: input.bytes()?,
            },
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
        Value::Zset(zset) => {
            out.push(VALUE_ZSET);
            zset.encode(out);
        }
        Value::Queue(queue) => {
            out.push(VALUE_QUEUE);
            queue.encode(out);
        }
    }
}

pub fn decode_value(input: &mut Reader<'_>) -> Result<Value, DecodeError> {
    match input.u8()? {
        VALUE_STR => Ok(Value::Str(input.bytes()?)),
        VALUE_INT => Ok(Value::Int(input.i64()?)),
        VALUE_ZSET => Ok(Value::Zset(Box::new(Zset::decode(input)?))),
        VALUE_QUEUE => Ok(Value::Queue(Box::new(Queue::decode(input)?))),
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

    /// A length-prefixed byte string, copied into its own allocation.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(length)?))
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
    /// they could admit (the engine's first tick works out the real time).
    pub fn replay(&mut self, effect: &Effect) -> Result<(), ReplayError> {
        let recording = self.keyspace.set_recording(false);
        let result = match effect {
            Effect::Put {
                key,
                value,
                deadline_ms,
            } => {
                self.keyspace.insert(key, value.clone(), *deadline_ms);
                if matches!(value, Value::Queue(_)) {
                    queue::replayed(self, key);
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
        };
        self.keyspace.set_recording(recording);
        result
    }
}
