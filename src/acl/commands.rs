//! The `ACL` subcommands' replies, as Redis gives them: WHOAMI, LIST,
//! USERS, CAT, SETUSER, DELUSER, SAVE, LOAD, LOG and HELP.

use std::fmt::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use usher_protocol::commands::{category, COMMANDS};
use usher_protocol::request::AclCommand;
use usher_protocol::{Reply, ServerError};

use super::{Login, Users};

/// What `ACL LOG` says of the client (Redis's `client-info` field).
pub struct ClientInfo<'a> {
    pub id: u64,
    pub addr: Option<SocketAddr>,
    pub name: Option<&'a [u8]>,
    /// 2 or 3; 0 for the binary protocol.
    pub resp: u8,
}

impl ClientInfo<'_> {
    /// The `client-info` text for a client logged in as `user`.
    pub fn describe(&self, user: &str) -> String {
        let mut text = format!("id={} addr=", self.id);
        if let Some(addr) = self.addr {
            let _ = write!(text, "{addr}");
        }
        let name = self.name.map(String::from_utf8_lossy).unwrap_or_default();
        let _ = write!(text, " name={name} db=0 user={user} resp={}", self.resp);
        text
    }
}

fn text(s: &str) -> Reply {
    Reply::Bulk(Bytes::from(s.to_string()))
}

fn error(message: String) -> Reply {
    Reply::Error(ServerError::generic(message))
}

/// Answers an `ACL` subcommand for the connection logged in as `login`.
pub fn answer(users: &mut Users, login: Option<Login>, command: AclCommand) -> Reply {
    match command {
        AclCommand::Whoami => match login.and_then(|login| users.user(login)) {
            Some(user) => text(&user.name),
            None => Reply::Nil,
        },
        AclCommand::List => Reply::Array(
            users
                .users()
                .into_iter()
                .map(|user| text(&user.describe()))
                .collect(),
        ),
        AclCommand::Users => Reply::Array(
            users
                .users()
                .into_iter()
                .map(|user| text(&user.name))
                .collect(),
        ),
        AclCommand::Cat(None) => {
            Reply::Array(category::ALL.iter().map(|(name, _)| text(name)).collect())
        }
        AclCommand::Cat(Some(name)) => match category::find(&name) {
            Some(bit) => Reply::Array(
                COMMANDS
                    .iter()
                    .filter(|spec| spec.categories & bit != 0)
                    .map(|spec| text(&spec.name.to_ascii_lowercase()))
                    .collect(),
            ),
            None => error(format!(
                "ERR Unknown category '{}'",
                String::from_utf8_lossy(&name)
            )),
        },
        AclCommand::SetUser { name, rules } => {
            let rules: Vec<&[u8]> = rules.0.iter().map(|rule| &rule[..]).collect();
            match users.set_user(&String::from_utf8_lossy(&name), &rules) {
                Ok(()) => Reply::OK,
                Err(message) => error(message),
            }
        }
        AclCommand::DelUser(names) => {
            let mut deleted = 0;
            for name in &names {
                if name.as_ref() == b"default" {
                    return error("ERR The 'default' user cannot be removed".into());
                }
            }
            for name in &names {
                deleted += i64::from(users.delete(&String::from_utf8_lossy(name)));
            }
            Reply::Int(deleted)
        }
        AclCommand::Save => match users.save() {
            Ok(()) => Reply::OK,
            Err(failure) => {
                tracing::warn!(%failure, "ACL SAVE failed");
                error(format!(
                    "ERR There was an error trying to save the ACLs. {failure}"
                ))
            }
        },
        AclCommand::Load => match users.reload() {
            Ok(()) => Reply::OK,
            Err(failure) => error(format!("ERR {failure}")),
        },
        AclCommand::Log(count) => {
            let count = count.unwrap_or(10).max(0) as usize;
            users.log.reply(count)
        }
        AclCommand::LogReset => {
            users.log.reset();
            Reply::OK
        }
        AclCommand::Help => Reply::Array(
            [
                "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CAT [<category>]",
                "DELUSER <username> [<username> ...]",
                "LIST",
                "LOAD",
                "LOG [<count> | RESET]",
                "SAVE",
                "SETUSER <username> <attribute> [<attribute> ...]",
                "USERS",
                "WHOAMI",
                "HELP",
            ]
            .iter()
            .map(|line| Reply::simple(line))
            .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_names_the_client() {
        let info = ClientInfo {
            id: 3,
            addr: Some("127.0.0.1:4000".parse().unwrap()),
            name: Some(b"worker"),
            resp: 3,
        };
        assert_eq!(
            info.describe("app"),
            "id=3 addr=127.0.0.1:4000 name=worker db=0 user=app resp=3"
        );
    }
}
