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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.io_threads)
        .thread_name("usher-io")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("usher-server: cannot start the network runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let running = match usher::server::start(config, SystemClock).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("usher-server: cannot listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read this line to learn the port when it was 0.
    println!("usher-server listening on {}", running.addr);
    wait_for_signal().await;
    tracing::info!("shutting down: finishing queued work");
    let state = running.shutdown().await;
    // The process is about to exit: freeing millions of entries one by one
    // would only delay it.
    std::mem::forget(state);
    tracing::info!("shutdown complete");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
