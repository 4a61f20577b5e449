//! Generic key commands: DEL, EXISTS, TYPE, the EXPIRE family, TTL, PTTL,
//! PERSIST and SCAN, with Redis's replies; and the replay of whole-key
//! effects ([`KeyEffect`]).

use bytes::Bytes;
use usher_protocol::request::{Deadline, ExpireCondition};
use usher_protocol::{Reply, ServerError};

use super::effect::ReplayError;
use super::key_effects::KeyEffect;
use super::queue::commands::replayed;
use super::store::State;
use super::value::Value;
use crate::glob::glob_match;

/// ```text
/// DEL key [key ...]
/// ```
/// How many of the keys existed and were removed.
pub fn del(state: &mut State, keys: &[Bytes], now_ms: u64) -> Reply {
    let mut removed = 0;
    for key in keys {
        if state.keyspace.contains_live(key, now_ms) {
            state.keyspace.remove(key);
            removed += 1;
        }
    }
    Reply::Int(removed)
}

/// ```text
/// EXISTS key [key ...]
/// ```
/// How many of the keys exist; a key named twice counts twice.
pub fn exists(state: &mut State, keys: &[Bytes], now_ms: u64) -> Reply {
    let found = keys
        .iter()
        .filter(|key| state.keyspace.contains_live(key, now_ms))
        .count();
    Reply::Int(found as i64)
}

/// ```text
/// TYPE key
/// ```
/// `string`, or `none` when the key does not exist.
pub fn type_of(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let name = match state.keyspace.get_live(key, now_ms) {
        Some(entry) => entry.value.type_name(),
        None => "none",
    };
    Reply::simple(name)
}

/// ```text
/// EXPIRE key seconds | PEXPIRE key ms | EXPIREAT key unix-s | PEXPIREAT key unix-ms
///   [NX | XX | GT | LT]
/// ```
/// 1 if the deadline was set (or the key deleted because it is already
/// past), 0 if the key is missing or the condition failed.
pub fn expire(
    state: &mut State,
    key: &[u8],
    deadline: Deadline,
    condition: ExpireCondition,
    now_ms: u64,
) -> Reply {
    let command = match deadline {
        Deadline::InSeconds(_) => "expire",
        Deadline::InMillis(_) => "pexpire",
        Deadline::AtSeconds(_) => "expireat",
        Deadline::AtMillis(_) => "pexpireat",
    };
    let Some(at) = deadline.resolve(now_ms) else {
        return Reply::Error(ServerError::invalid_expire(command));
    };
    let Some(entry) = state.keyspace.get_live(key, now_ms) else {
        return Reply::Int(0);
    };
    let current = entry.deadline_ms().map(|d| d as i64);
    let allowed = match (condition, current) {
        (ExpireCondition::Always, _) => true,
        (ExpireCondition::NoExpiry, current) => current.is_none(),
        (ExpireCondition::HasExpiry, current) => current.is_some(),
        // No expiry counts as infinite: nothing is later, everything sooner.
        (ExpireCondition::Later, Some(current)) => at > current,
        (ExpireCondition::Later, None) => false,
        (ExpireCondition::Sooner, Some(current)) => at < current,
        (ExpireCondition::Sooner, None) => true,
        (ExpireCondition::SoonerWithExpiry, Some(current)) => at < current,
        (ExpireCondition::SoonerWithExpiry, None) => false,
    };
    if !allowed {
        return Reply::Int(0);
    }
    if at <= now_ms as i64 {
        state.keyspace.remove(key);
    } else {
        state.keyspace.set_deadline(key, Some(at as u64));
    }
    Reply::Int(1)
}

/// ```text
/// TTL key | PTTL key
/// ```
/// Time to live in seconds (rounded to nearest, as Redis does) or
/// milliseconds; -1 without expiry, -2 when missing.
pub fn ttl(state: &mut State, key: &[u8], now_ms: u64, unit_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        None => Reply::Int(-2),
        Some(entry) => match entry.deadline_ms() {
            None => Reply::Int(-1),
            Some(deadline) => {
                let left = deadline - now_ms;
                Reply::Int(((left + unit_ms / 2) / unit_ms) as i64)
            }
        },
    }
}

/// ```text
/// PERSIST key
/// ```
/// 1 if an expiry was removed, else 0.
pub fn persist(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        Some(entry) if entry.deadline_ms().is_some() => {
            state.keyspace.set_deadline(key, None);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

/// ```text
/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]
/// ```
/// `[next cursor, [keys]]`. Visits about `count` positions per call (at most
/// `scan_count_max`); cursor 0 starts and ends a full iteration. Every key
/// present for the whole iteration is returned at least once.
pub fn scan(
    state: &mut State,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    type_name: Option<&[u8]>,
    now_ms: u64,
) -> Reply {
    let len = state.keyspace.len();
    // The cursor is one past the next position to visit, counting down; 0
    // means "start" on input and "done" on output.
    let mut position = if cursor == 0 {
        len
    } else {
        usize::try_from(cursor).unwrap_or(usize::MAX).min(len)
    };
    let budget = count.clamp(1, state.limits.scan_count_max);
    let mut keys = Vec::new();
    let mut visited = 0;
    while position > 0 && visited < budget {
        position -= 1;
        visited += 1;
        let Some((key, entry)) = state.keyspace.at(position) else {
            continue;
        };
        if entry
            .deadline_ms()
            .is_some_and(|deadline| deadline <= now_ms)
        {
            continue;
        }
        if let Some(wanted) = type_name {
            if !entry
                .value
                .type_name()
                .as_bytes()
                .eq_ignore_ascii_case(wanted)
            {
                continue;
            }
        }
        if let Some(pattern) = pattern {
            if !glob_match(pattern, key) {
                continue;
            }
        }
        keys.push(Reply::Bulk(key.to_bytes()));
    }
    let next = if position == 0 { 0 } else { position as u64 };
    let mut text = itoa::Buffer::new();
    Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(text.format(next).as_bytes())),
        Reply::Array(keys),
    ])
}

/// Applies a logged whole-key effect. A value put in place whole is
/// registered in the timer indexes it belongs to; `FlushAll` empties them
/// and the `REQ` table with the keyspace.
pub fn replay(state: &mut State, effect: &KeyEffect) -> Result<(), ReplayError> {
    match effect {
        KeyEffect::Put {
            key,
            value,
            deadline_ms,
        } => {
            state.keyspace.insert(key, value.clone(), *deadline_ms);
            match value {
                Value::Queue(_) => replayed(state, key),
                Value::Seats(_) | Value::Stock(_) => state.register_holds(key),
                _ => {}
            }
        }
        KeyEffect::Delete { key } => {
            state.keyspace.remove(key);
        }
        KeyEffect::Expired { key } => {
            if state.keyspace.remove(key) {
                state.keyspace.expired_total += 1;
            }
        }
        KeyEffect::Deadline { key, deadline_ms } => {
            state.keyspace.set_deadline(key, *deadline_ms);
        }
        KeyEffect::FlushAll => {
            state.keyspace.clear();
            state.queue_timers.clear();
            state.holds.clear();
            state.idempotency.clear();
        }
    }
    Ok(())
}
