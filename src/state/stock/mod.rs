//! Stock, one countable pool of units per SKU key ([`sku`]), its effects
//! ([`effects`]) and the commands and replay ([`commands`]): STOCK.CONFIG, RESERVE,
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
//! Durability: each change is one effect on one key (see [`effects`]), with
//! absolute times only: creation by STOCK.CONFIG is a `Put` of the whole
//! SKU; `StockConfig {total, limit}` for an existing one; `StockReserve
//! {holder, quantity, deadline_ms}`; `StockConfirm {holder}` and
//! `StockRelease {holder}` (only when units moved); `StockTake {holder,
//! quantity}`; `StockRefund {holder, quantity refunded}` (only when above
//! 0); and `StockReservationExpired {holder}`, recorded by
//! [`Stock::release_expired_reservation`] whether the timer or a command's
//! lazy expiry got there first. The command and [`commands::replay`] make the change
//! through the same function.
//!
//! Whole-SKU encoding (value tag 6; snapshots and `Put`), little-endian:
//!
//! ```text
//! stock  := total:u64 limit slots:u32 slot{slots}
//! limit  := 0 | 1 k:u64                                   (none | k)
//! slot   := 0                                             (free)
//!         | 1 id:(u32 length + bytes) deadline:u64 held:u64 bought:u64
//! ```
//! Every holder slot is listed, free ones too, so the decoded table has the
//! same slot numbers. Totals, the id index and the deadline heap are
//! rebuilt.

pub mod commands;
pub mod effects;
pub mod sku;

pub use commands::*;
pub use effects::StockEffect;
pub use sku::{Stock, StockHolder};
