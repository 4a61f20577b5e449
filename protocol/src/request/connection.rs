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
        /// `AUTH user pass` (boxed: rare, and a `Request` stays small).
        auth: Option<Box<(Bytes, Secret)>>,
        client_name: Option<Bytes>,
    },
    /// `AUTH [user] password`; no user means `default`.
    Auth {
        user: Option<Bytes>,
        password: Secret,
    },
    /// `ACL subcommand ...`.
    Acl(AclCommand),
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
    /// `MULTI`, `EXEC`, `DISCARD`: the connection keeps the queue (see
    /// [`super::transaction`]).
    Multi,
    Exec,
    Discard,
}

/// A password, or rules that may hold one: its `Debug` form hides it, so a
/// logged request never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T = Bytes>(pub T);

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `ACL` subcommands (a subset of Redis's).
#[derive(Clone, Debug, PartialEq)]
pub enum AclCommand {
    Whoami,
    List,
    Users,
    /// `ACL CAT [category]`.
    Cat(Option<Bytes>),
    /// `ACL SETUSER name [rule ...]`.
    SetUser {
        name: Bytes,
        rules: Secret<Vec<Bytes>>,
    },
    /// `ACL DELUSER name [name ...]`.
    DelUser(Vec<Bytes>),
    Save,
    Load,
    /// `ACL LOG [count]` (`None` = 10, as Redis).
    Log(Option<i64>),
    /// `ACL LOG RESET`.
    LogReset,
    Help,
}

impl AclCommand {
    /// The subcommand's lower-case name, as ACL rules and errors name it.
    pub fn name(&self) -> &'static str {
        match self {
            AclCommand::Whoami => "whoami",
            AclCommand::List => "list",
            AclCommand::Users => "users",
            AclCommand::Cat(_) => "cat",
            AclCommand::SetUser { .. } => "setuser",
            AclCommand::DelUser(_) => "deluser",
            AclCommand::Save => "save",
            AclCommand::Load => "load",
            AclCommand::Log(_) | AclCommand::LogReset => "log",
            AclCommand::Help => "help",
        }
    }
}

impl ConnectionCommand {
    /// The subcommand's lower-case name for commands that have them
    /// (`CLIENT`, `COMMAND`, `CONFIG`, `ACL`), as `cmd|sub` ACL rules name it.
    pub fn subcommand(&self) -> Option<&'static str> {
        Some(match self {
            ConnectionCommand::Client(client) => match client {
                ClientCommand::SetName(_) => "setname",
                ClientCommand::GetName => "getname",
                ClientCommand::Id => "id",
                ClientCommand::SetInfo => "setinfo",
            },
            ConnectionCommand::Command(query) => match query {
                CommandQuery::All => return None,
                CommandQuery::Count => "count",
                CommandQuery::Info(_) => "info",
                CommandQuery::Docs(_) => "docs",
            },
            ConnectionCommand::ConfigGet(_) => "get",
            ConnectionCommand::Acl(acl) => acl.name(),
            _ => return None,
        })
    }
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
        Cmd::Auth => parse_auth(a)?,
        Cmd::Acl => ConnectionCommand::Acl(parse_acl(a)?),
        _ => unreachable!("{id:?} is not a connection command"),
    })
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
fn parse_hello(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    let mut protocol = None;
    let mut auth = None;
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
                let user = a.bytes().map_err(|_| ServerError::SYNTAX)?;
                let password = a.bytes().map_err(|_| ServerError::SYNTAX)?;
                auth = Some(Box::new((user, Secret(password))));
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
        auth,
        client_name,
    })
}

/// `AUTH [user] password`.
fn parse_auth(a: &mut Args<'_>) -> Result<ConnectionCommand, ServerError> {
    let user = match a.remaining() {
        1 => None,
        2 => Some(a.bytes()?),
        _ => return Err(ServerError::SYNTAX),
    };
    let password = Secret(a.bytes()?);
    Ok(ConnectionCommand::Auth { user, password })
}

/// `ACL subcommand ...`, with Redis's arity per subcommand.
fn parse_acl(a: &mut Args<'_>) -> Result<AclCommand, ServerError> {
    let sub = a.bytes()?;
    let given = a.remaining() + 2;
    let upper = sub.to_ascii_uppercase();
    let (command, fits) = match upper.as_slice() {
        b"WHOAMI" => (AclCommand::Whoami, given == 2),
        b"LIST" => (AclCommand::List, given == 2),
        b"USERS" => (AclCommand::Users, given == 2),
        b"SAVE" => (AclCommand::Save, given == 2),
        b"LOAD" => (AclCommand::Load, given == 2),
        b"HELP" => (AclCommand::Help, given == 2),
        b"CAT" if given <= 3 => (AclCommand::Cat(a.rest().pop()), true),
        b"CAT" => (AclCommand::Cat(None), false),
        b"SETUSER" if given >= 3 => {
            let name = a.bytes()?;
            let rules = Secret(a.rest());
            (AclCommand::SetUser { name, rules }, true)
        }
        b"DELUSER" if given >= 3 => (AclCommand::DelUser(a.rest()), true),
        b"SETUSER" | b"DELUSER" => (AclCommand::Help, false),
        b"LOG" if given == 2 => (AclCommand::Log(None), true),
        b"LOG" if given == 3 => {
            let arg = a.bytes()?;
            if arg.eq_ignore_ascii_case(b"RESET") {
                (AclCommand::LogReset, true)
            } else {
                let count = crate::number::parse_i64(&arg).ok_or(ServerError::NOT_INTEGER)?;
                (AclCommand::Log(Some(count)), true)
            }
        }
        b"LOG" => (AclCommand::Help, false),
        _ => {
            return Err(ServerError::generic(format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&sub)
            )))
        }
    };
    if !fits {
        let name = format!("acl|{}", String::from_utf8_lossy(&upper));
        return Err(ServerError::wrong_arity(&name));
    }
    Ok(command)
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
