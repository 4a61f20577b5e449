//! The byte stream under a connection, as the reactor reads and writes it:
//! plain TCP, or TLS over TCP. TLS is rustls's unbuffered server connection
//! driven by hand on the engine thread, with no thread of its own: rustls
//! keeps the session (keys, handshake state) and this module keeps the
//! bytes. A read pulls TLS records from the socket, lets rustls decrypt
//! them (`process_tls_records`) and hands back plaintext; a write encrypts
//! (`WriteTraffic::encrypt`) and sends. Both are non-blocking, so a
//! handshake moves on a step each time the socket is ready, round after
//! round, like a request.
//!
//! Memory: the engine thread reads into and encrypts into two working
//! buffers of its own, shared by every TLS connection. A connection keeps
//! only what is left over: part of a record not yet arrived (at most one
//! record, [`RECORD_BYTES_MAX`]; during the handshake, the parts of one
//! handshake message, [`HANDSHAKE_BYTES_MAX`]), records the socket has not
//! taken, and plaintext the reader had no room for. Each is freed once
//! empty, so an idle connection holds no buffer at all.
//!
//! Both kinds keep the reactor's rules: a read fills the buffer as far as
//! it can, so a short read means the socket is drained (edge-triggered
//! readiness); `Ok(0)` is the end of the stream (the socket's, or the
//! client's `close_notify`); `WouldBlock` means nothing more for now. A TLS
//! error (a plaintext client on the TLS port, a bad certificate) sends the
//! alert rustls made for it, best effort, and is returned as an error,
//! which closes the connection at once.
//!
//! Unsent bytes: a TLS write encrypts up to [`WRITE_PLAINTEXT_MAX`] of
//! plaintext at a time, and what the socket does not take waits here;
//! [`Transport::unsent_bytes`] counts that plaintext so the connection's
//! output limit sees it. While records wait, a write takes nothing more.

use std::cell::RefCell;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic,
};
use rustls::ServerConfig;

/// The largest TLS record on the wire: 16 KiB of payload, the 2 KiB of
/// expansion TLS 1.2 allows, and the 5-byte header. After the handshake a
/// connection holds at most one record's bytes before rustls takes them.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 + 2048 + 5;

/// Incoming bytes a connection may hold during its handshake: rustls
/// joins a handshake message split over records where it lies, and takes
/// messages up to 64 KiB (a long client certificate chain).
pub const HANDSHAKE_BYTES_MAX: usize = 64 * 1024 + RECORD_BYTES_MAX;

/// Plaintext encrypted by one write: four full records.
pub const WRITE_PLAINTEXT_MAX: usize = 64 * 1024;

/// The encrypting buffer: [`WRITE_PLAINTEXT_MAX`] in records (header, tag
/// and padding are under 64 bytes a record), plus room for a key update
/// rustls puts before them.
const WRITE_WIRE_BYTES: usize = WRITE_PLAINTEXT_MAX + 4 * 64 + 1024;

thread_local! {
    /// Where the engine thread reads TLS bytes from a socket.
    static INCOMING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Where the engine thread encrypts a write before sending it.
    static OUTGOING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub enum Transport {
    Plain(TcpStream),
    /// Boxed: a plaintext connection stays small.
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tcp: TcpStream,
    session: UnbufferedServerConnection,
    /// TLS bytes read that rustls has not consumed: part of a record, or
    /// during the handshake the parts of a handshake message (rustls
    /// decrypts and joins them in place, so they are kept as they are).
    incoming: Vec<u8>,
    /// TLS records to send; the socket took `outgoing[..sent]`.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes the reader had no room for; `plaintext[..taken]`
    /// were handed out.
    plaintext: Vec<u8>,
    taken: usize,
    /// Plaintext whose records wait in `outgoing`.
    queued: usize,
    /// No more plaintext comes: the socket ended or the client sent
    /// `close_notify`.
    eof: bool,
    /// A TLS error was met: nothing more is read or written.
    failed: bool,
}

/// The part of the reading buffer that holds bytes: `start..end`.
struct Held {
    start: usize,
    end: usize,
}

/// Why rustls stopped.
enum Flow {
    /// It needs more bytes from the socket.
    More,
    /// The client sent `close_notify`: no more plaintext comes.
    End,
}

impl Transport {
    /// A TLS server stream over an accepted socket; the handshake starts
    /// with the client's first bytes.
    pub fn tls(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<Transport, rustls::Error> {
        Ok(Transport::Tls(Box::new(TlsStream {
            tcp,
            session: UnbufferedServerConnection::new(config)?,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            taken: 0,
            queued: 0,
            eof: false,
            failed: false,
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
            Transport::Tls(tls) => tls.sent < tls.outgoing.len(),
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
                tls.close_notify();
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
        if self.failed {
            return Err(ErrorKind::BrokenPipe.into());
        }
        let mut filled = self.take_plaintext(buf);
        if filled == buf.len() || self.eof {
            return Ok(filled);
        }
        INCOMING.with_borrow_mut(|wire| {
            if wire.len() < HANDSHAKE_BYTES_MAX {
                wire.resize(HANDSHAKE_BYTES_MAX, 0);
            }
            let mut held = Held {
                start: 0,
                end: self.incoming.len(),
            };
            wire[..held.end].copy_from_slice(&self.incoming);
            self.incoming = Vec::new();
            let result = self.read_wire(wire, &mut held, buf, &mut filled);
            if held.start < held.end {
                self.incoming = wire[held.start..held.end].to_vec();
            }
            result
        })
    }

    /// Hands out plaintext held from an earlier read.
    fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.plaintext[self.taken..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        if self.taken == self.plaintext.len() {
            self.plaintext = Vec::new();
            self.taken = 0;
        }
        n
    }

    /// Decrypts what `wire[held]` holds into `buf`, reading the socket
    /// while `buf` has room and the socket has bytes.
    fn read_wire(
        &mut self,
        wire: &mut [u8],
        held: &mut Held,
        buf: &mut [u8],
        filled: &mut usize,
    ) -> io::Result<usize> {
        let mut drained = false;
        loop {
            match self.process(wire, held, buf, filled) {
                Ok(Flow::More) => {}
                Ok(Flow::End) => {
                    self.eof = true;
                    return Ok(*filled);
                }
                Err(error) => return Err(self.fail(error)),
            }
            if *filled == buf.len() {
                return Ok(*filled);
            }
            if drained {
                return ready(*filled);
            }
            if held.start > 0 {
                wire.copy_within(held.start..held.end, 0);
                held.end -= held.start;
                held.start = 0;
            }
            let limit = if self.session.is_handshaking() {
                HANDSHAKE_BYTES_MAX
            } else {
                RECORD_BYTES_MAX
            };
            if held.end >= limit {
                let error = io::Error::new(ErrorKind::InvalidData, "TLS message too large");
                return Err(self.fail(error));
            }
            match self.tcp.read(&mut wire[held.end..limit]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(*filled);
                }
                Ok(n) => {
                    // A short read empties the socket: decrypt, then stop.
                    drained = n < limit - held.end;
                    held.end += n;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return ready(*filled),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs rustls over `wire[held]` until it needs more bytes: plaintext
    /// goes to `buf` (what does not fit, to `self.plaintext`), handshake
    /// messages to `self.outgoing`.
    fn process(
        &mut self,
        wire: &mut [u8],
        held: &mut Held,
        buf: &mut [u8],
        filled: &mut usize,
    ) -> io::Result<Flow> {
        loop {
            let UnbufferedStatus { mut discard, state } = self
                .session
                .process_tls_records(&mut wire[held.start..held.end]);
            let flow = match state {
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        deliver(record.payload, buf, filled, &mut self.plaintext);
                    }
                    Ok(None)
                }
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    append(&mut self.outgoing, encode_needs, |out| data.encode(out)).map(|_| None)
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    // The records are in `outgoing`, which the reactor
                    // sends when it sees `wants_write`.
                    data.done();
                    Ok(None)
                }
                Ok(ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_)) => {
                    Ok(Some(Flow::More))
                }
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Ok(Some(Flow::End)),
                // Early data is not enabled, so it never comes.
                Ok(_) => Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "unexpected TLS state",
                )),
                Err(error) => {
                    held.start = (held.start + discard).min(held.end);
                    self.queue_alert(wire, held);
                    return Err(tls_error(error));
                }
            };
            held.start = (held.start + discard).min(held.end);
            if let Some(flow) = flow? {
                return Ok(flow);
            }
        }
    }

    /// After a TLS error: sends what is queued (the alert, if rustls made
    /// one), best effort; nothing more is read or written.
    fn fail(&mut self, error: io::Error) -> io::Error {
        tracing::debug!(%error, "TLS error; closing the connection");
        self.failed = true;
        let _ = self.send_pending();
        error
    }

    /// Queues the alert rustls made for the error it just returned. It
    /// comes out of the next `process_tls_records` before any input is
    /// looked at; one call, because a further one would process input
    /// again and meet the error a second time.
    fn queue_alert(&mut self, wire: &mut [u8], held: &mut Held) {
        let UnbufferedStatus { discard, state } = self
            .session
            .process_tls_records(&mut wire[held.start..held.end]);
        if let Ok(ConnectionState::EncodeTlsData(mut data)) = state {
            let _ = append(&mut self.outgoing, encode_needs, |out| data.encode(out));
        }
        held.start = (held.start + discard).min(held.end);
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(ErrorKind::BrokenPipe.into());
        }
        // Earlier records first; while they wait, take nothing more, so
        // the unsent plaintext stays in the reactor's output buffer.
        if !self.send_pending()? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let taken = data.len().min(WRITE_PLAINTEXT_MAX);
        if taken == 0 {
            return Ok(0);
        }
        OUTGOING.with_borrow_mut(|wire| {
            if wire.len() < WRITE_WIRE_BYTES {
                wire.resize(WRITE_WIRE_BYTES, 0);
            }
            let written =
                self.with_write_traffic(|traffic, _| encrypt(traffic, &data[..taken], wire))?;
            if self.outgoing.is_empty() {
                let sent = send_from(&mut self.tcp, &wire[..written])?;
                self.outgoing.extend_from_slice(&wire[sent..written]);
            } else {
                // Handshake records rustls queued go first.
                self.outgoing.extend_from_slice(&wire[..written]);
            }
            self.queued += taken;
            self.send_pending()?;
            Ok(taken)
        })
    }

    /// Runs `f` once rustls lets application data be sent, after queueing
    /// anything rustls has to send first.
    fn with_write_traffic<R>(
        &mut self,
        f: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> io::Result<R>,
    ) -> io::Result<R> {
        // Each state below moves rustls on (a message queued, plaintext
        // taken); the bound only guards against a state that would not.
        let mut f = Some(f);
        for _ in 0..16 {
            let UnbufferedStatus { mut discard, state } =
                self.session.process_tls_records(&mut self.incoming);
            let done = match state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => Some(match f.take() {
                    Some(f) => f(&mut traffic, &mut self.outgoing),
                    None => Err(ErrorKind::BrokenPipe.into()),
                }),
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    append(&mut self.outgoing, encode_needs, |out| data.encode(out))
                        .err()
                        .map(Err)
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    data.done();
                    None
                }
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    // Not met after a read (it decrypts all it holds);
                    // kept for the next read rather than lost.
                    let mut kept = Ok(());
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                self.plaintext.extend_from_slice(record.payload);
                            }
                            Err(error) => {
                                kept = Err(tls_error(error));
                                break;
                            }
                        }
                    }
                    kept.err().map(Err)
                }
                Ok(ConnectionState::PeerClosed) => None,
                Ok(ConnectionState::BlockedHandshake) => Some(Err(ErrorKind::WouldBlock.into())),
                Ok(_) => Some(Err(ErrorKind::BrokenPipe.into())),
                Err(error) => Some(Err(tls_error(error))),
            };
            self.incoming.drain(..discard.min(self.incoming.len()));
            if let Some(result) = done {
                if self.incoming.is_empty() {
                    self.incoming = Vec::new();
                }
                return result;
            }
        }
        Err(io::Error::other("TLS connection made no progress"))
    }

    /// Queues `close_notify` and sends what can be sent, once the
    /// handshake is done (best effort).
    fn close_notify(&mut self) {
        if self.failed || self.session.is_handshaking() {
            return;
        }
        let queued = self.with_write_traffic(|traffic, outgoing| {
            append(outgoing, encrypt_needs, |out| {
                traffic.queue_close_notify(out)
            })
        });
        if queued.is_ok() {
            let _ = self.send_pending();
        }
        self.failed = true;
    }

    fn send_pending(&mut self) -> io::Result<bool> {
        if self.outgoing.is_empty() {
            self.queued = 0;
            return Ok(true);
        }
        self.sent += send_from(&mut self.tcp, &self.outgoing[self.sent..])?;
        if self.sent < self.outgoing.len() {
            return Ok(false);
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        self.queued = 0;
        Ok(true)
    }
}

/// What a read that stopped for want of bytes returns: the plaintext it
/// got, or `WouldBlock` if none.
fn ready(filled: usize) -> io::Result<usize> {
    if filled > 0 {
        Ok(filled)
    } else {
        Err(ErrorKind::WouldBlock.into())
    }
}

/// Copies a decrypted record into `buf`; what does not fit goes to `rest`.
fn deliver(payload: &[u8], buf: &mut [u8], filled: &mut usize, rest: &mut Vec<u8>) {
    let n = payload.len().min(buf.len() - *filled);
    buf[*filled..*filled + n].copy_from_slice(&payload[..n]);
    *filled += n;
    rest.extend_from_slice(&payload[n..]);
}

/// Encrypts `data` into `wire`, growing it if rustls asks for more room.
fn encrypt(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    data: &[u8],
    wire: &mut Vec<u8>,
) -> io::Result<usize> {
    match traffic.encrypt(data, wire) {
        Ok(written) => Ok(written),
        Err(EncryptError::InsufficientSize(size)) => {
            wire.resize(size.required_size, 0);
            traffic.encrypt(data, wire).map_err(tls_error)
        }
        Err(error) => Err(tls_error(error)),
    }
}

/// Appends what `encode` writes to `out`, sized as rustls asks.
fn append<E>(
    out: &mut Vec<u8>,
    needs: fn(&E) -> Option<usize>,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, E>,
) -> io::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let at = out.len();
    let written = match encode(&mut []) {
        Ok(written) => written,
        Err(error) => {
            let Some(size) = needs(&error) else {
                return Err(tls_error(error));
            };
            out.resize(at + size, 0);
            match encode(&mut out[at..]) {
                Ok(written) => written,
                Err(error) => {
                    out.truncate(at);
                    return Err(tls_error(error));
                }
            }
        }
    };
    out.truncate(at + written);
    Ok(())
}

fn encode_needs(error: &EncodeError) -> Option<usize> {
    match error {
        EncodeError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

fn encrypt_needs(error: &EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

/// Writes as much of `bytes` as the socket takes; returns how much.
fn send_from(tcp: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match tcp.write(&bytes[sent..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(sent)
}

fn tls_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, error)
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
