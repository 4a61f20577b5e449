//! The SEAT.* commands, and the replay of seat effects through the same
//! `apply_*` functions of [`SeatMap`].

use bytes::Bytes;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::SeatEffect;
use super::map::*;
use crate::state::effect::ReplayError;
use crate::state::holders::HOLDER_ID_BYTES_MAX;
use crate::state::holding::{with_holds, HoldValue};
use crate::state::keyspace::Recorder;
use crate::state::limits::StateLimits;
use crate::state::store::State;
use crate::state::value::Value;

fn no_such_event() -> ServerError {
    ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such event")
}

/// Checks a holder id against `holder_bytes_max`.
pub fn check_holder(limits: &StateLimits, holder: &[u8]) -> Result<(), ServerError> {
    let max = limits.holder_bytes_max.min(HOLDER_ID_BYTES_MAX);
    if holder.is_empty() {
        return Err(ServerError::out_of_range("ERR holder id must not be empty"));
    }
    if holder.len() > max {
        return Err(ServerError::limit(
            "holder id length in bytes (holder_bytes_max)",
            max as u64,
        ));
    }
    Ok(())
}

/// The absolute deadline `ttl_ms` from now, within `hold_ttl_ms_max`.
pub fn hold_deadline(
    limits: &StateLimits,
    ttl_ms: u64,
    now_ms: u64,
    command: &str,
) -> Result<u64, ServerError> {
    if ttl_ms > limits.hold_ttl_ms_max {
        return Err(ServerError::limit(
            "hold time to live in ms (hold_ttl_ms_max)",
            limits.hold_ttl_ms_max,
        ));
    }
    now_ms
        .checked_add(ttl_ms)
        .filter(|deadline| *deadline >= 1)
        .ok_or_else(|| ServerError::invalid_expire(command))
}

/// Runs `op` on the seat map at `key` after releasing its due holds.
fn with_map(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    op: impl FnOnce(&mut SeatMap, &mut Recorder<'_>) -> Reply,
) -> Reply {
    with_holds(state, key, now_ms, no_such_event(), op)
}

impl HoldValue for SeatMap {
    fn of(value: &mut Value) -> Option<&mut SeatMap> {
        match value {
            Value::Seats(inner) => Some(inner),
            _ => None,
        }
    }

    fn expire_due(&mut self, now_ms: u64, budget: usize, log: &mut Recorder<'_>) -> usize {
        SeatMap::expire_due(self, now_ms, budget, log)
    }

    fn next_deadline(&self) -> Option<u64> {
        SeatMap::next_deadline(self)
    }

    fn indexed_ms(&mut self) -> &mut Option<u64> {
        &mut self.indexed_ms
    }
}

/// ```text
/// SEAT.CREATE event count [LIMIT k]
/// ```
/// Creates seats `0..count-1`, all free; `k` (default 3) is the most seats
/// one holder may hold and buy together. OK; `BUSYKEY` if the event exists.
pub fn create(state: &mut State, key: &[u8], count: u64, limit: Option<u64>, now_ms: u64) -> Reply {
    let max = state.limits.seats_per_event_max;
    let count = match u32::try_from(count) {
        Ok(count) if u64::from(count) <= max && count < SOLD => count,
        _ => return Reply::Error(ServerError::limit("seat count (seats_per_event_max)", max)),
    };
    if let Some(entry) = state.keyspace.get_live(key, now_ms) {
        return Reply::Error(match entry.value {
            Value::Seats(_) => {
                ServerError::new_static(ErrorCode::KeyExists, "BUSYKEY event already exists")
            }
            _ => ServerError::WRONG_TYPE,
        });
    }
    if let Err(error) = state.room_for_key(now_ms) {
        return Reply::Error(error);
    }
    let map = SeatMap::new(count, limit.unwrap_or(DEFAULT_LIMIT));
    state
        .keyspace
        .insert(key, Value::Seats(Box::new(map)), None);
    Reply::OK
}

/// ```text
/// SEAT.HOLD event holder ttl_ms seat [seat ...]
/// ```
/// All or nothing. `["held", ttl_ms, [every seat the holder now holds]]`;
/// the holder's holds share one deadline, reset to now + `ttl_ms` by each
/// successful HOLD. `["taken", [seats]]` if any named seat is held or sold
/// by someone else; otherwise `["limit", held_and_bought]` if the new seats
/// would take the holder past the limit; in both cases nothing changes.
/// Seats the holder already holds or bought are neither conflicts nor new.
/// Seat lists are ascending. A seat beyond the event is an error.
pub fn hold(
    state: &mut State,
    key: &[u8],
    holder: &Bytes,
    ttl_ms: u64,
    seats: &[u32],
    now_ms: u64,
) -> Reply {
    let limits = state.limits;
    let deadline = match check_holder(&limits, holder)
        .and_then(|()| hold_deadline(&limits, ttl_ms, now_ms, "seat.hold"))
    {
        Ok(deadline) => deadline,
        Err(error) => return Reply::Error(error),
    };
    with_map(state, key, now_ms, |map, log| {
        map.hold(log, holder, ttl_ms, deadline, seats)
    })
}

/// ```text
/// SEAT.CONFIRM event holder
/// ```
/// Sells every seat the holder holds: `["sold", [those seats]]`. A
/// `NOTHELD` error if it holds none (the hold expired: payment came too
/// late, or it was released).
pub fn confirm(state: &mut State, key: &[u8], holder: &Bytes, now_ms: u64) -> Reply {
    with_map(state, key, now_ms, |map, log| map.confirm(log, holder))
}

/// ```text
/// SEAT.RELEASE event holder [seat ...]
/// ```
/// How many held seats were released: the named ones the holder holds, or
/// all it holds when none are named. Sold seats are never released.
pub fn release(state: &mut State, key: &[u8], holder: &Bytes, seats: &[u32], now_ms: u64) -> Reply {
    with_map(state, key, now_ms, |map, log| {
        map.release(log, holder, seats)
    })
}

/// ```text
/// SEAT.STATUS event from count
/// ```
/// One integer per seat from `from` (at most `count`, and at most
/// `seat_status_count_max`): 0 free, 1 held, 2 sold. Seats past the end are
/// left out.
pub fn status(state: &mut State, key: &[u8], from: u64, count: u64, now_ms: u64) -> Reply {
    let max = state.limits.seat_status_count_max;
    if count > max {
        return Reply::Error(ServerError::limit(
            "SEAT.STATUS count (seat_status_count_max)",
            max,
        ));
    }
    with_map(state, key, now_ms, |map, _| map.status(from, count))
}

/// ```text
/// SEAT.HOLDER event holder
/// ```
/// `["held", ttl_ms, [seats held]]` while the holder holds seats (whether
/// or not it also bought some), else `["sold", [seats bought]]`, else
/// `["none"]`.
pub fn holder(state: &mut State, key: &[u8], holder: &[u8], now_ms: u64) -> Reply {
    with_map(state, key, now_ms, |map, _| map.holder(holder, now_ms))
}

/// ```text
/// SEAT.INFO event
/// ```
/// A map: `total`, `free`, `held`, `sold`, `limit`, `holders`.
pub fn info(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    with_map(state, key, now_ms, |map, _| map.info())
}

/// Applies a logged seat effect (see [`State::replay`]). A key that is
/// missing is skipped (a snapshot did not capture it because it was
/// deleted, and the deletion follows in the log); an effect that does not
/// fit the map is an error, checked before anything changes.
pub fn replay(state: &mut State, effect: &SeatEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let Value::Seats(map) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "seats", &entry.value));
    };
    let fail = |what: String| Err(ReplayError::unfit(key, what));
    match effect {
        SeatEffect::Hold {
            holder,
            deadline_ms,
            seats,
            ..
        } => {
            let slot = map.holders.find(holder);
            let owned = slot.map_or(0, |slot| map.owned(slot));
            let mut distinct = seats.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let all_free = seats
                .iter()
                .all(|&seat| map.seats.get(seat as usize) == Some(&0));
            if holder.is_empty()
                || holder.len() > HOLDER_ID_BYTES_MAX
                || *deadline_ms == 0
                || distinct.len() != seats.len()
                || !all_free
                || owned + seats.len() as u64 > map.limit
                || (slot.is_none() && seats.is_empty())
            {
                return fail(format!("hold of {seats:?} for {holder:?} does not fit"));
            }
            map.apply_hold(holder, slot, *deadline_ms, seats);
        }
        SeatEffect::Release { holder, seats, .. } => {
            let Some(slot) = map.holders.find(holder) else {
                return fail(format!("{holder:?} holds no seats"));
            };
            let mut distinct = seats.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let all_held = seats.iter().all(|&seat| {
                map.seats
                    .get(seat as usize)
                    .is_some_and(|&word| decode(word) == Seat::Held(slot))
            });
            if seats.is_empty() || distinct.len() != seats.len() || !all_held {
                return fail(format!("{holder:?} does not hold {seats:?}"));
            }
            map.apply_release(slot, seats);
        }
        SeatEffect::Confirm { holder, .. } | SeatEffect::HoldExpired { holder, .. } => {
            let Some(slot) = map
                .holders
                .find(holder)
                .filter(|&slot| map.counts(slot).held > 0)
            else {
                return fail(format!("{holder:?} holds no seats"));
            };
            if matches!(effect, SeatEffect::Confirm { .. }) {
                map.apply_confirm(slot);
            } else {
                map.apply_expired_hold(slot);
            }
        }
    }
    let next = map.next_deadline();
    state.holds.sync(key, &mut map.indexed_ms, next);
    Ok(())
}
