//! The sorted-set commands that read several keys or store into one:
//! `ZUNION`, `ZINTER`, `ZDIFF` and their `STORE` forms, `ZINTERCARD` and
//! `ZRANGESTORE`. A stored result replaces the destination whole (whatever
//! it held, its deadline dropped) and is logged as the keyspace's `Put` of
//! the new set, or its `Delete` when the result is empty: effects, never
//! the request, so replay does not compute the result again.

use bytes::Bytes;
use usher_protocol::request::{Aggregate, ZCombine, ZCombineOp, ZRangeStore};
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::commands::{collect, range_ranks, too_many_items, zset_ref};
use super::set::Zset;
use crate::state::set::packed::Set as PackedSet;
use crate::state::store::State;
use crate::state::value::Value;

/// One input of ZUNION, ZINTER, ZDIFF or ZINTERCARD. Redis also accepts a
/// plain set, whose members all score 1.
#[derive(Clone, Copy)]
enum Source<'a> {
    Zset(&'a Zset),
    Set(&'a PackedSet),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Zset(zset) => zset.len(),
            Source::Set(set) => set.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Zset(zset) => zset.score(member),
            Source::Set(set) => set.contains(member).then_some(1.0),
        }
    }

    /// Calls `visit` for every member with its score, until it returns
    /// false.
    fn for_each(&self, visit: &mut dyn FnMut(&[u8], f64) -> bool) {
        match self {
            Source::Zset(zset) => {
                for (member, score) in zset.iter() {
                    if !visit(member, score) {
                        break;
                    }
                }
            }
            Source::Set(set) => {
                for member in set.iter() {
                    if !visit(member, 1.0) {
                        break;
                    }
                }
            }
        }
    }
}

/// What a key's value gives as an input: a sorted set, or a set whose
/// members score 1; WRONGTYPE else.
fn zset_source(value: &Value) -> Result<Source<'_>, ServerError> {
    match value {
        Value::Zset(zset) => Ok(Source::Zset(zset)),
        Value::Set(set) => Ok(Source::Set(set)),
        _ => Err(ServerError::WRONG_TYPE),
    }
}

/// The inputs at `keys`, `None` for a missing key. Expired keys are removed
/// first (a read does that), so the entries peeked after are live.
fn sources<'a>(
    state: &'a mut State,
    keys: &[Bytes],
    now_ms: u64,
) -> Result<Vec<Option<Source<'a>>>, ServerError> {
    for key in keys {
        if state.keyspace.get_live(key, now_ms).is_some() {
            state.stats.keyspace_hits += 1;
        } else {
            state.stats.keyspace_misses += 1;
        }
    }
    let keyspace = &state.keyspace;
    keys.iter()
        .map(|key| {
            keyspace
                .peek(key)
                .map(|entry| zset_source(&entry.value))
                .transpose()
        })
        .collect()
}

/// Combines a score into an aggregate as Redis does: a sum of `+inf` and
/// `-inf` is 0, not NaN.
fn aggregate(into: &mut f64, score: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *into += score;
            if into.is_nan() {
                *into = 0.0;
            }
        }
        Aggregate::Min => *into = into.min(score),
        Aggregate::Max => *into = into.max(score),
    }
}

/// A weighted score; `0 * inf` is 0, as in Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

fn too_many_members(members_max: usize) -> ServerError {
    ServerError::new(
        ErrorCode::Limit,
        format!("ERR sorted set would exceed zset_members_max ({members_max})"),
    )
}

/// Computes a union, intersection or difference into a new set (seeded
/// like every new set), at most `members_max` members.
fn combine_sets(
    request: &ZCombine,
    inputs: &[Option<Source<'_>>],
    seed: u64,
    members_max: usize,
) -> Result<Zset, ServerError> {
    let weight = |i: usize| request.weights.get(i).copied().unwrap_or(1.0);
    // Smallest first, as Redis orders them (and sums in that order).
    let mut order: Vec<(usize, Source<'_>)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, source)| source.map(|source| (i, source)))
        .collect();
    let mut result = Zset::new(seed);
    match request.op {
        ZCombineOp::Union => {
            order.sort_by_key(|(_, source)| source.len());
            let mut full = false;
            for (i, source) in &order {
                source.for_each(&mut |member, score| {
                    let score = weighted(score, weight(*i));
                    match result.score(member) {
                        Some(mut total) => {
                            aggregate(&mut total, score, request.aggregate);
                            result.set_score(member, total);
                        }
                        None if result.len() >= members_max => full = true,
                        None => result.insert(member, score),
                    }
                    !full
                });
            }
            if full {
                return Err(too_many_members(members_max));
            }
        }
        ZCombineOp::Inter => {
            // A missing input makes the intersection empty.
            if order.len() < inputs.len() {
                return Ok(result);
            }
            order.sort_by_key(|(_, source)| source.len());
            let Some(((first_index, first), rest)) = order.split_first() else {
                return Ok(result);
            };
            first.for_each(&mut |member, score| {
                let mut total = weighted(score, weight(*first_index));
                for (i, other) in rest {
                    match other.score(member) {
                        Some(score) => {
                            aggregate(&mut total, weighted(score, weight(*i)), request.aggregate)
                        }
                        None => return true,
                    }
                }
                result.insert(member, total);
                true
            });
        }
        ZCombineOp::Diff => {
            let Some(Some(first)) = inputs.first() else {
                return Ok(result);
            };
            let others = &inputs[1..];
            first.for_each(&mut |member, score| {
                if !others
                    .iter()
                    .flatten()
                    .any(|other| other.score(member).is_some())
                {
                    result.insert(member, score);
                }
                true
            });
        }
    }
    Ok(result)
}

/// ```text
/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]
/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]
/// ZDIFF numkeys key [key ...] [WITHSCORES]
/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX]
/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX]
/// ZDIFFSTORE destination numkeys key [key ...]
/// ```
/// The union (intersection, difference: the first set's members in none of
/// the others) of the inputs, each score multiplied by its input's weight
/// and combined by the aggregate, as members in order (paired with their
/// scores WITHSCORES, see [`collect`]); the STORE forms store it at the destination and reply its
/// size. A missing key is an empty set.
pub fn zcombine(state: &mut State, request: &ZCombine, now_ms: u64) -> Reply {
    let seed = state.hash_seed;
    let members_max = state.limits.zset_members_max;
    let reply_items_max = state.limits.reply_items_max;
    let result = match sources(state, request.inputs(), now_ms).and_then(|inputs| {
        // Redis checks the inputs' types before the options.
        match &request.options_error {
            Some(error) => Err(error.clone()),
            None => combine_sets(request, &inputs, seed, members_max),
        }
    }) {
        Ok(result) => result,
        Err(error) => return error.into(),
    };
    match request.destination() {
        Some(destination) => store(state, destination, result, now_ms),
        None => {
            if result.len() > reply_items_max {
                return too_many_items(result.len(), reply_items_max);
            }
            collect(&result, 0, result.len(), false, request.with_scores)
        }
    }
}

/// ```text
/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
/// The size of the intersection, counting stops at `limit` (0: no limit).
/// `options_error` is replied after the inputs' types are checked.
pub fn zintercard(
    state: &mut State,
    keys: &[Bytes],
    limit: u64,
    options_error: Option<&ServerError>,
    now_ms: u64,
) -> Reply {
    let inputs = match sources(state, keys, now_ms) {
        Ok(inputs) => inputs,
        Err(error) => return error.into(),
    };
    if let Some(error) = options_error {
        return error.clone().into();
    }
    let Some(mut present) = inputs.into_iter().collect::<Option<Vec<Source<'_>>>>() else {
        return Reply::Int(0);
    };
    present.sort_by_key(Source::len);
    let Some((first, rest)) = present.split_first() else {
        return Reply::Int(0);
    };
    let limit = if limit == 0 { u64::MAX } else { limit };
    let mut count = 0u64;
    first.for_each(&mut |member, _| {
        if rest.iter().all(|other| other.score(member).is_some()) {
            count += 1;
        }
        count < limit
    });
    Reply::Int(count as i64)
}

/// ```text
/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
/// ```
/// Stores the members (with their scores) that `ZRANGE src ...` would
/// reply at `dst`; replies how many.
pub fn zrangestore(state: &mut State, request: &ZRangeStore, now_ms: u64) -> Reply {
    let [destination, source] = &request.keys;
    let seed = state.hash_seed;
    let mut result = Zset::new(seed);
    match zset_ref(state, source, now_ms) {
        Ok(Some(zset)) => {
            let (first, end) = range_ranks(zset, &request.by, request.reverse, request.limit);
            // Ascending, so each insertion appends and the leaves fill.
            zset.for_each_in_ranks(first, end, false, &mut |member, score| {
                result.insert(member, score)
            });
        }
        Ok(None) => {}
        Err(error) => return error.into(),
    }
    store(state, destination, result, now_ms)
}

/// Replaces `destination` with `result` (deleting it when `result` is
/// empty, as Redis does); replies the result's size.
fn store(state: &mut State, destination: &[u8], result: Zset, now_ms: u64) -> Reply {
    let len = result.len();
    let value = (len > 0).then(|| Value::Zset(Box::new(result)));
    match state.store_result(destination, value, now_ms) {
        Ok(()) => Reply::Int(len as i64),
        Err(error) => error.into(),
    }
}
