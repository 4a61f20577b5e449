//! usher: an in-memory state server for ticket and flash sales.
//!
//! Data path: socket → [`reactor`] (the engine thread's mio loop: read,
//! decode, apply, settle) → [`connection`] (binary or RESP by the first byte)
//! → [`engine`] → `State::apply(request, now_ms)` ([`state`]) → effects to
//! the [`log`], synced once per round → replies in request order.
//! ARCHITECTURE.md is the map: data path, invariants, how to add things.
//!
//! Module map:
//! - [`config`]     — every setting and limit, with units in the names (flags + TOML).
//! - [`server`]     — recovery, bind, start the engine thread, shut down.
//! - [`reactor`]    — the engine thread's loop: sockets, rounds, held replies, in-process submissions.
//! - [`transport`]  — a connection's byte stream: plain TCP, or TLS (rustls) driven by the reactor.
//! - [`tls`]        — rustls server and client configurations from PEM files and the TLS settings.
//! - [`connection`] — one client's protocol state: codec, frames, connection-level commands, the permission check.
//! - [`acl`]        — users and permissions (Redis ACL subset): users file, rules, AUTH, ACL commands and log.
//! - [`limits`]     — limits that close clients (output/input buffers, idle) and the memory bound.
//! - [`refusals`]   — connections refused at `connections_max`: an error in their codec, logged per second.
//! - [`engine`]     — the batch around `State::apply`: clock, commit tickets, timers, snapshot slices.
//! - [`wait`]       — the wait registry: blocked requests parked on keys or conditions until a change or a deadline.
//! - [`state`]      — `State` and `apply`: all data, one file or folder per command family.
//! - [`log`]        — the append-only log: record codec, segments, spares, group commit, commit tap.
//! - [`snapshot`]   — incremental snapshots written off the engine thread, and loading.
//! - [`recovery`]   — start-up recovery (snapshot + log replay) and `usher-server check`.
//! - [`encoding`]   — byte primitives of every on-disk format: `Reader`, `put_*`, `DecodeError`.
//! - [`info`]       — the INFO text.
//! - [`client`]     — async binary-protocol client (usher-cli, tests, benches).
//! - [`cli`]        — usher-cli's line handling, reply printing, help and completion.
//! - [`clock`]      — system and manual clocks.
//! - [`stats`]      — counters shared by the engine and INFO.
//! - [`glob`]       — Redis glob patterns (SCAN MATCH, CONFIG GET).
//! - [`alloc`]      — the counting global allocator; large allocations as mappings.
//!
//! The wire types and codecs live in the `usher-protocol` crate (`protocol/`).

pub mod acl;
pub mod alloc;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod connection;
pub mod encoding;
pub mod engine;
pub mod glob;
pub mod info;
pub mod limits;
pub mod log;
pub mod multi;
pub mod reactor;
pub mod recovery;
pub mod refusals;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod wait;
pub mod watch;

pub use usher_protocol as protocol;
