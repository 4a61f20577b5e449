//! The STOCK.* commands, and the replay of stock effects through the same
//! functions of [`Stock`].

use bytes::Bytes;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::StockEffect;
use super::sku::*;
use crate::state::effect::ReplayError;
use crate::state::holding::{with_holds, HoldValue};
use crate::state::keyspace::Recorder;
use crate::state::seats::commands::{check_holder, hold_deadline};
use crate::state::store::State;
use crate::state::value::Value;

fn no_such_sku() -> ServerError {
    ServerError::new_static(ErrorCode::NoSuchKey, "ERR no such SKU")
}

/// Runs `op` on the stock at `key` after releasing its due holds.
fn with_stock(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    op: impl FnOnce(&mut Stock, &mut Recorder<'_>) -> Reply,
) -> Reply {
    with_holds(state, key, now_ms, no_such_sku(), op)
}

impl HoldValue for Stock {
    fn of(value: &mut Value) -> Option<&mut Stock> {
        match value {
            Value::Stock(inner) => Some(inner),
            _ => None,
        }
    }

    fn expire_due(&mut self, now_ms: u64, budget: usize, log: &mut Recorder<'_>) -> usize {
        Stock::expire_due(self, now_ms, budget, log)
    }

    fn next_deadline(&self) -> Option<u64> {
        Stock::next_deadline(self)
    }

    fn indexed_ms(&mut self) -> &mut Option<u64> {
        &mut self.indexed_ms
    }
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
        return with_stock(state, key, now_ms, |stock, log| {
            stock.configure(log, total, limit)
        });
    }
    if let Err(error) = state.room_for_key(now_ms) {
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
    holder: &Bytes,
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
    with_stock(state, key, now_ms, |stock, log| {
        stock.reserve(log, holder, quantity, deadline, limits.holders_per_key_max)
    })
}

/// ```text
/// STOCK.CONFIRM sku holder
/// ```
/// How many units moved from held to sold (0 if the holder held none, e.g.
/// because the reservation expired).
pub fn confirm(state: &mut State, key: &[u8], holder: &Bytes, now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock, log| stock.confirm(log, holder))
}

/// ```text
/// STOCK.RELEASE sku holder
/// ```
/// How many held units went back to available.
pub fn release(state: &mut State, key: &[u8], holder: &Bytes, now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock, log| stock.release(log, holder))
}

/// ```text
/// STOCK.TAKE sku holder qty
/// ```
/// Reserve and confirm in one step: `["sold", holder_bought, available]` |
/// `["soldout", available]` | `["limit", holder_held_plus_bought]`. With
/// `STOCK.CONFIG coupon 100 LIMIT 1`, exactly 100 holders get one each.
pub fn take(state: &mut State, key: &[u8], holder: &Bytes, quantity: u64, now_ms: u64) -> Reply {
    let limits = state.limits;
    if let Err(error) = check_holder(&limits, holder) {
        return Reply::Error(error);
    }
    with_stock(state, key, now_ms, |stock, log| {
        stock.take(log, holder, quantity, limits.holders_per_key_max)
    })
}

/// ```text
/// STOCK.REFUND sku holder qty
/// ```
/// Returns sold units to available, never more than the holder bought;
/// replies how many were refunded.
pub fn refund(state: &mut State, key: &[u8], holder: &Bytes, quantity: u64, now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock, log| {
        stock.refund(log, holder, quantity)
    })
}

/// ```text
/// STOCK.INFO sku
/// ```
/// A map: `total`, `available`, `held`, `sold`, `limit` (nil when none).
pub fn info(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    with_stock(state, key, now_ms, |stock, _| stock.info())
}

/// Applies a logged stock effect (see [`State::replay`]). A key that is
/// missing is skipped (a snapshot did not capture it because it was
/// deleted, and the deletion follows in the log); an effect that does not
/// fit the SKU is an error, checked before anything changes.
pub fn replay(state: &mut State, effect: &StockEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let Value::Stock(stock) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "stock", &entry.value));
    };
    let fail = |what: String| Err(ReplayError::unfit(key, what));
    // The holder's slot and counts, when it has one.
    let holder_of = |stock: &Stock, holder: &[u8]| {
        stock
            .holders
            .find(holder)
            .map(|slot| (slot, *stock.holders.data(slot)))
    };
    // Whether `quantity` more units fit the SKU and the holder's limit.
    let fits = |stock: &Stock, holder: &[u8], quantity: u64| {
        let owned = holder_of(stock, holder).map_or(0, |(_, c)| c.held + c.bought);
        quantity <= stock.available()
            && stock
                .limit
                .is_none_or(|limit| owned.saturating_add(quantity) <= limit)
    };
    match effect {
        StockEffect::Config { total, limit, .. } => {
            let most = stock
                .holders
                .iter()
                .map(|(_, _, _, counts, _)| counts.held + counts.bought)
                .max()
                .unwrap_or(0);
            if *total < stock.held + stock.sold || limit.is_some_and(|limit| most > limit) {
                return fail(format!(
                    "total {total} or limit {limit:?} below what is taken"
                ));
            }
            stock.apply_config(*total, *limit);
        }
        StockEffect::Reserve {
            holder,
            quantity,
            deadline_ms,
            ..
        } => {
            if *quantity == 0 || *deadline_ms == 0 || !fits(stock, holder, *quantity) {
                return fail(format!("{quantity} units do not fit for {holder:?}"));
            }
            let found = stock.holders.find(holder);
            stock.apply_reserve(holder, found, *quantity, *deadline_ms);
        }
        StockEffect::Take {
            holder, quantity, ..
        } => {
            if *quantity == 0 || !fits(stock, holder, *quantity) {
                return fail(format!("{quantity} units do not fit for {holder:?}"));
            }
            let found = stock.holders.find(holder);
            stock.apply_take(holder, found, *quantity);
        }
        StockEffect::Confirm { holder, .. }
        | StockEffect::Release { holder, .. }
        | StockEffect::ReservationExpired { holder, .. } => {
            let Some((slot, counts)) = holder_of(stock, holder).filter(|(_, c)| c.held > 0) else {
                return fail(format!("{holder:?} holds no units"));
            };
            let _ = counts;
            match effect {
                StockEffect::Confirm { .. } => {
                    stock.apply_confirm(slot);
                }
                StockEffect::Release { .. } => stock.return_held(slot),
                _ => {
                    stock.apply_expired_reservation(slot);
                }
            }
        }
        StockEffect::Refund {
            holder, quantity, ..
        } => {
            let Some((slot, _)) =
                holder_of(stock, holder).filter(|(_, c)| *quantity > 0 && *quantity <= c.bought)
            else {
                return fail(format!("{holder:?} did not buy {quantity} units"));
            };
            stock.apply_refund(slot, *quantity);
        }
    }
    let next = stock.next_deadline();
    state.holds.sync(key, &mut stock.indexed_ms, next);
    Ok(())
}
