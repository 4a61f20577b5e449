//! Exactly-once retries: `REQ id command [args ...]` and the table of
//! remembered replies behind it (the binary protocol's idempotency key
//! arrives here as the same request).
//!
//! The first time an id is seen the command runs and its reply, whatever it
//! is (errors included: they are that attempt's outcome), is remembered with
//! a deadline of now + `idempotency_window_ms`. A repeat of the id before
//! the deadline returns the remembered reply unchanged and changes nothing.
//! The same id with a different command (a different [`fingerprint`]) is
//! refused with `IdempotencyMismatch` rather than answered with a reply that
//! belongs to another command. After the deadline the id is forgotten and
//! may be used again.
//!
//! The table holds at most `idempotency_entries_max` entries. When it is
//! full, entries past their deadline are dropped first; if it is still full
//! the command is refused (and does not run) with a `Limit` error.
//!
//! Durability: the entries are part of the state, so they survive a
//! restart. They are not keys; their effects name ids (see `effect.rs`):
//! - `ReqRemember { id, fingerprint, deadline_ms, reply }`, recorded after
//!   the wrapped command's own effects in the same batch, so group commit
//!   makes the effect and the memory of it durable together before the
//!   client sees the reply;
//! - `ReqForget { id }`, recorded by [`IdempotencyTable::forget_expired`],
//!   the one function through which time removes an entry (timer, access,
//!   or making room);
//! - FLUSHALL forgets every entry (its one `FlushAll` effect says so);
//! - snapshots hold every entry with the log position it was captured at,
//!   walked by position like keys ([`IdempotencyTable::at`]).
//!
//! Replay needs no clock: deadlines are absolute.
//!
//! [`fingerprint`]: usher_protocol::request::fingerprint

use std::collections::BTreeSet;

use bytes::Bytes;
use indexmap::IndexMap;
use usher_protocol::{ErrorCode, Reply, Request, ServerError};

use super::effect::{Effect, ReplayError};
use super::keyspace::Recorder;
use super::State;

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
    entries: IndexMap<Bytes, Remembered, foldhash::fast::RandomState>,
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
    pub fn get(&mut self, id: &[u8], now_ms: u64, log: &mut Recorder<'_>) -> Option<&Remembered> {
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
        log: &mut Recorder<'_>,
    ) {
        // Our own copy: the id may be a slice of a network buffer, which it
        // would otherwise keep alive.
        let id = Bytes::copy_from_slice(id);
        log.record(|_| Effect::ReqRemember {
            id: id.clone(),
            fingerprint,
            deadline_ms,
            reply: reply.clone(),
        });
        let old = self.insert(id, fingerprint, deadline_ms, reply);
        assert!(old.is_none(), "an id is remembered twice");
    }

    /// Inserts or replaces an entry; returns the one replaced.
    fn insert(
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
    pub fn forget_expired(&mut self, id: &[u8], log: &mut Recorder<'_>) {
        let Some((id, entry)) = self.entries.swap_remove_entry(id) else {
            return;
        };
        log.record(|_| Effect::ReqForget { id: id.clone() });
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
    pub fn expire_due(&mut self, now_ms: u64, max_items: usize, log: &mut Recorder<'_>) -> usize {
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

/// ```text
/// REQ id command [args ...]
/// ```
/// The command's reply, run at most once per `id` within the window: a
/// repeat returns the remembered reply and changes nothing. Errors:
/// `IdempotencyMismatch` when the id was used for another command, `Limit`
/// when the table is full of live entries (the command does not run).
pub fn req(
    state: &mut State,
    id: &Bytes,
    fingerprint: u64,
    command: &Request,
    now_ms: u64,
) -> Reply {
    if let Some(entry) = state
        .idempotency
        .get(id, now_ms, &mut state.keyspace.recorder())
    {
        if entry.fingerprint != fingerprint {
            return Reply::Error(ServerError::new_static(
                ErrorCode::IdempotencyMismatch,
                "ERR this REQ id was already used for a different command within the idempotency window",
            ));
        }
        return entry.reply.clone();
    }
    if matches!(command, Request::Req { .. }) {
        return Reply::Error(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR REQ wraps data commands only, not connection commands, INFO or another REQ",
        ));
    }
    let limits = state.limits;
    if state.idempotency.len() >= limits.idempotency_entries_max {
        state
            .idempotency
            .expire_due(now_ms, usize::MAX, &mut state.keyspace.recorder());
        if state.idempotency.len() >= limits.idempotency_entries_max {
            return Reply::Error(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR the idempotency table is full ({} live entries, idempotency_entries_max); the command did not run",
                    limits.idempotency_entries_max
                ),
            ));
        }
    }
    let deadline = now_ms.saturating_add(limits.idempotency_window_ms);
    let reply = state.execute(command, now_ms);
    state.idempotency.remember(
        id,
        fingerprint,
        deadline,
        reply.clone(),
        &mut state.keyspace.recorder(),
    );
    reply
}

/// Applies a logged `REQ` effect (see [`State::replay`]). Forgetting an id
/// that is not there is no change (a snapshot did not capture it because
/// it was forgotten while the snapshot ran); remembering one twice is an
/// error.
pub(super) fn replay(state: &mut State, effect: &Effect) -> Result<(), ReplayError> {
    match effect {
        Effect::ReqRemember {
            id,
            fingerprint,
            deadline_ms,
            reply,
        } => {
            if *deadline_ms == 0 || state.idempotency.entries.contains_key(&id[..]) {
                return Err(ReplayError(format!(
                    "REQ id {id:?} is remembered twice or without a deadline"
                )));
            }
            state
                .idempotency
                .insert(id.clone(), *fingerprint, *deadline_ms, reply.clone());
        }
        // Replay runs with recording off, so this records nothing.
        Effect::ReqForget { id } => state
            .idempotency
            .forget_expired(id, &mut state.keyspace.recorder()),
        _ => {}
    }
    Ok(())
}
