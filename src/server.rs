//! The server: recovers the state, binds the ports (plaintext, TLS or
//! both), and starts the engine thread, which runs the network reactor
//! (`reactor.rs`) and the engine together. Shutdown (SIGTERM/SIGINT in the binary): stop accepting,
//! answer what was already received, sync the log, exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::acl::Users;
use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{Durability, Engine};
use crate::log::Wal;
use crate::reactor::{Control, Reactor, TlsListener};
use crate::recovery::{self, RecoveryError};
use crate::state::State;
use crate::stats::ServerStats;

/// A running server's handle, for tests and the binary.
pub struct Running {
    /// The plaintext listener's address, or the TLS one's when there is no
    /// plaintext listener.
    pub addr: SocketAddr,
    pub plain_addr: Option<SocketAddr>,
    pub tls_addr: Option<SocketAddr>,
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

/// Listeners bound before the server starts (tests bind port 0 and pass
/// them in, so no port is chosen twice).
#[derive(Default)]
pub struct Listeners {
    pub plain: Option<std::net::TcpListener>,
    /// Served with the config's TLS settings.
    pub tls: Option<std::net::TcpListener>,
}

/// Recovers, binds and starts serving. `async` for the callers' sake (tests
/// and the binary run in a tokio runtime); the server itself does not use
/// the runtime.
pub async fn start<C: Clock>(config: Config, clock: C) -> std::io::Result<Running> {
    // Users and certificates are checked before anything else starts.
    let stats = Arc::new(ServerStats::default());
    let users = load_users(&config, stats.clone())?;
    let tls = (config.tls_port != 0)
        .then(|| crate::tls::server_config(&config))
        .transpose()?;
    let state = recover_state(&config)?;
    let bind = |port: u16| listen(&config.bind, port);
    let plain = config
        .plaintext_listener()
        .then(|| bind(config.port))
        .transpose()?;
    let tls = match tls {
        Some(tls) => Some(TlsListener {
            listener: bind(config.tls_port)?,
            config: tls,
        }),
        None => None,
    };
    serve(config, clock, state, (users, stats), plain, tls)
}

/// Starts serving on listeners already bound: `listeners.tls` with the
/// config's TLS files (`tls_port` and `port` are not used).
pub async fn start_with_listeners<C: Clock>(
    config: Config,
    clock: C,
    listeners: Listeners,
) -> std::io::Result<Running> {
    let stats = Arc::new(ServerStats::default());
    let users = load_users(&config, stats.clone())?;
    let tls = match listeners.tls {
        Some(listener) => Some(TlsListener {
            listener,
            config: crate::tls::server_config(&config)?,
        }),
        None => None,
    };
    if listeners.plain.is_none() && tls.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no listener to serve",
        ));
    }
    let state = recover_state(&config)?;
    serve(config, clock, state, (users, stats), listeners.plain, tls)
}

/// The state to start from, and the data directory's lock with persistence.
type Recovered = (State, Option<(Durability, std::fs::File)>);

fn recover_state(config: &Config) -> std::io::Result<Recovered> {
    let state = State::with_seed(config.state_limits(), seed());
    if !config.persist {
        return Ok((state, None));
    }
    let (state, durability, lock) = recover(config, state)?;
    Ok((state, Some((durability, lock))))
}

/// The users table: from the users file, or the one `default` user
/// (refused by protected mode beyond loopback).
fn load_users(config: &Config, stats: Arc<ServerStats>) -> std::io::Result<Users> {
    config
        .check_protected_mode()
        .map_err(std::io::Error::other)?;
    match config.users_path() {
        Some(path) => {
            let users = Users::from_file(path.to_owned(), config.acl_limits(), stats)
                .map_err(std::io::Error::other)?;
            tracing::info!(file = %path.display(), users = users.users().len(), "users loaded");
            Ok(users)
        }
        None => Ok(Users::open(config.acl_limits(), stats)),
    }
}

fn serve<C: Clock>(
    config: Config,
    clock: C,
    (state, durability): Recovered,
    (users, stats): (Users, Arc<ServerStats>),
    plain: Option<std::net::TcpListener>,
    tls: Option<TlsListener>,
) -> std::io::Result<Running> {
    let config = Arc::new(config);
    let engine = Engine::new(state, clock, config.clone(), stats.clone());
    let (engine, lock) = match durability {
        Some((durability, lock)) => (engine.with_durability(durability), Some(lock)),
        None => (engine, None),
    };
    for listener in plain.iter().chain(tls.iter().map(|t| &t.listener)) {
        set_backlog(listener, config.tcp_backlog)?;
    }
    let plain_addr = plain.as_ref().map(|l| l.local_addr()).transpose()?;
    let tls_addr = tls.as_ref().map(|t| t.listener.local_addr()).transpose()?;
    let Some(addr) = plain_addr.or(tls_addr) else {
        return Err(std::io::Error::other("no listener to serve"));
    };
    if let Some(plain) = plain_addr {
        ServerStats::add(&stats.port, u64::from(plain.port()));
    }
    let (reactor, control) =
        Reactor::new(plain, tls, engine, config.clone(), stats.clone(), users)?;
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
    match (plain_addr, tls_addr) {
        (Some(plain), Some(tls)) => {
            tracing::info!(%plain, %tls, "usher listening (plaintext, TLS)")
        }
        (None, Some(tls)) => tracing::info!(%tls, "usher listening (TLS only)"),
        _ => tracing::info!(%addr, "usher listening"),
    }
    Ok(Running {
        addr,
        plain_addr,
        tls_addr,
        stats,
        control,
        engine,
    })
}

/// Binds the listening socket; an error names the address, as in
/// `cannot listen on 127.0.0.1:7379: Address already in use`.
fn listen(bind: &str, port: u16) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind((bind, port)).map_err(|error| {
        let kind = error.kind();
        // The OS's text without its "(os error 98)" tail.
        let text = error.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text).to_string();
        std::io::Error::new(kind, format!("cannot listen on {bind}:{port}: {text}"))
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

/// Sets a listening socket's backlog: `listen` again on a listening socket
/// changes it (std binds with 128).
fn set_backlog(listener: &std::net::TcpListener, backlog: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    // SAFETY: `listen` on a descriptor the listener owns; no memory is passed.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A per-process hash seed, so that key layouts differ between runs and
/// crafted keys cannot target one.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}
