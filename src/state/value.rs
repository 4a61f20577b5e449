//! [`Value`]: what a key holds, and the value encoding (the `value` rule
//! of the grammar in [`super::effect`]), used by `Put` effects and
//! snapshots. Each type encodes its own body; this file owns the type tags.

use bytes::Bytes;

use super::hash::fields::Hash;
use super::list::deque::List;
use super::queue::room::Queue;
use super::seats::map::SeatMap;
use super::set::packed::Set;
use super::stock::sku::Stock;
use super::zset::set::Zset;
use crate::encoding::{put_bytes, DecodeError, Reader};

/// What a key holds. New data types (sorted sets, queues, seats, stock, hashes) are
/// added as variants, boxed when large so every entry stays small.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string longer than [`ShortStr::CAPACITY`] bytes, stored as its own
    /// allocation (never a slice of a network buffer, which would pin the
    /// whole buffer). Shorter strings are always `Short`.
    Str(Bytes),
    /// A string of at most [`ShortStr::CAPACITY`] bytes, kept inside the
    /// value itself.
    Short(ShortStr),
    /// A string that is the canonical decimal form of a 64-bit integer.
    /// Storing it as a number makes INCR free of parsing and allocation;
    /// GET formats it back to the identical text.
    Int(i64),
    /// An event's seat map (`SEAT.*`).
    Seats(Box<SeatMap>),
    /// A SKU's stock (`STOCK.*`).
    Stock(Box<Stock>),
    /// A sorted set (never empty: the last removal deletes the key).
    Zset(Box<Zset>),
    /// A waiting room.
    Queue(Box<Queue>),
    /// A list (never empty: the last removal deletes the key).
    List(Box<List>),
    /// A hash (never empty: the last HDEL deletes the key).
    Hash(Hash),
    /// A set (never empty: the last removal deletes the key).
    Set(Box<Set>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Short(_) | Value::Int(_) => "string",
            Value::Seats(_) => "seats",
            Value::Stock(_) => "stock",
            Value::Zset(_) => "zset",
            Value::Queue(_) => "queue",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
        }
    }

    /// The name `OBJECT ENCODING` reports: the Redis encoding closest to
    /// how usher holds the value. Strings are `int`, `embstr` (kept inline)
    /// or `raw`; a sorted set is `skiplist` (an ordered tree with a member
    /// index, as Redis's skiplist encoding is); usher's own types are named
    /// after their structure. A hash or set small enough to be scanned
    /// without an index is `listpack`, as Redis's compact form is; with an
    /// index it is `hashtable`. A list is `quicklist`.
    pub fn object_encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Short(_) => "embstr",
            Value::Str(_) => "raw",
            Value::Zset(_) => "skiplist",
            Value::Queue(_) => "queue",
            Value::Seats(_) => "seatmap",
            Value::Stock(_) => "stock",
            Value::List(_) => "quicklist",
            Value::Hash(hash) if hash.is_indexed() => "hashtable",
            Value::Set(set) if set.is_indexed() => "hashtable",
            Value::Hash(_) | Value::Set(_) => "listpack",
        }
    }

    /// Stores a string, as an integer when it is one in canonical form.
    pub fn from_string(bytes: &[u8]) -> Value {
        match usher_protocol::number::parse_i64(bytes) {
            Some(number) => Value::Int(number),
            None => Value::string(bytes),
        }
    }

    /// Stores a string as it is: inline when short, else in its own
    /// allocation.
    pub fn string(bytes: &[u8]) -> Value {
        match ShortStr::new(bytes) {
            Some(short) => Value::Short(short),
            None => Value::Str(Bytes::copy_from_slice(bytes)),
        }
    }

    /// How many separately freed parts the value holds (members, holders,
    /// reservations), which is what freeing it costs; 1 for a string.
    pub fn items(&self) -> usize {
        match self {
            Value::Str(_) | Value::Short(_) | Value::Int(_) => 1,
            Value::Seats(seats) => seats.holders(),
            Value::Stock(stock) => stock.holders(),
            Value::Zset(zset) => zset.len(),
            Value::Queue(queue) => queue.waiting() + queue.active() as usize,
            Value::List(list) => list.len(),
            Value::Hash(hash) => hash.len(),
            Value::Set(set) => set.len(),
        }
    }

    /// The bytes of a string value (`Str` or `Short`).
    pub fn string_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(bytes) => Some(bytes),
            Value::Short(short) => Some(short.as_bytes()),
            _ => None,
        }
    }
}

/// A short string stored inline. Most keys' values in a sale (ids, states,
/// small JSON) are this short; inline they cost no allocation, no
/// allocator overhead (a 12-byte string takes a 32-byte heap chunk) and no
/// pointer to chase, and `Value` stays 40 bytes: the length byte and the
/// bytes fill the room a `Bytes` takes. It is the protocol's inline reply
/// type, so GET answers with a copy of these 39 bytes and no allocation.
pub use usher_protocol::reply::InlineBytes as ShortStr;

// Every key's entry holds a `Value`: a short string must not make it larger.
const _: () = assert!(std::mem::size_of::<Value>() == 40);

const VALUE_STR: u8 = 1;
const VALUE_INT: u8 = 2;
const VALUE_ZSET: u8 = 3;
const VALUE_QUEUE: u8 = 4;
const VALUE_SEATS: u8 = 5;
const VALUE_STOCK: u8 = 6;
const VALUE_LIST: u8 = 9;
const VALUE_HASH: u8 = 8;
const VALUE_SET: u8 = 7;

/// About how many bytes [`encode_value`] writes for `value`: exact for
/// strings, from counts and a sample of member lengths for the other types.
/// A snapshot asks for a buffer this big, prefaulted off the engine thread,
/// before it serializes a large value.
pub fn encoded_len_hint(value: &Value) -> usize {
    match value {
        Value::Str(bytes) => 5 + bytes.len(),
        Value::Short(short) => 5 + short.as_bytes().len(),
        Value::Int(_) => 9,
        Value::Zset(zset) => 1 + zset.encoded_len_hint(),
        Value::Queue(queue) => 1 + queue.encoded_len_hint(),
        Value::Seats(map) => 1 + map.encoded_len_hint(),
        Value::Stock(stock) => 1 + stock.encoded_len_hint(),
        Value::List(list) => 1 + list.encoded_len_hint(),
        Value::Hash(hash) => 1 + hash.encoded_len_hint(),
        Value::Set(set) => 1 + set.encoded_len_hint(),
    }
}

/// Encodes a whole value (used by `Put` and by snapshots).
pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(bytes) => {
            out.push(VALUE_STR);
            put_bytes(out, bytes);
        }
        Value::Short(short) => {
            out.push(VALUE_STR);
            put_bytes(out, short.as_bytes());
        }
        Value::Int(number) => {
            out.push(VALUE_INT);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::Zset(zset) => {
            out.push(VALUE_ZSET);
            zset.encode(out);
        }
        Value::Queue(queue) => {
            out.push(VALUE_QUEUE);
            queue.encode(out);
        }
        Value::Seats(map) => {
            out.push(VALUE_SEATS);
            map.encode(out);
        }
        Value::Stock(stock) => {
            out.push(VALUE_STOCK);
            stock.encode(out);
        }
        Value::List(list) => {
            out.push(VALUE_LIST);
            list.encode(out);
        }
        Value::Hash(hash) => {
            out.push(VALUE_HASH);
            hash.encode(out);
        }
        Value::Set(set) => {
            out.push(VALUE_SET);
            set.encode(out);
        }
    }
}

pub fn decode_value(input: &mut Reader<'_>) -> Result<Value, DecodeError> {
    match input.u8()? {
        VALUE_STR => Ok(Value::string(input.slice()?)),
        VALUE_INT => Ok(Value::Int(input.i64()?)),
        VALUE_ZSET => Ok(Value::Zset(Box::new(Zset::decode(input)?))),
        VALUE_QUEUE => Ok(Value::Queue(Box::new(Queue::decode(input)?))),
        VALUE_SEATS => Ok(Value::Seats(Box::new(SeatMap::decode(input)?))),
        VALUE_STOCK => Ok(Value::Stock(Box::new(Stock::decode(input)?))),
        VALUE_LIST => Ok(Value::List(Box::new(List::decode(input)?))),
        VALUE_HASH => Ok(Value::Hash(Hash::decode(input)?)),
        VALUE_SET => Ok(Value::Set(Box::new(Set::decode(input)?))),
        tag => Err(DecodeError(format!("unknown value tag {tag}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_inline_up_to_the_capacity_and_allocated_beyond() {
        let fits = vec![b'x'; ShortStr::CAPACITY];
        let longer = vec![b'x'; ShortStr::CAPACITY + 1];
        assert!(matches!(Value::string(&fits), Value::Short(_)));
        assert!(matches!(Value::string(&longer), Value::Str(_)));
        assert!(matches!(Value::string(b""), Value::Short(_)));
        for bytes in [&b""[..], b"a", &fits, &longer] {
            assert_eq!(Value::string(bytes).string_bytes(), Some(bytes));
        }
        assert_eq!(Value::from_string(b"42"), Value::Int(42));
        assert_eq!(Value::from_string(b"042").string_bytes(), Some(&b"042"[..]));
    }
}
