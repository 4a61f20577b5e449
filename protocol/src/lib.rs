//! usher-protocol: everything that crosses the wire, with no I/O and no state.
//!
//! Module map:
//! - [`error`]    — stable numbered error codes and the error reply value.
//! - [`number`]   — integers and doubles as Redis reads and writes them.
//! - [`args`]     — a request's arguments: owned (`Arg`) or as decoded (`ArgList`:
//!   the frame once, and where each argument lies in it).
//! - [`request`]  — `Request` (one variant per command) and the argument parser
//!   shared by both codecs, one file per command family.
//! - [`commands`] — the command table (arity, flags, syntax, summary) behind the
//!   parser, `COMMAND` and `usher-cli help`.
//! - [`reply`]    — `Reply`, the typed reply of every command.
//! - [`codec`]    — what both decoders share: `Decoded` and `Limits`.
//! - [`binary`]   — the binary protocol v1 codec (spec: `SPEC.md`).
//! - [`resp`]     — the RESP2/RESP3 codec, multibulk and inline.
//!
//! Both decoders answer [`Decoded::Incomplete`] ("read more") as a normal
//! outcome, distinct from [`Decoded::Invalid`] (close the connection).
//!
//! Imports run one way, so no two modules need each other: `error` and
//! `number` import nothing of the crate; `args` uses them; `reply` uses
//! `error`; `codec` uses `error`; `binary` and `resp` use those; `request`
//! uses `args`, `commands`, `error`, `number` and `binary` (for the
//! idempotency key's bound). This file only re-exports.

pub mod args;
pub mod binary;
pub mod codec;
pub mod commands;
pub mod error;
pub mod number;
pub mod reply;
pub mod request;
pub mod resp;

pub use args::{Arg, ArgList, ArgRef};
pub use codec::{Decoded, Limits};
pub use error::{ErrorCode, ServerError};
pub use reply::Reply;
pub use request::{
    parse, parse_command, parse_list, ConnectionCommand, LPosOptions, ListItems, Request, SeatList,
};
