//! usher-protocol: everything that crosses the wire, with no I/O and no state.
//!
//! Module map:
//! - [`error`]    — stable numbered error codes and the error reply value.
//! - [`args`]     — a request's arguments: owned (`Arg`) or as decoded (`ArgList`:
//!   the frame once, and where each argument lies in it).
//! - [`request`]  — `Request` (one variant per command) and the argument parser
//!   shared by both codecs.
//! - [`commands`] — the command table (arity, flags, syntax, summary) behind the
//!   parser, `COMMAND` and `usher-cli help`.
//! - [`reply`]    — `Reply`, the typed reply of every command.
//! - [`binary`]   — the binary protocol v1 codec (spec: `SPEC.md`).
//! - [`resp`]     — the RESP2/RESP3 codec, multibulk and inline.
//!
//! Both decoders answer [`Decoded::Incomplete`] ("read more") as a normal
//! outcome, distinct from [`Decoded::Invalid`] (close the connection).

pub mod args;
pub mod binary;
pub mod commands;
pub mod error;
pub mod reply;
pub mod request;
pub mod resp;

pub use args::{Arg, ArgList, ArgRef};
pub use error::{ErrorCode, ServerError};
pub use reply::Reply;
pub use request::{parse, parse_list, Request, SeatList};

/// The outcome of trying to decode one frame from a buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded<T> {
    /// A whole frame was decoded and removed from the buffer.
    Frame(T),
    /// The buffer holds only part of a frame; read more bytes.
    Incomplete,
    /// The bytes can never become a valid frame; reply with the error and
    /// close the connection.
    Invalid(ServerError),
}

/// Decoder limits, taken from the server configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (binary) or request (RESP) in bytes.
    pub frame_bytes_max: usize,
    /// Most arguments in one request, the command name included.
    pub args_max: usize,
    /// Longest inline (telnet-style) RESP command line in bytes.
    pub inline_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            frame_bytes_max: 8 * 1024 * 1024,
            args_max: 65_536,
            inline_bytes_max: 64 * 1024,
        }
    }
}
