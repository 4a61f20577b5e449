//! The `ACL LOG`: the latest refusals (failed logins, commands and keys a
//! user may not use), newest first, at most `acl_log_entries_max`. As in
//! Redis, a refusal like one already logged (same reason, context, object
//! and user) within a minute counts on that entry instead of adding one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use usher_protocol::Reply;

use crate::stats::ServerStats;

/// Why a request was refused, as `ACL LOG` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Auth,
    Command,
    Key,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Command => "command",
            Reason::Key => "key",
        }
    }
}

/// Refusals within this long of an entry like them count on it.
const GROUPING_MS: u64 = 60_000;

struct Entry {
    count: u64,
    reason: Reason,
    object: String,
    username: String,
    client_info: String,
    entry_id: u64,
    created_ms: u64,
    updated_ms: u64,
}

pub struct AclLog {
    entries: VecDeque<Entry>,
    max: usize,
    next_id: u64,
    /// Every refusal is counted there too (INFO `acl_access_denied_*`),
    /// also those the bounded log no longer holds.
    stats: Arc<ServerStats>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AclLog {
    pub fn new(max: usize, stats: Arc<ServerStats>) -> AclLog {
        AclLog {
            entries: VecDeque::new(),
            max,
            next_id: 0,
            stats,
        }
    }

    /// Logs a refusal. `object`: the command (`flushall`, `acl|setuser`),
    /// the key, or for a failed login the command that tried (`AUTH`);
    /// `username`: the user refused, or the one a failed login named;
    /// `client_info`: [`ClientInfo::describe`] of the client.
    pub fn add(&mut self, reason: Reason, object: String, username: String, client_info: String) {
        let counter = match reason {
            Reason::Auth => &self.stats.acl_denied_auth,
            Reason::Command => &self.stats.acl_denied_command,
            Reason::Key => &self.stats.acl_denied_key,
        };
        ServerStats::add(counter, 1);
        let now = now_ms();
        if let Some(entry) = self.entries.iter_mut().find(|entry| {
            entry.reason == reason
                && entry.object == object
                && entry.username == username
                && now.saturating_sub(entry.updated_ms) < GROUPING_MS
        }) {
            entry.count += 1;
            entry.updated_ms = now;
            entry.client_info = client_info;
            return;
        }
        if self.max == 0 {
            return;
        }
        while self.entries.len() >= self.max {
            self.entries.pop_back();
        }
        self.entries.push_front(Entry {
            count: 1,
            reason,
            object,
            username,
            client_info,
            entry_id: self.next_id,
            created_ms: now,
            updated_ms: now,
        });
        self.next_id += 1;
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// `ACL LOG [count]`: the newest `count` entries as Redis 7.2 shows
    /// them.
    pub fn reply(&self, count: usize) -> Reply {
        let now = now_ms();
        let text = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
        let entries = self.entries.iter().take(count).map(|entry| {
            Reply::Map(vec![
                (text("count"), Reply::Int(entry.count as i64)),
                (text("reason"), text(entry.reason.name())),
                (text("context"), text("toplevel")),
                (text("object"), text(&entry.object)),
                (text("username"), text(&entry.username)),
                (
                    text("age-seconds"),
                    Reply::Double(now.saturating_sub(entry.created_ms) as f64 / 1000.0),
                ),
                (text("client-info"), text(&entry.client_info)),
                (text("entry-id"), Reply::Int(entry.entry_id as i64)),
                (
                    text("timestamp-created"),
                    Reply::Int(entry.created_ms as i64),
                ),
                (
                    text("timestamp-last-updated"),
                    Reply::Int(entry.updated_ms as i64),
                ),
            ])
        });
        Reply::Array(entries.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> String {
        "id=7 addr= name= db=0 user=app resp=2".to_string()
    }

    #[test]
    fn like_refusals_group_and_the_ring_is_bounded() {
        let stats = Arc::new(ServerStats::default());
        let mut log = AclLog::new(2, stats.clone());
        log.add(Reason::Command, "flushall".into(), "app".into(), client());
        log.add(Reason::Command, "flushall".into(), "app".into(), client());
        assert_eq!(log.entries.len(), 1);
        assert_eq!(log.entries[0].count, 2);
        log.add(Reason::Key, "a".into(), "app".into(), client());
        log.add(Reason::Key, "b".into(), "app".into(), client());
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[0].object, "b");
        assert_eq!(log.entries[1].object, "a");
        let Reply::Array(entries) = log.reply(1) else {
            panic!("not an array");
        };
        assert_eq!(entries.len(), 1);
        log.reset();
        assert_eq!(log.reply(10), Reply::Array(Vec::new()));
    }
}
