//! The [`IdempotencyTable`]: remembered `REQ` replies by id, with their
//! deadlines in order, and the one function through which time forgets
//! an entry ([`IdempotencyTable::forget_expired`]).

use std::collections::BTreeSet;

use bytes::Bytes;
use indexmap::IndexMap;
use usher_protocol::Reply;

use super::effects::ReqEffect;
use crate::state::record::Log;

/// One remembered outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Remembered {
    /// Fingerprint of the command that ran under this id.
    pub fingerprint: u64,
    /// Absolute Unix milliseconds; the entry exists while `now < deadline`.
    pub deadline_ms: u64,
    pub reply: Reply,
}

/// Remembered replies by id, with their deadlines in order. The map keeps
/// entries at positions (removal swaps the last entry into the hole), so a
/// snapshot can walk it downwards while it changes and still visit every
/// entry that lives through the walk, as it does for keys.
#[derive(Clone, Debug, Default)]
pub struct IdempotencyTable {
    pub(super) entries: IndexMap<Bytes, Remembered, foldhash::fast::RandomState>,
    by_deadline: BTreeSet<(u64, Bytes)>,
    /// Entries dropped because their deadline passed.
    pub expired_total: u64,
}

impl PartialEq for IdempotencyTable {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl IdempotencyTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The live entry for `id`; an entry past its deadline is forgotten on
    /// the way.
    pub fn get(
        &mut self,
        id: &[u8],
        now_ms: u64,
        log: &mut impl Log<ReqEffect>,
    ) -> Option<&Remembered> {
        let deadline = self.entries.get(id)?.deadline_ms;
        if deadline <= now_ms {
            self.forget_expired(id, log);
            return None;
        }
        self.entries.get(id)
    }

    /// Remembers a reply; `id` must not be present.
    pub fn remember(
        &mut self,
        id: &[u8],
        fingerprint: u64,
        deadline_ms: u64,
        reply: Reply,
        log: &mut impl Log<ReqEffect>,
    ) {
        // Our own copy: the id may be a slice of a network buffer, which it
        // would otherwise keep alive.
        let id = Bytes::copy_from_slice(id);
        log.record(|_| ReqEffect::Remember {
            id: id.clone(),
            fingerprint,
            deadline_ms,
            reply: reply.clone(),
        });
        let old = self.insert(id, fingerprint, deadline_ms, reply);
        assert!(old.is_none(), "an id is remembered twice");
    }

    /// Inserts or replaces an entry; returns the one replaced.
    pub(super) fn insert(
        &mut self,
        id: Bytes,
        fingerprint: u64,
        deadline_ms: u64,
        reply: Reply,
    ) -> Option<Remembered> {
        self.by_deadline.insert((deadline_ms, id.clone()));
        let old = self.entries.insert(
            id.clone(),
            Remembered {
                fingerprint,
                deadline_ms,
                reply,
            },
        );
        if let Some(old) = &old {
            if old.deadline_ms != deadline_ms {
                self.by_deadline.remove(&(old.deadline_ms, id));
            }
        }
        old
    }

    /// Puts an entry read from a snapshot in place, replacing an earlier
    /// capture of the same id.
    pub fn restore(&mut self, id: Bytes, fingerprint: u64, deadline_ms: u64, reply: Reply) {
        self.insert(id, fingerprint, deadline_ms, reply);
    }

    /// Drops the entry for `id` because its deadline passed: the only way
    /// time changes the table, recorded as a `ReqForget` effect.
    pub fn forget_expired(&mut self, id: &[u8], log: &mut impl Log<ReqEffect>) {
        let Some((id, entry)) = self.entries.swap_remove_entry(id) else {
            return;
        };
        log.record(|_| ReqEffect::Forget { id: id.clone() });
        let removed = self.by_deadline.remove(&(entry.deadline_ms, id));
        assert!(removed, "idempotency deadline index out of step");
        self.expired_total += 1;
    }

    /// Keeps only the entries `keep` approves (recovery's FlushAll replay).
    pub fn retain_ids(&mut self, keep: impl Fn(&[u8]) -> bool) {
        self.entries.retain(|id, _| keep(id));
        self.by_deadline.retain(|(_, id)| keep(id));
    }

    /// The entry at a position (for snapshots); `None` past the end.
    pub fn at(&self, index: usize) -> Option<(&Bytes, &Remembered)> {
        self.entries.get_index(index)
    }

    /// The earliest deadline, for the engine's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// Forgets up to `max_items` entries whose deadline is at or before
    /// `now_ms`; returns how many.
    pub fn expire_due(
        &mut self,
        now_ms: u64,
        max_items: usize,
        log: &mut impl Log<ReqEffect>,
    ) -> usize {
        let mut forgotten = 0;
        while forgotten < max_items {
            let id = match self.by_deadline.first() {
                Some((deadline, id)) if *deadline <= now_ms => id.clone(),
                _ => break,
            };
            self.forget_expired(&id, log);
            forgotten += 1;
        }
        forgotten
    }

    /// Every entry, in position order (for tests).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Remembered)> {
        self.entries.iter()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_deadline.clear();
    }

    /// Asserts that the map and the deadline index agree.
    pub fn check_invariants(&self) {
        assert_eq!(
            self.entries.len(),
            self.by_deadline.len(),
            "idempotency deadline index out of step"
        );
        for (deadline, id) in &self.by_deadline {
            let entry = self.entries.get(id);
            assert!(
                entry.is_some_and(|entry| entry.deadline_ms == *deadline),
                "idempotency deadline index names a missing entry"
            );
        }
    }
}
