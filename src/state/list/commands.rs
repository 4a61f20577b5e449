//! The list commands, with Redis's semantics, replies and error texts, and
//! the replay of list effects through the same [`List`] functions.

use bytes::Bytes;
use usher_protocol::{ErrorCode, LPosOptions, ListItems, Reply, ServerError};

use super::deque::{Item, List};
use super::effects::ListEffect;
use crate::state::effect::ReplayError;
use crate::state::keyspace::Recorder;
use crate::state::store::{index_window, State};
use crate::state::value::Value;

/// The list in a value, if it holds one.
fn as_list(value: &mut Value) -> Option<&mut List> {
    match value {
        Value::List(inner) => Some(inner),
        _ => None,
    }
}

/// The list at `key`, `None` if missing, WRONGTYPE for another type.
/// Read-only: changes go through [`list_write`], which records them.
fn list_ref<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a List>, ServerError> {
    state
        .typed(key, now_ms, as_list, false)
        .map(|value| value.map(|value| &*value))
}

/// Like [`list_ref`] for read commands, counting keyspace hits and misses.
fn list_read<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a List>, ServerError> {
    state
        .typed(key, now_ms, as_list, true)
        .map(|value| value.map(|value| &*value))
}

/// Like [`list_ref`] for commands that change items, with the recorder for
/// their effects.
fn list_write<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<(&'a mut List, Recorder<'a>)>, ServerError> {
    state.typed_write(key, now_ms, as_list)
}

/// Deletes the key once its list is empty, as Redis does.
fn drop_if_empty(state: &mut State, key: &[u8], now_ms: u64) {
    if let Ok(Some(list)) = list_ref(state, key, now_ms) {
        if list.is_empty() {
            state.keyspace.remove(key);
        }
    }
}

/// The error for a list that would grow past `list_items_max`.
fn too_long(list_items_max: usize) -> Reply {
    ServerError::new(
        ErrorCode::Limit,
        format!("ERR list would exceed list_items_max ({list_items_max})"),
    )
    .into()
}

fn too_many_items(items: usize, reply_items_max: usize) -> Reply {
    ServerError::new(
        ErrorCode::Limit,
        format!(
            "ERR the reply would hold {items} elements; reply_items_max is {reply_items_max} (use a smaller range or count)"
        ),
    )
    .into()
}

/// One index (negative counts from the tail) as a position, if within.
fn position(len: usize, index: i64) -> Option<usize> {
    let resolved = if index < 0 {
        (len as i64).checked_add(index)?
    } else {
        index
    };
    usize::try_from(resolved).ok().filter(|&at| at < len)
}

/// ```text
/// LPUSH key element [element ...] | RPUSH key element [element ...]
/// LPUSHX key element [element ...] | RPUSHX key element [element ...]
/// ```
/// Pushes the items at the head (one after another, so the last given ends
/// up first) or the tail; replies the new length. The X forms push only to
/// an existing list (0 when missing). Over `list_items_max`: an error,
/// nothing pushed.
pub fn push(
    state: &mut State,
    key: &[u8],
    left: bool,
    existing_only: bool,
    items: &ListItems,
    now_ms: u64,
) -> Reply {
    let list_items_max = state.limits.list_items_max;
    match list_write(state, key, now_ms) {
        Err(error) => error.into(),
        Ok(Some((list, mut recorder))) => {
            if list.len().saturating_add(items.len()) > list_items_max {
                return too_long(list_items_max);
            }
            for item in items {
                list.push(left, item);
            }
            recorder.record(|key| ListEffect::Push {
                key,
                left,
                items: items.clone(),
            });
            Reply::Int(list.len() as i64)
        }
        Ok(None) if existing_only => Reply::Int(0),
        Ok(None) => {
            if items.len() > list_items_max {
                return too_long(list_items_max);
            }
            if let Err(error) = state.room_for_key(now_ms) {
                return error.into();
            }
            let mut list = List::new();
            for item in items {
                list.push(left, item);
            }
            state
                .keyspace
                .insert(key, Value::List(Box::new(list)), None);
            Reply::Int(items.len() as i64)
        }
    }
}

/// ```text
/// LPOP key [count] | RPOP key [count]
/// ```
/// Removes and replies the first (last) item, or nil; with a count, up to
/// `count` items as an array (empty for 0), and a missing key's nil array.
pub fn pop(state: &mut State, key: &[u8], left: bool, count: Option<u64>, now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let (list, mut recorder) = match list_write(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(None) if count.is_some() => return Reply::NilArray,
        Ok(None) => return Reply::Nil,
        Ok(Some(found)) => found,
    };
    let (reply, popped) = match count {
        None => match list.pop(left) {
            Some(item) => (item.into_reply(), 1),
            None => (Reply::Nil, 0),
        },
        Some(count) => {
            let take = count.min(list.len() as u64) as usize;
            if take > reply_items_max {
                return too_many_items(take, reply_items_max);
            }
            let mut items = Vec::with_capacity(take);
            items.extend((0..take).filter_map(|_| list.pop(left).map(Item::into_reply)));
            (Reply::Array(items), take as u64)
        }
    };
    if popped > 0 {
        // Looked at before the key is dropped, to spare a second lookup.
        let emptied = list.is_empty();
        recorder.record(|key| ListEffect::Pop {
            key,
            left,
            count: popped,
        });
        if emptied {
            state.keyspace.remove(key);
        }
    }
    reply
}

/// ```text
/// LLEN key
/// ```
/// The list's length; 0 when the key is missing.
pub fn llen(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match list_read(state, key, now_ms) {
        Ok(Some(list)) => Reply::Int(list.len() as i64),
        Ok(None) => Reply::Int(0),
        Err(error) => error.into(),
    }
}

/// ```text
/// LRANGE key start stop
/// ```
/// The items from `start` to `stop` inclusive (negative indexes count from
/// the tail), at most `reply_items_max` of them.
pub fn lrange(state: &mut State, key: &[u8], start: i64, stop: i64, now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let list = match list_read(state, key, now_ms) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    let (first, end) = index_window(list.len(), start, stop);
    if end - first > reply_items_max {
        return too_many_items(end - first, reply_items_max);
    }
    Reply::Array(
        list.iter_from(first)
            .take(end - first)
            .map(|item| item.to_reply())
            .collect(),
    )
}

/// ```text
/// LINDEX key index
/// ```
/// The item at `index` (negative counts from the tail), or nil.
pub fn lindex(state: &mut State, key: &[u8], index: i64, now_ms: u64) -> Reply {
    match list_read(state, key, now_ms) {
        Ok(Some(list)) => position(list.len(), index)
            .and_then(|at| list.get(at))
            .map_or(Reply::Nil, |item| item.to_reply()),
        Ok(None) => Reply::Nil,
        Err(error) => error.into(),
    }
}

/// ```text
/// LSET key index element
/// ```
/// Replaces the item at `index`; `ERR no such key` when the key is missing,
/// `ERR index out of range` beyond the list.
pub fn lset(state: &mut State, key: &[u8], index: i64, item: &Bytes, now_ms: u64) -> Reply {
    let (list, mut recorder) = match list_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return ServerError::NO_SUCH_KEY.into(),
        Err(error) => return error.into(),
    };
    let Some(at) = position(list.len(), index) else {
        return ServerError::new_static(ErrorCode::OutOfRange, "ERR index out of range").into();
    };
    list.set(at, item);
    recorder.record(|key| ListEffect::Set {
        key,
        index: at as u64,
        item: item.clone(),
    });
    Reply::OK
}

/// ```text
/// LREM key count element
/// ```
/// Removes the first `count` items equal to `element` (the last `-count`
/// when negative, all of them for 0); replies how many.
pub fn lrem(state: &mut State, key: &[u8], count: i64, item: &[u8], now_ms: u64) -> Reply {
    let (list, mut recorder) = match list_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    let wanted = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let matching = |(at, found): (usize, &Item)| (found.as_bytes() == item).then_some(at as u64);
    let mut positions: Vec<u64> = if count < 0 {
        let mut from_tail: Vec<u64> = list
            .iter()
            .enumerate()
            .rev()
            .filter_map(matching)
            .take(wanted)
            .collect();
        from_tail.reverse();
        from_tail
    } else {
        list.iter()
            .enumerate()
            .filter_map(matching)
            .take(wanted)
            .collect()
    };
    if positions.is_empty() {
        return Reply::Int(0);
    }
    let removed = positions.len() as i64;
    let whole = positions.len() == list.len();
    if whole {
        // Every item goes, so the key goes: one `Delete`.
        state.keyspace.remove(key);
        return Reply::Int(removed);
    }
    let done = list.remove_positions(&positions);
    assert!(done, "LREM found positions that do not fit its own list");
    recorder.record(|key| ListEffect::Remove {
        key,
        positions: std::mem::take(&mut positions),
    });
    Reply::Int(removed)
}

/// ```text
/// LTRIM key start stop
/// ```
/// Keeps only the items from `start` to `stop` inclusive; an empty range
/// deletes the key. `OK`, also for a missing key.
pub fn ltrim(state: &mut State, key: &[u8], start: i64, stop: i64, now_ms: u64) -> Reply {
    let (list, mut recorder) = match list_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::OK,
        Err(error) => return error.into(),
    };
    let (first, end) = index_window(list.len(), start, stop);
    if first == end {
        state.keyspace.remove(key);
        return Reply::OK;
    }
    if first > 0 || end < list.len() {
        list.trim(first, end);
        recorder.record(|key| ListEffect::Trim {
            key,
            first: first as u64,
            end: end as u64,
        });
    }
    Reply::OK
}

/// ```text
/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
/// ```
/// The position of the `rank`-th match (from the tail when negative),
/// comparing at most `maxlen` items (0 = all); nil if none. With COUNT,
/// an array of up to `count` positions from that match on (0 = all).
pub fn lpos(
    state: &mut State,
    key: &[u8],
    item: &[u8],
    options: LPosOptions,
    now_ms: u64,
) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let list = match list_read(state, key, now_ms) {
        Ok(Some(list)) => list,
        Ok(None) if options.count.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Nil,
        Err(error) => return error.into(),
    };
    let len = list.len();
    let compared = match options.maxlen {
        0 => len,
        maxlen => (maxlen.min(len as u64)) as usize,
    };
    let skip = (options.rank.unsigned_abs() - 1) as usize;
    let wanted = match options.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(count) => usize::try_from(count).unwrap_or(usize::MAX),
    };
    let matches = |(at, found): (usize, &Item)| (found.as_bytes() == item).then_some(at);
    let mut found: Box<dyn Iterator<Item = usize>> = if options.rank > 0 {
        Box::new(list.iter().enumerate().take(compared).filter_map(matches))
    } else {
        Box::new(
            list.iter()
                .enumerate()
                .rev()
                .take(compared)
                .filter_map(matches),
        )
    };
    let mut positions = Vec::new();
    for at in found.by_ref().skip(skip).take(wanted) {
        if positions.len() == reply_items_max {
            return too_many_items(reply_items_max + 1, reply_items_max);
        }
        positions.push(Reply::Int(at as i64));
    }
    match options.count {
        Some(_) => Reply::Array(positions),
        None => positions.pop().unwrap_or(Reply::Nil),
    }
}

/// ```text
/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
/// ```
/// Pops an item from one end of `source` and pushes it on one end of
/// `destination` (created if missing; the same key rotates); replies the
/// item, or nil when `source` is missing. WRONGTYPE, changing nothing, if
/// either key holds another type; over `list_items_max` an error.
pub fn lmove(
    state: &mut State,
    keys: &[Bytes; 2],
    from_left: bool,
    to_left: bool,
    now_ms: u64,
) -> Reply {
    let [source, destination] = keys;
    match list_ref(state, source, now_ms) {
        Err(error) => return error.into(),
        Ok(None) => return Reply::Nil,
        Ok(Some(_)) => {}
    }
    let list_items_max = state.limits.list_items_max;
    let destination_exists = match list_ref(state, destination, now_ms) {
        Err(error) => return error.into(),
        Ok(None) => false,
        Ok(Some(list)) => {
            if source != destination && list.len() >= list_items_max {
                return too_long(list_items_max);
            }
            true
        }
    };
    if !destination_exists {
        if let Err(error) = state.room_for_key(now_ms) {
            return error.into();
        }
    }
    let Ok(Some((list, mut recorder))) = list_write(state, source, now_ms) else {
        return ServerError::generic("ERR list vanished").into();
    };
    let Some(item) = list.pop(from_left) else {
        return Reply::Nil;
    };
    recorder.record(|key| ListEffect::Pop {
        key,
        left: from_left,
        count: 1,
    });
    push_one(state, destination, to_left, item.as_bytes(), now_ms);
    drop_if_empty(state, source, now_ms);
    item.into_reply()
}

/// Pushes one item on an existing list, or creates the list with it (the
/// caller checked the type, the limit and room for a key).
fn push_one(state: &mut State, key: &[u8], left: bool, item: &[u8], now_ms: u64) {
    if let Ok(Some((list, mut recorder))) = list_write(state, key, now_ms) {
        list.push(left, item);
        recorder.record(|key| ListEffect::Push {
            key,
            left,
            items: ListItems::from_elem(Bytes::copy_from_slice(item), 1),
        });
        return;
    }
    let mut list = List::new();
    list.push(left, item);
    state
        .keyspace
        .insert(key, Value::List(Box::new(list)), None);
}

/// ```text
/// BLPOP key [key ...] timeout | BRPOP key [key ...] timeout
/// ```
/// Pops the first (last) item of the first key, left to right, that holds
/// a list, as `[key, item]`; WRONGTYPE if a key before it holds another
/// type; `None` when every key is missing (an empty list is never stored).
pub fn blpop(state: &mut State, keys: &[Bytes], left: bool, now_ms: u64) -> Option<Reply> {
    for key in keys {
        match list_ref(state, key, now_ms) {
            Ok(None) => continue,
            Ok(Some(_)) => {}
            Err(error) => return Some(error.into()),
        }
        let item = pop(state, key, left, None, now_ms);
        return Some(Reply::Array(vec![Reply::Bulk(key.clone()), item]));
    }
    None
}

/// ```text
/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
/// ```
/// LMOVE when `source` holds a list (or another type: WRONGTYPE); `None`
/// while it is missing.
pub fn blmove(
    state: &mut State,
    keys: &[Bytes; 2],
    from_left: bool,
    to_left: bool,
    now_ms: u64,
) -> Option<Reply> {
    match list_ref(state, &keys[0], now_ms) {
        Ok(None) => None,
        _ => Some(lmove(state, keys, from_left, to_left, now_ms)),
    }
}

/// Applies a logged list effect (see `State::replay`). A key that is
/// missing is skipped: deleted before a snapshot reached it, its `Delete`
/// follows. An effect that does not fit the list changes nothing.
pub fn replay(state: &mut State, effect: &ListEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let Value::List(list) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "list", &entry.value));
    };
    let len = list.len() as u64;
    match effect {
        ListEffect::Push { left, items, .. } => {
            for item in items {
                list.push(*left, item);
            }
        }
        ListEffect::Pop { left, count, .. } => {
            if *count > len {
                return Err(ReplayError::unfit(
                    key,
                    format!("{count} items popped from a list of {len}"),
                ));
            }
            for _ in 0..*count {
                list.pop(*left);
            }
        }
        ListEffect::Set { index, item, .. } => {
            if !usize::try_from(*index).is_ok_and(|at| list.set(at, item)) {
                return Err(ReplayError::unfit(
                    key,
                    format!("index {index} is beyond a list of {len}"),
                ));
            }
        }
        ListEffect::Trim { first, end, .. } => {
            if first >= end || *end > len {
                return Err(ReplayError::unfit(
                    key,
                    format!("trim to [{first}, {end}) in a list of {len}"),
                ));
            }
            list.trim(*first as usize, *end as usize);
        }
        ListEffect::Remove { positions, .. } => {
            if !list.remove_positions(positions) {
                return Err(ReplayError::unfit(
                    key,
                    format!("positions {positions:?} do not fit a list of {len}"),
                ));
            }
        }
    }
    Ok(())
}
