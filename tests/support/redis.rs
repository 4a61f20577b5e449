//! The `redis` crate as a client of a test server: a connection in RESP2
//! or RESP3 as the default user, a command given as words, and the reply
//! values the family tests compare with.

use std::net::SocketAddr;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, ProtocolVersion, RedisError, Value};

/// A connection as the default user (no password) speaking `protocol`.
pub async fn connect(addr: SocketAddr, protocol: ProtocolVersion) -> MultiplexedConnection {
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: None,
            password: None,
            protocol,
        },
    };
    redis::Client::open(info)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connects")
}

/// The command `words` (name first).
pub fn command(words: &[&str]) -> Cmd {
    let mut command = redis::cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command
}

/// Sends `words` and returns the raw reply.
pub async fn call(conn: &mut MultiplexedConnection, words: &[&str]) -> Result<Value, RedisError> {
    command(words).query_async(conn).await
}

/// An error reply's text as the server sent it: `CODE detail`.
pub fn error_text(error: &RedisError) -> String {
    format!(
        "{} {}",
        error.code().unwrap_or("?"),
        error.detail().unwrap_or("")
    )
}

pub fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

pub fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|item| bulk(item)).collect())
}
