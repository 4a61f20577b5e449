//! The engine thread: the only owner of `State`.
//!
//! Connections hand it [`Job`]s (a batch of requests from one connection)
//! over a bounded crossbeam channel. The loop blocks until a job arrives or
//! the next timer is due, drains what else is waiting (up to
//! `batch_requests_max` requests), reads the clock once, applies every
//! request in arrival order, and only then sends the replies back, job by
//! job. The persistence issue adds "append the batch's effects to the log
//! and sync" between applying and replying: that single point is the group
//! commit. Timers (key expiry) run between batches within a CPU budget of
//! `timer_budget_percent` of each `timer_tick_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::oneshot;
use usher_protocol::{Reply, Request};

use crate::clock::Clock;
use crate::config::Config;
use crate::info;
use crate::state::State;
use crate::stats::ServerStats;

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

/// How many timer items to process between two looks at the time budget.
const TIMER_CHUNK: usize = 64;

pub struct Engine<C: Clock> {
    state: State,
    clock: C,
    config: Arc<Config>,
    stats: Arc<ServerStats>,
    /// Last time handed to `apply`; the engine's time never goes backwards
    /// even if the wall clock does.
    last_now_ms: u64,
}

impl<C: Clock> Engine<C> {
    pub fn new(state: State, clock: C, config: Arc<Config>, stats: Arc<ServerStats>) -> Engine<C> {
        Engine {
            state,
            clock,
            config,
            stats,
            last_now_ms: 0,
        }
    }

    fn now_ms(&mut self) -> u64 {
        let now = self.clock.now_ms().max(self.last_now_ms);
        self.last_now_ms = now;
        now
    }

    /// Runs until every sender of `queue` is gone, then returns the state.
    pub fn run(mut self, queue: Receiver<Submission>) -> State {
        let mut drained: Vec<Submission> = Vec::with_capacity(256);
        let tick = Duration::from_millis(self.config.timer_tick_ms);
        loop {
            let now = self.now_ms();
            let timers_pending = self.run_timers(now);
            let wait = if timers_pending {
                // Leave the rest of the tick to requests.
                tick.mul_f64(1.0 - self.config.timer_budget_percent as f64 / 100.0)
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
        self.state
    }

    /// Applies every drained job at one instant, then replies to each.
    fn apply_batch(&mut self, drained: &mut Vec<Submission>) {
        let now = self.now_ms();
        for submission in drained.iter_mut() {
            let job = &mut submission.job;
            job.replies.clear();
            for request in &job.requests {
                let reply = self.apply(request, now);
                job.replies.push(reply);
            }
        }
        for submission in drained.drain(..) {
            // A connection that went away no longer wants its replies.
            let _ = submission.done.send(submission.job);
        }
    }

    /// One request: server-level commands here, data commands in `State`.
    pub fn apply(&mut self, request: &Request, now_ms: u64) -> Reply {
        match request {
            Request::Info(sections) => {
                info::render(&self.state, &self.config, &self.stats, sections, now_ms)
            }
            _ => self.state.apply(request, now_ms),
        }
    }

    /// Runs due timers for at most the time budget; returns whether work is
    /// left over for the next round.
    fn run_timers(&mut self, now: u64) -> bool {
        let budget = Duration::from_millis(self.config.timer_tick_ms)
            .mul_f64(self.config.timer_budget_percent as f64 / 100.0);
        let started = Instant::now();
        loop {
            let done = self.state.run_timers(now, TIMER_CHUNK);
            if done < TIMER_CHUNK {
                return false;
            }
            if started.elapsed() >= budget {
                return true;
            }
        }
    }
}
