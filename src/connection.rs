//! One client connection's protocol state: which codec it speaks (binary
//! or RESP, chosen by its first byte), its RESP version and name, and the
//! decoding of its byte stream into frames. Connection-level commands
//! (PING, HELLO, CLIENT, COMMAND, CONFIG GET...) are answered here; every
//! other request goes to the engine. Sockets and buffers belong to
//! `reactor.rs`.
//!
//! The permission check sits here too: every parsed request is checked
//! against the connection's user (`Users::check` in `src/acl/`: a bit test
//! per command, key patterns only for users that have some) before it is
//! answered or handed to the engine; `AUTH`, `HELLO ... AUTH` and `ACL`
//! are answered here with the users table the reactor lends.
//!
//! A malformed frame gets a protocol error reply after the replies to the
//! frames before it, and the connection is closed; nothing after it runs.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use usher_protocol::commands::Cmd;
use usher_protocol::request::transaction::{self, Step};
use usher_protocol::request::{ClientCommand, CommandQuery, ConnectionCommand, Secret};
use usher_protocol::resp::{RespDecoder, RespVersion};
use usher_protocol::{
    binary, commands, resp, ArgList, Decoded, ErrorCode, Limits, Reply, Request, ServerError,
};

use crate::acl::{self, AuthError, ClientInfo, Login, Refusal, Users};
use crate::config::Config;
use crate::glob::glob_match;
use crate::multi::{self, Multi};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Binary,
    Resp(RespVersion),
}

impl Codec {
    /// Appends `reply` to `out` in this codec.
    pub fn encode(self, request_id: u64, reply: &Reply, out: &mut BytesMut) {
        match self {
            Codec::Binary => binary::encode_reply(out, request_id, reply),
            Codec::Resp(version) => resp::encode_reply(reply, version, out),
        }
    }
}

/// What the next bytes of a connection's input hold.
pub enum Frame {
    /// No complete frame yet.
    NeedMore,
    /// A request for the engine.
    Engine {
        request_id: u64,
        codec: Codec,
        request: Request,
    },
    /// A request answered without the engine (connection command, or an
    /// error found before it). `close` after QUIT.
    Ready {
        request_id: u64,
        codec: Codec,
        reply: Reply,
        close: bool,
    },
    /// A malformed frame: reply with the error, then close.
    Invalid {
        request_id: u64,
        codec: Codec,
        error: ServerError,
    },
    /// The connection's user was deleted or disabled: close it without a
    /// reply, as Redis does.
    Close,
}

impl Frame {
    /// Whether the connection reads nothing after this frame (QUIT, or a
    /// malformed frame).
    pub fn ends_input(&self) -> bool {
        matches!(
            self,
            Frame::Ready { close: true, .. } | Frame::Invalid { .. } | Frame::Close
        )
    }
}

pub struct Connection {
    pub id: u64,
    /// The client's address, for `ACL LOG`.
    addr: Option<SocketAddr>,
    /// The user it is logged in as; `None` before `AUTH`.
    login: Option<Login>,
    name: Option<Bytes>,
    codec: Option<Codec>,
    resp: RespDecoder,
    limits: Limits,
    /// The open transaction, between `MULTI` and `EXEC` or `DISCARD`.
    multi: Option<Multi>,
    /// Whether the engine holds keys this connection watches (WATCH), so
    /// `DISCARD` must tell it.
    watching: bool,
}

impl Connection {
    /// A new connection, logged in as `default` if that user needs no
    /// password.
    pub fn new(id: u64, config: &Config, users: &Users, addr: Option<SocketAddr>) -> Connection {
        Connection {
            id,
            addr,
            login: users.initial_login(),
            name: None,
            codec: None,
            resp: RespDecoder::new(config.decoder_limits()),
            limits: config.decoder_limits(),
            multi: None,
            watching: false,
        }
    }

    /// The codec replies are written in (RESP2 before the first frame).
    pub fn codec(&self) -> Codec {
        self.codec.unwrap_or(Codec::Resp(RespVersion::Resp2))
    }

    /// Decodes the next frame of `buf` (consuming it) and, for a request,
    /// checks it and answers it if it is connection-level.
    pub fn next_frame(
        &mut self,
        buf: &mut BytesMut,
        args: &mut ArgList,
        config: &Config,
        users: &mut Users,
    ) -> Frame {
        let Some(&first) = buf.first() else {
            return Frame::NeedMore;
        };
        let codec = *self.codec.get_or_insert(if first == binary::MAGIC {
            Codec::Binary
        } else {
            Codec::Resp(RespVersion::Resp2)
        });
        let bad_frame_id = binary::peek_request_id(buf);
        let mut idempotency_key = None;
        let (request_id, decoded) = match codec {
            Codec::Binary => match binary::decode_request(buf, &self.limits, args) {
                Decoded::Frame(header) => {
                    idempotency_key = header.idempotency_key;
                    (header.request_id, Decoded::Frame(()))
                }
                Decoded::Incomplete => (0, Decoded::Incomplete),
                Decoded::Invalid(error) => (0, Decoded::Invalid(error)),
            },
            Codec::Resp(_) => (0, self.resp.decode(buf, args)),
        };
        match decoded {
            Decoded::Incomplete => return Frame::NeedMore,
            Decoded::Invalid(error) => {
                return Frame::Invalid {
                    request_id: bad_frame_id,
                    codec,
                    error,
                }
            }
            Decoded::Frame(()) => {}
        }
        let (id, inner, parsed) = parse_frame(args, idempotency_key);
        let parsed = match self.permit(users, id, inner, parsed) {
            Ok(parsed) => parsed,
            Err(()) => return Frame::Close,
        };
        let bytes = match self.multi {
            Some(_) => multi::argument_bytes(args),
            None => 0,
        };
        // The request holds what it needs of the frame; letting go of the
        // rest now lets the input buffer be reused sooner.
        args.clear();
        let checked = parsed.and_then(|request| check_limits(&request, config).map(|()| request));
        let ready = |reply| Frame::Ready {
            request_id,
            codec,
            reply,
            close: false,
        };
        let request = match (checked, &mut self.multi) {
            (Err(error), Some(multi)) => return ready(multi.refused(error, bytes, config)),
            (Err(error), None) => return ready(Reply::Error(error)),
            (Ok(request), _) => request,
        };
        let request = match request {
            Request::Connection(command) => {
                let close = command == ConnectionCommand::Quit;
                match self.connection_command(command, bytes, config, users) {
                    Ok(reply) => {
                        // The reply to HELLO is already in the new protocol.
                        return Frame::Ready {
                            request_id,
                            codec: self.codec.unwrap_or(codec),
                            reply,
                            close,
                        };
                    }
                    Err(request) => request,
                }
            }
            request => match self.transaction_step(request, bytes, config) {
                Ok(reply) => return ready(reply),
                Err(request) => request,
            },
        };
        Frame::Engine {
            request_id,
            codec,
            request,
        }
    }

    /// A connection-level command: its reply, or (`Err`) the request the
    /// engine must answer for it (`EXEC`, or `DISCARD` with watched keys).
    /// Queued instead while a transaction is open.
    fn connection_command(
        &mut self,
        command: ConnectionCommand,
        bytes: usize,
        config: &Config,
        users: &mut Users,
    ) -> Result<Reply, Request> {
        match (command, &mut self.multi) {
            (ConnectionCommand::Multi, Some(_)) => Ok(Reply::Error(transaction::nested_multi())),
            (ConnectionCommand::Multi, None) => {
                self.multi = Some(Multi::default());
                Ok(Reply::OK)
            }
            (ConnectionCommand::Exec, _) => self.exec(config, users),
            (ConnectionCommand::Discard, None) => {
                Ok(Reply::Error(transaction::discard_without_multi()))
            }
            (ConnectionCommand::Discard, Some(_)) => {
                self.multi = None;
                self.unwatch()
            }
            (ConnectionCommand::Quit, _) => Ok(Reply::OK),
            (command, Some(multi)) => {
                let step = Step::Run(Request::Connection(command));
                Ok(multi.enqueue(step, bytes, config))
            }
            (command, None) => Ok(self.answer_locally(command, config, users)),
        }
    }

    /// `EXEC`: the queued commands go to the engine as one request (which
    /// also checks the watched keys); connection-level ones among them are
    /// answered now, in order, as the transaction would have.
    fn exec(&mut self, config: &Config, users: &mut Users) -> Result<Reply, Request> {
        let Some(multi) = self.multi.take() else {
            return Ok(Reply::Error(transaction::exec_without_multi()));
        };
        let mut transaction = multi.into_transaction();
        for step in transaction.steps.iter_mut() {
            if let Step::Run(Request::Connection(command)) = step {
                let reply = self.answer_locally(command.clone(), config, users);
                *step = Step::Answered(reply);
            }
        }
        if self.watching || transaction.needs_engine() && !transaction.aborted {
            self.watching = false;
            return Err(Request::Exec(Box::new(transaction)));
        }
        if transaction.aborted {
            return Ok(Reply::Error(transaction::exec_abort()));
        }
        let replies = transaction.steps.into_iter().map(|step| match step {
            Step::Answered(reply) => reply,
            Step::Run(_) => unreachable!("the engine runs a transaction that needs it"),
        });
        Ok(Reply::Array(replies.collect()))
    }

    /// `UNWATCH`, or `DISCARD` once the queue is dropped: the engine forgets
    /// the watched keys, if there are any.
    fn unwatch(&mut self) -> Result<Reply, Request> {
        if std::mem::take(&mut self.watching) {
            Err(Request::Unwatch)
        } else {
            Ok(Reply::OK)
        }
    }

    /// A request for the engine: queued while a transaction is open (its
    /// reply `Ok`), else handed on (`Err`). `WATCH` and `UNWATCH` keep
    /// [`Connection::watching`] true to what the engine holds.
    fn transaction_step(
        &mut self,
        request: Request,
        bytes: usize,
        config: &Config,
    ) -> Result<Reply, Request> {
        let Some(multi) = &mut self.multi else {
            match request {
                Request::Watch(_) => self.watching = true,
                Request::Unwatch => return self.unwatch(),
                _ => {}
            }
            return Err(request);
        };
        Ok(match request {
            Request::Watch(_) => Reply::Error(transaction::watch_inside_multi()),
            // EXEC unwatches everything anyway.
            Request::Unwatch => multi.enqueue(Step::Answered(Reply::OK), bytes, config),
            request => multi.enqueue(Step::Run(request), bytes, config),
        })
    }

    /// Checks a parsed request against the connection's user. Before login
    /// a known command other than AUTH, HELLO and QUIT gets NOAUTH (an
    /// unknown command or a wrong arity keeps its own error, as in Redis).
    /// `Err(())`: the user is gone, close the connection.
    #[inline]
    fn permit(
        &mut self,
        users: &mut Users,
        id: Option<Cmd>,
        inner: Option<Cmd>,
        parsed: Result<Request, ServerError>,
    ) -> Result<Result<Request, ServerError>, ()> {
        let Some(id) = id else {
            return Ok(parsed);
        };
        match parsed {
            Err(error) => {
                let no_auth = matches!(id, Cmd::Auth | Cmd::Hello | Cmd::Quit);
                if no_auth || error.code == ErrorCode::WrongArity {
                    Ok(Err(error))
                } else if self.login.is_none() {
                    Ok(Err(ServerError::NO_AUTH))
                } else {
                    let login = self.login;
                    let refused = users.refuse_command(login, id, || self.client_info());
                    Ok(Err(refused.unwrap_or(error)))
                }
            }
            Ok(request) => {
                match users.check(self.login, id, inner, &request, || self.client_info()) {
                    Ok(()) => Ok(Ok(request)),
                    Err(Refusal::Error(error)) => Ok(Err(error)),
                    Err(Refusal::Gone) => Err(()),
                }
            }
        }
    }

    /// What `ACL LOG` says of this client.
    fn client_info(&self) -> ClientInfo<'_> {
        ClientInfo {
            id: self.id,
            addr: self.addr,
            name: self.name.as_deref(),
            resp: match self.codec() {
                Codec::Binary => 0,
                Codec::Resp(RespVersion::Resp2) => 2,
                Codec::Resp(RespVersion::Resp3) => 3,
            },
        }
    }

    /// Whether the connection's user was deleted or disabled.
    pub fn user_gone(&self, users: &Users) -> bool {
        self.login.is_some_and(|login| users.user(login).is_none())
    }

    /// `AUTH [user] password` and `HELLO ... AUTH user password`: logs in,
    /// or logs the failure (`ACL LOG`) and keeps the current login.
    fn auth(
        &mut self,
        users: &mut Users,
        user: Option<&[u8]>,
        password: &Secret,
        command: &str,
    ) -> Result<(), ServerError> {
        let name = String::from_utf8_lossy(user.unwrap_or(b"default")).into_owned();
        match users.authenticate(&name, &password.0, user.is_some()) {
            Ok(login) => {
                self.login = Some(login);
                Ok(())
            }
            Err(AuthError::NoPasswordConfigured) => Err(ServerError::generic(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            )),
            Err(AuthError::WrongPass) => {
                users.log_failed_login(self.login, command, name, &self.client_info());
                Err(ServerError::WRONG_PASS)
            }
        }
    }

    /// Answers connection-level commands.
    fn answer_locally(
        &mut self,
        command: ConnectionCommand,
        config: &Config,
        users: &mut Users,
    ) -> Reply {
        match command {
            ConnectionCommand::Ping(None) => Reply::simple("PONG"),
            ConnectionCommand::Ping(Some(message)) | ConnectionCommand::Echo(message) => {
                Reply::Bulk(message)
            }
            ConnectionCommand::Time => {
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from(since_epoch.as_secs().to_string())),
                    Reply::Bulk(Bytes::from(since_epoch.subsec_micros().to_string())),
                ])
            }
            ConnectionCommand::Quit => Reply::OK,
            ConnectionCommand::Select(0) => Reply::OK,
            ConnectionCommand::Select(_) => {
                Reply::Error(ServerError::generic("ERR DB index is out of range"))
            }
            ConnectionCommand::Hello {
                protocol,
                auth,
                client_name,
            } => self.hello_with_auth(users, protocol, auth, client_name),
            ConnectionCommand::Auth { user, password } => {
                match self.auth(users, user.as_deref(), &password, "AUTH") {
                    Ok(()) => Reply::OK,
                    Err(error) => Reply::Error(error),
                }
            }
            ConnectionCommand::Acl(command) => acl::answer(users, self.login, command),
            ConnectionCommand::Client(client) => match client {
                ClientCommand::SetName(name) => {
                    self.name = (!name.is_empty()).then_some(name);
                    Reply::OK
                }
                ClientCommand::GetName => self.name.clone().map_or(Reply::Nil, Reply::Bulk),
                ClientCommand::Id => Reply::Int(self.id as i64),
                ClientCommand::SetInfo => Reply::OK,
            },
            ConnectionCommand::Command(query) => command_reply(query),
            ConnectionCommand::ConfigGet(patterns) => config_get(config, &patterns),
            // Handled by `connection_command` before this is called.
            ConnectionCommand::Multi | ConnectionCommand::Exec | ConnectionCommand::Discard => {
                Reply::Error(ServerError::generic("ERR transaction command out of place"))
            }
        }
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: logs in first
    /// when `AUTH` is given; before login it needs `AUTH`. An unsupported
    /// version is refused before the login is tried, as Redis does.
    fn hello_with_auth(
        &mut self,
        users: &mut Users,
        protocol: Option<i64>,
        auth: Option<Box<(Bytes, Secret)>>,
        client_name: Option<Bytes>,
    ) -> Reply {
        let logged_in = match &auth {
            _ if protocol.is_some_and(|version| !(2..=3).contains(&version)) => Ok(()),
            Some(auth) => self.auth(users, Some(&auth.0), &auth.1, "HELLO"),
            None if self.login.is_none() => Err(ServerError::new_static(
                ErrorCode::NoAuth,
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            )),
            None => Ok(()),
        };
        match logged_in {
            Ok(()) => self.hello(protocol, client_name),
            Err(error) => Reply::Error(error),
        }
    }

    fn hello(&mut self, protocol: Option<i64>, client_name: Option<Bytes>) -> Reply {
        if let Some(version) = protocol {
            let chosen = match version {
                2 => RespVersion::Resp2,
                3 => RespVersion::Resp3,
                _ => {
                    return Reply::Error(ServerError::new_static(
                        ErrorCode::Generic,
                        "NOPROTO unsupported protocol version",
                    ))
                }
            };
            if let Some(Codec::Resp(_)) = self.codec {
                self.codec = Some(Codec::Resp(chosen));
            }
        }
        if let Some(name) = client_name {
            self.name = Some(name);
        }
        let proto = match self.codec {
            Some(Codec::Resp(RespVersion::Resp3)) => 3,
            _ => 2,
        };
        let text = |s: &'static str| Reply::bulk_static(s.as_bytes());
        Reply::Map(vec![
            (text("server"), text("usher")),
            (text("version"), text(env!("CARGO_PKG_VERSION"))),
            (text("proto"), Reply::Int(proto)),
            (text("id"), Reply::Int(self.id as i64)),
            (text("mode"), text("standalone")),
            (text("role"), text("master")),
            (text("modules"), Reply::Array(Vec::new())),
        ])
    }
}

/// Parses a decoded frame. Returns the command it names (`None` if
/// unknown), the command a `REQ` wraps (for the permission check) and the
/// request. A binary frame's idempotency key makes the request a `REQ`.
#[inline]
fn parse_frame(
    args: &ArgList,
    idempotency_key: Option<Bytes>,
) -> (Option<Cmd>, Option<Cmd>, Result<Request, ServerError>) {
    match idempotency_key {
        None => {
            let (id, parsed) = usher_protocol::parse_command(args);
            let inner = match id {
                Some(Cmd::Req) => usher_protocol::request::command_at(args, 2),
                _ => None,
            };
            (id, inner, parsed)
        }
        Some(key) => {
            let fingerprint = usher_protocol::request::fingerprint_list(args, 0);
            let (inner, parsed) = usher_protocol::parse_command(args);
            let parsed = parsed.and_then(|request| Request::idempotent(key, fingerprint, request));
            (inner.map(|_| Cmd::Req), inner, parsed)
        }
    }
}

/// `CONFIG GET pattern...`: usher's settings by their TOML names, plus the
/// Redis settings that tools such as redis-benchmark ask for.
fn config_get(config: &Config, patterns: &[Bytes]) -> Reply {
    let mut pairs: Vec<(Reply, Reply)> = Vec::new();
    let mut names: Vec<String> = config.names();
    names.extend(["save", "appendonly", "maxclients", "databases"].map(String::from));
    for name in names {
        if !patterns
            .iter()
            .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        {
            continue;
        }
        let value = match name.as_str() {
            "save" => String::new(),
            "appendonly" => "no".to_string(),
            "maxclients" => config.connections_max.to_string(),
            "databases" => "1".to_string(),
            other => config.get_text(other).unwrap_or_default(),
        };
        if pairs
            .iter()
            .any(|(key, _)| *key == Reply::Bulk(Bytes::from(name.clone())))
        {
            continue;
        }
        pairs.push((
            Reply::Bulk(Bytes::from(name)),
            Reply::Bulk(Bytes::from(value)),
        ));
    }
    Reply::Map(pairs)
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO` and `COMMAND DOCS` from the
/// command table.
fn command_reply(query: CommandQuery) -> Reply {
    let selected = |names: &[Bytes]| -> Vec<&'static commands::CommandSpec> {
        if names.is_empty() {
            commands::COMMANDS.iter().collect()
        } else {
            names
                .iter()
                .filter_map(|n| commands::find(&String::from_utf8_lossy(n)))
                .collect()
        }
    };
    let text = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
    let info = |spec: &commands::CommandSpec| {
        Reply::Array(vec![
            text(&spec.name.to_ascii_lowercase()),
            Reply::Int(spec.arity),
            Reply::Array(spec.flags.iter().map(|f| Reply::simple(f)).collect()),
            Reply::Int(spec.first_key),
            Reply::Int(spec.last_key),
            Reply::Int(spec.key_step()),
            categories(spec),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
        ])
    };
    match query {
        CommandQuery::Count => Reply::Int(commands::COMMANDS.len() as i64),
        CommandQuery::All => Reply::Array(commands::COMMANDS.iter().map(info).collect()),
        CommandQuery::Info(names) => Reply::Array(selected(&names).into_iter().map(info).collect()),
        CommandQuery::Docs(names) => Reply::Map(
            selected(&names)
                .into_iter()
                .map(|spec| {
                    (
                        text(&spec.name.to_ascii_lowercase()),
                        Reply::Map(vec![
                            (text("summary"), text(spec.summary)),
                            (text("since"), text("0.1.0")),
                            (text("group"), text(spec.group)),
                            (text("acl_categories"), categories(spec)),
                        ]),
                    )
                })
                .collect(),
        ),
    }
}

/// A command's ACL categories as Redis lists them (`@read`, `@sale`...).
fn categories(spec: &commands::CommandSpec) -> Reply {
    Reply::Array(
        commands::category::names(spec.categories)
            .map(|name| Reply::Simple(format!("@{name}").into()))
            .collect(),
    )
}

/// Refuses keys and values over their configured limits before they reach
/// the engine.
fn check_limits(request: &Request, config: &Config) -> Result<(), ServerError> {
    if request
        .keys()
        .iter()
        .any(|key| key.len() > config.key_bytes_max)
    {
        return Err(ServerError::limit(
            "key length in bytes (key_bytes_max)",
            config.key_bytes_max as u64,
        ));
    }
    let wrapped = match request {
        Request::Req { command, .. } => command,
        other => other,
    };
    let values = match wrapped {
        Request::Set { value, .. }
        | Request::SetNx { value, .. }
        | Request::SetEx { value, .. }
        | Request::Append { value, .. }
        | Request::SetRange { value, .. }
        | Request::HSet { value, .. }
        | Request::HSetNx { value, .. } => std::slice::from_ref(value),
        Request::MSet { values, .. } => values,
        // Fields and values: a field is bounded more tightly by the state
        // (`member_bytes_max`).
        Request::HSetMany { pairs, .. } => pairs,
        _ => &[],
    };
    if values
        .iter()
        .any(|value| value.len() > config.value_bytes_max)
    {
        return Err(ServerError::limit(
            "value length in bytes (value_bytes_max)",
            config.value_bytes_max as u64,
        ));
    }
    // A list item is stored like a string value, and bounded alike.
    let list_items: &[Bytes] = match wrapped {
        Request::ListPush { items, .. } => items,
        Request::LSet { item, .. } => std::slice::from_ref(item),
        _ => &[],
    };
    if list_items
        .iter()
        .any(|item| item.len() > config.value_bytes_max)
    {
        return Err(ServerError::limit(
            "list element length in bytes (value_bytes_max)",
            config.value_bytes_max as u64,
        ));
    }
    Ok(())
}
