//! Lists: the [`List`] structure ([`deque`]), its effects ([`effects`]) and
//! the list commands ([`commands`]: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP,
//! RPOP, LLEN, LRANGE, LINDEX, LSET, LREM, LTRIM, LPOS, LMOVE and the
//! blocking BLPOP, BRPOP and BLMOVE), with Redis's semantics, replies and
//! error texts.
//!
//! A list is never empty while stored: the pop, removal or trim that takes
//! its last item deletes the key, as in Redis. Its length is bounded by
//! `list_items_max`, and each item's length by `value_bytes_max` (checked
//! by the connection, like a string value's).

pub mod commands;
pub mod deque;
pub mod effects;

pub use commands::*;
pub use deque::List;
pub use effects::ListEffect;
