//! The [`Queue`] structure: its members, line, active deadlines, settings,
//! rate window and counters; the two functions through which time changes
//! it ([`Queue::admit_one`], [`Queue::expire_one`]), each recording its own
//! effect; and its value encoding.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use bytes::Bytes;
use usher_protocol::reply::Word;
use usher_protocol::Reply;

use super::effects::{get_settings, put_settings, QueueEffect, QueueSettings};
use super::members::*;
use crate::encoding::{put_bytes, sampled_average, DecodeError, Reader};
use crate::state::record::Log;

/// Waiting members from which `QUEUE.CLOSE` rebuilds the member table
/// from the active ones instead of removing the waiting ones one by one
/// (when fewer are active than waiting); see [`Queue::close_line`].
pub(super) const CLOSE_REBUILD_WAITING_MIN: usize = 4096;

/// The member table and line a `QUEUE.CLOSE` set aside, for the engine to
/// free off its thread (held only to be dropped).
pub struct ClosedLine {
    pub(super) members: Members,
    pub(super) _line: WaitLine,
}

impl ClosedLine {
    /// Members in the old table: the graveyard's measure of its size.
    pub fn items(&self) -> usize {
        self.members.live
    }
}

/// Where a member stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// 1-based position in line.
    Waiting(u64),
    /// Admitted; absolute deadline in Unix ms, `None` = no expiry.
    Active(Option<u64>),
    None,
}

/// A waiting room. See the module documentation.
#[derive(Clone)]
pub struct Queue {
    /// Seed of the member hash index, kept for serialization.
    pub(super) seed: u64,
    /// Most active members at once; 0 = no limit.
    pub(super) capacity: u64,
    /// Most members admitted automatically per rate window; 0 = no rate.
    pub(super) rate_members: u64,
    pub(super) rate_period_ms: u64,
    /// Start of rate window 0.
    pub(super) rate_anchor_ms: u64,
    /// Lifetime of an admission; 0 = no expiry.
    pub(super) ttl_ms: u64,
    pub(super) closed: bool,
    pub(super) members: Members,
    pub(super) line: WaitLine,
    /// `(deadline_ms, slot)` of every active member with a deadline.
    pub(super) deadlines: BTreeSet<(u64, u64, u32)>,
    pub(super) active: u64,
    /// The rate window `admitted_in_window` counts for.
    pub(super) window: u64,
    pub(super) admitted_in_window: u64,
    pub(super) history: AdmissionHistory,
    pub(super) joined_total: u64,
    pub(super) admitted_total: u64,
    pub(super) expired_total: u64,
    pub(super) left_total: u64,
    pub(super) dropped_total: u64,
    /// The due time this queue is registered under in [`QueueTimers`].
    pub(super) timer_due: Option<u64>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("waiting", &self.line.waiting)
            .field("active", &self.active)
            .field("capacity", &self.capacity)
            .field("rate_members", &self.rate_members)
            .field("rate_period_ms", &self.rate_period_ms)
            .field("ttl_ms", &self.ttl_ms)
            .field("closed", &self.closed)
            .finish()
    }
}

/// Queues are equal when their settings, counters, waiting lines (ids in
/// order) and active members (ids with deadlines) are, whatever the layout.
impl PartialEq for Queue {
    fn eq(&self, other: &Queue) -> bool {
        let settings = |q: &Queue| {
            (
                q.capacity,
                q.rate_members,
                q.rate_period_ms,
                q.rate_anchor_ms,
                q.ttl_ms,
                q.closed,
                q.window,
                q.admitted_in_window,
                q.active,
            )
        };
        let counters = |q: &Queue| {
            (
                q.joined_total,
                q.admitted_total,
                q.expired_total,
                q.left_total,
                q.dropped_total,
            )
        };
        settings(self) == settings(other)
            && counters(self) == counters(other)
            && self.history == other.history
            && self.waiting_members().eq(other.waiting_members())
            && self.active_members() == other.active_members()
    }
}

impl Queue {
    /// Starts loading where `member`'s entry lives, for a QUEUE.JOIN or
    /// QUEUE.POS about to run (see `State::prefetch`). Changes nothing.
    pub fn prefetch(&self, member: &[u8]) {
        self.members.prefetch(member);
    }

    pub fn new(seed: u64) -> Queue {
        Queue {
            seed,
            capacity: 0,
            rate_members: 0,
            rate_period_ms: 0,
            rate_anchor_ms: 0,
            ttl_ms: 0,
            closed: false,
            members: Members::new(seed),
            line: WaitLine::new(),
            deadlines: BTreeSet::new(),
            active: 0,
            window: 0,
            admitted_in_window: 0,
            history: AdmissionHistory::new(),
            joined_total: 0,
            admitted_total: 0,
            expired_total: 0,
            left_total: 0,
            dropped_total: 0,
            timer_due: None,
        }
    }

    pub fn waiting(&self) -> usize {
        self.line.waiting
    }

    pub fn active(&self) -> u64 {
        self.active
    }

    /// Bytes of arena chunks allocated for member ids (for memory figures
    /// and tests: evacuation gives chunks back as members go).
    pub fn arena_bytes(&self) -> usize {
        self.members.chunks.iter().flatten().count() * CHUNK_BYTES
    }

    /// Waiting member ids, oldest first.
    pub fn waiting_members(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.line.iter().map(|slot| self.members.bytes(slot))
    }

    /// Active member ids with their deadlines (0 = none), sorted by id.
    pub fn active_members(&self) -> Vec<(&[u8], u64)> {
        let mut active: Vec<(&[u8], u64)> = self
            .members
            .live_slots()
            .filter_map(|slot| {
                let tag = self.members.tag(slot);
                (tag & ACTIVE_BIT != 0).then(|| (self.members.bytes(slot), tag & !ACTIVE_BIT))
            })
            .collect();
        active.sort_unstable();
        active
    }

    /// Where a member stands, as of the last processed time.
    pub fn standing(&self, member: &[u8]) -> Standing {
        let Some(slot) = self.members.find(member) else {
            return Standing::None;
        };
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            Standing::Active((deadline != 0).then_some(deadline))
        } else {
            Standing::Waiting(self.line.position(tag))
        }
    }

    pub(super) fn automatic(&self) -> bool {
        self.capacity > 0 || self.rate_members > 0
    }

    /// Free active slots under CAPACITY.
    pub(super) fn room(&self) -> u64 {
        if self.capacity == 0 {
            u64::MAX
        } else {
            self.capacity.saturating_sub(self.active)
        }
    }

    pub(super) fn window_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.rate_anchor_ms) / self.rate_period_ms
    }

    /// Automatic admissions the RATE still allows in the window of `now_ms`.
    pub(super) fn rate_budget(&self, now_ms: u64) -> u64 {
        if self.rate_members == 0 {
            return u64::MAX;
        }
        if self.window_at(now_ms) != self.window {
            self.rate_members
        } else {
            self.rate_members.saturating_sub(self.admitted_in_window)
        }
    }

    pub(super) fn window_end(&self, now_ms: u64) -> u64 {
        self.rate_anchor_ms
            .saturating_add((self.window_at(now_ms) + 1).saturating_mul(self.rate_period_ms))
    }

    /// The settings and rate-window state, as a `QueueConfig` effect
    /// carries them.
    pub fn settings(&self) -> QueueSettings {
        QueueSettings {
            capacity: self.capacity,
            rate_members: self.rate_members,
            rate_period_ms: self.rate_period_ms,
            rate_anchor_ms: self.rate_anchor_ms,
            ttl_ms: self.ttl_ms,
            window: self.window,
            admitted_in_window: self.admitted_in_window,
        }
    }

    pub(super) fn set_settings(&mut self, settings: QueueSettings) {
        self.capacity = settings.capacity;
        self.rate_members = settings.rate_members;
        self.rate_period_ms = settings.rate_period_ms;
        self.rate_anchor_ms = settings.rate_anchor_ms;
        self.ttl_ms = settings.ttl_ms;
        self.window = settings.window;
        self.admitted_in_window = settings.admitted_in_window;
    }

    pub(super) fn member_bytes(&self, slot: u32) -> Bytes {
        Bytes::copy_from_slice(self.members.bytes(slot))
    }

    /// **Effect: admission.** Admits the oldest waiting member at `now_ms`
    /// with deadline `now + ttl` (none if TTL is 0); `automatic` admissions
    /// count against the RATE window. Logs `QueueAdmit`; returns the
    /// member's slot.
    pub(super) fn admit_one(
        &mut self,
        now_ms: u64,
        automatic: bool,
        recorder: &mut impl Log<QueueEffect>,
    ) -> Option<u32> {
        let (seq, slot) = self.line.front()?;
        let deadline = if self.ttl_ms > 0 {
            now_ms.saturating_add(self.ttl_ms)
        } else {
            0
        };
        self.admit_slot(seq, slot, now_ms, deadline, automatic);
        recorder.record(|key| QueueEffect::Admit {
            key,
            member: self.member_bytes(slot),
            at_ms: now_ms,
            deadline_ms: (deadline != 0).then_some(deadline),
            automatic,
        });
        Some(slot)
    }

    /// Moves a waiting member (sequence number `seq`) to the active set
    /// until `deadline` (0 = none); shared by [`Queue::admit_one`] and
    /// replay.
    pub(super) fn admit_slot(
        &mut self,
        seq: u64,
        slot: u32,
        now_ms: u64,
        deadline: u64,
        automatic: bool,
    ) {
        assert!(
            deadline & ACTIVE_BIT == 0,
            "admission deadline out of range"
        );
        self.line.remove(seq);
        if deadline != 0 {
            let entry = self.expiry_entry(deadline, slot);
            self.deadlines.insert(entry);
        }
        self.members.set_tag(slot, ACTIVE_BIT | deadline);
        self.active += 1;
        self.admitted_total += 1;
        self.history.record(now_ms);
        if automatic && self.rate_members > 0 {
            let window = self.window_at(now_ms);
            if window != self.window {
                self.window = window;
                self.admitted_in_window = 0;
            }
            self.admitted_in_window += 1;
        }
        self.renumber_if_sparse();
    }

    /// **Effect: expiry.** Removes an active member whose deadline passed;
    /// logs `QueueExpire`.
    pub(super) fn expire_one(
        &mut self,
        deadline_ms: u64,
        slot: u32,
        recorder: &mut impl Log<QueueEffect>,
    ) {
        recorder.record(|key| QueueEffect::Expire {
            key,
            member: self.member_bytes(slot),
        });
        self.expire_slot(deadline_ms, slot);
    }

    pub(super) fn expire_slot(&mut self, deadline_ms: u64, slot: u32) {
        let removed = self.deadlines.remove(&self.expiry_entry(deadline_ms, slot));
        assert!(removed, "expiring a member that has no such deadline");
        self.members.remove(slot);
        self.active -= 1;
        self.expired_total += 1;
    }

    /// Appends a member that is not in the queue to the line (QUEUE.JOIN).
    pub(super) fn join_member(&mut self, member: &[u8]) {
        self.push_waiting(member);
        self.joined_total += 1;
    }

    pub(super) fn push_waiting(&mut self, member: &[u8]) {
        let seq = self.line.next_seq();
        let slot = self.members.insert(member, seq);
        let pushed = self.line.push(slot);
        assert_eq!(seq, pushed);
    }

    /// Removes a waiting or active member (QUEUE.LEAVE).
    pub(super) fn leave_slot(&mut self, slot: u32) {
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 {
                let removed = self.deadlines.remove(&self.expiry_entry(deadline, slot));
                assert!(removed, "active member missing from the deadline set");
            }
            self.active -= 1;
        } else {
            self.line.remove(tag);
        }
        self.members.remove(slot);
        self.left_total += 1;
        self.renumber_if_sparse();
    }

    /// Gives an active member a new deadline (0 = none).
    pub(super) fn touch_slot(&mut self, slot: u32, deadline: u64) {
        assert!(deadline & ACTIVE_BIT == 0, "touch deadline out of range");
        let old = self.members.tag(slot) & !ACTIVE_BIT;
        if old != 0 {
            let removed = self.deadlines.remove(&self.expiry_entry(old, slot));
            assert!(removed, "active member missing from the deadline set");
        }
        if deadline != 0 {
            let entry = self.expiry_entry(deadline, slot);
            self.deadlines.insert(entry);
        }
        self.members.set_tag(slot, ACTIVE_BIT | deadline);
    }

    /// Closes the queue and drops every waiting member; returns how many,
    /// and what the engine should free off its thread.
    ///
    /// With more members waiting than active (the usual close: a crowd
    /// still in line, a few thousand admitted), the member table is rebuilt
    /// from the active members and the old one handed back whole, rather
    /// than removing the waiting members one by one: that stopped the
    /// engine for 237 ms at 2·10⁶ waiting (measured), and every client with
    /// it. Both ways leave the same queue (same members, deadlines and
    /// counters; slot numbers differ, which nothing observable depends on),
    /// and replay takes the same way as the original, as it sees the same
    /// counts.
    pub(super) fn close_line(&mut self) -> (usize, Option<ClosedLine>) {
        self.closed = true;
        let waiting = self.line.waiting;
        let next = self.line.next_seq();
        let mut line = WaitLine::new();
        line.base = next.div_ceil(BLOCK) * BLOCK;
        line.head = line.base;
        let old_line = std::mem::replace(&mut self.line, line);
        self.dropped_total += waiting as u64;
        if waiting < CLOSE_REBUILD_WAITING_MIN || waiting as u64 <= self.active {
            for slot in old_line.iter() {
                self.members.remove(slot);
            }
            return (waiting, None);
        }
        let mut kept = Members::new(self.seed);
        let mut deadlines = BTreeSet::new();
        for slot in self.members.live_slots() {
            let tag = self.members.tag(slot);
            if tag & ACTIVE_BIT == 0 {
                continue;
            }
            let member = self.members.bytes(slot);
            let moved = kept.insert(member, tag);
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 {
                deadlines.insert((deadline, kept.hasher.hash_one(member), moved));
            }
        }
        assert_eq!(
            kept.live as u64, self.active,
            "active count matches the table"
        );
        let members = std::mem::replace(&mut self.members, kept);
        self.deadlines = deadlines;
        (
            waiting,
            Some(ClosedLine {
                members,
                _line: old_line,
            }),
        )
    }

    /// The deadline set's entry for an active member.
    pub(super) fn expiry_entry(&self, deadline: u64, slot: u32) -> (u64, u64, u32) {
        let hash = self.members.hasher.hash_one(self.members.bytes(slot));
        (deadline, hash, slot)
    }

    pub(super) fn renumber_if_sparse(&mut self) {
        if self.line.needs_renumbering() {
            let members = &mut self.members;
            self.line
                .renumber(&mut |slot, seq| members.set_tag(slot, seq));
        }
    }

    /// Expires active members whose deadline is at or before `now_ms`,
    /// earliest first, at most `max`. Returns how many.
    pub(super) fn expire_due(
        &mut self,
        now_ms: u64,
        max: usize,
        recorder: &mut impl Log<QueueEffect>,
    ) -> usize {
        let mut done = 0;
        while done < max {
            match self.deadlines.first() {
                Some(&(deadline, _, slot)) if deadline <= now_ms => {
                    self.expire_one(deadline, slot, recorder);
                    done += 1;
                }
                _ => break,
            }
        }
        done
    }

    /// Admits automatically while CAPACITY and RATE allow, at most `max`.
    pub(super) fn admit_ready(
        &mut self,
        now_ms: u64,
        max: usize,
        recorder: &mut impl Log<QueueEffect>,
    ) -> usize {
        let mut done = 0;
        while done < max
            && self.automatic()
            && self.line.waiting > 0
            && self.room() > 0
            && self.rate_budget(now_ms) > 0
        {
            self.admit_one(now_ms, true, recorder);
            done += 1;
        }
        done
    }

    /// All time-driven work due at `now_ms`: expiries first (their slots are
    /// refilled by the admissions that follow), at most `max` effects.
    pub(super) fn run_due(
        &mut self,
        now_ms: u64,
        max: usize,
        recorder: &mut impl Log<QueueEffect>,
    ) -> usize {
        let expired = self.expire_due(now_ms, max, recorder);
        expired + self.admit_ready(now_ms, max - expired, recorder)
    }

    /// When this queue next has time-driven work: an active deadline, or
    /// an admission the RATE or CAPACITY will allow. `now_ms` (or earlier)
    /// means work is pending now.
    pub(super) fn next_due(&self, now_ms: u64) -> Option<u64> {
        let expiry = self.deadlines.first().map(|&(deadline, _, _)| deadline);
        let admission = if self.automatic() && self.line.waiting > 0 && self.room() > 0 {
            if self.rate_budget(now_ms) > 0 {
                Some(now_ms)
            } else {
                Some(self.window_end(now_ms))
            }
        } else {
            None
        };
        match (expiry, admission) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// [`Queue::next_due`] without a clock, for a queue rebuilt by replay:
    /// the earliest deadline, or 0 (due at once) when an admission may be
    /// possible, so the engine's first tick works out the real time.
    pub(super) fn next_due_unclocked(&self) -> Option<u64> {
        let expiry = self.deadlines.first().map(|&(deadline, _, _)| deadline);
        if self.automatic() && self.line.waiting > 0 && self.room() > 0 {
            Some(0)
        } else {
            expiry
        }
    }

    /// Expires one member now if its deadline passed, so a command about
    /// that member never sees it alive past its deadline.
    pub(super) fn expire_member_if_due(
        &mut self,
        member: &[u8],
        now_ms: u64,
        recorder: &mut impl Log<QueueEffect>,
    ) {
        let Some(slot) = self.members.find(member) else {
            return;
        };
        let tag = self.members.tag(slot);
        if tag & ACTIVE_BIT != 0 {
            let deadline = tag & !ACTIVE_BIT;
            if deadline != 0 && deadline <= now_ms {
                self.expire_one(deadline, slot, recorder);
            }
        }
    }

    /// Estimated milliseconds until the member at `position` is admitted;
    /// `None` when there is nothing to estimate from.
    pub(super) fn eta_ms(&self, position: u64, now_ms: u64) -> Option<u64> {
        if self.rate_members > 0 {
            let budget = self.rate_budget(now_ms);
            if position <= budget {
                return Some(0);
            }
            let windows = (position - budget).div_ceil(self.rate_members);
            let until_next = self.window_end(now_ms) - now_ms;
            return Some(
                until_next.saturating_add((windows - 1).saturating_mul(self.rate_period_ms)),
            );
        }
        let (admitted, span_ms) = self.history.observed(now_ms)?;
        Some((position.saturating_mul(span_ms)).div_ceil(admitted))
    }

    pub(super) fn standing_reply(&self, standing: Standing, now_ms: u64, with_eta: bool) -> Reply {
        match standing {
            Standing::Waiting(position) => {
                if with_eta {
                    let eta = self
                        .eta_ms(position, now_ms)
                        .map_or(-1, |eta| eta.min(i64::MAX as u64) as i64);
                    Reply::tuple(Some(Word::WaitingBulk), &[position as i64, eta], None)
                } else {
                    Reply::tuple(Some(Word::WaitingBulk), &[position as i64], None)
                }
            }
            Standing::Active(deadline) => Reply::tuple(
                Some(Word::ActiveBulk),
                &[deadline.map_or(-1, |d| d.saturating_sub(now_ms) as i64)],
                None,
            ),
            Standing::None => Reply::tuple(Some(Word::NoneBulk), &[], None),
        }
    }

    /// Serializes the whole queue (the `queue` rule in `effect.rs`).
    /// The encoding is canonical (waiting members in line order, active
    /// ones in expiry order, those without a deadline by id), so equal
    /// queues encode to equal bytes whatever their layout.
    /// About how many bytes [`Queue::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = sampled_average(
            self.line
                .iter()
                .chain(self.members.live_slots())
                .map(|slot| self.members.bytes(slot).len()),
        );
        let history = self.history.seconds.len() * 16;
        256 + history + self.line.waiting * (4 + average) + self.active as usize * (12 + average)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        put_settings(out, &self.settings());
        out.push(u8::from(self.closed));
        for counter in [
            self.joined_total,
            self.admitted_total,
            self.expired_total,
            self.left_total,
            self.dropped_total,
        ] {
            out.extend_from_slice(&counter.to_le_bytes());
        }
        let seconds = self.history.seconds.iter().zip(&self.history.counts);
        let recorded = || seconds.clone().filter(|(&second, _)| second != u64::MAX);
        out.extend_from_slice(&(recorded().count() as u32).to_le_bytes());
        for (second, count) in recorded() {
            out.extend_from_slice(&second.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&(self.line.waiting as u64).to_le_bytes());
        for slot in self.line.iter() {
            put_bytes(out, self.members.bytes(slot));
        }
        out.extend_from_slice(&self.active.to_le_bytes());
        for &(deadline, _, slot) in &self.deadlines {
            put_bytes(out, self.members.bytes(slot));
            out.extend_from_slice(&deadline.to_le_bytes());
        }
        let mut without_deadline: Vec<&[u8]> = self
            .members
            .live_slots()
            .filter(|&slot| self.members.tag(slot) == ACTIVE_BIT)
            .map(|slot| self.members.bytes(slot))
            .collect();
        without_deadline.sort_unstable();
        for member in without_deadline {
            put_bytes(out, member);
            out.extend_from_slice(&0u64.to_le_bytes());
        }
    }

    /// Rebuilds a queue from [`Queue::encode`]'s bytes: arena, hash index,
    /// line and Fenwick tree are built afresh. Refuses input that would
    /// break an invariant (repeated or oversized members, waiting members
    /// in a closed queue, deadlines out of range).
    pub fn decode(input: &mut Reader<'_>) -> Result<Queue, DecodeError> {
        let mut queue = Queue::new(input.u64()?);
        queue.set_settings(get_settings(input)?);
        queue.closed = input.flag()?;
        queue.joined_total = input.u64()?;
        queue.admitted_total = input.u64()?;
        queue.expired_total = input.u64()?;
        queue.left_total = input.u64()?;
        queue.dropped_total = input.u64()?;
        let recorded = input.u32()? as usize;
        if recorded > HISTORY_SECONDS {
            return Err(DecodeError(format!(
                "queue admission history of {recorded} seconds"
            )));
        }
        for _ in 0..recorded {
            let second = input.u64()?;
            let count = input.u32()?;
            let index = (second % HISTORY_SECONDS as u64) as usize;
            if second == u64::MAX || queue.history.seconds[index] != u64::MAX {
                return Err(DecodeError(
                    "queue admission history repeats a second".into(),
                ));
            }
            queue.history.seconds[index] = second;
            queue.history.counts[index] = count;
        }
        let waiting = input.u64()?;
        if queue.closed && waiting > 0 {
            return Err(DecodeError("closed queue with waiting members".into()));
        }
        for _ in 0..waiting {
            let member = input.slice()?;
            queue.check_new_member(member)?;
            queue.push_waiting(member);
        }
        let active = input.u64()?;
        for _ in 0..active {
            let member = input.slice()?;
            let deadline = input.u64()?;
            queue.check_new_member(member)?;
            if deadline & ACTIVE_BIT != 0 {
                return Err(DecodeError(format!(
                    "queue deadline {deadline} out of range"
                )));
            }
            let slot = queue.members.insert(member, ACTIVE_BIT | deadline);
            if deadline != 0 {
                let entry = queue.expiry_entry(deadline, slot);
                queue.deadlines.insert(entry);
            }
            queue.active += 1;
        }
        Ok(queue)
    }

    pub(super) fn check_new_member(&self, member: &[u8]) -> Result<(), DecodeError> {
        if member.len() > QUEUE_MEMBER_BYTES_LIMIT {
            return Err(DecodeError(format!(
                "queue member of {} bytes",
                member.len()
            )));
        }
        if self.members.find(member).is_some() {
            return Err(DecodeError("queue member repeated".into()));
        }
        Ok(())
    }

    /// Checks every internal invariant; for tests.
    pub fn check_invariants(&self) {
        self.members.check_invariants();
        self.line.check_invariants();
        let mut waiting = 0;
        let mut active = 0;
        let mut with_deadline = 0;
        for slot in self.members.live_slots() {
            let tag = self.members.tag(slot);
            if tag & ACTIVE_BIT != 0 {
                active += 1;
                let deadline = tag & !ACTIVE_BIT;
                if deadline != 0 {
                    with_deadline += 1;
                    assert!(
                        self.deadlines.contains(&self.expiry_entry(deadline, slot)),
                        "active member missing from the deadline set"
                    );
                }
            } else {
                waiting += 1;
                assert_eq!(self.line.slot_at(tag), slot, "line and slot disagree");
            }
        }
        assert_eq!(waiting, self.line.waiting, "waiting count wrong");
        assert_eq!(active, self.active, "active count wrong");
        assert_eq!(with_deadline, self.deadlines.len(), "stray deadlines");
        if self.closed {
            assert_eq!(self.line.waiting, 0, "a closed queue has waiting members");
        }
    }
}
