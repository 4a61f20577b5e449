//! What survives a restart or a crash: the log, snapshots, recovery and
//! replay on real data directories, and the `usher-server` crash harness.

mod crash;
mod preallocation;
mod recovery;
mod replay;
mod seats;
mod snapshot;
