//! [`State`]: every part of the data the server owns (the keyspace, the
//! hold and queue timer indexes, the `REQ` table), with the helpers every
//! family's commands share. `State::apply`, the dispatch to the families,
//! lives in [`super`], above them.

use usher_protocol::{ErrorCode, ServerError};

use super::holders::HoldIndex;
use super::idempotency::table::IdempotencyTable;
use super::keyspace::{Keyspace, Recorder};
use super::limits::StateLimits;
use super::queue::timers::QueueTimers;
use super::value::Value;

/// Most past-deadline keys one write into a full keyspace removes before it
/// is refused: enough to make room at once in practice, few enough that one
/// request never does unbounded work (the timer removes the rest).
pub const KEYS_REAPED_WHEN_FULL: usize = 64;

/// Counters reported by INFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateStats {
    pub commands_processed: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

#[derive(Debug)]
pub struct State {
    pub keyspace: Keyspace,
    /// Keys whose seat map or stock has a hold deadline, by deadline.
    pub holds: HoldIndex,
    /// Remembered `REQ` replies.
    pub idempotency: IdempotencyTable,
    /// Which queues have time-driven work, and when.
    pub queue_timers: QueueTimers,
    pub limits: StateLimits,
    pub stats: StateStats,
    /// Seeds the hash tables and tree priorities inside values, so clients
    /// cannot aim at a layout. Never visible in a reply.
    pub hash_seed: u64,
}

impl State {
    pub fn new(limits: StateLimits) -> State {
        State::with_seed(limits, 0x005e_ed0f_05e7)
    }

    /// A state whose hash layout (and so SCAN order) follows `hash_seed`.
    pub fn with_seed(limits: StateLimits, hash_seed: u64) -> State {
        State {
            keyspace: Keyspace::new(hash_seed),
            holds: HoldIndex::default(),
            idempotency: IdempotencyTable::default(),
            queue_timers: QueueTimers::default(),
            limits,
            stats: StateStats::default(),
            hash_seed: hash_seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// A new, empty state with the same limits.
    pub fn clone_empty(&self) -> State {
        State::new(self.limits)
    }

    /// Replaces whatever `destination` holds with `value` (its deadline
    /// dropped), or deletes it when there is no value (an empty result):
    /// the rule of the commands that store a result. OOM, and nothing
    /// changed, when `destination` would be a new key of a full keyspace.
    pub fn store_result(
        &mut self,
        destination: &[u8],
        value: Option<Value>,
        now_ms: u64,
    ) -> Result<(), ServerError> {
        let exists = self.keyspace.contains_live(destination, now_ms);
        match value {
            None if exists => {
                self.keyspace.remove(destination);
            }
            None => {}
            Some(value) => {
                if !exists {
                    self.room_for_key(now_ms)?;
                }
                self.keyspace.insert(destination, value, None);
            }
        }
        Ok(())
    }

    /// Whether one more key may be added. A full keyspace first drops keys
    /// whose deadline has passed but that the timer has not reached yet (up
    /// to [`KEYS_REAPED_WHEN_FULL`], each logged as an expiry), so that dead
    /// keys never make a write fail.
    pub(super) fn room_for_key(&mut self, now_ms: u64) -> Result<(), ServerError> {
        if self.keyspace.len() >= self.limits.keys_max {
            self.keyspace.expire_due(now_ms, KEYS_REAPED_WHEN_FULL);
        }
        if self.keyspace.len() >= self.limits.keys_max {
            Err(ServerError::new(
                ErrorCode::OutOfMemory,
                format!(
                    "OOM command not allowed: keys_max ({}) reached",
                    self.limits.keys_max
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Whether `count` more keys may be added at once (MSET): as
    /// [`State::room_for_key`], for all of them or none.
    pub(super) fn room_for_keys(&mut self, count: usize, now_ms: u64) -> Result<(), ServerError> {
        if count == 0 {
            return Ok(());
        }
        let fits =
            |state: &State| state.keyspace.len().saturating_add(count) <= state.limits.keys_max;
        if !fits(self) {
            self.keyspace.expire_due(now_ms, KEYS_REAPED_WHEN_FULL);
        }
        if fits(self) {
            Ok(())
        } else {
            Err(ServerError::new(
                ErrorCode::OutOfMemory,
                format!(
                    "OOM command not allowed: keys_max ({}) reached",
                    self.limits.keys_max
                ),
            ))
        }
    }

    /// Registers the value at `key`, if it has hold deadlines, in the hold
    /// index: for values that replay or a snapshot load put in place whole
    /// (a decoded or cloned value is not registered anywhere yet).
    pub fn register_holds(&mut self, key: &[u8]) {
        let Some((stored, entry)) = self.keyspace.get_with_key_mut(key) else {
            return;
        };
        match &mut entry.value {
            Value::Seats(map) => {
                let next = map.next_deadline();
                map.indexed_ms = None;
                self.holds.sync(stored, &mut map.indexed_ms, next);
            }
            Value::Stock(stock) => {
                let next = stock.next_deadline();
                stock.indexed_ms = None;
                self.holds.sync(stored, &mut stock.indexed_ms, next);
            }
            _ => {}
        }
    }
}

/// Picks a family's type out of a value: the value when it is of that
/// type, `None` for any other.
pub type Project<T> = for<'v> fn(&'v mut Value) -> Option<&'v mut T>;

impl State {
    /// The value of one family's type at `key` (`project` picks it out):
    /// `None` if the key is missing, WRONGTYPE if it holds another type.
    /// With `count`, a read command's keyspace hit or miss is counted.
    pub fn typed<'a, T: ?Sized>(
        &'a mut self,
        key: &[u8],
        now_ms: u64,
        project: Project<T>,
        count: bool,
    ) -> Result<Option<&'a mut T>, ServerError> {
        let stats = &mut self.stats;
        let Some(entry) = self.keyspace.get_live(key, now_ms) else {
            stats.keyspace_misses += u64::from(count);
            return Ok(None);
        };
        stats.keyspace_hits += u64::from(count);
        project(&mut entry.value)
            .map(Some)
            .ok_or(ServerError::WRONG_TYPE)
    }

    /// Like [`State::typed`] for commands that change the value, with the
    /// recorder for their effects.
    pub fn typed_write<'a, T: ?Sized>(
        &'a mut self,
        key: &[u8],
        now_ms: u64,
        project: Project<T>,
    ) -> Result<Option<(&'a mut T, Recorder<'a>)>, ServerError> {
        let Some((entry, recorder)) = self.keyspace.get_live_recorded(key, now_ms) else {
            return Ok(None);
        };
        match project(&mut entry.value) {
            Some(value) => Ok(Some((value, recorder))),
            None => Err(ServerError::WRONG_TYPE),
        }
    }
}

/// Resolves Redis indexes (negative ones count from the end) to `[first,
/// end)` of a sequence of `len`, empty when out of range: the rule of
/// LRANGE, LTRIM, ZRANGE and ZREMRANGEBYRANK.
pub fn index_window(len: usize, start: i64, stop: i64) -> (usize, usize) {
    let len_i = len as i64;
    let start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len_i + stop
    } else {
        stop.min(len_i - 1)
    };
    if start > stop || start >= len_i {
        (0, 0)
    } else {
        (start as usize, stop as usize + 1)
    }
}
