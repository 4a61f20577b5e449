//! Hashes: the [`Hash`] structure ([`fields`]), its effects ([`effects`])
//! and the H* commands ([`commands`]), with Redis's semantics, replies and
//! error texts.
//!
//! Layout, chosen for memory per field: a [`Hash`] is 32 bytes inside the
//! key's `Value` (not boxed), and every entry (field and value) lives
//! packed in one byte arena after a 9-byte header (the seed, and the field
//! count while the hash has no index): a head byte (the value's kind and a
//! short field's length), the field, then the value: a string with a
//! varint length, or an integer in 1, 2, 4 or 8 bytes (a value that is
//! the canonical text of an integer is stored as the integer, so HINCRBY
//! neither parses nor formats). A field of 22 bytes with a small integer
//! value takes 25 bytes.
//!
//! - A small hash (at most [`fields::SMALL_FIELDS_MAX`] fields and
//!   [`fields::SMALL_BYTES_MAX`] arena bytes) is just the arena: lookups
//!   walk it, as Redis walks a listpack; a removal closes its gap.
//! - A larger one adds a [`TagIndex`](crate::state::tagindex::TagIndex)
//!   over *slots*: `slots[i]` is the arena offset of the i-th live entry.
//!   Entries never move on their own: a removal leaves dead bytes and
//!   moves the last slot into the freed one, a value that changes size is
//!   appended anew. Once dead bytes outweigh live ones the arena is
//!   rewritten in slot order; slots keep their numbers, so the index is
//!   untouched. Slots give HRANDFIELD a uniform draw and HSCAN a cursor
//!   (positions counted down, as SCAN's). An indexed hash never goes back
//!   to the small form (neither does Redis's).
//!
//! A value that keeps its encoded size (an integer within its entry's
//! width, a string of the same length) is rewritten in place: HINCRBY and
//! HSET of such a value allocate nothing.
//!
//! The serialized form (`encode`) is seed, count, then the fields and
//! values in iteration order. The seed keys the index's hash and
//! HRANDFIELD's draws.

pub mod commands;
pub mod effects;
pub mod fields;

pub use commands::*;
pub use effects::HashEffect;
pub use fields::Hash;
