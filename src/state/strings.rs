//! Strings and counters: GET, SET, INCR/DECR/INCRBY/DECRBY, INCRBOUND,
//! MGET, MSET, MSETNX, SETNX, SETEX, PSETEX, GETSET (as `SET ... GET`),
//! GETDEL, GETEX, APPEND, STRLEN, SETRANGE, GETRANGE and INCRBYFLOAT, with
//! Redis's replies and errors; and the replay of the in-place string
//! effects (`Append`, `SetRange`).
//!
//! A string stored as [`Value::Int`] is the decimal text of its number to
//! every command here: APPEND, SETRANGE, GETRANGE and STRLEN read that text.

use std::collections::HashSet;

use bytes::Bytes;
use usher_protocol::request::{Deadline, GetExExpiry, SetCondition, SetExpiry};
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effect::ReplayError;
use super::key::Key;
use super::key_effects::KeyEffect;
use super::store::State;
use super::value::{ShortStr, Value};

/// The reply GET gives for a stored value, or WRONGTYPE.
fn string_reply(value: &Value) -> Reply {
    match value {
        Value::Str(bytes) => Reply::Bulk(bytes.clone()),
        // No allocation: short values go out inline.
        Value::Short(short) => Reply::BulkInline(*short),
        Value::Int(number) => Reply::BulkInt(*number),
        Value::Zset(_)
        | Value::Queue(_)
        | Value::Seats(_)
        | Value::Stock(_)
        | Value::List(_)
        | Value::Hash(_)
        | Value::Set(_) => Reply::Error(ServerError::WRONG_TYPE),
    }
}

/// ```text
/// GET key
/// ```
/// The string value, or nil.
pub fn get(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        Some(entry) => {
            state.stats.keyspace_hits += 1;
            string_reply(&entry.value)
        }
        None => {
            state.stats.keyspace_misses += 1;
            Reply::Nil
        }
    }
}

/// ```text
/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]
/// ```
/// OK; nil when NX/XX prevents the write; with GET, the old value (nil if
/// none) whether or not the write happened. A deadline already in the past
/// leaves the key deleted.
pub fn set(
    state: &mut State,
    key: &[u8],
    value: &Bytes,
    condition: SetCondition,
    get: bool,
    expiry: SetExpiry,
    now_ms: u64,
) -> Reply {
    let deadline = match expiry {
        SetExpiry::At(deadline) => match deadline.resolve(now_ms) {
            Some(at) => Some(at),
            None => return Reply::Error(ServerError::invalid_expire("set")),
        },
        _ => None,
    };
    let (exists, old_deadline, old_reply) = match state.keyspace.get_live(key, now_ms) {
        Some(entry) => (
            true,
            entry.deadline_ms(),
            get.then(|| string_reply(&entry.value)),
        ),
        None => (false, None, get.then_some(Reply::Nil)),
    };
    if matches!(old_reply, Some(Reply::Error(_))) {
        return old_reply.unwrap_or(Reply::Nil);
    }
    let allowed = match condition {
        SetCondition::Always => true,
        SetCondition::IfAbsent => !exists,
        SetCondition::IfPresent => exists,
    };
    if !allowed {
        return old_reply.unwrap_or(Reply::Nil);
    }
    let new_deadline = match (expiry, deadline) {
        (SetExpiry::Keep, _) => old_deadline,
        (_, Some(at)) if at <= now_ms as i64 => {
            // Already past: the write happens and the key expires at once.
            state.keyspace.remove(key);
            return old_reply.unwrap_or(Reply::OK);
        }
        (_, Some(at)) => Some(at as u64),
        (_, None) => None,
    };
    // After the past-deadline case, which adds no key and so needs no room.
    if !exists {
        if let Err(error) = state.room_for_key(now_ms) {
            return Reply::Error(error);
        }
    }
    state
        .keyspace
        .insert(key, Value::from_string(value), new_deadline);
    old_reply.unwrap_or(Reply::OK)
}

/// Reads a key as an integer for INCR-like commands: missing counts as 0.
/// Returns the value and whether the key exists.
/// The number a string value holds.
fn counter_value(value: &Value) -> Result<i64, ServerError> {
    match value {
        Value::Int(number) => Ok(*number),
        Value::Str(_) | Value::Short(_) => value
            .string_bytes()
            .and_then(usher_protocol::number::parse_i64)
            .ok_or(ServerError::NOT_INTEGER),
        Value::Zset(_)
        | Value::Queue(_)
        | Value::Seats(_)
        | Value::Stock(_)
        | Value::List(_)
        | Value::Hash(_)
        | Value::Set(_) => Err(ServerError::WRONG_TYPE),
    }
}

/// Changes a counter: `change` gets its current value (0 for a missing
/// key) and returns the new one to store, or `Err` with the reply that
/// leaves it as it is. An existing key is read and written with one lookup
/// (its deadline is kept); a missing one is created only if there is room.
fn change_counter(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    change: impl FnOnce(i64) -> Result<i64, Reply>,
) -> Result<i64, Reply> {
    if let Some((entry, mut log)) = state.keyspace.get_live_recorded(key, now_ms) {
        let current = counter_value(&entry.value).map_err(Reply::Error)?;
        let next = change(current)?;
        entry.value = Value::Int(next);
        let deadline_ms = entry.deadline_ms();
        log.record(|key| KeyEffect::Put {
            key,
            value: Value::Int(next),
            deadline_ms,
        });
        return Ok(next);
    }
    let next = change(0)?;
    state.room_for_key(now_ms).map_err(Reply::Error)?;
    state.keyspace.insert(key, Value::Int(next), None);
    Ok(next)
}

/// ```text
/// INCR key | DECR key | INCRBY key delta | DECRBY key delta
/// ```
/// The new value. A missing key counts as 0; the key's TTL is kept.
pub fn incr_by(state: &mut State, key: &[u8], delta: i64, now_ms: u64) -> Reply {
    let changed = change_counter(state, key, now_ms, |current| {
        current
            .checked_add(delta)
            .ok_or(Reply::Error(ServerError::OVERFLOW))
    });
    match changed {
        Ok(next) => Reply::Int(next),
        Err(reply) => reply,
    }
}

/// ```text
/// INCRBOUND key delta [MIN floor] [MAX cap]
/// ```
/// The first-come-first-served counter. If `value + delta` lies within
/// [floor, cap] it is stored and the reply is `[new value, 1]`; otherwise
/// nothing changes and the reply is `[current value, 0]`. A missing key
/// counts as 0 and is only created when the change is applied. A sum that
/// would overflow 64 bits is outside every bound.
pub fn incr_bound(
    state: &mut State,
    key: &[u8],
    delta: i64,
    min: Option<i64>,
    max: Option<i64>,
    now_ms: u64,
) -> Reply {
    let within =
        |value: i64| min.is_none_or(|floor| value >= floor) && max.is_none_or(|cap| value <= cap);
    let changed = change_counter(state, key, now_ms, |current| {
        match current.checked_add(delta) {
            Some(next) if within(next) => Ok(next),
            _ => Err(Reply::tuple(None, &[current, 0], None)),
        }
    });
    match changed {
        Ok(next) => Reply::tuple(None, &[next, 1], None),
        Err(reply) => reply,
    }
}

/// The bytes of a string value: its own, or an integer's decimal text
/// written into `digits`; WRONGTYPE for any other type.
fn string_of<'a>(value: &'a Value, digits: &'a mut itoa::Buffer) -> Result<&'a [u8], ServerError> {
    match value {
        Value::Int(number) => Ok(digits.format(*number).as_bytes()),
        other => other.string_bytes().ok_or(ServerError::WRONG_TYPE),
    }
}

/// A string value from bytes already copied out of any request: inline
/// when short, else the vector itself (no second copy).
fn owned_string(bytes: Vec<u8>) -> Value {
    match ShortStr::new(&bytes) {
        Some(short) => Value::Short(short),
        None => Value::Str(Bytes::from(bytes)),
    }
}

/// `current` followed by `tail`: what APPEND stores, live and in replay.
fn appended(current: &[u8], tail: &[u8]) -> Value {
    let mut joined = Vec::with_capacity(current.len() + tail.len());
    joined.extend_from_slice(current);
    joined.extend_from_slice(tail);
    owned_string(joined)
}

/// `current` overwritten with `bytes` from `offset`, zero-padded up to it:
/// what SETRANGE stores, live and in replay. `offset + bytes.len()` was
/// checked against the string limit.
fn overwritten(current: &[u8], offset: usize, bytes: &[u8]) -> Value {
    let end = offset + bytes.len();
    let mut out = Vec::with_capacity(current.len().max(end));
    out.extend_from_slice(current);
    if out.len() < end {
        out.resize(end, 0);
    }
    out[offset..end].copy_from_slice(bytes);
    owned_string(out)
}

/// The error for a string that would grow past `string_bytes_max`.
const STRING_TOO_LONG: ServerError = ServerError::new_static(
    ErrorCode::Limit,
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
);

/// Whether a string of `offset + extra` bytes stays within `max`.
fn fits(offset: u64, extra: usize, max: usize) -> bool {
    offset
        .checked_add(extra as u64)
        .is_some_and(|length| length <= max as u64)
}

/// ```text
/// MGET key [key ...]
/// ```
/// One reply per key: its string value, or nil when it is missing or holds
/// another type (MGET never answers WRONGTYPE).
pub fn mget(state: &mut State, keys: &[Bytes], now_ms: u64) -> Reply {
    let mut replies = Vec::with_capacity(keys.len());
    for key in keys {
        let reply = match state.keyspace.get_live(key, now_ms) {
            Some(entry) => {
                state.stats.keyspace_hits += 1;
                match string_reply(&entry.value) {
                    Reply::Error(_) => Reply::Nil,
                    reply => reply,
                }
            }
            None => {
                state.stats.keyspace_misses += 1;
                Reply::Nil
            }
        };
        replies.push(reply);
    }
    Reply::Array(replies)
}

/// ```text
/// MSET key value [key value ...] | MSETNX key value [key value ...]
/// ```
/// Stores every pair, any type replaced and every TTL removed; a key named
/// twice gets its last value. MSET replies OK; MSETNX stores nothing and
/// replies 0 if any key exists, else 1. All or nothing: room for the new
/// keys is checked before the first is written.
pub fn mset(
    state: &mut State,
    keys: &[Bytes],
    values: &[Bytes],
    only_new: bool,
    now_ms: u64,
) -> Reply {
    let mut new_keys = HashSet::with_capacity(keys.len());
    for key in keys {
        if state.keyspace.contains_live(key, now_ms) {
            if only_new {
                return Reply::Int(0);
            }
        } else {
            new_keys.insert(&key[..]);
        }
    }
    if let Err(error) = state.room_for_keys(new_keys.len(), now_ms) {
        return Reply::Error(error);
    }
    for (key, value) in keys.iter().zip(values) {
        state.keyspace.insert(key, Value::from_string(value), None);
    }
    if only_new {
        Reply::Int(1)
    } else {
        Reply::OK
    }
}

/// ```text
/// SETNX key value
/// ```
/// 1 if the key was missing and is now set, else 0.
pub fn setnx(state: &mut State, key: &[u8], value: &Bytes, now_ms: u64) -> Reply {
    let condition = SetCondition::IfAbsent;
    match set(
        state,
        key,
        value,
        condition,
        false,
        SetExpiry::Clear,
        now_ms,
    ) {
        Reply::Nil => Reply::Int(0),
        Reply::Error(error) => Reply::Error(error),
        _ => Reply::Int(1),
    }
}

/// ```text
/// SETEX key seconds value | PSETEX key milliseconds value
/// ```
/// OK. The amount was checked to be positive by the parser; a deadline that
/// overflows is the same error.
pub fn setex(
    state: &mut State,
    key: &[u8],
    value: &Bytes,
    deadline: Deadline,
    now_ms: u64,
) -> Reply {
    let command = match deadline {
        Deadline::InSeconds(_) => "setex",
        _ => "psetex",
    };
    let Some(at) = deadline.resolve(now_ms) else {
        return Reply::Error(ServerError::invalid_expire(command));
    };
    let expiry = SetExpiry::At(Deadline::AtMillis(at));
    set(
        state,
        key,
        value,
        SetCondition::Always,
        false,
        expiry,
        now_ms,
    )
}

/// ```text
/// GETDEL key
/// ```
/// The string value, or nil; the key is deleted. WRONGTYPE (and nothing
/// deleted) for another type.
pub fn getdel(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let reply = get(state, key, now_ms);
    if !matches!(reply, Reply::Nil | Reply::Error(_)) {
        state.keyspace.remove(key);
    }
    reply
}

/// ```text
/// GETEX key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]
/// ```
/// The string value, or nil, and the TTL set or removed. As in Redis the
/// amount is checked only once a string was found: a missing key is nil
/// whatever it is. A deadline already past deletes the key (the value is
/// still the reply).
pub fn getex(state: &mut State, key: &[u8], expiry: GetExExpiry, now_ms: u64) -> Reply {
    let reply = get(state, key, now_ms);
    if matches!(reply, Reply::Nil | Reply::Error(_)) {
        return reply;
    }
    match expiry {
        GetExExpiry::Keep => {}
        GetExExpiry::Persist => {
            let timed = state
                .keyspace
                .get_live(key, now_ms)
                .is_some_and(|entry| entry.deadline_ms().is_some());
            if timed {
                state.keyspace.set_deadline(key, None);
            }
        }
        GetExExpiry::NotInteger => return Reply::Error(ServerError::NOT_INTEGER),
        GetExExpiry::At(deadline) => {
            let at = match deadline.resolve(now_ms) {
                Some(at) if deadline.amount() > 0 => at,
                _ => return Reply::Error(ServerError::invalid_expire("getex")),
            };
            if at <= now_ms as i64 {
                state.keyspace.remove(key);
            } else {
                state.keyspace.set_deadline(key, Some(at as u64));
            }
        }
    }
    reply
}

/// ```text
/// APPEND key value
/// ```
/// The string's new length. A missing key counts as empty; the TTL is kept.
/// Past `string_bytes_max`, an error and nothing changed.
pub fn append(state: &mut State, key: &[u8], tail: &Bytes, now_ms: u64) -> Reply {
    let max = state.limits.string_bytes_max;
    if let Some((entry, mut log)) = state.keyspace.get_live_recorded(key, now_ms) {
        let mut digits = itoa::Buffer::new();
        let current = match string_of(&entry.value, &mut digits) {
            Ok(current) => current,
            Err(error) => return Reply::Error(error),
        };
        let length = current.len() + tail.len();
        if !fits(current.len() as u64, tail.len(), max) {
            return Reply::Error(STRING_TOO_LONG);
        }
        if !tail.is_empty() {
            entry.value = appended(current, tail);
            log.record(|key| KeyEffect::Append {
                key,
                bytes: tail.clone(),
            });
        }
        return Reply::Int(length as i64);
    }
    if tail.len() > max {
        return Reply::Error(STRING_TOO_LONG);
    }
    if let Err(error) = state.room_for_key(now_ms) {
        return Reply::Error(error);
    }
    state.keyspace.insert(key, Value::from_string(tail), None);
    Reply::Int(tail.len() as i64)
}

/// ```text
/// STRLEN key
/// ```
/// The string's length in bytes; 0 when missing.
pub fn strlen(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let Some(entry) = state.keyspace.get_live(key, now_ms) else {
        return Reply::Int(0);
    };
    let mut digits = itoa::Buffer::new();
    match string_of(&entry.value, &mut digits) {
        Ok(bytes) => Reply::Int(bytes.len() as i64),
        Err(error) => Reply::Error(error),
    }
}

/// ```text
/// SETRANGE key offset value
/// ```
/// Overwrites the string from `offset`, padding with zero bytes up to it
/// (a missing key counts as empty); replies the new length. An empty value
/// changes nothing (and creates no key); the TTL is kept. Past
/// `string_bytes_max`, an error and nothing changed.
pub fn setrange(state: &mut State, key: &[u8], offset: u64, bytes: &Bytes, now_ms: u64) -> Reply {
    let max = state.limits.string_bytes_max;
    if let Some((entry, mut log)) = state.keyspace.get_live_recorded(key, now_ms) {
        let mut digits = itoa::Buffer::new();
        let current = match string_of(&entry.value, &mut digits) {
            Ok(current) => current,
            Err(error) => return Reply::Error(error),
        };
        if bytes.is_empty() {
            return Reply::Int(current.len() as i64);
        }
        if !fits(offset, bytes.len(), max) {
            return Reply::Error(STRING_TOO_LONG);
        }
        let value = overwritten(current, offset as usize, bytes);
        let length = value.string_bytes().map_or(0, <[u8]>::len);
        entry.value = value;
        log.record(|key| KeyEffect::SetRange {
            key,
            offset,
            bytes: bytes.clone(),
        });
        return Reply::Int(length as i64);
    }
    if bytes.is_empty() {
        return Reply::Int(0);
    }
    if !fits(offset, bytes.len(), max) {
        return Reply::Error(STRING_TOO_LONG);
    }
    if let Err(error) = state.room_for_key(now_ms) {
        return Reply::Error(error);
    }
    let value = overwritten(b"", offset as usize, bytes);
    let length = value.string_bytes().map_or(0, <[u8]>::len);
    state.keyspace.insert(key, value, None);
    Reply::Int(length as i64)
}

/// ```text
/// GETRANGE key start end
/// ```
/// The bytes from `start` to `end` inclusive; negative offsets count from
/// the end; out-of-range offsets are clamped; an empty string when the
/// range is empty or the key is missing (Redis 7's rules, including its
/// empty reply when both offsets are negative and `start > end`).
pub fn getrange(state: &mut State, key: &[u8], start: i64, end: i64, now_ms: u64) -> Reply {
    let empty = Reply::bulk_static(b"");
    let Some(entry) = state.keyspace.get_live(key, now_ms) else {
        return empty;
    };
    let mut digits = itoa::Buffer::new();
    let bytes = match string_of(&entry.value, &mut digits) {
        Ok(bytes) => bytes,
        Err(error) => return Reply::Error(error),
    };
    let length = bytes.len() as i64;
    if (start < 0 && end < 0 && start > end) || length == 0 {
        return empty;
    }
    let from_end = |offset: i64| {
        if offset < 0 {
            length.saturating_add(offset)
        } else {
            offset
        }
    };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(length - 1);
    if start > end {
        return empty;
    }
    Reply::Bulk(Bytes::copy_from_slice(
        &bytes[start as usize..=end as usize],
    ))
}

/// The number a string value holds for INCRBYFLOAT.
fn float_value(value: &Value) -> Result<f64, ServerError> {
    let mut digits = itoa::Buffer::new();
    let bytes = string_of(value, &mut digits)?;
    usher_protocol::number::parse_f64(bytes).ok_or(ServerError::NOT_FLOAT)
}

/// How INCRBYFLOAT writes its result, close to Redis's `%.17Lf` with the
/// trailing zeros cut: plain notation, never an exponent, at most 17
/// digits after the point, and otherwise the shortest digits that read
/// back to the same double (Redis computes in `long double`, so a result
/// can differ from Redis's in the last digits).
pub fn float_text(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let text = format!("{value}");
    let fraction = text.split_once('.').map_or(0, |(_, digits)| digits.len());
    if fraction <= 17 {
        return text;
    }
    let rounded = format!("{value:.17}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "" | "-" | "-0" => "0".to_string(),
        other => other.to_string(),
    }
}

const FLOAT_NOT_FINITE: ServerError = ServerError::new_static(
    ErrorCode::NotFloat,
    "ERR increment would produce NaN or Infinity",
);

/// ```text
/// INCRBYFLOAT key increment
/// ```
/// The new value as a string (see [`float_text`]). A missing key counts as
/// 0; the TTL is kept; a result that is not finite is refused.
pub fn incr_by_float(state: &mut State, key: &[u8], delta: f64, now_ms: u64) -> Reply {
    let next = |current: f64| -> Result<(String, Value), ServerError> {
        let sum = current + delta;
        if !sum.is_finite() {
            return Err(FLOAT_NOT_FINITE);
        }
        let text = float_text(sum);
        let value = Value::from_string(text.as_bytes());
        Ok((text, value))
    };
    if let Some((entry, mut log)) = state.keyspace.get_live_recorded(key, now_ms) {
        let (text, value) = match float_value(&entry.value).and_then(next) {
            Ok(result) => result,
            Err(error) => return Reply::Error(error),
        };
        entry.value = value.clone();
        let deadline_ms = entry.deadline_ms();
        log.record(|key| KeyEffect::Put {
            key,
            value,
            deadline_ms,
        });
        return Reply::Bulk(Bytes::from(text));
    }
    let (text, value) = match next(0.0) {
        Ok(result) => result,
        Err(error) => return Reply::Error(error),
    };
    if let Err(error) = state.room_for_key(now_ms) {
        return Reply::Error(error);
    }
    state.keyspace.insert(key, value, None);
    Reply::Bulk(Bytes::from(text))
}

/// Replays an `Append` or `SetRange` effect: the same change the command
/// made, on the value at `key` whatever its deadline. A missing key is
/// skipped (a snapshot captured it after it was deleted; the `Delete`
/// follows); a key of another type, or a string the change would take
/// past `string_bytes_max`, does not fit.
pub fn replay_in_place(
    state: &mut State,
    key: &Key,
    offset: Option<u64>,
    bytes: &[u8],
) -> Result<(), ReplayError> {
    let max = state.limits.string_bytes_max;
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let mut digits = itoa::Buffer::new();
    let Ok(current) = string_of(&entry.value, &mut digits) else {
        return Err(ReplayError::wrong_type(key, "string", &entry.value));
    };
    let (start, fits_max) = match offset {
        None => (
            current.len() as u64,
            fits(current.len() as u64, bytes.len(), max),
        ),
        Some(offset) => (offset, fits(offset, bytes.len(), max)),
    };
    if !fits_max {
        return Err(ReplayError::unfit(
            key,
            "the string would exceed string_bytes_max",
        ));
    }
    entry.value = match offset {
        None => appended(current, bytes),
        Some(_) => overwritten(current, start as usize, bytes),
    };
    Ok(())
}
