//! `State` driven directly: commands applied at explicit times, no sockets
//! and no sleeping. One file per command family, named as in `src/state/`.

mod hashes;
mod idempotency;
mod keys;
mod lists;
mod queue;
mod seats;
mod sets;
mod stock;
mod strings;
mod zset;
