//! Sorted sets: the [`Zset`] structure and the Z* commands, with Redis's
//! semantics, replies and error texts.
//!
//! A sorted set orders its members by `(score, member bytes)`. [`Zset`] keeps
//! every member once, in an arena of nodes that form a treap (a binary search
//! tree balanced by random priorities) with subtree sizes, so finding,
//! inserting, removing and ranking a member are O(log n) expected, and a
//! range of m members by rank or by score is O(log n + m). A hash table of
//! node numbers finds a member's node from its bytes without storing the
//! bytes twice.
//!
//! Priorities come from a generator seeded per process (the state's hash
//! seed), so clients cannot choose insertion orders that unbalance the tree.
//! The tree's shape never shows in a reply.
//!
//! RESP3 note: ranges WITHSCORES and ZPOPMIN/ZPOPMAX reply with the flat
//! RESP2 layout (`member, score, member, score...`) in every protocol; scores
//! are typed doubles, which RESP2 sends as text.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashTable;
use usher_protocol::request::{ScoreBound, ZAddFlags, ZRangeBy};
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effect::{put_bytes, DecodeError, Effect, Reader, ReplayError};
use super::keyspace::Recorder;
use super::{State, Value};

/// Marks "no node" in links and the free list.
const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in the left subtree. Kept instead of the whole subtree's size
    /// so that a descent reads only the nodes on its path: with subtree
    /// sizes, every level also read the sibling's size, one more cache miss
    /// per level on a large set.
    left_size: u32,
    priority: u32,
}

/// A sorted set. See the module documentation for the layout.
#[derive(Clone)]
pub struct Zset {
    nodes: Vec<Node>,
    root: u32,
    /// Head of the list of free nodes, linked through `left`.
    free: u32,
    free_count: u32,
    /// Node numbers, hashed by member bytes.
    index: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// The seed `hasher` was made from, kept for serialization.
    seed: u64,
    /// State of the priority generator (xorshift64*).
    rng: u64,
}

impl std::fmt::Debug for Zset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zset").field("len", &self.len()).finish()
    }
}

/// Two sorted sets are equal when they hold the same members with the same
/// scores, whatever their internal layout.
impl PartialEq for Zset {
    fn eq(&self, other: &Zset) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

/// Orders `(score, member)` pairs as Redis does. Scores are never NaN.
fn compare(score: f64, member: &[u8], other_score: f64, other_member: &[u8]) -> Ordering {
    match score.partial_cmp(&other_score) {
        Some(Ordering::Equal) | None => member.cmp(other_member),
        Some(order) => order,
    }
}

impl Zset {
    pub fn new(seed: u64) -> Zset {
        Zset {
            nodes: Vec::new(),
            root: NIL,
            free: NIL,
            free_count: 0,
            index: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            seed,
            // xorshift must not start at 0.
            rng: seed | 1,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn next_priority(&mut self) -> u32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index
            .find(hash, |&node| &*self.nodes[node as usize].member == member)
            .copied()
    }

    /// The member's score.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member)
            .map(|node| self.nodes[node as usize].score)
    }

    /// Joins two treaps, every key of `a` (of `a_size` nodes) below every
    /// key of `b`.
    fn merge(&mut self, a: u32, a_size: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority >= self.nodes[b as usize].priority {
            let (right, right_size) = {
                let n = &self.nodes[a as usize];
                (n.right, a_size - n.left_size - 1)
            };
            let merged = self.merge(right, right_size, b);
            self.nodes[a as usize].right = merged;
            a
        } else {
            let left = self.nodes[b as usize].left;
            self.nodes[b as usize].left_size += a_size;
            let merged = self.merge(a, a_size, left);
            self.nodes[b as usize].left = merged;
            b
        }
    }

    /// Puts a detached node into the tree at the place its key orders it:
    /// one descent, then rotations on the way back up while its priority
    /// beats its parent's (a split-and-merge insert walks the path twice,
    /// and on large sets every level is a cache miss).
    fn link(&mut self, node: u32) {
        // The node is detached, so the descent never visits it: its member
        // can be lent out for the comparisons instead of copied.
        let member = std::mem::take(&mut self.nodes[node as usize].member);
        let score = self.nodes[node as usize].score;
        self.root = self.insert_at(self.root, node, score, &member);
        self.nodes[node as usize].member = member;
    }

    fn insert_at(&mut self, subtree: u32, node: u32, score: f64, member: &[u8]) -> u32 {
        if subtree == NIL {
            return node;
        }
        let here = &self.nodes[subtree as usize];
        if compare(score, member, here.score, &here.member) == Ordering::Less {
            let next = here.left;
            self.nodes[subtree as usize].left_size += 1;
            let left = self.insert_at(next, node, score, member);
            self.nodes[subtree as usize].left = left;
            if self.nodes[left as usize].priority > self.nodes[subtree as usize].priority {
                return self.rotate_right(subtree);
            }
        } else {
            let right = self.insert_at(here.right, node, score, member);
            self.nodes[subtree as usize].right = right;
            if self.nodes[right as usize].priority > self.nodes[subtree as usize].priority {
                return self.rotate_left(subtree);
            }
        }
        subtree
    }

    /// Lifts the left child of `top` above it; returns the new subtree root.
    fn rotate_right(&mut self, top: u32) -> u32 {
        let lifted = self.nodes[top as usize].left;
        let (moved, lifted_left_size) = {
            let l = &self.nodes[lifted as usize];
            (l.right, l.left_size)
        };
        // `top` keeps, on its left, only what was right of `lifted`.
        let t = &mut self.nodes[top as usize];
        t.left = moved;
        t.left_size -= lifted_left_size + 1;
        self.nodes[lifted as usize].right = top;
        lifted
    }

    /// Lifts the right child of `top` above it; returns the new subtree root.
    fn rotate_left(&mut self, top: u32) -> u32 {
        let lifted = self.nodes[top as usize].right;
        let top_left_size = self.nodes[top as usize].left_size;
        let moved = self.nodes[lifted as usize].left;
        self.nodes[top as usize].right = moved;
        // `lifted` gains, on its left, `top` and everything left of it.
        let l = &mut self.nodes[lifted as usize];
        l.left = top;
        l.left_size += top_left_size + 1;
        lifted
    }

    /// Takes the node with this key out of the subtree; returns the new
    /// subtree root.
    fn unlink_from(&mut self, subtree: u32, node: u32) -> u32 {
        assert!(subtree != NIL, "zset node missing from its tree");
        if subtree == node {
            let n = &mut self.nodes[node as usize];
            let (left, left_size, right) = (n.left, n.left_size, n.right);
            n.left = NIL;
            n.right = NIL;
            n.left_size = 0;
            return self.merge(left, left_size, right);
        }
        let goes_left = {
            let target = &self.nodes[node as usize];
            let here = &self.nodes[subtree as usize];
            compare(target.score, &target.member, here.score, &here.member) == Ordering::Less
        };
        if goes_left {
            let here = &mut self.nodes[subtree as usize];
            here.left_size -= 1;
            let left = here.left;
            let updated = self.unlink_from(left, node);
            self.nodes[subtree as usize].left = updated;
        } else {
            let right = self.nodes[subtree as usize].right;
            let updated = self.unlink_from(right, node);
            self.nodes[subtree as usize].right = updated;
        }
        subtree
    }

    fn unlink(&mut self, node: u32) {
        self.root = self.unlink_from(self.root, node);
    }

    /// Adds a member that is not in the set yet.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        assert!(!score.is_nan(), "NaN score reached the sorted set");
        debug_assert!(self.find(member).is_none());
        let priority = self.next_priority();
        let fresh = Node {
            member: member.into(),
            score,
            left: NIL,
            right: NIL,
            left_size: 0,
            priority,
        };
        let node = if self.free != NIL {
            let node = self.free;
            self.free = self.nodes[node as usize].left;
            self.free_count -= 1;
            self.nodes[node as usize] = fresh;
            node
        } else {
            assert!(
                self.nodes.len() < NIL as usize,
                "sorted set node space full"
            );
            self.nodes.push(fresh);
            (self.nodes.len() - 1) as u32
        };
        let hash = self.hasher.hash_one(member);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(hash, node, |&other| {
            hasher.hash_one(&*nodes[other as usize].member)
        });
        self.link(node);
    }

    /// Changes an existing member's score.
    pub fn set_score(&mut self, member: &[u8], score: f64) {
        assert!(!score.is_nan(), "NaN score reached the sorted set");
        let Some(node) = self.find(member) else {
            return;
        };
        if self.nodes[node as usize].score.to_bits() == score.to_bits() {
            return;
        }
        self.unlink(node);
        self.nodes[node as usize].score = score;
        self.link(node);
    }

    /// Removes a member; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        let entry = self
            .index
            .find_entry(hash, |&node| &*nodes[node as usize].member == member)
            .ok()?;
        let (node, _) = entry.remove();
        self.unlink(node);
        let n = &mut self.nodes[node as usize];
        let score = n.score;
        n.member = Box::default();
        n.left_size = 0;
        n.left = self.free;
        self.free = node;
        self.free_count += 1;
        self.maybe_compact();
        Some(score)
    }

    /// Rebuilds the arena once more than half of it is free nodes, so a set
    /// that shrank gives its memory back. O(n log n), after at least n/2
    /// removals.
    fn maybe_compact(&mut self) {
        let free = self.free_count as usize;
        if free < 1024 || free <= self.len() {
            return;
        }
        let members: Vec<(Box<[u8]>, f64)> = self
            .iter()
            .map(|(member, score)| (member.into(), score))
            .collect();
        let mut fresh = Zset {
            nodes: Vec::with_capacity(members.len()),
            root: NIL,
            free: NIL,
            free_count: 0,
            index: HashTable::with_capacity(members.len()),
            hasher: self.hasher,
            seed: self.seed,
            rng: self.rng,
        };
        for (member, score) in members {
            fresh.insert(&member, score);
        }
        *self = fresh;
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let target = self.find(member)?;
        let (score, key) = {
            let n = &self.nodes[target as usize];
            (n.score, &n.member)
        };
        let mut rank = 0usize;
        let mut node = self.root;
        while node != NIL {
            let n = &self.nodes[node as usize];
            match compare(score, key, n.score, &n.member) {
                Ordering::Less => node = n.left,
                Ordering::Equal => return Some(rank + n.left_size as usize),
                Ordering::Greater => {
                    rank += n.left_size as usize + 1;
                    node = n.right;
                }
            }
        }
        unreachable!("member in the index but not in the tree")
    }

    /// How many members have a score below `score` (or at most `score` when
    /// `or_equal`).
    pub fn count_below(&self, score: f64, or_equal: bool) -> usize {
        let mut count = 0usize;
        let mut node = self.root;
        while node != NIL {
            let n = &self.nodes[node as usize];
            let below = if or_equal {
                n.score <= score
            } else {
                n.score < score
            };
            if below {
                count += n.left_size as usize + 1;
                node = n.right;
            } else {
                node = n.left;
            }
        }
        count
    }

    /// Ranks `[first, last)` of the members within a score range.
    pub fn score_range_ranks(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        let first = self.count_below(min.value, min.exclusive);
        let end = self.count_below(max.value, !max.exclusive);
        (first, end.max(first))
    }

    /// Calls `visit` for the members whose rank lies in `[first, end)`, in
    /// ascending order, or descending when `reverse`.
    pub fn for_each_in_ranks(
        &self,
        first: usize,
        end: usize,
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], f64),
    ) {
        if first < end {
            self.visit_ranks(self.root, 0, self.len(), first, end, reverse, visit);
        }
    }

    /// `size` is the number of nodes in the subtree at `node`.
    #[allow(clippy::too_many_arguments)]
    fn visit_ranks(
        &self,
        node: u32,
        offset: usize,
        size: usize,
        first: usize,
        end: usize,
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], f64),
    ) {
        if node == NIL {
            return;
        }
        let n = &self.nodes[node as usize];
        if offset >= end || offset + size <= first {
            return;
        }
        let left_size = n.left_size as usize;
        let right_size = size - left_size - 1;
        let own = offset + left_size;
        let own_in = own >= first && own < end;
        if reverse {
            self.visit_ranks(n.right, own + 1, right_size, first, end, reverse, visit);
            if own_in {
                visit(&n.member, n.score);
            }
            self.visit_ranks(n.left, offset, left_size, first, end, reverse, visit);
        } else {
            self.visit_ranks(n.left, offset, left_size, first, end, reverse, visit);
            if own_in {
                visit(&n.member, n.score);
            }
            self.visit_ranks(n.right, own + 1, right_size, first, end, reverse, visit);
        }
    }

    /// Every member with its score, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let mut stack = Vec::new();
        let mut node = self.root;
        std::iter::from_fn(move || {
            while node != NIL {
                stack.push(node);
                node = self.nodes[node as usize].left;
            }
            let top = stack.pop()?;
            let n = &self.nodes[top as usize];
            node = n.right;
            Some((&*n.member, n.score))
        })
    }

    /// Serializes the set: seed, generator state and members in ascending
    /// order (the `zset` rule in `effect.rs`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.rng.to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for (member, score) in self.iter() {
            put_bytes(out, member);
            out.extend_from_slice(&score.to_bits().to_le_bytes());
        }
    }

    /// Rebuilds a set from [`Zset::encode`]'s bytes, tree and index
    /// included. Refuses NaN scores, repeated members and a zero generator
    /// state rather than building a set that breaks its invariants.
    pub fn decode(input: &mut Reader<'_>) -> Result<Zset, DecodeError> {
        let seed = input.u64()?;
        let rng = input.u64()?;
        if rng == 0 {
            return Err(DecodeError("sorted set with a zero generator state".into()));
        }
        let count = input.u64()?;
        let mut zset = Zset::new(seed);
        for _ in 0..count {
            let member = input.slice()?;
            let score = input.f64()?;
            if score.is_nan() {
                return Err(DecodeError("sorted set score is NaN".into()));
            }
            if zset.find(member).is_some() {
                return Err(DecodeError("sorted set member repeated".into()));
            }
            zset.insert(member, score);
        }
        // Later insertions draw the priorities the original would have.
        zset.rng = rng;
        Ok(zset)
    }

    /// Checks the tree order, sizes, heap order and index; for tests.
    pub fn check_invariants(&self) {
        let mut counted = 0usize;
        let mut previous: Option<(f64, &[u8])> = None;
        for (member, score) in self.iter() {
            assert!(!score.is_nan());
            if let Some((p_score, p_member)) = previous {
                assert_eq!(
                    compare(p_score, p_member, score, member),
                    Ordering::Less,
                    "sorted set out of order"
                );
            }
            assert!(self.find(member).is_some(), "member missing from index");
            previous = Some((score, member));
            counted += 1;
        }
        assert_eq!(counted, self.len(), "tree and index sizes differ");
        assert_eq!(self.checked_size(self.root), counted, "tree size wrong");
        assert_eq!(
            self.nodes.len(),
            counted + self.free_count as usize,
            "lost nodes"
        );
    }

    /// The number of nodes under `node`, checking each node's `left_size`
    /// and the heap order of priorities on the way; for tests.
    fn checked_size(&self, node: u32) -> usize {
        if node == NIL {
            return 0;
        }
        let n = &self.nodes[node as usize];
        for child in [n.left, n.right] {
            if child != NIL {
                assert!(self.nodes[child as usize].priority <= n.priority);
            }
        }
        let left = self.checked_size(n.left);
        assert_eq!(n.left_size as usize, left, "left subtree size wrong");
        left + 1 + self.checked_size(n.right)
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/// The sorted set at `key`, `None` if missing, WRONGTYPE for another type.
/// Read-only: changes go through [`zset_write`], which records them.
fn zset_ref<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a Zset>, ServerError> {
    match state.keyspace.get_live(key, now_ms) {
        None => Ok(None),
        Some(entry) => match &entry.value {
            Value::Zset(zset) => Ok(Some(zset)),
            _ => Err(ServerError::WRONG_TYPE),
        },
    }
}

/// Like [`zset_ref`] for commands that change members, with the recorder
/// for their effects.
fn zset_write<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<(&'a mut Zset, Recorder<'a>)>, ServerError> {
    match state.keyspace.get_live_recorded(key, now_ms) {
        None => Ok(None),
        Some((entry, recorder)) => match &mut entry.value {
            Value::Zset(zset) => Ok(Some((zset, recorder))),
            _ => Err(ServerError::WRONG_TYPE),
        },
    }
}

/// Removes a member and records it; returns whether it was there.
fn remove_member(zset: &mut Zset, member: &[u8], recorder: &mut Recorder) -> bool {
    let removed = zset.remove(member).is_some();
    if removed {
        recorder.record(|key| Effect::ZsetRemove {
            key,
            member: Bytes::copy_from_slice(member),
        });
    }
    removed
}

/// Applies a logged `ZsetSet` or `ZsetRemove` (see `effect.rs`).
pub fn replay(state: &mut State, effect: &Effect) -> Result<(), ReplayError> {
    let (key, member) = match effect {
        Effect::ZsetSet { key, member, .. } | Effect::ZsetRemove { key, member } => (key, member),
        _ => return Err(ReplayError("not a sorted-set effect".into())),
    };
    let Some(entry) = state.keyspace.get_mut(key) else {
        // Deleted before a snapshot reached it; its Delete follows.
        return Ok(());
    };
    let Value::Zset(zset) = &mut entry.value else {
        return Err(ReplayError(format!(
            "sorted-set effect on key \"{}\", which holds a {}",
            key.escape_ascii(),
            entry.value.type_name()
        )));
    };
    match effect {
        Effect::ZsetSet { score, .. } => {
            if score.is_nan() {
                return Err(ReplayError("sorted-set score is NaN".into()));
            }
            if zset.score(member).is_some() {
                zset.set_score(member, *score);
            } else {
                zset.insert(member, *score);
            }
        }
        _ => {
            if zset.remove(member).is_none() {
                return Err(ReplayError(format!(
                    "removal of \"{}\", which is not in sorted set \"{}\"",
                    member.escape_ascii(),
                    key.escape_ascii()
                )));
            }
        }
    }
    Ok(())
}

/// Like [`zset_ref`] for read commands, counting keyspace hits and misses.
fn zset_read<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Zset>, ServerError> {
    let stats = &mut state.stats;
    match state.keyspace.get_live(key, now_ms) {
        None => {
            stats.keyspace_misses += 1;
            Ok(None)
        }
        Some(entry) => {
            stats.keyspace_hits += 1;
            match &mut entry.value {
                Value::Zset(zset) => Ok(Some(zset)),
                _ => Err(ServerError::WRONG_TYPE),
            }
        }
    }
}

/// Deletes the key once its set is empty, as Redis does.
fn drop_if_empty(state: &mut State, key: &[u8], now_ms: u64) {
    if let Ok(Some(zset)) = zset_ref(state, key, now_ms) {
        if zset.is_empty() {
            state.keyspace.remove(key);
        }
    }
}

fn member_limit(state: &State, member: &[u8]) -> Result<(), ServerError> {
    if member.len() > state.limits.member_bytes_max {
        return Err(ServerError::limit(
            "member length in bytes",
            state.limits.member_bytes_max as u64,
        ));
    }
    Ok(())
}

const NAN_SCORE: ServerError = ServerError::new_static(
    ErrorCode::NotFloat,
    "ERR resulting score is not a number (NaN)",
);

/// ```text
/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
/// ```
/// The number of members added (added or changed with CH); with INCR, the
/// member's new score, or nil when a condition stopped the update. With XX a
/// missing key stays missing. Every pair is checked before any is applied.
pub fn zadd(
    state: &mut State,
    key: &[u8],
    flags: ZAddFlags,
    pairs: &[(f64, Bytes)],
    now_ms: u64,
) -> Reply {
    for (_, member) in pairs {
        if let Err(error) = member_limit(state, member) {
            return error.into();
        }
    }
    let seed = state.hash_seed;
    let members_max = state.limits.zset_members_max;
    let (exists, fits) = match zset_ref(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(None) => (false, pairs.len() <= members_max),
        Ok(Some(zset)) => {
            // Members already present do not count against the limit.
            let fits = flags.xx
                || zset.len() + pairs.len() <= members_max
                || zset.len()
                    + pairs
                        .iter()
                        .filter(|(_, member)| zset.score(member).is_none())
                        .count()
                    <= members_max;
            (true, fits)
        }
    };
    if !exists && flags.xx {
        return if flags.incr {
            Reply::Nil
        } else {
            Reply::Int(0)
        };
    }
    if !fits {
        return ServerError::new(
            ErrorCode::Limit,
            format!("ERR sorted set would exceed zset_members_max ({members_max})"),
        )
        .into();
    }
    if !exists {
        if let Err(error) = state.room_for_key(now_ms) {
            return error.into();
        }
        state
            .keyspace
            .insert(key, Value::Zset(Box::new(Zset::new(seed))), None);
    }
    let Ok(Some((zset, mut recorder))) = zset_write(state, key, now_ms) else {
        return ServerError::generic("ERR sorted set vanished").into();
    };
    let mut added = 0i64;
    let mut changed = 0i64;
    let mut incr_result = Reply::Nil;
    for (score, member) in pairs {
        match zset.score(member) {
            Some(old) => {
                if flags.nx {
                    continue;
                }
                let new = if flags.incr { old + score } else { *score };
                if new.is_nan() {
                    // Only INCR gets here, with its single pair: nothing
                    // has changed yet.
                    return NAN_SCORE.into();
                }
                if (flags.gt && new <= old) || (flags.lt && new >= old) {
                    continue;
                }
                if new != old {
                    zset.set_score(member, new);
                    recorder.record(|key| Effect::ZsetSet {
                        key,
                        member: member.clone(),
                        score: new,
                    });
                    changed += 1;
                }
                incr_result = Reply::Double(new);
            }
            None => {
                if flags.xx {
                    continue;
                }
                zset.insert(member, *score);
                recorder.record(|key| Effect::ZsetSet {
                    key,
                    member: member.clone(),
                    score: *score,
                });
                added += 1;
                incr_result = Reply::Double(*score);
            }
        }
    }
    drop_if_empty(state, key, now_ms);
    if flags.incr {
        incr_result
    } else if flags.ch {
        Reply::Int(added + changed)
    } else {
        Reply::Int(added)
    }
}

/// ```text
/// ZINCRBY key increment member
/// ```
/// The member's new score; a missing member starts at 0.
pub fn zincrby(state: &mut State, key: &[u8], delta: f64, member: &Bytes, now_ms: u64) -> Reply {
    let flags = ZAddFlags {
        incr: true,
        ..ZAddFlags::default()
    };
    zadd(state, key, flags, &[(delta, member.clone())], now_ms)
}

/// ```text
/// ZREM key member [member ...]
/// ```
/// How many of the members were removed.
pub fn zrem(state: &mut State, key: &[u8], members: &[Bytes], now_ms: u64) -> Reply {
    let (zset, mut recorder) = match zset_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    let removed = members
        .iter()
        .filter(|member| remove_member(zset, member, &mut recorder))
        .count();
    drop_if_empty(state, key, now_ms);
    Reply::Int(removed as i64)
}

/// ```text
/// ZSCORE key member
/// ```
/// The member's score, or nil.
pub fn zscore(state: &mut State, key: &[u8], member: &[u8], now_ms: u64) -> Reply {
    match zset_read(state, key, now_ms) {
        Ok(Some(zset)) => zset.score(member).map_or(Reply::Nil, Reply::Double),
        Ok(None) => Reply::Nil,
        Err(error) => error.into(),
    }
}

/// ```text
/// ZCARD key
/// ```
/// The number of members; 0 when the key is missing.
pub fn zcard(state: &mut State, key: &[u8], now_ms: u64) -> Reply {
    match zset_read(state, key, now_ms) {
        Ok(Some(zset)) => Reply::Int(zset.len() as i64),
        Ok(None) => Reply::Int(0),
        Err(error) => error.into(),
    }
}

/// ```text
/// ZCOUNT key min max
/// ```
/// How many members have a score within `[min, max]` (`(` excludes a bound).
pub fn zcount(
    state: &mut State,
    key: &[u8],
    min: ScoreBound,
    max: ScoreBound,
    now_ms: u64,
) -> Reply {
    match zset_read(state, key, now_ms) {
        Ok(Some(zset)) => {
            let (first, end) = zset.score_range_ranks(min, max);
            Reply::Int((end - first) as i64)
        }
        Ok(None) => Reply::Int(0),
        Err(error) => error.into(),
    }
}

/// ```text
/// ZRANK key member [WITHSCORE] | ZREVRANK key member [WITHSCORE]
/// ```
/// The member's 0-based rank (from the lowest score, or from the highest
/// with ZREVRANK), `[rank, score]` WITHSCORE, or nil if absent.
pub fn zrank(
    state: &mut State,
    key: &[u8],
    member: &[u8],
    reverse: bool,
    with_score: bool,
    now_ms: u64,
) -> Reply {
    let zset = match zset_read(state, key, now_ms) {
        Ok(Some(zset)) => zset,
        Ok(None) => return Reply::Nil,
        Err(error) => return error.into(),
    };
    let (Some(rank), Some(score)) = (zset.rank(member), zset.score(member)) else {
        return Reply::Nil;
    };
    let rank = if reverse { zset.len() - 1 - rank } else { rank };
    if with_score {
        Reply::Array(vec![Reply::Int(rank as i64), Reply::Double(score)])
    } else {
        Reply::Int(rank as i64)
    }
}

/// Resolves Redis rank indexes (negative counts from the end) to `[first,
/// end)`, empty when out of range.
fn rank_window(len: usize, start: i64, stop: i64) -> (usize, usize) {
    let len_i = len as i64;
    let start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len_i + stop
    } else {
        stop.min(len_i - 1)
    };
    if start > stop || start >= len_i {
        (0, 0)
    } else {
        (start as usize, stop as usize + 1)
    }
}

fn too_many_items(items: usize, reply_items_max: usize) -> Reply {
    ServerError::new(
        ErrorCode::Limit,
        format!(
            "ERR the reply would hold {items} members; reply_items_max is {reply_items_max} (use LIMIT or a smaller range)"
        ),
    )
    .into()
}

/// Collects members (and scores) of ranks `[first, end)` as a flat reply.
fn collect(zset: &Zset, first: usize, end: usize, reverse: bool, with_scores: bool) -> Reply {
    let per = if with_scores { 2 } else { 1 };
    let mut items = Vec::with_capacity((end - first) * per);
    zset.for_each_in_ranks(first, end, reverse, &mut |member, score| {
        items.push(Reply::Bulk(Bytes::copy_from_slice(member)));
        if with_scores {
            items.push(Reply::Double(score));
        }
    });
    Reply::Array(items)
}

/// ```text
/// ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]
/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
/// ZREVRANGE key start stop [WITHSCORES]
/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
/// ```
/// The members in the range, in order (reversed with REV), with scores
/// interleaved WITHSCORES. By rank, negative indexes count from the end.
/// By score, LIMIT skips `offset` members and returns at most `count`
/// (negative = all).
pub fn zrange(
    state: &mut State,
    key: &[u8],
    by: ZRangeBy,
    reverse: bool,
    limit: (i64, i64),
    with_scores: bool,
    now_ms: u64,
) -> Reply {
    let (offset, count) = limit;
    let reply_items_max = state.limits.reply_items_max;
    let zset = match zset_read(state, key, now_ms) {
        Ok(Some(zset)) => zset,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    let (mut first, mut end) = match by {
        ZRangeBy::Rank { start, stop } => {
            let (first, end) = rank_window(zset.len(), start, stop);
            if reverse {
                // Indexes count from the highest score.
                (zset.len() - end, zset.len() - first)
            } else {
                (first, end)
            }
        }
        ZRangeBy::Score { min, max } => zset.score_range_ranks(min, max),
    };
    if matches!(by, ZRangeBy::Score { .. }) {
        if offset < 0 {
            return Reply::Array(Vec::new());
        }
        let available = end - first;
        let skip = (offset as u64).min(available as u64) as usize;
        let take = if count < 0 {
            available - skip
        } else {
            (count as u64).min((available - skip) as u64) as usize
        };
        if reverse {
            end -= skip;
            first = end - take;
        } else {
            first += skip;
            end = first + take;
        }
    }
    if end - first > reply_items_max {
        return too_many_items(end - first, reply_items_max);
    }
    collect(zset, first, end, reverse, with_scores)
}

/// ```text
/// ZPOPMIN key [count] | ZPOPMAX key [count]
/// ```
/// Removes and returns up to `count` (default 1) members with the lowest
/// (highest) scores, as `[member, score, ...]`.
pub fn zpop(state: &mut State, key: &[u8], max: bool, count: Option<i64>, now_ms: u64) -> Reply {
    let count = count.unwrap_or(1);
    if count < 0 {
        return ServerError::new_static(
            ErrorCode::Syntax,
            "ERR value is out of range, must be positive",
        )
        .into();
    }
    let reply_items_max = state.limits.reply_items_max;
    let (zset, mut recorder) = match zset_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    let take = (count as u64).min(zset.len() as u64) as usize;
    if take > reply_items_max {
        return too_many_items(take, reply_items_max);
    }
    let (first, end) = if max {
        (zset.len() - take, zset.len())
    } else {
        (0, take)
    };
    let mut popped: Vec<(Bytes, f64)> = Vec::with_capacity(take);
    zset.for_each_in_ranks(first, end, max, &mut |member, score| {
        popped.push((Bytes::copy_from_slice(member), score));
    });
    let mut items = Vec::with_capacity(take * 2);
    for (member, score) in popped {
        remove_member(zset, &member, &mut recorder);
        items.push(Reply::Bulk(member));
        items.push(Reply::Double(score));
    }
    drop_if_empty(state, key, now_ms);
    Reply::Array(items)
}

/// Removes the members of ranks `[first, end)`; returns how many.
fn remove_ranks(state: &mut State, key: &[u8], first: usize, end: usize, now_ms: u64) -> Reply {
    let Ok(Some((zset, mut recorder))) = zset_write(state, key, now_ms) else {
        return Reply::Int(0);
    };
    let mut doomed: Vec<Box<[u8]>> = Vec::with_capacity(end - first);
    zset.for_each_in_ranks(first, end, false, &mut |member, _| {
        doomed.push(member.into())
    });
    for member in &doomed {
        remove_member(zset, member, &mut recorder);
    }
    drop_if_empty(state, key, now_ms);
    Reply::Int(doomed.len() as i64)
}

/// ```text
/// ZREMRANGEBYSCORE key min max
/// ```
/// Removes the members whose score is within the range; returns how many.
pub fn zremrangebyscore(
    state: &mut State,
    key: &[u8],
    min: ScoreBound,
    max: ScoreBound,
    now_ms: u64,
) -> Reply {
    let (first, end) = match zset_ref(state, key, now_ms) {
        Ok(Some(zset)) => zset.score_range_ranks(min, max),
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    remove_ranks(state, key, first, end, now_ms)
}

/// ```text
/// ZREMRANGEBYRANK key start stop
/// ```
/// Removes the members whose rank is within `[start, stop]` (negative
/// indexes count from the end); returns how many.
pub fn zremrangebyrank(state: &mut State, key: &[u8], start: i64, stop: i64, now_ms: u64) -> Reply {
    let (first, end) = match zset_ref(state, key, now_ms) {
        Ok(Some(zset)) => rank_window(zset.len(), start, stop),
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    remove_ranks(state, key, first, end, now_ms)
}
