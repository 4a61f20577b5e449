//! The server as a whole over real TCP: the connection limit, active expiry
//! driven by the engine's timer, many concurrent connections on one counter,
//! and the `usher-server` binary (port 0, config file, SIGTERM shutdown).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use usher::client::{args, Client};
use usher::clock::ManualClock;
use usher::config::Config;
use usher::protocol::Reply;
use usher::server::Running;

use crate::support::resp::Resp;
use crate::support::server::{
    eventually, start, start_with_clock, stop, test_config, RespConn, TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_connections_max_are_refused() {
    let config = Config {
        connections_max: 2,
        ..test_config()
    };
    let running = start(config).await;
    let mut first = RespConn::connect(running.addr).await;
    let mut second = RespConn::connect(running.addr).await;
    // A round trip on each makes sure both were accepted and counted.
    first.send(b"PING\r\n").await;
    first.expect(b"+PONG\r\n").await;
    second.send(b"PING\r\n").await;
    second.expect(b"+PONG\r\n").await;

    let mut third = RespConn::connect(running.addr).await;
    third
        .expect(b"-ERR max number of clients reached\r\n")
        .await;
    third.expect_closed().await;

    // The two accepted connections are unaffected.
    first.send(b"PING\r\n").await;
    first.expect(b"+PONG\r\n").await;

    // Once one closes, a new connection is served again.
    drop(second);
    let addr = running.addr;
    eventually("a freed slot accepts a new connection", || async move {
        let mut conn = RespConn::connect(addr).await;
        conn.send(b"PING\r\n").await;
        matches!(conn.read().await, Resp::Simple(text) if text == "PONG")
    })
    .await;
    drop(first);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_expiry_removes_keys_nobody_reads() {
    let clock = ManualClock::new(1_700_000_000_000);
    let running = start_with_clock(test_config(), clock.clone()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.send(b"SET short v PX 100\r\nSET long v PX 100000\r\nSET forever v\r\nDBSIZE\r\n")
        .await;
    conn.expect(b"+OK\r\n+OK\r\n+OK\r\n:3\r\n").await;

    clock.advance(150);
    // DBSIZE counts keys not yet reaped, so it drops only when the engine's
    // timer removes the key; nothing reads `short`.
    let mut polls = 0;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        polls += 1;
        match conn.call(&["DBSIZE"]).await {
            Resp::Int(2) => break,
            Resp::Int(3) => {}
            other => panic!("DBSIZE replied {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the expired key was not reaped within {TIMEOUT:?} ({polls} polls)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    conn.send(b"EXISTS short long forever\r\n").await;
    conn.expect(b":2\r\n").await;
    drop(conn);
    let state = stop(running).await;
    state.check_invariants();
    assert_eq!(state.keyspace.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_incrbound_grants_exactly_the_cap() {
    const CONNECTIONS: usize = 50;
    const REQUESTS: usize = 200;
    const CAP: i64 = 1000;
    let running = start(test_config()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let addr = running.addr;
        tasks.spawn(async move {
            let mut client = Client::connect(addr).await.expect("connect");
            let command = args(["INCRBOUND", "coupons", "1", "MAX", &CAP.to_string()]);
            let mut granted = Vec::new();
            // Half pipelined, half one by one, to mix batch shapes.
            let commands = vec![command.clone(); REQUESTS / 2];
            let mut replies = client.pipeline(&commands).await.expect("pipeline");
            for _ in 0..REQUESTS / 2 {
                replies.push(client.call(&command).await.expect("call"));
            }
            for reply in replies {
                match reply {
                    Reply::Array(items) => match items.as_slice() {
                        [Reply::Int(value), Reply::Int(1)] => granted.push(*value),
                        [Reply::Int(CAP), Reply::Int(0)] => {}
                        other => panic!("INCRBOUND replied {other:?}"),
                    },
                    other => panic!("INCRBOUND replied {other:?}"),
                }
            }
            granted
        });
    }
    let mut granted = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Some(result) = tokio::time::timeout_at(deadline, tasks.join_next())
        .await
        .expect("all connections finish in time")
    {
        granted.extend(result.expect("connection task"));
    }
    // Every value from 1 to the cap was handed out exactly once.
    granted.sort_unstable();
    assert_eq!(granted, (1..=CAP).collect::<Vec<_>>());

    let mut client = Client::connect(running.addr).await.expect("connect");
    let value = client.call(&args(["GET", "coupons"])).await.expect("GET");
    assert_eq!(value, Reply::Bulk("1000".into()));
    drop(client);
    stop(running).await;
}

// --- the usher-server binary ---

/// A child process that is killed if the test fails before it exits.
pub(super) struct ServerProcess {
    pub(super) child: Child,
    stderr: Option<std::process::ChildStderr>,
    /// This server's own data directory, removed when the test ends.
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ServerProcess {
    pub(super) fn spawn(extra: &[&str]) -> ServerProcess {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn usher-server");
        ServerProcess {
            child,
            stderr: None,
            _dir: dir,
        }
    }

    /// This server's data directory.
    pub(super) fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Reads the `usher-server listening on ADDR` line (bounded wait).
    pub(super) fn listening_addr(&mut self) -> std::net::SocketAddr {
        let stdout = self.child.stdout.take().expect("piped stdout");
        self.stderr = self.child.stderr.take();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = receive
            .recv_timeout(TIMEOUT)
            .expect("usher-server prints its address in time");
        let addr = line
            .trim_end()
            .strip_prefix("usher-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        addr.parse().expect("a socket address")
    }

    /// Waits for the process to exit, at most `TIMEOUT`.
    pub(super) fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "usher-server did not exit within {TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(super) fn stderr_text(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take().or_else(|| self.child.stderr.take()) {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_shuts_down_cleanly_on_sigterm() {
    let mut server = ServerProcess::spawn(&[]);
    let addr = server.listening_addr();

    let mut client = Client::connect(addr).await.expect("connect");
    let commands: Vec<_> = (0..100)
        .map(|i| args(["SET".to_string(), format!("k{i}"), i.to_string()]))
        .collect();
    let replies = client.pipeline(&commands).await.expect("pipeline");
    assert!(replies.iter().all(|r| *r == Reply::OK), "{replies:?}");
    // An idle RESP connection stays open across the signal; shutdown must
    // not wait for it forever.
    let mut idle = RespConn::connect(addr).await;
    idle.send(b"DBSIZE\r\n").await;
    idle.expect(b":100\r\n").await;

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "usher-server exited with {status}");
    // Both connections were closed by the server.
    idle.expect_closed().await;
    let stderr = server.stderr_text();
    assert!(stderr.contains("shutdown complete"), "stderr: {stderr}");
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_sets_values_and_flags_override_it() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-test-config.toml");
    std::fs::write(&path, "connections_max = 123\nkey_bytes_max = 77\n").expect("write config");
    let mut server = ServerProcess::spawn(&[
        "--config",
        path.to_str().expect("UTF-8 path"),
        "--key-bytes-max",
        "55",
    ]);
    let addr = server.listening_addr();
    let mut conn = RespConn::connect(addr).await;
    conn.send(
        b"CONFIG GET connections_max\r\nCONFIG GET key_bytes_max\r\nCONFIG GET frame_bytes_max\r\n",
    )
    .await;
    conn.expect(
        b"*2\r\n$15\r\nconnections_max\r\n$3\r\n123\r\n\
          *2\r\n$13\r\nkey_bytes_max\r\n$2\r\n55\r\n\
          *2\r\n$15\r\nframe_bytes_max\r\n$7\r\n8388608\r\n",
    )
    .await;
    drop(conn);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "usher-server exited with {status}");
}

#[test]
fn unknown_config_key_is_refused_by_name() {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-test-bad-config.toml");
    std::fs::write(&path, "connections_max = 5\nconections_maximum = 6\n").expect("write config");
    let mut server = ServerProcess::spawn(&["--config", path.to_str().expect("UTF-8 path")]);
    let status = server.wait();
    assert!(!status.success(), "usher-server accepted an unknown key");
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("conections_maximum"),
        "the error does not name the key: {stderr}"
    );
}

#[test]
fn invalid_config_value_is_refused() {
    let mut server = ServerProcess::spawn(&["--connections-max", "0"]);
    let status = server.wait();
    assert!(
        !status.success(),
        "usher-server accepted connections_max = 0"
    );
    let stderr = server.stderr_text();
    assert!(stderr.contains("connections_max"), "stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_client_that_never_reads() {
    let config = Config {
        shutdown_grace_ms: 100,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    let value = "v".repeat(1024 * 1024);
    conn.send_command(&["SET", "big", &value]).await;
    conn.expect(b"+OK\r\n").await;
    // 64 MiB of replies: far more than the socket buffers hold, and this
    // client never reads them.
    conn.send(&b"GET big\r\n".repeat(64)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let state = tokio::time::timeout(Duration::from_secs(10), running.shutdown())
        .await
        .expect("shutdown finishes although the client does not read");
    assert_eq!(state.keyspace.len(), 1);
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_held_back_while_others_are_served() {
    // A process of its own, since resident memory is the whole process's
    // and the other tests run servers in this one.
    let mut server = ServerProcess::spawn(&[
        "--persist",
        "false",
        "--client-output-bytes-max",
        "262144",
        "--client-output-buffer-soft-bytes",
        "262144",
    ]);
    let addr = server.listening_addr();
    let mut other = RespConn::connect(addr).await;
    let mut slow = RespConn::connect(addr).await;
    let value = "v".repeat(1024 * 1024);
    slow.send_command(&["SET", "big", &value]).await;
    slow.expect(b"+OK\r\n").await;
    let before = resident_bytes(&mut other).await;
    // 64 MiB of replies owed to a client that does not read yet.
    let replies = 64;
    slow.send(&b"GET big\r\n".repeat(replies)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Others are served meanwhile.
    assert_eq!(other.call(&["INCR", "n"]).await, Resp::Int(1));
    // The server did not encode all 64 replies at once: it holds about the
    // output limit plus one reply (and what the socket buffers took).
    let grown = resident_bytes(&mut other).await.saturating_sub(before);
    assert!(
        grown < 32 * 1024 * 1024,
        "resident memory grew by {grown} bytes while a client owes 64 MiB of replies"
    );
    // Every reply arrives, in order, once the client reads.
    for _ in 0..replies {
        assert_eq!(slow.read().await, Resp::bulk(&value));
    }
    assert_eq!(slow.call(&["PING"]).await, Resp::Simple("PONG".into()));
    drop(server);
}

/// `used_memory_rss` from INFO: the server process's resident memory.
async fn resident_bytes(conn: &mut RespConn) -> u64 {
    let info = conn.call(&["INFO", "memory"]).await;
    let Resp::Bulk(text) = info else {
        panic!("INFO is a bulk string: {info:?}")
    };
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix("used_memory_rss:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory_rss in INFO")
}

/// One numeric field of an INFO section.
pub(super) async fn info_number(conn: &mut RespConn, section: &str, name: &str) -> u64 {
    let info = conn.call(&["INFO", section]).await;
    let Resp::Bulk(text) = info else {
        panic!("INFO is a bulk string: {info:?}")
    };
    let prefix = format!("{name}:");
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in INFO {section}"))
}

/// This process's threads, as their `/proc/self/task` entries.
fn threads() -> BTreeSet<PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| Some(task.ok()?.path()))
        .collect()
}

/// A thread's name ("" once it has exited).
fn thread_name(thread: &Path) -> String {
    let name = std::fs::read_to_string(thread.join("comm")).unwrap_or_default();
    name.trim().to_string()
}

/// CPU time a thread has used, in nanoseconds.
fn thread_cpu_ns(thread: &Path) -> u64 {
    let stat = std::fs::read_to_string(thread.join("schedstat")).unwrap_or_default();
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Starts a server and returns it with the threads it started. Other tests
/// run servers in this process at the same time, so these are the threads
/// that appeared while this one started and answered a first command (its
/// engine has named itself by then); if another server's engine or freeing
/// thread appeared meanwhile too, the server is stopped and started again.
async fn start_with_threads(config: Config) -> (Running, Vec<PathBuf>) {
    for _ in 0..20 {
        let before = threads();
        let running = start(config.clone()).await;
        let mut conn = RespConn::connect(running.addr).await;
        assert_eq!(conn.call(&["EXISTS", "nothing"]).await, Resp::Int(0));
        let new: Vec<PathBuf> = threads().difference(&before).cloned().collect();
        let named = |name: &str| new.iter().filter(|t| thread_name(t) == name).count();
        if named("usher-engine") == 1 && named("usher-free") <= 1 {
            return (running, new);
        }
        stop(running).await;
    }
    panic!("other servers kept starting at the same moment as this one");
}

/// `ZADD key` with 1000 members: a value large enough to be freed lazily.
fn zadd_thousand(key: &str) -> Vec<String> {
    let mut words = vec!["ZADD".to_string(), key.to_string()];
    for i in 0..1000 {
        words.push(i.to_string());
        words.push(format!("member:{i}"));
    }
    words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_deleted_values_are_freed_by_the_freeing_thread() {
    let (running, threads) = start_with_threads(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    for key in ["big", "other"] {
        let words = zadd_thousand(key);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(conn.call(&words).await, Resp::Int(1000));
    }
    assert_eq!(conn.call(&["UNLINK", "big"]).await, Resp::Int(1));
    assert_eq!(conn.call(&["DEL", "other", "big"]).await, Resp::Int(1));
    assert_eq!(conn.call(&["EXISTS", "big", "other"]).await, Resp::Int(0));
    assert_eq!(
        info_number(&mut conn, "memory", "lazyfreed_objects").await,
        2
    );
    eventually("the freeing thread frees what it was handed", || async {
        let mut conn = RespConn::connect(running.addr).await;
        info_number(&mut conn, "memory", "lazyfree_pending_objects").await == 0
    })
    .await;
    assert!(threads.iter().any(|t| thread_name(t) == "usher-free"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_free_off_frees_on_the_engine_thread() {
    let config = Config {
        lazy_free: false,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    let words = zadd_thousand("big");
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    assert_eq!(conn.call(&words).await, Resp::Int(1000));
    assert_eq!(conn.call(&["UNLINK", "big"]).await, Resp::Int(1));
    assert_eq!(
        info_number(&mut conn, "memory", "lazyfreed_objects").await,
        0
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_submissions_share_the_engine_and_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        persist: true,
        dir: dir.path().to_path_buf(),
        ..test_config()
    };
    let running = start(config.clone()).await;
    let requests = |words: &[&[&str]]| -> Vec<usher::protocol::Request> {
        words
            .iter()
            .map(|w| usher::protocol::parse(&args(w.iter().copied())).expect("parses"))
            .collect()
    };
    let replies = running
        .submit(requests(&[&["INCR", "n"], &["INCR", "n"], &["GET", "n"]]))
        .expect("queued")
        .recv_timeout(TIMEOUT)
        .expect("replies");
    assert_eq!(
        replies,
        vec![Reply::Int(1), Reply::Int(2), Reply::BulkInt(2)]
    );
    // The same state over TCP.
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["INCR", "n"]).await, Resp::Int(3));
    stop(running).await;
    // And in the log: a restart sees all three increments.
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["GET", "n"]).await, Resp::bulk("3"));
    stop(running).await;
}

/// INFO persistence counts the log's moves into new segments: into
/// prepared spares as segments fill, and one more for a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_counts_the_logs_moves_into_prepared_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        persist: true,
        dir: dir.path().to_path_buf(),
        log_segment_bytes: usher::log::SEGMENT_BYTES_MIN,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(
        info_number(&mut conn, "persistence", "log_segments_prepared").await,
        0
    );
    let value = "v".repeat(2000);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut n = 0;
    while info_number(&mut conn, "persistence", "log_segments_prepared").await < 3 {
        assert!(std::time::Instant::now() < deadline, "no segment switch");
        for _ in 0..20 {
            let key = format!("k{}", n % 100);
            assert_eq!(
                conn.call(&["SET", &key, &value]).await,
                Resp::Simple("OK".into())
            );
            n += 1;
        }
        // Time for the spare thread.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A snapshot's rotation moves the log once more: into a spare when one
    // is ready (whether one is, is timing:
    // `tests/durability/preallocation.rs` checks that one is kept for it),
    // else into a file the engine creates.
    let moves = |prepared: u64, unprepared: u64| prepared + unprepared;
    let before = moves(
        info_number(&mut conn, "persistence", "log_segments_prepared").await,
        info_number(&mut conn, "persistence", "log_segments_unprepared").await,
    );
    assert!(matches!(conn.call(&["SNAPSHOT"]).await, Resp::Simple(_)));
    let after = moves(
        info_number(&mut conn, "persistence", "log_segments_prepared").await,
        info_number(&mut conn, "persistence", "log_segments_unprepared").await,
    );
    assert_eq!(after, before + 1);
    stop(running).await;
}

/// CPU time of this process's engine thread, in ns (Linux schedstat).
/// A connection holding half a frame, a client that does not read, or one
/// that closed its side with replies owed, must not keep the engine thread
/// busy while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_connections_do_not_spin_the_engine() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = Config {
        client_output_bytes_max: 1024 * 1024,
        ..test_config()
    };
    let (running, threads) = start_with_threads(config).await;
    let engine = threads
        .iter()
        .find(|t| thread_name(t) == "usher-engine")
        .expect("the server's engine thread");
    let mut partial = RespConn::connect(running.addr).await;
    partial.send(b"*2\r\n$3\r\nGET\r\n$1").await;
    let mut slow = RespConn::connect(running.addr).await;
    let (big, small) = ("v".repeat(256 * 1024), "s".repeat(32 * 1024));
    slow.send_command(&["SET", "big", &big]).await;
    slow.expect(b"+OK\r\n").await;
    slow.send_command(&["SET", "small", &small]).await;
    slow.expect(b"+OK\r\n").await;
    slow.send(&b"GET big\r\n".repeat(64)).await;
    // One that closed its side with a reply owed (less than the output
    // limit), behind a small receive buffer so the server's write blocks.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut closer = socket.connect(running.addr).await.expect("connect");
    closer
        .write_all(&b"GET small\r\n".repeat(8))
        .await
        .expect("send");
    closer.shutdown().await.expect("half-close");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = thread_cpu_ns(engine);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = thread_cpu_ns(engine) - before;
    assert!(
        used < 100_000_000,
        "the engine thread used {used} ns of CPU in 500 ms while its clients only waited"
    );
    // All are still served once they go on.
    partial.send(b"\r\nn\r\n").await;
    assert_eq!(partial.read().await, Resp::Nil);
    for _ in 0..64 {
        assert_eq!(slow.read().await, Resp::bulk(&big));
    }
    let mut owed = Vec::new();
    tokio::time::timeout(TIMEOUT, closer.read_to_end(&mut owed))
        .await
        .expect("the half-closed client gets its replies, then the close")
        .expect("read");
    let reply = format!("${}\r\n{small}\r\n", small.len());
    assert_eq!(owed, reply.repeat(8).into_bytes());
    stop(running).await;
}

/// Frames decoded ahead of the output limit are kept, not dropped: replies
/// stay in order, and nothing after a QUIT that was held back runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_held_back_by_the_output_limit_run_in_order_up_to_quit() {
    let config = Config {
        client_output_bytes_max: 64 * 1024,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    let value = "v".repeat(100 * 1024);
    conn.send_command(&["SET", "big", &value]).await;
    conn.expect(b"+OK\r\n").await;
    // Each GET reply alone passes the limit, so every one ends a group
    // early and the frames decoded after it wait.
    let mut pipeline = b"GET big\r\n".repeat(5);
    pipeline.extend_from_slice(b"INCR n\r\nGET big\r\nQUIT\r\nINCR n\r\n");
    conn.send(&pipeline).await;
    for _ in 0..5 {
        assert_eq!(conn.read().await, Resp::bulk(&value));
    }
    assert_eq!(conn.read().await, Resp::Int(1));
    assert_eq!(conn.read().await, Resp::bulk(&value));
    assert_eq!(conn.read().await, Resp::Simple("OK".into()));
    conn.expect_closed().await;
    let mut other = RespConn::connect(running.addr).await;
    assert_eq!(other.call(&["GET", "n"]).await, Resp::bulk("1"));
    stop(running).await;
}
