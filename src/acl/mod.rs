//! Users and permissions, a subset of Redis ACL: the users table, owned by
//! the reactor on the engine thread and lent to each connection's
//! `next_frame` (no locks).
//!
//! - `mod.rs`: [`Users`], the table: slots of users with a generation each,
//!   logging in ([`Users::authenticate`]) and the per-request check
//!   ([`Users::check`]).
//! - `rules.rs`: one [`User`] and the ACL rules (`on`, `>pass`, `~pattern`,
//!   `+@category`...) the users file and `ACL SETUSER` share.
//! - `file.rs`: reading the users file (errors name file and line) and
//!   writing it atomically (`ACL SAVE`).
//! - `log.rs`: the `ACL LOG` ring of refusals.
//! - `commands.rs`: the `ACL` subcommands' replies.
//!
//! A connection remembers its user as a [`Login`] (slot and generation).
//! Deleting or disabling a user bumps its slot's generation and the
//! table's revocation count: the reactor then closes that user's
//! connections, as Redis does.
//!
//! Passwords are kept only as SHA-256 hashes, compared in constant time;
//! they never appear in a reply, a log line, `INFO`, `CONFIG GET` or a
//! snapshot (users are not part of the state: the users file is their
//! store).

mod commands;
pub mod file;
mod log;
mod rules;

use std::path::PathBuf;
use std::sync::Arc;

use usher_protocol::commands::Cmd;
use usher_protocol::{Request, ServerError};

use crate::stats::ServerStats;

pub use commands::{answer, ClientInfo};
pub use file::{load_file, save_file, FileError};
pub use log::{AclLog, Reason};
pub use rules::{hash_password, hex, RuleError, User};

/// Which user a connection is logged in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login {
    slot: u32,
    generation: u32,
}

/// Why a request may not run.
#[derive(Debug)]
pub enum Refusal {
    /// Not logged in, or no permission: reply with the error.
    Error(ServerError),
    /// The connection's user was deleted or disabled: close it.
    Gone,
}

/// Why `AUTH` failed.
pub enum AuthError {
    WrongPass,
    /// `AUTH` for a user without passwords where none are configured.
    NoPasswordConfigured,
}

/// The bounds of the users table (`src/config.rs`).
#[derive(Clone, Copy, Debug)]
pub struct AclLimits {
    /// `acl_log_entries_max`.
    pub log_entries_max: usize,
    /// `acl_users_max`.
    pub users_max: usize,
}

/// The users table.
pub struct Users {
    slots: Vec<Option<User>>,
    generations: Vec<u32>,
    /// Bumped whenever a user loses its connections.
    revocations: u64,
    /// The users file (`users_file`); `None`: the built-in open `default`.
    file: Option<PathBuf>,
    users_max: usize,
    pub log: AclLog,
}

impl Users {
    /// No users file: one `default` user with every permission.
    pub fn open(limits: AclLimits, stats: Arc<ServerStats>) -> Users {
        Users {
            slots: vec![Some(User::open_default())],
            generations: vec![0],
            revocations: 0,
            file: None,
            users_max: limits.users_max,
            log: AclLog::new(limits.log_entries_max, stats),
        }
    }

    /// The users of `file`.
    pub fn from_file(
        file: PathBuf,
        limits: AclLimits,
        stats: Arc<ServerStats>,
    ) -> Result<Users, FileError> {
        let users = load_file(&file, limits.users_max)?;
        let generations = vec![0; users.len()];
        Ok(Users {
            slots: users.into_iter().map(Some).collect(),
            generations,
            revocations: 0,
            file: Some(file),
            users_max: limits.users_max,
            log: AclLog::new(limits.log_entries_max, stats),
        })
    }

    /// The users file, if there is one.
    pub fn file(&self) -> Option<&PathBuf> {
        self.file.as_ref()
    }

    /// How many times a user lost its connections so far.
    #[inline]
    pub fn revocations(&self) -> u64 {
        self.revocations
    }

    /// Where a new connection starts: logged in as `default` if that user
    /// is on and needs no password (Redis), else not logged in.
    pub fn initial_login(&self) -> Option<Login> {
        let slot = self.slot_of("default")?;
        let user = self.slots[slot].as_ref()?;
        (user.enabled && user.nopass).then(|| self.login_at(slot))
    }

    fn login_at(&self, slot: usize) -> Login {
        Login {
            slot: slot as u32,
            generation: self.generations[slot],
        }
    }

    fn slot_of(&self, name: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|user| user.as_ref().is_some_and(|user| user.name == name))
    }

    /// The user a login names, unless it was deleted or disabled since.
    #[inline]
    pub fn user(&self, login: Login) -> Option<&User> {
        let slot = login.slot as usize;
        if self.generations.get(slot) != Some(&login.generation) {
            return None;
        }
        self.slots[slot].as_ref()
    }

    /// Every user, by name order.
    pub fn users(&self) -> Vec<&User> {
        let mut users: Vec<&User> = self.slots.iter().flatten().collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users
    }

    pub fn find(&self, name: &str) -> Option<&User> {
        self.slot_of(name)
            .and_then(|slot| self.slots[slot].as_ref())
    }

    /// Checks a user's password (`AUTH`, `HELLO ... AUTH`). `explicit`:
    /// the username was given (not the one-argument `AUTH`).
    pub fn authenticate(
        &self,
        name: &str,
        password: &[u8],
        explicit: bool,
    ) -> Result<Login, AuthError> {
        let slot = self.slot_of(name).ok_or(AuthError::WrongPass)?;
        let Some(user) = self.slots[slot].as_ref() else {
            return Err(AuthError::WrongPass);
        };
        // Redis answers a one-argument AUTH against a password-less default
        // user with an error; without a users file so does every AUTH, so
        // that a client configured with a password never believes it is
        // checked.
        if user.nopass && user.enabled && (!explicit || self.file.is_none()) {
            return Err(AuthError::NoPasswordConfigured);
        }
        if !user.enabled || !user.password_matches(password) {
            return Err(AuthError::WrongPass);
        }
        Ok(self.login_at(slot))
    }

    /// Whether `login` may run `request` (command `id`; `inner`: the
    /// command a `REQ` wraps). Before login only AUTH, HELLO and QUIT run.
    #[inline]
    pub fn check<'a>(
        &mut self,
        login: Option<Login>,
        id: Cmd,
        inner: Option<Cmd>,
        request: &Request,
        client: impl FnOnce() -> ClientInfo<'a>,
    ) -> Result<(), Refusal> {
        if matches!(id, Cmd::Auth | Cmd::Hello | Cmd::Quit) {
            return Ok(());
        }
        let Some(login) = login else {
            return Err(Refusal::Error(ServerError::NO_AUTH));
        };
        let Some(user) = self.user(login) else {
            return Err(Refusal::Gone);
        };
        if user.unrestricted() {
            return Ok(());
        }
        let sub = match request {
            Request::Connection(command) => command.subcommand(),
            Request::Object { query, .. } => Some(query.name()),
            Request::ObjectHelp => Some("help"),
            _ => None,
        };
        let denied = if !user.may_run(id, sub) {
            Some((Reason::Command, command_name(id, sub)))
        } else if inner.is_some_and(|inner| !user.may_run(inner, None)) {
            inner.map(|inner| (Reason::Command, command_name(inner, None)))
        } else if user.all_keys {
            None
        } else {
            request
                .keys()
                .iter()
                .find(|key| !user.may_touch(key))
                .map(|key| (Reason::Key, String::from_utf8_lossy(key).into_owned()))
        };
        let Some((reason, object)) = denied else {
            return Ok(());
        };
        let error = match reason {
            Reason::Key => ServerError::NO_PERM_KEY,
            _ => ServerError::no_perm_command(&user.name, &object),
        };
        let name = user.name.clone();
        let client_info = client().describe(&name);
        self.log.add(reason, object, name, client_info);
        Err(Refusal::Error(error))
    }

    /// `NOPERM` for a request that did not parse when its user may not run
    /// the command at all: as in Redis, permission comes before the
    /// arguments' syntax. `None`: report the syntax error.
    pub fn refuse_command<'a>(
        &mut self,
        login: Option<Login>,
        id: Cmd,
        client: impl FnOnce() -> ClientInfo<'a>,
    ) -> Option<ServerError> {
        let user = self.user(login?)?;
        if user.unrestricted() || user.may_run(id, None) || rules::has_subcommands(id) {
            return None;
        }
        let object = command_name(id, None);
        let name = user.name.clone();
        let error = ServerError::no_perm_command(&name, &object);
        let client_info = client().describe(&name);
        self.log.add(Reason::Command, object, name, client_info);
        Some(error)
    }

    /// Logs a failed login (`object`: `AUTH` or `HELLO`) that named
    /// `tried`, by a client logged in as `login` (or not at all).
    pub fn log_failed_login(
        &mut self,
        login: Option<Login>,
        object: &str,
        tried: String,
        client: &ClientInfo<'_>,
    ) {
        let current = login
            .and_then(|login| self.user(login))
            .map_or("", |user| &user.name);
        let client_info = client.describe(current);
        self.log
            .add(Reason::Auth, object.to_string(), tried, client_info);
    }

    /// Applies `ACL SETUSER name rules...`: all rules or none.
    pub fn set_user(&mut self, name: &str, rules: &[&[u8]]) -> Result<(), String> {
        if name.is_empty() || rules::has_space(name.as_bytes()) {
            return Err("ERR Usernames can't contain spaces or null characters".into());
        }
        let slot = self.slot_of(name);
        if slot.is_none() && self.slots.iter().flatten().count() >= self.users_max {
            return Err(format!(
                "ERR number of users (acl_users_max) exceeds the configured limit of {}",
                self.users_max
            ));
        }
        let mut user = match slot {
            Some(slot) => self.slots[slot].clone().unwrap_or_else(|| User::new(name)),
            None => User::new(name),
        };
        for rule in rules {
            user.apply(rule).map_err(|error| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {}",
                    shown_rule(rule),
                    error.0
                )
            })?;
        }
        self.put(user);
        Ok(())
    }

    /// Puts a user in its slot (a new slot for a new name); a user that was
    /// on and is now off loses its connections.
    fn put(&mut self, user: User) {
        match self.slot_of(&user.name) {
            Some(slot) => {
                let was_enabled = self.slots[slot].as_ref().is_some_and(|u| u.enabled);
                if was_enabled && !user.enabled {
                    self.revoke(slot);
                }
                self.slots[slot] = Some(user);
            }
            None => match self.slots.iter().position(Option::is_none) {
                Some(slot) => self.slots[slot] = Some(user),
                None => {
                    self.slots.push(Some(user));
                    self.generations.push(0);
                }
            },
        }
    }

    fn revoke(&mut self, slot: usize) {
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        self.revocations += 1;
    }

    /// Deletes a user; its connections are closed. Returns whether it
    /// existed.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(slot) = self.slot_of(name) else {
            return false;
        };
        self.slots[slot] = None;
        self.revoke(slot);
        true
    }

    /// Replaces every user by those of the users file (`ACL LOAD`): users
    /// no longer there, or now off, lose their connections; the others keep
    /// them, with their new permissions.
    pub fn reload(&mut self) -> Result<(), FileError> {
        let Some(file) = &self.file else {
            return Err(FileError::NoFile);
        };
        let loaded = load_file(file, self.users_max)?;
        let gone: Vec<String> = self
            .slots
            .iter()
            .flatten()
            .filter(|user| !loaded.iter().any(|new| new.name == user.name))
            .map(|user| user.name.clone())
            .collect();
        for name in gone {
            self.delete(&name);
        }
        for user in loaded {
            self.put(user);
        }
        Ok(())
    }

    /// Writes every user to the users file (`ACL SAVE`).
    pub fn save(&self) -> Result<(), FileError> {
        let Some(file) = &self.file else {
            return Err(FileError::NoFile);
        };
        save_file(file, &self.users())
    }
}

/// How Redis names a command in NOPERM errors and the ACL log:
/// `flushall`, or `acl|setuser` for a subcommand.
fn command_name(id: Cmd, sub: Option<&str>) -> String {
    let name = usher_protocol::commands::spec(id).name.to_ascii_lowercase();
    match sub {
        Some(sub) if rules::has_subcommands(id) => format!("{name}|{sub}"),
        _ => name,
    }
}

/// A rule as an error may show it: never a password.
fn shown_rule(rule: &[u8]) -> String {
    match rule.first() {
        Some(b'>') | Some(b'<') => format!("{}...", rule[0] as char),
        _ => String::from_utf8_lossy(rule).into_owned(),
    }
}
