//! What survives a restart or a crash: the log, snapshots, recovery and
//! replay on real data directories, the committed-batch tap, files written
//! by the version-1 format (`tests/fixtures/v1`), and the `usher-server`
//! crash harness.

mod commit_tap;
mod crash;
mod decoders;
mod fixtures_v1;
mod hashes;
mod lists;
mod log_format;
mod preallocation;
mod recovery;
mod replay;
mod seats;
mod sets;
mod snapshot;
mod strings;
mod transactions;
