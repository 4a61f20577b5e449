//! The QUEUE.* commands, the engine's queue timer ([`run_timers`]) and the
//! replay of queue effects through the same `*_slot` functions the
//! commands use.

use bytes::Bytes;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::QueueEffect;
use super::members::{ACTIVE_BIT, QUEUE_MEMBER_BYTES_LIMIT};
use super::room::{Queue, Standing};
use crate::state::effect::ReplayError;
use crate::state::keyspace::{Keyspace, Recorder};
use crate::state::limits::StateLimits;
use crate::state::store::State;
use crate::state::value::Value;

/// Most admissions and expiries a single command performs while catching up;
/// anything beyond waits for the engine's timer, which has a CPU budget.
pub const INLINE_EFFECTS_MAX: usize = 256;

/// Puts a queue that replay created or changed back in the timer index
/// (see [`Queue::next_due_unclocked`]).
pub fn replayed(state: &mut State, key: &[u8]) {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    if let Some(entry) = keyspace.get_mut(key) {
        if let Value::Queue(queue) = &mut entry.value {
            let next = queue.next_due_unclocked();
            queue_timers.register(key, queue, next);
        }
    }
}

/// Registers the queue at `key` in the timer index after it arrived there
/// whole from another key (RENAME, COPY): its own registration names the
/// key it came from, which the timer drops when it comes up.
pub fn rekeyed(state: &mut State, key: &[u8]) {
    if let Some(entry) = state.keyspace.get_mut(key) {
        if let Value::Queue(queue) = &mut entry.value {
            queue.timer_due = None;
        }
    }
    replayed(state, key);
}

/// Rebuilds the timer index from every queue in the keyspace (after
/// recovery, whose snapshot loads values without replaying effects).
pub fn rebuild_timers(state: &mut State) {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    queue_timers.clear();
    for (key, entry) in keyspace.iter_mut() {
        if let Value::Queue(queue) = &mut entry.value {
            queue.timer_due = None;
            let next = queue.next_due_unclocked();
            queue_timers.register(key, queue, next);
        }
    }
}

/// Runs due queue work at `now_ms`: at most `max` items, an item being one
/// admission, one expiry or one stale index entry. Returns how many.
pub fn run_timers(state: &mut State, now_ms: u64, max: usize) -> usize {
    let State {
        keyspace,
        queue_timers,
        ..
    } = state;
    let mut done = 0;
    while done < max {
        let Some((due, key)) = queue_timers.due.first().cloned() else {
            break;
        };
        if due > now_ms {
            break;
        }
        queue_timers.due.remove(&(due, key.clone()));
        let (queue, mut recorder) = match keyspace.get_live_recorded(&key, now_ms) {
            Some((entry, recorder)) => match &mut entry.value {
                Value::Queue(queue) if queue.timer_due == Some(due) => (queue, recorder),
                _ => {
                    done += 1;
                    continue;
                }
            },
            None => {
                done += 1;
                continue;
            }
        };
        queue.timer_due = None;
        let effects = queue.run_due(now_ms, max - done, &mut recorder);
        queue_timers.sync(&key, queue, now_ms);
        assert!(
            effects > 0 || queue.timer_due.is_none_or(|next| next > now_ms),
            "a queue reported due work but did none"
        );
        done += effects.max(1);
    }
    done
}

const NO_SUCH_QUEUE: ServerError =
    ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such queue");
const QUEUE_CLOSED: ServerError = ServerError::new_static(
    ErrorCode::QueueClosed,
    "CLOSED queue is closed, no more joins",
);

fn queue_in<'a>(
    keyspace: &'a mut Keyspace,
    key: &[u8],
    now_ms: u64,
) -> Result<(&'a mut Queue, Recorder<'a>), ServerError> {
    match keyspace.get_live_recorded(key, now_ms) {
        None => Err(NO_SUCH_QUEUE),
        Some((entry, recorder)) => match &mut entry.value {
            Value::Queue(queue) => Ok((queue, recorder)),
            _ => Err(ServerError::WRONG_TYPE),
        },
    }
}

/// Runs a command on an existing queue: catches up on due work first, then
/// re-registers the queue's timer after.
fn with_queue(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    command: impl FnOnce(&mut Queue, &StateLimits, &mut Recorder) -> Reply,
) -> Reply {
    let State {
        keyspace,
        queue_timers,
        limits,
        ..
    } = state;
    let (queue, mut recorder) = match queue_in(keyspace, key, now_ms) {
        Ok(found) => found,
        Err(error) => return error.into(),
    };
    queue.run_due(now_ms, INLINE_EFFECTS_MAX, &mut recorder);
    let reply = command(queue, limits, &mut recorder);
    queue_timers.sync(key, queue, now_ms);
    reply
}

fn check_ttl(ttl_ms: u64, limits: &StateLimits) -> Result<(), ServerError> {
    if ttl_ms > limits.queue_ttl_ms_max {
        return Err(ServerError::limit("TTL in ms", limits.queue_ttl_ms_max));
    }
    Ok(())
}

/// ```text
/// QUEUE.CONFIG queue [CAPACITY n] [RATE n PER ms] [TTL ms]
/// ```
/// Creates the queue, or changes it live; OK. 0 switches a setting off.
/// Raising CAPACITY or RATE admits at once. A new RATE period starts its
/// windows now; a new count keeps the current window's tally. A new TTL
/// applies to later admissions and touches.
pub fn config(
    state: &mut State,
    key: &[u8],
    capacity: Option<u64>,
    rate: Option<(u64, u64)>,
    ttl_ms: Option<u64>,
    now_ms: u64,
) -> Reply {
    if let Some(ttl) = ttl_ms {
        if let Err(error) = check_ttl(ttl, &state.limits) {
            return error.into();
        }
    }
    if let Some((_, period)) = rate {
        if period > state.limits.queue_rate_period_ms_max {
            return ServerError::limit("RATE period in ms", state.limits.queue_rate_period_ms_max)
                .into();
        }
    }
    match state.keyspace.get_live(key, now_ms) {
        Some(entry) if !matches!(entry.value, Value::Queue(_)) => {
            return ServerError::WRONG_TYPE.into()
        }
        Some(_) => {}
        None => {
            if let Err(error) = state.room_for_key(now_ms) {
                return error.into();
            }
            let queue = Queue::new(state.hash_seed);
            state
                .keyspace
                .insert(key, Value::Queue(Box::new(queue)), None);
        }
    }
    with_queue(state, key, now_ms, |queue, _, recorder| {
        let before = queue.settings();
        if let Some(capacity) = capacity {
            queue.capacity = capacity;
        }
        if let Some((members, period_ms)) = rate {
            if members == 0 {
                queue.rate_members = 0;
                queue.rate_period_ms = 0;
            } else {
                if queue.rate_members == 0 || queue.rate_period_ms != period_ms {
                    queue.rate_period_ms = period_ms;
                    queue.rate_anchor_ms = now_ms;
                    queue.window = 0;
                    queue.admitted_in_window = 0;
                }
                queue.rate_members = members;
            }
        }
        if let Some(ttl) = ttl_ms {
            queue.ttl_ms = ttl;
        }
        let settings = queue.settings();
        if settings != before {
            recorder.record(|key| QueueEffect::Config { key, settings });
        }
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        Reply::OK
    })
}

/// ```text
/// QUEUE.JOIN queue member
/// ```
/// `["waiting", position]` (1-based, arrival order) or `["active", ttl_ms]`
/// (-1 = no expiry). Joining again changes nothing. A newcomer is admitted
/// at once when CAPACITY and RATE allow. Errors if the queue is closed or
/// missing.
pub fn join(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let standing = queue.standing(member);
        if standing != Standing::None {
            return queue.standing_reply(standing, now_ms, false);
        }
        if queue.closed {
            return QUEUE_CLOSED.into();
        }
        if member.len() > limits.member_bytes_max.min(QUEUE_MEMBER_BYTES_LIMIT) {
            return ServerError::limit(
                "member length in bytes",
                limits.member_bytes_max.min(QUEUE_MEMBER_BYTES_LIMIT) as u64,
            )
            .into();
        }
        if queue.members.live >= limits.queue_members_max {
            return ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR queue is full: queue_members_max ({}) reached",
                    limits.queue_members_max
                ),
            )
            .into();
        }
        queue.join_member(member);
        recorder.record(|key| QueueEffect::Join {
            key,
            member: Bytes::copy_from_slice(member),
        });
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        let standing = queue.standing(member);
        queue.standing_reply(standing, now_ms, false)
    })
}

/// ```text
/// QUEUE.POS queue member
/// ```
/// `["waiting", position, eta_ms]`, `["active", ttl_ms]` or `["none"]`.
/// eta_ms follows the configured RATE (CAPACITY may delay further) or,
/// without one, the admissions of the last minute; -1 when neither exists.
pub fn pos(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let standing = queue.standing(member);
        queue.standing_reply(standing, now_ms, true)
    })
}

/// ```text
/// QUEUE.ADMIT queue n
/// ```
/// Admits up to n waiting members, oldest first, never beyond CAPACITY;
/// replies the ids admitted. Not limited by RATE, and not counted in its
/// windows: this is the operator's own door.
pub fn admit(state: &mut State, key: &[u8], count: u64, now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        if count > limits.reply_items_max as u64 {
            return ServerError::limit("QUEUE.ADMIT count", limits.reply_items_max as u64).into();
        }
        let take = count.min(queue.line.waiting as u64).min(queue.room());
        let mut admitted = Vec::with_capacity(take as usize);
        for _ in 0..take {
            let Some(slot) = queue.admit_one(now_ms, false, recorder) else {
                break;
            };
            admitted.push(Reply::Bulk(Bytes::copy_from_slice(
                queue.members.bytes(slot),
            )));
        }
        Reply::Array(admitted)
    })
}

/// ```text
/// QUEUE.TOUCH queue member [TTL ms]
/// ```
/// Restarts an active member's lifetime from now, with the given TTL or the
/// queue's (0 = no expiry): `["active", ttl_ms]`; `["none"]` if the member
/// is not active.
pub fn touch(
    state: &mut State,
    key: &[u8],
    member: &[u8],
    ttl_ms: Option<u64>,
    now_ms: u64,
) -> Reply {
    with_queue(state, key, now_ms, |queue, limits, recorder| {
        if let Some(ttl) = ttl_ms {
            if let Err(error) = check_ttl(ttl, limits) {
                return error.into();
            }
        }
        queue.expire_member_if_due(member, now_ms, recorder);
        let Some(slot) = queue.members.find(member) else {
            return queue.standing_reply(Standing::None, now_ms, false);
        };
        if queue.members.tag(slot) & ACTIVE_BIT == 0 {
            return queue.standing_reply(Standing::None, now_ms, false);
        }
        let ttl = ttl_ms.unwrap_or(queue.ttl_ms);
        let deadline = if ttl > 0 {
            now_ms.saturating_add(ttl)
        } else {
            0
        };
        queue.touch_slot(slot, deadline);
        recorder.record(|key| QueueEffect::Touch {
            key,
            member: Bytes::copy_from_slice(member),
            deadline_ms: (deadline != 0).then_some(deadline),
        });
        queue.standing_reply(queue.standing(member), now_ms, false)
    })
}

/// ```text
/// QUEUE.LEAVE queue member
/// ```
/// 1 if the member was waiting or active and is now gone, else 0. A freed
/// active slot is refilled at once when CAPACITY (and RATE) allow.
pub fn leave(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, recorder| {
        queue.expire_member_if_due(member, now_ms, recorder);
        let Some(slot) = queue.members.find(member) else {
            return Reply::Int(0);
        };
        queue.leave_slot(slot);
        recorder.record(|key| QueueEffect::Leave {
            key,
            member: Bytes::copy_from_slice(member),
        });
        queue.admit_ready(now_ms, INLINE_EFFECTS_MAX, recorder);
        Reply::Int(1)
    })
}

/// ```text
/// QUEUE.CLOSE queue
/// ```
/// Drops every waiting member and refuses later joins; active members stay
/// until they leave or expire. Replies how many were dropped.
pub fn close(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    let mut set_aside = None;
    let reply = with_queue(state, key, now_ms, |queue, _, recorder| {
        let (dropped, closed) = queue.close_line();
        set_aside = closed;
        recorder.record(|key| QueueEffect::Close { key });
        Reply::Int(dropped as i64)
    });
    if let Some(closed) = set_aside {
        let items = closed.items();
        state.keyspace.graveyard.bury(closed, items);
    }
    reply
}

/// ```text
/// QUEUE.DROP queue
/// ```
/// Deletes the queue and everyone in it: 1 if it existed, else 0.
pub fn drop_queue(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match state.keyspace.get_live(key, now_ms) {
        None => Reply::Int(0),
        Some(entry) if !matches!(entry.value, Value::Queue(_)) => ServerError::WRONG_TYPE.into(),
        Some(_) => {
            // Its timer entry, if any, is now stale and is dropped when due.
            state.keyspace.remove(key);
            Reply::Int(1)
        }
    }
}

/// ```text
/// QUEUE.INFO queue
/// ```
/// A map: waiting, active, admitted_total, expired_total, left_total,
/// joined_total, dropped_total, capacity (nil = none), rate and
/// rate_period_ms (nil = none), ttl_ms (0 = no expiry), closed.
pub fn info(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    with_queue(state, key, now_ms, |queue, _, _| {
        let field = |name: &'static str, value: Reply| (Reply::bulk_static(name.as_bytes()), value);
        let optional = |value: u64| {
            if value == 0 {
                Reply::Nil
            } else {
                Reply::Int(value as i64)
            }
        };
        Reply::Map(vec![
            field("waiting", Reply::Int(queue.line.waiting as i64)),
            field("active", Reply::Int(queue.active as i64)),
            field("admitted_total", Reply::Int(queue.admitted_total as i64)),
            field("expired_total", Reply::Int(queue.expired_total as i64)),
            field("left_total", Reply::Int(queue.left_total as i64)),
            field("joined_total", Reply::Int(queue.joined_total as i64)),
            field("dropped_total", Reply::Int(queue.dropped_total as i64)),
            field("capacity", optional(queue.capacity)),
            field("rate", optional(queue.rate_members)),
            field("rate_period_ms", optional(queue.rate_period_ms)),
            field("ttl_ms", Reply::Int(queue.ttl_ms as i64)),
            field("closed", Reply::Bool(queue.closed)),
        ])
    })
}

/// Applies a logged queue effect through the same
/// functions the command or timer used, then puts the queue back in the
/// timer index. A member that does not stand where the effect says is a
/// [`ReplayError`]: the log and the state disagree.
pub fn replay(state: &mut State, effect: &QueueEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        // Deleted before a snapshot reached it; its Delete follows.
        return Ok(());
    };
    let Value::Queue(queue) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "queue", &entry.value));
    };
    let mismatch = |what: &str, member: &[u8]| {
        Err(ReplayError::unfit(
            key,
            format!("{what}: member \"{}\"", member.escape_ascii()),
        ))
    };
    match effect {
        QueueEffect::Config { settings, .. } => {
            if settings.rate_members > 0 && settings.rate_period_ms == 0 {
                return Err(ReplayError::unfit(key, "queue rate without a period"));
            }
            queue.set_settings(*settings);
        }
        QueueEffect::Join { member, .. } => {
            if queue.closed {
                return mismatch("join to a closed queue", member);
            }
            if member.len() > QUEUE_MEMBER_BYTES_LIMIT || queue.members.find(member).is_some() {
                return mismatch("join of a member already present or too long", member);
            }
            queue.join_member(member);
        }
        QueueEffect::Admit {
            member,
            at_ms,
            deadline_ms,
            automatic,
            ..
        } => {
            let deadline = deadline_ms.unwrap_or(0);
            let front = queue.line.front();
            let Some((seq, slot)) =
                front.filter(|&(_, slot)| queue.members.bytes(slot) == &member[..])
            else {
                return mismatch("admission of a member not at the front of the line", member);
            };
            if deadline & ACTIVE_BIT != 0 {
                return mismatch("admission deadline out of range", member);
            }
            queue.admit_slot(seq, slot, *at_ms, deadline, *automatic);
        }
        QueueEffect::Expire { member, .. } => {
            let tag = queue
                .members
                .find(member)
                .map(|slot| (slot, queue.members.tag(slot)));
            match tag {
                Some((slot, tag)) if tag & ACTIVE_BIT != 0 && tag != ACTIVE_BIT => {
                    queue.expire_slot(tag & !ACTIVE_BIT, slot);
                }
                _ => return mismatch("expiry of a member without a deadline", member),
            }
        }
        QueueEffect::Leave { member, .. } => match queue.members.find(member) {
            Some(slot) => queue.leave_slot(slot),
            None => return mismatch("departure of a member not in the queue", member),
        },
        QueueEffect::Touch {
            member,
            deadline_ms,
            ..
        } => {
            let deadline = deadline_ms.unwrap_or(0);
            match queue.members.find(member) {
                Some(slot)
                    if queue.members.tag(slot) & ACTIVE_BIT != 0 && deadline & ACTIVE_BIT == 0 =>
                {
                    queue.touch_slot(slot, deadline);
                }
                _ => return mismatch("touch of a member that is not active", member),
            }
        }
        QueueEffect::Close { .. } => {
            // Recovery serves no client yet: what the close set aside is
            // freed here.
            let _ = queue.close_line();
        }
    }
    replayed(state, key);
    Ok(())
}
