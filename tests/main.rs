//! The `usher` crate's integration tests, built as one test binary so that
//! `cargo test` links the library into one executable instead of one per
//! file. Folders by what a test drives:
//!
//! - `state/`: `State::apply` and the state's timers at explicit times, one
//!   file per command family (mirrors `src/state/`).
//! - `server/`: servers started in the process or as the `usher-server` and
//!   `usher-cli` binaries, over real sockets.
//! - `durability/`: the log, snapshots, recovery and replay on real data
//!   directories, and the crash harness.
//! - `simulation/`: seeded simulations checked against reference models.
//! - `config.rs`: the config's defaults against the libraries' own.
//! - `support/`: helpers the folders share.
//!
//! One folder or file runs by its module path, e.g.
//! `cargo test --test usher state::zset`.

mod config;
mod durability;
mod server;
mod simulation;
mod state;
mod support;
