//! Sets: `SADD`, `SREM`, `SISMEMBER`, `SMISMEMBER`, `SCARD`, `SMEMBERS`,
//! `SPOP`, `SRANDMEMBER`, `SSCAN`, `SMOVE`, `SINTER`, `SUNION`, `SDIFF`,
//! their `*STORE` forms and `SINTERCARD`, with Redis's argument errors.

use bytes::Bytes;

use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// SADD's and SREM's members: one in place (the usual SADD names one
/// member, and a `Vec` was an allocation per request), more on the heap.
pub type SetMembers = smallvec::SmallVec<[Bytes; 1]>;

/// What `SINTER`, `SUNION` and `SDIFF` (and their `*STORE` forms) compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Parses the set command `id`.
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Sadd => Request::SAdd {
            key: a.bytes()?,
            members: members(a),
        },
        Cmd::Srem => Request::SRem {
            key: a.bytes()?,
            members: members(a),
        },
        Cmd::Sismember => Request::SIsMember {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::Smismember => Request::SMIsMember {
            key: a.bytes()?,
            members: a.rest(),
        },
        Cmd::Scard => Request::SCard(a.bytes()?),
        Cmd::Smembers => Request::SMembers(a.bytes()?),
        Cmd::Spop => parse_spop(a)?,
        Cmd::Srandmember => parse_srandmember(a)?,
        Cmd::Sscan => parse_sscan(a)?,
        Cmd::Smove => {
            let source = a.bytes()?;
            let destination = a.bytes()?;
            Request::SMove {
                keys: [source, destination],
                member: a.bytes()?,
            }
        }
        Cmd::Sinter => combine(SetOp::Inter, a),
        Cmd::Sunion => combine(SetOp::Union, a),
        Cmd::Sdiff => combine(SetOp::Diff, a),
        Cmd::Sinterstore => combine_store(SetOp::Inter, a),
        Cmd::Sunionstore => combine_store(SetOp::Union, a),
        Cmd::Sdiffstore => combine_store(SetOp::Diff, a),
        Cmd::Sintercard => parse_sintercard(a)?,
        _ => unreachable!("{id:?} is not a set command"),
    })
}

fn members(a: &mut Args<'_>) -> SetMembers {
    let mut out = SetMembers::with_capacity(a.remaining());
    while let Some(bytes) = a.list.bytes(a.next) {
        out.push(bytes);
        a.next += 1;
    }
    out
}

fn combine(op: SetOp, a: &mut Args<'_>) -> Request {
    Request::SCombine { op, keys: a.rest() }
}

/// `keys[0]` is the destination.
fn combine_store(op: SetOp, a: &mut Args<'_>) -> Request {
    Request::SCombineStore { op, keys: a.rest() }
}

/// `SPOP key [count]`: a count that is not a non-negative integer is
/// Redis's "must be positive" error.
fn parse_spop(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let count = match a.remaining() {
        0 => None,
        1 => {
            let count = a
                .int()
                .ok()
                .and_then(|count| u64::try_from(count).ok())
                .ok_or_else(|| {
                    ServerError::new_static(
                        ErrorCode::OutOfRange,
                        "ERR value is out of range, must be positive",
                    )
                })?;
            Some(count)
        }
        _ => return Err(ServerError::SYNTAX),
    };
    Ok(Request::SPop { key, count })
}

/// `SRANDMEMBER key [count]`; a negative count allows repeats, and its
/// magnitude must fit an `i64` (Redis refuses `i64::MIN`).
fn parse_srandmember(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let count = match a.remaining() {
        0 => None,
        1 => {
            let count = a.int()?;
            if count == i64::MIN {
                return Err(ServerError::new_static(
                    ErrorCode::OutOfRange,
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(count)
        }
        _ => return Err(ServerError::SYNTAX),
    };
    Ok(Request::SRandMember { key, count })
}

/// `SSCAN key cursor [MATCH pattern] [COUNT n]`.
fn parse_sscan(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let cursor_arg = a.bytes()?;
    let cursor = std::str::from_utf8(&cursor_arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| ServerError::new_static(ErrorCode::Syntax, "ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if option.is_keyword("MATCH") {
            pattern = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
        } else if option.is_keyword("COUNT") {
            let value = a.int().map_err(|error| {
                if error.code == ErrorCode::WrongArity {
                    ServerError::SYNTAX
                } else {
                    error
                }
            })?;
            if value < 1 {
                return Err(ServerError::SYNTAX);
            }
            count = usize::try_from(value).unwrap_or(usize::MAX);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::SScan {
        key,
        cursor,
        pattern,
        count,
    })
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
fn parse_sintercard(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let numkeys = a.int().ok().filter(|numkeys| *numkeys > 0).ok_or_else(|| {
        ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR numkeys should be greater than 0",
        )
    })?;
    if numkeys as u64 > a.remaining() as u64 {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut keys = Vec::with_capacity(numkeys as usize);
    for _ in 0..numkeys {
        keys.push(a.bytes()?);
    }
    let mut limit = 0u64;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if !option.is_keyword("LIMIT") || a.remaining() == 0 {
            return Err(ServerError::SYNTAX);
        }
        limit = a
            .int()
            .ok()
            .and_then(|limit| u64::try_from(limit).ok())
            .ok_or_else(|| {
                ServerError::new_static(ErrorCode::OutOfRange, "ERR LIMIT can't be negative")
            })?;
    }
    Ok(Request::SInterCard { keys, limit })
}
