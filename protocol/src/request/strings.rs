//! Strings and counters: `GET`, `SET`, `INCR`, `DECR`, `INCRBY`, `DECRBY`
//! and `INCRBOUND`.

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
