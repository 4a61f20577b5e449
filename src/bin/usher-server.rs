//! `usher-server`: starts the server with embedded defaults, flags, and an
//! optional TOML config file (flags win over the file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use usher::alloc::CountingAllocator;
use usher::clock::SystemClock;
use usher::config::{self, Config};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// usher: an in-memory state server for ticket and flash sales.
#[derive(Parser)]
#[command(name = "usher-server", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// TOML file with settings (same names as the flags, with underscores).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Config,
    #[command(subcommand)]
    tool: Option<Tool>,
}

#[derive(clap::Subcommand)]
enum Tool {
    /// Verify a data directory (snapshot and log) without starting the
    /// server; with --repair, cut a damaged log at its first bad record
    /// after saying what will be lost.
    Check {
        /// The data directory to check.
        dir: PathBuf,
        /// Truncate the log at the first bad record (drops what follows).
        #[arg(long)]
        repair: bool,
    },
}

fn main() -> ExitCode {
    // Before any thread starts and before the state grows (see its doc).
    usher::alloc::pin_mapping_threshold();
    let matches = Cli::command().get_matches();
    if let Some(("check", check)) = matches.subcommand() {
        let dir = check.get_one::<PathBuf>("dir").cloned().unwrap_or_default();
        return usher::recovery::check_tool(&dir, check.get_flag("repair"));
    }
    let config_file = matches.get_one::<PathBuf>("config").cloned();
    let config = match config::from_matches(&matches, config_file.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("usher-server: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The runtime only waits for signals: network I/O runs on the engine
    // thread (src/reactor.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("usher-server: cannot start the signal runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    // Signal handlers go in before the port is announced: a SIGTERM sent as
    // soon as the "listening" line appears must shut down cleanly, not kill.
    let signals = Signals::install();
    let running = match usher::server::start(config, SystemClock).await {
        Ok(running) => running,
        Err(error) => {
            // Each start error names its object (address, directory, file).
            eprintln!("usher-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read these lines to learn the ports when they were 0.
    if let Some(addr) = running.plain_addr {
        println!("usher-server listening on {addr}");
    }
    if let Some(addr) = running.tls_addr {
        println!("usher-server listening for TLS on {addr}");
    }
    signals.wait().await;
    tracing::info!("shutting down: finishing queued work");
    let state = running.shutdown().await;
    // The process is about to exit: freeing millions of entries one by one
    // would only delay it.
    std::mem::forget(state);
    tracing::info!("shutdown complete");
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, caught.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(terminate), Ok(interrupt)) => Signals(Some((terminate, interrupt))),
            _ => {
                tracing::warn!("cannot install signal handlers; stop with SIGKILL");
                Signals(None)
            }
        }
    }

    async fn wait(self) {
        let Some((mut terminate, mut interrupt)) = self.0 else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
}
