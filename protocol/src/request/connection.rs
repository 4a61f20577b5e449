//! Connection-level commands: answered by the connection that received
//! them (its codec, name and the command table), never sent to the engine.
//! [`ConnectionCommand`] is the one list of them.

use bytes::Bytes;

use super::cursor::Args;
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// A command the connection answers itself.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionCommand {
    /// `PING [message]`.
    Ping(Option<Bytes>),
    /// `ECHO message`.
    Echo(Bytes),
    /// `TIME`.
    Time,
    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
    Hello {
        protocol: Option<i64>,
        client_name: Option<Bytes>,
    },
    /// `SELECT index`.
    Select(i64),
    /// `CLIENT subcommand ...`.
    Client(ClientCommand),
    /// `COMMAND [subcommand ...]`.
    Command(CommandQuery),
    /// `CONFIG GET parameter...`.
    ConfigGet(Vec<Bytes>),
    /// `QUIT`.
    Quit,
}

/// `COMMAND` subcommands that tools send on connect.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandQuery {
    /// `COMMAND`: the whole table.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND INFO name...` and `COMMAND DOCS name...` (empty = all).
    Info(Vec<Bytes>),
    Docs(Vec<Bytes>),
}

/// `CLIENT` subcommands.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientCommand {
    SetName(Bytes),
    GetName,
    Id,
    /// `CLIENT SETINFO attr value`: accepted and ignored.
    SetInfo,
}

/// Parses the connection-level command `id`.
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    Ok(match id {
        Cmd::Ping => {
            let message = if a.remaining() == 1 {
                Some(a.bytes()?)
            } else {
                None
            };
            a.end()?;
            ConnectionCommand::Ping(message)
        }
        Cmd::Echo => ConnectionCommand::Echo(a.bytes()?),
        Cmd::Time => ConnectionCommand::Time,
        Cmd::Quit => ConnectionCommand::Quit,
        Cmd::Hello => parse_hello(a)?,
        Cmd::Select => ConnectionCommand::Select(a.int()?),
        Cmd::Client => parse_client(a)?,
        Cmd::Command => parse_command(a)?,
        Cmd::Config => parse_config(a)?,
        _ => unreachable!("{id:?} is not a connection command"),
    })
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
fn parse_hello(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    let mut protocol = None;
    let mut client_name = None;
    if a.remaining() > 0 {
        let version = a.int().map_err(|_| {
            ServerError::new_static(
                ErrorCode::Syntax,
                "ERR Protocol version is not an integer or out of range",
            )
        })?;
        protocol = Some(version);
        while a.remaining() > 0 {
            let option = a.bytes()?;
            if option.eq_ignore_ascii_case(b"SETNAME") {
                client_name = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
            } else if option.eq_ignore_ascii_case(b"AUTH") {
                // usher has no users: credentials are accepted and not
                // checked, so that clients which always send them connect.
                a.bytes().map_err(|_| ServerError::SYNTAX)?;
                a.bytes().map_err(|_| ServerError::SYNTAX)?;
            } else {
                return Err(ServerError::generic(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&option)
                )));
            }
        }
    }
    Ok(ConnectionCommand::Hello {
        protocol,
        client_name,
    })
}

/// `CLIENT SETNAME name | GETNAME | ID | SETINFO attr value`.
fn parse_client(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    let sub = a.bytes()?;
    let command = if sub.eq_ignore_ascii_case(b"SETNAME") {
        let name = a.bytes()?;
        a.end()?;
        if name.iter().any(|b| *b <= b' ' || *b > b'~') {
            return Err(ServerError::generic(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        ClientCommand::SetName(name)
    } else if sub.eq_ignore_ascii_case(b"GETNAME") {
        a.end()?;
        ClientCommand::GetName
    } else if sub.eq_ignore_ascii_case(b"ID") {
        a.end()?;
        ClientCommand::Id
    } else if sub.eq_ignore_ascii_case(b"SETINFO") {
        a.bytes()?;
        a.bytes()?;
        a.end()?;
        ClientCommand::SetInfo
    } else {
        return Err(ServerError::generic(format!(
            "ERR unknown subcommand '{}'. Try CLIENT SETNAME, GETNAME, ID or SETINFO.",
            String::from_utf8_lossy(&sub)
        )));
    };
    Ok(ConnectionCommand::Client(command))
}

/// `COMMAND [COUNT | INFO name... | DOCS name...]`.
fn parse_command(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    if a.remaining() == 0 {
        return Ok(ConnectionCommand::Command(CommandQuery::All));
    }
    let sub = a.bytes()?;
    let query = if sub.eq_ignore_ascii_case(b"COUNT") {
        a.end()?;
        CommandQuery::Count
    } else if sub.eq_ignore_ascii_case(b"INFO") {
        CommandQuery::Info(a.rest())
    } else if sub.eq_ignore_ascii_case(b"DOCS") {
        CommandQuery::Docs(a.rest())
    } else {
        return Err(ServerError::generic(format!(
            "ERR unknown subcommand '{}'. Try COMMAND COUNT, INFO or DOCS.",
            String::from_utf8_lossy(&sub)
        )));
    };
    Ok(ConnectionCommand::Command(query))
}

/// `CONFIG GET parameter...`: the only `CONFIG` subcommand.
fn parse_config(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    let sub = a.bytes()?;
    if !sub.eq_ignore_ascii_case(b"GET") {
        return Err(ServerError::generic(format!(
            "ERR unknown subcommand '{}'. Try CONFIG GET.",
            String::from_utf8_lossy(&sub)
        )));
    }
    if a.remaining() == 0 {
        return Err(ServerError::wrong_arity("config|get"));
    }
    Ok(ConnectionCommand::ConfigGet(a.rest()))
}
