//! One client connection: read bytes, decode every complete frame (binary or
//! RESP, chosen by the first byte), answer connection-level commands on the
//! spot, hand the rest to the engine as one job, then write all replies, in
//! request order, with one write.
//!
//! A malformed frame gets a protocol error reply after the replies to the
//! frames before it, and the connection is closed; nothing after it runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Sender, TrySendError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use usher_protocol::request::{ClientCommand, CommandQuery};
use usher_protocol::resp::{RespDecoder, RespVersion};
use usher_protocol::{
    binary, commands, resp, Arg, Decoded, ErrorCode, Reply, Request, ServerError,
};

use crate::config::Config;
use crate::engine::{Job, Submission};
use crate::glob::glob_match;
use crate::stats::ServerStats;

/// What every connection shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub stats: Arc<ServerStats>,
    pub queue: Sender<Submission>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Binary,
    Resp(RespVersion),
}

/// Where the reply to one decoded frame comes from.
enum Answer {
    /// The next reply of the engine job.
    Engine,
    /// Already known (connection command or per-request error).
    Ready(Reply),
}

struct Slot {
    request_id: u64,
    codec: Codec,
    answer: Answer,
}

struct Connection {
    id: u64,
    name: Option<Bytes>,
    codec: Option<Codec>,
    resp: RespDecoder,
    shared: Arc<Shared>,
}

const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Largest write buffer kept between rounds.
const WRITE_BUFFER_KEEP_BYTES: usize = 1024 * 1024;
/// Replies are written out whenever this much is buffered, so a round of
/// large replies never needs more than about this plus one reply.
const WRITE_FLUSH_BYTES: usize = 256 * 1024;

/// Serves one connection until the client closes it, a protocol error, or
/// shutdown.
pub async fn serve(
    mut stream: TcpStream,
    id: u64,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut connection = Connection {
        id,
        name: None,
        codec: None,
        resp: RespDecoder::new(shared.config.decoder_limits()),
        shared,
    };
    let span = tracing::debug_span!("connection", id);
    let _entered = span.enter();
    let mut read_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut write_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut args: Vec<Arg> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut job = Job::default();
    loop {
        if read_buf.capacity() - read_buf.len() < 1024 {
            read_buf.reserve(READ_CHUNK_BYTES);
        }
        // `wait_for` rather than `changed`: the write below may already have
        // seen the signal, and a seen change would never fire again.
        let read = tokio::select! {
            read = stream.read_buf(&mut read_buf) => read,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => ServerStats::add(&connection.shared.stats.bytes_read, n as u64),
        }
        // Decode and answer in rounds of at most pipeline_requests_max.
        loop {
            let outcome = connection.decode_round(&mut read_buf, &mut args, &mut slots, &mut job);
            if slots.is_empty() && outcome == RoundEnd::NeedMore {
                break;
            }
            let replies = connection.run_job(&mut job, &slots).await;
            job.replies = replies;
            // Encode in order; a round whose replies grow large is written
            // out in pieces so the buffer stays bounded.
            let grace = Duration::from_millis(connection.shared.config.shutdown_grace_ms);
            let mut engine_replies = job.replies.drain(..);
            for slot in slots.drain(..) {
                match slot.answer {
                    Answer::Ready(reply) => {
                        encode(slot.codec, slot.request_id, &reply, &mut write_buf)
                    }
                    Answer::Engine => {
                        let reply = engine_replies.next();
                        assert!(
                            reply.is_some(),
                            "engine returned fewer replies than requests"
                        );
                        if let Some(reply) = reply {
                            encode(slot.codec, slot.request_id, &reply, &mut write_buf);
                        }
                    }
                }
                if write_buf.len() >= WRITE_FLUSH_BYTES
                    && !flush(
                        &mut stream,
                        &mut write_buf,
                        &mut shutdown,
                        grace,
                        &connection.shared.stats,
                    )
                    .await
                {
                    return;
                }
            }
            assert!(
                engine_replies.next().is_none(),
                "engine returned more replies than requests"
            );
            drop(engine_replies);
            let close = match &outcome {
                RoundEnd::Close(Some((request_id, error))) => {
                    ServerStats::add(&connection.shared.stats.protocol_errors, 1);
                    tracing::debug!(%error, "protocol error; closing");
                    let request_id = *request_id;
                    let codec = connection.codec.unwrap_or(Codec::Resp(RespVersion::Resp2));
                    encode(
                        codec,
                        request_id,
                        &Reply::Error(error.clone()),
                        &mut write_buf,
                    );
                    true
                }
                RoundEnd::Close(None) => true,
                _ => false,
            };
            if !flush(
                &mut stream,
                &mut write_buf,
                &mut shutdown,
                grace,
                &connection.shared.stats,
            )
            .await
            {
                return;
            }
            if close {
                let _ = stream.shutdown().await;
                return;
            }
            if outcome == RoundEnd::NeedMore {
                break;
            }
        }
    }
}

/// Writes the buffer out. A client that stops reading must not hold up
/// shutdown: once shutdown starts, the write gets `grace`, then the
/// connection is dropped (`false`).
async fn flush(
    stream: &mut TcpStream,
    write_buf: &mut BytesMut,
    shutdown: &mut watch::Receiver<bool>,
    grace: Duration,
    stats: &ServerStats,
) -> bool {
    if write_buf.is_empty() {
        return true;
    }
    let written = tokio::select! {
        written = stream.write_all(write_buf) => written.is_ok(),
        _ = async {
            let _ = shutdown.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => false,
    };
    if !written {
        return false;
    }
    ServerStats::add(&stats.bytes_written, write_buf.len() as u64);
    write_buf.clear();
    // One huge reply must not pin its buffer for the life of the connection.
    if write_buf.capacity() > WRITE_BUFFER_KEEP_BYTES {
        *write_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    }
    true
}

#[derive(Debug, PartialEq)]
enum RoundEnd {
    /// The buffer holds no further complete frame.
    NeedMore,
    /// The round is full; decode more after replying.
    Full,
    /// Reply to what was decoded, then close: after a protocol error (with
    /// the request id of the bad frame, 0 if unknown) or QUIT.
    Close(Option<(u64, ServerError)>),
}

fn encode(codec: Codec, request_id: u64, reply: &Reply, out: &mut BytesMut) {
    match codec {
        Codec::Binary => binary::encode_reply(out, request_id, reply),
        Codec::Resp(version) => resp::encode_reply(reply, version, out),
    }
}

impl Connection {
    fn decode_round(
        &mut self,
        buf: &mut BytesMut,
        args: &mut Vec<Arg>,
        slots: &mut Vec<Slot>,
        job: &mut Job,
    ) -> RoundEnd {
        let limits = self.shared.config.decoder_limits();
        while slots.len() < self.shared.config.pipeline_requests_max {
            let Some(&first) = buf.first() else {
                return RoundEnd::NeedMore;
            };
            let codec = *self.codec.get_or_insert(if first == binary::MAGIC {
                Codec::Binary
            } else {
                Codec::Resp(RespVersion::Resp2)
            });
            let bad_frame_id = binary::peek_request_id(buf);
            let (request_id, decoded) = match codec {
                Codec::Binary => match binary::decode_request(buf, &limits, args) {
                    Decoded::Frame(header) => {
                        if header.idempotency_key.is_some() {
                            // Exactly-once retries arrive with the REQ
                            // command; until then the field is refused
                            // rather than silently ignored.
                            slots.push(Slot {
                                request_id: header.request_id,
                                codec,
                                answer: Answer::Ready(Reply::Error(ServerError::generic(
                                    "ERR idempotency keys are not supported by this server version",
                                ))),
                            });
                            continue;
                        }
                        (header.request_id, Decoded::Frame(()))
                    }
                    Decoded::Incomplete => (0, Decoded::Incomplete),
                    Decoded::Invalid(error) => (0, Decoded::Invalid(error)),
                },
                Codec::Resp(_) => (0, self.resp.decode(buf, args)),
            };
            match decoded {
                Decoded::Incomplete => return RoundEnd::NeedMore,
                Decoded::Invalid(error) => return RoundEnd::Close(Some((bad_frame_id, error))),
                Decoded::Frame(()) => {}
            }
            let answer = match usher_protocol::parse(args) {
                Err(error) => Answer::Ready(Reply::Error(error)),
                Ok(request) => match self.check_limits(&request) {
                    Err(error) => Answer::Ready(Reply::Error(error)),
                    Ok(()) if request.is_connection_level() => {
                        let quit = request == Request::Quit;
                        let reply = self.answer_locally(request);
                        // The reply to HELLO is already in the new protocol.
                        let codec = self.codec.unwrap_or(codec);
                        slots.push(Slot {
                            request_id,
                            codec,
                            answer: Answer::Ready(reply),
                        });
                        if quit {
                            return RoundEnd::Close(None);
                        }
                        continue;
                    }
                    Ok(()) => {
                        job.requests.push(request);
                        Answer::Engine
                    }
                },
            };
            slots.push(Slot {
                request_id,
                codec,
                answer,
            });
        }
        RoundEnd::Full
    }

    /// Refuses keys and values over their configured limits before they
    /// reach the engine.
    fn check_limits(&self, request: &Request) -> Result<(), ServerError> {
        let config = &self.shared.config;
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
        if let Request::Set { value, .. } = request {
            if value.len() > config.value_bytes_max {
                return Err(ServerError::limit(
                    "value length in bytes (value_bytes_max)",
                    config.value_bytes_max as u64,
                ));
            }
        }
        Ok(())
    }

    /// Sends the job's requests to the engine and waits for the replies. If
    /// the queue is full or the engine is gone, every request in the job gets
    /// the matching error and nothing is applied.
    async fn run_job(&self, job: &mut Job, slots: &[Slot]) -> Vec<Reply> {
        let mut replies = std::mem::take(&mut job.replies);
        replies.clear();
        if job.requests.is_empty() {
            return replies;
        }
        debug_assert_eq!(
            job.requests.len(),
            slots
                .iter()
                .filter(|s| matches!(s.answer, Answer::Engine))
                .count()
        );
        let (done, receive) = oneshot::channel();
        let submission = Submission {
            job: std::mem::take(job),
            done,
        };
        let error = match self.shared.queue.try_send(submission) {
            Ok(()) => match receive.await {
                Ok(returned) => {
                    *job = returned;
                    job.requests.clear();
                    return std::mem::take(&mut job.replies);
                }
                Err(_) => ServerError::SHUTTING_DOWN,
            },
            Err(TrySendError::Full(submission)) => {
                ServerStats::add(
                    &self.shared.stats.busy_replies,
                    submission.job.requests.len() as u64,
                );
                *job = submission.job;
                ServerError::BUSY
            }
            Err(TrySendError::Disconnected(submission)) => {
                *job = submission.job;
                ServerError::SHUTTING_DOWN
            }
        };
        replies.extend(job.requests.iter().map(|_| Reply::Error(error.clone())));
        job.requests.clear();
        replies
    }

    /// Answers connection-level commands.
    fn answer_locally(&mut self, request: Request) -> Reply {
        match request {
            Request::Ping(None) => Reply::simple("PONG"),
            Request::Ping(Some(message)) | Request::Echo(message) => Reply::Bulk(message),
            Request::Time => {
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from(since_epoch.as_secs().to_string())),
                    Reply::Bulk(Bytes::from(since_epoch.subsec_micros().to_string())),
                ])
            }
            Request::Quit => Reply::OK,
            Request::Select(0) => Reply::OK,
            Request::Select(_) => {
                Reply::Error(ServerError::generic("ERR DB index is out of range"))
            }
            Request::Hello {
                protocol,
                client_name,
            } => self.hello(protocol, client_name),
            Request::Client(command) => match command {
                ClientCommand::SetName(name) => {
                    self.name = (!name.is_empty()).then_some(name);
                    Reply::OK
                }
                ClientCommand::GetName => self.name.clone().map_or(Reply::Nil, Reply::Bulk),
                ClientCommand::Id => Reply::Int(self.id as i64),
                ClientCommand::SetInfo => Reply::OK,
            },
            Request::Command(query) => command_reply(query),
            Request::ConfigGet(patterns) => self.config_get(&patterns),
            other => Reply::Error(ServerError::generic(format!(
                "ERR {other:?} is not a connection command"
            ))),
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

    /// `CONFIG GET pattern...`: usher's settings by their TOML names, plus
    /// the Redis settings that tools such as redis-benchmark ask for.
    fn config_get(&self, patterns: &[Bytes]) -> Reply {
        let config = &self.shared.config;
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
            Reply::Int(i64::from(spec.first_key != 0)),
            Reply::Array(Vec::new()),
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
                        ]),
                    )
                })
                .collect(),
        ),
    }
}
