//! Blocking commands (`BZPOPMIN`, `BZPOPMAX`, `BLPOP`, `BRPOP`, `BLMOVE`) as attempts that never wait:
//! [`State::attempt`] answers a blocking request that can go ahead now and
//! returns `None` for one that would have to wait. Waiting itself is the
//! engine's (the wait registry, `wait.rs`); the state stays pure.
//!
//! [`State::apply`] answers a blocking request that would wait with its
//! timeout reply at once, as Redis does inside `MULTI`: that is what a
//! blocking command wrapped in `REQ`, submitted in-process, or replayed
//! gets.

use bytes::Bytes;
use usher_protocol::{Reply, Request};

use super::{list, zset, State, Value};

impl State {
    /// Applies `request` unless it is a blocking request that cannot go
    /// ahead at `now_ms`: then `None`, and nothing changed.
    pub fn attempt(&mut self, request: &Request, now_ms: u64) -> Option<Reply> {
        match request {
            Request::BzPop { keys, max, .. } => {
                self.stats.commands_processed += 1;
                bzpop(self, keys, *max, now_ms)
            }
            Request::BzMPop {
                keys, max, count, ..
            } => {
                self.stats.commands_processed += 1;
                zset::zmpop(self, keys, *max, *count, now_ms)
            }
            Request::BListPop { keys, left, .. } => {
                self.stats.commands_processed += 1;
                list::blpop(self, keys, *left, now_ms)
            }
            Request::BlMove {
                keys,
                from_left,
                to_left,
                ..
            } => {
                self.stats.commands_processed += 1;
                list::blmove(self, keys, *from_left, *to_left, now_ms)
            }
            _ => Some(self.apply(request, now_ms)),
        }
    }
}

/// The reply a blocking request gets when its timeout passes.
pub fn timeout_reply(request: &Request) -> Reply {
    match request {
        Request::BzPop { .. } => Reply::NilArray,
        Request::BzMPop { .. } => Reply::NilArray,
        Request::BListPop { .. } | Request::BlMove { .. } => Reply::NilArray,
        _ => Reply::Nil,
    }
}

/// ```text
/// BZPOPMIN key [key ...] timeout | BZPOPMAX key [key ...] timeout
/// ```
/// Pops the lowest (highest) scored member of the first key, left to
/// right, that holds a non-empty sorted set, as `[key, member, score]`;
/// WRONGTYPE if a key before it holds another type; `None` when every key
/// is missing (an empty sorted set is never stored).
pub fn bzpop(state: &mut State, keys: &[Bytes], max: bool, now_ms: u64) -> Option<Reply> {
    for key in keys {
        match state
            .keyspace
            .get_live(key, now_ms)
            .map(|entry| &entry.value)
        {
            None => continue,
            Some(Value::Zset(_)) => {}
            Some(_) => return Some(usher_protocol::ServerError::WRONG_TYPE.into()),
        }
        return Some(match zset::zpop(state, key, max, None, now_ms) {
            Reply::Array(mut popped) if popped.len() == 2 => {
                popped.insert(0, Reply::Bulk(key.clone()));
                Reply::Array(popped)
            }
            other => other,
        });
    }
    None
}
