//! Waiting rooms: the [`Queue`] structure ([`room`], over [`members`]), its
//! effects ([`effects`]), the QUEUE.* commands and replay ([`commands`]),
//! and the timer index that lets the engine admit and expire members on
//! its own ([`timers`]).
//!
//! A queue holds *waiting* members in arrival order and *active* members
//! (admitted, optionally until a deadline). Admission is automatic when the
//! queue has a CAPACITY (at most n active; a freed slot is refilled at once)
//! and/or a RATE (at most n admitted per period, in fixed windows anchored
//! when the rate was set); with neither, only `QUEUE.ADMIT` admits.
//!
//! Layout, chosen for ~10⁶ waiting members at well under 64 bytes each:
//! - [`Members`]: member ids interned once in 64 KiB chunks (length-prefixed,
//!   no per-member allocation), a 12-byte [`Slot`] per member, and a hash
//!   table of 4-byte slot numbers. A chunk whose live bytes fall under a
//!   quarter is evacuated, so churn does not leak memory.
//! - [`WaitLine`]: the waiting order as a deque of slot numbers indexed by
//!   arrival sequence number, with a Fenwick tree over blocks of 64 sequence
//!   numbers, so a position (rank among the waiting) is O(log n), joining and
//!   admitting the oldest are O(log n), and gaps left by admissions and
//!   departures are compacted away in amortized O(1).
//! - Active members with a deadline sit in an ordered set of
//!   `(deadline, member hash, slot)`, so expiry pops due entries without
//!   scanning. Equal deadlines (everyone admitted in the same millisecond)
//!   expire in member-hash order, which depends only on the id and the
//!   queue's seed: every copy of a queue, however its slots are numbered,
//!   expires them in the same order.
//!
//! Time-driven changes go through exactly two functions, each of which logs
//! its own effect: [`Queue::admit_one`] (one member admitted, with its
//! absolute deadline) and [`Queue::expire_one`] (one active member's
//! deadline passed). Commands first catch up on due work (bounded by
//! [`commands::INLINE_EFFECTS_MAX`]), and the engine's timer does the rest through
//! [`commands::run_timers`], driven by the [`QueueTimers`] index of `(next due time,
//! queue key)`.
//!
//! Durability: every change is logged as a per-member effect (`QueueJoin`,
//! `QueueEffect::Admit`, ... in [`effects`]) through the key's recorder, and
//! [`commands::replay`] applies each through the same `*_slot` functions the commands
//! use, so counters, rate windows and eta history come out the same. A
//! queue's full serialization ([`Queue::encode`]) keeps members, order,
//! deadlines, settings and counters; the hash index, arena layout and
//! Fenwick tree are rebuilt when it is decoded.

pub mod commands;
pub mod effects;
pub mod members;
pub mod room;
pub mod timers;

pub use commands::*;
pub use effects::{QueueEffect, QueueSettings};
pub use members::QUEUE_MEMBER_BYTES_LIMIT;
pub use room::{ClosedLine, Queue, Standing};
pub use timers::QueueTimers;
