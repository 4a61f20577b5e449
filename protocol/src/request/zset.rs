//! Sorted sets: `ZADD`, `ZINCRBY`, `ZREM`, `ZSCORE`, `ZCARD`, `ZCOUNT`,
//! `ZRANK`, `ZREVRANK`, the `ZRANGE` family, `ZPOPMIN`, `ZPOPMAX`, the
//! blocking `BZPOPMIN` and `BZPOPMAX`, `ZREMRANGEBYSCORE` and
//! `ZREMRANGEBYRANK`, the lex-range commands (`ZRANGEBYLEX`,
//! `ZREVRANGEBYLEX`, `ZLEXCOUNT`, `ZREMRANGEBYLEX`), `ZMSCORE`,
//! `ZRANDMEMBER`, `ZRANGESTORE`, `ZUNION`/`ZINTER`/`ZDIFF` and their
//! `STORE` forms, `ZINTERCARD`, `ZMPOP` and the blocking `BZMPOP`, and the
//! score and range types they share.

use bytes::Bytes;

use super::cursor::Args;
use super::Request;
use crate::args::ArgRef;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};
use crate::number::parse_f64;

/// ZADD's `(score, member)` pairs: one in place (the usual ZADD adds one
/// member, and a `Vec` was an allocation per request), more on the heap.
/// `Request` keeps its size.
pub type ZAddPairs = smallvec::SmallVec<[(f64, Bytes); 1]>;

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    /// Parses a bound as Redis's `zslParseRange` does; `None` if it is not
    /// a float (or is NaN).
    pub fn parse(arg: ArgRef<'_>) -> Option<ScoreBound> {
        match arg {
            ArgRef::Bytes(bytes) => match bytes.first() {
                Some(b'(') => parse_f64(&bytes[1..]).map(|value| ScoreBound {
                    value,
                    exclusive: true,
                }),
                _ => parse_f64(bytes).map(|value| ScoreBound {
                    value,
                    exclusive: false,
                }),
            },
            other => other.to_f64().ok().map(|value| ScoreBound {
                value,
                exclusive: false,
            }),
        }
    }
}

/// `ZADD` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ZAddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is less.
    pub lt: bool,
    /// Reply with added + changed instead of added.
    pub ch: bool,
    /// Add the score to the current one and reply the new score.
    pub incr: bool,
}

/// What a `ZRANGE`-family range counts in.
#[derive(Clone, Debug, PartialEq)]
pub enum ZRangeBy {
    /// Ranks, negative ones counting from the end.
    Rank { start: i64, stop: i64 },
    /// Scores, always given low to high here whatever the command's order.
    Score { min: ScoreBound, max: ScoreBound },
    /// Member bytes, low to high (boxed: `Request` keeps its size).
    Lex(Box<LexRange>),
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member`.
    Inclusive(Bytes),
    /// `(member`.
    Exclusive(Bytes),
}

impl LexBound {
    /// Parses a bound as Redis's `zslParseLexRangeItem` does.
    fn parse(arg: ArgRef<'_>) -> Option<LexBound> {
        let ArgRef::Bytes(bytes) = arg else {
            return None;
        };
        match bytes {
            b"-" => Some(LexBound::Min),
            b"+" => Some(LexBound::Max),
            [b'[', rest @ ..] => Some(LexBound::Inclusive(Bytes::copy_from_slice(rest))),
            [b'(', rest @ ..] => Some(LexBound::Exclusive(Bytes::copy_from_slice(rest))),
            _ => None,
        }
    }
}

/// A lex range, low bound first.
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

/// `ZRANGESTORE`'s arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct ZRangeStore {
    /// Destination, then source.
    pub keys: [Bytes; 2],
    pub by: ZRangeBy,
    pub reverse: bool,
    /// `LIMIT offset count`; `(0, -1)` when absent.
    pub limit: (i64, i64),
}

/// Which combination of sorted sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZCombineOp {
    Union,
    Inter,
    Diff,
}

/// How the scores of a member found in several inputs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Aggregate {
    #[default]
    Sum,
    Min,
    Max,
}

/// `ZUNION`, `ZINTER`, `ZDIFF` and their `STORE` forms.
#[derive(Clone, Debug, PartialEq)]
pub struct ZCombine {
    pub op: ZCombineOp,
    /// The destination first when `store`, then the inputs.
    pub keys: Vec<Bytes>,
    pub store: bool,
    /// One per input, or empty for all 1.
    pub weights: Vec<f64>,
    pub aggregate: Aggregate,
    pub with_scores: bool,
    /// An error in the options after the keys: Redis reports it only
    /// after checking the inputs' types (WRONGTYPE first), so the state
    /// replies it.
    pub options_error: Option<ServerError>,
}

impl ZCombine {
    /// The input keys.
    pub fn inputs(&self) -> &[Bytes] {
        &self.keys[usize::from(self.store)..]
    }

    /// The destination, if it stores.
    pub fn destination(&self) -> Option<&Bytes> {
        self.store.then(|| &self.keys[0])
    }

    /// Its command-table row (the read and store forms differ in flags).
    pub fn command(&self) -> Cmd {
        match (self.op, self.store) {
            (ZCombineOp::Union, false) => Cmd::Zunion,
            (ZCombineOp::Inter, false) => Cmd::Zinter,
            (ZCombineOp::Diff, false) => Cmd::Zdiff,
            (ZCombineOp::Union, true) => Cmd::Zunionstore,
            (ZCombineOp::Inter, true) => Cmd::Zinterstore,
            (ZCombineOp::Diff, true) => Cmd::Zdiffstore,
        }
    }
}

/// Parses the sorted-set command `id`:
/// - `ZINCRBY key increment member`
/// - `ZREM key member [member ...]`
/// - `ZSCORE key member`, `ZCARD key`, `ZCOUNT key min max`
/// - `ZREMRANGEBYSCORE key min max`, `ZREMRANGEBYRANK key start stop`
/// - `ZADD`, the rank, range and pop commands (below)
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Zadd => parse_zadd(a)?,
        Cmd::Zincrby => {
            let key = a.bytes()?;
            let delta = a.next_arg()?.to_f64()?;
            let member = a.bytes()?;
            Request::ZIncrBy { key, delta, member }
        }
        Cmd::Zrem => Request::ZRem {
            key: a.bytes()?,
            members: a.rest(),
        },
        Cmd::Zscore => Request::ZScore {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::Zcard => Request::ZCard(a.bytes()?),
        Cmd::Zcount => {
            let key = a.bytes()?;
            let (min, max) = score_bounds(a)?;
            Request::ZCount { key, min, max }
        }
        Cmd::Zrank | Cmd::Zrevrank => parse_zrank(id == Cmd::Zrevrank, a)?,
        Cmd::Zrange | Cmd::Zrangebyscore | Cmd::Zrevrange | Cmd::Zrevrangebyscore => {
            parse_zrange(id, a)?
        }
        Cmd::Zpopmin | Cmd::Zpopmax => parse_zpop(id == Cmd::Zpopmax, a)?,
        Cmd::Bzpopmin | Cmd::Bzpopmax => parse_bzpop(id == Cmd::Bzpopmax, a)?,
        Cmd::Zremrangebyscore => {
            let key = a.bytes()?;
            let (min, max) = score_bounds(a)?;
            Request::ZRemRangeByScore { key, min, max }
        }
        Cmd::Zremrangebyrank => Request::ZRemRangeByRank {
            key: a.bytes()?,
            start: a.int()?,
            stop: a.int()?,
        },
        Cmd::Zrangebylex | Cmd::Zrevrangebylex => parse_zrange(id, a)?,
        Cmd::Zlexcount => Request::ZLexCount {
            key: a.bytes()?,
            range: lex_bounds(a.next_arg()?, a.next_arg()?)?,
        },
        Cmd::Zremrangebylex => Request::ZRemRangeByLex {
            key: a.bytes()?,
            range: lex_bounds(a.next_arg()?, a.next_arg()?)?,
        },
        Cmd::Zmscore => Request::ZMScore {
            key: a.bytes()?,
            members: a.rest(),
        },
        Cmd::Zrandmember => parse_zrandmember(a)?,
        Cmd::Zrangestore => parse_zrangestore(a)?,
        Cmd::Zunion | Cmd::Zinter | Cmd::Zdiff => parse_combine(id, false, a)?,
        Cmd::Zunionstore | Cmd::Zinterstore | Cmd::Zdiffstore => parse_combine(id, true, a)?,
        Cmd::Zintercard => parse_zintercard(a)?,
        Cmd::Zmpop => {
            let (keys, max, count) = parse_zmpop(a)?;
            Request::ZMPop { keys, max, count }
        }
        Cmd::Bzmpop => {
            let timeout_ms = timeout_ms(a.next_arg()?)?;
            let (keys, max, count) = parse_zmpop(a)?;
            Request::BzMPop {
                keys,
                max,
                count,
                timeout_ms,
            }
        }
        _ => unreachable!("{id:?} is not a sorted-set command"),
    })
}

/// Reads `min max` score bounds.
fn score_bounds(a: &mut Args<'_>) -> Result<(ScoreBound, ScoreBound), ServerError> {
    let not_float =
        || ServerError::new_static(ErrorCode::NotFloat, "ERR min or max is not a float");
    let min = ScoreBound::parse(a.next_arg()?).ok_or_else(not_float)?;
    let max = ScoreBound::parse(a.next_arg()?).ok_or_else(not_float)?;
    Ok((min, max))
}

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`.
fn parse_zadd(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let mut flags = ZAddFlags::default();
    while let Some(option) = a.peek_keyword() {
        let flag = if option.is_keyword("NX") {
            &mut flags.nx
        } else if option.is_keyword("XX") {
            &mut flags.xx
        } else if option.is_keyword("GT") {
            &mut flags.gt
        } else if option.is_keyword("LT") {
            &mut flags.lt
        } else if option.is_keyword("CH") {
            &mut flags.ch
        } else if option.is_keyword("INCR") {
            &mut flags.incr
        } else {
            break;
        };
        *flag = true;
        a.next_arg()?;
    }
    let elements = a.remaining();
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(ServerError::SYNTAX);
    }
    if flags.nx && flags.xx {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && elements > 2 {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = ZAddPairs::with_capacity(elements / 2);
    while a.remaining() > 0 {
        let score = a.next_arg()?.to_f64()?;
        let member = a.bytes()?;
        pairs.push((score, member));
    }
    Ok(Request::ZAdd { key, flags, pairs })
}

/// `ZRANK key member [WITHSCORE]` and `ZREVRANK key member [WITHSCORE]`.
fn parse_zrank(reverse: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let member = a.bytes()?;
    let with_score = match a.peek_keyword() {
        None => false,
        Some(option) if option.is_keyword("WITHSCORE") => {
            a.bytes()?;
            true
        }
        Some(_) => return Err(ServerError::SYNTAX),
    };
    a.end_syntax()?;
    Ok(Request::ZRank {
        key,
        member,
        reverse,
        with_score,
    })
}

/// What a range command's options chose.
struct RangeOptions {
    by: ZRangeBy,
    reverse: bool,
    limit: (i64, i64),
    with_scores: bool,
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`,
/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`,
/// `ZREVRANGE key start stop [WITHSCORES]`,
/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`,
/// `ZRANGEBYLEX key min max [LIMIT offset count]` and
/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`.
fn parse_zrange(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let options = range_options(id, a)?;
    Ok(Request::ZRange {
        key,
        by: options.by,
        reverse: options.reverse,
        limit: options.limit,
        with_scores: options.with_scores,
    })
}

/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`.
fn parse_zrangestore(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let destination = a.bytes()?;
    let source = a.bytes()?;
    let options = range_options(Cmd::Zrangestore, a)?;
    Ok(Request::ZRangeStore(Box::new(ZRangeStore {
        keys: [destination, source],
        by: options.by,
        reverse: options.reverse,
        limit: options.limit,
    })))
}

/// The two bounds and options of the `ZRANGE` family, following Redis's
/// `zrangeGenericCommand`: options in any order, REV and BYSCORE/BYLEX at
/// most once (unless the name fixed them), WITHSCORES (not with
/// ZRANGESTORE) and LIMIT repeatable.
fn range_options(id: Cmd, a: &mut Args<'_>) -> Result<RangeOptions, ServerError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Rank,
        Score,
        Lex,
    }
    // `None`: the option may still be given; `Some`: the name fixed it.
    let (mut reverse, mut kind) = match id {
        Cmd::Zrange | Cmd::Zrangestore => (None, None),
        Cmd::Zrangebyscore => (Some(false), Some(Kind::Score)),
        Cmd::Zrevrange => (Some(true), Some(Kind::Rank)),
        Cmd::Zrangebylex => (Some(false), Some(Kind::Lex)),
        Cmd::Zrevrangebylex => (Some(true), Some(Kind::Lex)),
        _ => (Some(true), Some(Kind::Score)),
    };
    let store = id == Cmd::Zrangestore;
    let first = a.next_arg()?;
    let second = a.next_arg()?;
    let mut with_scores = false;
    let mut limit = (0i64, -1i64);
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        let left = a.remaining();
        if !store && option.is_keyword("WITHSCORES") {
            with_scores = true;
        } else if option.is_keyword("LIMIT") && left >= 2 {
            limit = (a.int()?, a.int()?);
        } else if reverse.is_none() && option.is_keyword("REV") {
            reverse = Some(true);
        } else if kind.is_none() && option.is_keyword("BYSCORE") {
            kind = Some(Kind::Score);
        } else if kind.is_none() && option.is_keyword("BYLEX") {
            kind = Some(Kind::Lex);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    let reverse = reverse.unwrap_or(false);
    let kind = kind.unwrap_or(Kind::Rank);
    if limit.1 != -1 && kind == Kind::Rank {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && kind == Kind::Lex {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reverse score and lex ranges are written high bound first.
    let (low, high) = if reverse && kind != Kind::Rank {
        (second, first)
    } else {
        (first, second)
    };
    let by = match kind {
        Kind::Rank => ZRangeBy::Rank {
            start: low.to_i64()?,
            stop: high.to_i64()?,
        },
        Kind::Score => {
            let not_float =
                || ServerError::new_static(ErrorCode::NotFloat, "ERR min or max is not a float");
            ZRangeBy::Score {
                min: ScoreBound::parse(low).ok_or_else(not_float)?,
                max: ScoreBound::parse(high).ok_or_else(not_float)?,
            }
        }
        Kind::Lex => ZRangeBy::Lex(lex_bounds(low, high)?),
    };
    Ok(RangeOptions {
        by,
        reverse,
        limit,
        with_scores,
    })
}

/// Reads `min max` lex bounds.
fn lex_bounds(min: ArgRef<'_>, max: ArgRef<'_>) -> Result<Box<LexRange>, ServerError> {
    let invalid = || {
        ServerError::new_static(
            ErrorCode::Syntax,
            "ERR min or max not valid string range item",
        )
    };
    Ok(Box::new(LexRange {
        min: LexBound::parse(min).ok_or_else(invalid)?,
        max: LexBound::parse(max).ok_or_else(invalid)?,
    }))
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`, with Redis 7.2's bounds on
/// count: above `-i64::MAX`, and within ±`i64::MAX / 2` WITHSCORES.
fn parse_zrandmember(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    if a.remaining() == 0 {
        return Ok(Request::ZRandMember {
            key,
            count: None,
            with_scores: false,
        });
    }
    let count = a.int()?;
    if count == i64::MIN {
        return Err(ServerError::out_of_range(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_scores = match a.remaining() {
        0 => false,
        1 if a.next_arg()?.is_keyword("WITHSCORES") => true,
        _ => return Err(ServerError::SYNTAX),
    };
    if with_scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(ServerError::out_of_range("ERR value is out of range"));
    }
    Ok(Request::ZRandMember {
        key,
        count: Some(count),
        with_scores,
    })
}

/// Reads `numkeys key [key ...]` into `keys` as Redis's
/// `zunionInterDiffGenericCommand` does: numkeys at least 1, and no more
/// than the arguments left.
fn numkeys_keys(name: &str, a: &mut Args<'_>, keys: &mut Vec<Bytes>) -> Result<(), ServerError> {
    let numkeys = a.int()?;
    if numkeys < 1 {
        return Err(ServerError::new(
            ErrorCode::Syntax,
            format!("ERR at least 1 input key is needed for '{name}' command"),
        ));
    }
    if numkeys as u64 > a.remaining() as u64 {
        return Err(ServerError::SYNTAX);
    }
    keys.reserve(numkeys as usize);
    for _ in 0..numkeys {
        keys.push(a.bytes()?);
    }
    Ok(())
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN |
/// MAX] [WITHSCORES]`, `ZINTER` alike, `ZDIFF numkeys key [key ...]
/// [WITHSCORES]`, and the `STORE` forms with a destination first and no
/// WITHSCORES.
fn parse_combine(id: Cmd, store: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let op = match id {
        Cmd::Zunion | Cmd::Zunionstore => ZCombineOp::Union,
        Cmd::Zinter | Cmd::Zinterstore => ZCombineOp::Inter,
        _ => ZCombineOp::Diff,
    };
    let mut keys = Vec::new();
    if store {
        keys.push(a.bytes()?);
    }
    numkeys_keys(&a.name.to_ascii_lowercase(), a, &mut keys)?;
    let inputs = keys.len() - usize::from(store);
    let mut combine = ZCombine {
        op,
        keys,
        store,
        weights: Vec::new(),
        aggregate: Aggregate::Sum,
        with_scores: false,
        options_error: None,
    };
    if let Err(error) = combine_options(&mut combine, inputs, a) {
        combine.options_error = Some(error);
    }
    Ok(Request::ZCombine(Box::new(combine)))
}

/// The options of [`parse_combine`] after the keys.
fn combine_options(
    combine: &mut ZCombine,
    inputs: usize,
    a: &mut Args<'_>,
) -> Result<(), ServerError> {
    let (op, store) = (combine.op, combine.store);
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        let left = a.remaining();
        if op != ZCombineOp::Diff && left >= inputs && option.is_keyword("WEIGHTS") {
            combine.weights.clear();
            for _ in 0..inputs {
                let weight = a.next_arg()?.to_f64().map_err(|_| {
                    ServerError::new_static(ErrorCode::NotFloat, "ERR weight value is not a float")
                })?;
                combine.weights.push(weight);
            }
        } else if op != ZCombineOp::Diff && left >= 1 && option.is_keyword("AGGREGATE") {
            let how = a.next_arg()?;
            combine.aggregate = if how.is_keyword("SUM") {
                Aggregate::Sum
            } else if how.is_keyword("MIN") {
                Aggregate::Min
            } else if how.is_keyword("MAX") {
                Aggregate::Max
            } else {
                return Err(ServerError::SYNTAX);
            };
        } else if !store && option.is_keyword("WITHSCORES") {
            combine.with_scores = true;
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(())
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`.
fn parse_zintercard(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let mut keys = Vec::new();
    numkeys_keys("zintercard", a, &mut keys)?;
    // Redis checks the inputs' types before the options: the state
    // replies an options error.
    let (limit, options_error) = match intercard_limit(a) {
        Ok(limit) => (limit, None),
        Err(error) => (0, Some(Box::new(error))),
    };
    Ok(Request::ZInterCard {
        keys,
        limit,
        options_error,
    })
}

/// ZINTERCARD's `[LIMIT limit]`: 0 when absent.
fn intercard_limit(a: &mut Args<'_>) -> Result<u64, ServerError> {
    let mut limit = 0;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if option.is_keyword("LIMIT") && a.remaining() >= 1 {
            let negative =
                || ServerError::new_static(ErrorCode::OutOfRange, "ERR LIMIT can't be negative");
            let value = a.next_arg()?.to_i64().map_err(|_| negative())?;
            limit = u64::try_from(value).map_err(|_| negative())?;
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(limit)
}

/// `numkeys key [key ...] MIN | MAX [COUNT count]`, the tail of `ZMPOP` and
/// `BZMPOP`, read as Redis's `zmpopGenericCommand` does.
fn parse_zmpop(a: &mut Args<'_>) -> Result<(Vec<Bytes>, bool, u64), ServerError> {
    let at_least_one = |what: &'static str| ServerError::new_static(ErrorCode::OutOfRange, what);
    let numkeys = a
        .next_arg()?
        .to_i64()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| at_least_one("ERR numkeys should be greater than 0"))?;
    // The keys, then MIN or MAX.
    if numkeys as u64 >= a.remaining() as u64 {
        return Err(ServerError::SYNTAX);
    }
    let mut keys = Vec::with_capacity(numkeys as usize);
    for _ in 0..numkeys {
        keys.push(a.bytes()?);
    }
    let side = a.next_arg()?;
    let max = if side.is_keyword("MIN") {
        false
    } else if side.is_keyword("MAX") {
        true
    } else {
        return Err(ServerError::SYNTAX);
    };
    let mut count = None;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if count.is_none() && option.is_keyword("COUNT") && a.remaining() >= 1 {
            let value = a
                .next_arg()?
                .to_i64()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| at_least_one("ERR count should be greater than 0"))?;
            count = Some(value as u64);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok((keys, max, count.unwrap_or(1)))
}

/// `ZPOPMIN key [count]` and `ZPOPMAX key [count]`.
fn parse_zpop(max: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let count = if a.remaining() > 0 {
        Some(a.int()?)
    } else {
        None
    };
    a.end_syntax()?;
    Ok(Request::ZPop { key, max, count })
}

/// `BZPOPMIN key [key ...] timeout` and `BZPOPMAX key [key ...] timeout`:
/// every argument but the last is a key (arity -3 leaves at least one).
fn parse_bzpop(max: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let mut keys = Vec::with_capacity(a.remaining().saturating_sub(1));
    while a.remaining() > 1 {
        keys.push(a.bytes()?);
    }
    let timeout_ms = timeout_ms(a.next_arg()?)?;
    Ok(Request::BzPop {
        keys,
        max,
        timeout_ms,
    })
}

/// 2^63 milliseconds: Redis keeps a blocking deadline in a signed 64-bit
/// integer, so a timeout must stay below it.
const TIMEOUT_MS_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// A blocking command's timeout in seconds, read as Redis 7.2 does
/// (`getTimeoutFromObjectOrReply`): a double (`0.1` is 100 ms, `inf` is
/// out of range), turned into milliseconds and rounded up, so a timeout
/// never ends early; 0 means no timeout.
pub(super) fn timeout_ms(arg: ArgRef<'_>) -> Result<u64, ServerError> {
    let seconds = arg.to_f64().map_err(|_| {
        ServerError::new_static(
            ErrorCode::NotFloat,
            "ERR timeout is not a float or out of range",
        )
    })?;
    let millis = (seconds * 1000.0).ceil();
    if millis >= TIMEOUT_MS_LIMIT {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR timeout is out of range",
        ));
    }
    if millis < 0.0 {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR timeout is negative",
        ));
    }
    // Whole, and within 0..2^63 (a negative fraction rounds up to -0.0).
    Ok(millis as u64)
}
