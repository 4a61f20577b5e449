//! `Client`: an async client for the binary protocol, with pipelining and
//! typed replies, over TCP or TLS. Used by `usher-cli`, the tests and the
//! benches.
//!
//! ```no_run
//! # async fn demo() -> Result<(), usher::client::ClientError> {
//! let mut client = usher::client::Client::connect("127.0.0.1:7379").await?;
//! let reply = client.call(&usher::client::args(["INCRBOUND", "coupons", "1", "MAX", "100"])).await?;
//! # Ok(()) }
//! ```
//!
//! Over TLS, trusting the CA that signed the server's certificate:
//!
//! ```no_run
//! # async fn demo() -> Result<(), usher::client::ClientError> {
//! let tls = usher::client::tls_connector("ca.pem".as_ref(), None)?;
//! let mut client = usher::client::Client::connect_tls("127.0.0.1:7380", &tls, "localhost").await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use usher_protocol::{binary, Arg, Decoded, Limits, Reply, ServerError};

#[derive(Debug)]
pub enum ClientError {
    Io(std::io::Error),
    /// The server sent bytes that are not a valid reply frame.
    Protocol(ServerError),
    /// The server closed the connection (its last frame, if any, is kept).
    Closed(Option<Reply>),
    /// A reply carried another request's id.
    OutOfOrder {
        expected: u64,
        got: u64,
    },
    /// The server refused the login (`AUTH`): `WRONGPASS`, or no password
    /// is configured.
    Refused(ServerError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "I/O error: {error}"),
            ClientError::Protocol(error) => write!(f, "bad reply from server: {}", error.message),
            ClientError::Closed(Some(Reply::Error(error))) => {
                write!(f, "server closed the connection: {}", error.message)
            }
            ClientError::Closed(_) => write!(f, "server closed the connection"),
            ClientError::OutOfOrder { expected, got } => {
                write!(f, "reply for request {got} while waiting for {expected}")
            }
            ClientError::Refused(error) => write!(f, "login refused: {}", error.message),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(error: std::io::Error) -> ClientError {
        ClientError::Io(error)
    }
}

/// Builds an argument list from strings: `args(["SET", "k", "v"])`.
pub fn args<I, S>(words: I) -> Vec<Arg>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    words
        .into_iter()
        .map(|word| Arg::Bytes(Bytes::copy_from_slice(word.as_ref())))
        .collect()
}

/// A TLS client configuration: [`tls_connector`] builds one from PEM files;
/// one can serve many connections.
pub use tokio_rustls::TlsConnector;

/// The byte stream under a client: TCP or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// A TLS connector that trusts the CA certificates in `ca_file` and, given
/// `identity` (certificate file, key file), presents that client
/// certificate (for a server with `tls_auth_clients yes`).
pub fn tls_connector(
    ca_file: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<TlsConnector, ClientError> {
    Ok(TlsConnector::from(crate::tls::client_config(
        ca_file, identity,
    )?))
}

pub struct Client {
    stream: Box<dyn Stream>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    next_id: u64,
    limits: Limits,
}

impl Client {
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::over(Box::new(stream)))
    }

    /// Connects over TLS; the server's certificate must be valid for
    /// `server_name` (a DNS name or an IP address).
    pub async fn connect_tls(
        addr: impl ToSocketAddrs,
        tls: &TlsConnector,
        server_name: &str,
    ) -> Result<Client, ClientError> {
        let name =
            rustls::pki_types::ServerName::try_from(server_name.to_owned()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("server name {server_name}: {e}"),
                )
            })?;
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let stream = tls.connect(name, stream).await?;
        Ok(Client::over(Box::new(stream)))
    }

    fn over(stream: Box<dyn Stream>) -> Client {
        Client {
            stream,
            read_buf: BytesMut::with_capacity(16 * 1024),
            write_buf: BytesMut::with_capacity(16 * 1024),
            next_id: 1,
            limits: Limits {
                // Replies can be large (SCAN, INFO); the client accepts up to
                // 512 MiB per frame.
                frame_bytes_max: 512 * 1024 * 1024,
                ..Limits::default()
            },
        }
    }

    /// Sends one command and waits for its reply. An error reply from the
    /// server is `Ok(Reply::Error(..))`; `Err` means the connection failed.
    pub async fn call(&mut self, command: &[Arg]) -> Result<Reply, ClientError> {
        let mut replies = self
            .pipeline(std::slice::from_ref(&command.to_vec()))
            .await?;
        Ok(replies.pop().unwrap_or(Reply::Nil))
    }

    /// Logs in as `user` (`AUTH user password`; `None`: the `default`
    /// user, `AUTH password`).
    pub async fn auth(&mut self, user: Option<&str>, password: &str) -> Result<(), ClientError> {
        let command = match user {
            Some(user) => args(["AUTH", user, password]),
            None => args(["AUTH", password]),
        };
        match self.call(&command).await? {
            Reply::Error(error) => Err(ClientError::Refused(error)),
            _ => Ok(()),
        }
    }

    /// Sends a command carrying an idempotency key in the frame header.
    pub async fn call_idempotent(
        &mut self,
        key: &[u8],
        command: &[Arg],
    ) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        binary::encode_request(&mut self.write_buf, id, Some(key), command);
        self.flush().await?;
        self.read_reply(id).await
    }

    /// Sends all commands in one write, then reads all replies, in order.
    pub async fn pipeline(&mut self, commands: &[Vec<Arg>]) -> Result<Vec<Reply>, ClientError> {
        let first = self.next_id;
        for command in commands {
            binary::encode_request(&mut self.write_buf, self.next_id, None, command);
            self.next_id += 1;
        }
        self.flush().await?;
        let mut replies = Vec::with_capacity(commands.len());
        for offset in 0..commands.len() as u64 {
            replies.push(self.read_reply(first + offset).await?);
        }
        Ok(replies)
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        self.stream.write_all(&self.write_buf).await?;
        // TLS holds records until flushed.
        self.stream.flush().await?;
        self.write_buf.clear();
        Ok(())
    }

    async fn read_reply(&mut self, expected: u64) -> Result<Reply, ClientError> {
        loop {
            match binary::decode_reply(&mut self.read_buf, &self.limits) {
                Decoded::Frame((id, reply)) => {
                    // A protocol error before the request was read carries id 0.
                    if id != expected && id != 0 {
                        return Err(ClientError::OutOfOrder { expected, got: id });
                    }
                    return Ok(reply);
                }
                Decoded::Invalid(error) => return Err(ClientError::Protocol(error)),
                Decoded::Incomplete => {
                    if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                        return Err(ClientError::Closed(None));
                    }
                }
            }
        }
    }
}
