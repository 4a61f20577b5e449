//! Strings and counters: GET, SET, INCR/DECR/INCRBY/DECRBY and INCRBOUND,
//! with Redis's replies and errors.

use bytes::Bytes;
use usher_protocol::request::{SetCondition, SetExpiry};
use usher_protocol::{Reply, ServerError};

use super::key_effects::KeyEffect;
use super::store::State;
use super::value::Value;

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
