//! Connections refused at `connections_max`: each gets one error in the
//! protocol it speaks, then is closed; refusals are logged once per second
//! with their count, not one line each.
//!
//! The codec is picked by the client's first byte (`0xD5`: binary), which
//! may not have arrived when the connection is accepted. So a refused
//! socket waits, unregistered, up to [`FIRST_BYTE_WAIT`] for its first
//! bytes (the reactor looks at the waiting ones once per loop, and polls at
//! least every [`LOOK_INTERVAL`] while there are any): a binary client gets a
//! binary error frame (code 10, `ERR max number of clients reached`, the
//! request id of its first frame, 0 if its header is incomplete); any other
//! first byte, none in time, or more than [`WAITING_MAX`] refusals at once
//! gets the RESP line, as Redis sends it. `protocol/SPEC.md` §1 says so for
//! clients.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::TcpStream;
use usher_protocol::{binary, Reply, ServerError};

/// How long a refused connection may take to send its first bytes.
pub const FIRST_BYTE_WAIT: Duration = Duration::from_millis(200);
/// How often waiting refused connections are looked at.
pub const LOOK_INTERVAL: Duration = Duration::from_millis(5);
/// Most refused connections waiting at once; more are answered in RESP at
/// once.
pub const WAITING_MAX: usize = 64;
/// Most bytes read from a refused connection (so that closing it sends a
/// FIN, not a reset that could discard the error before it is read).
const DRAIN_BYTES_MAX: usize = 64 * 1024;
/// Refusal log lines at most this often.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

struct Waiting {
    stream: TcpStream,
    deadline: Instant,
}

#[derive(Default)]
pub struct Refusals {
    waiting: VecDeque<Waiting>,
    /// Refusals not logged yet.
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    /// Refuses a connection accepted over `connections_max`: answered with
    /// an error in its codec when `answer` (a TLS client could read
    /// neither before its handshake, so it is only closed).
    pub fn refuse(&mut self, stream: TcpStream, connections_max: usize, answer_it: bool) {
        self.unlogged += 1;
        self.log(connections_max, false);
        if !answer_it {
            return;
        }
        let mut waiting = Waiting {
            stream,
            deadline: Instant::now() + FIRST_BYTE_WAIT,
        };
        if answer(&mut waiting, false) {
            return;
        }
        if self.waiting.len() < WAITING_MAX {
            self.waiting.push_back(waiting);
        } else {
            answer(&mut waiting, true);
        }
    }

    /// Answers the waiting connections whose first bytes came or whose
    /// time is up.
    pub fn serve(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let now = Instant::now();
        self.waiting
            .retain_mut(|waiting| !answer(waiting, now >= waiting.deadline));
    }

    /// How long the reactor may wait for events.
    pub fn poll_timeout(&self, timeout: Duration) -> Duration {
        if self.waiting.is_empty() {
            timeout
        } else {
            timeout.min(LOOK_INTERVAL)
        }
    }

    /// Logs the refusals not logged yet, at most once per [`LOG_INTERVAL`]
    /// (`sweep`: called periodically, so the last ones of a burst are
    /// logged too).
    pub fn log(&mut self, connections_max: usize, sweep: bool) {
        if let Some(refused) = self.take_due(Instant::now(), sweep) {
            tracing::warn!(
                refused,
                connections_max,
                "connections_max reached: refused {refused} connection(s)"
            );
        }
    }

    /// The refusals to log at `now`, if a line is due.
    fn take_due(&mut self, now: Instant, sweep: bool) -> Option<u64> {
        let due = self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL);
        if self.unlogged == 0 || !due || (sweep && self.logged_at.is_none()) {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// Sends the refusal if the client's first bytes say which codec it speaks
/// (or in RESP if `give_up`), then closes. Returns whether it is done.
fn answer(waiting: &mut Waiting, give_up: bool) -> bool {
    let mut head = [0u8; binary::HEADER_BYTES];
    let mut have = 0;
    let mut drained = 0;
    let mut scratch = [0u8; 4096];
    let closed = loop {
        match waiting.stream.read(&mut scratch) {
            Ok(0) => break true,
            Ok(n) => {
                let take = (head.len() - have).min(n);
                head[have..have + take].copy_from_slice(&scratch[..take]);
                have += take;
                drained += n;
                if drained >= DRAIN_BYTES_MAX {
                    break false;
                }
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    if closed {
        return true;
    }
    if have == 0 && !give_up {
        return false;
    }
    let mut out = BytesMut::new();
    let error = Reply::Error(ServerError::MAX_CLIENTS);
    if have > 0 && head[0] == binary::MAGIC {
        binary::encode_reply(&mut out, binary::peek_request_id(&head[..have]), &error);
    } else {
        out.extend_from_slice(b"-ERR max number of clients reached\r\n");
    }
    // Best effort and never blocking: the reply is far smaller than a
    // fresh socket's send buffer.
    let _ = waiting.stream.write(&out);
    let _ = waiting.stream.shutdown(std::net::Shutdown::Write);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_most_once_per_second_with_their_count() {
        let mut refusals = Refusals::default();
        let start = Instant::now();
        refusals.unlogged = 1;
        assert_eq!(refusals.take_due(start, false), Some(1));
        for _ in 0..500 {
            refusals.unlogged += 1;
            let now = start + Duration::from_millis(900);
            assert_eq!(refusals.take_due(now, false), None);
            assert_eq!(refusals.take_due(now, true), None);
        }
        // The sweep logs the rest of the burst once the second is over.
        let later = start + LOG_INTERVAL;
        assert_eq!(refusals.take_due(later, true), Some(500));
        assert_eq!(refusals.take_due(later + LOG_INTERVAL, true), None);
    }
}
