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
//! record), in steps: queued submissions; then each ready connection in
//! turn is read (`read_step`), its frames decoded a group at a time
//! (`decode_group`) and applied (`apply_group`); then the parked requests
//! the batch woke or timed out are answered (`settle_waiters`); then the
//! batch is logged (`Engine::end_batch`). Without persistence replies are
//! encoded straight into the connection's output buffer. With persistence
//! they wait, in order, in the connection's `held` queue until the round's
//! log record is written and synced (at the end of the round, on this
//! thread); then they are encoded and written. If that commit failed, the
//! engine's replies become durability errors.
//!
//! In-process producers (embedding, tests, later replication) submit
//! requests through the same bounded command queue the engine always had
//! ([`Control::submit`]); each submission joins the next round's batch.
//!
//! Blocked clients: a blocking command (BZPOPMIN...) that cannot go ahead
//! parks in the engine's wait registry with the address of its reply
//! ([`ReplyTo`]); its connection is then neither read nor served, so its
//! replies stay in order, until the request is answered (woken by a change,
//! or its timeout). A connection that closes removes its waiter. At
//! shutdown a parked request is answered SHUTTING_DOWN. As in Redis,
//! waiters are served right after the request that woke them, before the
//! next one, so a request pipelined behind a write cannot take what a
//! waiter waits for; the registry costs one branch per request while it is
//! empty.
//!
//! Users: the reactor owns the users table (`acl::Users`) and lends it to
//! each connection's decoding, where requests are checked against their
//! user. After a round that deleted or disabled a user, that user's
//! connections are closed (`close_revoked`).
//!
//! Limits: `connections_max`; `blocked_clients_max` parked requests (a
//! LIMIT error beyond); `queue_batches_max` queued submissions (BUSY
//! beyond); at most `pipeline_requests_max` requests of one connection and
//! `batch_requests_max` in all per round (the rest wait for the next
//! round); a connection whose unsent replies exceed
//! `client_output_bytes_max` is not read until its client catches up. The
//! limits that close a client (output and input buffers, idle timeout)
//! are decided in `limits.rs`, refusals at `connections_max` answered in
//! `refusals.rs`; this file calls them at a few marked points.
//!
//! TLS: a second listener's connections read and write through rustls
//! ([`Transport`]); the rest of the path is the same. Handshakes run here
//! too, at most `tls_handshakes_per_round_max` steps per round (the rest
//! wait a round), and one not finished `tls_handshake_timeout_ms` after the
//! accept is closed.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use usher_protocol::{ArgList, Reply, Request, ServerError};

use crate::acl::Users;
use crate::clock::Clock;
use crate::config::Config;
use crate::connection::{Codec, Connection, Frame};
use crate::engine::{Batch, Engine};
use crate::limits::{self, ClientLimits, Closing, PeerLimits};
use crate::refusals::Refusals;
use crate::state::State;
use crate::stats::ServerStats;
use crate::transport::Transport;
use crate::wait::ReplyTo;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const TLS_LISTENER: Token = Token(2);
/// Connection tokens start here.
const FIRST_CONNECTION: usize = 3;

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
    /// the server stops. A blocking command never waits here (a producer
    /// has no connection to block): it gets its timeout reply at once if it
    /// cannot go ahead, as inside Redis's MULTI.
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

/// One accepted socket as the reactor serves it: the stream, its buffers,
/// the replies held for a commit, and where it stands in the round. Named
/// for the other end of the socket, to keep it apart from
/// [`Connection`](crate::connection::Connection) (the protocol state it
/// owns: codec, RESP version, name) and from `client::Client` (the async
/// client library).
struct Peer {
    stream: Transport,
    protocol: Connection,
    input: BytesMut,
    output: BytesMut,
    held: VecDeque<Held>,
    /// Frames decoded but not applied yet: the rest of a group after the
    /// output limit was reached or a request parked. They come before
    /// anything in `input`.
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
    /// A request of a blocking command waits in the engine's registry: the
    /// client is blocked, and nothing after that request is read or
    /// applied until it is answered (Redis semantics).
    parked: bool,
    /// Held reply bytes, the soft limit's clock, activity (`limits.rs`).
    limits: PeerLimits,
}

impl Peer {
    /// Reply bytes owed: encoded output, TLS-buffered bytes, plus the
    /// replies held for the commit as the bytes they will take.
    #[inline]
    fn unsent_bytes(&self) -> usize {
        self.output.len() + self.stream.unsent_bytes() + self.limits.held_bytes
    }

    fn owes_output(&self) -> bool {
        !self.output.is_empty() || self.stream.wants_write()
    }
}

/// The TLS listener and the configuration its connections start with.
pub struct TlsListener {
    pub listener: std::net::TcpListener,
    pub config: Arc<rustls::ServerConfig>,
}

/// One peer's turn in a round: what it did and what stops it.
struct Turn {
    /// The peer's slot.
    peer: usize,
    /// Requests of this peer answered (or parked) this round.
    served: usize,
    /// Requests the round may still take, all peers together.
    budget: usize,
    /// The server is stopping: a blocking request is refused, not parked.
    stopping: bool,
    /// QUIT or a malformed frame: nothing after it runs.
    close: bool,
    /// The input ends in an incomplete frame.
    need_more: bool,
    /// Unsent replies reached `client_output_bytes_max`.
    output_full: bool,
    /// A request parked: the client is blocked.
    parked: bool,
}

impl Turn {
    /// Frames that may be decoded for the next group.
    #[inline]
    fn room(&self, config: &Config) -> usize {
        (config.pipeline_requests_max - self.served)
            .min(self.budget)
            .min(LOOKAHEAD_FRAMES)
    }

    #[inline]
    fn may_go_on(&self, config: &Config) -> bool {
        self.served < config.pipeline_requests_max
            && self.budget > 0
            && !(self.close || self.need_more || self.output_full || self.parked)
    }
}

pub struct Reactor<C: Clock> {
    poll: Poll,
    listener: Option<TcpListener>,
    tls_listener: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    /// TLS connections in their handshake, in accept order (so in deadline
    /// order): deadline, slot, connection id.
    handshakes: VecDeque<(Instant, usize, u64)>,
    /// Handshake steps the current round may still run.
    handshakes_left: usize,
    control: Arc<Control>,
    engine: Engine<C>,
    config: Arc<Config>,
    stats: Arc<ServerStats>,
    peers: Vec<Option<Peer>>,
    free: Vec<usize>,
    /// Users and permissions, lent to each connection's decoding.
    users: Users,
    /// `Users::revocations` when connections were last swept for users
    /// deleted or disabled.
    revocations_seen: u64,
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
    /// Replies to parked requests answered this round; empty between
    /// rounds, kept for its capacity.
    woken: Vec<(ReplyTo, Reply)>,
    /// The commit ticket of the last round (see `Engine::end_batch`).
    ticket: u64,
    /// Shutdown has begun.
    stopping: bool,
    /// The limits that close clients, and the refused connections.
    limits: ClientLimits,
    refusals: Refusals,
}

impl<C: Clock> Reactor<C> {
    /// Wraps bound listeners (plaintext, TLS, or both) and an engine;
    /// `start` it on its own thread.
    pub fn new(
        listener: Option<std::net::TcpListener>,
        tls: Option<TlsListener>,
        engine: Engine<C>,
        config: Arc<Config>,
        stats: Arc<ServerStats>,
        users: Users,
    ) -> std::io::Result<(Reactor<C>, Arc<Control>)> {
        let poll = Poll::new()?;
        let watch = |listener: std::net::TcpListener, token| {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, token, Interest::READABLE)?;
            Ok::<_, std::io::Error>(listener)
        };
        let listener = listener.map(|l| watch(l, LISTENER)).transpose()?;
        let tls_listener = match tls {
            Some(tls) => Some((watch(tls.listener, TLS_LISTENER)?, tls.config)),
            None => None,
        };
        let (queue, receiver) = crossbeam_channel::bounded(config.queue_batches_max);
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            waker: Waker::new(poll.registry(), WAKER)?,
            queue,
        });
        let reactor = Reactor {
            poll,
            listener,
            tls_listener,
            handshakes: VecDeque::new(),
            handshakes_left: 0,
            control: control.clone(),
            engine,
            config,
            stats,
            peers: Vec::new(),
            free: Vec::new(),
            users,
            revocations_seen: 0,
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
            woken: Vec::new(),
            ticket: 0,
            stopping: false,
            limits: ClientLimits::default(),
            refusals: Refusals::default(),
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
            self.limits.tick();
            let mut timeout = self.engine.run_timers();
            if let Some(wait) = self.expire_handshakes() {
                timeout = timeout.min(wait);
            }
            timeout = self.limits.poll_timeout(timeout, &self.config);
            timeout = self.refusals.poll_timeout(timeout);
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
                    LISTENER => self.accept(false),
                    TLS_LISTENER => self.accept(true),
                    WAKER => {}
                    Token(token) => self.note_readiness(token - FIRST_CONNECTION, event),
                }
            }
            if stopping.is_none() && self.control.stop.load(Ordering::Acquire) {
                stopping = Some(Instant::now());
                self.begin_shutdown();
            }
            self.round();
            self.release_committed();
            self.flush_dirty();
            self.enforce_limits();
            if let Some(since) = stopping {
                let grace = Duration::from_millis(self.config.shutdown_grace_ms);
                if !self.owes_replies() || since.elapsed() >= grace {
                    break;
                }
            }
        }
        // Every round ends with its held replies encoded (see
        // `release_committed`), so none can be left to lose.
        assert!(
            self.peers.iter().flatten().all(|peer| peer.held.is_empty()),
            "a held reply outlived the shutdown drain"
        );
        for index in 0..self.peers.len() {
            self.close(index);
        }
        self.engine.finish()
    }

    /// Records a connection's readiness and queues it for the next round.
    fn note_readiness(&mut self, index: usize, event: &mio::event::Event) {
        let Some(Some(peer)) = self.peers.get_mut(index) else {
            return;
        };
        // A closing connection is never read again, so its readiness must
        // not queue it round after round.
        let ready = event.is_readable() || event.is_read_closed() || event.is_error();
        if ready && !peer.closing {
            peer.readable = true;
        }
        // The peer's FIN often arrives with its last data, in one readiness
        // edge: remember it, as no later event will say so.
        if event.is_read_closed() || event.is_error() {
            peer.peer_closed = true;
        }
        if !peer.queued {
            peer.queued = true;
            self.work.push(index);
        }
        if peer.owes_output() {
            self.dirty.push(index);
        }
    }

    /// Whether a submission or a connection still waits for replies.
    fn owes_replies(&self) -> bool {
        !self.submitted.is_empty()
            || self
                .peers
                .iter()
                .flatten()
                .any(|peer| !peer.held.is_empty() || peer.unsent_bytes() > 0 || peer.backlog)
    }

    /// Stops accepting and reading; what was already received is answered,
    /// and a blocked client's parked request gets SHUTTING_DOWN.
    fn begin_shutdown(&mut self) {
        self.stopping = true;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some((mut listener, _)) = self.tls_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for (index, peer) in self.peers.iter_mut().enumerate() {
            if let Some(peer) = peer {
                peer.readable = false;
                peer.closing = true;
                if !peer.queued && peer.backlog {
                    peer.queued = true;
                    self.work.push(index);
                }
            }
        }
        for index in 0..self.peers.len() {
            if let Some(to) = self.engine.unpark(index) {
                self.wake(to, Reply::Error(ServerError::SHUTTING_DOWN));
            }
        }
    }

    fn accept(&mut self, tls: bool) {
        loop {
            let listener = match tls {
                false => self.listener.as_ref(),
                true => self.tls_listener.as_ref().map(|(listener, _)| listener),
            };
            let Some(listener) = listener else {
                return;
            };
            let (stream, peer) = match listener.accept() {
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
            let connected = self.peers.len() - self.free.len();
            if connected >= self.config.connections_max {
                ServerStats::add(&self.stats.rejected_connections, 1);
                // A TLS client could not read a plaintext or binary error:
                // it is closed without one (still counted in the log).
                self.refusals
                    .refuse(stream, self.config.connections_max, !tls);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let Some(mut stream) = self.transport(stream, tls) else {
                continue;
            };
            let index = match self.free.pop() {
                Some(index) => index,
                None => {
                    self.peers.push(None);
                    self.peers.len() - 1
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
            if tls {
                self.note_handshake(index);
            }
            ServerStats::add(&self.stats.connected_clients, 1);
            self.peers[index] = Some(Peer {
                stream,
                protocol: Connection::new(self.next_id, &self.config, &self.users, Some(peer)),
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
                parked: false,
                limits: self.limits.new_peer(),
            });
        }
    }

    /// The stream for an accepted socket: plain, or TLS from the TLS
    /// listener.
    fn transport(&self, stream: mio::net::TcpStream, tls: bool) -> Option<Transport> {
        let Some((_, config)) = self.tls_listener.as_ref().filter(|_| tls) else {
            return Some(Transport::Plain(stream));
        };
        match Transport::tls(stream, config.clone()) {
            Ok(transport) => Some(transport),
            Err(error) => {
                tracing::warn!(%error, "cannot start TLS on a new connection; dropping it");
                None
            }
        }
    }

    /// Starts the handshake clock of the TLS connection just accepted into
    /// `index`. Entries of connections gone or done are dropped as their
    /// deadlines pass, or all at once if they pile up.
    fn note_handshake(&mut self, index: usize) {
        if self.handshakes.len() >= 2 * self.config.connections_max {
            let peers = &self.peers;
            self.handshakes
                .retain(|&(_, index, id)| handshaking(peers, index, id));
        }
        let timeout = Duration::from_millis(self.config.tls_handshake_timeout_ms);
        self.handshakes
            .push_back((Instant::now() + timeout, index, self.next_id));
    }

    /// Closes TLS connections whose handshake outlived
    /// `tls_handshake_timeout_ms`; returns the time to the next deadline.
    fn expire_handshakes(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while let Some(&(deadline, index, id)) = self.handshakes.front() {
            if deadline > now {
                return Some(deadline - now);
            }
            self.handshakes.pop_front();
            if handshaking(&self.peers, index, id) {
                tracing::debug!(
                    timeout_ms = self.config.tls_handshake_timeout_ms,
                    "TLS handshake not finished in time; closing"
                );
                self.close(index);
            }
        }
        None
    }

    /// One batch: the queued submissions, then every ready connection in
    /// turn (read, decode, apply), then the parked requests this batch
    /// woke or timed out; then the batch's effects are logged.
    fn round(&mut self) {
        if self.work.is_empty() && self.queue.is_empty() && !self.engine.waiters_due() {
            return;
        }
        let batch = self.engine.begin_batch();
        self.handshakes_left = self.config.tls_handshakes_per_round_max;
        let mut budget = self.apply_submissions(&batch);
        // Connections to serve again go back into `self.work` as it is walked.
        let mut work = std::mem::replace(&mut self.work, std::mem::take(&mut self.spare));
        for index in work.drain(..) {
            budget = self.serve_peer(index, &batch, budget);
        }
        self.spare = work;
        if self.engine.has_waiters() {
            self.settle_waiters(&batch);
        }
        let ticket = self.engine.end_batch();
        assert!(ticket >= self.ticket, "commit tickets only increase");
        self.ticket = ticket;
        if self.users.revocations() != self.revocations_seen {
            self.close_revoked();
        }
    }

    /// Closes the connections of users deleted or disabled this round
    /// (`ACL DELUSER`, `ACL SETUSER name off`, `ACL LOAD`), as Redis does:
    /// nothing more they sent runs; what they are owed is still written.
    fn close_revoked(&mut self) {
        self.revocations_seen = self.users.revocations();
        for index in 0..self.peers.len() {
            let Some(Some(peer)) = self.peers.get_mut(index) else {
                continue;
            };
            if !peer.protocol.user_gone(&self.users) {
                continue;
            }
            peer.input.clear();
            peer.decoded.clear();
            peer.backlog = false;
            peer.readable = false;
            peer.closing = true;
            if peer.parked {
                peer.parked = false;
                self.engine.unpark(index);
            }
            self.dirty.push(index);
        }
    }

    /// Applies queued in-process submissions; returns the round's budget
    /// left for connections.
    fn apply_submissions(&mut self, batch: &Batch) -> usize {
        let mut budget = self.config.batch_requests_max;
        while budget > 0 {
            let Ok(submission) = self.queue.try_recv() else {
                break;
            };
            budget = budget.saturating_sub(submission.requests.len());
            let replies = submission
                .requests
                .iter()
                .map(|request| self.engine.apply_or_refuse(batch, request))
                .collect();
            self.submitted.push((submission, replies));
        }
        budget
    }

    /// One connection's turn: read what it sent, then decode and apply
    /// groups of frames until a limit, the end of its input, or a parked
    /// request stops it. Returns the round's budget left.
    fn serve_peer(&mut self, index: usize, batch: &Batch, budget: usize) -> usize {
        let Some(Some(peer)) = self.peers.get_mut(index) else {
            return budget;
        };
        peer.queued = false;
        if peer.parked {
            // A blocked client is neither read nor served; only its going
            // away matters.
            if peer.peer_closed {
                self.drop_parked(index);
            }
            return budget;
        }
        // A client that does not read its replies is not read either.
        if peer.unsent_bytes() >= self.config.client_output_bytes_max {
            return budget;
        }
        if peer.stream.is_handshaking() && peer.readable {
            if self.handshakes_left == 0 {
                peer.queued = true;
                self.work.push(index);
                return budget;
            }
            self.handshakes_left -= 1;
        }
        let eof = read_step(peer, &mut self.scratch, &self.stats);
        if peer.stream.wants_write() {
            // Handshake messages or an alert to send.
            self.dirty.push(index);
        }
        let mut turn = Turn {
            peer: index,
            served: 0,
            budget,
            stopping: self.stopping,
            close: false,
            need_more: false,
            output_full: false,
            parked: false,
        };
        let mut frames = std::mem::take(&mut self.frames);
        while turn.may_go_on(&self.config) {
            let room = turn.room(&self.config);
            decode_group(
                peer,
                &mut frames,
                room,
                &mut self.args,
                (&self.config, &mut self.users),
                &self.engine,
                &mut turn,
            );
            let (engine, stats, config) = (&mut self.engine, &self.stats, &self.config);
            let mut step = Step {
                batch,
                peer,
                turn: &mut turn,
                woken: &mut self.woken,
            };
            apply_group(engine, stats, config, &mut step, &mut frames);
        }
        self.frames = frames;
        self.end_turn(&turn, eof);
        // Blocked clients served during the turn get their replies now: they
        // are parked, so nothing else of theirs is waiting to go first.
        if !self.woken.is_empty() {
            let mut woken = std::mem::take(&mut self.woken);
            for (to, reply) in woken.drain(..) {
                self.wake(to, reply);
            }
            self.woken = woken;
        }
        turn.budget
    }

    /// After a connection's turn: what it still owes and where it goes
    /// next (work list, held list, output to write, closing).
    fn end_turn(&mut self, turn: &Turn, eof: bool) {
        let index = turn.peer;
        let Some(Some(peer)) = self.peers.get_mut(index) else {
            return;
        };
        let (unsent, input) = (peer.unsent_bytes(), peer.input.len());
        let over = self
            .limits
            .after_turn(&mut peer.limits, unsent, input, &self.config);
        if let Some(closing) = over {
            self.evict(index, closing);
            return;
        }
        let mut need_more = turn.need_more;
        if turn.close {
            // Nothing after QUIT or a malformed frame runs.
            peer.input.clear();
            need_more = true;
        }
        if turn.close || eof {
            // After end of stream, what was received is still answered.
            peer.closing = true;
            peer.readable = false;
        }
        peer.backlog = (!need_more && !peer.input.is_empty()) || !peer.decoded.is_empty();
        trim(&mut peer.input);
        if turn.served > 0 {
            if self.config.persist {
                if !peer.in_held_list {
                    peer.in_held_list = true;
                    self.waiting.push(index);
                }
            } else {
                self.dirty.push(index);
            }
        }
        if peer.parked {
            // A client that blocked and then ended its stream is gone, as
            // Redis frees it; otherwise it waits, off the work list.
            if eof {
                self.drop_parked(index);
            }
            return;
        }
        if (peer.readable || peer.backlog) && !peer.queued {
            peer.queued = true;
            self.work.push(index);
        }
        if peer.closing && !peer.backlog && peer.held.is_empty() {
            self.dirty.push(index);
        }
    }

    /// Hands the parked requests this batch woke (or timed out) their
    /// replies; each such client goes on with its next request next round.
    fn settle_waiters(&mut self, batch: &Batch) {
        let mut woken = std::mem::take(&mut self.woken);
        self.engine.serve_waiters(batch, &mut woken);
        for (to, reply) in woken.drain(..) {
            self.wake(to, reply);
        }
        self.woken = woken;
    }

    /// Answers a blocked client's parked request and unblocks it.
    fn wake(&mut self, to: ReplyTo, reply: Reply) {
        // Closing a connection removes its waiter, so the slot is its own.
        let Some(Some(peer)) = self.peers.get_mut(to.peer) else {
            panic!("a parked request outlived its connection");
        };
        assert!(peer.parked, "a woken request's connection was not blocked");
        peer.parked = false;
        let held = Held {
            request_id: to.request_id,
            codec: to.codec,
            reply,
            engine: true,
        };
        deliver(peer, held, self.config.persist);
        if !self.config.persist {
            self.dirty.push(to.peer);
        } else if !peer.in_held_list {
            peer.in_held_list = true;
            self.waiting.push(to.peer);
        }
        if (peer.readable || peer.backlog) && !peer.queued {
            peer.queued = true;
            self.work.push(to.peer);
        }
    }

    /// A blocked client went away: its parked request is dropped, what it
    /// is owed is still written if it can be, and the connection closes.
    fn drop_parked(&mut self, index: usize) {
        self.engine.unpark(index);
        let Some(Some(peer)) = self.peers.get_mut(index) else {
            return;
        };
        peer.parked = false;
        peer.closing = true;
        peer.readable = false;
        peer.input.clear();
        peer.decoded.clear();
        peer.backlog = false;
        if peer.held.is_empty() {
            self.dirty.push(index);
        }
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
            let Some(Some(peer)) = self.peers.get_mut(index) else {
                continue;
            };
            peer.in_held_list = false;
            peer.limits.held_bytes = 0;
            for held in peer.held.drain(..) {
                if held.engine && failed {
                    let error = Reply::Error(self.engine.durability_failure());
                    held.codec.encode(held.request_id, &error, &mut peer.output);
                } else {
                    held.codec
                        .encode(held.request_id, &held.reply, &mut peer.output);
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
            let Some(Some(peer)) = self.peers.get_mut(index) else {
                continue;
            };
            let mut broken = write_some(peer, &self.stats);
            let unsent = peer.unsent_bytes();
            self.limits
                .after_write(&mut peer.limits, unsent, &self.config);
            let blocked = peer.owes_output();
            if blocked != peer.watching_writes && !broken {
                let interest = if blocked {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let token = Token(index + FIRST_CONNECTION);
                match self
                    .poll
                    .registry()
                    .reregister(&mut peer.stream, token, interest)
                {
                    Ok(()) => peer.watching_writes = blocked,
                    Err(_) => broken = true,
                }
            }
            if !peer.owes_output() {
                trim(&mut peer.output);
                // A client held back for unread replies may go on.
                if (peer.readable || peer.backlog) && !peer.queued && !peer.parked {
                    peer.queued = true;
                    self.work.push(index);
                }
            }
            let done = peer.closing
                && !peer.backlog
                && !peer.parked
                && peer.held.is_empty()
                && !peer.owes_output();
            if broken || done {
                self.close(index);
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn close(&mut self, index: usize) {
        let Some(slot) = self.peers.get_mut(index) else {
            return;
        };
        let Some(mut peer) = slot.take() else {
            return;
        };
        if peer.parked {
            self.engine.unpark(index);
        }
        self.engine.forget_watches(index);
        self.limits.forget(&peer.limits);
        if peer.stream.is_handshaking() {
            ServerStats::add(&self.stats.tls_handshake_failures, 1);
        }
        let _ = self.poll.registry().deregister(&mut peer.stream);
        peer.stream.shutdown();
        self.stats
            .connected_clients
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.free.push(index);
    }

    /// Closes a connection a limit closes, with its log line and count.
    fn evict(&mut self, index: usize, closing: Closing) {
        if let Some(Some(peer)) = self.peers.get(index) {
            let addr = peer.stream.peer_addr().ok();
            closing.report(peer.protocol.id, addr, &self.config, &self.stats);
        }
        self.close(index);
    }

    /// Once per loop: the input total, the periodic sweep (soft output
    /// limit, idle timeout, the refusal log) and the refused connections.
    fn enforce_limits(&mut self) {
        if self.limits.input_over(&self.config) {
            self.close_largest_inputs();
        }
        let input = self.limits.input_total() as u64;
        ServerStats::set(&self.stats.client_input_bytes, input);
        if self.limits.sweep_due() {
            for index in 0..self.peers.len() {
                let Some(Some(peer)) = self.peers.get(index) else {
                    continue;
                };
                let (unsent, blocked) = (peer.unsent_bytes(), peer.parked);
                let verdict = self
                    .limits
                    .on_sweep(&peer.limits, unsent, blocked, &self.config);
                if let Some(closing) = verdict {
                    self.evict(index, closing);
                }
            }
            self.refusals.log(self.config.connections_max, true);
        }
        self.refusals.serve();
    }

    /// All clients' unparsed input is over its bound: closes those holding
    /// the most until it is back under.
    fn close_largest_inputs(&mut self) {
        let held: Vec<(usize, usize)> = self
            .peers
            .iter()
            .enumerate()
            .filter_map(|(index, peer)| Some((peer.as_ref()?.limits.input_counted(), index)))
            .filter(|&(bytes, _)| bytes > 0)
            .collect();
        let total = self.limits.input_total();
        for (bytes, index) in limits::largest_inputs(held, total, &self.config) {
            self.evict(index, Closing::InputTotal { bytes, total });
        }
    }
}

/// The read step: one `read` if the socket may have bytes. Returns whether
/// the stream has ended (everything the peer sent before its FIN is read).
#[inline]
fn read_step(peer: &mut Peer, scratch: &mut [u8], stats: &ServerStats) -> bool {
    if !peer.readable || peer.closing {
        return false;
    }
    let eof = match read_some(peer, scratch) {
        ReadOutcome::Data(n) => {
            ServerStats::add(&stats.bytes_read, n as u64);
            false
        }
        ReadOutcome::Drained => false,
        ReadOutcome::Closed => true,
    };
    eof || (peer.peer_closed && !peer.readable)
}

/// The decode step: decodes a group of frames before any is applied, and
/// warms the cache for their keys in two steps (table slots while
/// decoding, then entries), so the group's cache misses overlap each other
/// and the decoding instead of stalling one request after another.
/// Decoding reads no state, so the order of effects is unchanged. Frames
/// left over from an earlier group come first.
fn decode_group<C: Clock>(
    peer: &mut Peer,
    frames: &mut Vec<Frame>,
    room: usize,
    args: &mut ArgList,
    (config, users): (&Config, &mut Users),
    engine: &Engine<C>,
    turn: &mut Turn,
) {
    while frames.len() < room {
        match peer.decoded.pop_front() {
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    // Nothing after QUIT or a malformed frame is decoded.
    let mut last = frames.last().is_some_and(Frame::ends_input);
    while frames.len() < room && !last {
        let frame = peer
            .protocol
            .next_frame(&mut peer.input, args, config, users);
        match &frame {
            Frame::NeedMore => {
                turn.need_more = true;
                break;
            }
            Frame::Engine { request, .. } => engine.prefetch(request, false),
            _ => last = frame.ends_input(),
        }
        frames.push(frame);
    }
    for frame in frames.iter() {
        if let Frame::Engine { request, .. } = frame {
            engine.prefetch(request, true);
        }
    }
}

/// What the apply step works on: the round's batch, the connection whose
/// turn it is, and where replies to blocked clients woken meanwhile go.
struct Step<'a> {
    batch: &'a Batch,
    peer: &'a mut Peer,
    turn: &'a mut Turn,
    woken: &'a mut Vec<(ReplyTo, Reply)>,
}

/// The apply step: answers a decoded group in order. After each request
/// for the engine, blocked clients whose keys it changed are served at
/// once, before the next request (as Redis does), so a later request
/// cannot take what they wait for. What is left when the turn stops (the
/// output limit, or a request that parked) goes back to the peer's
/// decoded frames.
fn apply_group<C: Clock>(
    engine: &mut Engine<C>,
    stats: &ServerStats,
    config: &Config,
    step: &mut Step<'_>,
    frames: &mut Vec<Frame>,
) {
    let (batch, peer, turn) = (step.batch, &mut *step.peer, &mut *step.turn);
    let mut group = frames.drain(..);
    for frame in group.by_ref() {
        let held = match frame {
            Frame::NeedMore => continue,
            Frame::Close => {
                turn.close = true;
                continue;
            }
            Frame::Engine {
                request_id,
                codec,
                request,
            } => {
                let held = apply_or_park(engine, batch, peer, turn, request_id, codec, request);
                if engine.has_waiters() {
                    engine.serve_waiters(batch, step.woken);
                }
                held
            }
            Frame::Ready {
                request_id,
                codec,
                reply,
                close: quit,
            } => {
                turn.close = quit;
                Some(Held {
                    request_id,
                    codec,
                    reply,
                    engine: false,
                })
            }
            Frame::Invalid {
                request_id,
                codec,
                error,
            } => {
                ServerStats::add(&stats.protocol_errors, 1);
                tracing::debug!(%error, "protocol error; closing");
                turn.close = true;
                Some(Held {
                    request_id,
                    codec,
                    reply: Reply::Error(error),
                    engine: false,
                })
            }
        };
        turn.served += 1;
        turn.budget -= 1;
        let Some(held) = held else {
            break;
        };
        deliver(peer, held, config.persist);
        let unsent = peer.unsent_bytes();
        // Over the hard limit the turn stops too, and `end_turn` closes.
        if unsent >= config.client_output_bytes_max || limits::over_hard(unsent, config) {
            turn.output_full = true;
            break;
        }
    }
    for (at, frame) in group.enumerate() {
        peer.decoded.insert(at, frame);
    }
}

/// Applies a request for the engine; a blocking one that cannot go ahead
/// is parked (`None`: the client is blocked), or refused when the registry
/// is full or the server is stopping.
#[inline]
fn apply_or_park<C: Clock>(
    engine: &mut Engine<C>,
    batch: &Batch,
    peer: &mut Peer,
    turn: &mut Turn,
    request_id: u64,
    codec: Codec,
    request: Request,
) -> Option<Held> {
    let attempt = match request {
        Request::Watch(_) | Request::Unwatch | Request::Exec(_) => {
            Some(engine.transaction(batch, turn.peer, &request))
        }
        _ => engine.attempt(batch, &request),
    };
    let reply = match attempt {
        Some(reply) => reply,
        None => {
            let to = ReplyTo {
                peer: turn.peer,
                request_id,
                codec,
            };
            let parked = if turn.stopping {
                Err(ServerError::SHUTTING_DOWN)
            } else {
                engine.park(batch, to, request)
            };
            match parked {
                Ok(()) => {
                    peer.parked = true;
                    turn.parked = true;
                    return None;
                }
                Err(error) => Reply::Error(error),
            }
        }
    };
    Some(Held {
        request_id,
        codec,
        reply,
        engine: true,
    })
}

/// Holds a reply for the round's commit (with persistence) or encodes it
/// for writing at once.
#[inline]
fn deliver(peer: &mut Peer, held: Held, persistent: bool) {
    if persistent {
        peer.limits.held_bytes += held.reply.encoded_bytes_bound();
        peer.held.push_back(held);
    } else {
        held.codec
            .encode(held.request_id, &held.reply, &mut peer.output);
    }
}

/// Writes as much pending output as the socket takes; returns whether the
/// connection is broken.
#[inline]
fn write_some(peer: &mut Peer, stats: &ServerStats) -> bool {
    while !peer.output.is_empty() {
        match peer.stream.write(&peer.output) {
            Ok(0) => return true,
            Ok(n) => {
                ServerStats::add(&stats.bytes_written, n as u64);
                peer.output.advance(n);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    peer.stream.send_pending().is_err()
}

/// Whether the connection in slot `index` is still connection `id` and
/// still in its TLS handshake.
fn handshaking(peers: &[Option<Peer>], index: usize, id: u64) -> bool {
    matches!(peers.get(index), Some(Some(peer))
        if peer.protocol.id == id && peer.stream.is_handshaking())
}

enum ReadOutcome {
    Data(usize),
    /// Nothing more to read for now.
    Drained,
    /// End of stream or a broken connection.
    Closed,
}

/// One `read` into the connection's input buffer.
fn read_some(peer: &mut Peer, scratch: &mut [u8]) -> ReadOutcome {
    loop {
        match peer.stream.read(scratch) {
            Ok(0) => return ReadOutcome::Closed,
            Ok(n) => {
                peer.input.extend_from_slice(&scratch[..n]);
                // A short read means the socket is empty: wait for the next
                // readiness event instead of a `read` that would block.
                if n < scratch.len() {
                    peer.readable = false;
                }
                return ReadOutcome::Data(n);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                peer.readable = false;
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
