//! A connection's open transaction: the commands queued between `MULTI`
//! and `EXEC`, bounded by `multi_commands_max` and `multi_bytes_max`, and
//! which refusals abort it. The connection (`connection.rs`) owns one while
//! `MULTI` is open; the engine runs the [`Transaction`] on `EXEC`
//! (`Engine::transaction`).
//!
//! As in Redis, a command that cannot be queued (unknown, wrong arity, not
//! permitted, over a limit) makes `EXEC` answer `EXECABORT`; a command with
//! bad arguments is queued with its error, which `EXEC` replies in its
//! place (Redis finds those errors when the transaction runs).

use usher_protocol::request::transaction::{self, Step, Transaction};
use usher_protocol::{ArgList, ArgRef, ErrorCode, Reply, ServerError};

use crate::config::Config;

#[derive(Debug, Default)]
pub struct Multi {
    transaction: Transaction,
    /// Argument bytes queued so far.
    bytes: usize,
}

impl Multi {
    /// Queues `step` (`bytes` of arguments) and replies `+QUEUED`, or
    /// refuses it over a limit and aborts the transaction.
    pub fn enqueue(&mut self, step: Step, bytes: usize, config: &Config) -> Reply {
        let error = if self.transaction.steps.len() >= config.multi_commands_max {
            ServerError::limit(
                "commands queued in a transaction (multi_commands_max)",
                config.multi_commands_max as u64,
            )
        } else if self.bytes + bytes > config.multi_bytes_max {
            ServerError::limit(
                "argument bytes queued in a transaction (multi_bytes_max)",
                config.multi_bytes_max as u64,
            )
        } else {
            self.transaction.steps.push(step);
            self.bytes += bytes;
            return transaction::queued();
        };
        self.transaction.aborted = true;
        Reply::Error(error)
    }

    /// A request that failed to parse or was refused while queuing: queued
    /// with its error, or the transaction aborted.
    pub fn refused(&mut self, error: ServerError, bytes: usize, config: &Config) -> Reply {
        if aborts(&error) {
            self.transaction.aborted = true;
            return Reply::Error(error);
        }
        self.enqueue(Step::Answered(Reply::Error(error)), bytes, config)
    }

    /// The transaction, for `EXEC`.
    pub fn into_transaction(self) -> Transaction {
        self.transaction
    }
}

/// Whether a refusal while queuing aborts the transaction (Redis's
/// `flagTransaction` cases: the command could not be queued at all).
fn aborts(error: &ServerError) -> bool {
    matches!(
        error.code,
        ErrorCode::UnknownCommand
            | ErrorCode::WrongArity
            | ErrorCode::NoAuth
            | ErrorCode::NoPerm
            | ErrorCode::Limit
            | ErrorCode::OutOfMemory
    )
}

/// The bytes of a frame's arguments, what queuing it holds.
pub fn argument_bytes(args: &ArgList) -> usize {
    args.iter()
        .map(|arg| match arg {
            ArgRef::Bytes(bytes) => bytes.len(),
            _ => 8,
        })
        .sum()
}
