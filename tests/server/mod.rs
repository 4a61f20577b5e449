//! Servers over real sockets on 127.0.0.1: started in this process on port
//! 0, or as the `usher-server` and `usher-cli` binaries.

mod acl;
mod binary;
mod blocking;
mod cli;
mod hashes;
mod keys;
mod limits;
mod lists;
mod resp;
mod seats;
mod sets;
// Named after `src/server.rs`, whose behaviour as a whole it checks.
#[allow(clippy::module_inception)]
mod server;
mod strings;
mod tls;
mod transactions;
mod zset;
