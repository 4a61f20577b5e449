//! The INFO text: `# Section` headers and `name:value` lines, as Redis
//! prints them, for the server, clients, stats, keyspace and memory sections.

use std::fmt::Write;

use bytes::Bytes;
use usher_protocol::Reply;

use crate::alloc;
use crate::config::Config;
use crate::engine::Durability;
use crate::state::State;
use crate::stats::ServerStats;

const SECTIONS: [&str; 6] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "keyspace",
];

/// Renders the requested sections (all of them for none, `all` or
/// `default`); unknown section names are ignored, as in Redis.
pub fn render(
    state: &State,
    config: &Config,
    stats: &ServerStats,
    durability: Option<&Durability>,
    sections: &[Bytes],
    now_ms: u64,
) -> Reply {
    let wanted = |name: &str| {
        sections.is_empty()
            || sections.iter().any(|s| {
                s.eq_ignore_ascii_case(name.as_bytes())
                    || s.eq_ignore_ascii_case(b"all")
                    || s.eq_ignore_ascii_case(b"default")
                    || s.eq_ignore_ascii_case(b"everything")
            })
    };
    let mut text = String::new();
    for section in SECTIONS.into_iter().filter(|name| wanted(name)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut title = section.to_string();
        title[..1].make_ascii_uppercase();
        let _ = write!(text, "# {title}\r\n");
        let uptime = stats.started.elapsed().as_secs();
        let lines: Vec<(&str, String)> = match section {
            "server" => vec![
                ("usher_version", env!("CARGO_PKG_VERSION").to_string()),
                // Client libraries gate features on this; usher speaks the
                // Redis 7 protocol for the commands it implements.
                ("redis_version", "7.2.0".to_string()),
                ("redis_mode", "standalone".to_string()),
                ("process_id", std::process::id().to_string()),
                ("tcp_port", ServerStats::get(&stats.port).to_string()),
                ("uptime_in_seconds", uptime.to_string()),
                ("uptime_in_days", (uptime / 86_400).to_string()),
                (
                    "client_output_bytes_max",
                    config.client_output_bytes_max.to_string(),
                ),
                ("server_time_ms", now_ms.to_string()),
            ],
            "clients" => vec![
                (
                    "connected_clients",
                    ServerStats::get(&stats.connected_clients).to_string(),
                ),
                ("maxclients", config.connections_max.to_string()),
                (
                    "blocked_clients",
                    ServerStats::get(&stats.blocked_clients).to_string(),
                ),
                (
                    "total_watched_keys",
                    ServerStats::get(&stats.watched_keys).to_string(),
                ),
                (
                    "clients_input_bytes",
                    ServerStats::get(&stats.client_input_bytes).to_string(),
                ),
                (
                    "client_input_bytes_total_max",
                    config.client_input_bytes_total_max.to_string(),
                ),
            ],
            "memory" => vec![
                ("used_memory", alloc::allocated_bytes().to_string()),
                ("used_memory_rss", alloc::resident_bytes().to_string()),
                ("maxmemory", config.memory_bytes_max.to_string()),
                ("memory_bytes_max", config.memory_bytes_max.to_string()),
                ("maxmemory_policy", "noeviction".to_string()),
                ("keys_max", config.keys_max.to_string()),
                (
                    "lazyfree_pending_objects",
                    ServerStats::get(&stats.lazyfree_pending).to_string(),
                ),
                (
                    "lazyfreed_objects",
                    state.keyspace.graveyard.buried_total.to_string(),
                ),
            ],
            "persistence" => persistence_lines(config, durability),
            "stats" => vec![
                (
                    "total_connections_received",
                    ServerStats::get(&stats.total_connections).to_string(),
                ),
                (
                    "total_commands_processed",
                    state.stats.commands_processed.to_string(),
                ),
                (
                    "rejected_connections",
                    ServerStats::get(&stats.rejected_connections).to_string(),
                ),
                (
                    "protocol_errors",
                    ServerStats::get(&stats.protocol_errors).to_string(),
                ),
                (
                    "acl_access_denied_auth",
                    ServerStats::get(&stats.acl_denied_auth).to_string(),
                ),
                (
                    "acl_access_denied_cmd",
                    ServerStats::get(&stats.acl_denied_command).to_string(),
                ),
                (
                    "acl_access_denied_key",
                    ServerStats::get(&stats.acl_denied_key).to_string(),
                ),
                (
                    "tls_handshake_failures",
                    ServerStats::get(&stats.tls_handshake_failures).to_string(),
                ),
                (
                    "client_output_buffer_limit_disconnections",
                    ServerStats::get(&stats.output_limit_disconnections).to_string(),
                ),
                (
                    "client_query_buffer_limit_disconnections",
                    ServerStats::get(&stats.input_limit_disconnections).to_string(),
                ),
                (
                    "client_idle_disconnections",
                    ServerStats::get(&stats.idle_disconnections).to_string(),
                ),
                (
                    "oom_rejected_commands",
                    ServerStats::get(&stats.oom_refusals).to_string(),
                ),
                (
                    "total_net_input_bytes",
                    ServerStats::get(&stats.bytes_read).to_string(),
                ),
                (
                    "total_net_output_bytes",
                    ServerStats::get(&stats.bytes_written).to_string(),
                ),
                ("keyspace_hits", state.stats.keyspace_hits.to_string()),
                ("keyspace_misses", state.stats.keyspace_misses.to_string()),
                ("expired_keys", state.keyspace.expired_total.to_string()),
            ],
            _ => {
                if state.keyspace.is_empty() {
                    Vec::new()
                } else {
                    vec![(
                        "db0",
                        format!(
                            "keys={},expires={},avg_ttl=0",
                            state.keyspace.len(),
                            state.keyspace.with_deadline()
                        ),
                    )]
                }
            }
        };
        for (name, value) in lines {
            let _ = write!(text, "{name}:{value}\r\n");
        }
    }
    Reply::Bulk(Bytes::from(text))
}

fn persistence_lines(
    config: &Config,
    durability: Option<&Durability>,
) -> Vec<(&'static str, String)> {
    let Some(durability) = durability else {
        return vec![("persist", "0".to_string())];
    };
    let mut lines = vec![
        ("persist", "1".to_string()),
        ("dir", config.dir.display().to_string()),
        ("fsync", config.fsync.to_string()),
        ("log_next_position", durability.wal.next_lsn().to_string()),
        (
            "log_bytes_since_snapshot",
            durability.wal.bytes_since_snapshot.to_string(),
        ),
        (
            "log_failure",
            durability
                .wal
                .failure()
                .unwrap_or_else(|| "none".to_string()),
        ),
        (
            "log_segments_prepared",
            durability.wal.segment_counts().prepared.to_string(),
        ),
        (
            "log_segments_unprepared",
            durability.wal.segment_counts().unprepared.to_string(),
        ),
        (
            "snapshot_in_progress",
            u8::from(durability.snapshot.is_some()).to_string(),
        ),
    ];
    match &durability.last_snapshot {
        Some(Ok(done)) => {
            lines.push(("last_snapshot_status", "ok".to_string()));
            lines.push(("last_snapshot_position", done.start_lsn.to_string()));
            lines.push(("last_snapshot_keys", done.entries.to_string()));
            lines.push(("last_snapshot_bytes", done.bytes.to_string()));
            lines.push((
                "last_snapshot_prefaulted_values",
                done.prefaulted_values.to_string(),
            ));
        }
        Some(Err(error)) => lines.push(("last_snapshot_status", format!("err: {error}"))),
        None => lines.push(("last_snapshot_status", "none".to_string())),
    }
    lines
}
