//! Stable error codes and the error value carried in replies.
//!
//! Every operating error a client can see has a numeric code (sent in binary
//! replies) and a message whose first word is a Redis-style prefix (sent as the
//! RESP error line). Codes are part of the wire contract: a code is never
//! renumbered or reused; new errors get new numbers at the end.

use std::borrow::Cow;
use std::fmt;

/// A numbered error kind. The discriminants are the wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// Any error without a more specific code. Do not retry unchanged.
    Generic = 1,
    /// The key holds a value of another type (`WRONGTYPE`).
    WrongType = 2,
    /// The arguments do not follow the command's syntax.
    Syntax = 3,
    /// An argument or stored value is not a 64-bit integer.
    NotInteger = 4,
    /// The arithmetic would overflow a 64-bit integer.
    Overflow = 5,
    /// The command name is not known.
    UnknownCommand = 6,
    /// The command got the wrong number of arguments.
    WrongArity = 7,
    /// The bytes on the connection are not a valid frame; the server closes it.
    Protocol = 8,
    /// The server's command queue is full. Retry after a short pause.
    Busy = 9,
    /// A configured limit (key length, value length, argument count...) was hit.
    Limit = 10,
    /// The key-count or memory limit is reached; writes are refused.
    OutOfMemory = 11,
    /// An expire time is negative, zero where not allowed, or overflows.
    InvalidExpire = 12,
    /// An argument is not a valid floating point number.
    NotFloat = 13,
    /// The command needs an existing key and there is none.
    NoSuchKey = 14,
    /// The server could not make the effect durable; it stops acknowledging writes.
    Durability = 15,
    /// The server is shutting down.
    ShuttingDown = 16,
    /// The waiting room is closed (`QUEUE.CLOSE`): nobody may join any more.
    QueueClosed = 17,
    /// A number is outside its allowed range (a seat beyond the event, a
    /// quantity below 1, a total below what is already held and sold). Do not
    /// retry unchanged.
    OutOfRange = 18,
    /// `SEAT.CONFIRM` for a holder that holds nothing: the hold expired or
    /// was released before the confirmation arrived. Do not retry; hold again.
    NotHeld = 19,
    /// The command creates a key that already exists (`BUSYKEY`).
    KeyExists = 20,
    /// A `REQ` id was reused, within the idempotency window, for a different
    /// command. Do not retry; use a fresh id for a new operation.
    IdempotencyMismatch = 21,
    /// The connection has not logged in (`NOAUTH`): send `AUTH` first.
    NoAuth = 22,
    /// `AUTH` with an unknown user, a wrong password, or a disabled user
    /// (`WRONGPASS`). Do not retry unchanged.
    WrongPass = 23,
    /// The user may not run this command or touch this key (`NOPERM`).
    NoPerm = 24,
}

impl ErrorCode {
    /// Every code, in wire order; used by the spec test and by clients.
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::Generic,
        ErrorCode::WrongType,
        ErrorCode::Syntax,
        ErrorCode::NotInteger,
        ErrorCode::Overflow,
        ErrorCode::UnknownCommand,
        ErrorCode::WrongArity,
        ErrorCode::Protocol,
        ErrorCode::Busy,
        ErrorCode::Limit,
        ErrorCode::OutOfMemory,
        ErrorCode::InvalidExpire,
        ErrorCode::NotFloat,
        ErrorCode::NoSuchKey,
        ErrorCode::Durability,
        ErrorCode::ShuttingDown,
        ErrorCode::QueueClosed,
        ErrorCode::OutOfRange,
        ErrorCode::NotHeld,
        ErrorCode::KeyExists,
        ErrorCode::IdempotencyMismatch,
        ErrorCode::NoAuth,
        ErrorCode::WrongPass,
        ErrorCode::NoPerm,
    ];

    /// The wire value.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// Decodes a wire value; unknown codes (from a newer server) are `None`.
    pub fn from_u16(value: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_u16() == value)
    }

    /// Whether sending the same request again later may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorCode::Busy | ErrorCode::ShuttingDown)
    }
}

/// An error reply: a stable code plus a human-readable message that starts
/// with the RESP prefix (`ERR`, `WRONGTYPE`, `BUSY`, `OOM`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl ServerError {
    pub const fn new_static(code: ErrorCode, message: &'static str) -> ServerError {
        ServerError {
            code,
            message: Cow::Borrowed(message),
        }
    }

    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> ServerError {
        ServerError {
            code,
            message: message.into(),
        }
    }

    pub const WRONG_TYPE: ServerError = ServerError::new_static(
        ErrorCode::WrongType,
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    pub const SYNTAX: ServerError = ServerError::new_static(ErrorCode::Syntax, "ERR syntax error");
    pub const NOT_INTEGER: ServerError = ServerError::new_static(
        ErrorCode::NotInteger,
        "ERR value is not an integer or out of range",
    );
    pub const OVERFLOW: ServerError = ServerError::new_static(
        ErrorCode::Overflow,
        "ERR increment or decrement would overflow",
    );
    pub const BUSY: ServerError = ServerError::new_static(
        ErrorCode::Busy,
        "BUSY server command queue is full, retry later",
    );
    pub const SHUTTING_DOWN: ServerError =
        ServerError::new_static(ErrorCode::ShuttingDown, "SHUTDOWN server is shutting down");
    pub const NOT_FLOAT: ServerError =
        ServerError::new_static(ErrorCode::NotFloat, "ERR value is not a valid float");

    pub const NO_AUTH: ServerError =
        ServerError::new_static(ErrorCode::NoAuth, "NOAUTH Authentication required.");
    pub const WRONG_PASS: ServerError = ServerError::new_static(
        ErrorCode::WrongPass,
        "WRONGPASS invalid username-password pair or user is disabled.",
    );
    pub const NO_PERM_KEY: ServerError =
        ServerError::new_static(ErrorCode::NoPerm, "NOPERM No permissions to access a key");

    /// `NOPERM` for a command (`flushall`, or `acl|setuser` for a
    /// subcommand), as Redis words it.
    pub fn no_perm_command(user: &str, command: &str) -> ServerError {
        ServerError::new(
            ErrorCode::NoPerm,
            format!("NOPERM User {user} has no permissions to run the '{command}' command"),
        )
    }

    /// A command that may grow memory, refused while used memory is over
    /// `memory_bytes_max` (Redis's text, with usher's setting name).
    pub const OOM_MEMORY: ServerError = ServerError::new_static(
        ErrorCode::OutOfMemory,
        "OOM command not allowed when used memory > 'memory_bytes_max'.",
    );
    /// A connection refused at `connections_max` (Redis's text).
    pub const MAX_CLIENTS: ServerError =
        ServerError::new_static(ErrorCode::Limit, "ERR max number of clients reached");

    pub const NO_SUCH_KEY: ServerError =
        ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such key");

    pub fn out_of_range(message: impl Into<Cow<'static, str>>) -> ServerError {
        ServerError::new(ErrorCode::OutOfRange, message)
    }

    pub fn wrong_arity(command: &str) -> ServerError {
        ServerError::new(
            ErrorCode::WrongArity,
            format!(
                "ERR wrong number of arguments for '{}' command",
                command.to_ascii_lowercase()
            ),
        )
    }

    pub fn invalid_expire(command: &str) -> ServerError {
        ServerError::new(
            ErrorCode::InvalidExpire,
            format!(
                "ERR invalid expire time in '{}' command",
                command.to_ascii_lowercase()
            ),
        )
    }

    pub fn limit(what: &str, max: u64) -> ServerError {
        ServerError::new(
            ErrorCode::Limit,
            format!("ERR {what} exceeds the configured limit of {max}"),
        )
    }

    pub fn protocol(detail: impl fmt::Display) -> ServerError {
        ServerError::new(ErrorCode::Protocol, format!("ERR Protocol error: {detail}"))
    }

    pub fn generic(message: impl Into<Cow<'static, str>>) -> ServerError {
        ServerError::new(ErrorCode::Generic, message)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code.as_u16())
    }
}

impl std::error::Error for ServerError {}
