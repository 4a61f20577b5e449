//! The byte stream under a connection, as the reactor reads and writes it:
//! plain TCP, or TLS over TCP. TLS is rustls's `ServerConnection` driven by
//! hand on the engine thread, with no thread of its own: a read pulls TLS
//! records from the socket (`read_tls`), decrypts them
//! (`process_new_packets`) and hands back plaintext (`reader`); a write
//! encrypts (`writer`) and sends (`write_tls`). Both are non-blocking, so
//! a handshake moves on a step each time the socket is ready, round after
//! round, like a request.
//!
//! Both kinds keep the reactor's rules: a read fills the buffer as far as
//! it can, so a short read means the socket is drained (edge-triggered
//! readiness); `Ok(0)` is the end of the stream; `WouldBlock` means
//! nothing more for now. A TLS error (a plaintext client on the TLS port,
//! a bad certificate) writes rustls's alert, best effort, and is returned
//! as an error, which closes the connection at once.
//!
//! Unsent bytes: a TLS write is accepted into rustls's buffer (at most its
//! default 64 KiB) before it reaches the socket; [`Transport::unsent_bytes`]
//! counts them so the connection's output limit sees them.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ServerConfig, ServerConnection};

pub enum Transport {
    Plain(TcpStream),
    /// Boxed: a plaintext connection stays small.
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tcp: TcpStream,
    session: ServerConnection,
    /// Plaintext handed to rustls since its outgoing buffer was last empty.
    queued: usize,
    /// The socket reported end of stream.
    eof: bool,
}

impl Transport {
    /// A TLS server stream over an accepted socket; the handshake starts
    /// with the client's first bytes.
    pub fn tls(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<Transport, rustls::Error> {
        Ok(Transport::Tls(Box::new(TlsStream {
            tcp,
            session: ServerConnection::new(config)?,
            queued: 0,
            eof: false,
        })))
    }

    /// A TLS stream whose handshake has not finished.
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.is_handshaking(),
        }
    }

    /// Bytes accepted by [`write`](Transport::write) that the socket has
    /// not taken yet (TLS only; a plain write goes straight to the socket).
    pub fn unsent_bytes(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            Transport::Tls(tls) => tls.queued,
        }
    }

    /// Whether bytes wait to be sent: TLS records (handshake messages,
    /// alerts, encrypted replies) the socket has not taken.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.wants_write(),
        }
    }

    /// Reads plaintext into `buf`, as much as is ready.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }

    /// Takes plaintext to send; with TLS it may stay buffered (see
    /// [`send_pending`](Transport::send_pending)).
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(data),
            Transport::Tls(tls) => tls.write(data),
        }
    }

    /// Sends what TLS holds; `Ok(true)` once nothing is left.
    pub fn send_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(true),
            Transport::Tls(tls) => tls.send_pending(),
        }
    }

    /// The client's address (for log lines and `ACL LOG`).
    pub fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Transport::Plain(tcp) => tcp.peer_addr(),
            Transport::Tls(tls) => tls.tcp.peer_addr(),
        }
    }

    /// Closes both directions; a TLS stream past its handshake says
    /// `close_notify` first (best effort, never blocking).
    pub fn shutdown(&mut self) {
        let tcp = match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => {
                if !tls.session.is_handshaking() {
                    tls.session.send_close_notify();
                    let _ = tls.session.write_tls(&mut tls.tcp);
                }
                &mut tls.tcp
            }
        };
        let _ = tcp.shutdown(std::net::Shutdown::Both);
    }

    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &mut tls.tcp,
        }
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            match self.session.reader().read(&mut buf[filled..]) {
                // The client's close_notify: the clean end of the stream.
                Ok(0) => return Ok(filled),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        return Ok(filled);
                    }
                    continue;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                // The socket ended without close_notify.
                Err(error) if error.kind() == ErrorKind::UnexpectedEof => return Ok(filled),
                Err(error) => return Err(error),
            }
            if self.eof {
                return Ok(filled);
            }
            match self.session.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    if let Err(error) = self.session.process_new_packets() {
                        tracing::debug!(%error, "TLS error; closing the connection");
                        // rustls queued the alert that says why.
                        let _ = self.session.write_tls(&mut self.tcp);
                        return Err(io::Error::new(ErrorKind::InvalidData, error));
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock && filled > 0 => {
                    return Ok(filled)
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Earlier records first; while they wait, take nothing more, so
        // the unsent plaintext stays in the reactor's output buffer.
        if !self.send_pending()? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let taken = self.session.writer().write(data)?;
        if taken == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.queued += taken;
        self.send_pending()?;
        Ok(taken)
    }

    fn send_pending(&mut self) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        self.queued = 0;
        Ok(true)
    }
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp().deregister(registry)
    }
}
