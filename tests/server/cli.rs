//! `usher-cli` end to end: the real binary against a server started in this
//! process on port 0, in one-shot mode (`usher-cli CMD`, `-e "LINE"`) and
//! with commands piped on stdin. Each test uses its own keys.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use bytes::BytesMut;
use usher::clock::SystemClock;
use usher::config::Config;
use usher_protocol::{binary, Decoded, Limits, Reply};

/// One server for the whole test binary, on a runtime that lives as long as
/// the process.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let config = Config {
                    port: 0,
                    persist: false,
                    ..Config::default()
                };
                let running = usher::server::start(config, SystemClock).await.unwrap();
                sender.send(running.addr).unwrap();
                std::future::pending::<()>().await;
            });
        });
        receiver.recv().unwrap()
    })
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher-cli"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn cli_at(addr: SocketAddr, args: &[&str]) -> Output {
    let port = addr.port().to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", port.as_str()];
    all.extend_from_slice(args);
    cli(&all)
}

fn cli_piped(addr: SocketAddr, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-cli"))
        .args(["-p", &addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A port with nothing listening on it (just released by the OS).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn ping_once() {
    let output = cli_at(server(), &["PING"]);
    assert_eq!(stdout(&output), "PONG\n");
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn set_then_get_with_trailing_words() {
    let addr = server();
    let output = cli_at(addr, &["SET", "cli:greeting", "hello world"]);
    assert_eq!(stdout(&output), "OK\n");
    assert!(output.status.success());
    let output = cli_at(addr, &["get", "cli:greeting"]);
    assert_eq!(stdout(&output), "\"hello world\"\n");
    assert!(output.status.success());
    // A word that starts with a dash is an argument, not a flag.
    let output = cli_at(addr, &["INCRBY", "cli:negative", "-5"]);
    assert_eq!(stdout(&output), "(integer) -5\n");
}

#[test]
fn execute_flag_runs_one_line_with_quotes() {
    let addr = server();
    let output = cli_at(addr, &["-e", "SET cli:quoted \"a b\\n\""]);
    assert_eq!(stdout(&output), "OK\n");
    let output = cli_at(addr, &["-e", "GET cli:quoted"]);
    assert_eq!(stdout(&output), "\"a b\\n\"\n");
    assert!(output.status.success());
}

#[test]
fn incrbound_stops_at_its_cap() {
    let addr = server();
    let first = cli_at(addr, &["-e", "INCRBOUND cli:seats 1 MAX 1"]);
    assert_eq!(stdout(&first), "1) (integer) 1\n2) (integer) 1\n");
    assert!(first.status.success());
    let second = cli_at(addr, &["-e", "INCRBOUND cli:seats 1 MAX 1"]);
    assert_eq!(stdout(&second), "1) (integer) 1\n2) (integer) 0\n");
    // A refused increment is a normal reply, not an error.
    assert!(second.status.success());
}

#[test]
fn error_reply_exits_1() {
    let addr = server();
    assert!(cli_at(addr, &["SET", "cli:text", "abc"]).status.success());
    let output = cli_at(addr, &["INCR", "cli:text"]);
    assert_eq!(
        stdout(&output),
        "(error) ERR value is not an integer or out of range\n"
    );
    assert_eq!(output.status.code(), Some(1));
    let output = cli_at(addr, &["-e", "NOSUCHCOMMAND x"]);
    assert!(stdout(&output).starts_with("(error) ERR unknown command"));
    assert_eq!(output.status.code(), Some(1));
    // The failed INCR changed nothing.
    assert_eq!(stdout(&cli_at(addr, &["GET", "cli:text"])), "\"abc\"\n");
}

#[test]
fn unbalanced_quotes_send_nothing() {
    let addr = server();
    let output = cli_at(addr, &["-e", "SET cli:unbalanced \"oops"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unbalanced quotes"), "{output:?}");
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stdout(&cli_at(addr, &["EXISTS", "cli:unbalanced"])),
        "(integer) 0\n"
    );
}

#[test]
fn unreachable_server_exits_1_with_a_clear_message() {
    let port = closed_port();
    let output = cli(&["-p", &port.to_string(), "PING"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("Could not connect to usher at 127.0.0.1:{port}")),
        "{message}"
    );
    assert_eq!(stdout(&output), "");
    // The same for the prompt and piped modes, which connect before reading.
    let output = cli(&["-p", &port.to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("Could not connect to usher"));
}

#[test]
fn malformed_flags_exit_1() {
    let output = cli(&["-p", "notaport", "PING"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("notaport"));
    let output = cli(&["-p", "70000", "PING"]);
    assert_eq!(output.status.code(), Some(1));
    // -h is the host, so it needs a value.
    let output = cli(&["-h"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn help_needs_no_server() {
    let port = closed_port().to_string();
    let output = cli(&["-p", &port, "help", "INCRBOUND"]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("INCRBOUND key delta [MIN floor] [MAX cap]"));
    let output = cli(&["-p", &port, "-e", "help @strings"]);
    assert!(stdout(&output).contains("  GET key\n"));
    let output = cli(&["--help"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("Exit status"), "{text}");
    assert!(text.contains("-h, --host"), "{text}");
}

#[test]
fn piped_lines_run_in_order() {
    let input = "\
SET cli:piped 5
INCR cli:piped

GET cli:piped
help TTL
DEL cli:piped cli:piped-missing
GET cli:piped
";
    let output = cli_piped(server(), input);
    let expected = "\
OK
(integer) 6
\"6\"
  TTL key
  summary: Seconds to live; -1 without expiry, -2 if missing.
  group: @keys
(integer) 1
(nil)
";
    assert_eq!(stdout(&output), expected);
    assert_eq!(stderr(&output), "");
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn piped_failures_are_reported_and_the_rest_still_runs() {
    let input = "\
SET cli:piped-bad abc
INCR cli:piped-bad
SET cli:piped-bad \"never
GET cli:piped-bad
quit
GET cli:piped-bad
";
    let output = cli_piped(server(), input);
    assert_eq!(
        stdout(&output),
        "OK\n(error) ERR value is not an integer or out of range\n\"abc\"\n"
    );
    assert!(stderr(&output).contains("unbalanced quotes"));
    assert_eq!(output.status.code(), Some(1));
}

/// A fake server that closes the first connection after reading one
/// request, then answers every request on later connections with its last
/// argument: the client must say the connection was lost and reconnect on
/// the next command.
#[test]
fn piped_mode_reconnects_after_the_server_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let limits = Limits::default();
        let (mut first, _) = listener.accept().unwrap();
        let mut scratch = [0u8; 1024];
        let _ = first.read(&mut scratch);
        drop(first);
        let (mut second, _) = listener.accept().unwrap();
        let mut buf = BytesMut::new();
        let mut args = usher_protocol::ArgList::new();
        loop {
            match binary::decode_request(&mut buf, &limits, &mut args) {
                Decoded::Frame(header) => {
                    let last = args.bytes(args.len() - 1).unwrap();
                    let mut out = BytesMut::new();
                    binary::encode_reply(&mut out, header.request_id, &Reply::Bulk(last));
                    second.write_all(&out).unwrap();
                }
                Decoded::Incomplete => {
                    let read = second.read(&mut scratch).unwrap();
                    if read == 0 {
                        return;
                    }
                    buf.extend_from_slice(&scratch[..read]);
                }
                Decoded::Invalid(error) => panic!("{error}"),
            }
        }
    });
    let output = cli_piped(addr, "ECHO one\nECHO two\nECHO three\n");
    assert_eq!(stdout(&output), "\"two\"\n\"three\"\n");
    let message = stderr(&output);
    assert!(message.contains("Connection lost"), "{message}");
    assert!(message.contains("closed the connection"), "{message}");
    assert_eq!(output.status.code(), Some(1));
}
