//! `State`: all data the server owns, and `State::apply`, the one entry
//! point that changes it.
//!
//! `apply` is synchronous and deterministic: it reads no clock (time comes in
//! as `now_ms`), does no I/O and logs nothing, so the same requests at the
//! same times always give the same replies and the same state. That is what
//! lets tests drive it with a manual clock and a seeded simulator replay it.
//! Only the engine thread owns a `State`.
//!
//! Families live in their own files: [`keyspace`] (storage and expiry),
//! [`keys`] (generic key commands), [`strings`] (strings and counters).

pub mod effect;
pub mod keys;
pub mod keyspace;
pub mod strings;

use usher_protocol::{ErrorCode, Reply, Request, ServerError};

pub use effect::Effect;
pub use keyspace::{Entry, Keyspace, Value};

/// Limits that `State` enforces itself (the rest are enforced before a
/// request reaches the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Most keys the keyspace may hold; writes that would add a key beyond it
    /// get an `OOM` error.
    pub keys_max: usize,
    /// Most entries one SCAN call visits, whatever COUNT says.
    pub scan_count_max: usize,
}

impl Default for StateLimits {
    fn default() -> StateLimits {
        StateLimits {
            keys_max: 50_000_000,
            scan_count_max: 100_000,
        }
    }
}

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
    pub limits: StateLimits,
    pub stats: StateStats,
}

impl State {
    pub fn new(limits: StateLimits) -> State {
        State::with_seed(limits, 0x005e_ed0f_05e7)
    }

    /// A state whose hash layout (and so SCAN order) follows `hash_seed`.
    pub fn with_seed(limits: StateLimits, hash_seed: u64) -> State {
        State {
            keyspace: Keyspace::new(hash_seed),
            limits,
            stats: StateStats::default(),
        }
    }

    /// A new, empty state with the same limits.
    pub fn clone_empty(&self) -> State {
        State::new(self.limits)
    }

    /// Applies one request at time `now_ms` (Unix milliseconds) and returns
    /// its reply. Connection-level requests never reach here; if one does it
    /// is answered with an error and changes nothing.
    pub fn apply(&mut self, request: &Request, now_ms: u64) -> Reply {
        self.stats.commands_processed += 1;
        match request {
            Request::Get(key) => strings::get(self, key, now_ms),
            Request::Set {
                key,
                value,
                condition,
                get,
                expiry,
            } => strings::set(self, key, value, *condition, *get, *expiry, now_ms),
            Request::IncrBy { key, delta } => strings::incr_by(self, key, *delta, now_ms),
            Request::IncrBound {
                key,
                delta,
                min,
                max,
            } => strings::incr_bound(self, key, *delta, *min, *max, now_ms),
            Request::Del(keys_) => keys::del(self, keys_, now_ms),
            Request::Exists(keys_) => keys::exists(self, keys_, now_ms),
            Request::Type(key) => keys::type_of(self, key, now_ms),
            Request::Expire {
                key,
                deadline,
                condition,
            } => keys::expire(self, key, *deadline, *condition, now_ms),
            Request::Ttl(key) => keys::ttl(self, key, now_ms, 1000),
            Request::Pttl(key) => keys::ttl(self, key, now_ms, 1),
            Request::Persist(key) => keys::persist(self, key, now_ms),
            Request::Scan {
                cursor,
                pattern,
                count,
                type_name,
            } => keys::scan(
                self,
                *cursor,
                pattern.as_deref(),
                *count,
                type_name.as_deref(),
                now_ms,
            ),
            Request::DbSize => Reply::Int(self.keyspace.len() as i64),
            Request::FlushAll => {
                self.keyspace.clear();
                Reply::OK
            }
            Request::Ping(_)
            | Request::Echo(_)
            | Request::Time
            | Request::Hello { .. }
            | Request::Select(_)
            | Request::Client(_)
            | Request::Command(_)
            | Request::ConfigGet(_)
            | Request::Quit
            | Request::Info(_)
            | Request::Snapshot => Reply::Error(ServerError::generic(
                "ERR this command is answered by the connection or engine, not the state",
            )),
        }
    }

    /// Whether one more key may be added.
    fn room_for_key(&self) -> Result<(), ServerError> {
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

    /// The earliest time at which a timer has work to do.
    pub fn next_timer_ms(&self) -> Option<u64> {
        self.keyspace.next_deadline()
    }

    /// Runs due timers (key expiry) at `now_ms`, at most `max_items` of them.
    /// Returns how many were processed; the engine calls again while the
    /// answer equals `max_items` and its time budget lasts.
    pub fn run_timers(&mut self, now_ms: u64, max_items: usize) -> usize {
        self.keyspace.expire_due(now_ms, max_items)
    }

    /// Asserts every internal invariant; for tests and simulations.
    pub fn check_invariants(&self) {
        self.keyspace.check_invariants();
    }
}
