//! The tap on committed batches: the one interface through which whatever
//! follows the log as it is written (replication, a change feed) gets its
//! records, exactly as written, once they are durable per the fsync policy,
//! which is when the batch's replies may go out.

/// Records committed together: one or more whole records, exactly the
/// bytes written to the log.
#[derive(Clone, Copy, Debug)]
pub struct CommittedBatch<'a> {
    /// The format version of the records (the segment header's `version`).
    pub version: u32,
    /// The position of the first record in `records`.
    pub first_lsn: u64,
    /// The position of the last record in `records`.
    pub last_lsn: u64,
    /// The encoded records (`log::record` decodes them).
    pub records: &'a [u8],
}

/// A subscriber to committed batches, registered on the engine before it
/// starts ([`crate::engine::Engine::add_commit_tap`]). It runs on the
/// engine thread, once per commit, in position order, and sees nothing of
/// a commit that failed: it must return quickly (copy or hand off).
pub trait CommitTap: Send {
    fn committed(&mut self, batch: &CommittedBatch<'_>);
}
