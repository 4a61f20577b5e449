//! Sets: the [`Set`] structure ([`packed`]), its effects ([`effects`]) and
//! the S* commands ([`commands`]), with Redis's semantics, replies and error
//! texts.
//!
//! A set is never empty: the last removal deletes its key. Its members are
//! packed in one byte arena behind a [`crate::state::tagindex::TagIndex`]
//! of offsets (see [`packed`] for the layout and its memory figures).
//! SPOP and SRANDMEMBER draw from the value's own seeded generator, so
//! they are deterministic given the state; SPOP logs what it removed as
//! plain removals, so replay never draws.
//!
//! RESP3: SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count reply with
//! a set (`~`), as Redis 7 does; SRANDMEMBER with a count with an array.

pub mod commands;
pub mod effects;
pub mod packed;

pub use commands::*;
pub use effects::SetEffect;
pub use packed::Set;
