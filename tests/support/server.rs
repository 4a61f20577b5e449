//! Servers for the tests that talk to one over TCP: a config for port 0,
//! starting and stopping a server in this process, and raw RESP and raw
//! binary connections with bounded reads.
//!
//! Every wait here is bounded by [`TIMEOUT`] so a broken server fails a test
//! instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use usher::clock::{Clock, SystemClock};
use usher::config::Config;
use usher::protocol::{binary, Arg, Decoded, Limits, Reply};
use usher::server::Running;

use super::resp::{parse_resp, Resp};

/// Longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A config for tests: port 0 on the loopback, no persistence (the
/// durability tests use their own data directories), defaults otherwise.
pub fn test_config() -> Config {
    Config {
        bind: "127.0.0.1".into(),
        port: 0,
        persist: false,
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Running {
    start_with_clock(config, SystemClock).await
}

pub async fn start_with_clock<C: Clock>(config: Config, clock: C) -> Running {
    assert_eq!(config.port, 0, "test servers bind port 0");
    usher::server::start(config, clock)
        .await
        .expect("the test server starts")
}

/// Stops the server within [`TIMEOUT`] and returns its final state.
pub async fn stop(running: Running) -> usher::state::State {
    tokio::time::timeout(TIMEOUT, running.shutdown())
        .await
        .expect("the server shuts down in time")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    stream
}

/// Reads more bytes into `buf`; returns how many (0 = the peer closed).
async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut) -> usize {
    match tokio::time::timeout(TIMEOUT, stream.read_buf(buf)).await {
        Ok(Ok(n)) => n,
        // A reset after the server closed counts as closed.
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => 0,
        Ok(Err(error)) => panic!("read failed: {error}"),
        Err(_) => panic!(
            "no bytes from the server within {TIMEOUT:?} (buffered: {:?})",
            String::from_utf8_lossy(buf)
        ),
    }
}

/// Waits until the server closes the connection; fails if more bytes come
/// or nothing happens within [`TIMEOUT`].
async fn expect_eof(stream: &mut TcpStream, buf: &mut BytesMut) {
    assert!(
        buf.is_empty(),
        "unexpected bytes before close: {:?}",
        String::from_utf8_lossy(buf)
    );
    let n = read_some(stream, buf).await;
    assert_eq!(
        n,
        0,
        "expected the server to close the connection, got {:?}",
        String::from_utf8_lossy(buf)
    );
}

/// A raw RESP connection: writes bytes as given, reads with timeouts.
pub struct RespConn {
    pub stream: TcpStream,
    pub buf: BytesMut,
}

impl RespConn {
    pub async fn connect(addr: SocketAddr) -> RespConn {
        RespConn {
            stream: connect(addr).await,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends one multibulk request.
    pub async fn send_command(&mut self, words: &[&str]) {
        let mut out = BytesMut::new();
        let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        usher::protocol::resp::encode_request(&words, &mut out);
        self.send(&out).await;
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`.
    pub async fn expect(&mut self, expected: &[u8]) {
        while self.buf.len() < expected.len() {
            if read_some(&mut self.stream, &mut self.buf).await == 0 {
                break;
            }
        }
        let got = self.buf.split_to(expected.len().min(self.buf.len()));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply bytes differ"
        );
    }

    /// Reads one whole reply.
    pub async fn read(&mut self) -> Resp {
        loop {
            if let Some((value, next)) = parse_resp(&self.buf, 0) {
                let _ = self.buf.split_to(next);
                return value;
            }
            let n = read_some(&mut self.stream, &mut self.buf).await;
            assert!(
                n > 0,
                "the server closed the connection mid-reply (buffered: {:?})",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    pub async fn call(&mut self, words: &[&str]) -> Resp {
        self.send_command(words).await;
        self.read().await
    }

    pub async fn expect_closed(&mut self) {
        expect_eof(&mut self.stream, &mut self.buf).await;
    }
}

/// A raw binary-protocol connection, for frames the real client would never
/// send.
pub struct BinaryConn {
    pub stream: TcpStream,
    pub buf: BytesMut,
    limits: Limits,
}

impl BinaryConn {
    pub async fn connect(addr: SocketAddr) -> BinaryConn {
        BinaryConn {
            stream: connect(addr).await,
            buf: BytesMut::new(),
            limits: Limits::default(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one reply frame: its request id and value.
    pub async fn read(&mut self) -> (u64, Reply) {
        loop {
            match binary::decode_reply(&mut self.buf, &self.limits) {
                Decoded::Frame(frame) => return frame,
                Decoded::Invalid(error) => panic!("the server sent a bad reply frame: {error}"),
                Decoded::Incomplete => {
                    let n = read_some(&mut self.stream, &mut self.buf).await;
                    assert!(n > 0, "the server closed the connection before replying");
                }
            }
        }
    }

    pub async fn expect_closed(&mut self) {
        expect_eof(&mut self.stream, &mut self.buf).await;
    }
}

/// Encodes one binary request frame.
pub fn request_frame(request_id: u64, words: &[&str]) -> BytesMut {
    let mut out = BytesMut::new();
    let args: Vec<Arg> = usher::client::args(words.iter().copied());
    binary::encode_request(&mut out, request_id, None, &args);
    out
}

/// Polls `probe` until it returns true, at most [`TIMEOUT`].
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if probe().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
