//! The engine thread: the only owner of `State`.
//!
//! Connections hand it [`Job`]s (a batch of requests from one connection)
//! over a bounded crossbeam channel. The loop blocks until a job arrives or
//! the next timer is due, drains what else is waiting (up to
//! `batch_requests_max` requests), reads the clock once, applies every
//! request in arrival order, appends the batch's effects to the log as one
//! record, writes and syncs it per policy, and only then sends the replies
//! back, job by job: one write and at most one fsync per batch, however many
//! clients (group commit). Timers (key expiry) and snapshot slices run
//! between batches within a CPU budget of `timer_budget_percent` of each
//! `timer_tick_ms`; their effects are logged the same way.
//!
//! If the log cannot be written or synced, the batch's replies become
//! durability errors and the engine refuses every later request: nothing
//! is acknowledged that is not on disk per policy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::oneshot;
use usher_protocol::{ErrorCode, Reply, Request, ServerError};

use crate::clock::Clock;
use crate::config::Config;
use crate::info;
use crate::snapshot::{SnapshotDone, SnapshotJob};
use crate::state::State;
use crate::stats::ServerStats;
use crate::wal::Wal;

/// Requests from one connection, and the replies the engine fills in, in the
/// same order. The vectors travel back to the connection to be reused.
#[derive(Debug, Default)]
pub struct Job {
    pub requests: Vec<Request>,
    pub replies: Vec<Reply>,
}

/// A job and where to send it back when its replies are ready.
#[derive(Debug)]
pub struct Submission {
    pub job: Job,
    pub done: oneshot::Sender<Job>,
}

/// Longest slice of background work between two batches.
const BACKGROUND_SLICE_MAX: Duration = Duration::from_micros(500);

/// Longest slice of background work while the engine is otherwise idle.
const IDLE_SLICE: Duration = Duration::from_micros(250);

/// How many timer items to process between two looks at the time budget.
const TIMER_CHUNK: usize = 64;

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
}

impl<C: Clock> Engine<C> {
    pub fn new(state: State, clock: C, config: Arc<Config>, stats: Arc<ServerStats>) -> Engine<C> {
        Engine {
            state,
            clock,
            config,
            stats,
            durability: None,
            last_now_ms: 0,
            tick_started: Instant::now(),
            tick_spent: Duration::ZERO,
            last_batch: Instant::now(),
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

    /// Runs until every sender of `queue` is gone, then syncs the log and
    /// returns the state.
    pub fn run(mut self, queue: Receiver<Submission>) -> State {
        let mut drained: Vec<Submission> = Vec::with_capacity(256);
        let tick = Duration::from_millis(self.config.timer_tick_ms);
        loop {
            let now = self.now_ms();
            let mut background_pending = self.run_background(now);
            // On an idle engine (no request for a whole tick), background
            // work (a snapshot) may use the time beyond its share, a short
            // slice at a time so a request that arrives meanwhile waits at
            // most one slice. Under load it keeps to its share: on two cores
            // a busy engine would take CPU from the network thread. It stops
            // when the snapshot is only waiting for its writer.
            while background_pending && queue.is_empty() && self.last_batch.elapsed() >= tick {
                let before = self.snapshot_progress();
                let (now, started) = (self.now_ms(), Instant::now());
                background_pending = self.run_background_for(now, started, IDLE_SLICE);
                if before.is_none() || self.snapshot_progress() == before {
                    break;
                }
            }
            let wait = if background_pending {
                // Leave the rest of the tick to requests.
                tick.saturating_sub(self.tick_started.elapsed())
            } else {
                match self.state.next_timer_ms() {
                    Some(due) => Duration::from_millis(due.saturating_sub(now)).min(tick * 100),
                    None => tick * 100,
                }
            };
            let first = match queue.recv_timeout(wait) {
                Ok(submission) => submission,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut requests = first.job.requests.len();
            drained.push(first);
            while requests < self.config.batch_requests_max {
                match queue.try_recv() {
                    Ok(submission) => {
                        requests += submission.job.requests.len();
                        drained.push(submission);
                    }
                    Err(_) => break,
                }
            }
            self.apply_batch(&mut drained);
        }
        if let Some(durability) = &mut self.durability {
            if let Err(error) = durability.wal.close() {
                tracing::error!(%error, "final log sync failed");
            }
            // An unfinished snapshot is abandoned; its writer removes the
            // temporary file when the channel closes.
            durability.snapshot = None;
        }
        self.state
    }

    /// Applies every drained job at one instant, logs the effects, and has
    /// the replies sent once the log record is durable.
    fn apply_batch(&mut self, drained: &mut Vec<Submission>) {
        let now = self.now_ms();
        self.last_batch = Instant::now();
        let refused = self
            .durability
            .as_ref()
            .and_then(|d| d.wal.failure())
            .map(|failure| durability_error(&failure));
        for submission in drained.iter_mut() {
            let job = &mut submission.job;
            job.replies.clear();
            for request in &job.requests {
                let reply = match &refused {
                    Some(error) => Reply::Error(error.clone()),
                    None => self.apply(request, now),
                };
                job.replies.push(reply);
            }
        }
        let Some(durability) = &mut self.durability else {
            for submission in drained.drain(..) {
                // A connection that went away no longer wants its replies.
                let _ = submission.done.send(submission.job);
            }
            return;
        };
        durability.wal.append(self.state.keyspace.effects_mut());
        // Even a batch without effects goes through the writer: its replies
        // may show effects of earlier batches that are not durable yet.
        let batch = std::mem::take(drained);
        durability.wal.commit_then(Box::new(move |failure| {
            let error = failure.map(durability_error);
            for mut submission in batch {
                if let Some(error) = &error {
                    for reply in submission.job.replies.iter_mut() {
                        *reply = Reply::Error(error.clone());
                    }
                }
                let _ = submission.done.send(submission.job);
            }
        }));
    }

    /// Hands effects recorded outside a batch (timers) to the log.
    fn log_effects(&mut self) {
        let Some(durability) = &mut self.durability else {
            return;
        };
        let effects = self.state.keyspace.effects_mut();
        if effects.is_empty() {
            return;
        }
        durability.wal.append(effects);
        durability.wal.commit_then(Box::new(|_| {}));
    }

    /// One request: server-level commands here, data commands in `State`.
    pub fn apply(&mut self, request: &Request, now_ms: u64) -> Reply {
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

    fn snapshot_progress(&self) -> Option<(usize, usize, u64, bool, bool)> {
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
            durability.wal.commit_synced_then(Box::new(move |failure| {
                let _ = log_durable.send(failure.is_none());
            }));
        }
        match job.poll() {
            None => true,
            Some(result) => {
                match &result {
                    Ok(done) => tracing::info!(
                        path = %done.path.display(),
                        entries = done.entries,
                        bytes = done.bytes,
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

fn durability_error(message: &str) -> ServerError {
    ServerError::new(
        ErrorCode::Durability,
        format!("DURABILITY the log cannot be written, so nothing more is acknowledged ({message}); restart the server to recover"),
    )
}
