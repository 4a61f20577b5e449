//! The [`Stock`] structure: a SKU's totals and a holder table of counts,
//! the functions through which commands and replay change it, and its
//! value encoding (see the module documentation of [`super`]).

use std::fmt;

use bytes::Bytes;
use usher_protocol::reply::Word;
use usher_protocol::{Reply, ServerError};

use super::effects::StockEffect;
use crate::encoding::{put_bytes, put_option, DecodeError, Reader};
use crate::state::holders::{HolderTable, Restored};
use crate::state::record::Log;

/// Slot markers in the whole-SKU encoding.
pub(super) const SLOT_FREE: u8 = 0;
pub(super) const SLOT_USED: u8 = 1;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct StockCounts {
    pub(super) held: u64,
    pub(super) bought: u64,
}

/// One holder of a SKU, as [`Stock::holder_entries`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockHolder {
    pub slot: u32,
    pub id: Bytes,
    pub held: u64,
    pub bought: u64,
    pub deadline_ms: Option<u64>,
}

/// The units of one SKU.
#[derive(Clone)]
pub struct Stock {
    pub(super) total: u64,
    pub(super) held: u64,
    pub(super) sold: u64,
    /// Most units one holder may hold and buy together; `None` = no limit.
    pub(super) limit: Option<u64>,
    pub(super) holders: HolderTable<StockCounts>,
    /// The deadline this SKU is registered under in `State::holds`.
    pub(in crate::state) indexed_ms: Option<u64>,
}

impl fmt::Debug for Stock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stock")
            .field("total", &self.total)
            .field("held", &self.held)
            .field("sold", &self.sold)
            .field("limit", &self.limit)
            .field("holders", &self.holders.len())
            .finish()
    }
}

/// Equal when totals, limit and every holder are equal (the index
/// registration is bookkeeping and not compared).
impl PartialEq for Stock {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total
            && self.held == other.held
            && self.sold == other.sold
            && self.limit == other.limit
            && self.holders == other.holders
    }
}

/// `[tag, values...]` (inline: no allocation).
pub(super) fn tagged<const N: usize>(tag: Word, values: [u64; N]) -> Reply {
    Reply::tuple(Some(tag), &values.map(|value| value as i64), None)
}

impl Stock {
    pub fn new(total: u64, limit: Option<u64>) -> Stock {
        Stock {
            total,
            held: 0,
            sold: 0,
            limit,
            holders: HolderTable::default(),
            indexed_ms: None,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn held(&self) -> u64 {
        self.held
    }

    pub fn sold(&self) -> u64 {
        self.sold
    }

    pub fn available(&self) -> u64 {
        self.total - self.held - self.sold
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    pub fn holders(&self) -> usize {
        self.holders.len()
    }

    /// The earliest reservation deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.holders.next_deadline()
    }

    /// Changes the total (and the limit, when given). See [`config`].
    pub fn configure(
        &mut self,
        log: &mut impl Log<StockEffect>,
        total: u64,
        limit: Option<u64>,
    ) -> Reply {
        let taken = self.held + self.sold;
        if total < taken {
            return Reply::Error(ServerError::out_of_range(format!(
                "ERR total {total} is below held + sold ({taken})"
            )));
        }
        if let Some(limit) = limit {
            let most = self
                .holders
                .iter()
                .map(|(_, _, _, counts, _)| counts.held + counts.bought)
                .max()
                .unwrap_or(0);
            if most > limit {
                return Reply::Error(ServerError::out_of_range(format!(
                    "ERR LIMIT {limit} is below the {most} units a holder already has"
                )));
            }
        }
        let limit = limit.or(self.limit);
        self.apply_config(total, limit);
        log.record(|key| StockEffect::Config { key, total, limit });
        Reply::OK
    }

    pub(super) fn apply_config(&mut self, total: u64, limit: Option<u64>) {
        self.limit = limit;
        self.total = total;
        self.assert_totals();
    }

    /// Whether a holder (in `slot` if it has one) may get units: it has
    /// some already, or there is room for one more holder within
    /// `holders_max`.
    pub(super) fn room_for(
        &self,
        slot: Option<u32>,
        holders_max: usize,
    ) -> Result<(), ServerError> {
        if slot.is_none() && self.holders.len() >= holders_max {
            return Err(ServerError::limit(
                "holders of one key (holders_per_key_max)",
                holders_max as u64,
            ));
        }
        Ok(())
    }

    /// The holder's slot (`found` by the caller's lookup), creating it if
    /// needed.
    pub(super) fn slot_for(&mut self, holder: &[u8], found: Option<u32>) -> u32 {
        match found {
            Some(slot) => slot,
            None => self.holders.insert(holder, StockCounts::default(), &[]),
        }
    }

    /// Why `quantity` more units cannot go to a holder (in `slot` if it has
    /// one), as the reply.
    pub(super) fn refusal(&self, slot: Option<u32>, quantity: u64) -> Option<Reply> {
        let available = self.available();
        if quantity > available {
            return Some(tagged(Word::Soldout, [available]));
        }
        let owned = slot
            .map(|slot| {
                let counts = self.holders.data(slot);
                counts.held + counts.bought
            })
            .unwrap_or(0);
        match self.limit {
            Some(limit) if owned.saturating_add(quantity) > limit => {
                Some(tagged(Word::Limit, [owned]))
            }
            _ => None,
        }
    }

    /// Reserves `quantity` units for `holder` until `deadline_ms`. See
    /// [`reserve`].
    pub fn reserve(
        &mut self,
        log: &mut impl Log<StockEffect>,
        holder: &Bytes,
        quantity: u64,
        deadline_ms: u64,
        holders_max: usize,
    ) -> Reply {
        // One lookup serves the checks and the change.
        let slot = self.holders.find(holder);
        if let Some(refused) = self.refusal(slot, quantity) {
            return refused;
        }
        if let Err(error) = self.room_for(slot, holders_max) {
            return Reply::Error(error);
        }
        let held = self.apply_reserve(holder, slot, quantity, deadline_ms);
        log.record(|key| StockEffect::Reserve {
            key,
            holder: holder.clone(),
            quantity,
            deadline_ms,
        });
        tagged(Word::Held, [held, self.available()])
    }

    /// Adds `quantity` to what `holder` (in slot `found`, if it has one)
    /// holds and sets its deadline; returns what it now holds.
    pub(super) fn apply_reserve(
        &mut self,
        holder: &[u8],
        found: Option<u32>,
        quantity: u64,
        deadline_ms: u64,
    ) -> u64 {
        let slot = self.slot_for(holder, found);
        self.holders.data_mut(slot).held += quantity;
        self.held += quantity;
        self.holders.set_deadline(slot, Some(deadline_ms));
        self.after_change(slot);
        self.holders.data(slot).held
    }

    /// Sells `quantity` units to `holder` at once. See [`take`].
    pub fn take(
        &mut self,
        log: &mut impl Log<StockEffect>,
        holder: &Bytes,
        quantity: u64,
        holders_max: usize,
    ) -> Reply {
        let slot = self.holders.find(holder);
        if let Some(refused) = self.refusal(slot, quantity) {
            return refused;
        }
        if let Err(error) = self.room_for(slot, holders_max) {
            return Reply::Error(error);
        }
        let bought = self.apply_take(holder, slot, quantity);
        log.record(|key| StockEffect::Take {
            key,
            holder: holder.clone(),
            quantity,
        });
        tagged(Word::Sold, [bought, self.available()])
    }

    /// Adds `quantity` to what `holder` (in slot `found`, if it has one)
    /// bought; returns its new total.
    pub(super) fn apply_take(&mut self, holder: &[u8], found: Option<u32>, quantity: u64) -> u64 {
        let slot = self.slot_for(holder, found);
        self.holders.data_mut(slot).bought += quantity;
        self.sold += quantity;
        self.after_change(slot);
        self.holders.data(slot).bought
    }

    /// Sells what `holder` reserved; replies how many units.
    pub fn confirm(&mut self, log: &mut impl Log<StockEffect>, holder: &Bytes) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let moved = self.apply_confirm(slot);
        if moved > 0 {
            log.record(|key| StockEffect::Confirm {
                key,
                holder: holder.clone(),
            });
        }
        Reply::Int(moved as i64)
    }

    /// Moves everything the holder in `slot` holds to bought; returns how
    /// many units.
    pub(super) fn apply_confirm(&mut self, slot: u32) -> u64 {
        let counts = self.holders.data_mut(slot);
        let moved = counts.held;
        counts.bought += moved;
        counts.held = 0;
        self.held -= moved;
        self.sold += moved;
        self.holders.set_deadline(slot, None);
        self.after_change(slot);
        moved
    }

    /// Returns what `holder` reserved; replies how many units.
    pub fn release(&mut self, log: &mut impl Log<StockEffect>, holder: &Bytes) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let released = self.holders.data(slot).held;
        self.return_held(slot);
        if released > 0 {
            log.record(|key| StockEffect::Release {
                key,
                holder: holder.clone(),
            });
        }
        Reply::Int(released as i64)
    }

    /// Returns up to `quantity` of the units `holder` bought; replies how
    /// many.
    pub fn refund(
        &mut self,
        log: &mut impl Log<StockEffect>,
        holder: &Bytes,
        quantity: u64,
    ) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let refunded = quantity.min(self.holders.data(slot).bought);
        self.apply_refund(slot, refunded);
        if refunded > 0 {
            log.record(|key| StockEffect::Refund {
                key,
                holder: holder.clone(),
                quantity: refunded,
            });
        }
        Reply::Int(refunded as i64)
    }

    /// Returns `refunded` (at most what it bought) of the units the holder
    /// in `slot` bought.
    pub(super) fn apply_refund(&mut self, slot: u32, refunded: u64) {
        let counts = self.holders.data_mut(slot);
        assert!(
            refunded <= counts.bought,
            "a refund exceeds what was bought"
        );
        counts.bought -= refunded;
        self.sold -= refunded;
        self.drop_if_empty(slot);
        self.assert_totals();
    }

    /// Returns the reservation of the holder in `slot` because its deadline
    /// passed: the only change time makes to stock, recorded as a
    /// `StockReservationExpired` effect. Its bought units stay sold.
    /// Returns how many units went back to available.
    pub fn release_expired_reservation(
        &mut self,
        slot: u32,
        log: &mut impl Log<StockEffect>,
    ) -> u64 {
        log.record(|key| StockEffect::ReservationExpired {
            key,
            holder: Bytes::copy_from_slice(self.holders.id(slot)),
        });
        self.apply_expired_reservation(slot)
    }

    pub(super) fn apply_expired_reservation(&mut self, slot: u32) -> u64 {
        let held = self.holders.data(slot).held;
        assert!(held > 0, "an expiring holder holds units");
        self.return_held(slot);
        held
    }

    /// Moves a holder's held units back to available.
    pub(super) fn return_held(&mut self, slot: u32) {
        let counts = self.holders.data_mut(slot);
        let held = counts.held;
        counts.held = 0;
        self.held -= held;
        self.holders.set_deadline(slot, None);
        self.drop_if_empty(slot);
        self.assert_totals();
    }

    pub(super) fn drop_if_empty(&mut self, slot: u32) {
        let counts = self.holders.data(slot);
        if counts.held == 0 && counts.bought == 0 {
            self.holders.remove(slot);
        } else {
            self.after_change(slot);
        }
    }

    /// Returns the reservations due at `now_ms`, at most `budget` holders;
    /// returns how many holders were processed.
    pub fn expire_due(
        &mut self,
        now_ms: u64,
        budget: usize,
        log: &mut impl Log<StockEffect>,
    ) -> usize {
        let mut released = 0;
        while released < budget {
            let Some(slot) = self.holders.pop_due(now_ms) else {
                break;
            };
            self.release_expired_reservation(slot, log);
            released += 1;
        }
        released
    }

    /// Every holder, in slot order (for dumps and tests).
    pub fn holder_entries(&self) -> Vec<StockHolder> {
        self.holders
            .iter()
            .map(|(slot, id, _, counts, deadline)| StockHolder {
                slot,
                id: Bytes::copy_from_slice(id),
                held: counts.held,
                bought: counts.bought,
                deadline_ms: deadline,
            })
            .collect()
    }

    /// Appends the whole-SKU encoding (module comment).
    /// About how many bytes [`Stock::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        // Per holder: marker, id length, deadline, two counts.
        32 + self.holders.encoded_len_hint(1 + 4 + 8 + 8 + 8)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.total.to_le_bytes());
        put_option(out, self.limit);
        let slot_count = self.holders.slot_count() as u32;
        out.extend_from_slice(&slot_count.to_le_bytes());
        let mut next = 0;
        for (slot, id, _, counts, deadline) in self.holders.iter() {
            out.extend(std::iter::repeat_n(SLOT_FREE, (slot - next) as usize));
            next = slot + 1;
            out.push(SLOT_USED);
            put_bytes(out, id);
            out.extend_from_slice(&deadline.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&counts.held.to_le_bytes());
            out.extend_from_slice(&counts.bought.to_le_bytes());
        }
        out.extend(std::iter::repeat_n(SLOT_FREE, (slot_count - next) as usize));
    }

    /// Decodes the whole-SKU encoding, checking what the invariants need.
    pub fn decode(input: &mut Reader<'_>) -> Result<Stock, DecodeError> {
        let fail = |what: String| Err(DecodeError(format!("stock: {what}")));
        let total = input.u64()?;
        let limit = input.option()?;
        let slot_count = input.count(1)? as u32;
        let (mut held_total, mut sold_total) = (0u64, 0u64);
        let mut holders = Vec::new();
        for slot in 0..slot_count {
            match input.u8()? {
                SLOT_FREE => continue,
                SLOT_USED => {}
                other => return fail(format!("slot marker {other}")),
            }
            let id = input.slice()?;
            let deadline = input.u64()?;
            let held = input.u64()?;
            let bought = input.u64()?;
            let owned = held.checked_add(bought);
            if owned.is_none_or(|owned| owned == 0 || limit.is_some_and(|limit| owned > limit)) {
                return fail(format!("holder with {held} held and {bought} bought units"));
            }
            if (held > 0) != (deadline != 0) {
                return fail("a holder has a deadline exactly when it holds units".into());
            }
            held_total = held_total.saturating_add(held);
            sold_total = sold_total.saturating_add(bought);
            let counts = StockCounts { held, bought };
            holders.push(Restored {
                slot,
                id,
                payload: &[],
                data: counts,
                deadline_ms: (deadline != 0).then_some(deadline),
            });
        }
        if held_total
            .checked_add(sold_total)
            .is_none_or(|taken| taken > total)
        {
            return fail(format!(
                "{held_total} held and {sold_total} sold of {total}"
            ));
        }
        let stock = Stock {
            total,
            held: held_total,
            sold: sold_total,
            limit,
            holders: HolderTable::restore(slot_count, holders)
                .map_err(|why| DecodeError(format!("stock: {why}")))?,
            indexed_ms: None,
        };
        Ok(stock)
    }

    pub fn info(&self) -> Reply {
        let field = |name: &'static str, value: Reply| (Reply::bulk_static(name.as_bytes()), value);
        let int = |value: u64| Reply::Int(value as i64);
        Reply::Map(vec![
            field("total", int(self.total)),
            field("available", int(self.available())),
            field("held", int(self.held)),
            field("sold", int(self.sold)),
            field("limit", self.limit.map_or(Reply::Nil, int)),
        ])
    }

    pub(super) fn assert_totals(&self) {
        assert!(
            self.held
                .checked_add(self.sold)
                .is_some_and(|taken| taken <= self.total),
            "available below zero"
        );
    }

    pub(super) fn after_change(&self, slot: u32) {
        let counts = self.holders.data(slot);
        if let Some(limit) = self.limit {
            assert!(
                counts.held + counts.bought <= limit,
                "a holder exceeds its limit"
            );
        }
        assert_eq!(
            counts.held > 0,
            self.holders.deadline(slot).is_some(),
            "a holder has a deadline exactly when it holds units"
        );
        self.assert_totals();
    }

    /// Asserts every invariant of the SKU (O(holders)).
    pub fn check_invariants(&self) {
        self.holders.check_invariants();
        self.assert_totals();
        let (mut held, mut bought) = (0u64, 0u64);
        for (_, _, _, counts, deadline) in self.holders.iter() {
            assert!(
                counts.held + counts.bought > 0,
                "a holder without units is kept"
            );
            if let Some(limit) = self.limit {
                assert!(
                    counts.held + counts.bought <= limit,
                    "a holder exceeds its limit"
                );
            }
            assert_eq!(
                counts.held > 0,
                deadline.is_some(),
                "a holder has a deadline exactly when it holds units"
            );
            held += counts.held;
            bought += counts.bought;
        }
        assert_eq!(held, self.held, "held units out of step with holders");
        assert_eq!(bought, self.sold, "sold units out of step with holders");
    }
}
