//! Network I/O on the engine thread, Redis-style: one `mio` poll loop
//! accepts connections, reads every socket that is ready, decodes each
//! frame and applies it on the spot, then writes all replies, one write per
//! connection per round.
//!
//! Why not network threads that hand requests to the engine over a queue:
//! on the two-core machines this server targets, that design spent most of
//! an unpipelined request's time in the two cross-thread wake-ups (network
//! thread → engine → network thread), not in usher code; here a request
//! costs one `epoll_wait` share, one `read` and one `write`, with no
//! thread hop. (Measured side by side; figures in BENCHMARKS.md.)
//!
//! One round of the loop is one engine batch (one clock reading, one log
//! record). Without persistence replies are encoded straight into the
//! connection's output buffer. With persistence they wait, in order, in the
//! connection's `held` queue until the round's log record is written and
//! synced (at the end of the round, on this thread); then they are encoded
//! and written. If that commit failed, the engine's replies become
//! durability errors.
//!
//! In-process producers (embedding, tests, later replication) submit
//! requests through the same bounded command queue the engine always had
//! ([`Control::submit`]); each submission joins the next round's batch.
//!
//! Limits: `connections_max`; `queue_batches_max` queued submissions (BUSY
//! beyond); at most `pipeline_requests_max` requests of
//! one connection and `batch_requests_max` in all per round (the rest wait
//! for the next round); a connection whose unsent replies exceed
//! `client_output_bytes_max` is not read until its client catches up.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use usher_protocol::{ArgList, Reply, Request, ServerError};

use crate::clock::Clock;
use crate::config::Config;
use crate::connection::{Codec, Connection, Frame};
use crate::engine::Engine;
use crate::state::State;
use crate::stats::ServerStats;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection tokens start here.
const FIRST_CONNECTION: usize = 2;

/// Bytes read per `read` call at most.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Largest buffer kept for a connection between rounds; a larger one (after
/// a big frame or reply) is given back.
const BUFFER_KEEP_BYTES: usize = 256 * 1024;
/// Readiness events taken per poll.
const EVENTS_MAX: usize = 1024;
/// Frames of one connection decoded (and their keys prefetched) before the
/// first of them is applied: a `-P 16` pipeline at once.
const LOOKAHEAD_FRAMES: usize = 16;

/// Requests from an in-process producer and where their replies go, in
/// the same order, once durable per policy.
pub struct Submission {
    pub requests: Vec<Request>,
    pub done: crossbeam_channel::Sender<Vec<Reply>>,
}

/// How other threads reach the reactor: stop it, or submit requests.
pub struct Control {
    stop: AtomicBool,
    waker: Waker,
    queue: crossbeam_channel::Sender<Submission>,
}

impl Control {
    /// Queues `requests` for the engine's next round. The replies arrive on
    /// the returned channel. BUSY when the queue is full; SHUTTING_DOWN once
    /// the server stops.
    pub fn submit(
        &self,
        requests: Vec<Request>,
    ) -> Result<crossbeam_channel::Receiver<Vec<Reply>>, ServerError> {
        if self.stop.load(Ordering::Acquire) {
            return Err(ServerError::SHUTTING_DOWN);
        }
        let (done, replies) = crossbeam_channel::bounded(1);
        match self.queue.try_send(Submission { requests, done }) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(_)) => return Err(ServerError::BUSY),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                return Err(ServerError::SHUTTING_DOWN)
            }
        }
        if let Err(error) = self.waker.wake() {
            tracing::error!(%error, "cannot wake the engine thread");
        }
        Ok(replies)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Err(error) = self.waker.wake() {
            tracing::error!(%error, "cannot wake the engine thread to stop it");
        }
    }
}

/// A reply waiting for its batch's log commit.
struct Held {
    request_id: u64,
    codec: Codec,
    reply: Reply,
    /// From the engine (becomes an error if the commit failed), or answered
    /// by the connection itself.
    engine: bool,
}

struct Client {
    stream: TcpStream,
    protocol: Connection,
    input: BytesMut,
    output: BytesMut,
    held: VecDeque<Held>,
    /// Frames decoded but not applied yet: the rest of a group after the
    /// output limit was reached. They come before anything in `input`.
    decoded: VecDeque<Frame>,
    /// The socket may have more bytes to read (edge-triggered readiness).
    readable: bool,
    /// The peer closed its side: once `input` is read to the end, that is
    /// the end of the stream.
    peer_closed: bool,
    /// Stop reading; close once everything owed is written.
    closing: bool,
    /// Complete frames may be left in `input` or `decoded` (a round limit
    /// stopped before the buffer ran out).
    backlog: bool,
    /// Registered for writability (a write would block).
    watching_writes: bool,
    /// Already in the reactor's work list / held list.
    queued: bool,
    in_held_list: bool,
}

impl Client {
    fn unsent_bytes(&self) -> usize {
        self.output.len()
    }
}

pub struct Reactor<C: Clock> {
    poll: Poll,
    listener: Option<TcpListener>,
    control: Arc<Control>,
    engine: Engine<C>,
    config: Arc<Config>,
    stats: Arc<ServerStats>,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    next_id: u64,
    /// Connections to serve in the next round (readable, or with buffered
    /// input left over).
    work: Vec<usize>,
    /// Connections with replies waiting for a log commit.
    waiting: Vec<usize>,
    /// Connections whose output buffer has bytes to write.
    dirty: Vec<usize>,
    /// An empty list kept for its capacity: `work` and `waiting` are
    /// swapped with it while they are walked, so no round allocates.
    spare: Vec<usize>,
    scratch: Vec<u8>,
    args: ArgList,
    /// Decoded frames waiting to be applied (one group, see
    /// `LOOKAHEAD_FRAMES`); empty between groups, kept for its capacity.
    frames: Vec<Frame>,
    queue: crossbeam_channel::Receiver<Submission>,
    /// Submissions applied this round, with their replies.
    submitted: Vec<(Submission, Vec<Reply>)>,
    /// The commit ticket of the last round (see `Engine::end_batch`).
    ticket: u64,
}

impl<C: Clock> Reactor<C> {
    /// Wraps a bound listener and an engine; `start` it on its own thread.
    pub fn new(
        listener: std::net::TcpListener,
        engine: Engine<C>,
        config: Arc<Config>,
        stats: Arc<ServerStats>,
    ) -> std::io::Result<(Reactor<C>, Arc<Control>)> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let (queue, receiver) = crossbeam_channel::bounded(config.queue_batches_max);
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            waker: Waker::new(poll.registry(), WAKER)?,
            queue,
        });
        let reactor = Reactor {
            poll,
            listener: Some(listener),
            control: control.clone(),
            engine,
            config,
            stats,
            clients: Vec::new(),
            free: Vec::new(),
            next_id: 0,
            work: Vec::new(),
            waiting: Vec::new(),
            dirty: Vec::new(),
            spare: Vec::new(),
            scratch: vec![0; READ_CHUNK_BYTES],
            args: ArgList::new(),
            frames: Vec::with_capacity(LOOKAHEAD_FRAMES),
            queue: receiver,
            submitted: Vec::new(),
            ticket: 0,
        };
        Ok((reactor, control))
    }

    /// Serves until [`Control::stop`], then drains (answers what was
    /// already received, for at most `shutdown_grace_ms`) and returns the
    /// state with the log synced.
    pub fn run(mut self) -> State {
        let mut events = Events::with_capacity(EVENTS_MAX);
        let mut stopping: Option<Instant> = None;
        loop {
            let mut timeout = self.engine.background();
            if !self.work.is_empty() || !self.queue.is_empty() {
                timeout = Duration::ZERO;
            }
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() != ErrorKind::Interrupted {
                    tracing::error!(%error, "poll failed; stopping");
                    break;
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(token) => {
                        let index = token - FIRST_CONNECTION;
                        if let Some(Some(client)) = self.clients.get_mut(index) {
                            // A closing connection is never read again, so
                            // its readiness must not queue it round after round.
                            let ready =
                                event.is_readable() || event.is_read_closed() || event.is_error();
                            if ready && !client.closing {
                                client.readable = true;
                            }
                            // The peer's FIN often arrives with its last
                            // data, in one readiness edge: remember it, as
                            // no later event will say so.
                            if event.is_read_closed() || event.is_error() {
                                client.peer_closed = true;
                            }
                            if !client.queued {
                                client.queued = true;
                                self.work.push(index);
                            }
                            if client.unsent_bytes() > 0 {
                                self.dirty.push(index);
                            }
                        }
                    }
                }
            }
            if stopping.is_none() && self.control.stop.load(Ordering::Acquire) {
                stopping = Some(Instant::now());
                self.begin_shutdown();
            }
            self.round();
            self.release_committed();
            self.flush_dirty();
            if let Some(since) = stopping {
                let grace = Duration::from_millis(self.config.shutdown_grace_ms);
                let owed = !self.submitted.is_empty()
                    || self
                        .clients
                        .iter()
                        .flatten()
                        .any(|c| !c.held.is_empty() || c.unsent_bytes() > 0 || c.backlog);
                if !owed || since.elapsed() >= grace {
                    break;
                }
            }
        }
        for index in 0..self.clients.len() {
            self.close(index);
        }
        self.engine.finish()
    }

    /// Stops accepting and reading; what was already received is answered.
    fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for (index, client) in self.clients.iter_mut().enumerate() {
            if let Some(client) = client {
                client.readable = false;
                client.closing = true;
                if !client.queued && client.backlog {
                    client.queued = true;
                    self.work.push(index);
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    // Out of descriptors and similar: log and keep serving;
                    // the listener reports readiness again.
                    tracing::warn!(%error, "accept failed");
                    return;
                }
            };
            ServerStats::add(&self.stats.total_connections, 1);
            let connected = self.clients.len() - self.free.len();
            if connected >= self.config.connections_max {
                ServerStats::add(&self.stats.rejected_connections, 1);
                refuse(&mut stream, peer);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let index = match self.free.pop() {
                Some(index) => index,
                None => {
                    self.clients.push(None);
                    self.clients.len() - 1
                }
            };
            let token = Token(index + FIRST_CONNECTION);
            // Writability is watched only while a write is blocked: on
            // loopback every acknowledged write would otherwise wake the
            // poll once more.
            if let Err(error) =
                self.poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE)
            {
                tracing::warn!(%error, "cannot watch a new connection; dropping it");
                self.free.push(index);
                continue;
            }
            self.next_id += 1;
            ServerStats::add(&self.stats.connected_clients, 1);
            self.clients[index] = Some(Client {
                stream,
                protocol: Connection::new(self.next_id, &self.config),
                // Buffers grow with use: an idle connection costs no buffer
                // memory, which matters at 10k clients.
                input: BytesMut::new(),
                output: BytesMut::new(),
                held: VecDeque::new(),
                decoded: VecDeque::new(),
                readable: false,
                peer_closed: false,
                closing: false,
                backlog: false,
                watching_writes: false,
                queued: false,
                in_held_list: false,
            });
        }
    }

    /// One batch: reads and applies what every ready connection sent, and
    /// the queued submissions.
    fn round(&mut self) {
        if self.work.is_empty() && self.queue.is_empty() {
            return;
        }
        let batch = self.engine.begin_batch();
        let mut budget = self.config.batch_requests_max;
        while budget > 0 {
            let Ok(submission) = self.queue.try_recv() else {
                break;
            };
            budget = budget.saturating_sub(submission.requests.len());
            let replies = submission
                .requests
                .iter()
                .map(|request| self.engine.apply_in(&batch, request))
                .collect();
            self.submitted.push((submission, replies));
        }
        // Connections to serve again go back into `self.work` as it is walked.
        let mut work = std::mem::replace(&mut self.work, std::mem::take(&mut self.spare));
        let persistent = self.config.persist;
        for index in work.drain(..) {
            let Some(Some(client)) = self.clients.get_mut(index) else {
                continue;
            };
            client.queued = false;
            // A client that does not read its replies is not read either.
            if client.unsent_bytes() >= self.config.client_output_bytes_max {
                continue;
            }
            let mut eof = false;
            if client.readable && !client.closing {
                match read_some(client, &mut self.scratch) {
                    ReadOutcome::Data(n) => ServerStats::add(&self.stats.bytes_read, n as u64),
                    ReadOutcome::Drained => {}
                    ReadOutcome::Closed => eof = true,
                }
                // Everything the peer sent before its FIN is read.
                eof |= client.peer_closed && !client.readable;
            }
            let mut served = 0;
            let mut close = false;
            let mut need_more = false;
            let mut frames = std::mem::take(&mut self.frames);
            let mut output_full = false;
            while served < self.config.pipeline_requests_max
                && budget > 0
                && !close
                && !need_more
                && !output_full
            {
                // Decode a group of frames before applying any, and warm the
                // cache for their keys in two steps (table slots while
                // decoding, then entries): the group's cache misses then
                // overlap each other and the decoding instead of stalling
                // one request after another. Decoding reads no state, so
                // the order of effects is unchanged. Frames left over from
                // an earlier group come first.
                let room = (self.config.pipeline_requests_max - served)
                    .min(budget)
                    .min(LOOKAHEAD_FRAMES);
                while frames.len() < room {
                    match client.decoded.pop_front() {
                        Some(frame) => frames.push(frame),
                        None => break,
                    }
                }
                // Nothing after QUIT or a malformed frame is decoded.
                let mut last = frames.last().is_some_and(Frame::ends_input);
                while frames.len() < room && !last {
                    let frame =
                        client
                            .protocol
                            .next_frame(&mut client.input, &mut self.args, &self.config);
                    match &frame {
                        Frame::NeedMore => {
                            need_more = true;
                            break;
                        }
                        Frame::Engine { request, .. } => self.engine.prefetch(request, false),
                        _ => last = frame.ends_input(),
                    }
                    frames.push(frame);
                }
                for frame in &frames {
                    if let Frame::Engine { request, .. } = frame {
                        self.engine.prefetch(request, true);
                    }
                }
                let mut group = frames.drain(..);
                for frame in group.by_ref() {
                    let (request_id, codec, reply, engine) = match frame {
                        Frame::NeedMore => continue,
                        Frame::Engine {
                            request_id,
                            codec,
                            request,
                        } => {
                            let reply = self.engine.apply_in(&batch, &request);
                            (request_id, codec, reply, true)
                        }
                        Frame::Ready {
                            request_id,
                            codec,
                            reply,
                            close: quit,
                        } => {
                            close = quit;
                            (request_id, codec, reply, false)
                        }
                        Frame::Invalid {
                            request_id,
                            codec,
                            error,
                        } => {
                            ServerStats::add(&self.stats.protocol_errors, 1);
                            tracing::debug!(%error, "protocol error; closing");
                            close = true;
                            (request_id, codec, Reply::Error(error), false)
                        }
                    };
                    served += 1;
                    budget -= 1;
                    if persistent {
                        client.held.push_back(Held {
                            request_id,
                            codec,
                            reply,
                            engine,
                        });
                    } else {
                        codec.encode(request_id, &reply, &mut client.output);
                    }
                    if client.unsent_bytes() >= self.config.client_output_bytes_max {
                        output_full = true;
                        break;
                    }
                }
                // The rest of the group waits for the client to read.
                for (at, frame) in group.enumerate() {
                    client.decoded.insert(at, frame);
                }
            }
            self.frames = frames;
            if close {
                // Nothing after QUIT or a malformed frame runs.
                client.input.clear();
                need_more = true;
            }
            if close || eof {
                // After end of stream, what was received is still answered.
                client.closing = true;
                client.readable = false;
            }
            client.backlog = (!need_more && !client.input.is_empty()) || !client.decoded.is_empty();
            trim(&mut client.input);
            if served > 0 {
                if persistent {
                    if !client.in_held_list {
                        client.in_held_list = true;
                        self.waiting.push(index);
                    }
                } else {
                    self.dirty.push(index);
                }
            }
            if (client.readable || client.backlog) && !client.queued {
                client.queued = true;
                self.work.push(index);
            }
            if client.closing && !client.backlog && client.held.is_empty() {
                self.dirty.push(index);
            }
        }
        self.spare = work;
        self.ticket = self.engine.end_batch();
    }

    /// Encodes the replies held for this round's commit into their output
    /// buffers, and answers the submissions; those whose commit failed
    /// become durability errors.
    fn release_committed(&mut self) {
        let failed = self.engine.commit_failed(self.ticket);
        for (submission, mut replies) in self.submitted.drain(..) {
            if failed {
                replies.fill(Reply::Error(self.engine.durability_failure()));
            }
            // A producer that went away no longer wants its replies.
            let _ = submission.done.send(replies);
        }
        let mut waiting = std::mem::replace(&mut self.waiting, std::mem::take(&mut self.spare));
        for index in waiting.drain(..) {
            let Some(Some(client)) = self.clients.get_mut(index) else {
                continue;
            };
            client.in_held_list = false;
            for held in client.held.drain(..) {
                if held.engine && failed {
                    let error = Reply::Error(self.engine.durability_failure());
                    held.codec
                        .encode(held.request_id, &error, &mut client.output);
                } else {
                    held.codec
                        .encode(held.request_id, &held.reply, &mut client.output);
                }
            }
            self.dirty.push(index);
        }
        self.spare = waiting;
    }

    /// Writes every connection's pending output; closes connections that
    /// are done or broken.
    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            let Some(Some(client)) = self.clients.get_mut(index) else {
                continue;
            };
            let mut broken = false;
            while !client.output.is_empty() {
                match client.stream.write(&client.output) {
                    Ok(0) => {
                        broken = true;
                        break;
                    }
                    Ok(n) => {
                        ServerStats::add(&self.stats.bytes_written, n as u64);
                        client.output.advance(n);
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            let blocked = !client.output.is_empty();
            if blocked != client.watching_writes && !broken {
                let interest = if blocked {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let token = Token(index + FIRST_CONNECTION);
                match self
                    .poll
                    .registry()
                    .reregister(&mut client.stream, token, interest)
                {
                    Ok(()) => client.watching_writes = blocked,
                    Err(_) => broken = true,
                }
            }
            if client.output.is_empty() {
                trim(&mut client.output);
                // A client held back for unread replies may go on.
                if (client.readable || client.backlog) && !client.queued {
                    client.queued = true;
                    self.work.push(index);
                }
            }
            let done = client.closing
                && !client.backlog
                && client.held.is_empty()
                && client.output.is_empty();
            if broken || done {
                self.close(index);
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn close(&mut self, index: usize) {
        let Some(slot) = self.clients.get_mut(index) else {
            return;
        };
        let Some(mut client) = slot.take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut client.stream);
        let _ = client.stream.shutdown(std::net::Shutdown::Both);
        self.stats
            .connected_clients
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.free.push(index);
    }
}

enum ReadOutcome {
    Data(usize),
    /// Nothing more to read for now.
    Drained,
    /// End of stream or a broken connection.
    Closed,
}

/// One `read` into the connection's input buffer.
fn read_some(client: &mut Client, scratch: &mut [u8]) -> ReadOutcome {
    loop {
        match client.stream.read(scratch) {
            Ok(0) => return ReadOutcome::Closed,
            Ok(n) => {
                client.input.extend_from_slice(&scratch[..n]);
                // A short read means the socket is empty: wait for the next
                // readiness event instead of a `read` that would block.
                if n < scratch.len() {
                    client.readable = false;
                }
                return ReadOutcome::Data(n);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                client.readable = false;
                return ReadOutcome::Drained;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return ReadOutcome::Closed,
        }
    }
}

/// Gives back a buffer that grew large once it is empty.
fn trim(buffer: &mut BytesMut) {
    if buffer.is_empty() && buffer.capacity() > BUFFER_KEEP_BYTES {
        *buffer = BytesMut::new();
    }
}

/// Tells a client over `connections_max` why it is dropped (best effort,
/// never blocking).
fn refuse(stream: &mut TcpStream, peer: SocketAddr) {
    tracing::warn!(%peer, "connections_max reached; refusing connection");
    let _ = stream.write(b"-ERR max number of clients reached\r\n");
}
