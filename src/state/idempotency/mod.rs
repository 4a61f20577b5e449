//! Exactly-once retries: `REQ id command [args ...]` ([`commands`]) and the
//! table of remembered replies behind it ([`table`], with its effects in
//! [`effects`]) (the binary protocol's idempotency key
//! arrives here as the same request).
//!
//! The first time an id is seen the command runs and its reply, whatever it
//! is (errors included: they are that attempt's outcome), is remembered with
//! a deadline of now + `idempotency_window_ms`. A repeat of the id before
//! the deadline returns the remembered reply unchanged and changes nothing.
//! The same id with a different command (a different [`fingerprint`]) is
//! refused with `IdempotencyMismatch` rather than answered with a reply that
//! belongs to another command. After the deadline the id is forgotten and
//! may be used again.
//!
//! The table holds at most `idempotency_entries_max` entries. When it is
//! full, entries past their deadline are dropped first; if it is still full
//! the command is refused (and does not run) with a `Limit` error.
//!
//! Durability: the entries are part of the state, so they survive a
//! restart. They are not keys; their effects name ids (see [`effects`]):
//! - `ReqEffect::Remember { id, fingerprint, deadline_ms, reply }`, recorded after
//!   the wrapped command's own effects in the same batch, so group commit
//!   makes the effect and the memory of it durable together before the
//!   client sees the reply;
//! - `ReqEffect::Forget { id }`, recorded by [`IdempotencyTable::forget_expired`],
//!   the one function through which time removes an entry (timer, access,
//!   or making room);
//! - FLUSHALL forgets every entry (its one `FlushAll` effect says so);
//! - snapshots hold every entry with the log position it was captured at,
//!   walked by position like keys ([`IdempotencyTable::at`]).
//!
//! Replay needs no clock: deadlines are absolute.
//!
//! [`fingerprint`]: usher_protocol::request::fingerprint

pub mod commands;
pub mod effects;
pub mod table;

pub use commands::*;
pub use effects::ReqEffect;
pub use table::{IdempotencyTable, Remembered};
