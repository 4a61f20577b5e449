//! The `usher` crate's integration tests, built as one test binary so that
//! `cargo test` links the library into one executable instead of one per
//! file. Folders by what a test drives:
//!
//! - `state/`: `State::apply` and the state's timers at explicit times, one
//!   file per command family (mirrors `src/state/`).
//! - `server/`: servers started in the process or as the `usher-server` and
//!   `usher-cli` binaries, over real sockets.
//! - `durability/`: the log, snapshots, recovery and replay on real data
//!   directories, and the crash harness.
//! - `simulation/`: seeded simulations checked against reference models.
//! - `config.rs`: the config's defaults against the libraries' own.
//! - `support/`: helpers the folders share.
//!
//! One folder or file runs by its module path, e.g.
//! `cargo test --test usher state::zset`.

mod config;
mod durability;
mod layout;
mod server;
mod simulation;
mod state;

/// Helpers shared by the folders. Declared here rather than in a
/// `support/mod.rs`, so that this path, which held the server helpers
/// before they became `support/server.rs`, stays free and git follows the
/// rename when it merges edits made to the old file.
mod support {
    /// Connections of the `redis` crate to a test server, and commands
    /// given as words.
    pub mod redis;
    /// RESP replies as read off the wire, and their parser.
    pub mod resp;
    /// A small seeded generator, so that a printed seed replays.
    pub mod rng;
    /// Test configs, servers started on port 0, raw RESP and binary
    /// connections with bounded reads.
    pub mod server;
    /// A `State` driven by text commands at explicit times, with the
    /// invariants checked after every command.
    pub mod state;
}

/// With `autotests = false`, cargo builds only this file and what it names:
/// a test file added under `tests/` but not declared in its folder's
/// `mod.rs` (or here, for a file directly under `tests/` or in `support/`)
/// would never run. This fails until it is declared.
#[test]
fn every_file_under_tests_is_compiled() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut missing = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        // A folder without a mod.rs (support/) is declared in main.rs.
        let own = folder.join("mod.rs");
        let declaring = if own.is_file() {
            own
        } else {
            root.join("main.rs")
        };
        let declared = std::fs::read_to_string(&declaring).unwrap_or_default();
        for entry in std::fs::read_dir(&folder).expect("tests/ is readable") {
            let path = entry.expect("tests/ is readable").path();
            let module = if path.is_dir() {
                folders.push(path.clone());
                // A folder of data, or support/, has no mod.rs to declare.
                if !path.join("mod.rs").is_file() {
                    continue;
                }
                path.file_name()
            } else if path.extension().is_some_and(|ext| ext == "rs") && path != declaring {
                path.file_stem()
            } else {
                continue;
            };
            let module = module.and_then(|name| name.to_str()).unwrap_or_default();
            if !declared.contains(&format!("mod {module};")) {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "test files no module declares: {missing:?}"
    );
}
