//! The engine: the only owner of `State`, run on the engine thread by the
//! reactor (`reactor.rs`), which also does the network I/O on that thread.
//!
//! Each round of the reactor is one batch: the engine reads the clock once
//! ([`Engine::begin_batch`]), applies every request decoded in the round in
//! arrival order, and [`Engine::end_batch`] appends the batch's effects to
//! the log as one record, writes it and syncs it per policy (group commit:
//! one write and at most one fsync per batch, however many clients).
//! Timers (key expiry, admissions, hold releases) and snapshot slices run
//! between batches within a CPU budget of `timer_budget_percent` of each
//! `timer_tick_ms` ([`Engine::run_timers`]); their effects are logged the
//! same way.
//!
//! Blocking commands (BZPOPMIN...) that cannot go ahead are parked in the
//! wait registry (`wait.rs`) with the reactor's address for their reply.
//! After each request the reactor applies while anyone waits, and at the
//! end of each round ([`Engine::serve_waiters`]), the keys that effects
//! touched wake their waiters, which are re-run through `State::attempt`
//! in the same batch (so their effects share its log record and their
//! replies its ticket), and waiters past their deadline get their timeout
//! reply. While anyone waits, effects are recorded even without
//! persistence, since they are how a change is seen; with an empty
//! registry none of this costs more than one branch per request.
//!
//! Every log commit gets a ticket ([`Engine::end_batch`]). A batch's
//! replies are tied to its own ticket or, for a batch that changed nothing,
//! to the last ticket handed out (its replies may show effects of earlier
//! batches); if that commit failed, they become durability errors
//! ([`Engine::commit_failed`]). Commits are synchronous: a ticket is done
//! when `end_batch` returns.
//!
//! Taps registered with [`Engine::add_commit_tap`] see each commit's
//! records, as written, when the commit succeeds: the moment its replies
//! may go out (the log calls them; see `log/tap.rs`).
//!
//! If the log cannot be written or synced, the replies waiting on that
//! commit become durability errors and the engine refuses every later
//! request: nothing is acknowledged that is not on disk per policy.

use std::path::PathBuf;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use usher_protocol::request::transaction::{self, Step, Transaction};
use usher_protocol::{ErrorCode, Reply, Request, ServerError};

use crate::clock::Clock;
use crate::config::Config;
use crate::info;
use crate::log::{CommitTap, Wal};
use crate::snapshot::{SnapshotDone, SnapshotJob, SnapshotProgress};
use crate::state::blocking::timeout_reply;
use crate::state::effect::Target;
use crate::state::graveyard::Doomed;
use crate::state::State;
use crate::stats::ServerStats;
use crate::wait::{ReplyTo, WaitOn, WaitRegistry};
use crate::watch::WatchRegistry;

/// One round of requests applied at one instant.
pub struct Batch {
    pub now_ms: u64,
    refused: Option<ServerError>,
}

/// Longest slice of background work between two batches.
const BACKGROUND_SLICE_MAX: Duration = Duration::from_micros(500);

/// Longest slice of background work while the engine is otherwise idle.
const IDLE_SLICE: Duration = Duration::from_micros(250);

/// How many timer items to process between two looks at the time budget.
const TIMER_CHUNK: usize = 64;

/// Batches of buried values that may wait for the freeing thread; beyond
/// that the engine frees them itself (slower, never unbounded).
const FREE_BATCHES_IN_FLIGHT_MAX: usize = 1024;

/// The thread that drops the large values the keyspace's graveyard buries
/// (lazy free), so the engine does not pause for them.
struct Freer {
    to_free: Option<crossbeam_channel::Sender<Vec<Doomed>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Freer {
    fn start(stats: Arc<ServerStats>) -> std::io::Result<Freer> {
        let (to_free, doomed) =
            crossbeam_channel::bounded::<Vec<Doomed>>(FREE_BATCHES_IN_FLIGHT_MAX);
        let thread = std::thread::Builder::new()
            .name("usher-free".into())
            .spawn(move || {
                for batch in doomed {
                    let count = batch.len() as u64;
                    drop(batch);
                    stats.lazyfree_pending.fetch_sub(count, Ordering::Relaxed);
                }
            })?;
        Ok(Freer {
            to_free: Some(to_free),
            thread: Some(thread),
        })
    }
}

impl Drop for Freer {
    /// Lets the thread free what it was given, then waits for it.
    fn drop(&mut self) {
        self.to_free = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The log, snapshots and their bookkeeping.
pub struct Durability {
    pub dir: PathBuf,
    pub wal: Wal,
    pub snapshot: Option<SnapshotJob>,
    /// When the last snapshot started (engine time), for the schedule.
    pub last_snapshot_ms: u64,
    pub last_snapshot: Option<Result<SnapshotDone, String>>,
}

pub struct Engine<C: Clock> {
    state: State,
    clock: C,
    config: Arc<Config>,
    stats: Arc<ServerStats>,
    durability: Option<Durability>,
    /// Last time handed to `apply`; the engine's time never goes backwards
    /// even if the wall clock does.
    last_now_ms: u64,
    /// Start of the current timer tick and the background time spent in it.
    tick_started: Instant,
    tick_spent: Duration,
    /// When the last batch of requests was applied.
    last_batch: Instant,
    /// Last ticket handed out.
    tickets: u64,
    /// Lowest ticket whose commit failed; `u64::MAX` while none has.
    failed_from: u64,
    /// Frees large removed values; `None` when lazy freeing is off.
    freer: Option<Freer>,
    /// Requests of blocking commands waiting for a key or a deadline.
    waits: WaitRegistry,
    /// Keys watched by connections for their next EXEC.
    watches: WatchRegistry,
    /// How many of the recorded effects the registries have looked at.
    effects_seen: usize,
    /// Waiters past their deadline; empty between rounds, kept for its
    /// capacity.
    expired: Vec<(ReplyTo, Request)>,
}

impl<C: Clock> Engine<C> {
    pub fn new(
        mut state: State,
        clock: C,
        config: Arc<Config>,
        stats: Arc<ServerStats>,
    ) -> Engine<C> {
        let freer = if config.lazy_free {
            match Freer::start(stats.clone()) {
                Ok(freer) => Some(freer),
                Err(error) => {
                    tracing::warn!(%error, "cannot start the freeing thread; the engine frees large values itself");
                    None
                }
            }
        } else {
            None
        };
        state.keyspace.graveyard.set_lazy(freer.is_some());
        Engine {
            freer,
            state,
            clock,
            config: config.clone(),
            stats,
            durability: None,
            last_now_ms: 0,
            tick_started: Instant::now(),
            tick_spent: Duration::ZERO,
            last_batch: Instant::now(),
            tickets: 0,
            failed_from: u64::MAX,
            waits: WaitRegistry::new(config.blocked_clients_max),
            watches: WatchRegistry::new(config.watched_keys_max),
            effects_seen: 0,
            expired: Vec::new(),
        }
    }

    /// Whether the commit with this ticket (see [`Engine::end_batch`])
    /// failed, so the replies that waited on it must become durability
    /// errors.
    pub fn commit_failed(&self, ticket: u64) -> bool {
        // Paired with `commit_effects`: tickets only increase, so no reply
        // can wait for a commit that has not happened yet.
        assert!(
            ticket <= self.tickets,
            "ticket {ticket} was never handed out"
        );
        ticket >= self.failed_from
    }

    /// Registers a tap told of every batch once it is committed and durable
    /// per policy, before its replies go out (see `log/tap.rs`); done before
    /// the engine starts. Without persistence nothing is logged, and the
    /// tap is handed back.
    pub fn add_commit_tap(&mut self, tap: Box<dyn CommitTap>) -> Result<(), Box<dyn CommitTap>> {
        match &mut self.durability {
            Some(durability) => {
                durability.wal.add_tap(tap);
                Ok(())
            }
            None => Err(tap),
        }
    }

    /// Attaches the log: from now on every change is logged before it is
    /// acknowledged.
    pub fn with_durability(mut self, durability: Durability) -> Engine<C> {
        self.state.keyspace.set_recording(true);
        self.last_now_ms = self.clock.now_ms();
        self.durability = Some(Durability {
            last_snapshot_ms: self.last_now_ms,
            ..durability
        });
        self
    }

    fn now_ms(&mut self) -> u64 {
        let now = self.clock.now_ms().max(self.last_now_ms);
        self.last_now_ms = now;
        now
    }

    /// Starts a batch: reads the clock once for all of its requests.
    pub fn begin_batch(&mut self) -> Batch {
        let now_ms = self.now_ms();
        self.last_batch = Instant::now();
        let refused = self
            .durability
            .as_ref()
            .and_then(|d| d.wal.failure())
            .map(|failure| durability_error(&failure));
        Batch { now_ms, refused }
    }

    /// Warms the cache for a request about to be applied (see
    /// [`State::prefetch`]).
    #[inline]
    pub fn prefetch(&self, request: &Request, entries: bool) {
        self.state.prefetch(request, entries);
    }

    /// Applies one request at the batch's time, or refuses it once the log
    /// failed. A blocking command never waits here: it gets its timeout
    /// reply at once if it cannot go ahead (in-process submissions).
    pub fn apply_or_refuse(&mut self, batch: &Batch, request: &Request) -> Reply {
        match &batch.refused {
            Some(error) => Reply::Error(error.clone()),
            None => self.apply(request, batch.now_ms),
        }
    }

    /// Like [`Engine::apply_or_refuse`], except that a blocking command
    /// that cannot go ahead gives `None`: the caller parks it
    /// ([`Engine::park`]).
    #[inline]
    pub fn attempt(&mut self, batch: &Batch, request: &Request) -> Option<Reply> {
        match (&batch.refused, request) {
            (Some(error), _) => Some(Reply::Error(error.clone())),
            (None, Request::BzPop { .. }) => self.state.attempt(request, batch.now_ms),
            (None, Request::BzMPop { .. }) => self.state.attempt(request, batch.now_ms),
            (None, Request::BListPop { .. } | Request::BlMove { .. }) => {
                self.state.attempt(request, batch.now_ms)
            }
            (None, _) => Some(self.apply(request, batch.now_ms)),
        }
    }

    /// Parks a blocking request that [`Engine::attempt`] could not answer,
    /// until a key it waits on changes or its timeout passes. A LIMIT error
    /// once `blocked_clients_max` requests wait.
    pub fn park(
        &mut self,
        batch: &Batch,
        to: ReplyTo,
        request: Request,
    ) -> Result<(), ServerError> {
        let (on, timeout_ms) = match &request {
            Request::BzPop {
                keys, timeout_ms, ..
            } => (keys.iter().cloned().map(WaitOn::Key).collect(), *timeout_ms),
            Request::BzMPop {
                keys, timeout_ms, ..
            } => (keys.iter().cloned().map(WaitOn::Key).collect(), *timeout_ms),
            Request::BListPop {
                keys, timeout_ms, ..
            } => (keys.iter().cloned().map(WaitOn::Key).collect(), *timeout_ms),
            // Only the source can make a BLMOVE go ahead.
            Request::BlMove {
                keys, timeout_ms, ..
            } => (vec![WaitOn::Key(keys[0].clone())], *timeout_ms),
            other => panic!("{other:?} is not a blocking command"),
        };
        let deadline_ms = (timeout_ms > 0).then(|| batch.now_ms.saturating_add(timeout_ms));
        self.waits.park(to, request, on, deadline_ms)?;
        self.waiters_changed();
        Ok(())
    }

    /// Whether any request is parked: the reactor's one check per request.
    #[inline]
    pub fn has_waiters(&self) -> bool {
        !self.waits.is_empty()
    }

    /// Whether parked requests need a round now: a change to serve, or a
    /// deadline passed.
    pub fn waiters_due(&self) -> bool {
        if self.waits.is_empty() {
            return false;
        }
        let now = self.clock.now_ms().max(self.last_now_ms);
        self.waits.has_ready() || self.waits.next_deadline().is_some_and(|due| due <= now)
    }

    /// Re-runs the waiters of the keys this batch changed, in parking
    /// order per key, then answers those past their deadline with their
    /// timeout reply. Their replies go into `woken`, to be held for the
    /// batch's ticket like every other reply. Once the log failed, waiters
    /// only time out (nothing may change the state).
    pub fn serve_waiters(&mut self, batch: &Batch, woken: &mut Vec<(ReplyTo, Reply)>) {
        self.note_changed_keys();
        while let Some(target) = self.waits.next_ready() {
            if batch.refused.is_some() {
                continue;
            }
            while let Some((id, request)) = self.waits.first(&target) {
                let Some(reply) = self.state.attempt(request, batch.now_ms) else {
                    break;
                };
                woken.push((self.waits.remove(id).0, reply));
                self.note_changed_keys();
            }
        }
        let mut expired = std::mem::take(&mut self.expired);
        self.waits.expire_due(batch.now_ms, &mut expired);
        for (to, request) in expired.drain(..) {
            woken.push((to, timeout_reply(&request)));
        }
        self.expired = expired;
        self.waiters_changed();
    }

    /// Removes the request parked by connection `peer` (it closed, or the
    /// server stops); returns where its reply was to go.
    pub fn unpark(&mut self, peer: usize) -> Option<ReplyTo> {
        let to = self.waits.remove_peer(peer);
        if to.is_some() {
            self.waiters_changed();
        }
        to
    }

    /// Forgets what connection `peer` watched (it closed: its index will
    /// serve another connection).
    pub fn forget_watches(&mut self, peer: usize) {
        if !self.watches.is_empty() {
            self.watches.unwatch(peer, self.last_now_ms);
            self.waiters_changed();
        }
    }

    /// Tells the registries which keys the effects recorded since the last
    /// look changed.
    fn note_changed_keys(&mut self) {
        let effects = self.state.keyspace.effects_mut();
        for effect in &effects[self.effects_seen..] {
            match effect.target() {
                Target::Key(key) => {
                    self.waits.key_changed(key);
                    self.watches.key_changed(key);
                }
                Target::All => {
                    self.waits.all_keys_changed();
                    self.watches.all_keys_changed();
                }
                Target::ReqId(_) => {}
            }
        }
        self.effects_seen = effects.len();
    }

    /// Whether a registry needs to hear of changed keys: someone waits or
    /// watches.
    #[inline]
    fn tracks_keys(&self) -> bool {
        !self.waits.is_empty() || !self.watches.is_empty()
    }

    /// Keeps the gauges and effect recording in step with the registries:
    /// without persistence, effects are recorded (and dropped once looked
    /// at) only while someone waits or watches.
    fn waiters_changed(&mut self) {
        ServerStats::set(&self.stats.blocked_clients, self.waits.len() as u64);
        ServerStats::set(&self.stats.watched_keys, self.watches.len() as u64);
        if self.durability.is_none() {
            self.note_changed_keys();
            self.state.keyspace.effects_mut().clear();
            self.effects_seen = 0;
            self.state.keyspace.set_recording(self.tracks_keys());
        }
    }

    /// `WATCH`, `UNWATCH` and `EXEC` of connection `peer`.
    pub fn transaction(&mut self, batch: &Batch, peer: usize, request: &Request) -> Reply {
        let now_ms = batch.now_ms;
        let reply = match request {
            Request::Watch(keys) => {
                let keyspace = &self.state.keyspace;
                let watched = keys.iter().map(|key| {
                    let deadline = keyspace.peek(key).and_then(|entry| entry.deadline_ms());
                    (key.clone(), deadline.filter(|&at| at > now_ms))
                });
                match self.watches.watch(peer, watched) {
                    Ok(()) => Reply::OK,
                    Err(error) => Reply::Error(error),
                }
            }
            Request::Unwatch => {
                self.watches.unwatch(peer, now_ms);
                Reply::OK
            }
            Request::Exec(transaction) => self.exec(batch, peer, transaction),
            other => panic!("{other:?} is not a transaction command"),
        };
        self.waiters_changed();
        reply
    }

    /// `EXEC`: nil if a watched key changed, else every queued command in
    /// order with nothing in between, so their effects share one record.
    fn exec(&mut self, batch: &Batch, peer: usize, transaction: &Transaction) -> Reply {
        if self.tracks_keys() {
            self.note_changed_keys();
        }
        let changed = self.watches.unwatch(peer, batch.now_ms);
        if transaction.aborted {
            return Reply::Error(transaction::exec_abort());
        }
        if let Some(error) = &batch.refused {
            return Reply::Error(error.clone());
        }
        if changed {
            return Reply::NilArray;
        }
        let replies = transaction.steps.iter().map(|step| match step {
            Step::Run(request) => self.apply(request, batch.now_ms),
            Step::Answered(reply) => reply.clone(),
        });
        Reply::Array(replies.collect())
    }

    /// Ends the batch: logs its effects as one record. Returns the ticket its
    /// replies wait for (0 without persistence: nothing to wait for).
    pub fn end_batch(&mut self) -> u64 {
        self.hand_over_doomed();
        if self.durability.is_none() && self.tracks_keys() {
            self.waiters_changed();
        }
        if self.durability.is_none() || self.state.keyspace.effects_mut().is_empty() {
            return self.tickets;
        }
        self.commit_effects()
    }

    /// Appends the recorded effects as one record and commits it; returns
    /// its ticket.
    fn commit_effects(&mut self) -> u64 {
        if self.tracks_keys() {
            self.note_changed_keys();
        }
        self.effects_seen = 0;
        let Some(durability) = &mut self.durability else {
            return self.tickets;
        };
        durability.wal.append(self.state.keyspace.effects_mut());
        // Tickets only increase; `commit_failed` asserts the other side.
        let ticket = self.tickets.checked_add(1).expect("commit tickets run out");
        self.tickets = ticket;
        if durability.wal.commit().is_err() {
            self.failed_from = self.failed_from.min(ticket);
        }
        ticket
    }

    /// Runs timers and snapshot work within the time budget and returns the
    /// time until the next wake-up: how long the caller may wait for
    /// requests before calling again (a parked request's deadline
    /// included).
    pub fn run_timers(&mut self) -> Duration {
        let wake_up = self.background_slice();
        if self.waits.is_empty() {
            return wake_up;
        }
        if self.waits.has_ready() {
            return Duration::ZERO;
        }
        match self.waits.next_deadline() {
            None => wake_up,
            Some(due) => wake_up.min(Duration::from_millis(due.saturating_sub(self.last_now_ms))),
        }
    }

    /// Timers and snapshot work for one call; returns the time until they
    /// want the next.
    fn background_slice(&mut self) -> Duration {
        let tick = Duration::from_millis(self.config.timer_tick_ms);
        let now = self.now_ms();
        let mut pending = self.run_background(now);
        // On an idle engine (no request for a whole tick), background work
        // (a snapshot) may use the time beyond its share, a short slice per
        // call so a request that arrives meanwhile waits at most one slice.
        // Under load it keeps to its share. It stops when the snapshot is
        // only waiting for its writer.
        if pending && self.last_batch.elapsed() >= tick {
            let before = self.snapshot_progress();
            let (now, started) = (self.now_ms(), Instant::now());
            pending = self.run_background_for(now, started, IDLE_SLICE);
            if before.is_some() && self.snapshot_progress() != before {
                return Duration::ZERO;
            }
        }
        if pending {
            // Leave the rest of the tick to requests.
            return tick.saturating_sub(self.tick_started.elapsed());
        }
        match self.state.next_timer_ms() {
            Some(due) => Duration::from_millis(due.saturating_sub(now)).min(tick * 100),
            None => tick * 100,
        }
    }

    /// Syncs the log, abandons an unfinished snapshot and returns the state
    /// (shutdown).
    pub fn finish(mut self) -> State {
        assert!(
            self.waits.is_empty(),
            "a parked request outlived the reactor's shutdown drain"
        );
        if let Some(durability) = &mut self.durability {
            if let Err(error) = durability.wal.close() {
                tracing::error!(%error, "final log sync failed");
            }
            // An unfinished snapshot is abandoned: dropping the job waits
            // for its writer to remove the temporary file.
            durability.snapshot = None;
        }
        self.state
    }

    /// Hands the values buried since the last call to the freeing thread;
    /// frees them here if its queue is full.
    fn hand_over_doomed(&mut self) {
        let graveyard = &mut self.state.keyspace.graveyard;
        if graveyard.is_empty() {
            return;
        }
        let doomed = graveyard.take();
        let Some(to_free) = self.freer.as_ref().and_then(|f| f.to_free.as_ref()) else {
            return;
        };
        let count = doomed.len() as u64;
        self.stats
            .lazyfree_pending
            .fetch_add(count, Ordering::Relaxed);
        if to_free.try_send(doomed).is_err() {
            // The thread is behind (or gone): dropping the batch here, as
            // the error hands it back, is the fallback.
            self.stats
                .lazyfree_pending
                .fetch_sub(count, Ordering::Relaxed);
        }
    }

    /// Hands effects recorded outside a batch (timers) to the log.
    fn log_effects(&mut self) {
        self.hand_over_doomed();
        if self.state.keyspace.effects_mut().is_empty() {
            return;
        }
        if self.durability.is_none() {
            // Recorded only for the wait registry (see `waiters_changed`).
            self.note_changed_keys();
            self.waiters_changed();
            return;
        }
        self.commit_effects();
    }

    /// One request: server-level commands here, data commands in `State`.
    pub fn apply(&mut self, request: &Request, now_ms: u64) -> Reply {
        if let Some(error) = crate::limits::memory_refusal(request, &self.config) {
            ServerStats::add(&self.stats.oom_refusals, 1);
            return Reply::Error(error);
        }
        match request {
            Request::Info(sections) => info::render(
                &self.state,
                &self.config,
                &self.stats,
                self.durability.as_ref(),
                sections,
                now_ms,
            ),
            Request::Snapshot => self.start_snapshot(now_ms),
            _ => self.state.apply(request, now_ms),
        }
    }

    fn start_snapshot(&mut self, now_ms: u64) -> Reply {
        // The log takes the effects recorded so far: the registry looks at
        // them first (looking twice, if the snapshot does not start, is
        // harmless).
        if self.tracks_keys() {
            self.note_changed_keys();
        }
        self.effects_seen = 0;
        let Some(durability) = &mut self.durability else {
            return Reply::Error(ServerError::generic(
                "ERR persistence is off (persist = false): there is nothing to snapshot to",
            ));
        };
        if durability.snapshot.is_some() {
            return Reply::Error(ServerError::generic(
                "ERR a snapshot is already in progress",
            ));
        }
        // Effects of the requests before this one in the batch belong to the
        // old segment.
        durability.wal.append(self.state.keyspace.effects_mut());
        let start = match durability.wal.rotate() {
            Ok(start) => start,
            Err(error) => return Reply::Error(durability_error(&error)),
        };
        match SnapshotJob::start(&durability.dir, &self.state, start) {
            Ok(job) => {
                let job = job.with_prefault_value_bytes(self.config.snapshot_prefault_value_bytes);
                tracing::info!(position = start, "snapshot started");
                durability.snapshot = Some(job);
                durability.wal.bytes_since_snapshot = 0;
                durability.last_snapshot_ms = now_ms;
                Reply::simple("Snapshot started")
            }
            Err(error) => Reply::Error(ServerError::generic(format!(
                "ERR cannot start the snapshot writer: {error}"
            ))),
        }
    }

    fn snapshot_progress(&self) -> Option<SnapshotProgress> {
        self.durability
            .as_ref()
            .and_then(|durability| durability.snapshot.as_ref())
            .map(SnapshotJob::progress)
    }

    /// Timers, then snapshot work, for at most the time budget; logs what
    /// the timers did. Returns whether work is left for the next round.
    fn run_background(&mut self, now: u64) -> bool {
        // The budget is per tick, not per call: the loop comes here after
        // every batch, and background work must not take more than its
        // share of the engine however many batches a tick holds.
        let tick = Duration::from_millis(self.config.timer_tick_ms);
        let started = Instant::now();
        if started.duration_since(self.tick_started) >= tick {
            self.tick_started = started;
            self.tick_spent = Duration::ZERO;
        }
        let share = tick.mul_f64(self.config.timer_budget_percent as f64 / 100.0);
        // Short slices, so a request that arrives during one waits little;
        // the share per tick is the same.
        let budget = share
            .saturating_sub(self.tick_spent)
            .min(BACKGROUND_SLICE_MAX);
        if budget.is_zero() {
            return true;
        }
        let pending = self.run_background_for(now, started, budget);
        self.tick_spent += started.elapsed();
        pending
    }

    fn run_background_for(&mut self, now: u64, started: Instant, budget: Duration) -> bool {
        let mut pending = false;
        loop {
            let done = self.state.run_timers(now, TIMER_CHUNK);
            if done < TIMER_CHUNK {
                break;
            }
            if started.elapsed() >= budget {
                pending = true;
                break;
            }
        }
        self.log_effects();
        self.snapshot_work(now, started, budget) || pending
    }

    /// Starts a snapshot when one is due, advances a running one, and
    /// collects a finished one. Returns whether more work is waiting.
    fn snapshot_work(&mut self, now: u64, started: Instant, budget: Duration) -> bool {
        let config = self.config.clone();
        let Some(durability) = &mut self.durability else {
            return false;
        };
        if durability.wal.failure().is_some() {
            return false;
        }
        if durability.snapshot.is_none() {
            let logged = durability.wal.bytes_since_snapshot;
            let by_size =
                config.snapshot_log_bytes_max > 0 && logged >= config.snapshot_log_bytes_max;
            let by_time = config.snapshot_interval_ms > 0
                && logged > 0
                && now.saturating_sub(durability.last_snapshot_ms) >= config.snapshot_interval_ms;
            if !(by_size || by_time) {
                return false;
            }
            let reply = self.start_snapshot(now);
            if let Reply::Error(error) = reply {
                tracing::error!(error = %error.message, "scheduled snapshot did not start");
                if let Some(durability) = &mut self.durability {
                    durability.last_snapshot_ms = now;
                }
                return false;
            }
        }
        let Some(durability) = &mut self.durability else {
            return false;
        };
        let Some(job) = &mut durability.snapshot else {
            return false;
        };
        job.step(&self.state, durability.wal.next_lsn(), || {
            started.elapsed() >= budget
        });
        if let Some(log_durable) = job.take_log_durable() {
            // Publishing waits until every record handed to the log so far
            // is on stable storage, whatever the fsync policy.
            durability.wal.commit_durable(log_durable);
        }
        match job.poll() {
            None => true,
            Some(result) => {
                match &result {
                    Ok(done) => tracing::info!(
                        path = %done.path.display(),
                        entries = done.entries,
                        bytes = done.bytes,
                        prefaulted_values = done.prefaulted_values,
                        "snapshot written"
                    ),
                    Err(error) => tracing::error!(%error, "snapshot failed"),
                }
                durability.last_snapshot = Some(result);
                durability.snapshot = None;
                false
            }
        }
    }
}

impl<C: Clock> Engine<C> {
    /// The error replies get once the log has failed.
    pub fn durability_failure(&self) -> ServerError {
        let failure = self.durability.as_ref().and_then(|d| d.wal.failure());
        durability_error(failure.as_deref().unwrap_or("log failure"))
    }
}

fn durability_error(message: &str) -> ServerError {
    ServerError::new(
        ErrorCode::Durability,
        format!("DURABILITY the log cannot be written, so nothing more is acknowledged ({message}); restart the server to recover"),
    )
}
