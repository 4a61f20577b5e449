//! Stock, one countable pool of units per SKU key: STOCK.CONFIG, RESERVE,
//! CONFIRM, RELEASE, TAKE, REFUND and INFO, and the return of reservations
//! whose deadline passed.
//!
//! A SKU keeps its totals (`total`, `held`, `sold`; `available` = total −
//! held − sold) and, per holder, the units it holds and has bought, in a
//! [`HolderTable`]. A holder's reservations share one deadline, reset by each
//! successful RESERVE, like seat holds. A reservation exists while
//! `now < deadline`; every command on the SKU first returns the due ones, and
//! the engine's timer returns them with no request, both through
//! [`Stock::release_expired_reservation`] (the one place where time changes
//! stock, so the durability layer can log it as its own record).
//!
//! Invariants, asserted by [`Stock::check_invariants`]: held + sold ≤ total
//! (available never below 0); held and sold equal the holders' sums; no
//! holder exceeds the limit; a holder has a deadline exactly when it holds
//! units; expiry only returns held units, never sold ones.
//!
//! Persistence design (for the durability issue): each successful change is
//! one effect on one key, with absolute times only: config `{total, limit}`;
//! reserve `{holder, quantity, deadline_ms}`; confirm `{holder}`; release
//! `{holder}`; take `{holder, quantity}`; refund `{holder, quantity
//! refunded}` (skipped when 0); and reservation-expired `{holder}`, emitted
//! by [`Stock::release_expired_reservation`] whether the timer or a
//! command's lazy expiry got there first. A snapshot writes `total, limit`
//! and each holder with its slot number, id, held, bought and deadline.

use std::fmt;

use usher_protocol::{ErrorCode, Reply, ServerError};

use super::holders::HolderTable;
use super::seats::{check_holder, hold_deadline};
use super::{State, Value};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StockCounts {
    held: u64,
    bought: u64,
}

/// The units of one SKU.
#[derive(Clone)]
pub struct Stock {
    total: u64,
    held: u64,
    sold: u64,
    /// Most units one holder may hold and buy together; `None` = no limit.
    limit: Option<u64>,
    holders: HolderTable<StockCounts>,
    /// The deadline this SKU is registered under in `State::holds`.
    pub(super) indexed_ms: Option<u64>,
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

fn tagged(tag: &'static str, values: &[u64]) -> Reply {
    let mut items = Vec::with_capacity(1 + values.len());
    items.push(Reply::simple(tag));
    items.extend(values.iter().map(|&value| Reply::Int(value as i64)));
    Reply::Array(items)
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
    pub fn configure(&mut self, total: u64, limit: Option<u64>) -> Reply {
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
            self.limit = Some(limit);
        }
        self.total = total;
        self.assert_totals();
        Reply::OK
    }

    /// The holder's slot, creating it if needed within `holders_max`.
    fn slot_for(&mut self, holder: &[u8], holders_max: usize) -> Result<u32, ServerError> {
        if let Some(slot) = self.holders.find(holder) {
            return Ok(slot);
        }
        if self.holders.len() >= holders_max {
            return Err(ServerError::limit(
                "holders of one key (holders_per_key_max)",
                holders_max as u64,
            ));
        }
        Ok(self.holders.insert(holder, StockCounts::default()))
    }

    /// Why `quantity` more units cannot go to `holder`, as the reply.
    fn refusal(&self, holder: &[u8], quantity: u64) -> Option<Reply> {
        let available = self.available();
        if quantity > available {
            return Some(tagged("soldout", &[available]));
        }
        let owned = self
            .holders
            .find(holder)
            .map(|slot| {
                let counts = self.holders.data(slot);
                counts.held + counts.bought
            })
            .unwrap_or(0);
        match self.limit {
            Some(limit) if owned.saturating_add(quantity) > limit => {
                Some(tagged("limit", &[owned]))
            }
            _ => None,
        }
    }

    /// Reserves `quantity` units for `holder` until `deadline_ms`. See
    /// [`reserve`].
    pub fn reserve(
        &mut self,
        holder: &[u8],
        quantity: u64,
        deadline_ms: u64,
        holders_max: usize,
    ) -> Reply {
        if let Some(refused) = self.refusal(holder, quantity) {
            return refused;
        }
        let slot = match self.slot_for(holder, holders_max) {
            Ok(slot) => slot,
            Err(error) => return Reply::Error(error),
        };
        self.holders.data_mut(slot).held += quantity;
        self.held += quantity;
        self.holders.set_deadline(slot, Some(deadline_ms));
        self.after_change(slot);
        tagged("held", &[self.holders.data(slot).held, self.available()])
    }

    /// Sells `quantity` units to `holder` at once. See [`take`].
    pub fn take(&mut self, holder: &[u8], quantity: u64, holders_max: usize) -> Reply {
        if let Some(refused) = self.refusal(holder, quantity) {
            return refused;
        }
        let slot = match self.slot_for(holder, holders_max) {
            Ok(slot) => slot,
            Err(error) => return Reply::Error(error),
        };
        self.holders.data_mut(slot).bought += quantity;
        self.sold += quantity;
        self.after_change(slot);
        tagged("sold", &[self.holders.data(slot).bought, self.available()])
    }

    /// Sells what `holder` reserved; replies how many units.
    pub fn confirm(&mut self, holder: &[u8]) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let counts = self.holders.data_mut(slot);
        let moved = counts.held;
        counts.bought += moved;
        counts.held = 0;
        self.held -= moved;
        self.sold += moved;
        self.holders.set_deadline(slot, None);
        self.after_change(slot);
        Reply::Int(moved as i64)
    }

    /// Returns what `holder` reserved; replies how many units.
    pub fn release(&mut self, holder: &[u8]) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let released = self.holders.data(slot).held;
        self.return_held(slot);
        Reply::Int(released as i64)
    }

    /// Returns up to `quantity` of the units `holder` bought; replies how
    /// many.
    pub fn refund(&mut self, holder: &[u8], quantity: u64) -> Reply {
        let Some(slot) = self.holders.find(holder) else {
            return Reply::Int(0);
        };
        let counts = self.holders.data_mut(slot);
        let refunded = quantity.min(counts.bought);
        counts.bought -= refunded;
        self.sold -= refunded;
        self.drop_if_empty(slot);
        self.assert_totals();
        Reply::Int(refunded as i64)
    }

    /// Returns the reservation of the holder in `slot` because its deadline
    /// passed: the only change time makes to stock. Its bought units stay
    /// sold. Returns how many units went back to available.
    pub fn release_expired_reservation(&mut self, slot: u32) -> u64 {
        let held = self.holders.data(slot).held;
        assert!(held > 0, "an expiring holder holds units");
        self.return_held(slot);
        held
    }

    /// Moves a holder's held units back to available.
    fn return_held(&mut self, slot: u32) {
        let counts = self.holders.data_mut(slot);
        let held = counts.held;
        counts.held = 0;
        self.held -= held;
        self.holders.set_deadline(slot, None);
        self.drop_if_empty(slot);
        self.assert_totals();
    }

    fn drop_if_empty(&mut self, slot: u32) {
        let counts = self.holders.data(slot);
        if counts.held == 0 && counts.bought == 0 {
            self.holders.remove(slot);
        } else {
            self.after_change(slot);
        }
    }

    /// Returns the reservations due at `now_ms`, at most `budget` holders;
    /// returns how many holders were processed.
    pub fn expire_due(&mut self, now_ms: u64, budget: usize) -> usize {
        let mut released = 0;
        while released < budget {
            let Some(slot) = self.holders.pop_due(now_ms) else {
                break;
            };
            self.release_expired_reservation(slot);
            released += 1;
        }
        released
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

    fn assert_totals(&self) {
        assert!(
            self.held
                .checked_add(self.sold)
                .is_some_and(|taken| taken <= self.total),
            "available below zero"
        );
    }

    fn after_change(&self, slot: u32) {
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

fn no_such_sku() -> ServerError {
    ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such SKU")
}

/// Runs `op` on the stock at `key` after returning its due reservations,
/// then re-registers the SKU's next deadline in the hold index.
fn with_stock(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    op: impl FnOnce(&mut Stock) -> Reply,
) -> Reply {
    let Some((stored, entry)) = state.keyspace.get_live_with_key(key, now_ms) else {
        return Reply::Error(no_such_sku());
    };
    let Value::Stock(stock) = &mut entry.value else {
        return Reply::Error(ServerError::WRONG_TYPE);
    };
    stock.expire_due(now_ms, usize::MAX);
    assert!(
        stock.next_deadline().is_none_or(|due| due > now_ms),
        "a due hold survived its release"
    );
    let reply = op(stock);
    let next = stock.next_deadline();
    state.holds.sync(stored, &mut stock.indexed_ms, next);
    reply
}

/// ```text
/// STOCK.CONFIG sku total [LIMIT k]
/// ```
/// Creates the SKU with `total` units, or changes the total of an existing
/// one; `k` is the most units one holder may hold and buy together (no
/// limit when never given; an existing limit is kept when `LIMIT` is left
/// out). OK. Refused, changing nothing, when the total is below held + sold
/// or `k` is below what some holder already has.
pub fn config(state: &mut State, key: &[u8], total: u64, limit: Option<u64>, now_ms: u64) -> Reply {
    if state.keyspace.contains_live(key, now_ms) {
        return with_stock(state, key, now_ms, |stock| stock.configure(total, limit));
    }
    if let Err(error) = state.room_for_key() {
        return Reply::Error(error);
    }
    state
        .keyspace
        .insert(key, Value::Stock(Box::new(Stock::new(total, limit))), None);
    Reply::OK
}

/// ```text
/// STOCK.RESERVE sku holder qty ttl_ms
/// ```
/// `["held", holder_held, available]` after reserving `qty` units until
/// now + `ttl_ms` (the holder's reservations share that deadline);
/// `["soldout", available]` if fewer than `qty` are available; otherwise
/// `["limit", holder_held_plus_bought]` if the holder would pass the limit.
/// Nothing changes unless the reply is `held`.
pub fn reserve(
    state: &mut State,
    key: &[u8],
    holder: &[u8],
    quantity: u64,
    ttl_ms: u64,
    now_ms: u64,
) -> Reply {
    let limits = state.limits;
    let deadline = match check_holder(&limits, holder)
        .and_then(|()| hold_deadline(&limits, ttl_ms, now_ms, "stock.reserve"))
    {
        Ok(deadline) => deadline,
        Err(error) => return Reply::Error(error),
    };
    with_stock(state, key, now_ms, |stock| {
        stock.reserve(holder, quantity, deadline, limits.holders_per_key_max)
    })
}

/// ```text
/// STOCK.CONFIRM sku holder
/// ```
/// How many units moved from held to sold (0 if the holder held none, e.g.
/// because the reservation expired).
pub fn confirm(state: &mut State, key: &[u8], holder: &[u8], now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock| stock.confirm(holder))
}

/// ```text
/// STOCK.RELEASE sku holder
/// ```
/// How many held units went back to available.
pub fn release(state: &mut State, key: &[u8], holder: &[u8], now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock| stock.release(holder))
}

/// ```text
/// STOCK.TAKE sku holder qty
/// ```
/// Reserve and confirm in one step: `["sold", holder_bought, available]` |
/// `["soldout", available]` | `["limit", holder_held_plus_bought]`. With
/// `STOCK.CONFIG coupon 100 LIMIT 1`, exactly 100 holders get one each.
pub fn take(state: &mut State, key: &[u8], holder: &[u8], quantity: u64, now_ms: u64) -> Reply {
    let limits = state.limits;
    if let Err(error) = check_holder(&limits, holder) {
        return Reply::Error(error);
    }
    with_stock(state, key, now_ms, |stock| {
        stock.take(holder, quantity, limits.holders_per_key_max)
    })
}

/// ```text
/// STOCK.REFUND sku holder qty
/// ```
/// Returns sold units to available, never more than the holder bought;
/// replies how many were refunded.
pub fn refund(state: &mut State, key: &[u8], holder: &[u8], quantity: u64, now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock| stock.refund(holder, quantity))
}

/// ```text
/// STOCK.INFO sku
/// ```
/// A map: `total`, `available`, `held`, `sold`, `limit` (nil when none).
pub fn info(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock| stock.info())
}
