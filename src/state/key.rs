//! `Key`: how the keyspace (its map, its deadline index) and the effect log
//! hold key names.
//!
//! Keys up to [`Key::INLINE_CAPACITY`] bytes are stored in place; longer ones
//! as `Bytes`. Why: a key lookup in a large keyspace is a chain of cache
//! misses (hash slot, entry, then the key's bytes to compare), and a `Bytes`
//! key puts its bytes and its reference count in a separate heap block: one
//! more miss per lookup and one more per clone, plus a heap block per key.
//! Sale keys (`seat:ev42`, `stock:sku-123`, `counter:000012345`) are short,
//! so in place they cost neither, and a `Key` is no larger than a `Bytes`
//! (32 bytes: the inline form fits beside the pointer the heap form needs).
//!
//! A `Key` hashes, compares and orders exactly like its byte slice, so maps
//! keyed by `Key` are looked up with `&[u8]`, and a hash computed over the
//! slice (the snapshot loader does that on other threads) matches.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

use crate::encoding::{DecodeError, Reader};

#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; Key::INLINE_CAPACITY],
    },
    Heap(Bytes),
}

impl Key {
    /// Longest key stored in place: the most that keeps a `Key` as small as
    /// a `Bytes` (checked by a test).
    pub const INLINE_CAPACITY: usize = 23;

    /// A key with these bytes (copied: in place, or one allocation when
    /// longer than [`Key::INLINE_CAPACITY`]).
    pub fn copy_from_slice(key: &[u8]) -> Key {
        match inline(key) {
            Some(repr) => Key(repr),
            None => Key(Repr::Heap(Bytes::copy_from_slice(key))),
        }
    }

    /// A key with these bytes: in place when short (the `Bytes` is dropped),
    /// else the `Bytes` itself.
    pub fn from_bytes(key: Bytes) -> Key {
        match inline(&key) {
            Some(repr) => Key(repr),
            None => Key(Repr::Heap(key)),
        }
    }

    /// A static key (tests, placeholders): no allocation either way.
    pub const fn from_static(key: &'static [u8]) -> Key {
        Key(Repr::Heap(Bytes::from_static(key)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }

    /// The key as `Bytes`, for a reply that carries key names (KEYS, SCAN):
    /// a copy when stored in place, a reference otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_bytes()),
            Repr::Heap(bytes) => bytes.clone(),
        }
    }

    /// Whether the bytes are stored in place.
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

fn inline(key: &[u8]) -> Option<Repr> {
    if key.len() > Key::INLINE_CAPACITY {
        return None;
    }
    let mut bytes = [0u8; Key::INLINE_CAPACITY];
    bytes[..key.len()].copy_from_slice(key);
    Some(Repr::Inline {
        len: key.len() as u8,
        bytes,
    })
}

impl Deref for Key {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly as the slice hashes: `Borrow<[u8]>` requires it.
        self.as_bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

impl From<&[u8]> for Key {
    fn from(key: &[u8]) -> Key {
        Key::copy_from_slice(key)
    }
}

impl From<Bytes> for Key {
    fn from(key: Bytes) -> Key {
        Key::from_bytes(key)
    }
}

/// Reads a key name from a [`Reader`]: the state's addition to the byte
/// primitives, which know no state types.
pub trait ReadKey {
    /// A length-prefixed key name (in place when short, see [`Key`]).
    fn key(&mut self) -> Result<Key, DecodeError>;
}

impl ReadKey for Reader<'_> {
    fn key(&mut self) -> Result<Key, DecodeError> {
        Ok(Key::copy_from_slice(self.slice()?))
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_key_is_no_larger_than_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<Bytes>());
    }

    #[test]
    fn short_keys_are_inline_and_long_ones_are_not() {
        let at_capacity = [b'k'; Key::INLINE_CAPACITY];
        let over = [b'k'; Key::INLINE_CAPACITY + 1];
        for (bytes, inline) in [
            (&b""[..], true),
            (&b"counter:000012345"[..], true),
            (&at_capacity[..], true),
            (&over[..], false),
        ] {
            let copied = Key::copy_from_slice(bytes);
            let moved = Key::from_bytes(Bytes::copy_from_slice(bytes));
            assert_eq!(copied.is_inline(), inline, "{bytes:?}");
            assert_eq!(moved.is_inline(), inline, "{bytes:?}");
            assert_eq!(copied.as_bytes(), bytes);
            assert_eq!(moved.as_bytes(), bytes);
            assert_eq!(copied.to_bytes(), bytes);
            assert_eq!(copied.clone(), moved);
        }
    }

    #[test]
    fn hashes_compares_and_orders_like_its_bytes() {
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let long = vec![b'z'; 40];
        let names: [&[u8]; 6] = [b"", b"a", b"ab", b"b", b"seat:ev1", &long];
        for a in names {
            let key = Key::copy_from_slice(a);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(a));
            for b in names {
                let other = Key::copy_from_slice(b);
                assert_eq!(key.cmp(&other), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(key == other, a == b);
            }
        }
    }

    #[test]
    fn maps_keyed_by_key_are_looked_up_with_slices() {
        let mut map: indexmap::IndexMap<Key, u32, foldhash::fast::FixedState> =
            indexmap::IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(1));
        let long = vec![b'x'; 64];
        map.insert(Key::copy_from_slice(b"short"), 1);
        map.insert(Key::copy_from_slice(&long), 2);
        assert_eq!(map.get(&b"short"[..]), Some(&1));
        assert_eq!(map.get(&long[..]), Some(&2));
        assert_eq!(map.get(&b"shor"[..]), None);
        let set: std::collections::BTreeSet<(u64, Key)> = [
            (2, Key::copy_from_slice(b"b")),
            (1, Key::copy_from_slice(&long)),
            (2, Key::copy_from_slice(b"a")),
        ]
        .into_iter()
        .collect();
        let order: Vec<(u64, &[u8])> = set.iter().map(|(d, k)| (*d, k.as_bytes())).collect();
        assert_eq!(order, [(1, &long[..]), (2, &b"a"[..]), (2, &b"b"[..])]);
    }
}
