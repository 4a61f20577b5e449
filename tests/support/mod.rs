//! Helpers shared by the integration tests.
//!
//! - `state`: a `State` driven by text commands at explicit times, with the
//!   invariants checked after every command.
//! - `server`: test configs, servers started on port 0, raw RESP and binary
//!   connections with bounded reads.
//! - `resp`: RESP replies as read off the wire, and their parser.
//! - `rng`: a small seeded generator, so a printed seed replays.

pub mod resp;
pub mod rng;
pub mod server;
pub mod state;
