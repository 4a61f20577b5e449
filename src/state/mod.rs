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
//! [`keys`] (generic key commands), [`strings`] (strings and counters),
//! [`zset`] (sorted sets), [`queue`] (waiting rooms and their timers).

pub mod effect;
pub mod keys;
pub mod keyspace;
pub mod queue;
pub mod strings;
pub mod zset;

use usher_protocol::{ErrorCode, Reply, Request, ServerError};

pub use effect::Effect;
pub use keyspace::{Entry, Keyspace, Value};
pub use queue::{Queue, QueueSettings, QueueTimers};
pub use zset::Zset;

/// Limits that `State` enforces itself (the rest are enforced before a
/// request reaches the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Most keys the keyspace may hold; writes that would add a key beyond it
    /// get an `OOM` error.
    pub keys_max: usize,
    /// Most entries one SCAN call visits, whatever COUNT says.
    pub scan_count_max: usize,
    /// Longest sorted-set or queue member in bytes.
    pub member_bytes_max: usize,
    /// Most members in one sorted set.
    pub zset_members_max: usize,
    /// Most members (waiting + active) in one queue.
    pub queue_members_max: usize,
    /// Longest admission lifetime a queue may give, in ms.
    pub queue_ttl_ms_max: u64,
    /// Longest RATE period in ms.
    pub queue_rate_period_ms_max: u64,
    /// Most members one range, pop or QUEUE.ADMIT reply may hold.
    pub reply_items_max: usize,
}

impl Default for StateLimits {
    fn default() -> StateLimits {
        StateLimits {
            keys_max: 50_000_000,
            scan_count_max: 100_000,
            member_bytes_max: 1024,
            zset_members_max: 50_000_000,
            queue_members_max: 50_000_000,
            queue_ttl_ms_max: 30 * 24 * 3_600_000,
            queue_rate_period_ms_max: 24 * 3_600_000,
            reply_items_max: 1_000_000,
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
                self.queue_timers.clear();
                Reply::OK
            }
            Request::ZAdd { key, flags, pairs } => zset::zadd(self, key, *flags, pairs, now_ms),
            Request::ZIncrBy { key, delta, member } => {
                zset::zincrby(self, key, *delta, member, now_ms)
            }
            Request::ZRem { key, members } => zset::zrem(self, key, members, now_ms),
            Request::ZScore { key, member } => zset::zscore(self, key, member, now_ms),
            Request::ZCard(key) => zset::zcard(self, key, now_ms),
            Request::ZCount { key, min, max } => zset::zcount(self, key, *min, *max, now_ms),
            Request::ZRank {
                key,
                member,
                reverse,
                with_score,
            } => zset::zrank(self, key, member, *reverse, *with_score, now_ms),
            Request::ZRange {
                key,
                by,
                reverse,
                limit,
                with_scores,
            } => zset::zrange(self, key, *by, *reverse, *limit, *with_scores, now_ms),
            Request::ZPop { key, max, count } => zset::zpop(self, key, *max, *count, now_ms),
            Request::ZRemRangeByScore { key, min, max } => {
                zset::zremrangebyscore(self, key, *min, *max, now_ms)
            }
            Request::ZRemRangeByRank { key, start, stop } => {
                zset::zremrangebyrank(self, key, *start, *stop, now_ms)
            }
            Request::QueueConfig {
                key,
                capacity,
                rate,
                ttl_ms,
            } => queue::config(self, key, *capacity, *rate, *ttl_ms, now_ms),
            Request::QueueJoin { key, member } => queue::join(self, key, member, now_ms),
            Request::QueuePos { key, member } => queue::pos(self, key, member, now_ms),
            Request::QueueAdmit { key, count } => queue::admit(self, key, *count, now_ms),
            Request::QueueTouch {
                key,
                member,
                ttl_ms,
            } => queue::touch(self, key, member, *ttl_ms, now_ms),
            Request::QueueLeave { key, member } => queue::leave(self, key, member, now_ms),
            Request::QueueClose(key) => queue::close(self, key, now_ms),
            Request::QueueDrop(key) => queue::drop_queue(self, key, now_ms),
            Request::QueueInfo(key) => queue::info(self, key, now_ms),
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
        match (self.keyspace.next_deadline(), self.queue_timers.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers at `now_ms` (key expiry, then queue expiry and
    /// admission), at most `max_items` of them. Returns how many were
    /// processed; the engine calls again while the answer equals
    /// `max_items` and its time budget lasts.
    pub fn run_timers(&mut self, now_ms: u64, max_items: usize) -> usize {
        let expired = self.keyspace.expire_due(now_ms, max_items);
        expired + queue::run_timers(self, now_ms, max_items - expired)
    }

    /// Rebuilds the queue timer index from the queues in the keyspace, each
    /// due at once if it could admit (the first tick finds the real time);
    /// recovery calls it after loading a snapshot and replaying the log.
    pub fn rebuild_timers(&mut self) {
        queue::rebuild_timers(self);
    }

    /// Asserts every internal invariant; for tests and simulations.
    pub fn check_invariants(&self) {
        self.keyspace.check_invariants();
        for (_, entry) in self.keyspace.iter() {
            match &entry.value {
                Value::Zset(zset) => zset.check_invariants(),
                Value::Queue(queue) => queue.check_invariants(),
                Value::Str(_) | Value::Int(_) => {}
            }
        }
    }
}
