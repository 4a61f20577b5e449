//! Server-wide commands the engine answers: `INFO`, `DBSIZE`, `SNAPSHOT`
//! and `FLUSHALL`.

use super::cursor::Args;
use super::Request;
use crate::commands::Cmd;
use crate::error::ServerError;

/// Parses the server command `id`:
/// - `INFO [section...]`
/// - `DBSIZE`
/// - `SNAPSHOT`
/// - `FLUSHALL [ASYNC | SYNC]`
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::Info => Request::Info(a.rest()),
        Cmd::Dbsize => Request::DbSize,
        Cmd::Snapshot => Request::Snapshot,
        Cmd::Flushall => {
            // ASYNC and SYNC are accepted; flushing is always immediate.
            if let Some(mode) = a.peek_keyword() {
                if !(mode.is_keyword("ASYNC") || mode.is_keyword("SYNC")) {
                    return Err(ServerError::SYNTAX);
                }
                a.bytes()?;
            }
            a.end_syntax()?;
            Request::FlushAll
        }
        _ => unreachable!("{id:?} is not a server command"),
    })
}
