//! Seat maps, one per event key ([`map`]), their effects ([`effects`]) and
//! the commands and replay ([`commands`]): SEAT.CREATE, HOLD, CONFIRM, RELEASE,
//! STATUS, HOLDER and INFO, and the release of holds whose deadline passed.
//!
//! Storage, chosen to stay near 12 bytes per seat for a 10⁶-seat event with
//! 10⁵ holders (the goal is ≤ 16; 15 with 10 seats per holder):
//! - one `u32` per seat: 0 = free, otherwise the owner's holder slot + 1,
//!   with the top bit set once the seat is sold;
//! - a [`HolderTable`] whose per-holder payload is the holder's seat list
//!   (held seats ascending, then sold seats ascending with the top bit set,
//!   4 bytes each) and which keeps no other data: the counts follow from
//!   the list. A holder's holds share one deadline.
//!
//! A hold exists while `now < deadline`. Every command on an event first
//! releases the holds that are due (so replies never depend on when the
//! timer last ran), and the engine's timer releases them with no request
//! (see `State::run_timers`). Both go through [`SeatMap::release_expired_hold`],
//! the one place where time changes a seat map, so the durability layer can
//! log that effect as its own record.
//!
//! Invariants, asserted by [`SeatMap::check_invariants`]: free + held + sold
//! = total; every taken seat is in exactly its owner's list; no holder
//! exceeds the limit; a holder with held seats has a deadline and one
//! without has none; expiry only ever frees held seats, never sold ones.
//! The O(1) ones are asserted after every change, and the full check runs
//! after every change to small maps in debug builds.
//!
//! Durability: each successful change is one effect on one key (see
//! [`effects`]), with absolute times only: SEAT.CREATE is a `Put` of the
//! whole (empty) map; `SeatEffect::Hold {holder, deadline_ms, new seats}` (the
//! holder's deadline becomes `deadline_ms` even when no seat is new);
//! `Confirm {holder}`; `Release {holder, released seats}`; and
//! `HoldExpired {holder}`, recorded by [`SeatMap::release_expired_hold`]
//! whether the timer or a command's lazy expiry got there first. Refused
//! requests (`taken`, `limit`, errors) change nothing and log nothing. The
//! command and [`commands::replay`] make the change through the same `apply_*`
//! function, and slots are reused lowest first, so replaying the effects in
//! order gives the same slots, lists and deadlines.
//!
//! Whole-map encoding (value tag 5; snapshots and `Put`), little-endian:
//!
//! ```text
//! seat-map := total:u32 limit:u64 slots:u32 slot{slots}
//! slot     := 0                                        (free)
//!           | 1 id:(u32 length + bytes) deadline:u64 held:u32 sold:u32
//!             seat:u32{held} seat:u32{sold}           (each list ascending)
//! ```
//! Every holder slot is listed, free ones too, so the decoded table has the
//! same slot numbers (and the decoder's allocations are bounded by its
//! input, but for the seat words of a corrupt `total`; snapshot chunks and
//! log records are checksummed). The seat words, totals, id index and
//! deadline heap follow from the holders and are rebuilt.

pub mod commands;
pub mod effects;
pub mod map;

pub use commands::*;
pub use effects::SeatEffect;
pub use map::{SeatHolder, SeatMap};
