//! The [`SeatMap`] structure: one word per seat, a holder table of seat
//! lists, the `apply_*` functions through which commands and replay change
//! it, and its value encoding (see the module documentation of [`super`]).

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;
use usher_protocol::reply::Word;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::{SeatEffect, SeatList};
use crate::encoding::{put_bytes, DecodeError, Reader};
use crate::state::holders::{HolderTable, Restored};
use crate::state::record::Log;

/// Top bit of a seat's word: the seat is sold (the rest names the owner).
pub(super) const SOLD: u32 = 1 << 31;

/// Full invariant checks after every change run in debug builds for maps up
/// to this many seats (bigger maps would make debug tests crawl).
pub(super) const DEBUG_CHECK_SEATS_MAX: usize = 4096;

/// The default `LIMIT`: most seats one holder may hold or buy.
pub const DEFAULT_LIMIT: u64 = 3;

/// Slot markers in the whole-map encoding.
pub(super) const SLOT_FREE: u8 = 0;
pub(super) const SLOT_USED: u8 = 1;

/// In a holder's seat list, the bit that marks a sold seat (seat numbers
/// are below 2³¹). The list alone then tells held from sold, so a holder's
/// slot keeps no counts: 8 bytes less per holder slot (24 instead of 32),
/// 1 B per seat at 10 seats per holder.
pub(super) const LISTED_SOLD: u32 = 1 << 31;

/// How many seats a holder holds and has bought, counted from its list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SeatCounts {
    pub(super) held: u32,
    pub(super) sold: u32,
}

impl SeatCounts {
    pub(super) fn of(payload: &[u8]) -> SeatCounts {
        let listed = (payload.len() / 4) as u32;
        let sold = entries(payload)
            .filter(|entry| entry & LISTED_SOLD != 0)
            .count() as u32;
        SeatCounts {
            held: listed - sold,
            sold,
        }
    }
}

/// What one seat is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seat {
    Free,
    Held(u32),
    Sold(u32),
}

pub(super) fn decode(word: u32) -> Seat {
    match word {
        0 => Seat::Free,
        word if word & SOLD != 0 => Seat::Sold((word & !SOLD) - 1),
        word => Seat::Held(word - 1),
    }
}

/// The little-endian `u32`s of a payload or of an encoded seat list.
pub(super) fn entries(payload: &[u8]) -> impl Iterator<Item = u32> + '_ {
    payload
        .chunks_exact(4)
        .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
}

/// A seat list as encoded (no marks).
pub(super) fn read_list(payload: &[u8]) -> SeatList {
    entries(payload).collect()
}

/// The payload for a holder's seats: held, then sold marked with
/// [`LISTED_SOLD`], each ascending (inline up to 8 seats, so writing a
/// holder's list does not allocate under the default limit).
pub(super) fn write_list(held: &[u32], sold: &[u32]) -> SmallVec<[u8; 32]> {
    let mut payload = SmallVec::with_capacity(4 * (held.len() + sold.len()));
    for seat in held {
        payload.extend_from_slice(&seat.to_le_bytes());
    }
    for seat in sold {
        payload.extend_from_slice(&(seat | LISTED_SOLD).to_le_bytes());
    }
    payload
}

/// A payload's held and sold seats (see [`write_list`]).
pub(super) fn split_list(payload: &[u8]) -> (SeatList, SeatList) {
    let (mut held, mut sold) = (SeatList::new(), SeatList::new());
    for entry in entries(payload) {
        if entry & LISTED_SOLD == 0 {
            held.push(entry);
        } else {
            sold.push(entry & !LISTED_SOLD);
        }
    }
    (held, sold)
}

/// Merges two ascending lists without duplicates.
pub(super) fn merge(left: &[u32], right: &[u32]) -> SeatList {
    let mut merged = SeatList::with_capacity(left.len() + right.len());
    merged.extend_from_slice(left);
    merged.extend_from_slice(right);
    merged.sort_unstable();
    merged.dedup();
    merged
}

/// One holder of an event, as [`SeatMap::holder_entries`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatHolder {
    pub slot: u32,
    pub id: Bytes,
    /// Held seats, ascending.
    pub held: Vec<u32>,
    /// Sold seats, ascending.
    pub sold: Vec<u32>,
    pub deadline_ms: Option<u64>,
}

/// The seats of one event.
#[derive(Clone)]
pub struct SeatMap {
    pub(super) seats: Vec<u32>,
    pub(super) holders: HolderTable<()>,
    pub(super) limit: u64,
    pub(super) held: u32,
    pub(super) sold: u32,
    /// The deadline this map is registered under in `State::holds`.
    pub(in crate::state) indexed_ms: Option<u64>,
}

impl fmt::Debug for SeatMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeatMap")
            .field("total", &self.seats.len())
            .field("held", &self.held)
            .field("sold", &self.sold)
            .field("limit", &self.limit)
            .field("holders", &self.holders.len())
            .finish()
    }
}

/// Equal when every seat, holder, count and deadline is equal (the index
/// registration is bookkeeping and not compared).
impl PartialEq for SeatMap {
    fn eq(&self, other: &Self) -> bool {
        self.seats == other.seats
            && self.holders == other.holders
            && self.limit == other.limit
            && self.held == other.held
            && self.sold == other.sold
    }
}

/// Most seats of one request [`SeatMap::prefetch`] warms (a hold names at
/// most a few; the cap bounds the work for one that names many).
pub(super) const SEATS_PREFETCHED_MAX: usize = 16;

impl SeatMap {
    /// `count` free seats; `count` must be below 2³¹ (the config bounds it).
    pub fn new(count: u32, limit: u64) -> SeatMap {
        assert!(count < SOLD, "seat count is bounded by seats_per_event_max");
        SeatMap {
            seats: vec![0; count as usize],
            holders: HolderTable::default(),
            limit,
            held: 0,
            sold: 0,
            indexed_ms: None,
        }
    }

    pub fn total(&self) -> u32 {
        self.seats.len() as u32
    }

    /// Starts loading what a hold of `seats` by `holder` reads: the seats'
    /// cells (random seats of a large map are cache misses) and the
    /// holder's place in the holder table. Changes nothing; out-of-range
    /// seats are skipped (the hold itself reports them).
    pub fn prefetch(&self, holder: &[u8], seats: &[u32]) {
        for &seat in seats.iter().take(SEATS_PREFETCHED_MAX) {
            if let Some(cell) = self.seats.get(seat as usize) {
                crate::state::keymap::prefetch_read(cell);
            }
        }
        self.holders.prefetch(holder);
    }

    pub fn held(&self) -> u32 {
        self.held
    }

    pub fn sold(&self) -> u32 {
        self.sold
    }

    pub fn free(&self) -> u32 {
        self.total() - self.held - self.sold
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn holders(&self) -> usize {
        self.holders.len()
    }

    /// The earliest hold deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.holders.next_deadline()
    }

    /// The first named seat beyond the map, as an error.
    pub(super) fn check_range(&self, seats: &[u32]) -> Result<(), ServerError> {
        match seats
            .iter()
            .find(|&&seat| seat as usize >= self.seats.len())
        {
            Some(seat) => Err(ServerError::out_of_range(format!(
                "ERR seat {seat} is out of range: the event has seats 0 to {}",
                self.seats.len() as i64 - 1
            ))),
            None => Ok(()),
        }
    }

    /// A holder's held and sold seats, each ascending.
    pub(super) fn lists(&self, slot: u32) -> (SeatList, SeatList) {
        split_list(self.holders.payload(slot))
    }

    pub(super) fn counts(&self, slot: u32) -> SeatCounts {
        SeatCounts::of(self.holders.payload(slot))
    }

    /// Seats the holder in `slot` holds or bought: every listed seat counts
    /// against the limit, so this is the list's length (no scan).
    pub(super) fn owned(&self, slot: u32) -> u64 {
        self.holders.payload(slot).len() as u64 / 4
    }

    /// Holds every seat in `requested` for `holder` until `deadline_ms`, or
    /// none of them. See [`hold`] for the replies.
    pub fn hold(
        &mut self,
        log: &mut impl Log<SeatEffect>,
        holder: &Bytes,
        ttl_ms: u64,
        deadline_ms: u64,
        requested: &[u32],
    ) -> Reply {
        if requested.is_empty() {
            return Reply::Error(ServerError::wrong_arity("seat.hold"));
        }
        if let Err(error) = self.check_range(requested) {
            return Reply::Error(error);
        }
        let slot = self.holders.find(holder);
        let mut wanted = SeatList::from_slice(requested);
        wanted.sort_unstable();
        wanted.dedup();
        let taken: SeatList = wanted
            .iter()
            .copied()
            .filter(|&seat| match decode(self.seats[seat as usize]) {
                Seat::Free => false,
                Seat::Held(owner) | Seat::Sold(owner) => Some(owner) != slot,
            })
            .collect();
        if !taken.is_empty() {
            return Reply::tuple(Some(Word::Taken), &[], Some(&taken));
        }
        // What is left is free or already this holder's (held or bought):
        // only the free seats are new.
        wanted.retain(|seat| self.seats[*seat as usize] == 0);
        let owned = slot.map_or(0, |slot| self.owned(slot));
        if owned + wanted.len() as u64 > self.limit {
            return Reply::tuple(Some(Word::Limit), &[owned as i64], None);
        }
        let held = self.apply_hold(holder, slot, deadline_ms, &wanted);
        // A hold that names only seats the holder bought changes nothing.
        if !held.is_empty() {
            log.record(|key| SeatEffect::Hold {
                key,
                holder: holder.clone(),
                deadline_ms,
                seats: wanted,
            });
        }
        Reply::tuple(Some(Word::Held), &[ttl_ms as i64], Some(&held))
    }

    /// Makes the free seats `new` held by `holder` (in slot `found`, or a
    /// new holder) and sets its deadline; returns every seat it now holds.
    /// Shared by SEAT.HOLD and replay.
    pub(super) fn apply_hold(
        &mut self,
        holder: &[u8],
        found: Option<u32>,
        deadline_ms: u64,
        new: &[u32],
    ) -> SeatList {
        let (slot, held) = match found {
            Some(slot) => {
                let (held, sold) = self.lists(slot);
                let held = merge(&held, new);
                self.holders.set_payload(slot, &write_list(&held, &sold));
                (slot, held)
            }
            // A new holder gets its list with its record: one allocation.
            None => {
                let held = merge(&[], new);
                let payload = write_list(&held, &[]);
                (self.holders.insert(holder, (), &payload), held)
            }
        };
        assert!(
            slot + 1 < SOLD,
            "holder slots are bounded by the seat count"
        );
        for &seat in new {
            assert!(
                self.seats.get(seat as usize) == Some(&0),
                "a newly held seat exists and is free"
            );
            self.seats[seat as usize] = slot + 1;
        }
        self.held += new.len() as u32;
        if !held.is_empty() {
            self.holders.set_deadline(slot, Some(deadline_ms));
        }
        self.after_change(slot);
        held
    }

    /// Sells everything `holder` holds. See [`confirm`].
    pub fn confirm(&mut self, log: &mut impl Log<SeatEffect>, holder: &Bytes) -> Reply {
        let slot = match self.holders.find(holder) {
            Some(slot) if self.counts(slot).held > 0 => slot,
            _ => {
                return Reply::Error(ServerError::new_static(
                    ErrorCode::NotHeld,
                    "NOTHELD the holder holds no seats: the hold expired or was released",
                ))
            }
        };
        let held = self.apply_confirm(slot);
        log.record(|key| SeatEffect::Confirm {
            key,
            holder: holder.clone(),
        });
        Reply::tuple(Some(Word::Sold), &[], Some(&held))
    }

    /// Sells every seat the holder in `slot` holds; returns them.
    pub(super) fn apply_confirm(&mut self, slot: u32) -> SeatList {
        let (held, sold) = self.lists(slot);
        for &seat in &held {
            assert_eq!(
                decode(self.seats[seat as usize]),
                Seat::Held(slot),
                "holder list names a seat it does not hold"
            );
            self.seats[seat as usize] |= SOLD;
        }
        self.holders
            .set_payload(slot, &write_list(&[], &merge(&sold, &held)));
        self.held -= held.len() as u32;
        self.sold += held.len() as u32;
        self.holders.set_deadline(slot, None);
        self.after_change(slot);
        held
    }

    /// Releases the named seats `holder` holds (all of them when none are
    /// named); replies how many. See [`release`].
    pub fn release(
        &mut self,
        log: &mut impl Log<SeatEffect>,
        holder: &Bytes,
        named: &[u32],
    ) -> Reply {
        if let Err(error) = self.check_range(named) {
            return Reply::Error(error);
        }
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let mut named = SeatList::from_slice(named);
        named.sort_unstable();
        let (held, _) = self.lists(slot);
        let released: SeatList = held
            .into_iter()
            .filter(|seat| named.is_empty() || named.binary_search(seat).is_ok())
            .collect();
        if released.is_empty() {
            return Reply::Int(0);
        }
        let count = released.len();
        self.apply_release(slot, &released);
        log.record(|key| SeatEffect::Release {
            key,
            holder: holder.clone(),
            seats: released,
        });
        Reply::Int(count as i64)
    }

    /// Frees `released`, seats the holder in `slot` holds; the holder goes
    /// when it has no seats left.
    pub(super) fn apply_release(&mut self, slot: u32, released: &[u32]) {
        let (held, sold) = self.lists(slot);
        for &seat in released {
            assert!(
                self.seats
                    .get(seat as usize)
                    .is_some_and(|&word| decode(word) == Seat::Held(slot)),
                "a released seat is held by its holder"
            );
            self.seats[seat as usize] = 0;
        }
        let kept: SeatList = held
            .into_iter()
            .filter(|&seat| self.seats[seat as usize] != 0)
            .collect();
        self.held -= released.len() as u32;
        if kept.is_empty() {
            self.holders.set_deadline(slot, None);
        }
        if kept.is_empty() && sold.is_empty() {
            self.holders.remove(slot);
        } else {
            self.holders.set_payload(slot, &write_list(&kept, &sold));
            self.after_change(slot);
        }
        self.assert_totals();
    }

    /// Releases the holds of the holder in `slot` because its deadline
    /// passed: the only change time makes to a seat map, recorded as a
    /// `SeatHoldExpired` effect. Its sold seats stay sold. Returns how many
    /// seats were freed.
    pub fn release_expired_hold(&mut self, slot: u32, log: &mut impl Log<SeatEffect>) -> u32 {
        log.record(|key| SeatEffect::HoldExpired {
            key,
            holder: Bytes::copy_from_slice(self.holders.id(slot)),
        });
        self.apply_expired_hold(slot)
    }

    pub(super) fn apply_expired_hold(&mut self, slot: u32) -> u32 {
        let (held, sold) = self.lists(slot);
        assert!(!held.is_empty(), "an expiring holder holds seats");
        for &seat in &held {
            assert_eq!(
                decode(self.seats[seat as usize]),
                Seat::Held(slot),
                "expiry may only free seats the holder holds, never sold ones"
            );
            self.seats[seat as usize] = 0;
        }
        self.held -= held.len() as u32;
        self.holders.set_deadline(slot, None);
        if sold.is_empty() {
            self.holders.remove(slot);
        } else {
            self.holders.set_payload(slot, &write_list(&[], &sold));
            self.after_change(slot);
        }
        self.assert_totals();
        held.len() as u32
    }

    /// Releases the holds due at `now_ms`, at most `budget` holders; returns
    /// how many holders were released.
    pub fn expire_due(
        &mut self,
        now_ms: u64,
        budget: usize,
        log: &mut impl Log<SeatEffect>,
    ) -> usize {
        let mut released = 0;
        while released < budget {
            let Some(slot) = self.holders.pop_due(now_ms) else {
                break;
            };
            self.release_expired_hold(slot, log);
            released += 1;
        }
        released
    }

    /// Every holder, in slot order (for dumps and tests).
    pub fn holder_entries(&self) -> Vec<SeatHolder> {
        self.holders
            .iter()
            .map(|(slot, id, _, _, deadline)| {
                let (held, sold) = self.lists(slot);
                SeatHolder {
                    slot,
                    id: Bytes::copy_from_slice(id),
                    held: held.to_vec(),
                    sold: sold.to_vec(),
                    deadline_ms: deadline,
                }
            })
            .collect()
    }

    /// Appends the whole-map encoding (module comment).
    /// About how many bytes [`SeatMap::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        // Per holder: marker, id length, deadline, two counts.
        16 + self.holders.encoded_len_hint(1 + 4 + 8 + 4 + 4)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.total().to_le_bytes());
        out.extend_from_slice(&self.limit.to_le_bytes());
        let slot_count = self.holders.slot_count() as u32;
        out.extend_from_slice(&slot_count.to_le_bytes());
        let mut next = 0;
        for (slot, id, payload, (), deadline) in self.holders.iter() {
            out.extend(std::iter::repeat_n(SLOT_FREE, (slot - next) as usize));
            next = slot + 1;
            out.push(SLOT_USED);
            put_bytes(out, id);
            out.extend_from_slice(&deadline.unwrap_or(0).to_le_bytes());
            let counts = SeatCounts::of(payload);
            out.extend_from_slice(&counts.held.to_le_bytes());
            out.extend_from_slice(&counts.sold.to_le_bytes());
            // The seat list, held then sold, without the marks the payload
            // carries (the counts tell where the sold part starts).
            for entry in entries(payload) {
                out.extend_from_slice(&(entry & !LISTED_SOLD).to_le_bytes());
            }
        }
        out.extend(std::iter::repeat_n(SLOT_FREE, (slot_count - next) as usize));
    }

    /// Decodes the whole-map encoding, checking everything the invariants
    /// need, so that a bad encoding is an error rather than a panic later.
    pub fn decode(input: &mut Reader<'_>) -> Result<SeatMap, DecodeError> {
        let fail = |what: String| Err(DecodeError(format!("seat map: {what}")));
        let total = input.u32()?;
        if total >= SOLD {
            return fail(format!("{total} seats"));
        }
        if u64::from(total) > input.seats_max() {
            return fail(format!(
                "{total} seats, more than seats_per_event_max ({}); a larger \
                 seats_per_event_max loads it",
                input.seats_max()
            ));
        }
        let limit = input.u64()?;
        let slot_count = input.count(1)? as u32;
        // Every holder has a seat, so there were never more slots than seats.
        if slot_count > total {
            return fail(format!("{slot_count} holder slots for {total} seats"));
        }
        let mut seats = vec![0u32; total as usize];
        let (mut held_total, mut sold_total) = (0u32, 0u32);
        let mut holders = Vec::new();
        for slot in 0..slot_count {
            match input.u8()? {
                SLOT_FREE => continue,
                SLOT_USED => {}
                other => return fail(format!("slot marker {other}")),
            }
            let id = input.slice()?;
            let deadline = input.u64()?;
            let held = input.u32()?;
            let sold = input.u32()?;
            let listed = u64::from(held) + u64::from(sold);
            if listed == 0 || listed > limit || listed > u64::from(total) {
                return fail(format!("holder with {held} held and {sold} sold seats"));
            }
            if (held > 0) != (deadline != 0) {
                return fail("a holder has a deadline exactly when it holds seats".into());
            }
            let payload = input.take(4 * listed as usize)?;
            let list = read_list(payload);
            let (held_part, sold_part) = list.split_at(held as usize);
            for (part, word) in [(held_part, slot + 1), (sold_part, (slot + 1) | SOLD)] {
                if !part.windows(2).all(|pair| pair[0] < pair[1]) {
                    return fail("seat list not ascending".into());
                }
                for &seat in part {
                    match seats.get_mut(seat as usize) {
                        Some(taken @ 0) => *taken = word,
                        _ => return fail(format!("seat {seat} out of range or listed twice")),
                    }
                }
            }
            held_total += held;
            sold_total += sold;
            let payload = write_list(held_part, sold_part);
            holders.push((slot, id, payload, (deadline != 0).then_some(deadline)));
        }
        let restored = holders
            .iter()
            .map(|(slot, id, payload, deadline_ms)| Restored {
                slot: *slot,
                id,
                payload,
                data: (),
                deadline_ms: *deadline_ms,
            })
            .collect();
        let map = SeatMap {
            seats,
            holders: HolderTable::restore(slot_count, restored)
                .map_err(|why| DecodeError(format!("seat map: {why}")))?,
            limit,
            held: held_total,
            sold: sold_total,
            indexed_ms: None,
        };
        if cfg!(debug_assertions) && map.seats.len() <= DEBUG_CHECK_SEATS_MAX {
            map.check_invariants();
        }
        Ok(map)
    }

    /// One integer per seat from `from`: 0 free, 1 held, 2 sold.
    pub fn status(&self, from: u64, count: u64) -> Reply {
        let total = self.seats.len() as u64;
        let start = from.min(total) as usize;
        let end = from.saturating_add(count).min(total) as usize;
        Reply::Array(
            self.seats[start..end]
                .iter()
                .map(|&word| {
                    Reply::Int(match decode(word) {
                        Seat::Free => 0,
                        Seat::Held(_) => 1,
                        Seat::Sold(_) => 2,
                    })
                })
                .collect(),
        )
    }

    /// What `holder` has. See [`holder`].
    pub fn holder(&self, holder: &[u8], now_ms: u64) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::tuple(Some(Word::None), &[], None);
        };
        let (held, sold) = self.lists(slot);
        match self.holders.deadline(slot) {
            Some(deadline) if !held.is_empty() => Reply::tuple(
                Some(Word::Held),
                &[deadline.saturating_sub(now_ms) as i64],
                Some(&held),
            ),
            _ => Reply::tuple(Some(Word::Sold), &[], Some(&sold)),
        }
    }

    pub fn info(&self) -> Reply {
        let field = |name: &'static str, value: u64| {
            (
                Reply::bulk_static(name.as_bytes()),
                Reply::Int(value as i64),
            )
        };
        Reply::Map(vec![
            field("total", u64::from(self.total())),
            field("free", u64::from(self.free())),
            field("held", u64::from(self.held)),
            field("sold", u64::from(self.sold)),
            field("limit", self.limit),
            field("holders", self.holders.len() as u64),
        ])
    }

    /// Checks that cost O(1), run after every change.
    pub(super) fn assert_totals(&self) {
        assert!(
            u64::from(self.held) + u64::from(self.sold) <= self.seats.len() as u64,
            "held + sold exceeds the seat count"
        );
        if cfg!(debug_assertions) && self.seats.len() <= DEBUG_CHECK_SEATS_MAX {
            self.check_invariants();
        }
    }

    /// Per-holder checks after a change to the holder in `slot`.
    pub(super) fn after_change(&self, slot: u32) {
        assert!(self.owned(slot) <= self.limit, "a holder exceeds its limit");
        assert_eq!(
            self.counts(slot).held > 0,
            self.holders.deadline(slot).is_some(),
            "a holder has held seats exactly when it has a deadline"
        );
        self.assert_totals();
    }

    /// Asserts every invariant of the map (O(seats + holders)).
    pub fn check_invariants(&self) {
        self.holders.check_invariants();
        let (mut held, mut sold) = (0u64, 0u64);
        for &word in &self.seats {
            match decode(word) {
                Seat::Free => {}
                Seat::Held(_) => held += 1,
                Seat::Sold(_) => sold += 1,
            }
        }
        assert_eq!(held, u64::from(self.held), "held count out of step");
        assert_eq!(sold, u64::from(self.sold), "sold count out of step");
        assert!(held + sold <= self.seats.len() as u64, "free below zero");
        let (mut listed_held, mut listed_sold) = (0u64, 0u64);
        for (slot, _, payload, (), deadline) in self.holders.iter() {
            assert_eq!(payload.len() % 4, 0, "seat list of partial seats");
            let list = read_list(payload);
            let (held_part, sold_part) = split_list(payload);
            // Held seats first, then the marked sold ones.
            assert!(
                list.iter()
                    .enumerate()
                    .all(|(at, entry)| (entry & LISTED_SOLD == 0) == (at < held_part.len())),
                "sold seats listed before held ones"
            );
            assert!(!list.is_empty(), "a holder without seats is kept");
            assert!(
                list.len() as u64 <= self.limit,
                "a holder exceeds its limit"
            );
            assert_eq!(
                !held_part.is_empty(),
                deadline.is_some(),
                "a holder has held seats exactly when it has a deadline"
            );
            for part in [&held_part, &sold_part] {
                assert!(
                    part.windows(2).all(|pair| pair[0] < pair[1]),
                    "seat list not strictly ascending"
                );
            }
            // Each listed seat names this holder as its only owner; with the
            // totals below, every taken seat is listed exactly once.
            for &seat in &held_part {
                assert_eq!(decode(self.seats[seat as usize]), Seat::Held(slot));
            }
            for &seat in &sold_part {
                assert_eq!(decode(self.seats[seat as usize]), Seat::Sold(slot));
            }
            listed_held += held_part.len() as u64;
            listed_sold += sold_part.len() as u64;
        }
        assert_eq!(listed_held, held, "held seats missing from holder lists");
        assert_eq!(listed_sold, sold, "sold seats missing from holder lists");
    }
}
