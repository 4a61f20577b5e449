//! The H* commands, with Redis's semantics, replies and error texts, and
//! the replay of hash effects through the same [`Hash`] functions.

use bytes::Bytes;
use usher_protocol::reply::InlineBytes;
use usher_protocol::{ErrorCode, Reply, ServerError};

use super::effects::{HashEffect, HashValue};
use super::fields::{FieldValue, Hash, IncrError, ARENA_BYTES_MAX};
use crate::glob::glob_match;
use crate::state::effect::ReplayError;
use crate::state::keyspace::Recorder;
use crate::state::limits::StateLimits;
use crate::state::store::State;
use crate::state::value::Value;

/// The hash in a value, if it holds one.
fn as_hash(value: &mut Value) -> Option<&mut Hash> {
    match value {
        Value::Hash(inner) => Some(inner),
        _ => None,
    }
}

/// The hash at `key` with the recorder for its effects, `None` if
/// missing, WRONGTYPE for another type.
fn hash_write<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<(&'a mut Hash, Recorder<'a>)>, ServerError> {
    state.typed_write(key, now_ms, as_hash)
}

/// The hash at `key` for read commands, counting keyspace hits and misses.
fn hash_read<'a>(
    state: &'a mut State,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a Hash>, ServerError> {
    state
        .typed(key, now_ms, as_hash, true)
        .map(|value| value.map(|value| &*value))
}

fn field_limit(limits: &StateLimits, field: &[u8]) -> Result<(), ServerError> {
    if field.len() > limits.member_bytes_max {
        return Err(ServerError::limit(
            "hash field length in bytes (member_bytes_max)",
            limits.member_bytes_max as u64,
        ));
    }
    Ok(())
}

fn too_many_fields(limits: &StateLimits) -> ServerError {
    ServerError::new(
        ErrorCode::Limit,
        format!(
            "ERR hash would exceed hash_fields_max ({})",
            limits.hash_fields_max
        ),
    )
}

fn arena_full() -> ServerError {
    ServerError::new_static(
        ErrorCode::Limit,
        "ERR hash would exceed 4294967295 bytes of fields and values",
    )
}

/// Checks that `pairs` (field, value, ...) fit `hash` (or a new hash):
/// field lengths, the field count and the arena size. Fields already there
/// do not count against `hash_fields_max`.
fn check_pairs(
    limits: &StateLimits,
    hash: Option<&Hash>,
    pairs: &[Bytes],
) -> Result<(), ServerError> {
    let mut bytes = hash.map_or(0, |hash| hash.arena_len_with(b"", FieldValue::Int(0)));
    for pair in pairs.chunks_exact(2) {
        field_limit(limits, &pair[0])?;
        bytes = bytes.saturating_add(pair[0].len() + pair[1].len() + 12);
    }
    if bytes > ARENA_BYTES_MAX {
        return Err(arena_full());
    }
    let len = hash.map_or(0, Hash::len);
    if len + pairs.len() / 2 <= limits.hash_fields_max {
        return Ok(());
    }
    let mut new: Vec<&[u8]> = pairs
        .chunks_exact(2)
        .map(|pair| &pair[0][..])
        .filter(|field| !hash.is_some_and(|hash| hash.contains(field)))
        .collect();
    new.sort_unstable();
    new.dedup();
    if len + new.len() > limits.hash_fields_max {
        return Err(too_many_fields(limits));
    }
    Ok(())
}

/// The effect value of a stored value.
fn effect_value(value: FieldValue<'_>, text: &Bytes) -> HashValue {
    match value {
        FieldValue::Int(number) => HashValue::Int(number),
        FieldValue::Bytes(_) => HashValue::Bytes(text.clone()),
    }
}

/// A value as a reply: integers as their text, short strings in place.
fn value_reply(value: FieldValue<'_>) -> Reply {
    match value {
        FieldValue::Int(number) => Reply::BulkInt(number),
        FieldValue::Bytes(bytes) => match InlineBytes::new(bytes) {
            Some(short) => Reply::BulkInline(short),
            None => Reply::Bulk(Bytes::copy_from_slice(bytes)),
        },
    }
}

fn field_reply(field: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(field))
}

fn too_many_items(items: usize, reply_items_max: usize) -> Reply {
    ServerError::new(
        ErrorCode::Limit,
        format!(
            "ERR the reply would hold {items} fields; reply_items_max is {reply_items_max} (use HSCAN)"
        ),
    )
    .into()
}

/// Creates `key` holding `pairs` (one `Put` effect with the whole value).
fn create(
    state: &mut State,
    key: &[u8],
    pairs: &[Bytes],
    now_ms: u64,
) -> Result<usize, ServerError> {
    state.room_for_key(now_ms)?;
    let mut hash = Hash::new(state.hash_seed);
    let added = pairs
        .chunks_exact(2)
        .filter(|pair| hash.set(&pair[0], FieldValue::from_bytes(&pair[1])))
        .count();
    state.keyspace.insert(key, Value::Hash(hash), None);
    Ok(added)
}

/// ```text
/// HSET key field value [field value ...]
/// HMSET key field value [field value ...]
/// ```
/// How many fields were new (HMSET: OK). Every pair is checked before any
/// is applied. One keyspace lookup when the key exists; an existing field
/// whose value keeps its encoded size is rewritten in place.
pub fn hset(state: &mut State, key: &[u8], pairs: &[Bytes], legacy: bool, now_ms: u64) -> Reply {
    let limits = state.limits;
    let added = match hash_write(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(Some((hash, mut recorder))) => {
            if let Err(error) = check_pairs(&limits, Some(hash), pairs) {
                return error.into();
            }
            let mut added = 0;
            for pair in pairs.chunks_exact(2) {
                let value = FieldValue::from_bytes(&pair[1]);
                added += usize::from(hash.set(&pair[0], value));
                recorder.record(|key| HashEffect::Set {
                    key,
                    field: pair[0].clone(),
                    value: effect_value(value, &pair[1]),
                });
            }
            added
        }
        Ok(None) => {
            let created =
                check_pairs(&limits, None, pairs).and_then(|()| create(state, key, pairs, now_ms));
            match created {
                Ok(added) => added,
                Err(error) => return error.into(),
            }
        }
    };
    if legacy {
        Reply::OK
    } else {
        Reply::Int(added as i64)
    }
}

/// ```text
/// HSETNX key field value
/// ```
/// 1 if the field was missing and is now set, 0 if it existed.
pub fn hsetnx(state: &mut State, key: &[u8], field: &Bytes, value: &Bytes, now_ms: u64) -> Reply {
    let exists = match hash_read(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(hash) => hash.is_some_and(|hash| hash.contains(field)),
    };
    if exists {
        return Reply::Int(0);
    }
    hset(state, key, &[field.clone(), value.clone()], false, now_ms)
}

/// ```text
/// HGET key field
/// ```
/// The field's value, or nil.
pub fn hget(state: &mut State, key: &[u8], field: &[u8], now_ms: u64) -> Reply {
    match hash_read(state, key, now_ms) {
        Ok(Some(hash)) => hash.get(field).map_or(Reply::Nil, value_reply),
        Ok(None) => Reply::Nil,
        Err(error) => error.into(),
    }
}

/// ```text
/// HMGET key field [field ...]
/// ```
/// Each field's value, nil where missing (all nil for a missing key).
pub fn hmget(state: &mut State, key: &[u8], fields: &[Bytes], now_ms: u64) -> Reply {
    match hash_read(state, key, now_ms) {
        Ok(hash) => Reply::Array(
            fields
                .iter()
                .map(|field| {
                    hash.and_then(|hash| hash.get(field))
                        .map_or(Reply::Nil, value_reply)
                })
                .collect(),
        ),
        Err(error) => error.into(),
    }
}

/// What HGETALL, HKEYS and HVALS list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    All,
    Keys,
    Values,
}

/// ```text
/// HGETALL key | HKEYS key | HVALS key
/// ```
/// Every field and value (a map: flat in RESP2), every field, or every
/// value; empty for a missing key. At most `reply_items_max` fields.
pub fn hlist(state: &mut State, key: &[u8], listing: Listing, now_ms: u64) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let hash = match hash_read(state, key, now_ms) {
        Ok(Some(hash)) => hash,
        Ok(None) if listing == Listing::All => return Reply::Map(Vec::new()),
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    if hash.len() > reply_items_max {
        return too_many_items(hash.len(), reply_items_max);
    }
    match listing {
        Listing::All => Reply::Map(
            hash.iter()
                .map(|(field, value)| (field_reply(field), value_reply(value)))
                .collect(),
        ),
        Listing::Keys => Reply::Array(hash.iter().map(|(field, _)| field_reply(field)).collect()),
        Listing::Values => Reply::Array(hash.iter().map(|(_, value)| value_reply(value)).collect()),
    }
}

/// ```text
/// HDEL key field [field ...]
/// ```
/// How many of the fields were removed; the last one deletes the key.
pub fn hdel(state: &mut State, key: &[u8], fields: &[Bytes], now_ms: u64) -> Reply {
    let (hash, mut recorder) = match hash_write(state, key, now_ms) {
        Ok(Some(found)) => found,
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    let mut removed = 0;
    for field in fields {
        if hash.remove(field) {
            removed += 1;
            recorder.record(|key| HashEffect::Remove {
                key,
                field: field.clone(),
            });
        }
    }
    if hash.is_empty() {
        state.keyspace.remove(key);
    }
    Reply::Int(removed)
}

/// ```text
/// HEXISTS key field | HSTRLEN key field | HLEN key
/// ```
/// HEXISTS: 1 or 0; HSTRLEN: the value's length (0 when missing); HLEN:
/// the number of fields (`field` is `None`).
pub fn hcount(
    state: &mut State,
    key: &[u8],
    field: Option<&[u8]>,
    strlen: bool,
    now_ms: u64,
) -> Reply {
    let hash = match hash_read(state, key, now_ms) {
        Ok(Some(hash)) => hash,
        Ok(None) => return Reply::Int(0),
        Err(error) => return error.into(),
    };
    let count = match field {
        None => hash.len(),
        Some(field) if strlen => hash.get(field).map_or(0, |value| value.text_len()),
        Some(field) => usize::from(hash.contains(field)),
    };
    Reply::Int(count as i64)
}

const NOT_INTEGER: ServerError =
    ServerError::new_static(ErrorCode::NotInteger, "ERR hash value is not an integer");
const NOT_FLOAT: ServerError =
    ServerError::new_static(ErrorCode::NotFloat, "ERR hash value is not a float");
const OVERFLOW: ServerError = ServerError::new_static(
    ErrorCode::Overflow,
    "ERR increment or decrement would overflow",
);

/// ```text
/// HINCRBY key field increment
/// ```
/// The field's new value; a missing field (or key) starts at 0. When the
/// field exists and the result fits its entry, one lookup of the key and
/// one of the field, written in place, no allocation.
pub fn hincrby(state: &mut State, key: &[u8], field: &Bytes, delta: i64, now_ms: u64) -> Reply {
    let limits = state.limits;
    match hash_write(state, key, now_ms) {
        Err(error) => error.into(),
        Ok(Some((hash, mut recorder))) => {
            let new = match hash.incr_in_place(field, delta) {
                Err(IncrError::NotInteger) => return NOT_INTEGER.into(),
                Err(IncrError::Overflow) => return OVERFLOW.into(),
                Ok(Some((new, true))) => new,
                Ok(Some((new, false))) => {
                    // A wider integer may move the entry to the arena's end.
                    if hash.arena_len_with(field, FieldValue::Int(new)) > ARENA_BYTES_MAX {
                        return arena_full().into();
                    }
                    hash.set(field, FieldValue::Int(new));
                    new
                }
                Ok(None) => {
                    let pair = [field.clone(), Bytes::new()];
                    if let Err(error) = check_pairs(&limits, Some(hash), &pair) {
                        return error.into();
                    }
                    hash.set(field, FieldValue::Int(delta));
                    delta
                }
            };
            recorder.record(|key| HashEffect::Set {
                key,
                field: field.clone(),
                value: HashValue::Int(new),
            });
            Reply::Int(new)
        }
        Ok(None) => {
            let pair = [field.clone(), Bytes::from(delta.to_string())];
            match check_pairs(&limits, None, &pair).and_then(|()| create(state, key, &pair, now_ms))
            {
                Ok(_) => Reply::Int(delta),
                Err(error) => error.into(),
            }
        }
    }
}

/// HINCRBYFLOAT's result as Redis writes it: plain notation, never an
/// exponent, at most 17 digits after the point (Redis prints its long
/// double with `%.17Lf` and trims trailing zeros); `-0` is `0`. Within
/// those 17 digits, the shortest text that reads back to the same double.
pub fn float_text(value: f64) -> String {
    let mut text = format!("{value}");
    if let Some(point) = text.find('.') {
        if text.len() - point - 1 > 17 {
            text = format!("{value:.17}");
            while text.ends_with('0') {
                text.pop();
            }
            if text.ends_with('.') {
                text.pop();
            }
        }
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// A plain decimal number, `mantissa / 10^scale`, when it has few enough
/// digits to add exactly.
#[derive(Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Most digits after the point Redis's reply shows (`%.17Lf`).
const DECIMALS_MAX: u32 = 17;

impl Decimal {
    const ZERO: Option<Decimal> = Some(Decimal {
        mantissa: 0,
        scale: 0,
    });

    fn int(number: i64) -> Option<Decimal> {
        Some(Decimal {
            mantissa: i128::from(number),
            scale: 0,
        })
    }

    /// `-?digits(.digits)?`, at most 17 decimals and 30 digits in all;
    /// `None` for anything else (exponents, `inf`, longer numbers).
    fn parse(text: &[u8]) -> Option<Decimal> {
        let (negative, digits) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let (whole, fraction) = match digits.iter().position(|&b| b == b'.') {
            Some(point) => (&digits[..point], &digits[point + 1..]),
            None => (digits, &digits[..0]),
        };
        if whole.is_empty() && fraction.is_empty()
            || whole.len() + fraction.len() > 30
            || fraction.len() > DECIMALS_MAX as usize
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for &byte in whole.iter().chain(fraction) {
            if !byte.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa * 10 + i128::from(byte - b'0');
        }
        Some(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: fraction.len() as u32,
        })
    }

    fn rescaled(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn text(self) -> String {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        let fraction = fraction.trim_end_matches('0');
        let sign = if self.mantissa < 0 { "-" } else { "" };
        if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        }
    }
}

/// `old + delta` added exactly in decimal, when both are plain decimals
/// of at most 17 decimals (`delta` in its shortest text): what Redis's
/// long double arithmetic printed to 17 decimals gives for them, so
/// `0.1 + 0.2` is `0.3` as in Redis, where a double would give
/// `0.30000000000000004`.
fn decimal_sum(old: &Option<Decimal>, delta: f64) -> Option<String> {
    let old = (*old)?;
    let delta = Decimal::parse(float_text(delta).as_bytes())?;
    let scale = old.scale.max(delta.scale);
    let mantissa = old.rescaled(scale)?.checked_add(delta.rescaled(scale)?)?;
    Some(Decimal { mantissa, scale }.text())
}

/// ```text
/// HINCRBYFLOAT key field increment
/// ```
/// The field's new value as a string; a missing field starts at 0. Plain
/// decimals add exactly ([`decimal_sum`]); other sums are doubles (Redis
/// uses a long double: such results can differ in the last digits).
pub fn hincrbyfloat(
    state: &mut State,
    key: &[u8],
    field: &Bytes,
    delta: f64,
    now_ms: u64,
) -> Reply {
    let (old, old_text) = match hash_read(state, key, now_ms) {
        Err(error) => return error.into(),
        Ok(hash) => match hash.and_then(|hash| hash.get(field)) {
            None => (0.0, Decimal::ZERO),
            Some(FieldValue::Int(number)) => (number as f64, Decimal::int(number)),
            Some(FieldValue::Bytes(bytes)) => match usher_protocol::number::parse_f64(bytes) {
                Some(number) => (number, Decimal::parse(bytes)),
                None => return NOT_FLOAT.into(),
            },
        },
    };
    if let Some(text) = decimal_sum(&old_text, delta) {
        let text = Bytes::from(text);
        return match hset(state, key, &[field.clone(), text.clone()], false, now_ms) {
            Reply::Error(error) => Reply::Error(error),
            _ => Reply::Bulk(text),
        };
    }
    let new = old + delta;
    if !new.is_finite() {
        return ServerError::new_static(
            ErrorCode::NotFloat,
            "ERR increment would produce NaN or Infinity",
        )
        .into();
    }
    let text = Bytes::from(float_text(new));
    match hset(state, key, &[field.clone(), text.clone()], false, now_ms) {
        Reply::Error(error) => Reply::Error(error),
        _ => Reply::Bulk(text),
    }
}

/// ```text
/// HSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// `[next cursor, [field, value, ...]]`. A hash without an index (at most
/// 32 fields) is returned whole with cursor 0, as Redis returns a
/// listpack. Otherwise the cursor counts positions down from the end, as
/// SCAN's does: a removal fills its hole with the last position, which
/// was already visited, and new fields go after every position left, so a
/// field present throughout is returned at least once.
pub fn hscan(
    state: &mut State,
    key: &[u8],
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    now_ms: u64,
) -> Reply {
    let scan_count_max = state.limits.scan_count_max;
    let hash = match hash_read(state, key, now_ms) {
        Ok(Some(hash)) => hash,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(error) => return error.into(),
    };
    let mut items = Vec::new();
    let mut push = |(field, value): (&[u8], FieldValue<'_>)| {
        if pattern.is_none_or(|pattern| glob_match(pattern, field)) {
            items.push(field_reply(field));
            items.push(value_reply(value));
        }
    };
    if !hash.is_indexed() {
        hash.iter().for_each(&mut push);
        return scan_reply(0, items);
    }
    let mut position = if cursor == 0 {
        hash.len()
    } else {
        usize::try_from(cursor)
            .unwrap_or(usize::MAX)
            .min(hash.len())
    };
    let budget = count.clamp(1, scan_count_max);
    let stop = position.saturating_sub(budget);
    while position > stop {
        position -= 1;
        push(hash.at(position));
    }
    scan_reply(position as u64, items)
}

fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

/// splitmix64: HRANDFIELD's draws.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A position below `len` (> 0).
    fn below(&mut self, len: usize) -> usize {
        ((u128::from(self.next()) * len as u128) >> 64) as usize
    }
}

/// ```text
/// HRANDFIELD key [count [WITHVALUES]]
/// ```
/// Without a count, one random field (nil for a missing key). A positive
/// count gives that many distinct fields (all of them if fewer); a
/// negative one that many draws, repeats allowed. WITHVALUES pairs each
/// with its value (RESP3: an array of pairs). The draws follow from the
/// hash's seed, its size and `now_ms`, so they change nothing and replay
/// needs none of them.
pub fn hrandfield(
    state: &mut State,
    key: &[u8],
    count: Option<i64>,
    with_values: bool,
    now_ms: u64,
) -> Reply {
    let reply_items_max = state.limits.reply_items_max;
    let hash = match hash_read(state, key, now_ms) {
        Ok(Some(hash)) => hash,
        Ok(None) if count.is_none() => return Reply::Nil,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(error) => return error.into(),
    };
    let mut draws = Draws(hash.seed() ^ now_ms.rotate_left(32) ^ hash.len() as u64);
    let Some(count) = count else {
        return field_reply(hash.at(draws.below(hash.len())).0);
    };
    let len = hash.len();
    let positions: Vec<usize> = if count >= 0 {
        let take = (count as u64).min(len as u64) as usize;
        if take > reply_items_max {
            return too_many_items(take, reply_items_max);
        }
        if take == len {
            (0..len).collect()
        } else {
            distinct(&mut draws, len, take)
        }
    } else {
        let take = count.unsigned_abs();
        if take > reply_items_max as u64 {
            return too_many_items(usize::try_from(take).unwrap_or(usize::MAX), reply_items_max);
        }
        (0..take).map(|_| draws.below(len)).collect()
    };
    if with_values {
        Reply::Pairs(
            positions
                .into_iter()
                .map(|at| {
                    let (field, value) = hash.at(at);
                    (field_reply(field), value_reply(value))
                })
                .collect(),
        )
    } else {
        Reply::Array(
            positions
                .into_iter()
                .map(|at| field_reply(hash.at(at).0))
                .collect(),
        )
    }
}

/// `take` distinct positions below `len` (`take < len`), in draw order: a
/// partial shuffle when most are taken, else draws with the repeats
/// skipped.
fn distinct(draws: &mut Draws, len: usize, take: usize) -> Vec<usize> {
    if take * 2 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..take {
            let j = i + draws.below(len - i);
            all.swap(i, j);
        }
        all.truncate(take);
        return all;
    }
    let mut seen = std::collections::HashSet::with_capacity(take);
    let mut out = Vec::with_capacity(take);
    while out.len() < take {
        let at = draws.below(len);
        if seen.insert(at) {
            out.push(at);
        }
    }
    out
}

/// Applies a logged hash effect (see `State::replay`). A missing key is
/// skipped: deleted before a snapshot reached it, its `Delete` follows.
pub fn replay(state: &mut State, effect: &HashEffect) -> Result<(), ReplayError> {
    let key = effect.key();
    let Some(entry) = state.keyspace.get_mut(key) else {
        return Ok(());
    };
    let Value::Hash(hash) = &mut entry.value else {
        return Err(ReplayError::wrong_type(key, "hash", &entry.value));
    };
    match effect {
        HashEffect::Set { field, value, .. } => {
            let value = match value {
                HashValue::Int(number) => FieldValue::Int(*number),
                HashValue::Bytes(bytes) => FieldValue::from_bytes(bytes),
            };
            if !hash.contains(field) && hash.arena_len_with(field, value) > ARENA_BYTES_MAX {
                return Err(ReplayError::unfit(key, "hash arena too large"));
            }
            hash.set(field, value);
        }
        HashEffect::Remove { field, .. } => {
            if !hash.remove(field) {
                return Err(ReplayError::unfit(
                    key,
                    format!("field \"{}\" is not in the hash", field.escape_ascii()),
                ));
            }
        }
    }
    Ok(())
}
