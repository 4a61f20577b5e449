//! The typed reply every command produces, independent of the codec that
//! carries it. The binary codec sends it as tagged values; the RESP codec
//! maps it onto RESP2 or RESP3 types.

use bytes::Bytes;
use std::borrow::Cow;

use crate::error::ServerError;

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A short status line (`+OK`, `+PONG`).
    Simple(Cow<'static, str>),
    /// A binary-safe string.
    Bulk(Bytes),
    /// A string value that happens to be stored as an integer; it is sent as
    /// a string (its decimal text) so GET on a counter needs no allocation.
    BulkInt(i64),
    /// An integer.
    Int(i64),
    /// A double (RESP3 `,`; RESP2 sends its text as a bulk string).
    Double(f64),
    /// The absent value (RESP2 `$-1`, RESP3 `_`).
    Nil,
    /// A boolean (RESP3 `#`; RESP2 sends 1 or 0).
    Bool(bool),
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// Key/value pairs (RESP3 `%`; RESP2 sends a flat array).
    Map(Vec<(Reply, Reply)>),
    /// An error with its stable code.
    Error(ServerError),
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    pub fn bulk_static(text: &'static [u8]) -> Reply {
        Reply::Bulk(Bytes::from_static(text))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<ServerError> for Reply {
    fn from(error: ServerError) -> Reply {
        Reply::Error(error)
    }
}

impl<T: Into<Reply>> From<Result<T, ServerError>> for Reply {
    fn from(result: Result<T, ServerError>) -> Reply {
        match result {
            Ok(reply) => reply.into(),
            Err(error) => Reply::Error(error),
        }
    }
}
