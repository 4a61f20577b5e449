//! [`List`]: a list's items in order, as a `VecDeque` of compact [`Item`]s,
//! with the changes its commands and effects make (push and pop at both
//! ends, set, trim, remove by position) and its snapshot encoding.
//!
//! Why this layout: LPUSH and RPOP are the hot path (a job queue). A
//! `VecDeque` pushes and pops at both ends in O(1) without moving items
//! and, once grown, without allocating. An [`Item`] is 24 bytes: up to
//! [`INLINE_BYTES`] bytes are kept in place (ids, small JSON), so pushing
//! or popping a short item allocates nothing, and a pop hands the bytes to
//! the reply by copy into an inline reply; a longer item is one boxed
//! slice, handed to the reply without a copy. Redis's quicklist packs items
//! tighter, at the cost of decoding packed nodes on every access: 10⁶
//! LPUSHes of 10-byte items grew used memory by 12 bytes per item in Redis
//! 7.0 and 25 here (measured with redis-benchmark). Indexed reads here
//! (LINDEX, LSET, LRANGE's start) are O(1).

use std::collections::VecDeque;

use bytes::Bytes;
use usher_protocol::reply::InlineBytes;
use usher_protocol::Reply;

use crate::encoding::{put_bytes, sampled_average, DecodeError, Reader};

/// Longest item kept inside the [`Item`] itself.
pub const INLINE_BYTES: usize = 22;

/// One list item: short ones in place, longer ones in a box of their own.
#[derive(Clone, PartialEq, Eq)]
pub enum Item {
    Inline { len: u8, bytes: [u8; INLINE_BYTES] },
    Heap(Box<[u8]>),
}

// Every item of every list is one of these: keep it at three words.
const _: () = assert!(std::mem::size_of::<Item>() == 24);

impl Item {
    pub fn new(bytes: &[u8]) -> Item {
        if bytes.len() <= INLINE_BYTES {
            let mut inline = [0u8; INLINE_BYTES];
            inline[..bytes.len()].copy_from_slice(bytes);
            Item::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            Item::Heap(bytes.into())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Item::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Item::Heap(bytes) => bytes,
        }
    }

    /// The item as a bulk reply: a short one inline (no allocation), a
    /// long one taking its box (no copy).
    pub fn into_reply(self) -> Reply {
        match self {
            Item::Heap(bytes) if bytes.len() > InlineBytes::CAPACITY => {
                Reply::Bulk(Bytes::from(bytes))
            }
            item => item.to_reply(),
        }
    }

    /// A copy of the item as a bulk reply.
    pub fn to_reply(&self) -> Reply {
        let bytes = self.as_bytes();
        match InlineBytes::new(bytes) {
            Some(inline) => Reply::BulkInline(inline),
            None => Reply::Bulk(Bytes::copy_from_slice(bytes)),
        }
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// A list (never empty while stored: the last pop or removal deletes the
/// key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Item>,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Pushes one item at the head (`left`) or the tail.
    #[inline]
    pub fn push(&mut self, left: bool, bytes: &[u8]) {
        let item = Item::new(bytes);
        if left {
            self.items.push_front(item);
        } else {
            self.items.push_back(item);
        }
    }

    /// Pops one item from the head (`left`) or the tail.
    #[inline]
    pub fn pop(&mut self, left: bool) -> Option<Item> {
        if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }
    }

    pub fn get(&self, index: usize) -> Option<&Item> {
        self.items.get(index)
    }

    /// Replaces the item at `index`; false if there is none.
    pub fn set(&mut self, index: usize, bytes: &[u8]) -> bool {
        match self.items.get_mut(index) {
            Some(item) => {
                *item = Item::new(bytes);
                true
            }
            None => false,
        }
    }

    /// Keeps only the items at positions `[first, end)` (clamped).
    pub fn trim(&mut self, first: usize, end: usize) {
        let end = end.min(self.items.len());
        self.items.truncate(end);
        self.items.drain(..first.min(end));
    }

    /// Removes the items at `positions` (strictly ascending, all within the
    /// list); false, changing nothing, if they are not.
    pub fn remove_positions(&mut self, positions: &[u64]) -> bool {
        let ascending = positions.windows(2).all(|pair| pair[0] < pair[1]);
        let within = positions
            .last()
            .is_none_or(|&last| last < self.items.len() as u64);
        if !ascending || !within {
            return false;
        }
        let mut at = 0u64;
        let mut next = positions.iter().peekable();
        self.items.retain(|_| {
            let doomed = next.peek() == Some(&&at);
            if doomed {
                next.next();
            }
            at += 1;
            !doomed
        });
        true
    }

    /// The items from position `first` on, in order.
    pub fn iter_from(&self, first: usize) -> impl DoubleEndedIterator<Item = &Item> {
        self.items.range(first.min(self.items.len())..)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Item> + ExactSizeIterator {
        self.items.iter()
    }

    /// About how many bytes [`List::encode`] writes.
    pub fn encoded_len_hint(&self) -> usize {
        let average = sampled_average(self.items.iter().map(|item| item.as_bytes().len()));
        4 + self.items.len() * (4 + average)
    }

    /// `count:u32 bytes{count}`, head first.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.items.len() as u32).to_le_bytes());
        for item in &self.items {
            put_bytes(out, item.as_bytes());
        }
    }

    /// Decodes [`List::encode`]'s form; the count is checked against the
    /// bytes left (every item takes at least its 4-byte length) before
    /// anything is allocated. An empty list is refused: none is stored.
    pub fn decode(input: &mut Reader<'_>) -> Result<List, DecodeError> {
        let count = input.count(4)?;
        if count == 0 {
            return Err(DecodeError("empty list".into()));
        }
        let mut items = VecDeque::with_capacity(count);
        for _ in 0..count {
            items.push_back(Item::new(input.slice()?));
        }
        Ok(List { items })
    }

    /// Builds a list from items, head first (tests and models).
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> List {
        List {
            items: items.into_iter().map(Item::new).collect(),
        }
    }

    /// Checks that every item is in its canonical form: short ones inline.
    pub fn check_invariants(&self) {
        for item in &self.items {
            if let Item::Heap(bytes) = item {
                assert!(bytes.len() > INLINE_BYTES, "a short item is boxed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(list: &List) -> Vec<Vec<u8>> {
        list.iter().map(|item| item.as_bytes().to_vec()).collect()
    }

    #[test]
    fn items_are_inline_up_to_the_capacity_and_boxed_beyond() {
        let fits = vec![b'x'; INLINE_BYTES];
        let longer = vec![b'y'; INLINE_BYTES + 1];
        assert!(matches!(Item::new(&fits), Item::Inline { .. }));
        assert!(matches!(Item::new(&longer), Item::Heap(_)));
        for bytes in [&b""[..], &fits, &longer, &[b'z'; 100]] {
            assert_eq!(Item::new(bytes).as_bytes(), bytes);
            let reply = Item::new(bytes).into_reply();
            assert_eq!(reply, Reply::Bulk(Bytes::copy_from_slice(bytes)));
        }
    }

    #[test]
    fn trim_and_remove_positions_keep_the_rest_in_order() {
        let words: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d", b"e"];
        let mut list = List::from_items(words.iter().copied());
        list.trim(1, 4);
        assert_eq!(
            contents(&list),
            [b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        assert!(!list.remove_positions(&[2, 1]));
        assert!(!list.remove_positions(&[3]));
        assert!(list.remove_positions(&[0, 2]));
        assert_eq!(contents(&list), [b"c".to_vec()]);
        list.trim(1, 1);
        assert!(list.is_empty());
    }

    #[test]
    fn encoding_round_trips_and_a_bad_count_is_refused() {
        let long = vec![b'q'; 300];
        let list = List::from_items([&b"one"[..], b"", &long]);
        let mut out = Vec::new();
        list.encode(&mut out);
        let mut reader = Reader::new(&out);
        assert_eq!(List::decode(&mut reader), Ok(list));
        assert!(reader.is_empty());
        let huge = u32::MAX.to_le_bytes();
        assert!(List::decode(&mut Reader::new(&huge)).is_err());
        assert!(List::decode(&mut Reader::new(&0u32.to_le_bytes())).is_err());
    }
}
