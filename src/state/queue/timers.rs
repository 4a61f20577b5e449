//! The queue timer index: which queues have time-driven work (an
//! admission or an expiry), and when, so the engine's timer finds them
//! without scanning the keyspace.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::room::Queue;

/// `(due_ms, key)` for every queue with time-driven work, so the engine
/// finds the next one without looking at every queue. An entry whose queue
/// was deleted, replaced or re-timed is stale; it is recognised (the queue's
/// own `timer_due` differs) and dropped when it comes up.
#[derive(Clone, Debug, Default)]
pub struct QueueTimers {
    pub(super) due: BTreeSet<(u64, Bytes)>,
}

impl QueueTimers {
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(due, _)| *due)
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    pub fn clear(&mut self) {
        self.due.clear();
    }

    /// Re-registers a queue under its current next due time.
    pub(super) fn sync(&mut self, key: &[u8], queue: &mut Queue, now_ms: u64) {
        self.register(key, queue, queue.next_due(now_ms));
    }

    pub(super) fn register(&mut self, key: &[u8], queue: &mut Queue, next: Option<u64>) {
        if next == queue.timer_due {
            return;
        }
        let key = Bytes::copy_from_slice(key);
        if let Some(old) = queue.timer_due {
            self.due.remove(&(old, key.clone()));
        }
        if let Some(due) = next {
            self.due.insert((due, key));
        }
        queue.timer_due = next;
    }
}
