//! Users and permissions over real sockets: login before anything else
//! (RESP2, RESP3 and binary), AUTH and `HELLO 3 AUTH` from the `redis`
//! crate, roles (app, metrics, admin), password rotation, `ACL LOG`,
//! `ACL SAVE` across a restart, closing a deleted user's connections,
//! the answers without a users file, and protected mode.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use usher::client::{args, Client, ClientError};
use usher::config::Config;
use usher::protocol::commands::{Cmd, COMMANDS};
use usher::protocol::{ErrorCode, Reply};
use usher::server::Running;

use crate::support::resp::Resp;
use crate::support::server::{request_frame, start, stop, test_config, BinaryConn, RespConn};

const USERS: &str = "\
# An admin, a sale application and a metrics scraper.
user admin on >admin-pw ~* +@all
user app on >app-pw ~sale:* ~stock:* +@read +@write +@sale +@connection -@dangerous
user metrics on >metrics-pw -@all +ping +info +client|id +client|getname +client|setname
";

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

struct Server {
    running: Running,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

fn users_config(file: &std::path::Path) -> Config {
    Config {
        users_file: Some(file.to_owned()),
        ..test_config()
    }
}

async fn start_with_users(text: &str) -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("users.acl");
    std::fs::write(&file, text).expect("write the users file");
    let running = start(users_config(&file)).await;
    Server {
        running,
        file,
        _dir: dir,
    }
}

fn error(text: &str) -> Resp {
    Resp::Error(text.to_string())
}

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

async fn logged_in(server: &Server, user: &str, password: &str) -> RespConn {
    let mut conn = RespConn::connect(server.running.addr).await;
    assert_eq!(conn.call(&["AUTH", user, password]).await, ok());
    conn
}

/// A call of the command with as many placeholder arguments as its arity
/// asks for.
fn minimal_call(name: &str, arity: i64) -> Vec<String> {
    let count = arity.unsigned_abs() as usize;
    let mut words = vec![name.to_string()];
    words.extend((1..count).map(|_| "x".to_string()));
    words
}

fn is_login_command(id: Cmd) -> bool {
    matches!(id, Cmd::Auth | Cmd::Hello | Cmd::Quit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_is_refused_before_login() {
    let server = start_with_users(USERS).await;
    let addr = server.running.addr;
    let mut resp2 = RespConn::connect(addr).await;
    let mut resp3 = RespConn::connect(addr).await;
    // RESP3 needs a login first: HELLO 3 alone is refused and the
    // connection stays RESP2, as in Redis.
    let refused = resp3.call(&["HELLO", "3"]).await;
    assert!(
        matches!(&refused, Resp::Error(text) if text.starts_with("NOAUTH HELLO must be called")),
        "{refused:?}"
    );
    let refused = resp3.call(&["HELLO", "3", "AUTH", "app", "wrong"]).await;
    assert_eq!(refused, error(WRONGPASS));
    let refused = resp3.call(&["HELLO", "4", "AUTH", "app", "app-pw"]).await;
    assert_eq!(refused, error("NOPROTO unsupported protocol version"));
    let mut binary = BinaryConn::connect(addr).await;
    let mut checked = 0;
    for (at, spec) in COMMANDS.iter().enumerate() {
        if is_login_command(spec.id) {
            continue;
        }
        let words = minimal_call(spec.name, spec.arity);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        for conn in [&mut resp2, &mut resp3] {
            assert_eq!(conn.call(&words).await, error(NOAUTH), "{words:?}");
        }
        let id = at as u64 + 1;
        binary.send(&request_frame(id, &words)).await;
        let (got_id, reply) = binary.read().await;
        assert_eq!(got_id, id);
        match reply {
            Reply::Error(error) => {
                assert_eq!(error.code, ErrorCode::NoAuth, "{words:?}");
                assert_eq!(error.message, NOAUTH);
            }
            other => panic!("{words:?} answered {other:?} before login"),
        }
        checked += 1;
    }
    assert!(checked + 3 == COMMANDS.len());
    // Nothing ran: the admin sees no keys.
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    assert_eq!(admin.call(&["DBSIZE"]).await, Resp::Int(0));
    // An unknown command and a wrong arity keep their own errors.
    let unknown = resp2.call(&["NOSUCH"]).await;
    assert!(matches!(unknown, Resp::Error(text) if text.starts_with("ERR unknown command")));
    let arity = resp2.call(&["GET"]).await;
    assert_eq!(
        arity,
        error("ERR wrong number of arguments for 'get' command")
    );
    // After login the same connection is served.
    assert_eq!(resp2.call(&["AUTH", "app", "app-pw"]).await, ok());
    assert_eq!(resp2.call(&["INCR", "sale:1"]).await, Resp::Int(1));
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_auth_frame_logs_in() {
    let server = start_with_users(USERS).await;
    let mut client = Client::connect(server.running.addr).await.expect("connect");
    let reply = client.call(&args(["GET", "sale:1"])).await.expect("call");
    assert!(matches!(reply, Reply::Error(e) if e.code == ErrorCode::NoAuth));
    match client.auth(Some("app"), "nope").await {
        Err(ClientError::Refused(error)) => {
            assert_eq!(error.code, ErrorCode::WrongPass);
            assert_eq!(error.message, WRONGPASS);
        }
        other => panic!("a wrong password logged in: {other:?}"),
    }
    client.auth(Some("app"), "app-pw").await.expect("login");
    let reply = client.call(&args(["INCR", "sale:1"])).await.expect("call");
    assert_eq!(reply, Reply::Int(1));
    let reply = client.call(&args(["FLUSHALL"])).await.expect("call");
    assert!(matches!(reply, Reply::Error(e) if e.code == ErrorCode::NoPerm));
    stop(server.running).await;
}

async fn redis_login(
    server: &Server,
    protocol: redis::ProtocolVersion,
    user: &str,
    password: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let addr = server.running.addr;
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: Some(user.to_string()),
            password: Some(password.to_string()),
            protocol,
        },
    };
    let client = redis::Client::open(info)?;
    client.get_multiplexed_async_connection().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_logs_in_over_resp2_and_resp3() {
    let server = start_with_users(USERS).await;
    for protocol in [redis::ProtocolVersion::RESP2, redis::ProtocolVersion::RESP3] {
        let mut conn = redis_login(&server, protocol, "app", "app-pw")
            .await
            .unwrap_or_else(|e| panic!("{protocol:?} login: {e}"));
        let value: i64 = redis::cmd("INCR")
            .arg("sale:redis")
            .query_async(&mut conn)
            .await
            .expect("INCR");
        assert!(value >= 1);
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING");
        assert_eq!(pong, "PONG");
        let refused: redis::RedisResult<String> =
            redis::cmd("FLUSHALL").query_async(&mut conn).await;
        let refused = refused.expect_err("app may not FLUSHALL");
        assert!(
            refused.to_string().contains("no permissions"),
            "{protocol:?}: {refused}"
        );
        let wrong = redis_login(&server, protocol, "app", "wrong").await;
        let Err(wrong) = wrong else {
            panic!("{protocol:?}: a wrong password logged in");
        };
        let text = wrong.to_string();
        assert!(
            text.contains("WRONGPASS") || text.contains("authentication failed"),
            "{protocol:?}: {text}"
        );
    }
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_limit_commands_and_keys() {
    let server = start_with_users(USERS).await;
    let mut app = logged_in(&server, "app", "app-pw").await;
    for (words, command) in [
        (&["FLUSHALL"][..], "flushall"),
        (&["CONFIG", "GET", "*"][..], "config|get"),
        (&["SNAPSHOT"][..], "snapshot"),
        (&["ACL", "WHOAMI"][..], "acl|whoami"),
        (&["ACL", "SETUSER", "app", "+@all"][..], "acl|setuser"),
        (&["INFO"][..], "info"),
        // Permission comes before the arguments' syntax, as in Redis.
        (&["FLUSHALL", "NOW"][..], "flushall"),
    ] {
        assert_eq!(
            app.call(words).await,
            error(&format!(
                "NOPERM User app has no permissions to run the '{command}' command"
            )),
            "{words:?}"
        );
    }
    assert_eq!(app.call(&["INCR", "sale:1"]).await, Resp::Int(1));
    assert_eq!(app.call(&["STOCK.CONFIG", "stock:tee", "10"]).await, ok());
    let key_error = error("NOPERM No permissions to access a key");
    assert_eq!(app.call(&["GET", "other:1"]).await, key_error);
    assert_eq!(app.call(&["DEL", "sale:1", "other:1"]).await, key_error);
    assert_eq!(app.call(&["REQ", "r1", "INCR", "other:1"]).await, key_error);
    assert_eq!(
        app.call(&["REQ", "r2", "INCR", "sale:2"]).await,
        Resp::Int(1)
    );
    // Nothing outside the patterns was touched.
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    assert_eq!(admin.call(&["EXISTS", "other:1"]).await, Resp::Int(0));
    assert_eq!(admin.call(&["GET", "sale:1"]).await, Resp::bulk("1"));
    assert_eq!(admin.call(&["ACL", "WHOAMI"]).await, Resp::bulk("admin"));

    let mut metrics = logged_in(&server, "metrics", "metrics-pw").await;
    assert_eq!(metrics.call(&["PING"]).await, Resp::Simple("PONG".into()));
    assert!(matches!(metrics.call(&["INFO"]).await, Resp::Bulk(_)));
    assert!(matches!(
        metrics.call(&["CLIENT", "ID"]).await,
        Resp::Int(_)
    ));
    assert_eq!(metrics.call(&["CLIENT", "SETNAME", "scraper"]).await, ok());
    for (words, command) in [
        (&["GET", "sale:1"][..], "get"),
        (&["DBSIZE"][..], "dbsize"),
        (&["CONFIG", "GET", "*"][..], "config|get"),
        (&["COMMAND", "COUNT"][..], "command|count"),
        (&["FLUSHALL"][..], "flushall"),
    ] {
        assert_eq!(
            metrics.call(words).await,
            error(&format!(
                "NOPERM User metrics has no permissions to run the '{command}' command"
            )),
            "{words:?}"
        );
    }
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_rotate_and_wrong_ones_are_refused() {
    let server = start_with_users(USERS).await;
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "app", ">app-pw-2"]).await,
        ok()
    );
    let mut conn = RespConn::connect(server.running.addr).await;
    assert_eq!(conn.call(&["AUTH", "app", "app-pw"]).await, ok());
    assert_eq!(conn.call(&["AUTH", "app", "app-pw-2"]).await, ok());
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "app", "<app-pw"]).await,
        ok()
    );
    assert_eq!(
        conn.call(&["AUTH", "app", "app-pw"]).await,
        error(WRONGPASS)
    );
    assert_eq!(conn.call(&["AUTH", "app", "app-pw-2"]).await, ok());
    assert_eq!(conn.call(&["AUTH", "nobody", "x"]).await, error(WRONGPASS));
    // A one-argument AUTH is the default user, which this file lacks.
    assert_eq!(conn.call(&["AUTH", "app-pw-2"]).await, error(WRONGPASS));
    // A failed AUTH keeps the login it had.
    assert_eq!(conn.call(&["INCR", "sale:9"]).await, Resp::Int(1));
    // ACL LIST shows hashes, never passwords.
    let Resp::Array(lines) = admin.call(&["ACL", "LIST"]).await else {
        panic!("ACL LIST is an array");
    };
    let text: Vec<String> = lines
        .iter()
        .map(|line| match line {
            Resp::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(text.len(), 3);
    for line in &text {
        assert!(!line.contains("-pw"), "{line}");
    }
    assert!(text[1].starts_with("user app on #"), "{}", text[1]);
    // Nor INFO, CONFIG GET or the ACL LOG.
    let _ = conn.call(&["AUTH", "app", "guessed-pw"]).await;
    for words in [
        &["INFO"][..],
        &["CONFIG", "GET", "*"][..],
        &["ACL", "LOG"][..],
    ] {
        let reply = format!("{:?}", admin.call(words).await);
        assert!(!reply.contains("-pw"), "{words:?}: {reply}");
    }
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_log_records_auth_command_and_key_refusals() {
    let server = start_with_users(USERS).await;
    let mut app = logged_in(&server, "app", "app-pw").await;
    assert_eq!(app.call(&["AUTH", "app", "guess"]).await, error(WRONGPASS));
    let _ = app.call(&["FLUSHALL"]).await;
    let _ = app.call(&["FLUSHALL"]).await;
    let _ = app.call(&["GET", "secret:1"]).await;
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    let Resp::Array(entries) = admin.call(&["ACL", "LOG"]).await else {
        panic!("ACL LOG is an array");
    };
    assert_eq!(entries.len(), 3, "{entries:?}");
    let field = |at: usize, name: &str| entries[at].map_get(name).cloned();
    // Newest first.
    assert_eq!(field(0, "reason"), Some(Resp::bulk("key")));
    assert_eq!(field(0, "object"), Some(Resp::bulk("secret:1")));
    assert_eq!(field(1, "reason"), Some(Resp::bulk("command")));
    assert_eq!(field(1, "object"), Some(Resp::bulk("flushall")));
    assert_eq!(field(1, "count"), Some(Resp::Int(2)));
    assert_eq!(field(2, "reason"), Some(Resp::bulk("auth")));
    assert_eq!(field(2, "object"), Some(Resp::bulk("AUTH")));
    for at in 0..3 {
        assert_eq!(field(at, "username"), Some(Resp::bulk("app")));
        assert_eq!(field(at, "context"), Some(Resp::bulk("toplevel")));
        for name in [
            "age-seconds",
            "client-info",
            "entry-id",
            "timestamp-created",
            "timestamp-last-updated",
        ] {
            assert!(field(at, name).is_some(), "{name} missing");
        }
        let Some(Resp::Bulk(info)) = field(at, "client-info") else {
            panic!("client-info is a bulk string");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        assert!(
            info.contains("user=app") && !info.contains("guess"),
            "{info}"
        );
    }
    let Resp::Array(newest) = admin.call(&["ACL", "LOG", "1"]).await else {
        panic!("ACL LOG 1 is an array");
    };
    assert_eq!(newest.len(), 1);
    assert_eq!(admin.call(&["ACL", "LOG", "RESET"]).await, ok());
    assert_eq!(admin.call(&["ACL", "LOG"]).await, Resp::Array(Vec::new()));
    // INFO counts every refusal, grouped or not, and RESET does not clear it.
    let Resp::Bulk(info) = admin.call(&["INFO", "stats"]).await else {
        panic!("INFO is a bulk string");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    for line in [
        "acl_access_denied_auth:1",
        "acl_access_denied_cmd:2",
        "acl_access_denied_key:1",
    ] {
        assert!(info.contains(line), "{line} not in {info}");
    }
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_save_keeps_users_across_a_restart() {
    let server = start_with_users(USERS).await;
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    let created = admin
        .call(&["ACL", "SETUSER", "ops", "on", ">ops-pw", "~*", "+@admin"])
        .await;
    assert_eq!(created, ok());
    assert_eq!(
        admin.call(&["ACL", "DELUSER", "metrics"]).await,
        Resp::Int(1)
    );
    assert_eq!(admin.call(&["ACL", "SAVE"]).await, ok());
    let saved = std::fs::read_to_string(&server.file).expect("read the users file");
    assert!(
        !saved.contains("ops-pw") && saved.contains("user ops on #"),
        "{saved}"
    );
    let Server {
        running,
        file,
        _dir,
    } = server;
    drop(admin);
    stop(running).await;

    let running = start(users_config(&file)).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["AUTH", "ops", "ops-pw"]).await, ok());
    assert_eq!(conn.call(&["ACL", "WHOAMI"]).await, Resp::bulk("ops"));
    assert_eq!(
        conn.call(&["AUTH", "metrics", "metrics-pw"]).await,
        error(WRONGPASS)
    );
    // ACL LOAD reads the file again: a user added there can log in.
    std::fs::write(&file, format!("{saved}user late on >late-pw +ping\n")).expect("write");
    assert_eq!(conn.call(&["ACL", "LOAD"]).await, ok());
    assert_eq!(conn.call(&["AUTH", "late", "late-pw"]).await, ok());
    // A broken file is refused with its line, and nothing changes.
    std::fs::write(&file, "user ok on\nuser broken on +nosuch\n").expect("write");
    let mut admin = logged_in_at(running.addr, "admin", "admin-pw").await;
    let refused = admin.call(&["ACL", "LOAD"]).await;
    assert!(
        matches!(&refused, Resp::Error(text) if text.contains("users.acl:2:")),
        "{refused:?}"
    );
    assert_eq!(admin.call(&["AUTH", "late", "late-pw"]).await, ok());
    stop(running).await;
}

async fn logged_in_at(addr: std::net::SocketAddr, user: &str, password: &str) -> RespConn {
    let mut conn = RespConn::connect(addr).await;
    assert_eq!(conn.call(&["AUTH", user, password]).await, ok());
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_or_disabled_users_lose_their_connections() {
    let server = start_with_users(USERS).await;
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    let mut app = logged_in(&server, "app", "app-pw").await;
    let mut metrics = logged_in(&server, "metrics", "metrics-pw").await;
    assert_eq!(admin.call(&["ACL", "SETUSER", "app", "off"]).await, ok());
    app.expect_closed().await;
    assert_eq!(
        admin.call(&["ACL", "DELUSER", "metrics"]).await,
        Resp::Int(1)
    );
    metrics.expect_closed().await;
    let mut again = RespConn::connect(server.running.addr).await;
    assert_eq!(
        again.call(&["AUTH", "app", "app-pw"]).await,
        error(WRONGPASS)
    );
    assert_eq!(
        admin.call(&["ACL", "DELUSER", "default"]).await,
        error("ERR The 'default' user cannot be removed")
    );
    assert_eq!(admin.call(&["PING"]).await, Resp::Simple("PONG".into()));
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_nopass_user_in_the_file_starts_connections_logged_in() {
    let server =
        start_with_users("user default on nopass ~public:* +get\nuser admin on >a ~* +@all\n")
            .await;
    let mut conn = RespConn::connect(server.running.addr).await;
    assert_eq!(conn.call(&["GET", "public:1"]).await, Resp::Nil);
    assert_eq!(
        conn.call(&["SET", "public:1", "x"]).await,
        error("NOPERM User default has no permissions to run the 'set' command")
    );
    assert_eq!(conn.call(&["AUTH", "whatever"]).await, error(NO_PASSWORD));
    assert_eq!(conn.call(&["AUTH", "admin", "a"]).await, ok());
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_users_file_auth_says_no_password_is_set() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["ACL", "WHOAMI"]).await, Resp::bulk("default"));
    assert_eq!(conn.call(&["AUTH", "secret"]).await, error(NO_PASSWORD));
    assert_eq!(
        conn.call(&["AUTH", "default", "secret"]).await,
        error(NO_PASSWORD)
    );
    assert_eq!(
        conn.call(&["HELLO", "3", "AUTH", "default", "secret"])
            .await,
        error(NO_PASSWORD)
    );
    // The failed HELLO changed nothing: still RESP2, still served.
    assert_eq!(conn.call(&["INCR", "a"]).await, Resp::Int(1));
    let redis =
        redis::Client::open(format!("redis://default:secret@{}/", running.addr)).expect("url");
    let refused = redis.get_multiplexed_async_connection().await;
    assert!(
        refused.is_err(),
        "a password against no users must not succeed"
    );
    let Resp::Array(categories) = conn.call(&["ACL", "CAT"]).await else {
        panic!("ACL CAT is an array");
    };
    assert!(categories.contains(&Resp::bulk("sale")));
    let Resp::Array(sale) = conn.call(&["ACL", "CAT", "sale"]).await else {
        panic!("ACL CAT sale is an array");
    };
    let expected: Vec<Resp> = COMMANDS
        .iter()
        .filter(|spec| {
            ["QUEUE.", "SEAT.", "STOCK."]
                .iter()
                .any(|prefix| spec.name.starts_with(prefix))
                || spec.name == "INCRBOUND"
                || spec.name == "REQ"
        })
        .map(|spec| Resp::bulk(&spec.name.to_ascii_lowercase()))
        .collect();
    assert_eq!(sale, expected);
    stop(running).await;
}

#[test]
fn protected_mode_refuses_a_public_bind_without_users() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(["--bind", "0.0.0.0", "--port", "0", "--persist", "false"])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run usher-server");
    assert!(!output.status.success(), "it started: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("protected mode"), "{stderr}");
    assert!(stderr.contains("--users FILE"), "{stderr}");
    assert!(stderr.contains("--protected-mode no"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).is_empty(),
        "it printed a listening line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usher_cli_logs_in_with_user_and_password() {
    let server = start_with_users(USERS).await;
    let port = server.running.addr.port().to_string();
    let run = |words: &[&str], password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_usher-cli"));
        command
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(words)
            .env_remove("USHER_PASSWORD")
            .stdin(Stdio::null());
        if let Some(password) = password {
            command.env("USHER_PASSWORD", password);
        }
        let output = tokio::task::block_in_place(|| command.output().expect("run usher-cli"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, text) = run(&["--user", "app", "INCR", "sale:cli"], Some("app-pw"));
    assert!(ok && text.contains('1'), "{text}");
    let (ok, text) = run(
        &["--user", "app", "--pass", "app-pw", "INCR", "sale:cli"],
        None,
    );
    assert!(ok && text.contains('2'), "{text}");
    let (ok, text) = run(&["INCR", "sale:cli"], None);
    assert!(!ok && text.contains("NOAUTH"), "{text}");
    let (ok, text) = run(&["--user", "app", "INCR", "sale:cli"], Some("wrong"));
    assert!(!ok && text.contains("WRONGPASS"), "{text}");
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    assert_eq!(admin.call(&["GET", "sale:cli"]).await, Resp::bulk("2"));
    stop(server.running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_users_file_stops_the_start_with_its_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("users.acl");
    std::fs::write(&file, "user app on >pw ~sale:*\nuser ops on +@nosuch\n").expect("write");
    let started = usher::server::start(users_config(&file), usher::clock::SystemClock).await;
    let Err(failure) = started else {
        panic!("a server started with a broken users file");
    };
    let text = failure.to_string();
    assert!(text.contains("users.acl:2:"), "{text}");
    assert!(text.contains("Unknown command or category"), "{text}");
    assert!(!text.contains("pw ~"), "{text}");
    let missing = dir.path().join("absent.acl");
    let started = usher::server::start(users_config(&missing), usher::clock::SystemClock).await;
    let Err(failure) = started else {
        panic!("a server started with a missing users file");
    };
    assert!(failure.to_string().contains("absent.acl"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_inside_multi_aborts_the_transaction() {
    let server = start_with_users(USERS).await;
    let mut admin = logged_in(&server, "admin", "admin-pw").await;
    let mut app = logged_in(&server, "app", "app-pw").await;
    // MULTI is in @transaction only, as in Redis.
    let Resp::Error(refused) = app.call(&["MULTI"]).await else {
        panic!("app may not start a transaction yet");
    };
    assert!(refused.starts_with("NOPERM"), "{refused}");
    assert_eq!(
        admin
            .call(&["ACL", "SETUSER", "app", "+@transaction"])
            .await,
        ok()
    );
    assert_eq!(app.call(&["MULTI"]).await, ok());
    assert_eq!(
        app.call(&["INCR", "sale:n"]).await,
        Resp::Simple("QUEUED".into())
    );
    let Resp::Error(refused) = app.call(&["SET", "other:key", "v"]).await else {
        panic!("a key outside the user's patterns is refused while queuing");
    };
    assert!(refused.starts_with("NOPERM"), "{refused}");
    assert_eq!(
        app.call(&["EXEC"]).await,
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(admin.call(&["EXISTS", "sale:n"]).await, Resp::Int(0));
}
