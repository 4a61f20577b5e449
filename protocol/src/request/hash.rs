//! Hashes: `HSET`, `HMSET`, `HSETNX`, `HGET`, `HMGET`, `HGETALL`, `HDEL`,
//! `HEXISTS`, `HLEN`, `HKEYS`, `HVALS`, `HINCRBY`, `HINCRBYFLOAT`,
//! `HSTRLEN`, `HSCAN` and `HRANDFIELD`, with Redis's argument errors.

use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// Parses the hash command `id`:
/// - `HSET key field value [field value ...]`, `HMSET` (the same, replying
///   OK), `HSETNX key field value`
/// - `HGET key field`, `HMGET key field [field ...]`, `HEXISTS key field`,
///   `HSTRLEN key field`, `HDEL key field [field ...]`
/// - `HGETALL key`, `HKEYS key`, `HVALS key`, `HLEN key`
/// - `HINCRBY key field increment`, `HINCRBYFLOAT key field increment`
/// - `HSCAN key cursor [MATCH pattern] [COUNT count]`
/// - `HRANDFIELD key [count [WITHVALUES]]`
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let request = match id {
        Cmd::Hset | Cmd::Hmset => parse_hset(key, id == Cmd::Hmset, a)?,
        Cmd::Hsetnx => Request::HSetNx {
            key,
            field: a.bytes()?,
            value: a.bytes()?,
        },
        Cmd::Hget => Request::HGet {
            key,
            field: a.bytes()?,
        },
        Cmd::Hmget => Request::HMGet {
            key,
            fields: a.rest(),
        },
        Cmd::Hgetall => Request::HGetAll(key),
        Cmd::Hdel => Request::HDel {
            key,
            fields: a.rest(),
        },
        Cmd::Hexists => Request::HExists {
            key,
            field: a.bytes()?,
        },
        Cmd::Hlen => Request::HLen(key),
        Cmd::Hkeys => Request::HKeys(key),
        Cmd::Hvals => Request::HVals(key),
        Cmd::Hincrby => Request::HIncrBy {
            key,
            field: a.bytes()?,
            delta: a.int()?,
        },
        Cmd::Hincrbyfloat => {
            let field = a.bytes()?;
            let delta = a.next_arg()?.to_f64()?;
            if delta.is_infinite() {
                return Err(ServerError::new_static(
                    ErrorCode::NotFloat,
                    "ERR value is NaN or Infinity",
                ));
            }
            Request::HIncrByFloat { key, field, delta }
        }
        Cmd::Hstrlen => Request::HStrLen {
            key,
            field: a.bytes()?,
        },
        Cmd::Hscan => parse_hscan(key, a)?,
        Cmd::Hrandfield => parse_hrandfield(key, a)?,
        _ => unreachable!("{id:?} is not a hash command"),
    };
    a.end()?;
    Ok(request)
}

/// `HSET`/`HMSET`: one pair in place (no allocation), more as a flat list.
fn parse_hset(key: bytes::Bytes, legacy: bool, a: &mut Args<'_>) -> Result<Request, ServerError> {
    if a.remaining() < 2 || !a.remaining().is_multiple_of(2) {
        return Err(ServerError::wrong_arity(a.name));
    }
    if a.remaining() == 2 && !legacy {
        return Ok(Request::HSet {
            key,
            field: a.bytes()?,
            value: a.bytes()?,
        });
    }
    Ok(Request::HSetMany {
        key,
        pairs: a.rest(),
        legacy,
    })
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`, as `SCAN` reads them.
fn parse_hscan(key: bytes::Bytes, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let cursor_arg = a.bytes()?;
    let cursor = std::str::from_utf8(&cursor_arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| ServerError::new_static(ErrorCode::Syntax, "ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if option.is_keyword("MATCH") && a.remaining() > 0 {
            pattern = Some(a.bytes()?);
        } else if option.is_keyword("COUNT") && a.remaining() > 0 {
            let value = a.int()?;
            if value < 1 {
                return Err(ServerError::SYNTAX);
            }
            count = usize::try_from(value).unwrap_or(usize::MAX);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::HScan {
        key,
        cursor,
        pattern,
        count,
    })
}

/// `HRANDFIELD key [count [WITHVALUES]]`.
fn parse_hrandfield(key: bytes::Bytes, a: &mut Args<'_>) -> Result<Request, ServerError> {
    if a.remaining() == 0 {
        return Ok(Request::HRandField {
            key,
            count: None,
            with_values: false,
        });
    }
    let count = a.int()?;
    if count == i64::MIN {
        return Err(ServerError::out_of_range(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match a.remaining() {
        0 => false,
        1 if a.next_arg()?.is_keyword("WITHVALUES") => true,
        _ => return Err(ServerError::SYNTAX),
    };
    // Redis refuses a negative count whose pairs would overflow.
    if with_values && count < -(i64::MAX / 2) {
        return Err(ServerError::out_of_range("ERR value is out of range"));
    }
    Ok(Request::HRandField {
        key,
        count: Some(count),
        with_values,
    })
}
