//! Crash harness: the real `usher-server` binary with `--fsync always` (and a
//! shorter run with `--fsync no`, where the engine thread writes the log itself),
//! concurrent writers that record every acknowledged operation, SIGKILL at a
//! random moment, restart on the same directory, and a check that every
//! acknowledged operation is there (and nothing that was never sent).
//!
//! Snapshots run during the cycles (small `--snapshot-log-bytes-max` and
//! interval), so kills land before, during and after snapshots. The seed
//! (printed) drives the operations and the kill moments; timing still
//! varies between runs. `USHER_CRASH_CYCLES=N` runs longer,
//! `USHER_CRASH_SEED=S` replays a seed's choices.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use usher::client::{args, Client};
use usher::protocol::{Arg, Reply};

use crate::support::rng::Rng;

/// Kill/restart cycles in CI; `USHER_CRASH_CYCLES` for longer runs.
const CYCLES_DEFAULT: usize = 20;
/// Cycles of the `--fsync no` variant in CI.
const CYCLES_NO_SYNC_DEFAULT: usize = 8;
const WRITERS: usize = 6;
/// The shared counter's cap (INCRBOUND ... MAX CAP), reached within a few
/// cycles so that denials at the cap are exercised too.
const CAP: i64 = 300;
/// Keys written once before the first cycle and never changed: they make
/// each snapshot span many engine ticks, so kills land inside snapshots.
const PREFILL_KEYS: usize = 30_000;
/// Longest any single wait may take.
const TIMEOUT: Duration = Duration::from_secs(20);

fn seed() -> u64 {
    match std::env::var("USHER_CRASH_SEED") {
        Ok(text) => text.parse().expect("USHER_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(1),
    }
}

// --- the server process ---

/// A running `usher-server`; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts the binary on `dir`; its stderr is appended to `log`. Fails the
/// test (with the log) if it does not report its address in time, which is
/// what happens when recovery refuses the directory.
fn spawn_server(dir: &Path, log: &Path, fsync: &str) -> Server {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--fsync", fsync])
        .args(["--snapshot-log-bytes-max", "60000"])
        .args(["--snapshot-interval-ms", "250"])
        .args(["--log-segment-bytes", "65536"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn usher-server");
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    let line = receive.recv_timeout(TIMEOUT).unwrap_or_default();
    let Some(addr) = line
        .trim_end()
        .strip_prefix("usher-server listening on ")
        .and_then(|addr| addr.parse().ok())
    else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "usher-server did not start on {} (first line {line:?}); its log:\n{}",
            dir.display(),
            log_tail(log)
        );
    };
    Server { child, addr }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let start = text.len().saturating_sub(8000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(start);
    text[start..].to_string()
}

/// Waits for the process to exit, at most [`TIMEOUT`].
fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "usher-server did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([name, &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {name} failed");
}

// --- what the writers know ---

/// A state a key may be in after a restart.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Absent,
    Present { value: String, ttl: bool },
}

/// What one writer did, and what therefore must (or may) be on the server.
#[derive(Default)]
struct Model {
    id: usize,
    /// The writer's own counter is in `counter_min..=counter_max`: acked
    /// increments raise the minimum, sent ones the maximum.
    counter_min: i64,
    counter_max: i64,
    /// Every key the writer ever created, with the states it may be in.
    keys: BTreeMap<String, Vec<Expect>>,
    /// Keys certainly present with no short expiry: fit for DEL and EXPIRE.
    usable: Vec<String>,
    next_key: u64,
    /// INCRBOUND on the shared counter: grants acknowledged, attempts sent,
    /// and whether an acknowledged attempt was refused at the cap.
    grants_acked: i64,
    grant_attempts: i64,
    denied_at_cap: bool,
    /// Operations acknowledged in this cycle.
    acked: u64,
    /// Keys whose expected state changed in this cycle (always verified).
    touched: BTreeSet<String>,
}

impl Model {
    fn expect(&mut self, name: String, allowed: Vec<Expect>) {
        self.touched.insert(name.clone());
        self.keys.insert(name, allowed);
    }

    fn counter_key(&self) -> String {
        format!("c:{}", self.id)
    }
}

fn int(reply: &Reply, what: &str) -> i64 {
    match reply {
        Reply::Int(value) => *value,
        other => panic!("{what} replied {other:?}"),
    }
}

/// One writer's work until its connection fails (the server was killed or
/// stopped). Returns the model with every acknowledgement recorded.
async fn writer(addr: SocketAddr, mut model: Model, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let Ok(mut client) = Client::connect(addr).await else {
        return model;
    };
    let counter = model.counter_key();
    let bound = args(["INCRBOUND", "shared", "1", "MAX", &CAP.to_string()]);
    loop {
        let choice = rng.below(100);
        if choice < 30 {
            let certain = model.counter_min == model.counter_max;
            model.counter_max += 1;
            let Ok(reply) = client.call(&args(["INCR", &counter])).await else {
                return model;
            };
            let value = int(&reply, "INCR");
            if certain {
                assert_eq!(value, model.counter_max, "INCR {counter} skipped a value");
            }
            model.counter_min += 1;
            model.acked += 1;
        } else if choice < 55 {
            let name = format!("k:{}:{}", model.id, model.next_key);
            model.next_key += 1;
            let pad = "x".repeat(rng.below(300) as usize);
            let value = format!("{name}={}{pad}", rng.next());
            let new = Expect::Present {
                value: value.clone(),
                ttl: false,
            };
            model.expect(name.clone(), vec![Expect::Absent, new.clone()]);
            let Ok(reply) = client.call(&args(["SET", &name, &value])).await else {
                return model;
            };
            assert_eq!(reply, Reply::OK, "SET {name}");
            model.expect(name.clone(), vec![new]);
            model.usable.push(name);
            model.acked += 1;
        } else if choice < 70 {
            model.grant_attempts += 1;
            let Ok(reply) = client.call(&bound).await else {
                return model;
            };
            match reply {
                Reply::Array(items) => match items.as_slice() {
                    [Reply::Int(value), Reply::Int(1)] => {
                        assert!(*value <= CAP, "INCRBOUND granted {value} above the cap");
                        model.grants_acked += 1;
                    }
                    [Reply::Int(CAP), Reply::Int(0)] => model.denied_at_cap = true,
                    other => panic!("INCRBOUND replied {other:?}"),
                },
                other => panic!("INCRBOUND replied {other:?}"),
            }
            model.acked += 1;
        } else if choice < 90 && !model.usable.is_empty() {
            let index = rng.below(model.usable.len() as u64) as usize;
            let name = model.usable.swap_remove(index);
            let old = model.keys[&name][0].clone();
            let Expect::Present { value, .. } = &old else {
                panic!("{name} is usable but not present");
            };
            let (command, new) = match choice {
                70..=77 => (args(["DEL", &name]), Expect::Absent),
                78..=84 => (
                    args(["EXPIRE", &name, "100000"]),
                    Expect::Present {
                        value: value.clone(),
                        ttl: true,
                    },
                ),
                // Expires within a millisecond: gone by the restart whether
                // the timer reaped it or not.
                _ => (args(["PEXPIRE", &name, "1"]), Expect::Absent),
            };
            model.expect(name.clone(), vec![old.clone(), new.clone()]);
            let Ok(reply) = client.call(&command).await else {
                return model;
            };
            assert_eq!(int(&reply, "DEL/EXPIRE"), 1, "{command:?} on {name}");
            if let Expect::Present { ttl: true, .. } = new {
                model.usable.push(name.clone());
            }
            model.expect(name, vec![new]);
            model.acked += 1;
        } else {
            // A small pipeline: new keys and increments in one round trip.
            let mut commands: Vec<Vec<Arg>> = Vec::new();
            let mut created = Vec::new();
            let mut increments = 0;
            for _ in 0..2 + rng.below(4) {
                if rng.below(2) == 0 {
                    increments += 1;
                    commands.push(args(["INCR", &counter]));
                } else {
                    let name = format!("k:{}:{}", model.id, model.next_key);
                    model.next_key += 1;
                    let value = format!("{name}={}", rng.next());
                    let new = Expect::Present {
                        value: value.clone(),
                        ttl: false,
                    };
                    model.expect(name.clone(), vec![Expect::Absent, new.clone()]);
                    commands.push(args(["SET", &name, &value]));
                    created.push((name, new));
                }
            }
            model.counter_max += increments;
            let Ok(replies) = client.pipeline(&commands).await else {
                return model;
            };
            assert!(
                replies
                    .iter()
                    .all(|r| matches!(r, Reply::Int(_) | Reply::Simple(_))),
                "pipeline replied {replies:?}"
            );
            model.counter_min += increments;
            for (name, new) in created {
                model.expect(name.clone(), vec![new]);
                model.usable.push(name);
            }
            model.acked += commands.len() as u64;
        }
    }
}

/// What the shared capped counter may be.
struct SharedBounds {
    min: i64,
    max: i64,
    at_cap: bool,
}

/// Keys not touched in a cycle are checked one in `SAMPLE` per cycle (all
/// of them at the end), so long runs stay linear in the number of cycles.
const SAMPLE: u64 = 16;

/// Whether `verify` checks `name` in round `round` (`None` = every key).
fn checked(touched: &BTreeSet<String>, name: &str, round: Option<u64>) -> bool {
    use std::hash::{Hash, Hasher};
    let Some(round) = round else {
        return true;
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    touched.contains(name) || hasher.finish() % SAMPLE == round % SAMPLE
}

/// Reads the state back from a restarted server and checks it against the
/// models: the counters, every key touched since the last check, and a
/// rotating sample of the others (every key when `round` is `None`). Then
/// the models hold exactly what was read (the uncertainty of operations in
/// flight at the kill is resolved).
async fn verify(
    addr: SocketAddr,
    models: &mut [Model],
    shared: &mut SharedBounds,
    round: Option<u64>,
    when: &str,
) {
    let mut client = tokio::time::timeout(TIMEOUT, Client::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect to the restarted server");
    let mut commands: Vec<Vec<Arg>> = vec![args(["GET", "shared"])];
    for model in models.iter() {
        commands.push(args(["GET", &model.counter_key()]));
        for name in model
            .keys
            .keys()
            .filter(|name| checked(&model.touched, name, round))
        {
            commands.push(args(["GET", name]));
            commands.push(args(["PTTL", name]));
        }
    }
    let mut replies = Vec::with_capacity(commands.len());
    // Moderate pipelines: the client writes all before it reads.
    for chunk in commands.chunks(500) {
        let part = tokio::time::timeout(TIMEOUT, client.pipeline(chunk))
            .await
            .expect("verification replies in time")
            .expect("verification pipeline");
        replies.extend(part);
    }
    let mut replies = replies.into_iter();
    let mut next = || replies.next().expect("a reply per command");
    let as_number = |reply: Reply, what: &str| -> i64 {
        match reply {
            Reply::Nil => 0,
            Reply::Bulk(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("{what} holds {bytes:?}")),
            other => panic!("GET {what} replied {other:?}"),
        }
    };

    let value = as_number(next(), "shared");
    assert!(
        value <= CAP,
        "{when}: shared counter {value} is above the cap {CAP}"
    );
    assert!(
        value >= shared.min,
        "{when}: shared counter {value} lost acknowledged grants (at least {} were granted)",
        shared.min
    );
    assert!(
        value <= shared.max,
        "{when}: shared counter {value} exceeds the {} attempts ever sent",
        shared.max
    );
    if shared.at_cap {
        assert_eq!(value, CAP, "{when}: a refusal at the cap was acknowledged");
    }
    *shared = SharedBounds {
        min: value,
        max: value,
        at_cap: shared.at_cap,
    };

    for model in models.iter_mut() {
        let counter = model.counter_key();
        let value = as_number(next(), &counter);
        assert!(
            value >= model.counter_min,
            "{when}: {counter} = {value}, but {} increments were acknowledged",
            model.counter_min
        );
        assert!(
            value <= model.counter_max,
            "{when}: {counter} = {value}, but only {} increments were sent",
            model.counter_max
        );
        model.counter_min = value;
        model.counter_max = value;
        let touched = std::mem::take(&mut model.touched);
        for (name, allowed) in model.keys.iter_mut() {
            if !checked(&touched, name, round) {
                continue;
            }
            let value = next();
            let pttl = int(&next(), "PTTL");
            let found = match value {
                Reply::Nil => {
                    assert_eq!(pttl, -2, "{when}: {name} is absent but PTTL says {pttl}");
                    Expect::Absent
                }
                Reply::Bulk(bytes) => {
                    assert!(pttl == -1 || pttl > 0, "{when}: {name} PTTL {pttl}");
                    Expect::Present {
                        value: String::from_utf8_lossy(&bytes).into_owned(),
                        ttl: pttl > 0,
                    }
                }
                other => panic!("{when}: GET {name} replied {other:?}"),
            };
            assert!(
                allowed.contains(&found),
                "{when}: {name} is {found:?}; acknowledged operations allow only {allowed:?}"
            );
            *allowed = vec![found];
        }
        model.usable = model
            .keys
            .iter()
            .filter(|(_, allowed)| matches!(allowed[0], Expect::Present { .. }))
            .map(|(name, _)| name.clone())
            .collect();
    }
}

/// Runs the writers against `server` until `stop` has been applied to it,
/// and returns their models.
async fn run_writers(
    addr: SocketAddr,
    models: Vec<Model>,
    rng: &mut Rng,
    stop: impl FnOnce(),
    stop_after: Duration,
) -> Vec<Model> {
    let mut tasks = Vec::new();
    for model in models {
        let seed = rng.next();
        tasks.push(tokio::spawn(writer(addr, model, seed)));
    }
    tokio::time::sleep(stop_after).await;
    stop();
    let mut models = Vec::new();
    for task in tasks {
        let model = tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("writers notice the stop in time")
            .expect("writer task");
        models.push(model);
    }
    models
}

async fn prefill(addr: SocketAddr) {
    let mut client = Client::connect(addr).await.expect("connect");
    let commands: Vec<Vec<Arg>> = (0..PREFILL_KEYS)
        .map(|i| args(["SET".to_string(), format!("p:{i}"), format!("prefill {i}")]))
        .collect();
    for chunk in commands.chunks(1000) {
        let replies = tokio::time::timeout(TIMEOUT, client.pipeline(chunk))
            .await
            .expect("prefill in time")
            .expect("prefill");
        assert!(
            replies.iter().all(|r| *r == Reply::OK),
            "prefill replied {replies:?}"
        );
    }
}

/// Checks every `step`-th prefilled key, starting at `first`.
async fn verify_prefill(addr: SocketAddr, first: usize, step: usize, when: &str) {
    let mut client = Client::connect(addr).await.expect("connect");
    let keys: Vec<usize> = (first % step..PREFILL_KEYS).step_by(step).collect();
    let commands: Vec<Vec<Arg>> = keys
        .iter()
        .map(|i| args(["GET".to_string(), format!("p:{i}")]))
        .collect();
    for (chunk, indexes) in commands.chunks(500).zip(keys.chunks(500)) {
        let replies = tokio::time::timeout(TIMEOUT, client.pipeline(chunk))
            .await
            .expect("replies in time")
            .expect("pipeline");
        for (reply, i) in replies.into_iter().zip(indexes) {
            assert_eq!(
                reply,
                Reply::Bulk(format!("prefill {i}").into()),
                "{when}: prefilled key p:{i}"
            );
        }
    }
}

fn combine(models: &mut [Model], shared: &mut SharedBounds) {
    for model in models.iter_mut() {
        shared.min += model.grants_acked;
        shared.max += model.grant_attempts;
        shared.at_cap |= model.denied_at_cap;
        model.grants_acked = 0;
        model.grant_attempts = 0;
        model.denied_at_cap = false;
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|listing| {
            listing
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn new_models() -> Vec<Model> {
    (0..WRITERS)
        .map(|id| Model {
            id,
            ..Model::default()
        })
        .collect()
}

fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data");
    let log = root.path().join("server.log");
    (root, dir, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let cycles = std::env::var("USHER_CRASH_CYCLES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(CYCLES_DEFAULT);
    sigkill_cycles("always", cycles).await;
}

/// With `--fsync no` (and `everysec`) the engine thread writes the log
/// itself; a process crash must still lose nothing acknowledged, because a
/// reply goes out only after its record is in the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_fsync_no_loses_nothing_acknowledged() {
    let cycles = std::env::var("USHER_CRASH_CYCLES")
        .ok()
        .and_then(|text| text.parse().ok())
        .map_or(CYCLES_NO_SYNC_DEFAULT, |cycles: usize| cycles);
    sigkill_cycles("no", cycles).await;
}

async fn sigkill_cycles(fsync: &str, cycles: usize) {
    let seed = seed();
    println!(
        "crash harness (--fsync {fsync}): seed {seed} (USHER_CRASH_SEED={seed}), {cycles} cycles"
    );
    let mut rng = Rng::new(seed);
    let (_root, dir, log) = scratch();
    let started = Instant::now();
    let mut models = new_models();
    let mut shared = SharedBounds {
        min: 0,
        max: 0,
        at_cap: false,
    };
    let mut server = spawn_server(&dir, &log, fsync);
    prefill(server.addr).await;
    let (mut acked, mut with_snapshot, mut mid_snapshot) = (0, 0, 0);
    for cycle in 0..cycles {
        let kill_after = Duration::from_millis(20 + rng.below(300));
        let child = &mut server.child;
        models = run_writers(
            server.addr,
            models,
            &mut rng,
            || {
                child.kill().expect("SIGKILL the server");
                let _ = child.wait();
            },
            kill_after,
        )
        .await;
        combine(&mut models, &mut shared);
        let names = names_in(&dir);
        with_snapshot += usize::from(names.iter().any(|n| n.ends_with(".usnap")));
        mid_snapshot += usize::from(names.iter().any(|n| n.ends_with(".tmp")));
        let cycle_acked: u64 = models.iter().map(|m| m.acked).sum();
        acked += cycle_acked;
        for model in &mut models {
            model.acked = 0;
        }

        server = spawn_server(&dir, &log, fsync);
        let when = format!(
            "cycle {cycle} (seed {seed}, killed after {kill_after:?}, {cycle_acked} acked)"
        );
        verify(
            server.addr,
            &mut models,
            &mut shared,
            Some(cycle as u64),
            &when,
        )
        .await;
        verify_prefill(server.addr, cycle, 97, &when).await;
    }
    verify(server.addr, &mut models, &mut shared, None, "at the end").await;
    verify_prefill(server.addr, 0, 1, "at the end").await;
    drop(server);
    let keys: usize = models.iter().map(|m| m.keys.len()).sum();
    println!(
        "crash harness: {cycles} SIGKILL cycles in {:?}; {acked} operations acknowledged, \
         {keys} keys tracked, shared counter {}; a snapshot on disk at {with_snapshot} kills, \
         a snapshot in progress at {mid_snapshot}",
        started.elapsed(),
        shared.min
    );
    assert!(acked > 0, "no operation was ever acknowledged");
    assert!(
        with_snapshot > 0,
        "no snapshot was ever written: the harness did not exercise snapshots"
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains("panicked"),
        "the server panicked:\n{}",
        log_tail(&log)
    );
    // How often a kill came between a segment switch and its rename.
    println!(
        "crash harness: recovery named {} log segment(s) left in spare files",
        log_text.matches("named a log segment").count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_and_keeps_everything_acknowledged() {
    let mut rng = Rng::new(seed());
    let (_root, dir, log) = scratch();
    let mut models = new_models();
    let mut shared = SharedBounds {
        min: 0,
        max: 0,
        at_cap: false,
    };
    let mut server = spawn_server(&dir, &log, "always");
    for round in 0..2 {
        let target = &server;
        models = run_writers(
            server.addr,
            models,
            &mut rng,
            || signal(target, "-TERM"),
            Duration::from_millis(300),
        )
        .await;
        combine(&mut models, &mut shared);
        let status = tokio::task::block_in_place(|| wait_exit(&mut server));
        assert!(
            status.success(),
            "usher-server exited with {status} on SIGTERM; log:\n{}",
            log_tail(&log)
        );
        assert!(
            models.iter().any(|m| m.acked > 0),
            "nothing was acknowledged"
        );
        for model in &mut models {
            model.acked = 0;
        }
        server = spawn_server(&dir, &log, "always");
        verify(
            server.addr,
            &mut models,
            &mut shared,
            None,
            &format!("after SIGTERM {round}"),
        )
        .await;
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text.contains("shutdown complete"),
        "no clean shutdown in the log:\n{}",
        log_tail(&log)
    );
    // A clean stop leaves no torn record behind.
    assert!(
        !log_text.contains("incomplete record"),
        "a clean shutdown left a torn record:\n{}",
        log_tail(&log)
    );
}
