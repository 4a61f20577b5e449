//! The S* commands, with Redis's semantics, replies and error texts, and
//! the replay of set effects through the same [`Set`] functions.

use std::collections::HashSet;
use std::hash::BuildHasher;

use bytes::Bytes;
use usher_protocol::request::SetOp;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::SetEffect;
use super::packed::{record_bytes, Set, ARENA_BYTES_MAX};
use crate::glob::glob_match;
use crate::state::effect::ReplayError;
use crate::state::keyspace::Recorder;
use crate::state::store::State;
use crate::state::value::Value;

/// The set in a value, if it holds one.
fn as_set(value: &mut Value) -> Option<&mut Set> {
    match value {
        Value::Set(inner) => Some(inner),
        _ => None,
    }
}

/// The set at `key`, `None` if missing, WRONGTYPE for another type.
/// Changes go through [`set_write`], which records them.
fn set_ref<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Set>, ServerError> {
    state.typed(key, now_ms, as_set, false)
}

/// Like [`set_ref`] for commands that change members, with the recorder
/// for their effects.
fn set_write<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<(&'a mut Set, Recorder<'a>)>, ServerError> {
    state.typed_write(key, now_ms, as_set)
}

/// Like [`set_ref`] for read commands, counting keyspace hits and misses.
fn set_read<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Set>, ServerError> {
    state.typed(key, now_ms, as_set, true)
}

/// Removes a member and records it; returns whether it was there.
fn remove_member(set: &mut Set, member: &[u8], recorder: &mut Recorder) -> bool {
    let removed = set.remove(member);
    if removed {
        recorder.record(|key| SetEffect::Remove {
            key,
            member: Bytes::copy_from_slice(member),
        });
    }
    removed
}

/// Deletes the key once its set is empty, as Redis does.
fn drop_if_empty(state: &mut State, key: &[u8], now_ms: u64) {
    if let Ok(Some(set)) = set_ref(state, key, now_ms) {
        if set.is_empty() {
            state.keyspace.remove(key);
        }
    }
}

/// The seed of a new set at `key`: the state's seed mixed with the key, so
/// sets draw different sequences.
fn seed_for(state: &State, key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(state.hash_seed).hash_one(key)
}

fn member_limit(state: &State, member: &[u8]) -> Result<(), ServerError> {
    if member.len() > state.limits.member_bytes_max {
        return Err(ServerError::limit(
            "member length in bytes",
            state.limits.member_bytes_max as u64,
        ));
    }
    Ok(())
}

fn too_large(members_max: usize) -> ServerError {
    ServerError::new(
        ErrorCode::Limit,
        format!("ERR set would exceed set_members_max ({members_max})"),
    )
}

fn arena_full() -> ServerError {
    ServerError::new_static(
        ErrorCode::Limit,
        "ERR set would exceed its 4 GiB of member bytes",
    )
}

fn too_many_items(items: usize, reply_items_max: usize) -> ServerError {
    ServerError::new(
        ErrorCode::Limit,
        format!("ERR the reply would hold {items} members; reply_items_max is {reply_items_max} (use SSCAN)"),
    )
}

/// Whether adding `members` to `set` (or to a new set) stays within
/// `set_members_max` and the arena; members already there do not count.
fn room_for(set: Option<&Set>, members: &[Bytes], members_max: usize) -> Result<(), ServerError> {
    let (len, live_bytes) = set.map_or((0, 0), |set| (set.len(), set.live_bytes()));
    let mut fresh: HashSet<&[u8]> = HashSet::new();
    let mut bytes = 0usize;
    for member in members {
        if set.is_some_and(|set| set.contains(member)) || !fresh.insert(member) {
            continue;
        }
        bytes += record_bytes(member.len());
    }
    if len + fresh.len() > members_max {
        return Err(too_large(members_max));
    }
    if live_bytes + bytes > ARENA_BYTES_MAX {
        return Err(arena_full());
    }
    Ok(())
}

/// ```text
/// SADD key member [member ...]
/// ```
/// How many members were new. Every member is checked against the limits
/// before any is added. An existing set is looked up once.
pub fn sadd(state: &mut State, key: &[u8], members: &[Bytes], now_ms: u64) -> Reply {
    for member in members {
        if let Err(error) = member_limit(state, member) {
            return error.into();
        }
    }
    let members_max = state.limits.set_members_max;
    let member_bytes_max = state.limits.member_bytes_max;
    match set_write(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(Some((set, mut recorder))) => {
            // The exact check (which members are new) only near a limit.
            let quick = set.len() + members.len() <= members_max
                && set.live_bytes() + members.len() * (3 + member_bytes_max) <= ARENA_BYTES_MAX;
            if !quick {
                if let Err(error) = room_for(Some(set), members, members_max) {
                    return error.into();
                }
            }
            return Reply::Int(add_members(set, members, &mut recorder));
        }
        Ok(None) => {}
    }
    if let Err(error) = room_for(None, members, members_max) {
        return error.into();
    }
    if let Err(error) = state.room_for_key(now_ms) {
        return error.into();
    }
    let seed = seed_for(state, key);
    state
        .keyspace
        .insert(key, Value::Set(Box::new(Set::new(seed))), None);
    match set_write(state, key, now_ms) {
        Ok(Some((set, mut recorder))) => Reply::Int(add_members(set, members, &mut recorder)),
        _ => ServerError::generic("ERR set vanished").into(),
    }
}

/// Adds members and records each new one; returns how many were new.
fn add_members(set: &mut Set, members: &[Bytes], recorder: &mut Recorder) -> i64 {
    let mut added = 0;
    for member in members {
        if set.insert(member) {
            recorder.record(|key| SetEffect::Add {
                key,
                member: member.clone(),
            });
            added += 1;
        }
    }
    added
}

/// ```text
/// SREM key member [member ...]
/// ```
/// How many of the members were removed; the last removal deletes the key.
pub fn srem(state: &mut State, key: &[u8], members: &[Bytes], now_ms: u64) -> Reply {
    let (set, mut recorder) = match set_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    let removed = members
        .iter()
        .filter(|member| remove_member(set, member, &mut recorder))
        .count();
    if set.is_empty() {
        state.keyspace.remove(key);
    }
    Reply::Int(removed as i64)
}

/// ```text
/// SISMEMBER key member
/// ```
/// 1 if the member is in the set, else 0.
pub fn sismember(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    match set_read(state, key, now_ms) {
        Ok(Some(set)) => Reply::Int(i64::from(set.contains(member))),
        Ok(None) => Reply::Int(0),
        Err(error) => error.into(),
    }
}

/// ```text
/// SMISMEMBER key member [member ...]
/// ```
/// 1 or 0 per member.
pub fn smismember(state: &mut State, key: &[u8], members: &[Bytes], now_ms: u64) -> Reply {
    match set_read(state, key, now_ms) {
        Ok(set) => Reply::Array(
            members
                .iter()
                .map(|member| {
                    Reply::Int(i64::from(
                        set.as_ref().is_some_and(|set| set.contains(member)),
                    ))
                })
                .collect(),
        ),
        Err(error) => error.into(),
    }
}

/// ```text
/// SCARD key
/// ```
/// The number of members; 0 when the key is missing.
pub fn scard(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match set_read(state, key, now_ms) {
        Ok(Some(set)) => Reply::Int(set.len() as i64),
        Ok(None) => Reply::Int(0),
        Err(error) => error.into(),
    }
}

fn bulk(member: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(member))
}

/// ```text
/// SMEMBERS key
/// ```
/// Every member, as a set reply; refused beyond `reply_items_max` (SSCAN
/// reads a set of any size).
pub fn smembers(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    match set_read(state, key, now_ms) {
        Ok(Some(set)) if set.len() > reply_items_max => {
            too_many_items(set.len(), reply_items_max).into()
        }
        Ok(Some(set)) => Reply::Set(set.iter().map(bulk).collect()),
        Ok(None) => Reply::Set(Vec::new()),
        Err(error) => error.into(),
    }
}

/// ```text
/// SPOP key [count]
/// ```
/// Without a count, removes and returns a random member (nil if the key is
/// missing). With one, up to `count` distinct random members as a set
/// reply; a count of at least the set's size takes the whole set (and the
/// key). The removals are logged as plain removals.
pub fn spop(state: &mut State, key: &[u8], count: Option<u64>, now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let (set, mut recorder) = match set_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) if count.is_none() => return Reply::Nil,
        Ok(None) => return Reply::Set(Vec::new()),
        Err(error) => return error.into(),
    };
    let Some(count) = count else {
        let Some(at) = set.random_offset() else {
            return Reply::Nil;
        };
        let member = Bytes::copy_from_slice(set.member(at));
        remove_member(set, &member, &mut recorder);
        drop_if_empty(state, key, now_ms);
        return Reply::Bulk(member);
    };
    let take = count.min(set.len() as u64) as usize;
    if take > reply_items_max {
        return too_many_items(take, reply_items_max).into();
    }
    if take == set.len() {
        // The whole set goes, and with it the key, in one `Delete`.
        let items = set.iter().map(bulk).collect();
        state.keyspace.remove(key);
        return Reply::Set(items);
    }
    let mut items = Vec::with_capacity(take);
    for _ in 0..take {
        let Some(at) = set.random_offset() else {
            break;
        };
        let member = Bytes::copy_from_slice(set.member(at));
        remove_member(set, &member, &mut recorder);
        items.push(Reply::Bulk(member));
    }
    Reply::Set(items)
}

/// ```text
/// SRANDMEMBER key [count]
/// ```
/// Without a count, a random member (nil if the key is missing). With a
/// positive count, up to `count` distinct members; with a negative one,
/// `-count` members that may repeat. Changes no member (only the value's
/// generator advances).
pub fn srandmember(state: &mut State, key: &[u8], count: Option<i64>, now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let set = match set_read(state, key, now_ms) {
        Ok(Some(set)) => set,
        Ok(None) if count.is_none() => return Reply::Nil,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    let Some(count) = count else {
        return match set.random_offset() {
            Some(at) => bulk(set.member(at)),
            None => Reply::Nil,
        };
    };
    let wanted = count.unsigned_abs();
    let take = if count < 0 {
        wanted
    } else {
        wanted.min(set.len() as u64)
    };
    if take > reply_items_max as u64 {
        return too_many_items(usize::try_from(take).unwrap_or(usize::MAX), reply_items_max).into();
    }
    let take = take as usize;
    if count < 0 {
        let mut items = Vec::with_capacity(take);
        for _ in 0..take {
            if let Some(at) = set.random_offset() {
                items.push(bulk(set.member(at)));
            }
        }
        return Reply::Array(items);
    }
    let chosen = distinct_random(set, take);
    Reply::Array(chosen.into_iter().map(|at| bulk(set.member(at))).collect())
}

/// `take` distinct random members' offsets (`take` at most the set's size).
fn distinct_random(set: &mut Set, take: usize) -> Vec<u32> {
    let mut chosen: Vec<u32>;
    if take * 3 > set.len() {
        // Many of them: a partial shuffle of every offset.
        chosen = set.offsets();
        for i in 0..take {
            let j = i + set.random_below((chosen.len() - i) as u64) as usize;
            chosen.swap(i, j);
        }
        chosen.truncate(take);
    } else {
        // Few: draw until enough are distinct (each draw is new with
        // probability above 2/3).
        let mut seen = HashSet::with_capacity(take);
        chosen = Vec::with_capacity(take);
        while chosen.len() < take {
            let Some(at) = set.random_offset() else {
                break;
            };
            if seen.insert(at) {
                chosen.push(at);
            }
        }
    }
    chosen
}

/// ```text
/// SSCAN key cursor [MATCH pattern] [COUNT n]
/// ```
/// `[next cursor, [members]]`; cursor 0 starts and ends an iteration.
pub fn sscan(
    state: &mut State,
    key: &[u8],
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    now_ms: u64,
) -> Reply {
    let budget = count.clamp(1, state.limits.scan_count_max);
    let set = match set_read(state, key, now_ms) {
        Ok(Some(set)) => set,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(error) => return error.into(),
    };
    let mut members = Vec::new();
    let next = set.scan(cursor, budget, |member| {
        if pattern.is_none_or(|pattern| glob_match(pattern, member)) {
            members.push(bulk(member));
        }
    });
    scan_reply(next, members)
}

fn scan_reply(next: u64, members: Vec<Reply>) -> Reply {
    let mut text = itoa::Buffer::new();
    Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(text.format(next).as_bytes())),
        Reply::Array(members),
    ])
}

/// ```text
/// SMOVE source destination member
/// ```
/// 1 if the member was moved (or source and destination are the same set
/// holding it), else 0. A missing source is 0 before any type check, as in
/// Redis; otherwise both keys must be sets (or the destination missing).
pub fn smove(
    state: &mut State,
    source: &[u8],
    destination: &[u8],
    member: &Bytes,
    now_ms: u64,
) -> Reply {
    let members_max = state.limits.set_members_max;
    let present = match set_ref(state, source, now_ms) {
        Ok(None) => return Reply::Int(0),
        Ok(Some(set)) => set.contains(member),
        Err(error) => return error.into(),
    };
    let fits = match set_ref(state, destination, now_ms) {
        Err(error) => return error.into(),
        Ok(set) => room_for(set.as_deref(), std::slice::from_ref(member), members_max),
    };
    if source == destination || !present {
        return Reply::Int(i64::from(present && source == destination));
    }
    if let Err(error) = fits {
        return error.into();
    }
    let creates = matches!(set_ref(state, destination, now_ms), Ok(None));
    if creates {
        if let Err(error) = state.room_for_key(now_ms) {
            return error.into();
        }
    }
    if let Ok(Some((set, mut recorder))) = set_write(state, source, now_ms) {
        remove_member(set, member, &mut recorder);
    }
    drop_if_empty(state, source, now_ms);
    if creates {
        let seed = seed_for(state, destination);
        state
            .keyspace
            .insert(destination, Value::Set(Box::new(Set::new(seed))), None);
    }
    if let Ok(Some((set, mut recorder))) = set_write(state, destination, now_ms) {
        if set.insert(member) {
            recorder.record(|key| SetEffect::Add {
                key,
                member: member.clone(),
            });
        }
    }
    Reply::Int(1)
}

/// Checks that every key is a set or missing (expiring the dead ones and
/// counting hits and misses), as Redis checks them all before answering.
fn check_sets(state: &mut State, keys: &[Bytes], now_ms: u64) -> Result<(), ServerError> {
    for key in keys {
        set_read(state, key, now_ms)?;
    }
    Ok(())
}

/// The sets at `keys` (already checked by [`check_sets`]), `None` for a
/// missing one.
fn sets_of<'a>(state: &'a State, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    keys.iter()
        .map(
            |key| match state.keyspace.peek(key).map(|entry| &entry.value) {
                Some(Value::Set(set)) => Some(&**set),
                _ => None,
            },
        )
        .collect()
}

/// What `op` makes of `sets`, at most `bound` members (else the error
/// `over(count)` gives), in the order the sets give them.
fn combine<'a>(
    op: SetOp,
    sets: &[Option<&'a Set>],
    bound: usize,
    over: impl Fn(usize) -> ServerError,
) -> Result<Vec<&'a [u8]>, ServerError> {
    let mut out: Vec<&[u8]> = Vec::new();
    let push = |member: &'a [u8], out: &mut Vec<&'a [u8]>| {
        out.push(member);
        if out.len() > bound {
            Err(over(out.len()))
        } else {
            Ok(())
        }
    };
    match op {
        SetOp::Inter => {
            if sets.iter().any(Option::is_none) {
                return Ok(out);
            }
            let mut present: Vec<&Set> = sets.iter().flatten().copied().collect();
            present.sort_by_key(|set| set.len());
            let (smallest, others) = present.split_first().expect("SINTER has a key");
            for member in smallest.iter() {
                if others.iter().all(|set| set.contains(member)) {
                    push(member, &mut out)?;
                }
            }
        }
        SetOp::Union => {
            let mut seen: HashSet<&[u8]> = HashSet::new();
            for set in sets.iter().flatten() {
                for member in set.iter() {
                    if seen.insert(member) {
                        push(member, &mut out)?;
                    }
                }
            }
        }
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(out);
            };
            for member in first.iter() {
                if !sets[1..].iter().flatten().any(|set| set.contains(member)) {
                    push(member, &mut out)?;
                }
            }
        }
    }
    Ok(out)
}

/// ```text
/// SINTER key [key ...] | SUNION key [key ...] | SDIFF key [key ...]
/// ```
/// The result as a set reply, refused beyond `reply_items_max`. A missing
/// key is an empty set.
pub fn scombine(state: &mut State, op: SetOp, keys: &[Bytes], now_ms: u64) -> Reply {
    if let Err(error) = check_sets(state, keys, now_ms) {
        return error.into();
    }
    let reply_items_max = state.limits.reply_items_max;
    let sets = sets_of(state, keys);
    match combine(op, &sets, reply_items_max, |items| {
        too_many_items(items, reply_items_max)
    }) {
        Ok(members) => Reply::Set(members.into_iter().map(bulk).collect()),
        Err(error) => error.into(),
    }
}

/// ```text
/// SINTERSTORE destination key [key ...]   (and SUNIONSTORE, SDIFFSTORE)
/// ```
/// Stores the result at `destination`, replacing whatever it held (its
/// time to live too); an empty result deletes it. Replies the result's
/// size. Refused beyond `set_members_max`, changing nothing.
pub fn scombine_store(state: &mut State, op: SetOp, keys: &[Bytes], now_ms: u64) -> Reply {
    let Some((destination, sources)) = keys.split_first() else {
        return ServerError::wrong_arity("sinterstore").into();
    };
    if let Err(error) = check_sets(state, sources, now_ms) {
        return error.into();
    }
    let members_max = state.limits.set_members_max;
    let seed = seed_for(state, destination);
    let sets = sets_of(state, sources);
    let mut result = Set::new(seed);
    match combine(op, &sets, members_max, |_| too_large(members_max)) {
        Ok(members) => {
            let bytes: usize = members
                .iter()
                .map(|member| record_bytes(member.len()))
                .sum();
            if bytes > ARENA_BYTES_MAX {
                return arena_full().into();
            }
            for member in members {
                result.insert(member);
            }
        }
        Err(error) => return error.into(),
    }
    let len = result.len();
    let value = (len > 0).then(|| Value::Set(Box::new(result)));
    match state.store_result(destination, value, now_ms) {
        Ok(()) => Reply::Int(len as i64),
        Err(error) => error.into(),
    }
}

/// ```text
/// SINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
/// The size of the intersection, counting stopped at `limit` (0 = none).
pub fn sintercard(state: &mut State, keys: &[Bytes], limit: u64, now_ms: u64) -> Reply {
    if let Err(error) = check_sets(state, keys, now_ms) {
        return error.into();
    }
    let sets = sets_of(state, keys);
    if sets.iter().any(Option::is_none) {
        return Reply::Int(0);
    }
    let mut present: Vec<&Set> = sets.into_iter().flatten().collect();
    present.sort_by_key(|set| set.len());
    let Some((smallest, others)) = present.split_first() else {
        return Reply::Int(0);
    };
    let mut count = 0u64;
    for member in smallest.iter() {
        if others.iter().all(|set| set.contains(member)) {
            count += 1;
            if count == limit {
                break;
            }
        }
    }
    Reply::Int(count as i64)
}

/// Applies a logged set effect (see `State::replay`). A key that is missing
/// is skipped: deleted before a snapshot reached it, its `Delete` follows.
pub fn replay(state: &mut State, effect: &SetEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let Value::Set(set) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "set", &entry.value));
    };
    match effect {
        SetEffect::Add { member, .. } => {
            if set.live_bytes() + record_bytes(member.len()) > ARENA_BYTES_MAX
                || member.len() > super::packed::MEMBER_BYTES_LIMIT
            {
                return Err(ReplayError::unfit(key, "set member does not fit"));
            }
            if !set.insert(member) {
                return Err(ReplayError::unfit(
                    key,
                    format!("member \"{}\" is already in the set", member.escape_ascii()),
                ));
            }
        }
        SetEffect::Remove { member, .. } => {
            if !set.remove(member) {
                return Err(ReplayError::unfit(
                    key,
                    format!("member \"{}\" is not in the set", member.escape_ascii()),
                ));
            }
        }
    }
    Ok(())
}
