//! The typed reply every command produces, independent of the codec that
//! carries it. The binary codec sends it as tagged values; the RESP codec
//! maps it onto RESP2 or RESP3 types.

use bytes::Bytes;
use std::borrow::Cow;

use crate::error::ServerError;

#[derive(Clone, Debug)]
pub enum Reply {
    /// A short status line (`+OK`, `+PONG`).
    Simple(Cow<'static, str>),
    /// A binary-safe string.
    Bulk(Bytes),
    /// A short binary-safe string kept inside the reply, so a short stored
    /// value is answered without an allocation. Equal to a `Bulk` of the
    /// same bytes; the codecs send both alike.
    BulkInline(InlineBytes),
    /// A string value that happens to be stored as an integer; it is sent as
    /// a string (its decimal text) so GET on a counter needs no allocation.
    BulkInt(i64),
    /// An integer.
    Int(i64),
    /// A double (RESP3 `,`; RESP2 sends its text as a bulk string).
    Double(f64),
    /// The absent value (RESP2 `$-1`, RESP3 `_`).
    Nil,
    /// The absent array: a blocking command's timeout (RESP2 `*-1`, RESP3
    /// `_`; the binary protocol has one nil for both).
    NilArray,
    /// A boolean (RESP3 `#`; RESP2 sends 1 or 0).
    Bool(bool),
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// A short list of integers below 2³² kept inside the reply (a seat
    /// list), so it needs no allocation. Equal to an `Array` of the same
    /// `Int`s; the codecs send both alike.
    Ints(InlineInts),
    /// A short array of a status word, integers and a list of integers
    /// below 2³², kept inside the reply (the answers of SEAT.HOLD,
    /// QUEUE.JOIN/POS, INCRBOUND, STOCK.*), so those commands need no
    /// allocation. Equal to the `Array` it stands for; the codecs send both
    /// alike.
    Tuple(Tuple),
    /// An unordered collection of distinct replies (RESP3 `~`; RESP2 and
    /// the binary protocol send an array): the replies of SMEMBERS, SINTER,
    /// SUNION, SDIFF and SPOP with a count.
    Set(Vec<Reply>),
    /// Key/value pairs (RESP3 `%`; RESP2 sends a flat array).
    Map(Vec<(Reply, Reply)>),
    /// A list of pairs (HRANDFIELD WITHVALUES, sorted-set members with
    /// their scores): RESP3 sends an array of two-element arrays, RESP2 and
    /// the binary protocol one flat array `key, value, key, value...`, as
    /// Redis 7.2 does. It takes the one allocation a flat `Array` of the
    /// same items would.
    Pairs(Vec<(Reply, Reply)>),
    /// An error with its stable code.
    Error(ServerError),
}

/// Up to `N` values of `T` stored in place: the short strings and short
/// integer lists a reply carries without an allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline<T, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Inline<T, N> {
    /// Most values it holds.
    pub const CAPACITY: usize = N;

    /// `None` if there are more than `N` values.
    pub fn new(values: &[T]) -> Option<Inline<T, N>> {
        if values.len() > N || N > usize::from(u8::MAX) {
            return None;
        }
        let mut inline = Inline {
            len: values.len() as u8,
            items: [T::default(); N],
        };
        inline.items[..values.len()].copy_from_slice(values);
        Some(inline)
    }

    pub fn as_slice(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }
}

/// Up to 38 bytes stored in place (also the server's inline string value:
/// as many bytes as fit a `Reply` of 40 bytes).
pub type InlineBytes = Inline<u8, 38>;

/// Up to 8 integers below 2³² stored in place (as many as fit beside the
/// reply's tag in the size of a `Bulk`).
pub type InlineInts = Inline<u32, 8>;

impl InlineBytes {
    pub fn as_bytes(&self) -> &[u8] {
        self.as_slice()
    }
}

impl InlineInts {
    /// The same list as an `Array` of `Int`s (allocates: for tools).
    pub fn to_array(&self) -> Reply {
        array_of_ints(self.as_slice())
    }
}

impl std::fmt::Debug for InlineInts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// `values` as an `Array` of `Int`s.
fn array_of_ints(values: &[u32]) -> Reply {
    Reply::Array(
        values
            .iter()
            .map(|&value| Reply::Int(i64::from(value)))
            .collect(),
    )
}

/// Whether `items` are the `Int`s `ints`.
fn same_ints(ints: &InlineInts, items: &[Reply]) -> bool {
    ints.as_slice().len() == items.len()
        && ints
            .as_slice()
            .iter()
            .zip(items)
            .all(|(&value, item)| *item == Reply::Int(i64::from(value)))
}

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

impl PartialEq for Reply {
    /// Structural, except that `Bulk` and `BulkInline` holding the same
    /// bytes are equal, and so are `Ints` and an `Array` of the same `Int`s:
    /// they are the same reply on the wire.
    fn eq(&self, other: &Reply) -> bool {
        match (self, other) {
            (Reply::Simple(a), Reply::Simple(b)) => a == b,
            (Reply::Bulk(_) | Reply::BulkInline(_), Reply::Bulk(_) | Reply::BulkInline(_)) => {
                self.bulk_bytes() == other.bulk_bytes()
            }
            (Reply::BulkInt(a), Reply::BulkInt(b)) => a == b,
            (Reply::Int(a), Reply::Int(b)) => a == b,
            (Reply::Double(a), Reply::Double(b)) => a == b,
            (Reply::Nil, Reply::Nil) => true,
            (Reply::NilArray, Reply::NilArray) => true,
            (Reply::Bool(a), Reply::Bool(b)) => a == b,
            (Reply::Array(a), Reply::Array(b)) => a == b,
            (Reply::Ints(a), Reply::Ints(b)) => a == b,
            (Reply::Ints(ints), Reply::Array(items)) | (Reply::Array(items), Reply::Ints(ints)) => {
                same_ints(ints, items)
            }
            (Reply::Tuple(a), Reply::Tuple(b)) => a == b,
            (Reply::Tuple(tuple), other) | (other, Reply::Tuple(tuple)) => {
                tuple.to_array() == *other
            }
            (Reply::Set(a), Reply::Set(b)) => a == b,
            (Reply::Map(a), Reply::Map(b)) => a == b,
            (Reply::Pairs(a), Reply::Pairs(b)) => a == b,
            (Reply::Error(a), Reply::Error(b)) => a == b,
            _ => false,
        }
    }
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    /// The bytes of a `Bulk` or `BulkInline` reply.
    pub fn bulk_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(bytes) => Some(bytes),
            Reply::BulkInline(inline) => Some(inline.as_bytes()),
            _ => None,
        }
    }

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    pub fn bulk_static(text: &'static [u8]) -> Reply {
        Reply::Bulk(Bytes::from_static(text))
    }

    /// A list of integers below 2³² (seat numbers): inline when it fits,
    /// else an `Array` of `Int`s.
    pub fn int_list(values: &[u32]) -> Reply {
        match InlineInts::new(values) {
            Some(inline) => Reply::Ints(inline),
            None => array_of_ints(values),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// At least as many bytes as this reply takes once encoded, in either
    /// codec and any RESP version, frame header included; computed without
    /// encoding it, so a server can count replies it holds before they are
    /// written (and bound them).
    pub fn encoded_bytes_bound(&self) -> usize {
        /// A frame header, or a RESP type byte, length and CRLFs.
        const FRAMING: usize = 32;
        /// Any scalar (an integer's or a double's text, with its framing).
        const SCALAR: usize = 48;
        match self {
            Reply::Simple(text) => FRAMING + text.len(),
            Reply::Bulk(bytes) => FRAMING + bytes.len(),
            Reply::BulkInline(inline) => FRAMING + inline.as_bytes().len(),
            Reply::Error(error) => FRAMING + error.message.len(),
            Reply::BulkInt(_) | Reply::Int(_) | Reply::Double(_) => SCALAR,
            Reply::Nil | Reply::NilArray | Reply::Bool(_) => FRAMING,
            Reply::Ints(ints) => FRAMING + SCALAR * ints.as_slice().len(),
            Reply::Tuple(tuple) => {
                let mut total = FRAMING;
                tuple.for_each_item(|item| total += item.encoded_bytes_bound());
                total
            }
            Reply::Array(items) | Reply::Set(items) => items.iter().fold(FRAMING, |total, item| {
                total.saturating_add(item.encoded_bytes_bound())
            }),
            Reply::Map(pairs) => pairs.iter().fold(FRAMING, |total, (key, value)| {
                total
                    .saturating_add(key.encoded_bytes_bound())
                    .saturating_add(value.encoded_bytes_bound())
            }),
            Reply::Pairs(pairs) => pairs.iter().fold(FRAMING, |total, (key, value)| {
                total
                    .saturating_add(FRAMING)
                    .saturating_add(key.encoded_bytes_bound())
                    .saturating_add(value.encoded_bytes_bound())
            }),
        }
    }

    /// `[head, ints..., list]` (the head and the list only when given):
    /// inline when it fits (see [`Tuple`]), else the same `Array`.
    pub fn tuple(head: Option<Word>, ints: &[i64], list: Option<&[u32]>) -> Reply {
        match Tuple::new(head, ints, list) {
            Some(tuple) => Reply::Tuple(tuple),
            None => {
                let mut items = Vec::with_capacity(2 + ints.len());
                items.extend(head.map(Word::reply));
                items.extend(ints.iter().map(|&value| Reply::Int(value)));
                items.extend(list.map(array_of_ints));
                Reply::Array(items)
            }
        }
    }
}

/// The status words of the sale commands' replies, sent as simple strings
/// (seats, stock) or bulk strings (queues: `*Bulk` words), as each
/// command's reply was specified before replies could be inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    Held,
    Taken,
    Limit,
    Sold,
    None,
    Soldout,
    WaitingBulk,
    ActiveBulk,
    NoneBulk,
}

impl Word {
    pub fn text(self) -> &'static str {
        match self {
            Word::Held => "held",
            Word::Taken => "taken",
            Word::Limit => "limit",
            Word::Sold => "sold",
            Word::None | Word::NoneBulk => "none",
            Word::Soldout => "soldout",
            Word::WaitingBulk => "waiting",
            Word::ActiveBulk => "active",
        }
    }

    /// The word as the reply it is sent as (no allocation).
    pub fn reply(self) -> Reply {
        match self {
            Word::WaitingBulk | Word::ActiveBulk | Word::NoneBulk => {
                Reply::bulk_static(self.text().as_bytes())
            }
            _ => Reply::simple(self.text()),
        }
    }
}

/// The inline form of [`Reply::tuple`]: an optional head word, up to four
/// `i64`s and an optional list of `u32`s, in 8 words of 32 bits (an `i64`
/// takes two, a list item one). 36 bytes, so `Reply` stays 40.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    words: [u32; Tuple::WORDS],
    head: Option<Word>,
    ints: u8,
    /// The list's length, when there is a list.
    list: Option<u8>,
}

impl Tuple {
    const WORDS: usize = 8;

    /// `None` when the integers and the list need more than 8 words.
    pub fn new(head: Option<Word>, ints: &[i64], list: Option<&[u32]>) -> Option<Tuple> {
        let listed = list.map_or(0, <[u32]>::len);
        if 2 * ints.len() + listed > Tuple::WORDS {
            return None;
        }
        let mut words = [0; Tuple::WORDS];
        for (pair, &value) in words.chunks_exact_mut(2).zip(ints) {
            let bits = value as u64;
            pair[0] = bits as u32;
            pair[1] = (bits >> 32) as u32;
        }
        if let Some(list) = list {
            words[2 * ints.len()..2 * ints.len() + listed].copy_from_slice(list);
        }
        Some(Tuple {
            words,
            head,
            ints: ints.len() as u8,
            list: list.map(|_| listed as u8),
        })
    }

    /// Items of the array it stands for.
    pub fn len(&self) -> usize {
        usize::from(self.head().is_some())
            + usize::from(self.ints)
            + usize::from(self.list().is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn head(&self) -> Option<Word> {
        self.head
    }

    pub fn int(&self, index: usize) -> i64 {
        let low = u64::from(self.words[2 * index]);
        let high = u64::from(self.words[2 * index + 1]);
        (low | (high << 32)) as i64
    }

    pub fn ints(&self) -> impl Iterator<Item = i64> + '_ {
        (0..usize::from(self.ints)).map(|index| self.int(index))
    }

    pub fn list(&self) -> Option<&[u32]> {
        let start = 2 * usize::from(self.ints);
        self.list
            .map(|length| &self.words[start..start + usize::from(length)])
    }

    /// Calls `item` with each item of the array it stands for, built
    /// without allocation (for the codecs).
    pub fn for_each_item(&self, mut item: impl FnMut(&Reply)) {
        if let Some(word) = self.head() {
            item(&word.reply());
        }
        for value in self.ints() {
            item(&Reply::Int(value));
        }
        if let Some(list) = self.list() {
            item(&Reply::int_list(list));
        }
    }

    /// The same reply as an `Array` (allocates: for tools and tests).
    pub fn to_array(&self) -> Reply {
        let mut items = Vec::with_capacity(self.len());
        self.for_each_item(|reply| items.push(reply.clone()));
        Reply::Array(items)
    }
}

impl std::fmt::Debug for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tuple")?;
        let mut list = f.debug_list();
        self.for_each_item(|item| {
            list.entry(item);
        });
        list.finish()
    }
}

impl From<ServerError> for Reply {
    fn from(error: ServerError) -> Reply {
        Reply::Error(error)
    }
}

impl<T: Into<Reply>> From<Result<T, ServerError>> for Reply {
    fn from(result: Result<T, ServerError>) -> Reply {
        match result {
            Ok(reply) => reply.into(),
            Err(error) => Reply::Error(error),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn inline_bytes_hold_up_to_capacity_and_equal_bulk() {
        let fits = vec![b'x'; InlineBytes::CAPACITY];
        let inline = InlineBytes::new(&fits).expect("fits");
        assert_eq!(inline.as_bytes(), &fits[..]);
        assert!(InlineBytes::new(&[b'x'; InlineBytes::CAPACITY + 1]).is_none());
        assert_eq!(
            Reply::BulkInline(inline),
            Reply::Bulk(Bytes::from(fits.clone()))
        );
        assert_ne!(
            Reply::BulkInline(InlineBytes::new(b"a").expect("fits")),
            Reply::Bulk(Bytes::from_static(b"b"))
        );
        assert_ne!(
            Reply::BulkInline(InlineBytes::new(b"1").expect("fits")),
            Reply::Int(1)
        );
        // A reply is no bigger than a Bytes-backed one plus its tag.
        assert!(
            std::mem::size_of::<Reply>() <= 40,
            "{}",
            std::mem::size_of::<Reply>()
        );
    }

    #[test]
    fn inline_ints_equal_an_array_of_ints() {
        let seats = [0, 7, u32::MAX];
        let inline = Reply::int_list(&seats);
        assert!(matches!(inline, Reply::Ints(_)), "{inline:?}");
        let array = Reply::Array(seats.iter().map(|&s| Reply::Int(i64::from(s))).collect());
        assert_eq!(inline, array);
        assert_eq!(array, inline);
        assert_ne!(inline, Reply::int_list(&[0, 7]));
        assert_ne!(
            inline,
            Reply::Array(vec![Reply::Int(0), Reply::Int(7), Reply::BulkInt(-1)])
        );
        // Past the capacity the list is an ordinary array.
        let long: Vec<u32> = (0..InlineInts::CAPACITY as u32 + 1).collect();
        assert!(matches!(Reply::int_list(&long), Reply::Array(items) if items.len() == long.len()));
        assert!(matches!(Reply::int_list(&[]), Reply::Ints(ints) if ints.as_slice().is_empty()));
    }

    /// Every compact tuple shape with the plain array it stands for (also
    /// what `binary.rs`'s tests encode both ways).
    pub(crate) fn tuples_and_arrays() -> Vec<(Reply, Reply)> {
        type Case<'a> = (Option<Word>, &'a [i64], Option<&'a [u32]>);
        let cases: [Case; 8] = [
            (Some(Word::Held), &[600_000], Some(&[101, 102, 103])),
            (Some(Word::Taken), &[], Some(&[7])),
            (Some(Word::Limit), &[3], None),
            (Some(Word::WaitingBulk), &[1204, -1], None),
            (Some(Word::NoneBulk), &[], None),
            (None, &[i64::MIN, i64::MAX], None),
            (Some(Word::Sold), &[], Some(&[])),
            (Some(Word::Soldout), &[-1, 0, 1, u32::MAX as i64 + 1], None),
        ];
        cases
            .into_iter()
            .map(|(head, ints, list)| {
                let tuple = Reply::tuple(head, ints, list);
                assert!(matches!(tuple, Reply::Tuple(_)), "{tuple:?}");
                let mut items: Vec<Reply> = head.map(Word::reply).into_iter().collect();
                items.extend(ints.iter().map(|&value| Reply::Int(value)));
                items.extend(list.map(|list| {
                    Reply::Array(list.iter().map(|&v| Reply::Int(i64::from(v))).collect())
                }));
                (tuple, Reply::Array(items))
            })
            .collect()
    }

    #[test]
    fn tuples_equal_the_array_they_stand_for() {
        for (tuple, array) in tuples_and_arrays() {
            assert_eq!(tuple, array);
            assert_eq!(array, tuple);
            assert_eq!(tuple.clone(), tuple);
        }
        // The word's kind, each integer and the list's presence all count.
        let held = Reply::tuple(Some(Word::Held), &[5], Some(&[1]));
        assert_ne!(held, Reply::tuple(Some(Word::Sold), &[5], Some(&[1])));
        assert_ne!(held, Reply::tuple(Some(Word::Held), &[6], Some(&[1])));
        assert_ne!(held, Reply::tuple(Some(Word::Held), &[5], Some(&[2])));
        assert_ne!(held, Reply::tuple(Some(Word::Held), &[5], Some(&[])));
        assert_ne!(held, Reply::tuple(Some(Word::Held), &[5], None));
        assert_ne!(
            Reply::tuple(Some(Word::None), &[], None),
            Reply::tuple(Some(Word::NoneBulk), &[], None)
        );
        // Past 8 words it is an ordinary array, equal all the same.
        let long: Vec<u32> = (0..8).collect();
        let spilled = Reply::tuple(Some(Word::Held), &[1], Some(&long));
        assert!(matches!(&spilled, Reply::Array(items) if items.len() == 3));
        let fits = Reply::tuple(Some(Word::Taken), &[], Some(&long));
        assert!(matches!(fits, Reply::Tuple(_)));
        assert!(matches!(
            Reply::tuple(None, &[1, 2, 3, 4, 5], None),
            Reply::Array(_)
        ));
    }

    #[test]
    fn the_encoded_bytes_bound_holds_in_every_codec() {
        let mut replies: Vec<Reply> = vec![
            Reply::OK,
            Reply::Bulk(Bytes::from(vec![b'v'; 100_000])),
            Reply::Bulk(Bytes::new()),
            Reply::BulkInline(InlineBytes::new(b"short").expect("fits")),
            Reply::BulkInt(i64::MIN),
            Reply::Int(i64::MIN),
            Reply::Double(-1.234_567_890_123_456_7e-308),
            Reply::Double(f64::NEG_INFINITY),
            Reply::Nil,
            Reply::NilArray,
            Reply::Bool(true),
            Reply::int_list(&[u32::MAX; 3]),
            Reply::int_list(&(0..100).map(|_| u32::MAX).collect::<Vec<_>>()),
            Reply::Error(ServerError::SYNTAX),
            Reply::Map(vec![(Reply::simple("k"), Reply::Int(i64::MAX))]),
            Reply::Array(vec![Reply::Array(Vec::new()), Reply::Double(1e300)]),
        ];
        replies.extend(tuples_and_arrays().into_iter().flat_map(|(t, a)| [t, a]));
        for reply in &replies {
            let bound = reply.encoded_bytes_bound();
            let mut out = bytes::BytesMut::new();
            crate::binary::encode_reply(&mut out, u64::MAX, reply);
            assert!(
                out.len() <= bound,
                "binary {reply:?}: {} > {bound}",
                out.len()
            );
            for version in [
                crate::resp::RespVersion::Resp2,
                crate::resp::RespVersion::Resp3,
            ] {
                out.clear();
                crate::resp::encode_reply(reply, version, &mut out);
                assert!(
                    out.len() <= bound,
                    "{version:?} {reply:?}: {} > {bound}",
                    out.len()
                );
            }
        }
    }
}
