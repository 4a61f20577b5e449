//! usher: an in-memory state server for ticket and flash sales.
//!
//! Data path: socket → [`connection`] (decode binary or RESP) → bounded
//! command queue → [`engine`] thread → `State::apply(request, now_ms)` →
//! replies in request order.
//!
//! Module map:
//! - [`config`]     — every setting and limit, with units in the names (flags + TOML).
//! - [`server`]     — binds the port, starts the engine and the network runtime, shuts down.
//! - [`connection`] — one client: decode, answer connection commands, batch to the engine, reply.
//! - [`engine`]     — the engine thread: drains batches, applies them, replies; runs timers.
//! - [`reactor`]    — the mio loop on the engine thread: sockets, frames, rounds, held replies.
//! - [`wait`]       — the wait registry: blocking commands' requests parked on keys or deadlines.
//! - [`state`]      — `State` and `apply`: all data, one file per command family.
//! - [`wal`]        — the append-only log: checksummed records, group commit, fsync policy.
//! - [`snapshot`]   — incremental snapshots written off the engine thread, and loading.
//! - [`recovery`]   — start-up recovery (snapshot + log replay) and `usher-server check`.
//! - [`info`]       — the INFO text.
//! - [`client`]     — async binary-protocol client (usher-cli, tests, benches).
//! - [`cli`]        — usher-cli's line handling, reply printing, help and completion.
//! - [`clock`]      — system and manual clocks.
//! - [`stats`]      — counters shared by the network and the engine.
//! - [`glob`]       — Redis glob patterns (SCAN MATCH, CONFIG GET).
//! - [`alloc`]      — a counting global allocator for memory figures.
//!
//! The wire types and codecs live in the `usher-protocol` crate (`protocol/`).

pub mod alloc;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod connection;
pub mod engine;
pub mod glob;
pub mod info;
pub mod reactor;
pub mod recovery;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod wait;
pub mod wal;

pub use usher_protocol as protocol;
