//! Transactions: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`, and the
//! [`Transaction`] the connection hands the engine on `EXEC`.
//!
//! The connection queues the commands between `MULTI` and `EXEC` (it
//! answers `+QUEUED`); `EXEC` sends them to the engine as one request, which
//! applies them one after another with nothing in between: one engine step,
//! so their effects share one log record. `WATCH` and `UNWATCH` go to the
//! engine, which sees every change to a key.

use super::connection::ConnectionCommand;
use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::ServerError;
use crate::reply::Reply;

/// The commands queued between `MULTI` and `EXEC`, in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Transaction {
    pub steps: Vec<Step>,
    /// A command failed to queue (unknown, wrong arity, refused): `EXEC`
    /// answers `EXECABORT` and runs nothing.
    pub aborted: bool,
}

/// One queued command.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A command for the engine.
    Run(Request),
    /// A command whose reply was settled without the engine: a
    /// connection-level command (answered when `EXEC` arrives, in order),
    /// or one whose arguments were refused (Redis finds those errors when
    /// the transaction runs, so they do not abort it).
    Answered(Reply),
}

impl Transaction {
    /// Whether any step needs the engine.
    pub fn needs_engine(&self) -> bool {
        self.steps.iter().any(|step| matches!(step, Step::Run(_)))
    }
}

pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Multi => Request::Connection(ConnectionCommand::Multi),
        Cmd::Exec => Request::Connection(ConnectionCommand::Exec),
        Cmd::Discard => Request::Connection(ConnectionCommand::Discard),
        Cmd::Unwatch => Request::Unwatch,
        Cmd::Watch => Request::Watch(a.rest()),
        _ => unreachable!("routed to the transaction parser: {id:?}"),
    })
}

/// The reply to a command queued after `MULTI`.
pub fn queued() -> Reply {
    Reply::simple("QUEUED")
}

/// The reply to `EXEC` after a queuing error.
pub fn exec_abort() -> ServerError {
    ServerError::generic("EXECABORT Transaction discarded because of previous errors.")
}

/// Redis's errors for transaction commands out of place.
pub fn nested_multi() -> ServerError {
    ServerError::generic("ERR MULTI calls can not be nested")
}

pub fn exec_without_multi() -> ServerError {
    ServerError::generic("ERR EXEC without MULTI")
}

pub fn discard_without_multi() -> ServerError {
    ServerError::generic("ERR DISCARD without MULTI")
}

pub fn watch_inside_multi() -> ServerError {
    ServerError::generic("ERR WATCH inside MULTI is not allowed")
}
