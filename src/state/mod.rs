//! `State`: all data the server owns, and `State::apply`, the one entry
//! point that changes it.
//!
//! `apply` is synchronous and deterministic: it reads no clock (time comes in
//! as `now_ms`), does no I/O and logs nothing, so the same requests at the
//! same times always give the same replies and the same state. That is what
//! lets tests drive it with a manual clock and a seeded simulator replay it.
//! Only the engine thread owns a `State`.
//!
//! Layers, each file using only the ones above it in this list:
//! - [`crate::encoding`]: byte primitives;
//! - [`key`] (key names, short ones in place), [`keymap`], [`tagindex`],
//!   [`graveyard`], [`limits`], [`record`] (the [`record::Log`] trait
//!   structures record their effects through);
//! - each family's effects (`*/effects.rs`, [`key_effects`]), then its
//!   structure (`zset/set.rs`, `hash/fields.rs`, `set/packed.rs`, `queue/{members,room,timers}.rs`,
//!   `seats/map.rs`, `stock/sku.rs`, `list/deque.rs`, [`holders`], `idempotency/table.rs`);
//! - [`value`] (what a key holds, and the value encoding);
//! - [`effect`] (the `Effect` enum, its grammar, tag table and dispatch);
//! - [`keyspace`] (storage and expiry; records effects);
//! - [`store`] (the `State` struct);
//! - each family's commands and replay (`*/commands.rs`, [`keys`],
//!   [`strings`], [`holding`], [`blocking`] (blocking commands'
//!   attempts, which never wait));
//! - this file: `apply`, `replay` and the timers, dispatching to families.
//!
//! Families: [`keys`] (generic key commands), [`strings`] (strings and
//! counters), [`zset`] (sorted sets), [`hash`] (hashes), [`queue`] (waiting rooms and their
//! timers), [`list`] (lists), [`seats`] (seat maps), [`stock`] (stock), [`set`] (sets), [`holders`] (holder
//! tables and the index of keys with hold deadlines), [`idempotency`]
//! (`REQ`).

pub mod blocking;
pub mod effect;
pub mod graveyard;
pub mod hash;
pub mod holders;
pub mod holding;
pub mod idempotency;
pub mod key;
pub mod key_effects;
pub mod keymap;
pub mod keys;
pub mod keyspace;
pub mod limits;
pub mod list;
pub mod queue;
pub mod record;
pub mod seats;
pub mod set;
pub mod stock;
pub mod store;
pub mod strings;
pub mod tagindex;
pub mod value;
pub mod zset;

use usher_protocol::{Reply, Request, ServerError};

pub use effect::{Effect, ReplayError};
pub use hash::{Hash, HashEffect};
pub use holders::HoldIndex;
pub use idempotency::{IdempotencyTable, ReqEffect};
pub use key::Key;
pub use key_effects::KeyEffect;
pub use keyspace::{Entry, Keyspace};
pub use limits::StateLimits;
pub use list::{List, ListEffect};
pub use queue::{Queue, QueueEffect, QueueSettings, QueueTimers};
pub use seats::SeatEffect;
pub use set::{Set, SetEffect};
pub use stock::StockEffect;
pub use store::{State, StateStats, KEYS_REAPED_WHEN_FULL};
pub use value::Value;
pub use zset::{Zset, ZsetEffect};

/// Most keys of one request [`State::prefetch`] warms.
const PREFETCH_KEYS_MAX: usize = 4;

impl State {
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
            // A hash's arena (and a large one's field index) lives apart
            // from its entry.
            Request::HSet { key, field, .. }
            | Request::HGet { key, field }
            | Request::HIncrBy { key, field, .. } => {
                if let Some(Value::Hash(hash)) = value(key) {
                    hash.prefetch(field);
                }
            }
            // So is a set's.
            Request::SAdd { key, members } | Request::SRem { key, members } => {
                if let Some(Value::Set(set)) = value(key) {
                    for member in members.iter().take(PREFETCH_KEYS_MAX) {
                        set.prefetch(member);
                    }
                }
            }
            Request::SIsMember { key, member } => {
                if let Some(Value::Set(set)) = value(key) {
                    set.prefetch(member);
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
            Request::MGet(keys_) => strings::mget(self, keys_, now_ms),
            Request::MSet {
                keys: keys_,
                values,
                only_new,
            } => strings::mset(self, keys_, values, *only_new, now_ms),
            Request::SetNx { key, value } => strings::setnx(self, key, value, now_ms),
            Request::SetEx {
                key,
                value,
                deadline,
            } => strings::setex(self, key, value, *deadline, now_ms),
            Request::GetDel(key) => strings::getdel(self, key, now_ms),
            Request::GetEx { key, expiry } => strings::getex(self, key, *expiry, now_ms),
            Request::Append { key, value } => strings::append(self, key, value, now_ms),
            Request::Strlen(key) => strings::strlen(self, key, now_ms),
            Request::SetRange { key, offset, value } => {
                strings::setrange(self, key, *offset, value, now_ms)
            }
            Request::GetRange { key, start, end } => {
                strings::getrange(self, key, *start, *end, now_ms)
            }
            Request::IncrByFloat { key, delta } => {
                strings::incr_by_float(self, key, *delta, now_ms)
            }
            Request::Keys(pattern) => keys::keys(self, pattern, now_ms),
            Request::Rename {
                keys: names,
                only_new,
            } => keys::rename(self, names, *only_new, now_ms),
            Request::Copy {
                keys: names,
                replace,
            } => keys::copy(self, names, *replace, now_ms),
            // Usher keeps no access times: TOUCH only counts.
            Request::Touch(keys_) => keys::exists(self, keys_, now_ms),
            Request::RandomKey => keys::random_key(self, now_ms),
            Request::ExpireTime { key, millis } => keys::expire_time(self, key, *millis, now_ms),
            Request::Object { query, key } => keys::object(self, *query, key, now_ms),
            Request::ObjectHelp => keys::object_help(),
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
            } => idempotency::req(self, id, *fingerprint, command, now_ms, |state, command| {
                state.execute(command, now_ms)
            }),
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
            } => zset::zrange(self, key, by, *reverse, *limit, *with_scores, now_ms),
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
            Request::ZLexCount { key, range } => zset::zlexcount(self, key, range, now_ms),
            Request::ZRemRangeByLex { key, range } => {
                zset::zremrangebylex(self, key, range, now_ms)
            }
            Request::ZMScore { key, members } => zset::zmscore(self, key, members, now_ms),
            Request::ZRandMember {
                key,
                count,
                with_scores,
            } => zset::zrandmember(self, key, *count, *with_scores, now_ms),
            Request::ZRangeStore(store) => zset::zrangestore(self, store, now_ms),
            Request::ZCombine(combine) => zset::zcombine(self, combine, now_ms),
            Request::ZInterCard {
                keys,
                limit,
                options_error,
            } => zset::zintercard(self, keys, *limit, options_error.as_deref(), now_ms),
            Request::ZMPop { keys, max, count } => {
                zset::zmpop(self, keys, *max, *count, now_ms).unwrap_or(Reply::NilArray)
            }
            Request::BzMPop {
                keys, max, count, ..
            } => zset::zmpop(self, keys, *max, *count, now_ms).unwrap_or(Reply::NilArray),
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
            Request::ListPush {
                key,
                left,
                existing_only,
                items,
            } => list::push(self, key, *left, *existing_only, items, now_ms),
            Request::ListPop { key, left, count } => list::pop(self, key, *left, *count, now_ms),
            Request::LLen(key) => list::llen(self, key, now_ms),
            Request::LRange { key, start, stop } => list::lrange(self, key, *start, *stop, now_ms),
            Request::LIndex { key, index } => list::lindex(self, key, *index, now_ms),
            Request::LSet { key, index, item } => list::lset(self, key, *index, item, now_ms),
            Request::LRem { key, count, item } => list::lrem(self, key, *count, item, now_ms),
            Request::LTrim { key, start, stop } => list::ltrim(self, key, *start, *stop, now_ms),
            Request::LPos { key, item, options } => list::lpos(self, key, item, *options, now_ms),
            Request::LMove {
                keys,
                from_left,
                to_left,
            } => list::lmove(self, keys, *from_left, *to_left, now_ms),
            Request::BListPop { keys, left, .. } => {
                list::blpop(self, keys, *left, now_ms).unwrap_or(Reply::NilArray)
            }
            Request::SAdd { key, members } => set::sadd(self, key, members, now_ms),
            Request::SRem { key, members } => set::srem(self, key, members, now_ms),
            Request::SIsMember { key, member } => set::sismember(self, key, member, now_ms),
            Request::SMIsMember { key, members } => set::smismember(self, key, members, now_ms),
            Request::SCard(key) => set::scard(self, key, now_ms),
            Request::SMembers(key) => set::smembers(self, key, now_ms),
            Request::SPop { key, count } => set::spop(self, key, *count, now_ms),
            Request::SRandMember { key, count } => set::srandmember(self, key, *count, now_ms),
            Request::SScan {
                key,
                cursor,
                pattern,
                count,
            } => set::sscan(self, key, *cursor, pattern.as_deref(), *count, now_ms),
            Request::SMove { keys, member } => set::smove(self, &keys[0], &keys[1], member, now_ms),
            Request::SCombine { op, keys } => set::scombine(self, *op, keys, now_ms),
            Request::SCombineStore { op, keys } => set::scombine_store(self, *op, keys, now_ms),
            Request::SInterCard { keys, limit } => set::sintercard(self, keys, *limit, now_ms),
            Request::HSet { key, field, value } => {
                hash::hset(self, key, &[field.clone(), value.clone()], false, now_ms)
            }
            Request::HSetMany { key, pairs, legacy } => {
                hash::hset(self, key, pairs, *legacy, now_ms)
            }
            Request::HSetNx { key, field, value } => hash::hsetnx(self, key, field, value, now_ms),
            Request::HGet { key, field } => hash::hget(self, key, field, now_ms),
            Request::HMGet { key, fields } => hash::hmget(self, key, fields, now_ms),
            Request::HGetAll(key) => hash::hlist(self, key, hash::Listing::All, now_ms),
            Request::HKeys(key) => hash::hlist(self, key, hash::Listing::Keys, now_ms),
            Request::HVals(key) => hash::hlist(self, key, hash::Listing::Values, now_ms),
            Request::HDel { key, fields } => hash::hdel(self, key, fields, now_ms),
            Request::HExists { key, field } => hash::hcount(self, key, Some(field), false, now_ms),
            Request::HStrLen { key, field } => hash::hcount(self, key, Some(field), true, now_ms),
            Request::HLen(key) => hash::hcount(self, key, None, false, now_ms),
            Request::HIncrBy { key, field, delta } => {
                hash::hincrby(self, key, field, *delta, now_ms)
            }
            Request::HIncrByFloat { key, field, delta } => {
                hash::hincrbyfloat(self, key, field, *delta, now_ms)
            }
            Request::HScan {
                key,
                cursor,
                pattern,
                count,
            } => hash::hscan(self, key, *cursor, pattern.as_deref(), *count, now_ms),
            Request::HRandField {
                key,
                count,
                with_values,
            } => hash::hrandfield(self, key, *count, *with_values, now_ms),
            // Redis answers a BLMOVE that cannot block (in MULTI) with a
            // nil string, and one that timed out with a nil array.
            Request::BlMove {
                keys,
                from_left,
                to_left,
                ..
            } => list::blmove(self, keys, *from_left, *to_left, now_ms).unwrap_or(Reply::Nil),
            Request::Connection(_)
            | Request::Info(_)
            | Request::Snapshot
            | Request::Watch(_)
            | Request::Unwatch
            | Request::Exec(_) => Reply::Error(ServerError::generic(
                "ERR this command is answered by the connection or engine, not the state",
            )),
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
                Value::List(list) => {
                    assert!(!list.is_empty(), "an empty list is stored");
                    list.check_invariants();
                    continue;
                }
                Value::Hash(hash) => {
                    hash.check_invariants();
                    continue;
                }
                Value::Set(set) => {
                    set.check_invariants();
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

    /// Applies one logged effect. Reads no clock; records no new effects.
    /// Each family replays its own effects; queues they touch are put back
    /// in the timer index, due at once when they could admit (the engine's
    /// first tick works out the real time), and seat maps and stock under
    /// their earliest hold deadline.
    pub fn replay(&mut self, effect: &Effect) -> Result<(), ReplayError> {
        let recording = self.keyspace.set_recording(false);
        let result = match effect {
            Effect::Key(effect) => keys::replay(self, effect),
            Effect::Zset(effect) => zset::replay(self, effect),
            Effect::Hash(effect) => hash::replay(self, effect),
            Effect::Queue(effect) => queue::replay(self, effect),
            Effect::Seat(effect) => seats::replay(self, effect),
            Effect::Stock(effect) => stock::replay(self, effect),
            Effect::Req(effect) => idempotency::replay(self, effect),
            Effect::List(effect) => list::replay(self, effect),
            Effect::Set(effect) => set::replay(self, effect),
        };
        self.keyspace.set_recording(recording);
        result
    }
}
