//! Sorted sets: the [`Zset`] structure ([`set`]), its effects ([`effects`]) and the Z* commands ([`commands`]), with Redis's
//! semantics, replies and error texts.
//!
//! A sorted set orders its members by `(score, member bytes)`. [`Zset`] is an
//! order-statistic B+tree over three arenas:
//!
//! - `members`: each member's bytes and score, addressed by a `u32` id, with
//!   a list of free ids. A hash table of ids (`index`) finds a member from
//!   its bytes without storing the bytes twice.
//! - `leaves`: up to [`LEAF_CAP`] entries each, as parallel arrays of scores
//!   and member ids, in order, linked to their neighbours both ways so a
//!   range walks leaves without going back up the tree.
//! - `inners`: up to [`INNER_CAP`] children each, with the number of members
//!   under every child (for ranks) and a separator key between neighbouring
//!   children: a score and owned member bytes, empty unless the scores on
//!   both sides of the boundary tie.
//!
//! Why a B+tree: a binary tree needs one dependent cache miss per level
//! (~23 levels at 10⁵ members) for every insert, removal and rank; here a
//! descent reads ~5 nodes at 10⁵ members (4 inner levels and a leaf; 6 at
//! 10⁶), each a few contiguous cache lines. Scores are
//! stored inline in leaves and separators, so member bytes are read only
//! when scores tie. Separators own their bytes rather than naming a member
//! id, because a removed member's id is reused and would silently change
//! the separator; owned separators stay valid bounds whatever is removed,
//! so removals never have to fix them. Where the scores on both sides of a
//! boundary differ, the separator is the score with empty bytes, so splits
//! and borrows usually neither allocate nor read a member.
//!
//! Balance: every node except the root holds at least half its capacity,
//! with one exception: the rightmost node of each level may hold less (at
//! least one entry, inner nodes at least two children). Inserting past the
//! last entry of the rightmost leaf (scores in arrival order, and rebuilding
//! or decoding a set, which insert in ascending order) splits off just the
//! new entry instead of halving the node, so such sets fill their leaves.
//! A full leaf first shares entries with a neighbour that has room, and
//! splits only when both are full, so random insertions fill leaves to
//! ~80 %. Removals borrow from (half the difference) or merge with a sibling
//! when a node drops below half. The whole set is rebuilt once more than
//! half of the member arena is free, so a set that shrank gives its memory
//! back.
//!
//! The serialized form (`encode`) is seed, generator state, members in
//! ascending order. The B+tree draws no random numbers; ZRANDMEMBER does,
//! from the generator, whose state is part of the value format (never
//! zero, as the format requires), so its draws depend only on the set.
//!
//! Reply shapes, as Redis 7.2: ranges WITHSCORES, ZRANDMEMBER WITHSCORES,
//! ZUNION/ZINTER/ZDIFF WITHSCORES and ZPOPMIN/ZPOPMAX with a count reply
//! [`Reply::Pairs`], which RESP2 and the binary protocol send flat
//! (`member, score, member, score...`) and RESP3 as `[member, score]`
//! arrays; ZPOPMIN/ZPOPMAX without a count reply a flat `[member, score]`
//! in every protocol. Scores are typed doubles, which RESP2 sends as text.
//! ZMPOP and BZMPOP reply with `[key, [[member, score], ...]]` in both, as
//! Redis does.
//!
//! The commands of one key are in [`commands`]; those that read several
//! keys or store into one (ZUNION, ZINTER, ZDIFF, their STORE forms,
//! ZINTERCARD, ZRANGESTORE) in [`combine`].

pub mod combine;
pub mod commands;
pub mod effects;
pub mod set;

pub use combine::*;
pub use commands::*;
pub use effects::ZsetEffect;
pub use set::Zset;
