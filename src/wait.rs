//! The wait registry: requests of blocking commands parked until a key they
//! wait on changes or their deadline passes (Redis's `blocked.c`). Owned by
//! the engine thread, inside the engine; the reactor only says where each
//! reply goes ([`ReplyTo`]).
//!
//! A request waits on keys and, for blocking commands that wait on
//! something that is not a key (a lock's release), on named conditions.
//! Waiters of one key or condition are served in the order they parked:
//! when it changes, the first is re-run; if it still cannot go ahead it
//! keeps its place and the ones behind it wait too (no overtaking), so one
//! change costs one attempt, however many wait. A deadline is absolute,
//! in engine milliseconds; none means wait forever.
//!
//! Ids only grow, so a deadline entry or a queue slot names one waiter for
//! good. Every structure here is bounded by `blocked_clients_max` waiters.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use usher_protocol::{ErrorCode, Request, ServerError};

use crate::connection::Codec;

/// Where a parked request's reply goes once it is answered: the reactor's
/// connection slot, and the frame's id and codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub peer: usize,
    pub request_id: u64,
    pub codec: Codec,
}

/// What a waiter waits on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitOn {
    /// A change of this key (any effect on it).
    Key(Bytes),
    /// A condition signalled by name ([`WaitRegistry::signal`]).
    Condition(Bytes),
}

struct Waiter {
    to: ReplyTo,
    request: Request,
    on: Vec<WaitOn>,
    deadline_ms: Option<u64>,
}

#[derive(Default)]
pub struct WaitRegistry {
    waiters: HashMap<u64, Waiter>,
    /// Waiter ids per key, in parking order; a key is here only while some
    /// request waits on it.
    keys: HashMap<Bytes, VecDeque<u64>>,
    conditions: HashMap<Bytes, VecDeque<u64>>,
    /// The waiter parked by each connection (a blocked client parks one).
    by_peer: HashMap<usize, u64>,
    /// `(deadline_ms, id)` of waiters with a deadline.
    deadlines: BTreeSet<(u64, u64)>,
    /// Keys and conditions changed since the last serve, each once, in
    /// the order they changed; `queued` says which are in it.
    ready: VecDeque<WaitOn>,
    queued: HashSet<WaitOn>,
    next_id: u64,
    limit: usize,
}

impl WaitRegistry {
    pub fn new(blocked_clients_max: usize) -> WaitRegistry {
        WaitRegistry {
            limit: blocked_clients_max,
            ..WaitRegistry::default()
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Parks `request` on `on` until `deadline_ms`. A LIMIT error once
    /// `blocked_clients_max` requests wait.
    pub fn park(
        &mut self,
        to: ReplyTo,
        request: Request,
        on: Vec<WaitOn>,
        deadline_ms: Option<u64>,
    ) -> Result<(), ServerError> {
        if self.waiters.len() >= self.limit {
            return Err(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR blocked_clients_max ({}) reached: too many clients are blocked, retry later",
                    self.limit
                ),
            ));
        }
        assert!(
            !self.by_peer.contains_key(&to.peer),
            "a blocked connection parked a second request"
        );
        self.next_id += 1;
        let id = self.next_id;
        for target in &on {
            self.queues_mut(target)
                .entry(name(target).clone())
                .or_default()
                .push_back(id);
        }
        if let Some(deadline) = deadline_ms {
            self.deadlines.insert((deadline, id));
        }
        self.by_peer.insert(to.peer, id);
        self.waiters.insert(
            id,
            Waiter {
                to,
                request,
                on,
                deadline_ms,
            },
        );
        Ok(())
    }

    /// Notes that `key` changed, if anyone waits on it.
    #[inline]
    pub fn key_changed(&mut self, key: &[u8]) {
        if let Some((key, _)) = self.keys.get_key_value(key) {
            let target = WaitOn::Key(key.clone());
            self.mark_ready(target);
        }
    }

    /// Notes that every key changed (FLUSHALL).
    pub fn all_keys_changed(&mut self) {
        let keys: Vec<Bytes> = self.keys.keys().cloned().collect();
        for key in keys {
            self.mark_ready(WaitOn::Key(key));
        }
    }

    /// Wakes the waiters of a named condition (in order, as for a key).
    pub fn signal(&mut self, condition: &[u8]) {
        if let Some((name, _)) = self.conditions.get_key_value(condition) {
            let target = WaitOn::Condition(name.clone());
            self.mark_ready(target);
        }
    }

    /// Queues `target` to be served, once however often it changes.
    fn mark_ready(&mut self, target: WaitOn) {
        if self.queued.insert(target.clone()) {
            self.ready.push_back(target);
        }
    }

    /// The next changed key or condition to serve.
    pub fn next_ready(&mut self) -> Option<WaitOn> {
        let target = self.ready.pop_front()?;
        self.queued.remove(&target);
        Some(target)
    }

    /// Whether a change is waiting to be served.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The first waiter on `target` and its request, to re-run.
    pub fn first(&self, target: &WaitOn) -> Option<(u64, &Request)> {
        let queues = match target {
            WaitOn::Key(_) => &self.keys,
            WaitOn::Condition(_) => &self.conditions,
        };
        let id = *queues.get(name(target))?.front()?;
        Some((id, &self.waiters[&id].request))
    }

    /// Removes the waiter parked by connection `peer`, if any; returns
    /// where its reply was to go.
    pub fn remove_peer(&mut self, peer: usize) -> Option<ReplyTo> {
        let id = *self.by_peer.get(&peer)?;
        Some(self.remove(id).0)
    }

    /// Removes the waiters whose deadline is at or before `now_ms`, earliest
    /// first, into `expired`, each with its request (for its timeout reply).
    pub fn expire_due(&mut self, now_ms: u64, expired: &mut Vec<(ReplyTo, Request)>) {
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now_ms {
                break;
            }
            expired.push(self.remove(id));
        }
    }

    /// The earliest deadline of a waiter.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Removes waiter `id` from every index; returns its destination and
    /// request.
    pub fn remove(&mut self, id: u64) -> (ReplyTo, Request) {
        let Some(waiter) = self.waiters.remove(&id) else {
            panic!("waiter {id} is not parked");
        };
        for target in &waiter.on {
            let queues = self.queues_mut(target);
            let name = name(target);
            if let Some(queue) = queues.get_mut(name) {
                queue.retain(|&other| other != id);
                if queue.is_empty() {
                    queues.remove(name);
                }
            }
        }
        if let Some(deadline) = waiter.deadline_ms {
            self.deadlines.remove(&(deadline, id));
        }
        let removed = self.by_peer.remove(&waiter.to.peer);
        assert_eq!(removed, Some(id), "the peer index names another waiter");
        (waiter.to, waiter.request)
    }

    /// The waiter queues of `target`'s kind (keys or conditions).
    fn queues_mut(&mut self, target: &WaitOn) -> &mut HashMap<Bytes, VecDeque<u64>> {
        match target {
            WaitOn::Key(_) => &mut self.keys,
            WaitOn::Condition(_) => &mut self.conditions,
        }
    }

    /// Asserts that the indexes agree; for tests. Costs O(waiters).
    pub fn check_invariants(&self) {
        assert_eq!(self.by_peer.len(), self.waiters.len());
        let queued: usize = self
            .keys
            .values()
            .chain(self.conditions.values())
            .map(VecDeque::len)
            .sum();
        let expected: usize = self.waiters.values().map(|w| w.on.len()).sum();
        assert_eq!(queued, expected, "a waiter is missing from a queue");
        let timed = self
            .waiters
            .values()
            .filter(|w| w.deadline_ms.is_some())
            .count();
        assert_eq!(timed, self.deadlines.len(), "deadline index out of date");
        assert!(self.waiters.len() <= self.limit);
        assert_eq!(
            self.ready.len(),
            self.queued.len(),
            "a change is queued twice"
        );
    }
}

fn name(target: &WaitOn) -> &Bytes {
    match target {
        WaitOn::Key(name) | WaitOn::Condition(name) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_protocol::resp::RespVersion;

    fn to(peer: usize) -> ReplyTo {
        ReplyTo {
            peer,
            request_id: 0,
            codec: Codec::Resp(RespVersion::Resp2),
        }
    }

    fn key(name: &'static str) -> WaitOn {
        WaitOn::Key(Bytes::from_static(name.as_bytes()))
    }

    #[test]
    fn serves_in_parking_order_and_forgets_removed_waiters() {
        let mut registry = WaitRegistry::new(3);
        for peer in 0..3 {
            registry
                .park(
                    to(peer),
                    Request::DbSize,
                    vec![key("k"), key("j")],
                    Some(10 + peer as u64),
                )
                .unwrap();
        }
        let error = registry
            .park(to(9), Request::DbSize, vec![key("k")], None)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::Limit);
        registry.check_invariants();
        assert_eq!(registry.remove_peer(0).map(|t| t.peer), Some(0));
        registry.key_changed(b"k");
        registry.key_changed(b"k");
        registry.key_changed(b"absent");
        assert_eq!(registry.next_ready(), Some(key("k")));
        assert_eq!(registry.next_ready(), None);
        let (id, _) = registry.first(&key("k")).unwrap();
        assert_eq!(registry.remove(id).0.peer, 1);
        let mut expired = Vec::new();
        registry.expire_due(11, &mut expired);
        assert!(expired.is_empty());
        registry.expire_due(12, &mut expired);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0.peer, 2);
        assert!(registry.is_empty());
        assert!(registry.keys.is_empty() && registry.deadlines.is_empty());
        registry.check_invariants();
    }

    #[test]
    fn a_condition_wakes_only_its_own_waiters_and_a_flush_wakes_every_key() {
        let mut registry = WaitRegistry::new(4);
        let lock = WaitOn::Condition(Bytes::from_static(b"lock"));
        registry
            .park(to(0), Request::DbSize, vec![lock.clone()], None)
            .unwrap();
        registry
            .park(to(1), Request::DbSize, vec![key("lock")], None)
            .unwrap();
        registry
            .park(to(2), Request::DbSize, vec![key("other")], None)
            .unwrap();
        // A key and a condition of the same name are different things.
        registry.signal(b"lock");
        assert_eq!(registry.next_ready(), Some(lock.clone()));
        assert_eq!(registry.next_ready(), None);
        assert_eq!(registry.first(&lock).map(|(id, _)| id), Some(1));
        registry.all_keys_changed();
        let mut ready = vec![registry.next_ready(), registry.next_ready()];
        ready.sort_by_key(|target| format!("{target:?}"));
        assert_eq!(ready, vec![Some(key("lock")), Some(key("other"))]);
        assert_eq!(registry.next_ready(), None);
        assert_eq!(registry.next_deadline(), None);
        registry.check_invariants();
    }
}
