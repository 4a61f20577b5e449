//! The server: recovers the state, binds the port, and starts the engine
//! thread, which runs the network reactor (`reactor.rs`) and the engine
//! together. Shutdown (SIGTERM/SIGINT in the binary): stop accepting,
//! answer what was already received, sync the log, exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{Durability, Engine};
use crate::log::Wal;
use crate::reactor::{Control, Reactor};
use crate::recovery::{self, RecoveryError};
use crate::state::State;
use crate::stats::ServerStats;

/// A running server's handle, for tests and the binary.
pub struct Running {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    control: Arc<Control>,
    engine: JoinHandle<State>,
}

impl Running {
    /// Stops accepting, answers what connections already sent, syncs the
    /// log, and returns the final state.
    pub async fn shutdown(self) -> State {
        self.control.stop();
        match tokio::task::spawn_blocking(move || self.engine.join()).await {
            Ok(Ok(state)) => state,
            _ => panic!("the engine thread panicked"),
        }
    }

    /// Submits requests from this process to the engine (see
    /// [`Control::submit`]).
    pub fn submit(
        &self,
        requests: Vec<usher_protocol::Request>,
    ) -> Result<crossbeam_channel::Receiver<Vec<usher_protocol::Reply>>, usher_protocol::ServerError>
    {
        self.control.submit(requests)
    }
}

/// Recovers, binds and starts serving. `async` for the callers' sake (tests
/// and the binary run in a tokio runtime); the server itself does not use
/// the runtime.
pub async fn start<C: Clock>(config: Config, clock: C) -> std::io::Result<Running> {
    let config = Arc::new(config);
    let stats = Arc::new(ServerStats::default());
    let state = State::with_seed(config.state_limits(), seed());
    let (engine, lock) = if config.persist {
        let (state, durability, lock) = recover(&config, state)?;
        let engine = Engine::new(state, clock, config.clone(), stats.clone());
        (engine.with_durability(durability), Some(lock))
    } else {
        (
            Engine::new(state, clock, config.clone(), stats.clone()),
            None,
        )
    };
    let listener = listen(&config)?;
    let addr = listener.local_addr()?;
    ServerStats::add(&stats.port, u64::from(addr.port()));
    let (reactor, control) = Reactor::new(listener, engine, config.clone(), stats.clone())?;
    if config.memory_bytes_max != 0 && crate::alloc::allocated_bytes() == 0 {
        tracing::warn!(
            "memory_bytes_max is set but this program does not count its memory \
             (usher::alloc::CountingAllocator is not its global allocator): no memory bound"
        );
    }
    let engine = std::thread::Builder::new()
        .name("usher-engine".into())
        .spawn(move || {
            let state = reactor.run();
            // The data directory stays locked until the log is synced.
            drop(lock);
            state
        })?;
    tracing::info!(%addr, "usher listening");
    Ok(Running {
        addr,
        stats,
        control,
        engine,
    })
}

/// Binds the listening socket; an error names the address, as in
/// `cannot listen on 127.0.0.1:7379: Address already in use`.
fn listen(config: &Config) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind((config.bind.as_str(), config.port)).map_err(|error| {
        let kind = error.kind();
        // The OS's text without its "(os error 98)" tail.
        let text = error.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text).to_string();
        std::io::Error::new(
            kind,
            format!("cannot listen on {}:{}: {text}", config.bind, config.port),
        )
    })
}

/// Recovers the state from the data directory (before the port is bound)
/// and opens a fresh log segment after it.
fn recover(config: &Config, state: State) -> std::io::Result<(State, Durability, std::fs::File)> {
    let failed = |error: RecoveryError| std::io::Error::other(error.0);
    let lock = recovery::lock_dir(&config.dir).map_err(failed)?;
    let started = std::time::Instant::now();
    let recovered = recovery::recover(&config.dir, state, false).map_err(failed)?;
    let report = &recovered.report;
    tracing::info!(
        dir = %config.dir.display(),
        keys = recovered.state.keyspace.len(),
        snapshot_keys = report.snapshot_entries,
        log_records = report.records,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recovered"
    );
    let wal = Wal::create(
        &config.dir,
        recovered.next_lsn,
        config.fsync,
        config.log_segment_bytes,
    )?;
    let durability = Durability {
        dir: config.dir.clone(),
        wal,
        snapshot: None,
        last_snapshot_ms: 0,
        last_snapshot: None,
    };
    Ok((recovered.state, durability, lock))
}

/// A per-process hash seed, so that key layouts differ between runs and
/// crafted keys cannot target one.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}
