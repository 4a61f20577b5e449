//! Lists: `LPUSH`, `RPUSH`, `LPUSHX`, `RPUSHX`, `LPOP`, `RPOP`, `LLEN`,
//! `LRANGE`, `LINDEX`, `LSET`, `LREM`, `LTRIM`, `LPOS`, `LMOVE`, and the
//! blocking `BLPOP`, `BRPOP` and `BLMOVE`, with the option types they share.

use bytes::Bytes;

use super::cursor::Args;
use super::zset::timeout_ms;
use super::Request;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// The items of a push: one in place (the usual LPUSH pushes one item, and
/// a `Vec` was an allocation per request), more on the heap.
pub type ListItems = smallvec::SmallVec<[Bytes; 1]>;

/// `LPOS` options: `RANK` (never 0; negative searches from the tail),
/// `COUNT` (`None` when absent: reply one index or nil; 0 = every match)
/// and `MAXLEN` (0 = no bound on the items compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LPosOptions {
    pub rank: i64,
    pub count: Option<u64>,
    pub maxlen: u64,
}

/// Parses the list command `id`.
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Lpush | Cmd::Rpush | Cmd::Lpushx | Cmd::Rpushx => {
            let key = a.bytes()?;
            let mut items = ListItems::with_capacity(a.remaining());
            while a.remaining() > 0 {
                items.push(a.bytes()?);
            }
            Request::ListPush {
                key,
                left: matches!(id, Cmd::Lpush | Cmd::Lpushx),
                existing_only: matches!(id, Cmd::Lpushx | Cmd::Rpushx),
                items,
            }
        }
        Cmd::Lpop | Cmd::Rpop => parse_pop(id == Cmd::Lpop, a)?,
        Cmd::Llen => Request::LLen(a.bytes()?),
        Cmd::Lrange | Cmd::Ltrim => {
            let key = a.bytes()?;
            let (start, stop) = (a.int()?, a.int()?);
            if id == Cmd::Lrange {
                Request::LRange { key, start, stop }
            } else {
                Request::LTrim { key, start, stop }
            }
        }
        Cmd::Lindex => Request::LIndex {
            key: a.bytes()?,
            index: a.int()?,
        },
        Cmd::Lset => Request::LSet {
            key: a.bytes()?,
            index: a.int()?,
            item: a.bytes()?,
        },
        Cmd::Lrem => Request::LRem {
            key: a.bytes()?,
            count: a.int()?,
            item: a.bytes()?,
        },
        Cmd::Lpos => parse_lpos(a)?,
        Cmd::Lmove => {
            let keys = [a.bytes()?, a.bytes()?];
            let (from_left, to_left) = (end(a)?, end(a)?);
            Request::LMove {
                keys,
                from_left,
                to_left,
            }
        }
        Cmd::Blpop | Cmd::Brpop => {
            let mut keys = Vec::with_capacity(a.remaining().saturating_sub(1));
            while a.remaining() > 1 {
                keys.push(a.bytes()?);
            }
            Request::BListPop {
                keys,
                left: id == Cmd::Blpop,
                timeout_ms: timeout_ms(a.next_arg()?)?,
            }
        }
        Cmd::Blmove => {
            let keys = [a.bytes()?, a.bytes()?];
            let (from_left, to_left) = (end(a)?, end(a)?);
            Request::BlMove {
                keys,
                from_left,
                to_left,
                timeout_ms: timeout_ms(a.next_arg()?)?,
            }
        }
        _ => unreachable!("{id:?} is not a list command"),
    })
}

/// `LEFT` (true) or `RIGHT` (false), any case; else a syntax error.
fn end(a: &mut Args<'_>) -> Result<bool, ServerError> {
    let arg = a.next_arg()?;
    if arg.is_keyword("LEFT") {
        Ok(true)
    } else if arg.is_keyword("RIGHT") {
        Ok(false)
    } else {
        Err(ServerError::SYNTAX)
    }
}

/// `LPOP key [count]` and `RPOP key [count]`: a count that is not a
/// non-negative integer gets Redis's one error for both cases.
fn parse_pop(left: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let count = if a.remaining() > 0 {
        let count = a
            .int()
            .ok()
            .and_then(|count| u64::try_from(count).ok())
            .ok_or(ServerError::new_static(
                ErrorCode::OutOfRange,
                "ERR value is out of range, must be positive",
            ))?;
        Some(count)
    } else {
        None
    };
    a.end()?;
    Ok(Request::ListPop { key, left, count })
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`, options
/// in any order, a later one overriding an earlier one, as Redis reads them.
fn parse_lpos(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let item = a.bytes()?;
    let mut options = LPosOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if a.remaining() == 0 {
            return Err(ServerError::SYNTAX);
        }
        if option.is_keyword("RANK") {
            options.rank = rank(a)?;
        } else if option.is_keyword("COUNT") {
            options.count = Some(non_negative(a, "ERR COUNT can't be negative")?);
        } else if option.is_keyword("MAXLEN") {
            options.maxlen = non_negative(a, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::LPos { key, item, options })
}

/// LPOS's RANK: any integer but 0 and `i64::MIN` (whose opposite, the
/// rank from the tail, does not exist).
fn rank(a: &mut Args<'_>) -> Result<i64, ServerError> {
    let rank = a.int()?;
    if rank == i64::MIN {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if rank == 0 {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        ));
    }
    Ok(rank)
}

/// A non-negative integer; `message` for anything else, as Redis's
/// `getPositiveLongFromObjectOrReply` with a message answers.
fn non_negative(a: &mut Args<'_>, message: &'static str) -> Result<u64, ServerError> {
    a.int()
        .ok()
        .and_then(|value| u64::try_from(value).ok())
        .ok_or(ServerError::new_static(ErrorCode::OutOfRange, message))
}
