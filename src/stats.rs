//! Counters shared between the network tasks (which write them) and the
//! engine (which reports them in INFO). Atomics, never locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct ServerStats {
    pub started: Instant,
    /// The port actually bound (differs from the config when it was 0).
    pub port: AtomicU64,
    pub connected_clients: AtomicU64,
    /// Connections whose client waits on a blocking command.
    pub blocked_clients: AtomicU64,
    /// Keys watched by connections (WATCH), all together.
    pub watched_keys: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Connections closed because of a protocol error.
    pub protocol_errors: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Large removed values handed to the freeing thread and not yet freed.
    pub lazyfree_pending: AtomicU64,
    /// Connections closed for their unsent replies (hard or soft limit).
    pub output_limit_disconnections: AtomicU64,
    /// Connections closed for their unparsed input (own or all clients').
    pub input_limit_disconnections: AtomicU64,
    /// Connections closed after `timeout_seconds` idle.
    pub idle_disconnections: AtomicU64,
    /// Write commands refused with OOM over `memory_bytes_max`.
    pub oom_refusals: AtomicU64,
    /// Unparsed input bytes of all connections (partial frames included).
    pub client_input_bytes: AtomicU64,
    /// Refusals by the users and permissions check, as `ACL LOG` counts
    /// them: failed logins, commands and keys a user may not use.
    pub acl_denied_auth: AtomicU64,
    pub acl_denied_command: AtomicU64,
    pub acl_denied_key: AtomicU64,
    /// TLS connections closed before their handshake finished (a TLS
    /// error, a plaintext client, the handshake timeout, a client gone).
    pub tls_handshake_failures: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats {
            started: Instant::now(),
            port: AtomicU64::new(0),
            connected_clients: AtomicU64::new(0),
            blocked_clients: AtomicU64::new(0),
            watched_keys: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            lazyfree_pending: AtomicU64::new(0),
            output_limit_disconnections: AtomicU64::new(0),
            input_limit_disconnections: AtomicU64::new(0),
            idle_disconnections: AtomicU64::new(0),
            oom_refusals: AtomicU64::new(0),
            client_input_bytes: AtomicU64::new(0),
            acl_denied_auth: AtomicU64::new(0),
            acl_denied_command: AtomicU64::new(0),
            acl_denied_key: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
        }
    }
}

impl ServerStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}
