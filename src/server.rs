//! The server: binds the port, starts the engine thread and the network
//! runtime, accepts connections up to `connections_max`, and shuts down in
//! order on SIGTERM/SIGINT (stop accepting, let connections finish the work
//! they queued, let the engine drain, exit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::connection::{self, Shared};
use crate::engine::{Durability, Engine};
use crate::recovery::{self, RecoveryError};
use crate::state::State;
use crate::stats::ServerStats;
use crate::wal::Wal;

/// A running server's handle, for tests and the binary.
pub struct Running {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    shutdown: watch::Sender<bool>,
    accept_task: tokio::task::JoinHandle<()>,
    engine: JoinHandle<State>,
}

impl Running {
    /// Stops accepting, closes idle connections, waits for the engine to
    /// apply everything already queued, and returns the final state.
    pub async fn shutdown(self) -> State {
        let _ = self.shutdown.send(true);
        let _ = self.accept_task.await;
        match tokio::task::spawn_blocking(move || self.engine.join()).await {
            Ok(Ok(state)) => state,
            _ => panic!("the engine thread panicked"),
        }
    }
}

/// Binds and starts serving on the current tokio runtime.
pub async fn start<C: Clock>(config: Config, clock: C) -> std::io::Result<Running> {
    let config = Arc::new(config);
    let listener = TcpListener::bind((config.bind.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::default());
    ServerStats::add(&stats.port, u64::from(addr.port()));
    let (queue, receiver) = crossbeam_channel::bounded(config.queue_batches_max);
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
    let engine = std::thread::Builder::new()
        .name("usher-engine".into())
        .spawn(move || {
            let state = engine.run(receiver);
            // The data directory stays locked until the log is synced.
            drop(lock);
            state
        })?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        stats: stats.clone(),
        queue,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let accept_task = tokio::spawn(accept_loop(listener, shared, shutdown_rx));
    tracing::info!(%addr, "usher listening");
    Ok(Running {
        addr,
        stats,
        shutdown,
        accept_task,
        engine,
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
    let wal = Wal::create(&config.dir, recovered.next_lsn, config.fsync)?;
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

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_id: u64 = 0;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and similar: log, pause, keep serving.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let stats = &shared.stats;
        ServerStats::add(&stats.total_connections, 1);
        if ServerStats::get(&stats.connected_clients) >= shared.config.connections_max as u64 {
            ServerStats::add(&stats.rejected_connections, 1);
            tracing::warn!(%peer, "connections_max reached; refusing connection");
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        next_id += 1;
        stats
            .connected_clients
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            connection::serve(stream, next_id, shared.clone(), shutdown).await;
            shared
                .stats
                .connected_clients
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
    drop(listener);
    // Connections see the shutdown signal between rounds; wait for them so
    // the work they queued is applied and answered.
    while connections.join_next().await.is_some() {}
}
