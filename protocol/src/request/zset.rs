//! Sorted sets: `ZADD`, `ZINCRBY`, `ZREM`, `ZSCORE`, `ZCARD`, `ZCOUNT`,
//! `ZRANK`, `ZREVRANK`, the `ZRANGE` family, `ZPOPMIN`, `ZPOPMAX`, the
//! blocking `BZPOPMIN` and `BZPOPMAX`, `ZREMRANGEBYSCORE` and
//! `ZREMRANGEBYRANK`, and the score and range types they share.

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
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZRangeBy {
    /// Ranks, negative ones counting from the end.
    Rank { start: i64, stop: i64 },
    /// Scores, always given low to high here whatever the command's order.
    Score { min: ScoreBound, max: ScoreBound },
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

/// `ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]`,
/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`,
/// `ZREVRANGE key start stop [WITHSCORES]` and
/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`.
///
/// The `ZRANGE` family, following Redis's `zrangeGenericCommand`: options in
/// any order, REV and BYSCORE at most once, WITHSCORES and LIMIT repeatable.
fn parse_zrange(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    // `None`: the option may still be given; `Some`: the name fixed it.
    let (mut reverse, mut by_score) = match id {
        Cmd::Zrange => (None, None),
        Cmd::Zrangebyscore => (Some(false), Some(true)),
        Cmd::Zrevrange => (Some(true), Some(false)),
        _ => (Some(true), Some(true)),
    };
    let first = a.next_arg()?;
    let second = a.next_arg()?;
    let mut with_scores = false;
    let mut limit = (0i64, -1i64);
    while a.remaining() > 0 {
        let option = a.bytes()?;
        let left = a.remaining();
        if option.eq_ignore_ascii_case(b"WITHSCORES") {
            with_scores = true;
        } else if option.eq_ignore_ascii_case(b"LIMIT") && left >= 2 {
            limit = (a.int()?, a.int()?);
        } else if reverse.is_none() && option.eq_ignore_ascii_case(b"REV") {
            reverse = Some(true);
        } else if by_score.is_none() && option.eq_ignore_ascii_case(b"BYSCORE") {
            by_score = Some(true);
        } else if by_score.is_none() && option.eq_ignore_ascii_case(b"BYLEX") {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR BYLEX is not supported",
            ));
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    let reverse = reverse.unwrap_or(false);
    let by_score = by_score.unwrap_or(false);
    if limit.1 != -1 && !by_score {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    let by = zrange_by(by_score, reverse, first, second)?;
    Ok(Request::ZRange {
        key,
        by,
        reverse,
        limit,
        with_scores,
    })
}

/// A `ZRANGE` range's two bounds as ranks or as scores.
fn zrange_by(
    by_score: bool,
    reverse: bool,
    first: ArgRef<'_>,
    second: ArgRef<'_>,
) -> Result<ZRangeBy, ServerError> {
    Ok(if by_score {
        // Reverse score ranges are written high bound first.
        let (low, high) = if reverse {
            (second, first)
        } else {
            (first, second)
        };
        let not_float =
            || ServerError::new_static(ErrorCode::NotFloat, "ERR min or max is not a float");
        ZRangeBy::Score {
            min: ScoreBound::parse(low).ok_or_else(not_float)?,
            max: ScoreBound::parse(high).ok_or_else(not_float)?,
        }
    } else {
        ZRangeBy::Rank {
            start: first.to_i64()?,
            stop: second.to_i64()?,
        }
    })
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
