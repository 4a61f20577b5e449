//! The limits that close clients and bound memory, over real sockets: the
//! output buffer limits (a client that never reads), the query buffer and
//! total input limits, the idle timeout, `memory_bytes_max`, refusals at
//! `connections_max` in each codec, start errors that name their object,
//! and the cost of idle connections. Memory figures come from the
//! `usher-server` binary (its counting allocator and its own RSS).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use usher::config::Config;
use usher::protocol::{binary, ErrorCode, Reply};
use usher::stats::ServerStats;

use super::server::{info_number, ServerProcess};
use crate::support::resp::Resp;
use crate::support::server::{
    eventually, request_frame, start, stop, test_config, BinaryConn, RespConn, TIMEOUT,
};

const VALUE_BYTES: usize = 100 * 1000;

/// A field of `/proc/PID/status`, in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    kib * 1024
}

/// `GET big` as RESP, `count` times.
fn pipelined_gets(count: usize) -> Vec<u8> {
    b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_with_bounded_memory() {
    let hard: u64 = 8 * 1024 * 1024;
    // A process of its own: resident memory is the whole process's. With
    // persistence, so that replies held for the commit count too.
    let mut server = ServerProcess::spawn(&[
        "--fsync",
        "no",
        "--log-segment-bytes",
        "0",
        "--client-output-buffer-bytes-max",
        &hard.to_string(),
        "--client-output-buffer-soft-bytes",
        "1048576",
        "--client-output-buffer-soft-seconds",
        "1",
    ]);
    let addr = server.listening_addr();
    let pid = server.child.id();
    let mut other = RespConn::connect(addr).await;
    let value = "v".repeat(VALUE_BYTES);
    assert_eq!(
        other.call(&["SET", "big", &value]).await,
        Resp::Simple("OK".into())
    );
    for _ in 0..10 {
        assert_eq!(other.call(&["GET", "big"]).await, Resp::bulk(&value));
    }
    // The peak from here on (`VmHWM` restarts at the current RSS).
    let peak_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let before = proc_status_bytes(pid, "VmRSS");

    // 10⁶ GETs of a 100 KB value (100 GB of replies), never read.
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut slow = std::net::TcpStream::connect(addr).expect("connect");
            let chunk = pipelined_gets(10_000);
            let mut sent = 0;
            while sent < 1_000_000 {
                if slow.write_all(&chunk).is_err() {
                    break;
                }
                sent += 10_000;
            }
            done.store(true, Ordering::Release);
            sent
        })
    };
    // Another client is served all along, and the server's memory stays
    // within the hard limit plus 10 %.
    let started = Instant::now();
    let mut peak = before;
    let mut served = 0;
    while !done.load(Ordering::Acquire) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the client that never reads was not closed"
        );
        let call = Instant::now();
        assert_eq!(other.call(&["INCR", "n"]).await, Resp::Int(served + 1));
        assert!(
            call.elapsed() < Duration::from_secs(1),
            "INCR took {:?}",
            call.elapsed()
        );
        served += 1;
        peak = peak.max(proc_status_bytes(pid, "VmRSS"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = writer.join().expect("writer thread");
    assert!(sent < 1_000_000, "all 10⁶ requests were taken: {sent}");
    if peak_reset {
        peak = peak.max(proc_status_bytes(pid, "VmHWM"));
    }
    let grown = peak.saturating_sub(before);
    let bound = hard + hard / 10;
    eprintln!(
        "slow reader: closed after {:?}, {sent} requests written, RSS grew by {grown} bytes \
         (bound {bound}), {served} INCRs served meanwhile",
        started.elapsed()
    );
    assert!(grown <= bound, "RSS grew by {grown} bytes, over {bound}");
    assert!(served > 0);
    assert_eq!(
        info_number(
            &mut other,
            "stats",
            "client_output_buffer_limit_disconnections"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_replies_over_the_hard_limit_close_at_once() {
    let config = Config {
        client_output_buffer_bytes_max: 1024 * 1024,
        client_output_buffer_soft_bytes: 0,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    let value = "v".repeat(VALUE_BYTES);
    assert_eq!(
        conn.call(&["SET", "big", &value]).await,
        Resp::Simple("OK".into())
    );
    // 3 MB of replies at once: over the hard limit before any is written.
    let started = Instant::now();
    conn.send(&pipelined_gets(30)).await;
    let mut received = 0;
    loop {
        let n = tokio::time::timeout(
            TIMEOUT,
            tokio::io::AsyncReadExt::read_buf(&mut conn.stream, &mut conn.buf),
        )
        .await
        .expect("closed in time");
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(
        received < 30 * VALUE_BYTES,
        "every reply arrived: {received}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        ServerStats::get(&running.stats.output_limit_disconnections),
        1
    );
    // Others go on.
    let mut other = RespConn::connect(running.addr).await;
    assert_eq!(other.call(&["PING"]).await, Resp::Simple("PONG".into()));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_buffer_over_its_limit_closes_the_client() {
    let config = Config {
        frame_bytes_max: 64 * 1024,
        client_query_buffer_bytes_max: 64 * 1024,
        // One request per round: the rest of what the client sends piles
        // up unparsed.
        pipeline_requests_max: 1,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    // 1 MB of PINGs, sent without reading: the unparsed input grows by
    // nearly a read chunk per round until the limit closes the client.
    let pings = b"PING\r\n".repeat(1024 * 1024 / 6);
    let total = pings.len() / 6;
    // The write may fail once the server closes.
    let _ = tokio::time::timeout(TIMEOUT, conn.stream.write_all(&pings)).await;
    loop {
        match tokio::time::timeout(
            TIMEOUT,
            tokio::io::AsyncReadExt::read_buf(&mut conn.stream, &mut conn.buf),
        )
        .await
        .expect("closed in time")
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let pongs = conn.buf.len() / 7;
    assert!(pongs < total, "every PING was answered");
    assert_eq!(
        ServerStats::get(&running.stats.input_limit_disconnections),
        1
    );
    let mut other = RespConn::connect(running.addr).await;
    assert_eq!(other.call(&["PING"]).await, Resp::Simple("PONG".into()));
    stop(running).await;
}

/// Opens a connection and sends the start of a RESP `SET key value` whose
/// value is `declared` bytes long, `sent` of them.
async fn partial_set(
    addr: std::net::SocketAddr,
    declared: usize,
    sent: usize,
) -> (RespConn, usize) {
    let mut conn = RespConn::connect(addr).await;
    let mut bytes = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${declared}\r\n").into_bytes();
    bytes.resize(bytes.len() + sent, b'x');
    conn.send(&bytes).await;
    (conn, bytes.len())
}

/// Whether the server closed `conn` (a closed connection reads end of
/// stream or a reset at once; an open one has nothing to read).
async fn is_closed(conn: &mut RespConn) -> bool {
    let mut probe = [0u8; 1];
    let peek = conn.stream.peek(&mut probe);
    match tokio::time::timeout(Duration::from_millis(50), peek).await {
        Err(_) => false,
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("unexpected bytes from the server"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_holding_the_most_input_are_closed_first() {
    let bound = 16 * 1024 * 1024;
    let config = Config {
        client_input_bytes_total_max: bound,
        ..test_config()
    };
    let running = start(config).await;
    let stats = running.stats.clone();
    // 48 clients each holding a partial frame of 64 KB and one holding
    // 7.9 MB: 11 MB in all, under the bound.
    let mut small = Vec::new();
    let mut held = 0;
    for _ in 0..48 {
        let (conn, bytes) = partial_set(running.addr, 100_000, 64_000).await;
        small.push(conn);
        held += bytes;
    }
    let (mut big, bytes) = partial_set(running.addr, 8_000_000, 7_900_000).await;
    held += bytes;
    let input =
        |stats: Arc<ServerStats>| async move { ServerStats::get(&stats.client_input_bytes) };
    eventually("the server holds every partial frame", || {
        let stats = stats.clone();
        async move { input(stats).await == held as u64 }
    })
    .await;
    assert_eq!(ServerStats::get(&stats.input_limit_disconnections), 0);
    // One more partial frame of 6 MB takes the total over the bound while
    // it arrives: the client holding the most (7.9 MB) is closed, not the
    // one that came last.
    let (mut last, _) = partial_set(running.addr, 8_000_000, 6_000_000).await;
    eventually("a client is closed for the total input", || {
        let stats = stats.clone();
        async move { ServerStats::get(&stats.input_limit_disconnections) > 0 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ServerStats::get(&stats.input_limit_disconnections), 1);
    assert!(
        is_closed(&mut big).await,
        "the largest partial frame was kept"
    );
    assert!(
        !is_closed(&mut last).await,
        "the newest partial frame was closed"
    );
    for conn in &mut small {
        assert!(!is_closed(conn).await, "a small partial frame was closed");
    }
    assert!(ServerStats::get(&stats.client_input_bytes) <= bound as u64);
    // A client left open finishes its frame and is served.
    let mut first = small.swap_remove(0);
    first.send(&vec![b'x'; 36_000]).await;
    first.send(b"\r\n").await;
    assert_eq!(first.read().await, Resp::Simple("OK".into()));
    drop((small, last));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_after_timeout_seconds_but_not_blocked_ones() {
    let config = Config {
        timeout_seconds: 1,
        ..test_config()
    };
    let running = start(config).await;
    let mut idle = RespConn::connect(running.addr).await;
    let mut blocked = RespConn::connect(running.addr).await;
    let mut busy = RespConn::connect(running.addr).await;
    assert_eq!(idle.call(&["PING"]).await, Resp::Simple("PONG".into()));
    blocked.send_command(&["BZPOPMIN", "line", "0"]).await;
    let started = Instant::now();
    // The busy client keeps talking; the idle one is closed meanwhile.
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(busy.call(&["PING"]).await, Resp::Simple("PONG".into()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    idle.expect_closed().await;
    assert_eq!(ServerStats::get(&running.stats.idle_disconnections), 1);
    // The blocked client is still there and gets its reply.
    assert_eq!(busy.call(&["ZADD", "line", "1", "a"]).await, Resp::Int(1));
    assert_eq!(
        blocked.read().await,
        Resp::Array(vec![Resp::bulk("line"), Resp::bulk("a"), Resp::bulk("1")])
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_over_memory_bytes_max_get_oom_and_reads_and_deletes_still_work() {
    let limit: u64 = 48 * 1024 * 1024;
    let mut server = ServerProcess::spawn(&[
        "--persist",
        "false",
        "--memory-bytes-max",
        &limit.to_string(),
    ]);
    let addr = server.listening_addr();
    let mut conn = RespConn::connect(addr).await;
    assert_eq!(info_number(&mut conn, "memory", "maxmemory").await, limit);
    let value = "v".repeat(VALUE_BYTES);
    let mut stored = 0;
    let refusal = loop {
        assert!(stored < 1000, "100 MB stored without an OOM error");
        match conn.call(&["SET", &format!("k{stored}"), &value]).await {
            Resp::Simple(ok) if ok == "OK" => stored += 1,
            other => break other,
        }
    };
    assert_eq!(
        refusal,
        Resp::Error("OOM command not allowed when used memory > 'memory_bytes_max'.".into())
    );
    assert!(info_number(&mut conn, "memory", "used_memory").await > limit);
    // Other commands that may grow memory are refused too; reads, deletes
    // and connection commands are not.
    let oom = |reply: Resp| matches!(reply, Resp::Error(text) if text.starts_with("OOM "));
    assert!(oom(conn.call(&["INCR", "n"]).await));
    assert!(oom(conn.call(&["ZADD", "z", "1", "m"]).await));
    assert_eq!(conn.call(&["GET", "k0"]).await, Resp::bulk(&value));
    assert_eq!(conn.call(&["EXISTS", "k1"]).await, Resp::Int(1));
    assert_eq!(conn.call(&["PING"]).await, Resp::Simple("PONG".into()));
    assert!(info_number(&mut conn, "stats", "oom_rejected_commands").await >= 3);
    // Deleting makes room, and writes go through again.
    let keys: Vec<String> = (0..stored / 2).map(|i| format!("k{i}")).collect();
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(conn.call(&del).await, Resp::Int((stored / 2) as i64));
    assert_eq!(conn.call(&["INCR", "n"]).await, Resp::Int(1));
    // The binary protocol gets the same error with its code.
    let mut binary = BinaryConn::connect(addr).await;
    let mut filled = 0;
    loop {
        assert!(filled < 1000, "100 MB stored without an OOM error");
        let key = format!("b{filled}");
        binary
            .send(&request_frame(filled, &["SET", &key, &value]))
            .await;
        match binary.read().await {
            (_, Reply::Error(error)) => {
                assert_eq!(error.code, ErrorCode::OutOfMemory);
                break;
            }
            (_, reply) => assert_eq!(reply, Reply::OK),
        }
        filled += 1;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_at_connections_max_speak_the_clients_codec() {
    let config = Config {
        connections_max: 1,
        ..test_config()
    };
    let running = start(config).await;
    let mut first = RespConn::connect(running.addr).await;
    assert_eq!(first.call(&["PING"]).await, Resp::Simple("PONG".into()));

    // A RESP client that speaks first, and one that waits for the server.
    let mut resp = RespConn::connect(running.addr).await;
    resp.send(b"PING\r\n").await;
    resp.expect(b"-ERR max number of clients reached\r\n").await;
    resp.expect_closed().await;
    let mut silent = RespConn::connect(running.addr).await;
    silent
        .expect(b"-ERR max number of clients reached\r\n")
        .await;
    silent.expect_closed().await;

    // A binary client gets a binary error frame for its first request.
    let mut client = BinaryConn::connect(running.addr).await;
    client.send(&request_frame(77, &["PING"])).await;
    let (id, reply) = client.read().await;
    assert_eq!(id, 77);
    let Reply::Error(error) = reply else {
        panic!("not an error: {reply:?}")
    };
    assert_eq!(error.code, ErrorCode::Limit);
    assert_eq!(error.message, "ERR max number of clients reached");
    client.expect_closed().await;
    // Only its magic byte: still binary, request id 0.
    let mut partial = BinaryConn::connect(running.addr).await;
    partial.send(&[binary::MAGIC]).await;
    let (id, reply) = partial.read().await;
    assert_eq!(id, 0);
    assert!(matches!(reply, Reply::Error(error) if error.code == ErrorCode::Limit));
    partial.expect_closed().await;

    assert_eq!(ServerStats::get(&running.stats.rejected_connections), 4);
    assert_eq!(first.call(&["PING"]).await, Resp::Simple("PONG".into()));
    stop(running).await;
}

/// Runs `usher-server` with `args` until it exits; its status and stderr.
fn run_to_exit(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn usher-server");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("usher-server {args:?} did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status, stderr)
}

#[test]
fn a_port_in_use_is_named_in_the_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let (status, stderr) =
        run_to_exit(&["--persist", "false", "--bind", "127.0.0.1", "--port", &port]);
    assert!(!status.success(), "started on a port in use");
    let expected = format!("cannot listen on 127.0.0.1:{port}: Address already in use");
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}

#[test]
fn a_locked_data_directory_is_named_in_the_start_error() {
    let mut first = ServerProcess::spawn(&[]);
    first.listening_addr();
    let dir = first.dir().to_str().expect("UTF-8 path").to_string();
    let (status, stderr) = run_to_exit(&["--port", "0", "--dir", &dir]);
    assert!(!status.success(), "started on a locked data directory");
    let expected =
        format!("data directory {dir} is in use by another usher-server (lock {dir}/LOCK is held)");
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}

#[test]
fn an_unusable_data_directory_is_named_in_the_start_error() {
    // A regular file where the data directory's parent should be.
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    let dir = file.path().join("data");
    let dir = dir.to_str().expect("UTF-8 path");
    let (status, stderr) = run_to_exit(&["--port", "0", "--dir", dir]);
    assert!(!status.success(), "started without a data directory");
    let expected = format!("usher-server: cannot create data directory {dir}: Not a directory");
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}

/// The 99th percentile of INCR round trips on one connection: the best of
/// three runs of 1000, since the machine's other work (other tests, other
/// builds) adds pauses that have nothing to do with the server.
async fn incr_p99(conn: &mut RespConn) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let mut times = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let started = Instant::now();
            assert!(matches!(conn.call(&["INCR", "probe"]).await, Resp::Int(_)));
            times.push(started.elapsed());
        }
        times.sort();
        best = best.min(times[990]);
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cost_little_memory_and_no_latency() {
    let count: usize = std::env::var("USHER_IDLE_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let mut server = ServerProcess::spawn(&[
        "--persist",
        "false",
        "--connections-max",
        &(count + 10).to_string(),
    ]);
    let addr = server.listening_addr();
    let mut probe = RespConn::connect(addr).await;
    let p99_before = incr_p99(&mut probe).await;
    let used_before = info_number(&mut probe, "memory", "used_memory").await;
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    let expected = count as u64 + 1;
    let deadline = Instant::now() + TIMEOUT;
    while info_number(&mut probe, "clients", "connected_clients").await != expected {
        assert!(
            Instant::now() < deadline,
            "the idle connections were not all accepted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let used_after = info_number(&mut probe, "memory", "used_memory").await;
    let p99_after = incr_p99(&mut probe).await;
    let per_connection = used_after.saturating_sub(used_before) / count as u64;
    eprintln!(
        "{count} idle connections: used_memory {used_before} -> {used_after} \
         ({per_connection} bytes each); INCR p99 {p99_before:?} -> {p99_after:?}"
    );
    assert!(
        per_connection <= 4096,
        "{per_connection} bytes per idle connection"
    );
    assert!(
        p99_after <= p99_before * 4 + Duration::from_millis(10),
        "INCR p99 went from {p99_before:?} to {p99_after:?} with {count} idle connections"
    );
    drop(idle);
    drop(server);
}

#[test]
fn client_limit_settings_are_checked_against_each_other() {
    let valid = Config::default();
    valid.validate().expect("the defaults are valid");
    let refused = |config: Config, words: &[&str]| {
        let error = config.validate().expect_err("refused").to_string();
        for word in words {
            assert!(error.contains(word), "{error:?} does not name {word}");
        }
    };
    refused(
        Config {
            client_output_buffer_bytes_max: 1024,
            client_output_buffer_soft_bytes: 2048,
            ..Config::default()
        },
        &[
            "client_output_buffer_soft_bytes",
            "client_output_buffer_bytes_max",
        ],
    );
    refused(
        Config {
            client_output_bytes_max: 1024,
            ..Config::default()
        },
        &["client_output_buffer_soft_bytes", "client_output_bytes_max"],
    );
    refused(
        Config {
            client_output_buffer_soft_seconds: 0,
            ..Config::default()
        },
        &["client_output_buffer_soft_seconds"],
    );
    refused(
        Config {
            client_query_buffer_bytes_max: 1024,
            ..Config::default()
        },
        &["client_query_buffer_bytes_max", "frame_bytes_max"],
    );
    refused(
        Config {
            client_input_bytes_total_max: 1024,
            ..Config::default()
        },
        &["client_input_bytes_total_max", "frame_bytes_max"],
    );
    // Off is allowed for the output limits.
    Config {
        client_output_buffer_bytes_max: 0,
        client_output_buffer_soft_bytes: 0,
        client_output_buffer_soft_seconds: 0,
        ..Config::default()
    }
    .validate()
    .expect("limits off");
}
