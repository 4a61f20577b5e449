//! Exactly-once retries: `REQ id command [args ...]` (and a binary frame's
//! idempotency key, which the connection turns into the same request), and
//! the command fingerprint that tells a retry from a reused id.

use bytes::Bytes;

use super::{parse_from, Request};
use crate::args::{Arg, ArgList, ArgRef};
use crate::error::{ErrorCode, ServerError};
use crate::number::double_text;

/// Longest `REQ` id in bytes; the same bound as the binary frame's
/// idempotency key, since both name the same table.
pub const REQ_ID_BYTES_MAX: usize = crate::binary::IDEMPOTENCY_KEY_BYTES_MAX;

/// A stable 64-bit fingerprint (FNV-1a) of a command's arguments, name
/// included and upper-cased, each argument taken in its text form and
/// prefixed by its length. Integers and doubles sent as typed binary
/// arguments hash like their decimal text, so the same command gives the
/// same fingerprint over either codec. Stable across processes and
/// versions: it is stored with remembered replies and will be persisted.
pub fn fingerprint(args: &[Arg]) -> u64 {
    fingerprint_of(args.iter().map(Arg::as_ref))
}

/// [`fingerprint`] of a decoded list's arguments from `from` on.
pub fn fingerprint_list(list: &ArgList, from: usize) -> u64 {
    fingerprint_of(list.iter().skip(from))
}

fn fingerprint_of<'a>(args: impl Iterator<Item = ArgRef<'a>>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    fn eat(mut hash: u64, bytes: &[u8], upper: bool) -> u64 {
        for &byte in (bytes.len() as u64).to_le_bytes().iter() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        for &byte in bytes {
            let byte = if upper {
                byte.to_ascii_uppercase()
            } else {
                byte
            };
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        hash
    }
    let mut hash = OFFSET;
    let mut digits = itoa::Buffer::new();
    for (position, arg) in args.enumerate() {
        let upper = position == 0;
        hash = match arg {
            ArgRef::Bytes(bytes) => eat(hash, bytes, upper),
            ArgRef::Int(value) => eat(hash, digits.format(value).as_bytes(), upper),
            ArgRef::Double(value) => eat(hash, double_text(value).as_str().as_bytes(), upper),
        };
    }
    hash
}

impl Request {
    /// Wraps a parsed command for exactly-once execution under `id` (the
    /// `REQ` prefix, or a binary frame's idempotency key). Refuses ids of the
    /// wrong size and commands that never reach the state: connection-level
    /// commands, `INFO`, and another `REQ`.
    pub fn idempotent(
        id: Bytes,
        fingerprint: u64,
        command: Request,
    ) -> Result<Request, ServerError> {
        if id.is_empty() || id.len() > REQ_ID_BYTES_MAX {
            return Err(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR REQ id is {} bytes; ids must be 1 to {REQ_ID_BYTES_MAX} bytes",
                    id.len()
                ),
            ));
        }
        if matches!(
            command,
            Request::Connection(_)
                | Request::Info(_)
                | Request::Req { .. }
                | Request::Watch(_)
                | Request::Unwatch
                | Request::Exec(_)
        ) {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR REQ wraps data commands only, not connection or transaction commands, INFO or another REQ",
            ));
        }
        Ok(Request::Req {
            id,
            fingerprint,
            command: Box::new(command),
        })
    }
}

/// `REQ id command [args ...]`: the wrapped command is parsed like any other
/// (its own arity and syntax errors are reported as they are).
pub(super) fn parse_req(args: &ArgList, from: usize) -> Result<Request, ServerError> {
    // `from + 1` is the id; the wrapped command starts after it.
    let inner = from + 2;
    // Refused before recursing so that `REQ a REQ b REQ c ...` cannot nest
    // the parser arbitrarily deep.
    if args.get(inner).is_some_and(|name| name.is_keyword("REQ")) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR REQ wraps data commands only, not connection commands, INFO or another REQ",
        ));
    }
    let id = args
        .bytes(from + 1)
        .ok_or_else(|| ServerError::wrong_arity("REQ"))?;
    let fingerprint = fingerprint_list(args, inner);
    let command = parse_from(args, inner)?;
    Request::idempotent(id, fingerprint, command)
}
