//! The watch registry: which connection watches which keys (`WATCH`), and
//! whether any of them changed since, for the connection's next `EXEC`.
//! Owned by the engine, which tells it of every key an effect changes (the
//! same feed as the wait registry, `wait.rs`), so a change by any client,
//! a timer or a flush makes the transaction fail, as in Redis.
//!
//! Bounded by `watched_keys_max` keys, all connections together.

use std::collections::HashMap;

use bytes::Bytes;
use smallvec::SmallVec;
use usher_protocol::{ErrorCode, ServerError};

/// One connection's watched keys.
#[derive(Debug, Default)]
struct Watching {
    keys: Vec<Bytes>,
    /// Deadlines the keys had when watched (index-aligned with `keys`): a
    /// key whose deadline passes before EXEC changed, even if no timer has
    /// removed it yet.
    deadlines: Vec<Option<u64>>,
    /// A watched key changed.
    dirty: bool,
}

#[derive(Debug, Default)]
pub struct WatchRegistry {
    /// Watchers by key (connection indexes), so a change finds them.
    by_key: HashMap<Bytes, SmallVec<[usize; 2]>>,
    by_peer: HashMap<usize, Watching>,
    /// Keys watched, all connections together.
    watched: usize,
    limit: usize,
}

impl WatchRegistry {
    pub fn new(watched_keys_max: usize) -> WatchRegistry {
        WatchRegistry {
            limit: watched_keys_max,
            ..WatchRegistry::default()
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// Keys watched now, all connections together.
    pub fn len(&self) -> usize {
        self.watched
    }

    /// Connection `peer` watches `keys`, each with the deadline it has now.
    /// A LIMIT error, and nothing watched, past `watched_keys_max`.
    pub fn watch(
        &mut self,
        peer: usize,
        keys: impl ExactSizeIterator<Item = (Bytes, Option<u64>)>,
    ) -> Result<(), ServerError> {
        if self.watched + keys.len() > self.limit {
            return Err(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR watched_keys_max ({}) reached: too many keys are watched, retry later",
                    self.limit
                ),
            ));
        }
        let watching = self.by_peer.entry(peer).or_default();
        for (key, deadline) in keys {
            if watching.keys.contains(&key) {
                continue;
            }
            self.by_key.entry(key.clone()).or_default().push(peer);
            watching.keys.push(key);
            watching.deadlines.push(deadline);
            self.watched += 1;
        }
        Ok(())
    }

    /// Forgets what `peer` watches; returns whether a watched key changed
    /// (its EXEC fails), judged at `now_ms` for keys that had a deadline.
    pub fn unwatch(&mut self, peer: usize, now_ms: u64) -> bool {
        let Some(watching) = self.by_peer.remove(&peer) else {
            return false;
        };
        self.watched -= watching.keys.len();
        for key in &watching.keys {
            if let Some(peers) = self.by_key.get_mut(key) {
                peers.retain(|&mut watcher| watcher != peer);
                if peers.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
        let lapsed = watching
            .deadlines
            .iter()
            .any(|deadline| deadline.is_some_and(|at| at <= now_ms));
        watching.dirty || lapsed
    }

    /// An effect changed `key`.
    #[inline]
    pub fn key_changed(&mut self, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(peers) = self.by_key.get(key) {
            for peer in peers {
                if let Some(watching) = self.by_peer.get_mut(peer) {
                    watching.dirty = true;
                }
            }
        }
    }

    /// Every key changed (`FLUSHALL`).
    pub fn all_keys_changed(&mut self) {
        for watching in self.by_peer.values_mut() {
            watching.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(
        names: &'a [&'static str],
    ) -> impl ExactSizeIterator<Item = (Bytes, Option<u64>)> + 'a {
        names
            .iter()
            .map(|name| (Bytes::from_static(name.as_bytes()), None))
    }

    #[test]
    fn a_change_marks_only_the_watchers_of_that_key() {
        let mut registry = WatchRegistry::new(10);
        registry.watch(1, keys(&["a", "b"])).unwrap();
        registry.watch(2, keys(&["c"])).unwrap();
        registry.key_changed(b"b");
        assert!(registry.unwatch(1, 0));
        assert!(!registry.unwatch(2, 0));
        assert!(registry.is_empty());
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn the_limit_counts_every_connection_and_refuses_whole_watches() {
        let mut registry = WatchRegistry::new(3);
        registry.watch(1, keys(&["a", "b"])).unwrap();
        let error = registry.watch(2, keys(&["c", "d"])).unwrap_err();
        assert_eq!(error.code, ErrorCode::Limit);
        assert_eq!(registry.len(), 2);
        // Watching a key twice counts it once.
        registry.watch(1, keys(&["a"])).unwrap();
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn a_passed_deadline_counts_as_a_change_and_flush_marks_everyone() {
        let mut registry = WatchRegistry::new(10);
        registry
            .watch(1, [(Bytes::from_static(b"a"), Some(100))].into_iter())
            .unwrap();
        assert!(!registry.unwatch(1, 99));
        registry
            .watch(1, [(Bytes::from_static(b"a"), Some(100))].into_iter())
            .unwrap();
        assert!(registry.unwatch(1, 100));
        registry.watch(3, keys(&["x"])).unwrap();
        registry.all_keys_changed();
        assert!(registry.unwatch(3, 0));
    }
}
