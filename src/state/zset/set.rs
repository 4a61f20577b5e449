//! The [`Zset`] structure: an order-statistic B+tree over member, leaf and
//! inner-node arenas (see the module documentation of [`super`]), and its
//! value encoding.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use usher_protocol::request::ScoreBound;

use crate::encoding::{put_bytes, sampled_average, DecodeError, Reader};
use crate::state::tagindex::TagIndex;

/// Marks "no node" in leaf links.
const NIL: u32 = u32::MAX;

/// Entries per leaf: 32 scores (256 bytes) and ids (128 bytes), so a leaf's
/// binary search touches a handful of cache lines and a 10⁵-member set has
/// ~4 levels.
const LEAF_CAP: usize = 32;
/// Fewest entries of a leaf that is neither the root nor the rightmost.
const LEAF_MIN: usize = LEAF_CAP / 2;
/// Children per inner node.
const INNER_CAP: usize = 16;
/// Fewest children of an inner node that is neither the root nor the
/// rightmost.
const INNER_MIN: usize = INNER_CAP / 2;

#[derive(Clone, Debug, Default)]
struct Member {
    /// Empty while the id is free.
    bytes: Box<[u8]>,
    score: f64,
}

#[derive(Clone)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    scores: [f64; LEAF_CAP],
    ids: [u32; LEAF_CAP],
}

impl Default for Leaf {
    fn default() -> Leaf {
        Leaf {
            len: 0,
            prev: NIL,
            next: NIL,
            scores: [0.0; LEAF_CAP],
            ids: [0; LEAF_CAP],
        }
    }
}

#[derive(Clone)]
struct Inner {
    /// Number of children; `len - 1` separators.
    len: u32,
    children: [u32; INNER_CAP],
    /// Members under each child.
    counts: [u32; INNER_CAP],
    /// Separator `j` lies above every key of child `j` and at or below every
    /// key of child `j + 1`. Unused slots hold empty bytes.
    sep_scores: [f64; INNER_CAP - 1],
    sep_members: [Box<[u8]>; INNER_CAP - 1],
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            len: 0,
            children: [0; INNER_CAP],
            counts: [0; INNER_CAP],
            sep_scores: [0.0; INNER_CAP - 1],
            sep_members: std::array::from_fn(|_| Box::default()),
        }
    }
}

/// A node split in two: the separator to put into the parent between the
/// old node and `right`, and both halves' member counts.
struct Split {
    score: f64,
    member: Box<[u8]>,
    right: u32,
    left_count: u32,
    right_count: u32,
}

/// A sorted set. See the module documentation for the layout.
#[derive(Clone)]
pub struct Zset {
    members: Vec<Member>,
    free_members: Vec<u32>,
    leaves: Vec<Leaf>,
    free_leaves: Vec<u32>,
    inners: Vec<Inner>,
    free_inners: Vec<u32>,
    root: u32,
    /// Inner levels above the leaves: 0 when the root is a leaf.
    height: u32,
    /// Member ids, hashed by member bytes.
    index: TagIndex,
    hasher: foldhash::fast::FixedState,
    /// The seed `hasher` was made from, kept for serialization.
    seed: u64,
    /// Generator state (xorshift64*): ZRANDMEMBER's draws.
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

/// The child of `inner` whose key range holds `(score, member)`: the number
/// of separators at or below the key.
fn child_for(inner: &Inner, score: f64, member: &[u8]) -> usize {
    let (mut low, mut high) = (0, inner.len as usize - 1);
    while low < high {
        let mid = (low + high) / 2;
        if compare(
            inner.sep_scores[mid],
            &inner.sep_members[mid],
            score,
            member,
        ) == Ordering::Greater
        {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

/// The member bytes of the separator between a leaf whose last score is
/// `below` and the next leaf, which starts with member `first` at score
/// `above`. When the scores differ, `(above, empty bytes)` separates them
/// (empty bytes order before every member of that score), so a split or
/// borrow neither allocates nor reads the member; only a tie across the
/// boundary needs a copy of the bytes.
fn separator(members: &[Member], below: f64, above: f64, first: u32) -> Box<[u8]> {
    if below < above {
        Box::default()
    } else {
        members[first as usize].bytes.clone()
    }
}

/// Makes room for one more node in a full node arena by a quarter of its
/// length rather than doubling it: nodes are hundreds of bytes, and a
/// doubled arena can leave up to half of them unused (the copy on growth
/// stays amortized O(1) per node).
fn grow<T>(arena: &mut Vec<T>) {
    if arena.len() == arena.capacity() {
        arena.reserve_exact((arena.len() / 4).max(4));
    }
}

/// A node from `free`, or a new one at the end of `arena`.
fn alloc_node<T: Default>(arena: &mut Vec<T>, free: &mut Vec<u32>) -> u32 {
    if let Some(node) = free.pop() {
        return node;
    }
    assert!(arena.len() < NIL as usize, "sorted set node space full");
    grow(arena);
    arena.push(T::default());
    (arena.len() - 1) as u32
}

/// Resets `node` (dropping what it owned) and puts it on `free`.
fn free_node<T: Default>(arena: &mut [T], free: &mut Vec<u32>, node: u32) {
    arena[node as usize] = T::default();
    free.push(node);
}

/// Members under the children of `inner` before `child`.
fn counts_before(inner: &Inner, child: usize) -> usize {
    inner.counts[..child].iter().map(|&c| c as usize).sum()
}

/// Members under `inner`.
fn inner_total(inner: &Inner) -> u32 {
    inner.counts[..inner.len as usize].iter().sum()
}

/// Where member `id` with this score sits in `leaf`. Ties on the score are
/// told apart by id, so no member bytes are read.
fn leaf_find(leaf: &Leaf, score: f64, id: u32) -> Option<usize> {
    let len = leaf.len as usize;
    let mut pos = leaf.scores[..len].partition_point(|&s| s < score);
    while pos < len && leaf.scores[pos] == score {
        if leaf.ids[pos] == id {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

fn leaf_insert(leaf: &mut Leaf, pos: usize, score: f64, id: u32) {
    let len = leaf.len as usize;
    leaf.scores.copy_within(pos..len, pos + 1);
    leaf.ids.copy_within(pos..len, pos + 1);
    leaf.scores[pos] = score;
    leaf.ids[pos] = id;
    leaf.len += 1;
}

fn leaf_remove(leaf: &mut Leaf, pos: usize) {
    let len = leaf.len as usize;
    leaf.scores.copy_within(pos + 1..len, pos);
    leaf.ids.copy_within(pos + 1..len, pos);
    leaf.len -= 1;
}

/// Puts `split.right` into `inner` just after child `child`, which split.
fn inner_insert(inner: &mut Inner, child: usize, split: Split) {
    let len = inner.len as usize;
    inner.children.copy_within(child + 1..len, child + 2);
    inner.counts.copy_within(child + 1..len, child + 2);
    inner.sep_scores.copy_within(child..len - 1, child + 1);
    // Slot `len - 1` is unused (empty); rotating brings it to `child`.
    inner.sep_members[child..len].rotate_right(1);
    inner.sep_scores[child] = split.score;
    inner.sep_members[child] = split.member;
    inner.children[child + 1] = split.right;
    inner.counts[child] = split.left_count;
    inner.counts[child + 1] = split.right_count;
    inner.len += 1;
}

/// Drops child `sep + 1` of `inner` and separator `sep` (a merge moved the
/// child's contents to child `sep`).
fn inner_remove(inner: &mut Inner, sep: usize) {
    let len = inner.len as usize;
    inner.children.copy_within(sep + 2..len, sep + 1);
    inner.counts.copy_within(sep + 2..len, sep + 1);
    inner.sep_scores.copy_within(sep + 1..len - 1, sep);
    inner.sep_members[sep] = Box::default();
    inner.sep_members[sep..len - 1].rotate_left(1);
    inner.len -= 1;
}

impl Zset {
    pub fn new(seed: u64) -> Zset {
        Zset {
            members: Vec::new(),
            free_members: Vec::new(),
            leaves: vec![Leaf::default()],
            free_leaves: Vec::new(),
            inners: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            index: TagIndex::default(),
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

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index
            .find(hash, |id| &*self.members[id as usize].bytes == member)
    }

    /// Starts loading the start of the member index's probe for `member`,
    /// reading nothing (see `State::prefetch`). Changes nothing.
    pub fn prefetch(&self, member: &[u8]) {
        self.index.prefetch(self.hasher.hash_one(member));
    }

    /// The member's score.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|id| self.members[id as usize].score)
    }

    fn alloc_leaf(&mut self) -> u32 {
        alloc_node(&mut self.leaves, &mut self.free_leaves)
    }

    fn free_leaf(&mut self, leaf: u32) {
        free_node(&mut self.leaves, &mut self.free_leaves, leaf);
    }

    fn alloc_inner(&mut self) -> u32 {
        alloc_node(&mut self.inners, &mut self.free_inners)
    }

    fn free_inner(&mut self, inner: u32) {
        // Drops any separator bytes left in it.
        free_node(&mut self.inners, &mut self.free_inners, inner);
    }

    /// Adds a member that is not in the set yet.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        assert!(!score.is_nan(), "NaN score reached the sorted set");
        debug_assert!(self.find(member).is_none());
        let fresh = Member {
            bytes: member.into(),
            score,
        };
        let id = if let Some(id) = self.free_members.pop() {
            self.members[id as usize] = fresh;
            id
        } else {
            assert!(
                self.members.len() < NIL as usize,
                "sorted set member space full"
            );
            self.members.push(fresh);
            (self.members.len() - 1) as u32
        };
        let hash = self.hasher.hash_one(member);
        let (members, hasher) = (&self.members, &self.hasher);
        self.index.insert_unique(hash, id, |other| {
            hasher.hash_one(&*members[other as usize].bytes)
        });
        self.link(id, score, member);
    }

    /// Puts member `id` (whose bytes are `member`) into the tree.
    fn link(&mut self, id: u32, score: f64, member: &[u8]) {
        let Some(split) = self.insert_into(self.root, self.height, true, id, score, member) else {
            return;
        };
        let root = self.alloc_inner();
        let r = &mut self.inners[root as usize];
        r.len = 2;
        r.children[0] = self.root;
        r.children[1] = split.right;
        r.counts[0] = split.left_count;
        r.counts[1] = split.right_count;
        r.sep_scores[0] = split.score;
        r.sep_members[0] = split.member;
        self.root = root;
        self.height += 1;
    }

    /// Inserts into the subtree at `node`, `height` levels above the leaves;
    /// returns the split if the node had to split. `rightmost`: the node is
    /// the last of its level.
    fn insert_into(
        &mut self,
        node: u32,
        height: u32,
        rightmost: bool,
        id: u32,
        score: f64,
        member: &[u8],
    ) -> Option<Split> {
        if height == 0 {
            return self.insert_into_leaf(node, rightmost, id, score, member);
        }
        let mut inner = &self.inners[node as usize];
        let mut child = child_for(inner, score, member);
        if height == 1 && self.leaves[inner.children[child] as usize].len as usize == LEAF_CAP {
            // A full leaf first shares with a neighbour that has room, so
            // random insertions fill leaves to ~80 % instead of ~70 % (less
            // memory, fewer nodes); it splits only when both are full.
            let room = |sibling: usize| {
                (self.leaves[inner.children[sibling] as usize].len as usize) < LEAF_CAP - 1
            };
            let pair = if child + 1 < inner.len as usize && room(child + 1) {
                Some(child)
            } else if child > 0 && room(child - 1) {
                Some(child - 1)
            } else {
                None
            };
            if let Some(left) = pair {
                self.even_leaves(node, left);
                inner = &self.inners[node as usize];
                child = child_for(inner, score, member);
            }
        }
        let last = child + 1 == inner.len as usize;
        let next = inner.children[child];
        let Some(split) = self.insert_into(next, height - 1, rightmost && last, id, score, member)
        else {
            self.inners[node as usize].counts[child] += 1;
            return None;
        };
        if (self.inners[node as usize].len as usize) < INNER_CAP {
            inner_insert(&mut self.inners[node as usize], child, split);
            return None;
        }
        // Full: move the upper children to a new node. Appending past the
        // rightmost node keeps the left one full (see the module docs), and
        // gives the new node two children so that it never has just one.
        let right = self.alloc_inner();
        let keep = if rightmost && last {
            INNER_CAP - 1
        } else {
            INNER_MIN
        };
        let mut r = Inner::default();
        let n = &mut self.inners[node as usize];
        let moved = INNER_CAP - keep;
        r.children[..moved].copy_from_slice(&n.children[keep..]);
        r.counts[..moved].copy_from_slice(&n.counts[keep..]);
        r.sep_scores[..moved - 1].copy_from_slice(&n.sep_scores[keep..]);
        for j in 0..moved - 1 {
            r.sep_members[j] = std::mem::take(&mut n.sep_members[keep + j]);
        }
        r.len = moved as u32;
        let up_score = n.sep_scores[keep - 1];
        let up_member = std::mem::take(&mut n.sep_members[keep - 1]);
        n.len = keep as u32;
        if child < keep {
            inner_insert(n, child, split);
        } else {
            inner_insert(&mut r, child - keep, split);
        }
        let (left_count, right_count) = (inner_total(n), inner_total(&r));
        self.inners[right as usize] = r;
        Some(Split {
            score: up_score,
            member: up_member,
            right,
            left_count,
            right_count,
        })
    }

    fn insert_into_leaf(
        &mut self,
        leaf: u32,
        rightmost: bool,
        id: u32,
        score: f64,
        member: &[u8],
    ) -> Option<Split> {
        let l = &self.leaves[leaf as usize];
        let len = l.len as usize;
        let mut pos = l.scores[..len].partition_point(|&s| s < score);
        // Equal scores order by bytes: the only place a leaf reads members.
        while pos < len
            && l.scores[pos] == score
            && *self.members[l.ids[pos] as usize].bytes < *member
        {
            pos += 1;
        }
        if len < LEAF_CAP {
            leaf_insert(&mut self.leaves[leaf as usize], pos, score, id);
            return None;
        }
        let right = self.alloc_leaf();
        // Appending past the last leaf splits off only the new entry.
        let append = rightmost && pos == LEAF_CAP;
        let keep = if append { LEAF_CAP } else { LEAF_MIN };
        let mut r = Leaf::default();
        let l = &mut self.leaves[leaf as usize];
        let moved = LEAF_CAP - keep;
        r.scores[..moved].copy_from_slice(&l.scores[keep..]);
        r.ids[..moved].copy_from_slice(&l.ids[keep..]);
        r.len = moved as u32;
        l.len = keep as u32;
        r.prev = leaf;
        r.next = l.next;
        l.next = right;
        if pos <= keep && !append {
            leaf_insert(l, pos, score, id);
        } else {
            leaf_insert(&mut r, pos - keep, score, id);
        }
        let left_count = l.len;
        let member = separator(
            &self.members,
            l.scores[l.len as usize - 1],
            r.scores[0],
            r.ids[0],
        );
        let after = r.next;
        let first_score = r.scores[0];
        let right_count = r.len;
        self.leaves[right as usize] = r;
        if after != NIL {
            self.leaves[after as usize].prev = right;
        }
        Some(Split {
            score: first_score,
            member,
            right,
            left_count,
            right_count,
        })
    }

    /// Takes member `id` (key `(score, member)`) out of the tree.
    fn unlink(&mut self, id: u32, score: f64, member: &[u8]) {
        self.remove_from(self.root, self.height, id, score, member);
        while self.height > 0 && self.inners[self.root as usize].len == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].children[0];
            self.free_inner(old);
            self.height -= 1;
        }
    }

    fn remove_from(&mut self, node: u32, height: u32, id: u32, score: f64, member: &[u8]) {
        if height == 0 {
            let leaf = &mut self.leaves[node as usize];
            let Some(pos) = leaf_find(leaf, score, id) else {
                unreachable!("sorted set member missing from its tree");
            };
            leaf_remove(leaf, pos);
            return;
        }
        let inner = &self.inners[node as usize];
        let child = child_for(inner, score, member);
        let next = inner.children[child];
        self.remove_from(next, height - 1, id, score, member);
        self.inners[node as usize].counts[child] -= 1;
        self.rebalance(node, child, height - 1);
    }

    /// Refills child `child` of `parent` from a sibling, or merges the two,
    /// if it dropped below half.
    fn rebalance(&mut self, parent: u32, child: usize, child_height: u32) {
        let p = &self.inners[parent as usize];
        let node = p.children[child];
        let (size, min) = if child_height == 0 {
            (self.leaves[node as usize].len as usize, LEAF_MIN)
        } else {
            (self.inners[node as usize].len as usize, INNER_MIN)
        };
        if size >= min || p.len < 2 {
            return;
        }
        // The pair of neighbours `left`, `left + 1`, one of them the child.
        let left = child.saturating_sub(1);
        let refill_right = child > 0;
        let (a, b) = (p.children[left], p.children[left + 1]);
        if child_height == 0 {
            self.rebalance_leaves(parent, left, refill_right, a, b);
        } else {
            self.rebalance_inners(parent, left, refill_right, a, b);
        }
    }

    fn rebalance_leaves(&mut self, parent: u32, left: usize, refill_right: bool, a: u32, b: u32) {
        let donor = if refill_right { a } else { b };
        if self.leaves[donor as usize].len as usize > LEAF_MIN {
            self.even_leaves(parent, left);
            return;
        }
        let p = &mut self.inners[parent as usize];
        let Ok([la, lb]) = self.leaves.get_disjoint_mut([a as usize, b as usize]) else {
            unreachable!("sorted set siblings share a leaf");
        };
        let (a_len, b_len) = (la.len as usize, lb.len as usize);
        la.scores[a_len..a_len + b_len].copy_from_slice(&lb.scores[..b_len]);
        la.ids[a_len..a_len + b_len].copy_from_slice(&lb.ids[..b_len]);
        la.len += lb.len;
        la.next = lb.next;
        p.counts[left] += p.counts[left + 1];
        inner_remove(p, left);
        let after = lb.next;
        if after != NIL {
            self.leaves[after as usize].prev = a;
        }
        self.free_leaf(b);
    }

    /// Moves entries between leaf children `left` and `left + 1` of
    /// `parent`, from the fuller to the other, half the difference (so the
    /// pair does not come back soon), without taking the donor below
    /// LEAF_MIN (the other may be a nearly empty rightmost leaf).
    fn even_leaves(&mut self, parent: u32, left: usize) {
        let p = &mut self.inners[parent as usize];
        let (a, b) = (p.children[left], p.children[left + 1]);
        let Ok([la, lb]) = self.leaves.get_disjoint_mut([a as usize, b as usize]) else {
            unreachable!("sorted set siblings share a leaf");
        };
        let (a_len, b_len) = (la.len as usize, lb.len as usize);
        if a_len > b_len {
            let moved = ((a_len - b_len) / 2).min(a_len.saturating_sub(LEAF_MIN));
            lb.scores.copy_within(0..b_len, moved);
            lb.ids.copy_within(0..b_len, moved);
            lb.scores[..moved].copy_from_slice(&la.scores[a_len - moved..a_len]);
            lb.ids[..moved].copy_from_slice(&la.ids[a_len - moved..a_len]);
            la.len -= moved as u32;
            lb.len += moved as u32;
            p.counts[left] -= moved as u32;
            p.counts[left + 1] += moved as u32;
        } else {
            let moved = ((b_len - a_len) / 2).min(b_len.saturating_sub(LEAF_MIN));
            la.scores[a_len..a_len + moved].copy_from_slice(&lb.scores[..moved]);
            la.ids[a_len..a_len + moved].copy_from_slice(&lb.ids[..moved]);
            lb.scores.copy_within(moved..b_len, 0);
            lb.ids.copy_within(moved..b_len, 0);
            la.len += moved as u32;
            lb.len -= moved as u32;
            p.counts[left] += moved as u32;
            p.counts[left + 1] -= moved as u32;
        }
        // The boundary moved: a new separator before b's first key.
        p.sep_scores[left] = lb.scores[0];
        p.sep_members[left] = separator(
            &self.members,
            la.scores[la.len as usize - 1],
            lb.scores[0],
            lb.ids[0],
        );
    }

    fn rebalance_inners(&mut self, parent: u32, left: usize, refill_right: bool, a: u32, b: u32) {
        let Ok([p, na, nb]) =
            self.inners
                .get_disjoint_mut([parent as usize, a as usize, b as usize])
        else {
            unreachable!("sorted set nodes share a slot");
        };
        let (a_len, b_len) = (na.len as usize, nb.len as usize);
        if refill_right && a_len > INNER_MIN {
            // a's last child moves to b's front; the parent's separator
            // comes down in front of b's old first child, and a's last
            // separator goes up.
            let (moved, count) = (na.children[a_len - 1], na.counts[a_len - 1]);
            nb.children.copy_within(0..b_len, 1);
            nb.counts.copy_within(0..b_len, 1);
            nb.sep_scores.copy_within(0..b_len - 1, 1);
            nb.sep_members[..b_len].rotate_right(1);
            nb.children[0] = moved;
            nb.counts[0] = count;
            nb.sep_scores[0] = p.sep_scores[left];
            nb.sep_members[0] = std::mem::take(&mut p.sep_members[left]);
            nb.len += 1;
            p.sep_scores[left] = na.sep_scores[a_len - 2];
            p.sep_members[left] = std::mem::take(&mut na.sep_members[a_len - 2]);
            na.len -= 1;
            p.counts[left] -= count;
            p.counts[left + 1] += count;
        } else if !refill_right && b_len > INNER_MIN {
            let (moved, count) = (nb.children[0], nb.counts[0]);
            na.children[a_len] = moved;
            na.counts[a_len] = count;
            na.sep_scores[a_len - 1] = p.sep_scores[left];
            na.sep_members[a_len - 1] = std::mem::take(&mut p.sep_members[left]);
            na.len += 1;
            p.sep_scores[left] = nb.sep_scores[0];
            p.sep_members[left] = std::mem::take(&mut nb.sep_members[0]);
            nb.children.copy_within(1..b_len, 0);
            nb.counts.copy_within(1..b_len, 0);
            nb.sep_scores.copy_within(1..b_len - 1, 0);
            nb.sep_members[..b_len - 1].rotate_left(1);
            nb.len -= 1;
            p.counts[left] += count;
            p.counts[left + 1] -= count;
        } else {
            na.sep_scores[a_len - 1] = p.sep_scores[left];
            na.sep_members[a_len - 1] = std::mem::take(&mut p.sep_members[left]);
            na.children[a_len..a_len + b_len].copy_from_slice(&nb.children[..b_len]);
            na.counts[a_len..a_len + b_len].copy_from_slice(&nb.counts[..b_len]);
            for j in 0..b_len - 1 {
                na.sep_scores[a_len + j] = nb.sep_scores[j];
                na.sep_members[a_len + j] = std::mem::take(&mut nb.sep_members[j]);
            }
            na.len += nb.len;
            p.counts[left] += p.counts[left + 1];
            inner_remove(p, left);
            self.free_inner(b);
        }
    }

    /// Changes an existing member's score.
    pub fn set_score(&mut self, member: &[u8], score: f64) {
        assert!(!score.is_nan(), "NaN score reached the sorted set");
        let Some(id) = self.find(member) else {
            return;
        };
        let old = self.members[id as usize].score;
        if old.to_bits() == score.to_bits() {
            return;
        }
        self.unlink(id, old, member);
        self.members[id as usize].score = score;
        self.link(id, score, member);
    }

    /// Removes a member; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let members = &self.members;
        let id = self
            .index
            .remove(hash, |id| &*members[id as usize].bytes == member)?;
        let score = self.members[id as usize].score;
        self.unlink(id, score, member);
        self.members[id as usize] = Member::default();
        self.free_members.push(id);
        self.maybe_compact();
        Some(score)
    }

    /// Rebuilds the set once more than half of the member arena is free, so
    /// a set that shrank gives its memory back (node arenas shrink with it:
    /// nodes are at least half full). O(n), after at least n/2 removals.
    fn maybe_compact(&mut self) {
        let free = self.free_members.len();
        if free < 1024 || free <= self.len() {
            return;
        }
        let mut fresh = Zset::new(self.seed);
        fresh.members.reserve_exact(self.len());
        fresh.index = TagIndex::with_capacity(self.len());
        // Ascending insertion takes the append path: leaves come out full.
        for (member, score) in self.iter() {
            fresh.insert(member, score);
        }
        fresh.rng = self.rng;
        *self = fresh;
    }

    /// The leaf holding `(score, member)`'s place and the members ranked
    /// before that leaf.
    fn descend(&self, score: f64, member: &[u8]) -> (u32, usize) {
        let mut before = 0usize;
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let child = child_for(inner, score, member);
            before += counts_before(inner, child);
            node = inner.children[child];
        }
        (node, before)
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.find(member)?;
        let score = self.members[id as usize].score;
        let (leaf, before) = self.descend(score, member);
        match leaf_find(&self.leaves[leaf as usize], score, id) {
            Some(pos) => Some(before + pos),
            None => unreachable!("member in the index but not in the tree"),
        }
    }

    /// How many members have a score below `score` (or at most `score` when
    /// `or_equal`).
    pub fn count_below(&self, score: f64, or_equal: bool) -> usize {
        let below = |s: f64| if or_equal { s <= score } else { s < score };
        let mut count = 0usize;
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            // Children before the first separator not below `score` hold
            // only members below it; children after it, none.
            let child = inner.sep_scores[..inner.len as usize - 1].partition_point(|&s| below(s));
            count += counts_before(inner, child);
            node = inner.children[child];
        }
        let leaf = &self.leaves[node as usize];
        count + leaf.scores[..leaf.len as usize].partition_point(|&s| below(s))
    }

    /// Ranks `[first, last)` of the members within a score range.
    pub fn score_range_ranks(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        let first = self.count_below(min.value, min.exclusive);
        let end = self.count_below(max.value, !max.exclusive);
        (first, end.max(first))
    }

    /// The member and score at `rank`, `None` past the end.
    pub fn at_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (leaf, pos) = self.select(rank);
        let leaf = &self.leaves[leaf as usize];
        Some((
            &self.members[leaf.ids[pos] as usize].bytes,
            leaf.scores[pos],
        ))
    }

    /// How many members sort below `member` by their bytes alone (or at or
    /// below it when `or_equal`): a binary search over ranks that is right
    /// when every score is equal, as lex ranges assume. With unequal scores
    /// it still ends, at some rank.
    pub fn count_below_member(&self, member: &[u8], or_equal: bool) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            let below = match self.at_rank(mid) {
                Some((bytes, _)) if or_equal => bytes <= member,
                Some((bytes, _)) => bytes < member,
                None => false,
            };
            if below {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// The next number of the set's generator (xorshift64*), for
    /// ZRANDMEMBER. The generator state is part of the value, so draws
    /// depend only on the set's history; draws are reads and are not
    /// logged, so after a restart the sequence goes on from the state the
    /// snapshot or the set's creation left.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        // Never zero: xorshift maps a non-zero state to a non-zero one.
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The leaf and position of the member at `rank` (below `len()`).
    fn select(&self, mut rank: usize) -> (u32, usize) {
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let mut child = 0;
            while child + 1 < inner.len as usize && rank >= inner.counts[child] as usize {
                rank -= inner.counts[child] as usize;
                child += 1;
            }
            node = inner.children[child];
        }
        (node, rank)
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
        let end = end.min(self.len());
        if first >= end {
            return;
        }
        let mut left = end - first;
        if reverse {
            let (mut leaf, pos) = self.select(end - 1);
            let mut pos = pos + 1;
            while left > 0 && leaf != NIL {
                let l = &self.leaves[leaf as usize];
                while pos > 0 && left > 0 {
                    pos -= 1;
                    left -= 1;
                    visit(&self.members[l.ids[pos] as usize].bytes, l.scores[pos]);
                }
                leaf = l.prev;
                if leaf != NIL {
                    pos = self.leaves[leaf as usize].len as usize;
                }
            }
        } else {
            let (mut leaf, mut pos) = self.select(first);
            while left > 0 && leaf != NIL {
                let l = &self.leaves[leaf as usize];
                while pos < l.len as usize && left > 0 {
                    visit(&self.members[l.ids[pos] as usize].bytes, l.scores[pos]);
                    pos += 1;
                    left -= 1;
                }
                leaf = l.next;
                pos = 0;
            }
        }
    }

    fn first_leaf(&self) -> u32 {
        let mut node = self.root;
        for _ in 0..self.height {
            node = self.inners[node as usize].children[0];
        }
        node
    }

    /// Every member with its score, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let mut leaf = self.first_leaf();
        let mut pos = 0usize;
        std::iter::from_fn(move || loop {
            if leaf == NIL {
                return None;
            }
            let l = &self.leaves[leaf as usize];
            if pos < l.len as usize {
                let id = l.ids[pos];
                let score = l.scores[pos];
                pos += 1;
                return Some((&*self.members[id as usize].bytes, score));
            }
            leaf = l.next;
            pos = 0;
        })
    }

    /// Serializes the set: seed, generator state and members in ascending
    /// order (the `zset` rule in `effect.rs`).
    /// About how many bytes [`Zset::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = sampled_average(self.iter().map(|(m, _)| m.len()));
        24 + self.len() * (4 + 8 + average)
    }

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
        let mut last: Option<(&[u8], f64)> = None;
        for _ in 0..count {
            let member = input.slice()?;
            let score = input.f64()?;
            if score.is_nan() {
                return Err(DecodeError("sorted set score is NaN".into()));
            }
            if zset.find(member).is_some() {
                return Err(DecodeError("sorted set member repeated".into()));
            }
            // Encoded in ascending order, which the encoding promises: a
            // value decodes to the bytes it came from, and each insertion
            // appends, so the leaves come out full.
            if let Some((before, before_score)) = last {
                if compare(before_score, before, score, member) != Ordering::Less {
                    return Err(DecodeError("sorted set members out of order".into()));
                }
            }
            last = Some((member, score));
            zset.insert(member, score);
        }
        zset.rng = rng;
        Ok(zset)
    }

    /// Checks the whole structure; for tests: key order within and across
    /// nodes (separators included), subtree counts, node fill, leaf links,
    /// index and leaf entries against the member arena, and that every
    /// arena slot is either in use exactly once or on its free list.
    pub fn check_invariants(&self) {
        assert_ne!(self.rng, 0, "zero generator state");
        let mut member_seen = vec![false; self.members.len()];
        for &id in &self.free_members {
            let slot = id as usize;
            assert!(!member_seen[slot], "member id freed twice");
            member_seen[slot] = true;
            assert!(
                self.members[slot].bytes.is_empty(),
                "free member keeps bytes"
            );
        }
        let mut walk = Walk {
            leaf_order: Vec::new(),
            member_seen,
            inner_seen: vec![false; self.inners.len()],
        };
        let count = self.check_node(self.root, self.height, true, true, None, None, &mut walk);
        assert_eq!(count, self.len(), "tree and index sizes differ");
        assert_eq!(
            self.members.len(),
            count + self.free_members.len(),
            "lost member slots"
        );
        assert!(walk.member_seen.iter().all(|&seen| seen), "lost member id");
        // Leaf links follow the tree's order both ways.
        let order = &walk.leaf_order;
        for (i, &leaf) in order.iter().enumerate() {
            let l = &self.leaves[leaf as usize];
            let prev = if i == 0 { NIL } else { order[i - 1] };
            let next = order.get(i + 1).copied().unwrap_or(NIL);
            assert_eq!(l.prev, prev, "leaf prev link wrong");
            assert_eq!(l.next, next, "leaf next link wrong");
        }
        let mut leaf_seen = vec![false; self.leaves.len()];
        for &leaf in order.iter().chain(&self.free_leaves) {
            assert!(!leaf_seen[leaf as usize], "leaf used twice");
            leaf_seen[leaf as usize] = true;
        }
        assert!(leaf_seen.iter().all(|&seen| seen), "lost leaf");
        let mut inner_seen = walk.inner_seen;
        for &inner in &self.free_inners {
            assert!(!inner_seen[inner as usize], "inner node used twice");
            inner_seen[inner as usize] = true;
            assert_eq!(self.inners[inner as usize].len, 0, "free inner node in use");
        }
        assert!(inner_seen.iter().all(|&seen| seen), "lost inner node");
        // Order across leaves, and the index finds every member.
        let mut previous: Option<(f64, &[u8])> = None;
        let mut counted = 0usize;
        for (member, score) in self.iter() {
            assert!(!score.is_nan());
            if let Some((p_score, p_member)) = previous {
                assert_eq!(
                    compare(p_score, p_member, score, member),
                    Ordering::Less,
                    "sorted set out of order"
                );
            }
            let id = self.find(member);
            assert!(id.is_some(), "member missing from index");
            previous = Some((score, member));
            counted += 1;
        }
        assert_eq!(counted, self.len(), "iteration and index sizes differ");
        for (rank, (member, _)) in self.iter().enumerate().step_by(97) {
            assert_eq!(self.rank(member), Some(rank), "rank wrong");
        }
    }

    /// Checks the subtree at `node` whose keys must lie in `[low, high)`;
    /// returns its member count.
    #[allow(clippy::too_many_arguments)]
    fn check_node<'a>(
        &'a self,
        node: u32,
        height: u32,
        root: bool,
        rightmost: bool,
        low: Option<(f64, &'a [u8])>,
        high: Option<(f64, &'a [u8])>,
        walk: &mut Walk,
    ) -> usize {
        let in_bounds = |score: f64, member: &[u8]| {
            if let Some((s, m)) = low {
                assert_ne!(
                    compare(s, m, score, member),
                    Ordering::Greater,
                    "key below its bound"
                );
            }
            if let Some((s, m)) = high {
                assert_eq!(
                    compare(score, member, s, m),
                    Ordering::Less,
                    "key above its bound"
                );
            }
        };
        if height == 0 {
            let l = &self.leaves[node as usize];
            let len = l.len as usize;
            assert!(len <= LEAF_CAP);
            if !root {
                let min = if rightmost { 1 } else { LEAF_MIN };
                assert!(len >= min, "leaf underfull: {len}");
            }
            walk.leaf_order.push(node);
            for pos in 0..len {
                let id = l.ids[pos] as usize;
                assert!(id < self.members.len(), "leaf names no member");
                assert!(!walk.member_seen[id], "member twice in the tree or free");
                walk.member_seen[id] = true;
                let m = &self.members[id];
                assert_eq!(
                    m.score.to_bits(),
                    l.scores[pos].to_bits(),
                    "leaf score stale"
                );
                in_bounds(m.score, &m.bytes);
                if pos > 0 {
                    let p = &self.members[l.ids[pos - 1] as usize];
                    assert_eq!(
                        compare(p.score, &p.bytes, m.score, &m.bytes),
                        Ordering::Less,
                        "leaf out of order"
                    );
                }
            }
            return len;
        }
        assert!(!walk.inner_seen[node as usize], "inner node used twice");
        walk.inner_seen[node as usize] = true;
        let n = &self.inners[node as usize];
        let len = n.len as usize;
        assert!(len <= INNER_CAP);
        let min = if root || rightmost { 2 } else { INNER_MIN };
        assert!(len >= min, "inner node underfull: {len}");
        for j in len - 1..INNER_CAP - 1 {
            assert!(n.sep_members[j].is_empty(), "unused separator keeps bytes");
        }
        let mut total = 0usize;
        for child in 0..len {
            let child_low = if child == 0 {
                low
            } else {
                Some((n.sep_scores[child - 1], &*n.sep_members[child - 1]))
            };
            let child_high = if child + 1 == len {
                high
            } else {
                Some((n.sep_scores[child], &*n.sep_members[child]))
            };
            if let (Some(a), Some(b)) = (child_low, child_high) {
                assert_eq!(
                    compare(a.0, a.1, b.0, b.1),
                    Ordering::Less,
                    "separators out of order"
                );
            }
            let count = self.check_node(
                n.children[child],
                height - 1,
                false,
                rightmost && child + 1 == len,
                child_low,
                child_high,
                walk,
            );
            assert!(count > 0, "empty subtree");
            assert_eq!(n.counts[child] as usize, count, "subtree count wrong");
            total += count;
        }
        total
    }
}

/// What [`Zset::check_invariants`] collects on its way through the tree.
struct Walk {
    leaf_order: Vec<u32>,
    member_seen: Vec<bool>,
    inner_seen: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding of a sorted set of `(member, score)` pairs in the
    /// order given.
    fn encoded(pairs: &[(&[u8], f64)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&7u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
        for (member, score) in pairs {
            crate::encoding::put_bytes(&mut out, member);
            out.extend_from_slice(&score.to_bits().to_le_bytes());
        }
        out
    }

    #[test]
    fn decoding_refuses_members_out_of_order() {
        for pairs in [
            &[(&b"b"[..], 0.0), (&b""[..], 10.0)][..],
            &[(&b"a"[..], 1.0), (&b"b"[..], 2.0)],
        ] {
            let bytes = encoded(pairs);
            let zset = Zset::decode(&mut Reader::new(&bytes)).expect("ascending pairs decode");
            let mut again = Vec::new();
            zset.encode(&mut again);
            assert_eq!(again, bytes, "a decoded set encodes to its bytes");
        }
        for pairs in [
            &[(&b""[..], 10.0), (&b"b"[..], 0.0)][..],
            &[(&b"b"[..], 1.0), (&b"a"[..], 1.0)],
        ] {
            let bytes = encoded(pairs);
            assert!(Zset::decode(&mut Reader::new(&bytes)).is_err(), "{pairs:?}");
        }
    }

    /// xorshift64, deterministic.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn member(i: u64) -> Vec<u8> {
        format!("member:{i}").into_bytes()
    }

    /// Compares the set with a model kept as a sorted `Vec`.
    fn check_against(zset: &Zset, model: &[(f64, Vec<u8>)], rng: &mut Rng) {
        zset.check_invariants();
        assert_eq!(zset.len(), model.len());
        assert!(zset
            .iter()
            .zip(model)
            .all(|(a, b)| a.0 == &b.1[..] && a.1.to_bits() == b.0.to_bits()));
        for _ in 0..200.min(model.len()) {
            let rank = rng.below(model.len() as u64) as usize;
            let (score, bytes) = &model[rank];
            assert_eq!(zset.rank(bytes), Some(rank));
            assert_eq!(zset.score(bytes), Some(*score));
            let below = model.partition_point(|e| e.0 < *score);
            assert_eq!(zset.count_below(*score, false), below);
            let at_most = model.partition_point(|e| e.0 <= *score);
            assert_eq!(zset.count_below(*score, true), at_most);
            let end = (rank + 1 + rng.below(70) as usize).min(model.len());
            for reverse in [false, true] {
                let mut seen = Vec::new();
                zset.for_each_in_ranks(rank, end, reverse, &mut |m, s| seen.push((s, m.to_vec())));
                if reverse {
                    seen.reverse();
                }
                assert_eq!(seen, model[rank..end].to_vec());
            }
        }
    }

    /// The model: members keyed by an integer that orders scores as
    /// `compare` does (-0.0 equal to 0.0), then by bytes.
    type Model = std::collections::BTreeMap<(u64, Vec<u8>), f64>;

    fn key(score: f64) -> u64 {
        let bits = if score == 0.0 { 0.0f64 } else { score }.to_bits();
        if bits >> 63 == 1 {
            !bits
        } else {
            bits | 1 << 63
        }
    }

    fn model_insert(model: &mut Model, score: f64, bytes: Vec<u8>) {
        assert!(model.insert((key(score), bytes), score).is_none());
    }

    fn model_remove(model: &mut Model, score: f64, bytes: &[u8]) {
        assert!(model.remove(&(key(score), bytes.to_vec())).is_some());
    }

    fn sorted(model: &Model) -> Vec<(f64, Vec<u8>)> {
        model.iter().map(|((_, m), s)| (*s, m.clone())).collect()
    }

    /// 10⁵ members, then random score updates (few distinct scores, so ties
    /// are frequent), removals and insertions, then removal of nearly all.
    #[test]
    fn large_set_matches_sorted_vec() {
        const N: u64 = 100_000;
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut zset = Zset::new(7);
        let mut model = Model::new();
        let mut present = vec![None; N as usize];
        for i in 0..N {
            let score = rng.below(5000) as f64;
            zset.insert(&member(i), score);
            model_insert(&mut model, score, member(i));
            present[i as usize] = Some(score);
        }
        check_against(&zset, &sorted(&model), &mut rng);
        for round in 0..4 {
            for _ in 0..50_000 {
                let i = rng.below(N);
                let bytes = member(i);
                match (present[i as usize], rng.below(3)) {
                    (Some(old), 0) => {
                        assert_eq!(zset.remove(&bytes), Some(old));
                        model_remove(&mut model, old, &bytes);
                        present[i as usize] = None;
                    }
                    (Some(old), _) => {
                        let score = rng.below(5000) as f64 - 100.0;
                        zset.set_score(&bytes, score);
                        model_remove(&mut model, old, &bytes);
                        model_insert(&mut model, score, bytes);
                        present[i as usize] = Some(score);
                    }
                    (None, _) => {
                        let score = rng.below(5000) as f64;
                        zset.insert(&bytes, score);
                        model_insert(&mut model, score, bytes);
                        present[i as usize] = Some(score);
                    }
                }
            }
            check_against(&zset, &sorted(&model), &mut rng);
            assert!(round < 4);
        }
        // Shrink to a few members: the arenas must give memory back.
        for i in 0..N - 10 {
            if let Some(old) = present[i as usize].take() {
                assert_eq!(zset.remove(&member(i)), Some(old));
                model_remove(&mut model, old, &member(i));
            }
            if i % 9973 == 0 {
                zset.check_invariants();
            }
        }
        check_against(&zset, &sorted(&model), &mut rng);
        assert!(zset.members.len() <= 2 * zset.len() + 1024);
        assert!(zset.leaves.len() <= 2 * zset.len() / LEAF_MIN + 1024);
        for (score, bytes) in sorted(&model) {
            assert_eq!(zset.remove(&bytes), Some(score));
        }
        zset.check_invariants();
        assert!(zset.is_empty());
        assert_eq!(zset.height, 0);
    }

    /// Ascending insertion (arrival order, decode, rebuild) fills leaves;
    /// descending and random orders keep them at least half full.
    #[test]
    fn insertion_orders_fill_leaves() {
        const N: u64 = 50_000;
        let mut ascending = Zset::new(1);
        let mut descending = Zset::new(2);
        for i in 0..N {
            ascending.insert(&member(i), i as f64);
            descending.insert(&member(i), -(i as f64));
        }
        ascending.check_invariants();
        descending.check_invariants();
        let leaves = |z: &Zset| z.leaves.len() - z.free_leaves.len();
        assert!(leaves(&ascending) <= (N as usize).div_ceil(LEAF_CAP));
        assert!(leaves(&descending) <= N as usize / LEAF_MIN);
        // Round trip through the serialized form, which keeps the order.
        let mut bytes = Vec::new();
        descending.encode(&mut bytes);
        let mut reader = Reader::new(&bytes);
        let decoded = Zset::decode(&mut reader).unwrap_or_else(|e| panic!("{e:?}"));
        decoded.check_invariants();
        assert_eq!(decoded, descending);
        assert_eq!(leaves(&decoded), (N as usize).div_ceil(LEAF_CAP));
        // Remove from the front and the back: merges at both edges.
        let mut zset = ascending.clone();
        for i in 0..N / 2 {
            assert!(zset.remove(&member(i)).is_some());
            assert!(zset.remove(&member(N - 1 - i)).is_some());
            if i % 4999 == 0 {
                zset.check_invariants();
            }
        }
        zset.check_invariants();
        assert!(zset.is_empty());
    }

    /// A nearly empty rightmost leaf borrowing from a sibling just above
    /// half must leave the sibling at least half full.
    #[test]
    fn rightmost_leaf_borrows_within_limits() {
        let mut zset = Zset::new(4);
        for i in 0..=2 * LEAF_CAP as u64 {
            zset.insert(&member(i), i as f64);
        }
        zset.check_invariants();
        for i in LEAF_CAP as u64..LEAF_CAP as u64 + 15 {
            assert!(zset.remove(&member(i)).is_some());
        }
        zset.check_invariants();
        assert!(zset.remove(&member(2 * LEAF_CAP as u64)).is_some());
        zset.check_invariants();
    }

    /// Small sets through every kind of split, borrow and merge, with the
    /// structure checked after each operation.
    #[test]
    fn random_small_sets_keep_invariants() {
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut zset = Zset::new(seed);
            let mut model = Model::new();
            let mut present = vec![None; 700];
            let mut clock = 0.0;
            for step in 0..6000 {
                let i = rng.below(700);
                let bytes = member(i);
                // Phases of arrival-order scores (appends to the rightmost
                // leaf) and of random scores.
                let score = if (step / 1000) % 2 == 0 {
                    clock += 1.0;
                    clock
                } else {
                    rng.below(50) as f64
                };
                match (present[i as usize], rng.below(8)) {
                    (Some(old), 0..=3) => {
                        assert_eq!(zset.remove(&bytes), Some(old));
                        model_remove(&mut model, old, &bytes);
                        present[i as usize] = None;
                    }
                    (Some(old), _) => {
                        zset.set_score(&bytes, score);
                        model_remove(&mut model, old, &bytes);
                        model_insert(&mut model, score, bytes);
                        present[i as usize] = Some(score);
                    }
                    (None, _) => {
                        zset.insert(&bytes, score);
                        model_insert(&mut model, score, bytes);
                        present[i as usize] = Some(score);
                    }
                }
                zset.check_invariants();
            }
            check_against(&zset, &sorted(&model), &mut rng);
        }
    }

    /// Equal scores order by member bytes, including -0.0 against 0.0.
    #[test]
    fn ties_order_by_bytes() {
        let mut zset = Zset::new(3);
        let mut model = Model::new();
        let mut rng = Rng(99);
        for i in 0..20_000u64 {
            let score = if i % 2 == 0 { 0.0 } else { -0.0 };
            let bytes = format!("{:x}", rng.next()).into_bytes();
            if zset.score(&bytes).is_none() {
                zset.insert(&bytes, score);
                model_insert(&mut model, score, bytes);
            }
        }
        check_against(&zset, &sorted(&model), &mut rng);
    }
}
