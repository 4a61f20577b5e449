//! The limits that close a client, and the memory bound on writes. The
//! reactor (`reactor.rs`) owns the sockets and calls in here at a few
//! points: after each connection's turn, after each write, when it closes
//! a connection, and once per loop (`ClientLimits::sweep_due`); the
//! decisions and their bookkeeping live here.
//!
//! - Output: a connection's unsent reply bytes (encoded output plus the
//!   replies held for the log commit, counted by
//!   `Reply::encoded_bytes_bound`) over `client_output_buffer_bytes_max`
//!   close it at once; at or above `client_output_buffer_soft_bytes` for
//!   `client_output_buffer_soft_seconds` without a break, at the next sweep.
//!   Back-pressure (`client_output_bytes_max`: the reactor stops reading)
//!   bounds the bytes; these limits free the slot of a client that stopped
//!   reading.
//! - Input: a connection's unparsed input over
//!   `client_query_buffer_bytes_max` closes it; all connections' unparsed
//!   input over `client_input_bytes_total_max` closes those holding the
//!   most first. The total is kept as a sum updated after each turn, so
//!   the check is one comparison per loop.
//! - Idle: with `timeout_seconds`, a connection nothing was read from or
//!   written to for that long is closed at a sweep, unless its client is
//!   blocked (BZPOPMIN...), as in Redis.
//! - Memory: with `memory_bytes_max`, a `denyoom` command (the command
//!   table's flag) is refused with OOM while used memory (the counting
//!   allocator's figure) is over it: one branch per request when no bound
//!   is set, one atomic load per such command when one is.
//!
//! Every close is logged with the client's id and address, and counted in
//! INFO `stats`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use usher_protocol::commands::denies_oom;
use usher_protocol::{Request, ServerError};

use crate::alloc;
use crate::config::Config;
use crate::stats::ServerStats;

/// How often the reactor looks at every connection for the soft output
/// limit and the idle timeout: the slack of both.
const SWEEP_INTERVAL_MS: u64 = 250;

/// Why a connection is closed by a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// Unsent reply bytes over `client_output_buffer_bytes_max`.
    OutputHard { unsent: usize },
    /// Unsent reply bytes at or over `client_output_buffer_soft_bytes` for
    /// `client_output_buffer_soft_seconds`.
    OutputSoft { unsent: usize },
    /// Unparsed input over `client_query_buffer_bytes_max`.
    QueryBuffer { bytes: usize },
    /// All clients' unparsed input over `client_input_bytes_total_max`;
    /// this client held `bytes` of it.
    InputTotal { bytes: usize, total: usize },
    /// Nothing read or written for `timeout_seconds`.
    Idle,
}

impl Closing {
    /// Logs the close and counts it in INFO.
    pub fn report(self, id: u64, addr: Option<SocketAddr>, config: &Config, stats: &ServerStats) {
        let addr = addr.map_or_else(|| "?".to_string(), |addr| addr.to_string());
        match self {
            Closing::OutputHard { unsent } => {
                ServerStats::add(&stats.output_limit_disconnections, 1);
                tracing::warn!(
                    client = id,
                    %addr,
                    unsent_bytes = unsent,
                    limit = config.client_output_buffer_bytes_max,
                    "closing client: unsent replies over client_output_buffer_bytes_max"
                );
            }
            Closing::OutputSoft { unsent } => {
                ServerStats::add(&stats.output_limit_disconnections, 1);
                tracing::warn!(
                    client = id,
                    %addr,
                    unsent_bytes = unsent,
                    limit = config.client_output_buffer_soft_bytes,
                    seconds = config.client_output_buffer_soft_seconds,
                    "closing client: unsent replies over client_output_buffer_soft_bytes for \
                     client_output_buffer_soft_seconds (the client does not read its replies)"
                );
            }
            Closing::QueryBuffer { bytes } => {
                ServerStats::add(&stats.input_limit_disconnections, 1);
                tracing::warn!(
                    client = id,
                    %addr,
                    unparsed_bytes = bytes,
                    limit = config.client_query_buffer_bytes_max,
                    "closing client: unparsed input over client_query_buffer_bytes_max"
                );
            }
            Closing::InputTotal { bytes, total } => {
                ServerStats::add(&stats.input_limit_disconnections, 1);
                tracing::warn!(
                    client = id,
                    %addr,
                    unparsed_bytes = bytes,
                    all_clients_bytes = total,
                    limit = config.client_input_bytes_total_max,
                    "closing client: all clients' unparsed input over \
                     client_input_bytes_total_max, and this one holds the most"
                );
            }
            Closing::Idle => {
                ServerStats::add(&stats.idle_disconnections, 1);
                tracing::debug!(
                    client = id,
                    %addr,
                    seconds = config.timeout_seconds,
                    "closing idle client (timeout_seconds)"
                );
            }
        }
    }
}

/// One connection's side of the limits.
#[derive(Debug)]
pub struct PeerLimits {
    /// Bytes the replies held for the log commit take at most once encoded.
    pub held_bytes: usize,
    /// When (reactor ms) the unsent bytes reached the soft limit, if they
    /// have stayed there since.
    over_soft_since: Option<u64>,
    /// When (reactor ms) the connection last read or wrote.
    active_ms: u64,
    /// Unparsed input counted in the total after the last turn.
    input_counted: usize,
}

impl PeerLimits {
    pub fn input_counted(&self) -> usize {
        self.input_counted
    }
}

/// Whether `unsent` bytes are over the hard output limit (stop the turn;
/// [`ClientLimits::after_turn`] then closes the connection).
#[inline]
pub fn over_hard(unsent: usize, config: &Config) -> bool {
    config.client_output_buffer_bytes_max != 0 && unsent > config.client_output_buffer_bytes_max
}

/// The OOM refusal for `request` while used memory is over
/// `memory_bytes_max` and the command may grow memory.
#[inline]
pub fn memory_refusal(request: &Request, config: &Config) -> Option<ServerError> {
    if config.memory_bytes_max == 0 {
        return None;
    }
    let grows = request.command().is_some_and(denies_oom);
    (grows && alloc::allocated_bytes() as u64 > config.memory_bytes_max)
        .then_some(ServerError::OOM_MEMORY)
}

/// The reactor's side: a coarse clock, the input total and the sweep.
pub struct ClientLimits {
    started: Instant,
    /// Milliseconds since `started`, read once per loop.
    now_ms: u64,
    next_sweep_ms: u64,
    /// Unparsed input of all connections, as of their last turns.
    input_total: usize,
    /// Connections whose unsent bytes are at or over the soft limit.
    over_soft: usize,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            started: Instant::now(),
            now_ms: 0,
            next_sweep_ms: SWEEP_INTERVAL_MS,
            input_total: 0,
            over_soft: 0,
        }
    }
}

impl ClientLimits {
    /// Reads the clock, once per loop.
    pub fn tick(&mut self) {
        self.now_ms = self.started.elapsed().as_millis() as u64;
    }

    pub fn new_peer(&self) -> PeerLimits {
        PeerLimits {
            held_bytes: 0,
            over_soft_since: None,
            active_ms: self.now_ms,
            input_counted: 0,
        }
    }

    /// After a connection's turn: counts its unparsed input, starts the
    /// soft limit's clock, and says whether a limit closes it now.
    pub fn after_turn(
        &mut self,
        peer: &mut PeerLimits,
        unsent: usize,
        input: usize,
        config: &Config,
    ) -> Option<Closing> {
        peer.active_ms = self.now_ms;
        self.input_total = self.input_total - peer.input_counted + input;
        peer.input_counted = input;
        if over_hard(unsent, config) {
            return Some(Closing::OutputHard { unsent });
        }
        if input > config.client_query_buffer_bytes_max {
            return Some(Closing::QueryBuffer { bytes: input });
        }
        let soft = config.client_output_buffer_soft_bytes;
        if soft != 0 && unsent >= soft && peer.over_soft_since.is_none() {
            peer.over_soft_since = Some(self.now_ms);
            self.over_soft += 1;
        }
        None
    }

    /// After a write: the connection is active, and below the soft limit
    /// its clock stops.
    #[inline]
    pub fn after_write(&mut self, peer: &mut PeerLimits, unsent: usize, config: &Config) {
        peer.active_ms = self.now_ms;
        if peer.over_soft_since.is_some() && unsent < config.client_output_buffer_soft_bytes {
            peer.over_soft_since = None;
            self.over_soft -= 1;
        }
    }

    /// A connection closed: what it held leaves the totals.
    pub fn forget(&mut self, peer: &PeerLimits) {
        self.input_total -= peer.input_counted;
        if peer.over_soft_since.is_some() {
            self.over_soft -= 1;
        }
    }

    /// Whether all clients' unparsed input is over its bound.
    #[inline]
    pub fn input_over(&self, config: &Config) -> bool {
        self.input_total > config.client_input_bytes_total_max
    }

    pub fn input_total(&self) -> usize {
        self.input_total
    }

    /// Whether a sweep over every connection is due now (and, if so,
    /// schedules the next).
    pub fn sweep_due(&mut self) -> bool {
        if self.now_ms < self.next_sweep_ms {
            return false;
        }
        self.next_sweep_ms = self.now_ms + SWEEP_INTERVAL_MS;
        true
    }

    /// Whether a sweep has anything to look for.
    fn sweeping(&self, config: &Config) -> bool {
        self.over_soft > 0 || config.timeout_seconds > 0
    }

    /// The sweep's verdict on one connection.
    pub fn on_sweep(
        &self,
        peer: &PeerLimits,
        unsent: usize,
        blocked: bool,
        config: &Config,
    ) -> Option<Closing> {
        if let Some(since) = peer.over_soft_since {
            let limit_ms = config
                .client_output_buffer_soft_seconds
                .saturating_mul(1000);
            if self.now_ms.saturating_sub(since) >= limit_ms {
                return Some(Closing::OutputSoft { unsent });
            }
        }
        let idle_ms = config.timeout_seconds.saturating_mul(1000);
        if idle_ms > 0 && !blocked && self.now_ms.saturating_sub(peer.active_ms) >= idle_ms {
            return Some(Closing::Idle);
        }
        None
    }

    /// How long the reactor may wait for events: no longer than the next
    /// sweep while one has something to look for.
    pub fn poll_timeout(&self, timeout: Duration, config: &Config) -> Duration {
        if !self.sweeping(config) {
            return timeout;
        }
        let until_sweep = self.next_sweep_ms.saturating_sub(self.now_ms);
        timeout.min(Duration::from_millis(until_sweep))
    }
}

/// The connections to close so that the input total falls back under its
/// bound: those holding the most first. `held` lists (bytes, slot).
pub fn largest_inputs(
    mut held: Vec<(usize, usize)>,
    total: usize,
    config: &Config,
) -> Vec<(usize, usize)> {
    held.sort_unstable_by(|a, b| b.cmp(a));
    let mut left = total;
    let mut chosen = Vec::new();
    for (bytes, slot) in held {
        if left <= config.client_input_bytes_total_max {
            break;
        }
        left -= bytes;
        chosen.push((bytes, slot));
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            client_output_buffer_bytes_max: 1000,
            client_output_buffer_soft_bytes: 100,
            client_output_buffer_soft_seconds: 2,
            client_query_buffer_bytes_max: 500,
            client_input_bytes_total_max: 700,
            timeout_seconds: 5,
            ..Config::default()
        }
    }

    #[test]
    fn the_soft_limit_closes_only_after_its_seconds_without_a_break() {
        let config = config();
        let mut limits = ClientLimits::default();
        let mut peer = limits.new_peer();
        assert_eq!(limits.after_turn(&mut peer, 150, 0, &config), None);
        limits.now_ms = 1500;
        assert_eq!(limits.on_sweep(&peer, 150, false, &config), None);
        // A write that takes it below the limit restarts the clock.
        limits.after_write(&mut peer, 50, &config);
        assert_eq!(limits.over_soft, 0);
        assert_eq!(limits.after_turn(&mut peer, 150, 0, &config), None);
        limits.now_ms = 3400;
        assert_eq!(limits.on_sweep(&peer, 150, false, &config), None);
        limits.now_ms = 3500;
        assert_eq!(
            limits.on_sweep(&peer, 150, false, &config),
            Some(Closing::OutputSoft { unsent: 150 })
        );
        limits.forget(&peer);
        assert_eq!(limits.over_soft, 0);
    }

    #[test]
    fn the_hard_and_query_limits_close_at_once() {
        let config = config();
        let mut limits = ClientLimits::default();
        let mut peer = limits.new_peer();
        assert_eq!(limits.after_turn(&mut peer, 1000, 500, &config), None);
        assert_eq!(
            limits.after_turn(&mut peer, 1001, 0, &config),
            Some(Closing::OutputHard { unsent: 1001 })
        );
        assert_eq!(
            limits.after_turn(&mut peer, 0, 501, &config),
            Some(Closing::QueryBuffer { bytes: 501 })
        );
        assert!(over_hard(1001, &config) && !over_hard(1000, &config));
        let off = Config {
            client_output_buffer_bytes_max: 0,
            ..config
        };
        assert!(!over_hard(usize::MAX, &off));
    }

    #[test]
    fn the_input_total_follows_each_turn_and_close() {
        let config = config();
        let mut limits = ClientLimits::default();
        let (mut a, mut b) = (limits.new_peer(), limits.new_peer());
        limits.after_turn(&mut a, 0, 400, &config);
        limits.after_turn(&mut b, 0, 300, &config);
        assert!(!limits.input_over(&config));
        limits.after_turn(&mut b, 0, 301, &config);
        assert!(limits.input_over(&config));
        limits.after_turn(&mut a, 0, 10, &config);
        assert_eq!(limits.input_total(), 311);
        limits.forget(&a);
        limits.forget(&b);
        assert_eq!(limits.input_total(), 0);
    }

    #[test]
    fn the_largest_inputs_go_first_until_the_total_fits() {
        let config = config();
        let held = vec![(100, 0), (400, 1), (300, 2), (50, 3)];
        // 850 held, 700 allowed: closing the 400 is enough.
        assert_eq!(largest_inputs(held.clone(), 850, &config), vec![(400, 1)]);
        assert_eq!(
            largest_inputs(held, 1200, &config),
            vec![(400, 1), (300, 2)]
        );
    }

    #[test]
    fn idle_clients_close_unless_blocked() {
        let config = config();
        let mut limits = ClientLimits::default();
        let mut peer = limits.new_peer();
        limits.now_ms = 4999;
        assert_eq!(limits.on_sweep(&peer, 0, false, &config), None);
        limits.now_ms = 5000;
        assert_eq!(limits.on_sweep(&peer, 0, true, &config), None);
        assert_eq!(
            limits.on_sweep(&peer, 0, false, &config),
            Some(Closing::Idle)
        );
        limits.after_write(&mut peer, 0, &config);
        assert_eq!(limits.on_sweep(&peer, 0, false, &config), None);
        let off = Config {
            timeout_seconds: 0,
            ..config
        };
        limits.now_ms = u64::MAX / 2;
        assert_eq!(limits.on_sweep(&peer, 0, false, &off), None);
    }
}
