//! Generic key commands: DEL, EXISTS, TYPE, the EXPIRE family, TTL, PTTL,
//! PERSIST, SCAN, KEYS, RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY,
//! EXPIRETIME, PEXPIRETIME and OBJECT, with Redis's replies; and the replay
//! of whole-key effects ([`KeyEffect`]).

use bytes::Bytes;
use usher_protocol::request::{Deadline, ExpireCondition, ObjectQuery};
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effect::ReplayError;
use super::key_effects::KeyEffect;
use super::queue::commands::{rekeyed, replayed};
use super::store::State;
use super::strings::replay_in_place;
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
        KeyEffect::Append { key, bytes } => replay_in_place(state, key, None, bytes)?,
        KeyEffect::SetRange { key, offset, bytes } => {
            replay_in_place(state, key, Some(*offset), bytes)?
        }
    }
    Ok(())
}

/// ```text
/// KEYS pattern
/// ```
/// Every live key matching the glob pattern, in storage order. More than
/// `keys_reply_max` matches is an error and no keys (SCAN walks any number).
pub fn keys(state: &mut State, pattern: &[u8], now_ms: u64) -> Reply {
    let max = state.limits.keys_reply_max;
    let mut found = Vec::new();
    for (key, entry) in state.keyspace.iter() {
        if entry
            .deadline_ms()
            .is_some_and(|deadline| deadline <= now_ms)
            || !glob_match(pattern, key)
        {
            continue;
        }
        if found.len() == max {
            return Reply::Error(ServerError::new(
                ErrorCode::Limit,
                format!("ERR KEYS would reply more than keys_reply_max ({max}) keys; use SCAN"),
            ));
        }
        found.push(Reply::Bulk(key.to_bytes()));
    }
    Reply::Array(found)
}

/// Puts a value that arrived whole at `key` from another key (RENAME,
/// COPY) in the timer indexes it belongs to, under its new name.
fn register_moved(state: &mut State, key: &[u8]) {
    match state.keyspace.get_mut(key).map(|entry| &entry.value) {
        Some(Value::Queue(_)) => rekeyed(state, key),
        Some(Value::Seats(_) | Value::Stock(_)) => state.register_holds(key),
        _ => {}
    }
}

/// ```text
/// RENAME key newkey | RENAMENX key newkey
/// ```
/// Moves the value and its TTL to `newkey`, replacing whatever was there
/// (RENAMENX: only if `newkey` is missing). RENAME replies OK, RENAMENX 1,
/// or 0 when `newkey` exists; `ERR no such key` when `key` is missing.
/// Renaming a key onto itself changes nothing (RENAMENX replies 0). Logged
/// as the `Delete` of `key` and a `Put` of the whole value at `newkey`.
pub fn rename(state: &mut State, keys: &[Bytes; 2], only_new: bool, now_ms: u64) -> Reply {
    let [from, to] = keys;
    if !state.keyspace.contains_live(from, now_ms) {
        return Reply::Error(ServerError::NO_SUCH_KEY);
    }
    let done = if only_new { Reply::Int(1) } else { Reply::OK };
    if from == to {
        return if only_new { Reply::Int(0) } else { done };
    }
    if only_new && state.keyspace.contains_live(to, now_ms) {
        return Reply::Int(0);
    }
    let Some((value, deadline_ms)) = state.keyspace.take(from) else {
        return Reply::Error(ServerError::NO_SUCH_KEY);
    };
    state.keyspace.insert(to, value, deadline_ms);
    register_moved(state, to);
    done
}

/// ```text
/// COPY source destination [DB 0] [REPLACE]
/// ```
/// Copies the value and its TTL: 1 if copied; 0 if `source` is missing or
/// `destination` exists and REPLACE was not given. Logged as a `Put` of
/// the whole value at `destination`.
pub fn copy(state: &mut State, keys: &[Bytes; 2], replace: bool, now_ms: u64) -> Reply {
    let [from, to] = keys;
    if from == to {
        return Reply::Error(ServerError::generic(
            "ERR source and destination objects are the same",
        ));
    }
    if !state.keyspace.contains_live(from, now_ms) {
        return Reply::Int(0);
    }
    let exists = state.keyspace.contains_live(to, now_ms);
    if exists && !replace {
        return Reply::Int(0);
    }
    if !exists {
        if let Err(error) = state.room_for_key(now_ms) {
            return Reply::Error(error);
        }
    }
    // Looked up again: making room may expire keys, never a live one.
    let Some(entry) = state.keyspace.get_live(from, now_ms) else {
        return Reply::Int(0);
    };
    let (value, deadline_ms) = (entry.value.clone(), entry.deadline_ms());
    state.keyspace.insert(to, value, deadline_ms);
    register_moved(state, to);
    Reply::Int(1)
}

/// Most draws RANDOMKEY makes before it gives up on finding a live key.
const RANDOM_KEY_DRAWS: usize = 100;

/// SplitMix64's step: a well-mixed 64-bit value from any input.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// ```text
/// RANDOMKEY
/// ```
/// A key drawn from the keyspace, or nil when it is empty. The draw is a
/// function of the state (its hash seed and command count) and the time,
/// so the same requests at the same times give the same key; it changes
/// nothing. Keys past their deadline are drawn again (up to 100 draws; if
/// every draw is such a key, nil: the timer reaps them soon).
pub fn random_key(state: &mut State, now_ms: u64) -> Reply {
    let len = state.keyspace.len() as u64;
    if len == 0 {
        return Reply::Nil;
    }
    let mut draw = state.hash_seed ^ state.stats.commands_processed.rotate_left(32) ^ now_ms;
    for _ in 0..RANDOM_KEY_DRAWS {
        draw = mix(draw);
        let Some((key, entry)) = state.keyspace.at((draw % len) as usize) else {
            continue;
        };
        if entry.deadline_ms().is_none_or(|deadline| deadline > now_ms) {
            return Reply::Bulk(key.to_bytes());
        }
    }
    Reply::Nil
}

/// ```text
/// EXPIRETIME key | PEXPIRETIME key
/// ```
/// The absolute deadline in Unix seconds (rounded to nearest, as Redis
/// does) or milliseconds; -1 without expiry, -2 when missing.
pub fn expire_time(state: &mut State, key: &[u8], millis: bool, now_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        None => Reply::Int(-2),
        Some(entry) => match entry.deadline_ms() {
            None => Reply::Int(-1),
            Some(deadline) if millis => Reply::Int(deadline as i64),
            Some(deadline) => Reply::Int(deadline.saturating_add(500) as i64 / 1000),
        },
    }
}

/// What `OBJECT FREQ` answers: usher has no LFU policy (Redis's text).
const NO_LFU: ServerError = ServerError::new_static(
    ErrorCode::Generic,
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
);

/// ```text
/// OBJECT ENCODING key | OBJECT FREQ key | OBJECT IDLETIME key | OBJECT REFCOUNT key
/// ```
/// Nil for a missing key. ENCODING: [`Value::object_encoding`]; FREQ: the
/// error Redis gives without an LFU policy; IDLETIME: 0 (usher keeps no
/// access times); REFCOUNT: 1 (values are never shared).
pub fn object(state: &mut State, query: ObjectQuery, key: &[u8], now_ms: u64) -> Reply {
    let Some(entry) = state.keyspace.get_live(key, now_ms) else {
        return Reply::Nil;
    };
    match query {
        ObjectQuery::Encoding => Reply::bulk_static(entry.value.object_encoding().as_bytes()),
        ObjectQuery::Freq => Reply::Error(NO_LFU),
        ObjectQuery::IdleTime => Reply::Int(0),
        ObjectQuery::RefCount => Reply::Int(1),
    }
}

/// `OBJECT HELP`'s lines, as Redis words them.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// ```text
/// OBJECT HELP
/// ```
pub fn object_help() -> Reply {
    Reply::Array(
        OBJECT_HELP
            .iter()
            .map(|&line| Reply::simple(line))
            .collect(),
    )
}
