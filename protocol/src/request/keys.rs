//! Generic key commands: `DEL`, `UNLINK`, `EXISTS`, `TYPE`, the `EXPIRE`
//! family, `TTL`, `PTTL`, `PERSIST`, `SCAN`, `KEYS`, `RENAME`, `RENAMENX`,
//! `COPY`, `TOUCH`, `RANDOMKEY`, `EXPIRETIME`, `PEXPIRETIME`, `FLUSHDB` and
//! `OBJECT`, and the deadline types `SET` shares with them.

use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// How `SET` and `EXPIRE` spell a deadline before the engine turns it into an
/// absolute time. Relative amounts are resolved against the engine's clock, so
/// the log only ever sees absolute deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Seconds from now (`EX`, `EXPIRE`).
    InSeconds(i64),
    /// Milliseconds from now (`PX`, `PEXPIRE`).
    InMillis(i64),
    /// Unix time in seconds (`EXAT`, `EXPIREAT`).
    AtSeconds(i64),
    /// Unix time in milliseconds (`PXAT`, `PEXPIREAT`).
    AtMillis(i64),
}

impl Deadline {
    /// The absolute deadline in Unix milliseconds, or `None` if it overflows.
    pub fn resolve(self, now_ms: u64) -> Option<i64> {
        let now = i64::try_from(now_ms).ok()?;
        match self {
            Deadline::InSeconds(s) => s.checked_mul(1000)?.checked_add(now),
            Deadline::InMillis(ms) => ms.checked_add(now),
            Deadline::AtSeconds(s) => s.checked_mul(1000),
            Deadline::AtMillis(ms) => Some(ms),
        }
    }

    /// Whether the amount itself is acceptable to Redis (relative amounts and
    /// `SET` deadlines must be positive).
    pub fn amount(self) -> i64 {
        match self {
            Deadline::InSeconds(v)
            | Deadline::InMillis(v)
            | Deadline::AtSeconds(v)
            | Deadline::AtMillis(v) => v,
        }
    }
}

/// `EXPIRE` family conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    #[default]
    Always,
    /// `NX`: only when the key has no expiry.
    NoExpiry,
    /// `XX`: only when the key has an expiry.
    HasExpiry,
    /// `GT`: only when the new expiry is later (no expiry counts as infinite).
    Later,
    /// `LT`: only when the new expiry is sooner (no expiry counts as infinite).
    Sooner,
    /// `XX LT`: only when the key has an expiry and the new one is sooner.
    SoonerWithExpiry,
}

/// What `OBJECT` asks about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectQuery {
    Encoding,
    Freq,
    IdleTime,
    RefCount,
}

impl ObjectQuery {
    /// The subcommand's lower-case name, as `object|sub` ACL rules name it.
    pub fn name(self) -> &'static str {
        match self {
            ObjectQuery::Encoding => "encoding",
            ObjectQuery::Freq => "freq",
            ObjectQuery::IdleTime => "idletime",
            ObjectQuery::RefCount => "refcount",
        }
    }
}

/// Parses the key command `id`:
/// - `DEL key [key ...]`, `UNLINK key [key ...]`, `EXISTS key [key ...]`
/// - `TYPE key`, `TTL key`, `PTTL key`, `PERSIST key`
/// - the `EXPIRE` family and `SCAN` (below)
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        // DEL already frees large values on a background thread (lazy
        // free), which is what UNLINK asks for.
        Cmd::Del | Cmd::Unlink => Request::Del(a.rest()),
        Cmd::Exists => Request::Exists(a.rest()),
        Cmd::Type => Request::Type(a.bytes()?),
        Cmd::Expire | Cmd::Pexpire | Cmd::Expireat | Cmd::Pexpireat => parse_expire(id, a)?,
        Cmd::Ttl => Request::Ttl(a.bytes()?),
        Cmd::Pttl => Request::Pttl(a.bytes()?),
        Cmd::Persist => Request::Persist(a.bytes()?),
        Cmd::Scan => parse_scan(a)?,
        Cmd::Keys => Request::Keys(a.bytes()?),
        Cmd::Rename | Cmd::Renamenx => Request::Rename {
            keys: [a.bytes()?, a.bytes()?],
            only_new: id == Cmd::Renamenx,
        },
        Cmd::Copy => parse_copy(a)?,
        Cmd::Touch => Request::Touch(a.rest()),
        Cmd::Randomkey => Request::RandomKey,
        Cmd::Expiretime | Cmd::Pexpiretime => Request::ExpireTime {
            key: a.bytes()?,
            millis: id == Cmd::Pexpiretime,
        },
        Cmd::Flushdb => parse_flush(a)?,
        Cmd::Object => parse_object(a)?,
        _ => unreachable!("{id:?} is not a key command"),
    })
}

/// `COPY source destination [DB 0] [REPLACE]`. Only database 0 exists, so
/// any other `DB` is refused with the error Redis gives for a database out
/// of range.
fn parse_copy(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let keys = [a.bytes()?, a.bytes()?];
    let mut replace = false;
    while a.remaining() > 0 {
        let option = a.next_arg()?;
        if option.is_keyword("REPLACE") {
            replace = true;
        } else if option.is_keyword("DB") && a.remaining() > 0 {
            if a.int()? != 0 {
                return Err(ServerError::out_of_range("ERR DB index is out of range"));
            }
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::Copy { keys, replace })
}

/// `FLUSHDB [ASYNC | SYNC]`: the one database, so the same as `FLUSHALL`.
/// Both modes are accepted; flushing is always immediate (the freeing is
/// done by the freeing thread either way).
fn parse_flush(a: &mut Args<'_>) -> Result<Request, ServerError> {
    if let Some(mode) = a.peek_keyword() {
        if !(mode.is_keyword("ASYNC") || mode.is_keyword("SYNC")) {
            return Err(ServerError::SYNTAX);
        }
        a.next_arg()?;
    }
    a.end_syntax()?;
    Ok(Request::FlushAll)
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key` and `OBJECT HELP`, with
/// Redis's errors for a wrong count of arguments (named `object|sub`) and
/// an unknown subcommand.
fn parse_object(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let sub = a.next_arg()?;
    let (query, name) = if sub.is_keyword("ENCODING") {
        (ObjectQuery::Encoding, "object|encoding")
    } else if sub.is_keyword("FREQ") {
        (ObjectQuery::Freq, "object|freq")
    } else if sub.is_keyword("IDLETIME") {
        (ObjectQuery::IdleTime, "object|idletime")
    } else if sub.is_keyword("REFCOUNT") {
        (ObjectQuery::RefCount, "object|refcount")
    } else if sub.is_keyword("HELP") {
        if a.remaining() > 0 {
            return Err(ServerError::wrong_arity("object|help"));
        }
        return Ok(Request::ObjectHelp);
    } else {
        let text = match sub {
            crate::args::ArgRef::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => format!("{other:?}"),
        };
        return Err(ServerError::new(
            ErrorCode::Syntax,
            format!("ERR unknown subcommand '{text}'. Try OBJECT HELP."),
        ));
    };
    if a.remaining() != 1 {
        return Err(ServerError::wrong_arity(name));
    }
    Ok(Request::Object {
        query,
        key: a.bytes()?,
    })
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`, and `PEXPIRE`, `EXPIREAT` and
/// `PEXPIREAT` with milliseconds or Unix times.
fn parse_expire(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    // Redis checks the options before the number; keep its error order.
    let amount = a.next_arg()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while a.remaining() > 0 {
        let option = a.bytes()?;
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(ServerError::generic(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(&option)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let amount = amount.to_i64()?;
    let deadline = match id {
        Cmd::Expire => Deadline::InSeconds(amount),
        Cmd::Pexpire => Deadline::InMillis(amount),
        Cmd::Expireat => Deadline::AtSeconds(amount),
        _ => Deadline::AtMillis(amount),
    };
    // GT already fails on a key without expiry (no expiry counts as
    // infinite), so XX GT equals GT; XX LT needs its own variant.
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::NoExpiry,
        (_, _, true, _) => ExpireCondition::Later,
        (_, true, _, true) => ExpireCondition::SoonerWithExpiry,
        (_, _, _, true) => ExpireCondition::Sooner,
        (_, true, ..) => ExpireCondition::HasExpiry,
        _ => ExpireCondition::Always,
    };
    Ok(Request::Expire {
        key,
        deadline,
        condition,
    })
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
fn parse_scan(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let cursor_arg = a.bytes()?;
    let cursor = std::str::from_utf8(&cursor_arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| ServerError::new_static(ErrorCode::Syntax, "ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut type_name = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            let value = a.int().map_err(|e| {
                if e.code == ErrorCode::WrongArity {
                    ServerError::SYNTAX
                } else {
                    e
                }
            })?;
            if value < 1 {
                return Err(ServerError::SYNTAX);
            }
            count = usize::try_from(value).unwrap_or(usize::MAX);
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            type_name = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::Scan {
        cursor,
        pattern,
        count,
        type_name,
    })
}
