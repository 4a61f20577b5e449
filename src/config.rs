//! Every setting and limit of the server, in one place, with units in the
//! names. Each field is a command-line flag (`--frame-bytes-max 1048576`) and
//! a TOML key (`frame_bytes_max = 1048576`); flags win over the file, the file
//! wins over the embedded defaults.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};

use crate::log::FsyncPolicy;
use crate::state::StateLimits;

#[derive(Args, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// TCP port for plaintext clients. 0 with a `tls_port` set: no
    /// plaintext listener (TLS only, as in Redis); 0 without TLS: the server
    /// picks a free port (it must listen somewhere).
    #[arg(long, default_value_t = 7379)]
    pub port: u16,
    /// TCP port for TLS clients; 0 = no TLS listener. Needs `tls_cert_file`
    /// and `tls_key_file` (and `tls_ca_cert_file` unless
    /// `tls_auth_clients` is `no`).
    #[arg(long, default_value_t = 0)]
    pub tls_port: u16,
    /// The server's certificate chain, PEM (leaf first).
    #[arg(long, value_name = "FILE")]
    #[serde(with = "optional_path")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of `tls_cert_file`, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    #[serde(with = "optional_path")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates, PEM, that client certificates are verified against.
    #[arg(long, value_name = "FILE")]
    #[serde(with = "optional_path")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates on the TLS port: `yes` (required, verified
    /// against `tls_ca_cert_file`), `optional` (verified if sent), `no`.
    #[arg(long, value_enum, default_value_t = TlsAuthClients::Yes)]
    pub tls_auth_clients: TlsAuthClients,
    /// A TLS connection whose handshake has not finished this long after it
    /// was accepted is closed, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub tls_handshake_timeout_ms: u64,
    /// Most TLS handshake steps (each a read of handshake messages and the
    /// key exchange or verification it causes) the engine thread runs in
    /// one round; the rest wait for the next round, so a burst of new TLS
    /// clients cannot delay the replies of connected ones by more than
    /// about this many handshakes' CPU time.
    #[arg(long, default_value_t = 8)]
    pub tls_handshakes_per_round_max: usize,
    /// Data directory (for the log and snapshots).
    #[arg(long, default_value = "./usher-data")]
    pub dir: PathBuf,
    /// Queue of connections the kernel has accepted and the server not yet
    /// (`listen` backlog, as Redis's `tcp-backlog`; the kernel caps it at
    /// `net.core.somaxconn`). A burst of new clients beyond it waits for a
    /// SYN retry, a second or more.
    #[arg(long, default_value_t = 511)]
    pub tcp_backlog: u32,
    /// Most client connections at once; more are refused with an error.
    #[arg(long, default_value_t = 10_000)]
    pub connections_max: usize,
    /// Most requests parked at once by blocking commands (BZPOPMIN...);
    /// one more gets a LIMIT error instead of waiting.
    #[arg(long, default_value_t = 10_000)]
    pub blocked_clients_max: usize,
    /// Most commands one connection may queue between MULTI and EXEC; one
    /// more is refused and makes the EXEC fail (EXECABORT).
    #[arg(long, default_value_t = 10_000)]
    pub multi_commands_max: usize,
    /// Most argument bytes one connection may queue between MULTI and EXEC;
    /// past it as past `multi_commands_max`.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub multi_bytes_max: usize,
    /// Most keys watched (WATCH) at once, all connections together; a WATCH
    /// beyond it gets a LIMIT error.
    #[arg(long, default_value_t = 1_000_000)]
    pub watched_keys_max: usize,
    /// Largest request frame in bytes, either codec.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub frame_bytes_max: usize,
    /// Most arguments in one request, the command name included.
    #[arg(long, default_value_t = 65_536)]
    pub args_max: usize,
    /// Longest inline (telnet-style) RESP command in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub inline_bytes_max: usize,
    /// Longest key in bytes.
    #[arg(long, default_value_t = 4096)]
    pub key_bytes_max: usize,
    /// Longest string value in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub value_bytes_max: usize,
    /// Most keys the server holds; further writes get an OOM error.
    #[arg(long, default_value_t = 50_000_000)]
    pub keys_max: usize,
    /// Most entries one SCAN call visits.
    #[arg(long, default_value_t = 100_000)]
    pub scan_count_max: usize,
    /// Longest sorted-set or queue member in bytes (at most 16384).
    #[arg(long, default_value_t = 1024)]
    pub member_bytes_max: usize,
    /// Most members in one sorted set.
    #[arg(long, default_value_t = 50_000_000)]
    pub zset_members_max: usize,
    /// Most items in one list; a push beyond it gets an error.
    #[arg(long, default_value_t = 50_000_000)]
    pub list_items_max: usize,
    /// Most fields in one hash (below 4294967295: slots are 32-bit).
    #[arg(long, default_value_t = 50_000_000)]
    pub hash_fields_max: usize,
    /// Most members in one set (SADD, SMOVE and the *STORE commands refuse
    /// to grow a set past it).
    #[arg(long, default_value_t = 50_000_000)]
    pub set_members_max: usize,
    /// Most members, waiting and active, in one waiting-room queue.
    #[arg(long, default_value_t = 50_000_000)]
    pub queue_members_max: usize,
    /// Longest admission lifetime (queue TTL, QUEUE.TOUCH TTL) in ms.
    #[arg(long, default_value_t = 30 * 24 * 3_600_000)]
    pub queue_ttl_ms_max: u64,
    /// Longest queue RATE period in ms.
    #[arg(long, default_value_t = 24 * 3_600_000)]
    pub queue_rate_period_ms_max: u64,
    /// Most members one reply may list (ZRANGE, ZPOPMIN, QUEUE.ADMIT...);
    /// larger requests get an error asking for a smaller range.
    #[arg(long, default_value_t = 1_000_000)]
    pub reply_items_max: usize,
    /// Most keys one KEYS reply may hold; a KEYS matching more gets an
    /// error and no keys (use SCAN).
    #[arg(long, default_value_t = 1_000_000)]
    pub keys_reply_max: usize,
    /// Longest string APPEND and SETRANGE may make, in bytes (Redis's
    /// `proto-max-bulk-len`); SET values are bounded by `value_bytes_max`.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub string_bytes_max: usize,
    /// Capacity of the command queue for in-process producers, in
    /// submissions; when full, submissions get a BUSY error.
    #[arg(long, default_value_t = 4096)]
    pub queue_batches_max: usize,
    /// Most requests of one connection applied in one round; more
    /// pipelined requests wait for the next round.
    #[arg(long, default_value_t = 1024)]
    pub pipeline_requests_max: usize,
    /// Most requests, over all connections, the engine applies in one round
    /// before it replies (and, with persistence, logs them as one record).
    #[arg(long, default_value_t = 16_384)]
    pub batch_requests_max: usize,
    /// Longest seat hold or stock reservation, in milliseconds.
    #[arg(long, default_value_t = 86_400_000)]
    pub hold_ttl_ms_max: u64,
    /// Most seats in one event (at most 2147483647).
    #[arg(long, default_value_t = 10_000_000)]
    pub seats_per_event_max: u64,
    /// Most holders one SKU may have at once; further new holders get an
    /// error (an event's holders are bounded by its seats).
    #[arg(long, default_value_t = 10_000_000)]
    pub holders_per_key_max: usize,
    /// Longest holder id in bytes (at most 255).
    #[arg(long, default_value_t = 128)]
    pub holder_bytes_max: usize,
    /// Most seats one SEAT.STATUS call reports.
    #[arg(long, default_value_t = 100_000)]
    pub seat_status_count_max: u64,
    /// How long the reply to a `REQ` (or an idempotency-keyed binary frame)
    /// is remembered, in milliseconds; a repeat within it gets the same
    /// reply and changes nothing.
    #[arg(long, default_value_t = 600_000)]
    pub idempotency_window_ms: u64,
    /// Most remembered `REQ` replies; when full (after dropping expired
    /// ones) new `REQ`s are refused with an error.
    #[arg(long, default_value_t = 1_000_000)]
    pub idempotency_entries_max: usize,
    /// Keep state on disk (append-only log + snapshots in `dir`). Off, the
    /// server forgets everything when it stops.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub persist: bool,
    /// When the log reaches stable storage: `always` (before every reply),
    /// `everysec`, or `no`.
    #[arg(long, value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
    /// Take a snapshot this often (if anything was logged since the last
    /// one), in milliseconds; 0 = never on a schedule.
    #[arg(long, default_value_t = 3_600_000)]
    pub snapshot_interval_ms: u64,
    /// Take a snapshot once this many log bytes were written since the last
    /// one; 0 = never on size.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub snapshot_log_bytes_max: u64,
    /// A value whose snapshot encoding should take at least this many bytes
    /// (a waiting room, sorted set or seat map of about 10⁵ members and up)
    /// is serialized into a buffer the snapshot writer has already faulted
    /// in: a third or less of the engine's time for it (`cargo bench
    /// --bench growth`); 0 = never.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub snapshot_prefault_value_bytes: usize,
    /// Size of each log segment file, in bytes, written full of zeros by a
    /// background thread before the log moves into it (two are kept ready,
    /// so the data directory holds up to two such spares). Records then only
    /// overwrite space the file already has, so a sync writes the data and no
    /// change of file size (on ext4 about a third less time per fsync). A
    /// record that does not fit starts the next prepared segment, or grows
    /// the current one while none is ready. 0 = no preallocation: segments
    /// grow as they are written.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub log_segment_bytes: u64,
    /// Period of the engine's timer (active expiry) in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub timer_tick_ms: u64,
    /// Share of each timer period the engine may spend on timers, in percent.
    #[arg(long, default_value_t = 25)]
    pub timer_budget_percent: u64,
    /// Free large removed values (more than 64 members, holders or keys:
    /// DEL, UNLINK, expiry, overwrite, FLUSHALL) on a background thread, so
    /// the engine does not pause for them. Off, the engine frees them.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub lazy_free: bool,
    /// Once shutdown starts, how long a connection may still spend writing
    /// replies its client does not read before it is dropped, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub shutdown_grace_ms: u64,
    /// Unsent reply bytes of one connection (encoded output plus replies
    /// waiting for their log commit) at which the server stops reading its
    /// requests until the client reads its replies: back-pressure, which
    /// bounds a connection's replies to about this plus one reply.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub client_output_bytes_max: usize,
    /// Users file: one user per line in Redis ACL syntax (`user app on
    /// #<sha256> ~sale:* +@read +@sale`). Empty: one `default` user with
    /// every permission, and connections start logged in.
    #[arg(long = "users", value_name = "FILE")]
    #[serde(with = "optional_path")]
    pub users_file: Option<PathBuf>,
    /// Refuse to start on a non-loopback `bind` without a users file
    /// (`yes`/`no`), as Redis's protected mode.
    #[arg(long, default_value = "yes", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub protected_mode: bool,
    /// Most entries `ACL LOG` keeps (the oldest go first).
    #[arg(long, default_value_t = 128)]
    pub acl_log_entries_max: usize,
    /// Most users (users file and `ACL SETUSER` together).
    #[arg(long, default_value_t = 1024)]
    pub acl_users_max: usize,
    /// Hard output limit: a connection whose unsent reply bytes exceed this
    /// is closed at once (logged, counted in INFO as
    /// `client_output_buffer_limit_disconnections`). With back-pressure at
    /// `client_output_bytes_max`, only a single huge reply gets here; the
    /// default lets through a ZRANGE of a million members of 40 bytes.
    /// 0 = no hard limit.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub client_output_buffer_bytes_max: usize,
    /// Soft output limit: a connection whose unsent reply bytes stay at or
    /// above this for `client_output_buffer_soft_seconds` without a break is
    /// closed. This is what frees the slot of a client that stopped reading
    /// (back-pressure alone would keep it forever), so it must be at most
    /// `client_output_bytes_max`; a client that reads, even slowly, drops
    /// below it at each write and is never closed. 0 = no soft limit.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub client_output_buffer_soft_bytes: usize,
    /// How long, in seconds, a connection may stay at or above
    /// `client_output_buffer_soft_bytes` before it is closed (as Redis's
    /// 60 s for pub/sub and replica clients).
    #[arg(long, default_value_t = 60)]
    pub client_output_buffer_soft_seconds: u64,
    /// Most bytes of unparsed input (a partial frame plus pipelined frames
    /// not yet decoded) one connection may hold; beyond it the connection is
    /// closed and the event logged. At least `frame_bytes_max`, so a
    /// maximal frame always fits.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    pub client_query_buffer_bytes_max: usize,
    /// Most bytes of unparsed input all connections together may hold
    /// (partial frames are held whole until they complete); beyond it the
    /// connections holding the most are closed first, each with a log line,
    /// until the total is back under. At least `frame_bytes_max`. The
    /// default admits 32 maximal 8 MiB frames in flight at once.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub client_input_bytes_total_max: usize,
    /// Close a connection idle (nothing read from it or written to it) for
    /// this many seconds; a client blocked on BZPOPMIN/BZPOPMAX is never
    /// idle. 0 = never (as Redis's default `timeout 0`).
    #[arg(long, default_value_t = 0)]
    pub timeout_seconds: u64,
    /// Used memory (heap bytes counted by the server's allocator, INFO
    /// `used_memory`) above which commands that may grow memory (the
    /// `denyoom` commands of `COMMAND INFO`: SET, INCR, ZADD, SEAT.HOLD,
    /// QUEUE.JOIN, REQ...) are refused with `-OOM command not allowed when
    /// used memory > 'memory_bytes_max'.`; reads and deletes still work.
    /// Like Redis `maxmemory` with the `noeviction` policy: nothing is ever
    /// evicted. 0 = no bound (the Redis default): set it to what the host or
    /// container can give the server, minus room for client buffers.
    #[arg(long, default_value_t = 0)]
    pub memory_bytes_max: u64,
    /// Log filter, as for `RUST_LOG` (e.g. `info`, `usher=debug`).
    #[arg(long, default_value = "info")]
    pub log_filter: String,
}

/// Whether TLS clients must present a certificate (Redis's
/// `tls-auth-clients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsAuthClients {
    /// A client certificate signed by `tls_ca_cert_file` is required.
    Yes,
    /// A client certificate is not asked for.
    No,
    /// A client certificate is verified if the client sends one.
    Optional,
}

/// An unset file setting is `""` in TOML and in `CONFIG GET` (as Redis
/// shows unset file settings), `None` in the config.
mod optional_path {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(path: &Option<PathBuf>, to: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => to.serialize_str(&path.to_string_lossy()),
            None => to.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Option<PathBuf>, D::Error> {
        let text = String::deserialize(from)?;
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
}

/// Parses only the config flags (used to get the defaults).
#[derive(Parser)]
#[command(no_binary_name = true)]
struct DefaultsOnly {
    #[command(flatten)]
    config: Config,
}

impl Default for Config {
    fn default() -> Config {
        match DefaultsOnly::try_parse_from(std::iter::empty::<String>()) {
            Ok(parsed) => parsed.config,
            Err(error) => panic!("the embedded config defaults do not parse: {error}"),
        }
    }
}

/// A config problem, said so that the operator can fix it.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Merges a TOML file under the flags: a key from the file is used unless
    /// the same setting was given on the command line.
    pub fn merge_file(
        flags: Config,
        matches: &ArgMatches,
        path: &Path,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        let file: toml::Table = toml::from_str(&text)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        let merged = toml::Value::try_from(&flags)
            .map_err(|e| ConfigError(format!("internal: config does not serialize: {e}")))?;
        let toml::Value::Table(mut merged) = merged else {
            return Err(ConfigError("internal: config is not a table".into()));
        };
        for (key, value) in file {
            if !merged.contains_key(&key) {
                return Err(ConfigError(format!(
                    "config file {}: unknown setting '{key}'",
                    path.display()
                )));
            }
            let from_flag = matches.value_source(&key) == Some(ValueSource::CommandLine);
            if !from_flag {
                merged.insert(key, value);
            }
        }
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("connections_max", self.connections_max as u64),
            ("blocked_clients_max", self.blocked_clients_max as u64),
            ("multi_commands_max", self.multi_commands_max as u64),
            ("multi_bytes_max", self.multi_bytes_max as u64),
            ("watched_keys_max", self.watched_keys_max as u64),
            ("frame_bytes_max", self.frame_bytes_max as u64),
            ("args_max", self.args_max as u64),
            ("inline_bytes_max", self.inline_bytes_max as u64),
            ("key_bytes_max", self.key_bytes_max as u64),
            ("value_bytes_max", self.value_bytes_max as u64),
            ("keys_max", self.keys_max as u64),
            ("scan_count_max", self.scan_count_max as u64),
            ("member_bytes_max", self.member_bytes_max as u64),
            ("zset_members_max", self.zset_members_max as u64),
            ("hash_fields_max", self.hash_fields_max as u64),
            ("set_members_max", self.set_members_max as u64),
            ("queue_members_max", self.queue_members_max as u64),
            ("queue_rate_period_ms_max", self.queue_rate_period_ms_max),
            ("reply_items_max", self.reply_items_max as u64),
            ("list_items_max", self.list_items_max as u64),
            ("keys_reply_max", self.keys_reply_max as u64),
            ("string_bytes_max", self.string_bytes_max as u64),
            ("pipeline_requests_max", self.pipeline_requests_max as u64),
            ("queue_batches_max", self.queue_batches_max as u64),
            ("batch_requests_max", self.batch_requests_max as u64),
            ("timer_tick_ms", self.timer_tick_ms),
            ("tcp_backlog", u64::from(self.tcp_backlog)),
            ("tls_handshake_timeout_ms", self.tls_handshake_timeout_ms),
            (
                "tls_handshakes_per_round_max",
                self.tls_handshakes_per_round_max as u64,
            ),
            (
                "client_output_bytes_max",
                self.client_output_bytes_max as u64,
            ),
            ("hold_ttl_ms_max", self.hold_ttl_ms_max),
            ("acl_users_max", self.acl_users_max as u64),
            ("seats_per_event_max", self.seats_per_event_max),
            ("holders_per_key_max", self.holders_per_key_max as u64),
            ("holder_bytes_max", self.holder_bytes_max as u64),
            ("seat_status_count_max", self.seat_status_count_max),
            ("idempotency_window_ms", self.idempotency_window_ms),
            (
                "idempotency_entries_max",
                self.idempotency_entries_max as u64,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be at least 1")));
            }
        }
        if self.frame_bytes_max < 64 {
            return Err(ConfigError("frame_bytes_max must be at least 64".into()));
        }
        if self.seats_per_event_max > (1 << 31) - 1 {
            return Err(ConfigError(
                "seats_per_event_max must be at most 2147483647".into(),
            ));
        }
        if self.holder_bytes_max > crate::state::holders::HOLDER_ID_BYTES_MAX {
            return Err(ConfigError(format!(
                "holder_bytes_max must be at most {}",
                crate::state::holders::HOLDER_ID_BYTES_MAX
            )));
        }
        if self.member_bytes_max > crate::state::queue::QUEUE_MEMBER_BYTES_LIMIT {
            return Err(ConfigError(format!(
                "member_bytes_max must be at most {}",
                crate::state::queue::QUEUE_MEMBER_BYTES_LIMIT
            )));
        }
        if self.zset_members_max >= u32::MAX as usize
            || self.queue_members_max >= u32::MAX as usize
            || self.set_members_max >= u32::MAX as usize
        {
            return Err(ConfigError(
                "zset_members_max, queue_members_max and set_members_max must be below 4294967295"
                    .into(),
            ));
        }
        // A list's snapshot encoding counts its items in a u32.
        if self.list_items_max >= u32::MAX as usize {
            return Err(ConfigError(
                "list_items_max must be below 4294967295".into(),
            ));
        }
        if self.hash_fields_max >= u32::MAX as usize {
            return Err(ConfigError(
                "hash_fields_max must be below 4294967295".into(),
            ));
        }
        if self.log_segment_bytes != 0 && self.log_segment_bytes < crate::log::SEGMENT_BYTES_MIN {
            return Err(ConfigError(format!(
                "log_segment_bytes must be 0 (no preallocation) or at least {}",
                crate::log::SEGMENT_BYTES_MIN
            )));
        }
        self.check_protected_mode()?;
        if self.timer_budget_percent == 0 || self.timer_budget_percent > 100 {
            return Err(ConfigError("timer_budget_percent must be 1..=100".into()));
        }
        if self.tls_port != 0 {
            if self.tls_port == self.port {
                return Err(ConfigError(format!(
                    "tls_port and port are both {}: give TLS its own port (port 0 = TLS only)",
                    self.port
                )));
            }
            self.tls_files_given()?;
        }
        self.validate_client_limits()
    }

    /// The client buffer limits against each other and the frame limit.
    fn validate_client_limits(&self) -> Result<(), ConfigError> {
        let (hard, soft) = (
            self.client_output_buffer_bytes_max,
            self.client_output_buffer_soft_bytes,
        );
        if hard != 0 && soft > hard {
            return Err(ConfigError(format!(
                "client_output_buffer_soft_bytes ({soft}) must be at most \
                 client_output_buffer_bytes_max ({hard})"
            )));
        }
        if soft > self.client_output_bytes_max {
            return Err(ConfigError(format!(
                "client_output_buffer_soft_bytes ({soft}) must be at most \
                 client_output_bytes_max ({}): reading stops there, so a client that \
                 stops reading would never reach the soft limit and never be closed",
                self.client_output_bytes_max
            )));
        }
        if soft != 0 && self.client_output_buffer_soft_seconds == 0 {
            return Err(ConfigError(
                "client_output_buffer_soft_seconds must be at least 1 \
                 (client_output_buffer_bytes_max is the limit that closes at once)"
                    .into(),
            ));
        }
        for (name, value) in [
            (
                "client_query_buffer_bytes_max",
                self.client_query_buffer_bytes_max,
            ),
            (
                "client_input_bytes_total_max",
                self.client_input_bytes_total_max,
            ),
        ] {
            if value < self.frame_bytes_max {
                return Err(ConfigError(format!(
                    "{name} ({value}) must be at least frame_bytes_max ({})",
                    self.frame_bytes_max
                )));
            }
        }
        Ok(())
    }

    /// Refuses a TLS listener without the files it needs, naming the
    /// missing setting.
    pub fn tls_files_given(&self) -> Result<(), ConfigError> {
        let missing = |name: &str, what: &str| {
            ConfigError(format!("TLS is on but {name} is not set: give {what}"))
        };
        if self.tls_cert_file.is_none() {
            return Err(missing(
                "tls_cert_file",
                "the server's certificate chain (PEM)",
            ));
        }
        if self.tls_key_file.is_none() {
            return Err(missing(
                "tls_key_file",
                "the certificate's private key (PEM)",
            ));
        }
        if self.tls_ca_cert_file.is_none() && self.tls_auth_clients != TlsAuthClients::No {
            return Err(missing(
                "tls_ca_cert_file",
                "the CA that signs client certificates (PEM), or set tls_auth_clients no",
            ));
        }
        Ok(())
    }

    /// Protected mode: no listening beyond loopback without users.
    pub fn check_protected_mode(&self) -> Result<(), ConfigError> {
        if self.protected_mode && self.users_path().is_none() && !self.bind_is_loopback() {
            return Err(ConfigError(format!(
                "protected mode: refusing to listen on {} (not a loopback address) without users. \
                 Give a users file (--users FILE, TOML users_file) so that clients must log in, \
                 or start with --protected-mode no (TOML protected_mode = false) if the network \
                 is trusted",
                self.bind
            )));
        }
        Ok(())
    }

    /// Whether a plaintext listener is wanted: always, unless TLS is on
    /// and `port` is 0.
    pub fn plaintext_listener(&self) -> bool {
        self.port != 0 || self.tls_port == 0
    }

    /// Whether `bind` only accepts connections from this machine.
    pub fn bind_is_loopback(&self) -> bool {
        match self.bind.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => self.bind == "localhost",
        }
    }

    /// The users file, if one is configured.
    pub fn users_path(&self) -> Option<&Path> {
        self.users_file.as_deref()
    }

    pub fn acl_limits(&self) -> crate::acl::AclLimits {
        crate::acl::AclLimits {
            log_entries_max: self.acl_log_entries_max,
            users_max: self.acl_users_max,
        }
    }

    pub fn decoder_limits(&self) -> usher_protocol::Limits {
        usher_protocol::Limits {
            frame_bytes_max: self.frame_bytes_max,
            args_max: self.args_max,
            inline_bytes_max: self.inline_bytes_max,
        }
    }

    pub fn state_limits(&self) -> StateLimits {
        StateLimits {
            keys_max: self.keys_max,
            scan_count_max: self.scan_count_max,
            member_bytes_max: self.member_bytes_max,
            zset_members_max: self.zset_members_max,
            hash_fields_max: self.hash_fields_max,
            set_members_max: self.set_members_max,
            queue_members_max: self.queue_members_max,
            queue_ttl_ms_max: self.queue_ttl_ms_max,
            queue_rate_period_ms_max: self.queue_rate_period_ms_max,
            reply_items_max: self.reply_items_max,
            list_items_max: self.list_items_max,
            keys_reply_max: self.keys_reply_max,
            string_bytes_max: self.string_bytes_max,
            hold_ttl_ms_max: self.hold_ttl_ms_max,
            seats_per_event_max: self.seats_per_event_max,
            holders_per_key_max: self.holders_per_key_max,
            holder_bytes_max: self.holder_bytes_max,
            seat_status_count_max: self.seat_status_count_max,
            idempotency_window_ms: self.idempotency_window_ms,
            idempotency_entries_max: self.idempotency_entries_max,
        }
    }

    /// A setting's value as text, by its TOML name (for `CONFIG GET`).
    pub fn get_text(&self, name: &str) -> Option<String> {
        let value = toml::Value::try_from(self).ok()?;
        match value.get(name)? {
            toml::Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }

    /// Every setting name, for `CONFIG GET *`.
    pub fn names(&self) -> Vec<String> {
        match toml::Value::try_from(self) {
            Ok(toml::Value::Table(table)) => table.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// Builds a config from process arguments: the flags, plus `--config FILE`.
pub fn from_matches(
    matches: &ArgMatches,
    config_file: Option<&Path>,
) -> Result<Config, ConfigError> {
    let flags = Config::from_arg_matches(matches).map_err(|e| ConfigError(e.to_string()))?;
    match config_file {
        Some(path) => Config::merge_file(flags, matches, path),
        None => {
            flags.validate()?;
            Ok(flags)
        }
    }
}

/// The clap command for the config flags alone (for tests).
pub fn command() -> clap::Command {
    DefaultsOnly::command()
}
