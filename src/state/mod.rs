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
//! [`key`] (key names, short ones in place),
//! [`keys`] (generic key commands), [`strings`] (strings and counters),
//! [`zset`] (sorted sets), [`queue`] (waiting rooms and their timers),
//! [`seats`] (seat maps), [`stock`] (stock), [`holders`] (holder tables and
//! the index of keys with hold deadlines), [`idempotency`] (`REQ`),
//! [`blocking`] (blocking commands' attempts that never wait).

pub mod blocking;
pub mod effect;
pub mod graveyard;
pub mod holders;
pub mod idempotency;
pub mod key;
pub mod keymap;
pub mod keys;
pub mod keyspace;
pub mod queue;
pub mod seats;
pub mod stock;
pub mod strings;
pub mod tagindex;
pub mod zset;

use usher_protocol::{ErrorCode, Reply, Request, ServerError};

pub use effect::Effect;
pub use holders::HoldIndex;
pub use idempotency::IdempotencyTable;
pub use key::Key;
pub use keyspace::{Entry, Keyspace, Value};
pub use queue::{Queue, QueueSettings, QueueTimers};
pub use zset::Zset;

/// Most past-deadline keys one write into a full keyspace removes before it
/// is refused: enough to make room at once in practice, few enough that one
/// request never does unbounded work (the timer removes the rest).
pub const KEYS_REAPED_WHEN_FULL: usize = 64;

/// Most keys of one request [`State::prefetch`] warms.
const PREFETCH_KEYS_MAX: usize = 4;

/// Limits that `State` enforces itself (the rest are enforced before a
/// request reaches the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Most keys the keyspace may hold; writes that would add a key beyond it
    /// get an `OOM` error.
    pub keys_max: usize,
    /// Most entries one SCAN call visits, whatever COUNT says.
    pub scan_count_max: usize,
    /// Longest seat hold or stock reservation, in milliseconds.
    pub hold_ttl_ms_max: u64,
    /// Most seats in one event (at most 2³¹ − 1).
    pub seats_per_event_max: u64,
    /// Most holders one SKU may have at once (an event's are bounded by its
    /// seats).
    pub holders_per_key_max: usize,
    /// Longest holder id in bytes (at most 255).
    pub holder_bytes_max: usize,
    /// Most seats one SEAT.STATUS call reports.
    pub seat_status_count_max: u64,
    /// How long a `REQ` reply is remembered, in milliseconds.
    pub idempotency_window_ms: u64,
    /// Most remembered `REQ` replies.
    pub idempotency_entries_max: usize,
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
            hold_ttl_ms_max: 86_400_000,
            seats_per_event_max: 10_000_000,
            holders_per_key_max: 10_000_000,
            holder_bytes_max: 128,
            seat_status_count_max: 100_000,
            idempotency_window_ms: 600_000,
            idempotency_entries_max: 1_000_000,
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

    /// Warms the cache for the keys `request` will look up, in two steps
    /// (`entries` false, then true; see [`keymap`]): called for every
    /// request of a pipeline, step by step, before the first is applied, it
    /// lets their cache misses overlap. Changes nothing (a hint, not a read
    /// of the state's values), so it is safe for requests that then fail or
    /// are never applied.
    #[inline]
    pub fn prefetch(&self, request: &Request, entries: bool) {
        // A multi-key request's first keys are enough to matter; a DEL of
        // thousands of keys is not worth a second pass.
        for key in request.keys().iter().take(PREFETCH_KEYS_MAX) {
            if entries {
                self.keyspace.prefetch_entry(key);
            } else {
                self.keyspace.prefetch_slot(key);
            }
        }
        // A hold also reads random seats of its map and the holder table, and
        // a queue step its member index. Reading the map's or queue's entry
        // here waits for it if it is cold, but in a sale that entry is the
        // hottest line there is.
        if !entries {
            return;
        }
        let value = |key: &[u8]| self.keyspace.peek(key).map(|entry| &entry.value);
        match request {
            Request::SeatHold {
                key, holder, seats, ..
            } => {
                if let Some(Value::Seats(map)) = value(key) {
                    map.prefetch(holder, seats);
                }
            }
            // A sorted set's member index is as large as the set.
            Request::ZAdd { key, pairs, .. } => {
                if let Some(Value::Zset(zset)) = value(key) {
                    for (_, member) in pairs.iter().take(PREFETCH_KEYS_MAX) {
                        zset.prefetch(member);
                    }
                }
            }
            Request::ZScore { key, member } | Request::ZRank { key, member, .. } => {
                if let Some(Value::Zset(zset)) = value(key) {
                    zset.prefetch(member);
                }
            }
            // A waiting room's member index is as large as its crowd.
            Request::QueueJoin { key, member } | Request::QueuePos { key, member } => {
                if let Some(Value::Queue(queue)) = value(key) {
                    queue.prefetch(member);
                }
            }
            _ => {}
        }
    }

    /// Applies one request at time `now_ms` (Unix milliseconds) and returns
    /// its reply. Connection-level requests never reach here; if one does it
    /// is answered with an error and changes nothing.
    pub fn apply(&mut self, request: &Request, now_ms: u64) -> Reply {
        self.stats.commands_processed += 1;
        self.execute(request, now_ms)
    }

    /// `apply` without counting the command (REQ runs its command here, so
    /// that one request counts once).
    fn execute(&mut self, request: &Request, now_ms: u64) -> Reply {
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
                // Everything goes, remembered REQ replies included: a retry
                // after FLUSHALL runs again.
                self.keyspace.clear();
                self.holds.clear();
                self.idempotency.clear();
                self.queue_timers.clear();
                Reply::OK
            }
            Request::SeatCreate { key, count, limit } => {
                seats::create(self, key, *count, *limit, now_ms)
            }
            Request::SeatHold {
                key,
                holder,
                ttl_ms,
                seats: wanted,
            } => seats::hold(self, key, holder, *ttl_ms, wanted, now_ms),
            Request::SeatConfirm { key, holder } => seats::confirm(self, key, holder, now_ms),
            Request::SeatRelease {
                key,
                holder,
                seats: named,
            } => seats::release(self, key, holder, named, now_ms),
            Request::SeatStatus { key, from, count } => {
                seats::status(self, key, *from, *count, now_ms)
            }
            Request::SeatHolder { key, holder } => seats::holder(self, key, holder, now_ms),
            Request::SeatInfo(key) => seats::info(self, key, now_ms),
            Request::StockConfig { key, total, limit } => {
                stock::config(self, key, *total, *limit, now_ms)
            }
            Request::StockReserve {
                key,
                holder,
                quantity,
                ttl_ms,
            } => stock::reserve(self, key, holder, *quantity, *ttl_ms, now_ms),
            Request::StockConfirm { key, holder } => stock::confirm(self, key, holder, now_ms),
            Request::StockRelease { key, holder } => stock::release(self, key, holder, now_ms),
            Request::StockTake {
                key,
                holder,
                quantity,
            } => stock::take(self, key, holder, *quantity, now_ms),
            Request::StockRefund {
                key,
                holder,
                quantity,
            } => stock::refund(self, key, holder, *quantity, now_ms),
            Request::StockInfo(key) => stock::info(self, key, now_ms),
            Request::Req {
                id,
                fingerprint,
                command,
            } => idempotency::req(self, id, *fingerprint, command, now_ms),
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
            Request::BzPop { keys, max, .. } => {
                blocking::bzpop(self, keys, *max, now_ms).unwrap_or(Reply::NilArray)
            }
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

    /// Whether one more key may be added. A full keyspace first drops keys
    /// whose deadline has passed but that the timer has not reached yet (up
    /// to [`KEYS_REAPED_WHEN_FULL`], each logged as an expiry), so that dead
    /// keys never make a write fail.
    fn room_for_key(&mut self, now_ms: u64) -> Result<(), ServerError> {
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

    /// The earliest time at which a timer has work to do (or a wake-up that
    /// finds none, for a key deleted or overwritten while it had holds).
    pub fn next_timer_ms(&self) -> Option<u64> {
        [
            self.keyspace.next_deadline(),
            self.queue_timers.next_due(),
            self.holds.first(),
            self.idempotency.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs due timers at `now_ms`, at most `max_items` of them: key expiry,
    /// queue expiry and admission, then seat holds and stock reservations
    /// (each released holder is an item, and so is each look at a key in the
    /// hold index), then remembered `REQ` replies. Returns how many were
    /// processed; the engine calls again while the answer equals
    /// `max_items` and its time budget lasts.
    pub fn run_timers(&mut self, now_ms: u64, max_items: usize) -> usize {
        let mut done = self.keyspace.expire_due(now_ms, max_items);
        done += queue::run_timers(self, now_ms, max_items - done);
        done += self.release_due_holds(now_ms, max_items - done);
        if done < max_items {
            let mut log = self.keyspace.recorder();
            done += self
                .idempotency
                .expire_due(now_ms, max_items - done, &mut log);
        }
        done
    }

    /// Releases due seat holds and stock reservations, at most `max_items`.
    fn release_due_holds(&mut self, now_ms: u64, max_items: usize) -> usize {
        let mut done = 0;
        while done < max_items {
            let Some((deadline, key)) = self.holds.pop_due(now_ms) else {
                break;
            };
            done += 1;
            // The key may have been deleted, expired or overwritten since it
            // was registered; then there is nothing to release.
            let Some((entry, mut log)) = self.keyspace.get_live_recorded(&key, now_ms) else {
                continue;
            };
            let budget = max_items - done;
            match &mut entry.value {
                Value::Seats(map) => {
                    if map.indexed_ms == Some(deadline) {
                        map.indexed_ms = None;
                    }
                    let released = map.expire_due(now_ms, budget, &mut log);
                    done += released;
                    let next = map.next_deadline();
                    assert!(
                        released == budget || next.is_none_or(|due| due > now_ms),
                        "a due hold was left behind within budget"
                    );
                    self.holds.sync(log.key(), &mut map.indexed_ms, next);
                }
                Value::Stock(stock) => {
                    if stock.indexed_ms == Some(deadline) {
                        stock.indexed_ms = None;
                    }
                    let released = stock.expire_due(now_ms, budget, &mut log);
                    done += released;
                    let next = stock.next_deadline();
                    assert!(
                        released == budget || next.is_none_or(|due| due > now_ms),
                        "a due hold was left behind within budget"
                    );
                    self.holds.sync(log.key(), &mut stock.indexed_ms, next);
                }
                _ => {}
            }
        }
        done
    }

    /// Rebuilds the timer indexes from the values in the keyspace: queues,
    /// each due at once if it could admit (the first tick finds the real
    /// time), and seat maps and stock under their earliest hold deadline.
    /// Recovery calls it after loading a snapshot and replaying the log.
    pub fn rebuild_timers(&mut self) {
        queue::rebuild_timers(self);
        self.holds.clear();
        let keys: Vec<Key> = self
            .keyspace
            .iter()
            .filter(|(_, entry)| matches!(entry.value, Value::Seats(_) | Value::Stock(_)))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.register_holds(&key);
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

    /// Asserts every internal invariant; for tests and simulations. Costs
    /// O(everything).
    pub fn check_invariants(&self) {
        self.keyspace.check_invariants();
        self.idempotency.check_invariants();
        for (key, entry) in self.keyspace.iter() {
            let (registered, next) = match &entry.value {
                Value::Seats(map) => {
                    map.check_invariants();
                    (map.indexed_ms, map.next_deadline())
                }
                Value::Stock(stock) => {
                    stock.check_invariants();
                    (stock.indexed_ms, stock.next_deadline())
                }
                Value::Zset(zset) => {
                    zset.check_invariants();
                    continue;
                }
                Value::Queue(queue) => {
                    queue.check_invariants();
                    continue;
                }
                Value::Str(_) | Value::Short(_) | Value::Int(_) => continue,
            };
            // Between requests a value is registered under its own earliest
            // deadline, so the timer cannot miss it.
            assert_eq!(registered, next, "hold index registration out of date");
            if let Some(deadline) = registered {
                assert!(
                    self.holds.contains(deadline, key),
                    "hold index misses a key with a hold deadline"
                );
            }
        }
    }
}
