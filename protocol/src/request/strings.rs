//! Strings and counters: `GET`, `SET`, `INCR`, `DECR`, `INCRBY`, `DECRBY`,
//! `INCRBOUND`, `MGET`, `MSET`, `MSETNX`, `SETNX`, `SETEX`, `PSETEX`,
//! `GETSET`, `GETDEL`, `GETEX`, `APPEND`, `STRLEN`, `SETRANGE`, `GETRANGE`
//! and `INCRBYFLOAT`.

use super::cursor::Args;
use super::keys::Deadline;
use super::Request;
use crate::args::ArgRef;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// `SET` conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SetCondition {
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// What `SET` does with the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SetExpiry {
    /// No option: any existing TTL is removed.
    #[default]
    Clear,
    /// `KEEPTTL`.
    Keep,
    /// `EX`, `PX`, `EXAT`, `PXAT`.
    At(Deadline),
}

/// What `GETEX` does with the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GetExExpiry {
    /// No option: the TTL stays as it is.
    #[default]
    Keep,
    /// `PERSIST`.
    Persist,
    /// `EX`, `PX`, `EXAT`, `PXAT` with the amount as given: Redis checks
    /// it (positive, no overflow) only once it found a string at the key,
    /// so a missing key answers nil whatever the amount.
    At(Deadline),
    /// `EX`, `PX`, `EXAT`, `PXAT` with an amount that is not an integer,
    /// refused the same way, after the key was found.
    NotInteger,
}

/// Parses the string command `id`:
/// - `GET key`
/// - `INCR key`, `DECR key`, `INCRBY key delta`, `DECRBY key delta`
/// - `SET` and `INCRBOUND` (below)
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Get => Request::Get(a.bytes()?),
        Cmd::Set => parse_set(a)?,
        Cmd::Incr => Request::IncrBy {
            key: a.bytes()?,
            delta: 1,
        },
        Cmd::Decr => Request::IncrBy {
            key: a.bytes()?,
            delta: -1,
        },
        Cmd::Incrby => Request::IncrBy {
            key: a.bytes()?,
            delta: a.int()?,
        },
        Cmd::Decrby => {
            let key = a.bytes()?;
            let delta = a.int()?;
            let delta = delta.checked_neg().ok_or(ServerError::new_static(
                ErrorCode::Overflow,
                "ERR decrement would overflow",
            ))?;
            Request::IncrBy { key, delta }
        }
        Cmd::Incrbound => parse_incrbound(a)?,
        Cmd::Mget => Request::MGet(a.rest()),
        Cmd::Mset | Cmd::Msetnx => parse_mset(id, a)?,
        Cmd::Setnx => Request::SetNx {
            key: a.bytes()?,
            value: a.bytes()?,
        },
        Cmd::Setex | Cmd::Psetex => {
            let key = a.bytes()?;
            let amount = a.int()?;
            if amount <= 0 {
                return Err(ServerError::invalid_expire(a.name));
            }
            let deadline = match id {
                Cmd::Setex => Deadline::InSeconds(amount),
                _ => Deadline::InMillis(amount),
            };
            Request::SetEx {
                key,
                deadline,
                value: a.bytes()?,
            }
        }
        // GETSET is `SET key value GET`: same reply, the TTL removed.
        Cmd::Getset => Request::Set {
            key: a.bytes()?,
            value: a.bytes()?,
            condition: SetCondition::Always,
            get: true,
            expiry: SetExpiry::Clear,
        },
        Cmd::Getdel => Request::GetDel(a.bytes()?),
        Cmd::Getex => parse_getex(a)?,
        Cmd::Append => Request::Append {
            key: a.bytes()?,
            value: a.bytes()?,
        },
        Cmd::Strlen => Request::Strlen(a.bytes()?),
        Cmd::Setrange => {
            let key = a.bytes()?;
            let offset = u64::try_from(a.int()?)
                .map_err(|_| ServerError::out_of_range("ERR offset is out of range"))?;
            Request::SetRange {
                key,
                offset,
                value: a.bytes()?,
            }
        }
        Cmd::Getrange => Request::GetRange {
            key: a.bytes()?,
            start: a.int()?,
            end: a.int()?,
        },
        Cmd::Incrbyfloat => Request::IncrByFloat {
            key: a.bytes()?,
            delta: a.next_arg()?.to_f64()?,
        },
        _ => unreachable!("{id:?} is not a string command"),
    })
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms |
/// KEEPTTL]`.
fn parse_set(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let value = a.bytes()?;
    let mut condition = SetCondition::Always;
    let mut get = false;
    let mut keep_ttl = false;
    // As in Redis: options may repeat (the last expiry wins), incompatible
    // ones are a syntax error, and the expiry number is checked only after
    // every option was read, so syntax errors take precedence.
    let mut expiry: Option<(&'static str, ArgRef<'_>)> = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        let upper = option.to_ascii_uppercase();
        let unit = match upper.as_slice() {
            b"EX" => Some("EX"),
            b"PX" => Some("PX"),
            b"EXAT" => Some("EXAT"),
            b"PXAT" => Some("PXAT"),
            _ => None,
        };
        match (upper.as_slice(), unit) {
            (b"NX", _) if condition != SetCondition::IfPresent => {
                condition = SetCondition::IfAbsent
            }
            (b"XX", _) if condition != SetCondition::IfAbsent => {
                condition = SetCondition::IfPresent
            }
            (b"GET", _) => get = true,
            (b"KEEPTTL", _) if expiry.is_none() => keep_ttl = true,
            (_, Some(unit))
                if !keep_ttl
                    && expiry.as_ref().is_none_or(|(given, _)| *given == unit)
                    && a.remaining() > 0 =>
            {
                let amount = a.next_arg()?;
                expiry = Some((unit, amount));
            }
            _ => return Err(ServerError::SYNTAX),
        }
    }
    let expiry = set_expiry(keep_ttl, expiry)?;
    Ok(Request::Set {
        key,
        value,
        condition,
        get,
        expiry,
    })
}

/// SET's expiry once every option was read: the amount is checked last, as
/// in Redis, so that syntax errors take precedence.
fn set_expiry(
    keep_ttl: bool,
    expiry: Option<(&'static str, ArgRef<'_>)>,
) -> Result<SetExpiry, ServerError> {
    Ok(match expiry {
        None if keep_ttl => SetExpiry::Keep,
        None => SetExpiry::Clear,
        Some((unit, amount)) => {
            let amount = amount.to_i64()?;
            if amount <= 0 {
                return Err(ServerError::invalid_expire("set"));
            }
            SetExpiry::At(match unit {
                "EX" => Deadline::InSeconds(amount),
                "PX" => Deadline::InMillis(amount),
                "EXAT" => Deadline::AtSeconds(amount),
                _ => Deadline::AtMillis(amount),
            })
        }
    })
}

/// `MSET key value [key value ...]` and `MSETNX`: an odd count of
/// arguments after the name is an arity error, as in Redis.
fn parse_mset(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    if !a.remaining().is_multiple_of(2) {
        return Err(ServerError::wrong_arity(a.name));
    }
    let pairs = a.remaining() / 2;
    let mut keys = Vec::with_capacity(pairs);
    let mut values = Vec::with_capacity(pairs);
    while a.remaining() > 0 {
        keys.push(a.bytes()?);
        values.push(a.bytes()?);
    }
    Ok(Request::MSet {
        keys,
        values,
        only_new: id == Cmd::Msetnx,
    })
}

/// `GETEX key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]`: one
/// option at most (Redis refuses a second as a syntax error).
fn parse_getex(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let mut expiry = GetExExpiry::Keep;
    while a.remaining() > 0 {
        if expiry != GetExExpiry::Keep {
            return Err(ServerError::SYNTAX);
        }
        let option = a.next_arg()?;
        if option.is_keyword("PERSIST") {
            expiry = GetExExpiry::Persist;
            continue;
        }
        let unit: fn(i64) -> Deadline = if option.is_keyword("EX") {
            Deadline::InSeconds
        } else if option.is_keyword("PX") {
            Deadline::InMillis
        } else if option.is_keyword("EXAT") {
            Deadline::AtSeconds
        } else if option.is_keyword("PXAT") {
            Deadline::AtMillis
        } else {
            return Err(ServerError::SYNTAX);
        };
        if a.remaining() == 0 {
            return Err(ServerError::SYNTAX);
        }
        expiry = match a.int() {
            Ok(amount) => GetExExpiry::At(unit(amount)),
            Err(_) => GetExExpiry::NotInteger,
        };
    }
    Ok(Request::GetEx { key, expiry })
}

/// `INCRBOUND key delta [MIN floor] [MAX cap]`.
fn parse_incrbound(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let delta = a.int()?;
    let mut min = None;
    let mut max = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"MIN") && min.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            min = Some(a.int()?);
        } else if option.eq_ignore_ascii_case(b"MAX") && max.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            max = Some(a.int()?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    if let (Some(floor), Some(cap)) = (min, max) {
        if floor > cap {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR MIN is greater than MAX",
            ));
        }
    }
    Ok(Request::IncrBound {
        key,
        delta,
        min,
        max,
    })
}
