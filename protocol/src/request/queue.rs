//! Waiting-room queues: `QUEUE.CONFIG`, `QUEUE.JOIN`, `QUEUE.POS`,
//! `QUEUE.ADMIT`, `QUEUE.TOUCH`, `QUEUE.LEAVE`, `QUEUE.CLOSE`, `QUEUE.DROP`
//! and `QUEUE.INFO`.

use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// Parses the queue command `id`:
/// - `QUEUE.JOIN queue member`, `QUEUE.POS queue member`,
///   `QUEUE.LEAVE queue member`
/// - `QUEUE.ADMIT queue n`
/// - `QUEUE.CLOSE queue`, `QUEUE.DROP queue`, `QUEUE.INFO queue`
/// - `QUEUE.CONFIG` and `QUEUE.TOUCH` (below)
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::QueueConfig => parse_queue_config(a)?,
        Cmd::QueueJoin => Request::QueueJoin {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueuePos => Request::QueuePos {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueueAdmit => {
            let key = a.bytes()?;
            let count = non_negative(a, "count")?;
            Request::QueueAdmit { key, count }
        }
        Cmd::QueueTouch => parse_queue_touch(a)?,
        Cmd::QueueLeave => Request::QueueLeave {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueueClose => Request::QueueClose(a.bytes()?),
        Cmd::QueueDrop => Request::QueueDrop(a.bytes()?),
        Cmd::QueueInfo => Request::QueueInfo(a.bytes()?),
        _ => unreachable!("{id:?} is not a queue command"),
    })
}

/// `QUEUE.TOUCH queue member [TTL ms]`.
fn parse_queue_touch(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let member = a.bytes()?;
    let ttl_ms = match a.peek_keyword() {
        None => None,
        Some(option) if option.is_keyword("TTL") => {
            a.bytes()?;
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            Some(non_negative(a, "TTL")?)
        }
        Some(_) => return Err(ServerError::SYNTAX),
    };
    a.end_syntax()?;
    Ok(Request::QueueTouch {
        key,
        member,
        ttl_ms,
    })
}

/// Reads an integer that must be 0 or more.
fn non_negative(a: &mut Args<'_>, what: &str) -> Result<u64, ServerError> {
    let value = a.int()?;
    u64::try_from(value)
        .map_err(|_| ServerError::new(ErrorCode::Syntax, format!("ERR {what} must be 0 or more")))
}

/// `QUEUE.CONFIG queue [CAPACITY n] [RATE n PER ms] [TTL ms]`.
fn parse_queue_config(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let mut capacity = None;
    let mut rate = None;
    let mut ttl_ms = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"CAPACITY") && capacity.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            capacity = Some(non_negative(a, "CAPACITY")?);
        } else if option.eq_ignore_ascii_case(b"RATE") && rate.is_none() {
            if a.remaining() < 3 {
                return Err(ServerError::SYNTAX);
            }
            let members = non_negative(a, "RATE")?;
            if !a.next_arg()?.is_keyword("PER") {
                return Err(ServerError::SYNTAX);
            }
            let period_ms = non_negative(a, "the RATE period")?;
            if members > 0 && period_ms == 0 {
                return Err(ServerError::new_static(
                    ErrorCode::Syntax,
                    "ERR the RATE period must be at least 1 ms",
                ));
            }
            rate = Some((members, period_ms));
        } else if option.eq_ignore_ascii_case(b"TTL") && ttl_ms.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            ttl_ms = Some(non_negative(a, "TTL")?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::QueueConfig {
        key,
        capacity,
        rate,
        ttl_ms,
    })
}
