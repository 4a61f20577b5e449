//! `Request`: one typed variant per command, and the parser that turns a
//! decoded argument list (from either codec) into it.
//!
//! Both codecs produce an [`ArgList`] whose first argument is the command
//! name; [`parse_list`] checks arity and syntax and builds the variant, so a
//! command's syntax is defined once for both protocols. A syntax error is a
//! per-request error reply, never a connection error.

use bytes::Bytes;

pub use crate::args::{Arg, ArgList, ArgRef};
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};

/// Seat numbers named by a request (and, in the server, by its logged
/// effect). A hold names a few (3 at most by default), so up to 4 stay
/// inline: parsing one allocates nothing. The type is the size of a `Vec`.
pub type SeatList = smallvec::SmallVec<[u32; 4]>;

/// ZADD's `(score, member)` pairs: one in place (the usual ZADD adds one
/// member, and a `Vec` was an allocation per request), more on the heap.
/// `Request` keeps its size.
pub type ZAddPairs = smallvec::SmallVec<[(f64, Bytes); 1]>;

/// Parses a 64-bit signed integer the way Redis does: optional `-`, digits,
/// no leading `+`, no spaces, no leading zeros except `0` itself.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(byte - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// Parses a double as Redis does: decimal or exponent notation, `inf`,
/// `+inf`, `-inf`; NaN and surrounding spaces are refused.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    // Compared without changing case in a copy: a score is parsed for every
    // ZADD, and lowering it into a `String` was an allocation per request.
    let named = |names: &[&str]| names.iter().any(|name| text.eq_ignore_ascii_case(name));
    let value = if named(&["inf", "+inf", "infinity", "+infinity"]) {
        f64::INFINITY
    } else if named(&["-inf", "-infinity"]) {
        f64::NEG_INFINITY
    } else {
        if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
        {
            return None;
        }
        text.parse::<f64>().ok()?
    };
    if value.is_nan() {
        None
    } else {
        Some(value)
    }
}

/// Formats a double as Redis does in replies: `inf`, `-inf`, and otherwise
/// the shortest digits that read back to the same value, laid out the way
/// C's `%.17g` lays them out (Redis 7.2+): plain notation for exponents from
/// -4 to 16, else `d.ddde+XX`. Negative zero is `0`, as Redis stores it.
pub fn format_double(value: f64) -> String {
    double_text(value).as_str().to_string()
}

/// [`format_double`]'s text in a stack buffer, for replies (no allocation).
pub fn double_text(value: f64) -> DoubleText {
    let mut text = DoubleText::default();
    // The longest text an `f64` gives here is 24 bytes.
    assert!(
        write_double(&mut text, value).is_ok(),
        "a double's text fits its buffer"
    );
    text
}

fn write_double(out: &mut DoubleText, value: f64) -> std::fmt::Result {
    use std::fmt::Write;
    if value == f64::INFINITY {
        return out.write_str("inf");
    }
    if value == f64::NEG_INFINITY {
        return out.write_str("-inf");
    }
    if value == 0.0 {
        return out.write_str("0");
    }
    // `{:e}` gives the shortest round-trip digits, e.g. `-1.25e-7`.
    let mut scientific = DoubleText::default();
    write!(scientific, "{value:e}")?;
    let (mantissa, exponent) = scientific
        .as_str()
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..17).contains(&exponent) {
        return write!(out, "{value}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

/// Text of at most 48 bytes kept in place (see [`double_text`]).
pub struct DoubleText {
    bytes: [u8; 48],
    len: usize,
}

impl Default for DoubleText {
    fn default() -> DoubleText {
        DoubleText {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl DoubleText {
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended (see `write_str`).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// How `SET` and `EXPIRE` spell a deadline before the engine turns it into an
/// absolute time. Relative amounts are resolved against the engine's clock, so
/// the log only ever sees absolute deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Seconds from now (`EX`, `EXPIRE`).
    InSeconds(i64),
    /// Milliseconds from now (`PX`, `PEXPIRE`).
    InMillis(i64),
    /// Unix time in seconds (`EXAT`, `EXPIREAT`).
    AtSeconds(i64),
    /// Unix time in milliseconds (`PXAT`, `PEXPIREAT`).
    AtMillis(i64),
}

impl Deadline {
    /// The absolute deadline in Unix milliseconds, or `None` if it overflows.
    pub fn resolve(self, now_ms: u64) -> Option<i64> {
        let now = i64::try_from(now_ms).ok()?;
        match self {
            Deadline::InSeconds(s) => s.checked_mul(1000)?.checked_add(now),
            Deadline::InMillis(ms) => ms.checked_add(now),
            Deadline::AtSeconds(s) => s.checked_mul(1000),
            Deadline::AtMillis(ms) => Some(ms),
        }
    }

    /// Whether the amount itself is acceptable to Redis (relative amounts and
    /// `SET` deadlines must be positive).
    pub fn amount(self) -> i64 {
        match self {
            Deadline::InSeconds(v)
            | Deadline::InMillis(v)
            | Deadline::AtSeconds(v)
            | Deadline::AtMillis(v) => v,
        }
    }
}

/// `SET` conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SetCondition {
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// What `SET` does with the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SetExpiry {
    /// No option: any existing TTL is removed.
    #[default]
    Clear,
    /// `KEEPTTL`.
    Keep,
    /// `EX`, `PX`, `EXAT`, `PXAT`.
    At(Deadline),
}

/// `EXPIRE` family conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    #[default]
    Always,
    /// `NX`: only when the key has no expiry.
    NoExpiry,
    /// `XX`: only when the key has an expiry.
    HasExpiry,
    /// `GT`: only when the new expiry is later (no expiry counts as infinite).
    Later,
    /// `LT`: only when the new expiry is sooner (no expiry counts as infinite).
    Sooner,
    /// `XX LT`: only when the key has an expiry and the new one is sooner.
    SoonerWithExpiry,
}

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    /// Parses a bound as Redis's `zslParseRange` does; `None` if it is not
    /// a float (or is NaN).
    pub fn parse(arg: ArgRef<'_>) -> Option<ScoreBound> {
        match arg {
            ArgRef::Bytes(bytes) => match bytes.first() {
                Some(b'(') => parse_f64(&bytes[1..]).map(|value| ScoreBound {
                    value,
                    exclusive: true,
                }),
                _ => parse_f64(bytes).map(|value| ScoreBound {
                    value,
                    exclusive: false,
                }),
            },
            other => other.to_f64().ok().map(|value| ScoreBound {
                value,
                exclusive: false,
            }),
        }
    }
}

/// `ZADD` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ZAddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is less.
    pub lt: bool,
    /// Reply with added + changed instead of added.
    pub ch: bool,
    /// Add the score to the current one and reply the new score.
    pub incr: bool,
}

/// What a `ZRANGE`-family range counts in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZRangeBy {
    /// Ranks, negative ones counting from the end.
    Rank { start: i64, stop: i64 },
    /// Scores, always given low to high here whatever the command's order.
    Score { min: ScoreBound, max: ScoreBound },
}

/// `COMMAND` subcommands that tools send on connect.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandQuery {
    /// `COMMAND`: the whole table.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND INFO name...` and `COMMAND DOCS name...` (empty = all).
    Info(Vec<Bytes>),
    Docs(Vec<Bytes>),
}

/// `CLIENT` subcommands.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientCommand {
    SetName(Bytes),
    GetName,
    Id,
    /// `CLIENT SETINFO attr value`: accepted and ignored.
    SetInfo,
}

/// A parsed command. Connection-level commands are answered by the
/// connection; all others go to the engine thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    // --- connection level ---
    Ping(Option<Bytes>),
    Echo(Bytes),
    Time,
    Hello {
        protocol: Option<i64>,
        client_name: Option<Bytes>,
    },
    Select(i64),
    Client(ClientCommand),
    Command(CommandQuery),
    ConfigGet(Vec<Bytes>),
    Quit,
    // --- server ---
    Info(Vec<Bytes>),
    DbSize,
    FlushAll,
    /// `SNAPSHOT`: start writing a snapshot now.
    Snapshot,
    // --- keys ---
    Del(Vec<Bytes>),
    Exists(Vec<Bytes>),
    Type(Bytes),
    Expire {
        key: Bytes,
        deadline: Deadline,
        condition: ExpireCondition,
    },
    Ttl(Bytes),
    Pttl(Bytes),
    Persist(Bytes),
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
        type_name: Option<Bytes>,
    },
    // --- strings and counters ---
    Get(Bytes),
    Set {
        key: Bytes,
        value: Bytes,
        condition: SetCondition,
        get: bool,
        expiry: SetExpiry,
    },
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`.
    IncrBy {
        key: Bytes,
        delta: i64,
    },
    /// `INCRBOUND key delta [MIN floor] [MAX cap]`.
    IncrBound {
        key: Bytes,
        delta: i64,
        min: Option<i64>,
        max: Option<i64>,
    },
    // --- seats ---
    /// `SEAT.CREATE event count [LIMIT k]`.
    SeatCreate {
        key: Bytes,
        count: u64,
        limit: Option<u64>,
    },
    /// `SEAT.HOLD event holder ttl_ms seat [seat ...]`.
    SeatHold {
        key: Bytes,
        holder: Bytes,
        ttl_ms: u64,
        seats: SeatList,
    },
    /// `SEAT.CONFIRM event holder`.
    SeatConfirm {
        key: Bytes,
        holder: Bytes,
    },
    /// `SEAT.RELEASE event holder [seat ...]` (empty = all the holder holds).
    SeatRelease {
        key: Bytes,
        holder: Bytes,
        seats: SeatList,
    },
    /// `SEAT.STATUS event from count`.
    SeatStatus {
        key: Bytes,
        from: u64,
        count: u64,
    },
    /// `SEAT.HOLDER event holder`.
    SeatHolder {
        key: Bytes,
        holder: Bytes,
    },
    /// `SEAT.INFO event`.
    SeatInfo(Bytes),
    // --- stock ---
    /// `STOCK.CONFIG sku total [LIMIT k]`.
    StockConfig {
        key: Bytes,
        total: u64,
        limit: Option<u64>,
    },
    /// `STOCK.RESERVE sku holder qty ttl_ms`.
    StockReserve {
        key: Bytes,
        holder: Bytes,
        quantity: u64,
        ttl_ms: u64,
    },
    /// `STOCK.CONFIRM sku holder`.
    StockConfirm {
        key: Bytes,
        holder: Bytes,
    },
    /// `STOCK.RELEASE sku holder`.
    StockRelease {
        key: Bytes,
        holder: Bytes,
    },
    /// `STOCK.TAKE sku holder qty`.
    StockTake {
        key: Bytes,
        holder: Bytes,
        quantity: u64,
    },
    /// `STOCK.REFUND sku holder qty`.
    StockRefund {
        key: Bytes,
        holder: Bytes,
        quantity: u64,
    },
    /// `STOCK.INFO sku`.
    StockInfo(Bytes),
    // --- exactly-once retries ---
    /// `REQ id command [args ...]`, or any data command sent in a binary
    /// frame that carries an idempotency key. `fingerprint` identifies the
    /// wrapped command (see [`fingerprint`]) so a reused id with a different
    /// command is refused instead of answered with an unrelated reply.
    Req {
        id: Bytes,
        fingerprint: u64,
        command: Box<Request>,
    },
    // --- sorted sets ---
    ZAdd {
        key: Bytes,
        flags: ZAddFlags,
        pairs: ZAddPairs,
    },
    ZIncrBy {
        key: Bytes,
        delta: f64,
        member: Bytes,
    },
    ZRem {
        key: Bytes,
        members: Vec<Bytes>,
    },
    ZScore {
        key: Bytes,
        member: Bytes,
    },
    ZCard(Bytes),
    ZCount {
        key: Bytes,
        min: ScoreBound,
        max: ScoreBound,
    },
    /// `ZRANK` and `ZREVRANK`.
    ZRank {
        key: Bytes,
        member: Bytes,
        reverse: bool,
        with_score: bool,
    },
    /// `ZRANGE`, `ZRANGEBYSCORE`, `ZREVRANGE`, `ZREVRANGEBYSCORE`.
    ZRange {
        key: Bytes,
        by: ZRangeBy,
        reverse: bool,
        /// `LIMIT offset count`; `(0, -1)` when absent.
        limit: (i64, i64),
        with_scores: bool,
    },
    /// `ZPOPMIN` and `ZPOPMAX`.
    ZPop {
        key: Bytes,
        max: bool,
        count: Option<i64>,
    },
    /// `BZPOPMIN` and `BZPOPMAX`: pop from the first non-empty key, or wait.
    BzPop {
        keys: Vec<Bytes>,
        max: bool,
        timeout_ms: u64,
    }, // timeout_ms 0 = wait forever
    ZRemRangeByScore {
        key: Bytes,
        min: ScoreBound,
        max: ScoreBound,
    },
    ZRemRangeByRank {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    // --- queues ---
    /// `QUEUE.CONFIG q [CAPACITY n] [RATE n PER ms] [TTL ms]`; `None` leaves
    /// a setting as it is, 0 switches it off.
    QueueConfig {
        key: Bytes,
        capacity: Option<u64>,
        /// `(members, period_ms)`.
        rate: Option<(u64, u64)>,
        ttl_ms: Option<u64>,
    },
    QueueJoin {
        key: Bytes,
        member: Bytes,
    },
    QueuePos {
        key: Bytes,
        member: Bytes,
    },
    QueueAdmit {
        key: Bytes,
        count: u64,
    },
    QueueTouch {
        key: Bytes,
        member: Bytes,
        ttl_ms: Option<u64>,
    },
    QueueLeave {
        key: Bytes,
        member: Bytes,
    },
    QueueClose(Bytes),
    QueueDrop(Bytes),
    QueueInfo(Bytes),
}

/// Longest `REQ` id in bytes; the same bound as the binary frame's
/// idempotency key, since both name the same table.
pub const REQ_ID_BYTES_MAX: usize = crate::binary::IDEMPOTENCY_KEY_BYTES_MAX;

/// A stable 64-bit fingerprint (FNV-1a) of a command's arguments, name
/// included and upper-cased, each argument taken in its text form and
/// prefixed by its length. Integers and doubles sent as typed binary
/// arguments hash like their decimal text, so the same command gives the
/// same fingerprint over either codec. Stable across processes and
/// versions: it is stored with remembered replies and will be persisted.
pub fn fingerprint(args: &[Arg]) -> u64 {
    fingerprint_of(args.iter().map(Arg::as_ref))
}

/// [`fingerprint`] of a decoded list's arguments from `from` on.
pub fn fingerprint_list(list: &ArgList, from: usize) -> u64 {
    fingerprint_of(list.iter().skip(from))
}

fn fingerprint_of<'a>(args: impl Iterator<Item = ArgRef<'a>>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    fn eat(mut hash: u64, bytes: &[u8], upper: bool) -> u64 {
        for &byte in (bytes.len() as u64).to_le_bytes().iter() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        for &byte in bytes {
            let byte = if upper {
                byte.to_ascii_uppercase()
            } else {
                byte
            };
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        hash
    }
    let mut hash = OFFSET;
    let mut digits = itoa::Buffer::new();
    for (position, arg) in args.enumerate() {
        let upper = position == 0;
        hash = match arg {
            ArgRef::Bytes(bytes) => eat(hash, bytes, upper),
            ArgRef::Int(value) => eat(hash, digits.format(value).as_bytes(), upper),
            ArgRef::Double(value) => eat(hash, format_double(value).as_bytes(), upper),
        };
    }
    hash
}

impl Request {
    /// Whether the connection answers this request itself (no engine hop).
    pub fn is_connection_level(&self) -> bool {
        matches!(
            self,
            Request::Ping(_)
                | Request::Echo(_)
                | Request::Time
                | Request::Hello { .. }
                | Request::Select(_)
                | Request::Client(_)
                | Request::Command(_)
                | Request::ConfigGet(_)
                | Request::Quit
        )
    }

    /// Whether the request may change state (and so needs logging later).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::FlushAll
                | Request::Del(_)
                | Request::Expire { .. }
                | Request::Persist(_)
                | Request::Set { .. }
                | Request::IncrBy { .. }
                | Request::IncrBound { .. }
                | Request::SeatCreate { .. }
                | Request::SeatHold { .. }
                | Request::SeatConfirm { .. }
                | Request::SeatRelease { .. }
                | Request::StockConfig { .. }
                | Request::StockReserve { .. }
                | Request::StockConfirm { .. }
                | Request::StockRelease { .. }
                | Request::StockTake { .. }
                | Request::StockRefund { .. }
                | Request::Req { .. }
                | Request::ZAdd { .. }
                | Request::ZIncrBy { .. }
                | Request::ZRem { .. }
                | Request::ZPop { .. }
                | Request::BzPop { .. }
                | Request::ZRemRangeByScore { .. }
                | Request::ZRemRangeByRank { .. }
                | Request::QueueConfig { .. }
                | Request::QueueJoin { .. }
                | Request::QueueAdmit { .. }
                | Request::QueueTouch { .. }
                | Request::QueueLeave { .. }
                | Request::QueueClose(_)
                | Request::QueueDrop(_)
        )
    }

    /// Wraps a parsed command for exactly-once execution under `id` (the
    /// `REQ` prefix, or a binary frame's idempotency key). Refuses ids of the
    /// wrong size and commands that never reach the state: connection-level
    /// commands, `INFO`, and another `REQ`.
    pub fn idempotent(
        id: Bytes,
        fingerprint: u64,
        command: Request,
    ) -> Result<Request, ServerError> {
        if id.is_empty() || id.len() > REQ_ID_BYTES_MAX {
            return Err(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR REQ id is {} bytes; ids must be 1 to {REQ_ID_BYTES_MAX} bytes",
                    id.len()
                ),
            ));
        }
        if command.is_connection_level()
            || matches!(command, Request::Info(_) | Request::Req { .. })
        {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR REQ wraps data commands only, not connection commands, INFO or another REQ",
            ));
        }
        Ok(Request::Req {
            id,
            fingerprint,
            command: Box::new(command),
        })
    }

    /// The keys the request names; used to enforce `key_bytes_max`.
    pub fn keys(&self) -> &[Bytes] {
        match self {
            Request::Del(keys) | Request::Exists(keys) | Request::BzPop { keys, .. } => keys,
            Request::Type(key)
            | Request::Ttl(key)
            | Request::Pttl(key)
            | Request::Persist(key)
            | Request::Get(key)
            | Request::Expire { key, .. }
            | Request::Set { key, .. }
            | Request::IncrBy { key, .. }
            | Request::IncrBound { key, .. }
            | Request::SeatCreate { key, .. }
            | Request::SeatHold { key, .. }
            | Request::SeatConfirm { key, .. }
            | Request::SeatRelease { key, .. }
            | Request::SeatStatus { key, .. }
            | Request::SeatHolder { key, .. }
            | Request::SeatInfo(key)
            | Request::StockConfig { key, .. }
            | Request::StockReserve { key, .. }
            | Request::StockConfirm { key, .. }
            | Request::StockRelease { key, .. }
            | Request::StockTake { key, .. }
            | Request::StockRefund { key, .. }
            | Request::StockInfo(key)
            | Request::ZAdd { key, .. }
            | Request::ZIncrBy { key, .. }
            | Request::ZRem { key, .. }
            | Request::ZScore { key, .. }
            | Request::ZCard(key)
            | Request::ZCount { key, .. }
            | Request::ZRank { key, .. }
            | Request::ZRange { key, .. }
            | Request::ZPop { key, .. }
            | Request::ZRemRangeByScore { key, .. }
            | Request::ZRemRangeByRank { key, .. }
            | Request::QueueConfig { key, .. }
            | Request::QueueJoin { key, .. }
            | Request::QueuePos { key, .. }
            | Request::QueueAdmit { key, .. }
            | Request::QueueTouch { key, .. }
            | Request::QueueLeave { key, .. }
            | Request::QueueClose(key)
            | Request::QueueDrop(key)
            | Request::QueueInfo(key) => std::slice::from_ref(key),
            Request::Req { command, .. } => command.keys(),
            _ => &[],
        }
    }
}

/// Walks a decoded argument list; each method consumes one argument.
struct Args<'a> {
    name: &'static str,
    list: &'a ArgList,
    /// The next argument's index.
    next: usize,
}

impl<'a> Args<'a> {
    fn remaining(&self) -> usize {
        self.list.len() - self.next
    }

    fn next_arg(&mut self) -> Result<ArgRef<'a>, ServerError> {
        let list: &'a ArgList = self.list;
        let arg = list
            .get(self.next)
            .ok_or_else(|| ServerError::wrong_arity(self.name))?;
        self.next += 1;
        Ok(arg)
    }

    /// The next argument as a string sharing the frame: for what a request
    /// keeps. Reading one only to compare it is [`Args::next_arg`], which
    /// makes no `Bytes`.
    fn bytes(&mut self) -> Result<Bytes, ServerError> {
        let bytes = self
            .list
            .bytes(self.next)
            .ok_or_else(|| ServerError::wrong_arity(self.name))?;
        self.next += 1;
        Ok(bytes)
    }

    fn int(&mut self) -> Result<i64, ServerError> {
        self.next_arg()?.to_i64()
    }

    /// An integer that must be at least 1 (a count or a quantity).
    fn positive(&mut self, what: &str) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .ok()
            .filter(|value| *value >= 1)
            .ok_or_else(|| ServerError::out_of_range(format!("ERR {what} must be at least 1")))
    }

    /// An integer that must not be negative (a position or a total).
    fn non_negative(&mut self, what: &str) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .map_err(|_| ServerError::out_of_range(format!("ERR {what} must not be negative")))
    }

    /// A hold or reservation time to live in milliseconds: at least 1.
    fn ttl_ms(&mut self) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .ok()
            .filter(|value| *value >= 1)
            .ok_or_else(|| ServerError::invalid_expire(self.name))
    }

    /// Every remaining argument as a seat number.
    fn seats(&mut self) -> Result<SeatList, ServerError> {
        let mut seats = SeatList::with_capacity(self.remaining());
        while self.remaining() > 0 {
            let value = self.int()?;
            let seat = u32::try_from(value).map_err(|_| {
                ServerError::out_of_range(format!("ERR seat number {value} is out of range"))
            })?;
            seats.push(seat);
        }
        Ok(seats)
    }

    fn peek_keyword(&self) -> Option<ArgRef<'a>> {
        let list: &'a ArgList = self.list;
        list.get(self.next)
    }

    fn rest(&mut self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.remaining());
        while let Some(bytes) = self.list.bytes(self.next) {
            out.push(bytes);
            self.next += 1;
        }
        out
    }

    /// Fails with the arity error unless every argument was used.
    fn end(&self) -> Result<(), ServerError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ServerError::wrong_arity(self.name))
        }
    }

    /// Fails with a syntax error unless every argument was used (for
    /// commands whose optional tail is parsed by keyword).
    fn end_syntax(&self) -> Result<(), ServerError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ServerError::SYNTAX)
        }
    }
}

/// Upper-cases a command name into a stack buffer; `None` if it is too long
/// to be any known command.
fn upper_name(arg: ArgRef<'_>, buffer: &mut [u8; 24]) -> Option<usize> {
    let ArgRef::Bytes(name) = arg else {
        return None;
    };
    if name.len() > buffer.len() {
        return None;
    }
    for (slot, byte) in buffer.iter_mut().zip(name.iter()) {
        *slot = byte.to_ascii_uppercase();
    }
    Some(name.len())
}

fn unknown_command(args: &ArgList, from: usize) -> ServerError {
    let name = match args.get(from) {
        Some(ArgRef::Bytes(bytes)) => {
            String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned()
        }
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let mut start = String::new();
    for arg in args.iter().skip(from + 1).take(8) {
        if let ArgRef::Bytes(bytes) = arg {
            start.push('\'');
            start.push_str(&String::from_utf8_lossy(&bytes[..bytes.len().min(64)]));
            start.push_str("' ");
        }
    }
    ServerError::new(
        ErrorCode::UnknownCommand,
        format!("ERR unknown command '{name}', with args beginning with: {start}"),
    )
}

/// Parses a list of owned arguments (command name first): for clients and
/// tests. The server parses the decoder's list with [`parse_list`].
pub fn parse(args: &[Arg]) -> Result<Request, ServerError> {
    parse_list(&ArgList::from_args(args))
}

/// Parses a decoded argument list (command name first). It only reads the
/// list; a `Bytes` is made for each argument the request keeps.
pub fn parse_list(args: &ArgList) -> Result<Request, ServerError> {
    parse_from(args, 0)
}

/// Parses the command whose name is argument `from` of `args`.
fn parse_from(args: &ArgList, from: usize) -> Result<Request, ServerError> {
    let mut buffer = [0u8; 24];
    let Some(first) = args.get(from) else {
        return Err(ServerError::protocol("empty command"));
    };
    let Some(length) = upper_name(first, &mut buffer) else {
        return Err(unknown_command(args, from));
    };
    let upper = &buffer[..length];
    let Some(spec) = crate::commands::lookup(upper) else {
        return Err(unknown_command(args, from));
    };
    let name = spec.name;
    let given = (args.len() - from) as i64;
    if (spec.arity > 0 && given != spec.arity) || (spec.arity < 0 && given < -spec.arity) {
        return Err(ServerError::wrong_arity(name));
    }
    if spec.id == Cmd::Req {
        return parse_req(args, from);
    }
    let mut a = Args {
        name,
        list: args,
        next: from + 1,
    };
    let request = match spec.id {
        Cmd::Ping => {
            let message = if a.remaining() == 1 {
                Some(a.bytes()?)
            } else {
                None
            };
            a.end()?;
            Request::Ping(message)
        }
        Cmd::Echo => Request::Echo(a.bytes()?),
        Cmd::Time => Request::Time,
        Cmd::Quit => Request::Quit,
        Cmd::Hello => parse_hello(&mut a)?,
        Cmd::Select => Request::Select(a.int()?),
        Cmd::Client => parse_client(&mut a)?,
        Cmd::Command => parse_command(&mut a)?,
        Cmd::Config => {
            let sub = a.bytes()?;
            if !sub.eq_ignore_ascii_case(b"GET") {
                return Err(ServerError::generic(format!(
                    "ERR unknown subcommand '{}'. Try CONFIG GET.",
                    String::from_utf8_lossy(&sub)
                )));
            }
            if a.remaining() == 0 {
                return Err(ServerError::wrong_arity("config|get"));
            }
            Request::ConfigGet(a.rest())
        }
        Cmd::Info => Request::Info(a.rest()),
        Cmd::Dbsize => Request::DbSize,
        Cmd::Snapshot => Request::Snapshot,
        Cmd::Flushall => {
            // ASYNC and SYNC are accepted; flushing is always immediate.
            if let Some(mode) = a.peek_keyword() {
                if !(mode.is_keyword("ASYNC") || mode.is_keyword("SYNC")) {
                    return Err(ServerError::SYNTAX);
                }
                a.bytes()?;
            }
            a.end_syntax()?;
            Request::FlushAll
        }
        // DEL already frees large values on a background thread (lazy
        // free), which is what UNLINK asks for.
        Cmd::Del | Cmd::Unlink => Request::Del(a.rest()),
        Cmd::Exists => Request::Exists(a.rest()),
        Cmd::Type => Request::Type(a.bytes()?),
        Cmd::Expire | Cmd::Pexpire | Cmd::Expireat | Cmd::Pexpireat => parse_expire(name, &mut a)?,
        Cmd::Ttl => Request::Ttl(a.bytes()?),
        Cmd::Pttl => Request::Pttl(a.bytes()?),
        Cmd::Persist => Request::Persist(a.bytes()?),
        Cmd::Scan => parse_scan(&mut a)?,
        Cmd::Get => Request::Get(a.bytes()?),
        Cmd::Set => parse_set(&mut a)?,
        Cmd::Incr => Request::IncrBy {
            key: a.bytes()?,
            delta: 1,
        },
        Cmd::Decr => Request::IncrBy {
            key: a.bytes()?,
            delta: -1,
        },
        Cmd::Incrby => Request::IncrBy {
            key: a.bytes()?,
            delta: a.int()?,
        },
        Cmd::Decrby => {
            let key = a.bytes()?;
            let delta = a.int()?;
            let delta = delta.checked_neg().ok_or(ServerError::new_static(
                ErrorCode::Overflow,
                "ERR decrement would overflow",
            ))?;
            Request::IncrBy { key, delta }
        }
        Cmd::Incrbound => parse_incrbound(&mut a)?,
        Cmd::SeatCreate => {
            let key = a.bytes()?;
            let count = a.positive("seat count")?;
            let limit = parse_limit(&mut a)?;
            Request::SeatCreate { key, count, limit }
        }
        Cmd::SeatHold => {
            let key = a.bytes()?;
            let holder = a.bytes()?;
            let ttl_ms = a.ttl_ms()?;
            let seats = a.seats()?;
            Request::SeatHold {
                key,
                holder,
                ttl_ms,
                seats,
            }
        }
        Cmd::SeatConfirm => Request::SeatConfirm {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::SeatRelease => Request::SeatRelease {
            key: a.bytes()?,
            holder: a.bytes()?,
            seats: a.seats()?,
        },
        Cmd::SeatStatus => Request::SeatStatus {
            key: a.bytes()?,
            from: a.non_negative("from")?,
            count: a.non_negative("count")?,
        },
        Cmd::SeatHolder => Request::SeatHolder {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::SeatInfo => Request::SeatInfo(a.bytes()?),
        Cmd::StockConfig => {
            let key = a.bytes()?;
            let total = a.non_negative("total")?;
            let limit = parse_limit(&mut a)?;
            Request::StockConfig { key, total, limit }
        }
        Cmd::StockReserve => Request::StockReserve {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
            ttl_ms: a.ttl_ms()?,
        },
        Cmd::StockConfirm => Request::StockConfirm {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::StockRelease => Request::StockRelease {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::StockTake => Request::StockTake {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
        },
        Cmd::StockRefund => Request::StockRefund {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
        },
        Cmd::StockInfo => Request::StockInfo(a.bytes()?),
        Cmd::Zadd => parse_zadd(&mut a)?,
        Cmd::Zincrby => {
            let key = a.bytes()?;
            let delta = a.next_arg()?.to_f64()?;
            let member = a.bytes()?;
            Request::ZIncrBy { key, delta, member }
        }
        Cmd::Zrem => Request::ZRem {
            key: a.bytes()?,
            members: a.rest(),
        },
        Cmd::Zscore => Request::ZScore {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::Zcard => Request::ZCard(a.bytes()?),
        Cmd::Zcount => {
            let key = a.bytes()?;
            let (min, max) = score_bounds(&mut a)?;
            Request::ZCount { key, min, max }
        }
        Cmd::Zrank | Cmd::Zrevrank => {
            let key = a.bytes()?;
            let member = a.bytes()?;
            let with_score = match a.peek_keyword() {
                None => false,
                Some(option) if option.is_keyword("WITHSCORE") => {
                    a.bytes()?;
                    true
                }
                Some(_) => return Err(ServerError::SYNTAX),
            };
            a.end_syntax()?;
            Request::ZRank {
                key,
                member,
                reverse: name == "ZREVRANK",
                with_score,
            }
        }
        Cmd::Zrange | Cmd::Zrangebyscore | Cmd::Zrevrange | Cmd::Zrevrangebyscore => {
            parse_zrange(name, &mut a)?
        }
        Cmd::Zpopmin | Cmd::Zpopmax => {
            let key = a.bytes()?;
            let count = if a.remaining() > 0 {
                Some(a.int()?)
            } else {
                None
            };
            a.end_syntax()?;
            Request::ZPop {
                key,
                max: name == "ZPOPMAX",
                count,
            }
        }
        Cmd::Bzpopmin | Cmd::Bzpopmax => {
            // The arity check leaves at least one key before the timeout.
            let mut keys = Vec::with_capacity(a.remaining() - 1);
            while a.remaining() > 1 {
                keys.push(a.bytes()?);
            }
            let timeout_ms = block_timeout_ms(a.next_arg()?)?;
            Request::BzPop {
                keys,
                max: name == "BZPOPMAX",
                timeout_ms,
            }
        }
        Cmd::Zremrangebyscore => {
            let key = a.bytes()?;
            let (min, max) = score_bounds(&mut a)?;
            Request::ZRemRangeByScore { key, min, max }
        }
        Cmd::Zremrangebyrank => Request::ZRemRangeByRank {
            key: a.bytes()?,
            start: a.int()?,
            stop: a.int()?,
        },
        Cmd::QueueConfig => parse_queue_config(&mut a)?,
        Cmd::QueueJoin => Request::QueueJoin {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueuePos => Request::QueuePos {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueueAdmit => {
            let key = a.bytes()?;
            let count = non_negative(&mut a, "count")?;
            Request::QueueAdmit { key, count }
        }
        Cmd::QueueTouch => {
            let key = a.bytes()?;
            let member = a.bytes()?;
            let ttl_ms = match a.peek_keyword() {
                None => None,
                Some(option) if option.is_keyword("TTL") => {
                    a.bytes()?;
                    if a.remaining() == 0 {
                        return Err(ServerError::SYNTAX);
                    }
                    Some(non_negative(&mut a, "TTL")?)
                }
                Some(_) => return Err(ServerError::SYNTAX),
            };
            a.end_syntax()?;
            Request::QueueTouch {
                key,
                member,
                ttl_ms,
            }
        }
        Cmd::QueueLeave => Request::QueueLeave {
            key: a.bytes()?,
            member: a.bytes()?,
        },
        Cmd::QueueClose => Request::QueueClose(a.bytes()?),
        Cmd::QueueDrop => Request::QueueDrop(a.bytes()?),
        Cmd::QueueInfo => Request::QueueInfo(a.bytes()?),
        Cmd::Req => unreachable!("REQ is parsed above"),
    };
    Ok(request)
}

/// A blocking command's timeout in seconds (a float, as Redis takes it) as
/// whole milliseconds, rounded up; 0 means wait forever.
fn block_timeout_ms(arg: ArgRef<'_>) -> Result<u64, ServerError> {
    let seconds = arg
        .to_f64()
        .ok()
        .filter(|seconds| seconds.is_finite())
        .ok_or(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR timeout is not a float or out of range",
        ))?;
    if seconds < 0.0 {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR timeout is negative",
        ));
    }
    let ms = (seconds * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err(ServerError::new_static(
            ErrorCode::OutOfRange,
            "ERR timeout is out of range",
        ));
    }
    Ok(ms as u64)
}

fn parse_hello(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let mut protocol = None;
    let mut client_name = None;
    if a.remaining() > 0 {
        let version = a.int().map_err(|_| {
            ServerError::new_static(
                ErrorCode::Syntax,
                "ERR Protocol version is not an integer or out of range",
            )
        })?;
        protocol = Some(version);
        while a.remaining() > 0 {
            let option = a.bytes()?;
            if option.eq_ignore_ascii_case(b"SETNAME") {
                client_name = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
            } else if option.eq_ignore_ascii_case(b"AUTH") {
                // Authentication arrives with the roles issue; until then
                // credentials are accepted and not checked.
                a.bytes().map_err(|_| ServerError::SYNTAX)?;
                a.bytes().map_err(|_| ServerError::SYNTAX)?;
            } else {
                return Err(ServerError::generic(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&option)
                )));
            }
        }
    }
    Ok(Request::Hello {
        protocol,
        client_name,
    })
}

fn parse_client(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let sub = a.bytes()?;
    let command = if sub.eq_ignore_ascii_case(b"SETNAME") {
        let name = a.bytes()?;
        a.end()?;
        if name.iter().any(|b| *b <= b' ' || *b > b'~') {
            return Err(ServerError::generic(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        ClientCommand::SetName(name)
    } else if sub.eq_ignore_ascii_case(b"GETNAME") {
        a.end()?;
        ClientCommand::GetName
    } else if sub.eq_ignore_ascii_case(b"ID") {
        a.end()?;
        ClientCommand::Id
    } else if sub.eq_ignore_ascii_case(b"SETINFO") {
        a.bytes()?;
        a.bytes()?;
        a.end()?;
        ClientCommand::SetInfo
    } else {
        return Err(ServerError::generic(format!(
            "ERR unknown subcommand '{}'. Try CLIENT SETNAME, GETNAME, ID or SETINFO.",
            String::from_utf8_lossy(&sub)
        )));
    };
    Ok(Request::Client(command))
}

fn parse_command(a: &mut Args<'_>) -> Result<Request, ServerError> {
    if a.remaining() == 0 {
        return Ok(Request::Command(CommandQuery::All));
    }
    let sub = a.bytes()?;
    let query = if sub.eq_ignore_ascii_case(b"COUNT") {
        a.end()?;
        CommandQuery::Count
    } else if sub.eq_ignore_ascii_case(b"INFO") {
        CommandQuery::Info(a.rest())
    } else if sub.eq_ignore_ascii_case(b"DOCS") {
        CommandQuery::Docs(a.rest())
    } else {
        return Err(ServerError::generic(format!(
            "ERR unknown subcommand '{}'. Try COMMAND COUNT, INFO or DOCS.",
            String::from_utf8_lossy(&sub)
        )));
    };
    Ok(Request::Command(query))
}

fn parse_expire(name: &'static str, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    // Redis checks the options before the number; keep its error order.
    let amount = a.next_arg()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while a.remaining() > 0 {
        let option = a.bytes()?;
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(ServerError::generic(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(&option)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let amount = amount.to_i64()?;
    let deadline = match name {
        "EXPIRE" => Deadline::InSeconds(amount),
        "PEXPIRE" => Deadline::InMillis(amount),
        "EXPIREAT" => Deadline::AtSeconds(amount),
        _ => Deadline::AtMillis(amount),
    };
    // GT already fails on a key without expiry (no expiry counts as
    // infinite), so XX GT equals GT; XX LT needs its own variant.
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::NoExpiry,
        (_, _, true, _) => ExpireCondition::Later,
        (_, true, _, true) => ExpireCondition::SoonerWithExpiry,
        (_, _, _, true) => ExpireCondition::Sooner,
        (_, true, ..) => ExpireCondition::HasExpiry,
        _ => ExpireCondition::Always,
    };
    Ok(Request::Expire {
        key,
        deadline,
        condition,
    })
}

fn parse_scan(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let cursor_arg = a.bytes()?;
    let cursor = std::str::from_utf8(&cursor_arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| ServerError::new_static(ErrorCode::Syntax, "ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut type_name = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            let value = a.int().map_err(|e| {
                if e.code == ErrorCode::WrongArity {
                    ServerError::SYNTAX
                } else {
                    e
                }
            })?;
            if value < 1 {
                return Err(ServerError::SYNTAX);
            }
            count = usize::try_from(value).unwrap_or(usize::MAX);
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            type_name = Some(a.bytes().map_err(|_| ServerError::SYNTAX)?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::Scan {
        cursor,
        pattern,
        count,
        type_name,
    })
}

fn parse_set(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let value = a.bytes()?;
    let mut condition = SetCondition::Always;
    let mut get = false;
    let mut keep_ttl = false;
    // As in Redis: options may repeat (the last expiry wins), incompatible
    // ones are a syntax error, and the expiry number is checked only after
    // every option was read, so syntax errors take precedence.
    let mut expiry: Option<(&'static str, ArgRef<'_>)> = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        let upper = option.to_ascii_uppercase();
        let unit = match upper.as_slice() {
            b"EX" => Some("EX"),
            b"PX" => Some("PX"),
            b"EXAT" => Some("EXAT"),
            b"PXAT" => Some("PXAT"),
            _ => None,
        };
        match (upper.as_slice(), unit) {
            (b"NX", _) if condition != SetCondition::IfPresent => {
                condition = SetCondition::IfAbsent
            }
            (b"XX", _) if condition != SetCondition::IfAbsent => {
                condition = SetCondition::IfPresent
            }
            (b"GET", _) => get = true,
            (b"KEEPTTL", _) if expiry.is_none() => keep_ttl = true,
            (_, Some(unit))
                if !keep_ttl
                    && expiry.as_ref().is_none_or(|(given, _)| *given == unit)
                    && a.remaining() > 0 =>
            {
                let amount = a.next_arg()?;
                expiry = Some((unit, amount));
            }
            _ => return Err(ServerError::SYNTAX),
        }
    }
    let expiry = match expiry {
        None if keep_ttl => SetExpiry::Keep,
        None => SetExpiry::Clear,
        Some((unit, amount)) => {
            let amount = amount.to_i64()?;
            if amount <= 0 {
                return Err(ServerError::invalid_expire("set"));
            }
            SetExpiry::At(match unit {
                "EX" => Deadline::InSeconds(amount),
                "PX" => Deadline::InMillis(amount),
                "EXAT" => Deadline::AtSeconds(amount),
                _ => Deadline::AtMillis(amount),
            })
        }
    };
    Ok(Request::Set {
        key,
        value,
        condition,
        get,
        expiry,
    })
}

fn parse_incrbound(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let delta = a.int()?;
    let mut min = None;
    let mut max = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"MIN") && min.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            min = Some(a.int()?);
        } else if option.eq_ignore_ascii_case(b"MAX") && max.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            max = Some(a.int()?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    if let (Some(floor), Some(cap)) = (min, max) {
        if floor > cap {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR MIN is greater than MAX",
            ));
        }
    }
    Ok(Request::IncrBound {
        key,
        delta,
        min,
        max,
    })
}

/// `REQ id command [args ...]`: the wrapped command is parsed like any other
/// (its own arity and syntax errors are reported as they are).
fn parse_req(args: &ArgList, from: usize) -> Result<Request, ServerError> {
    // `from + 1` is the id; the wrapped command starts after it.
    let inner = from + 2;
    // Refused before recursing so that `REQ a REQ b REQ c ...` cannot nest
    // the parser arbitrarily deep.
    if args.get(inner).is_some_and(|name| name.is_keyword("REQ")) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR REQ wraps data commands only, not connection commands, INFO or another REQ",
        ));
    }
    let id = args
        .bytes(from + 1)
        .ok_or_else(|| ServerError::wrong_arity("REQ"))?;
    let fingerprint = fingerprint_list(args, inner);
    let command = parse_from(args, inner)?;
    Request::idempotent(id, fingerprint, command)
}

/// The optional `LIMIT k` tail of `SEAT.CREATE` and `STOCK.CONFIG`.
fn parse_limit(a: &mut Args<'_>) -> Result<Option<u64>, ServerError> {
    if a.remaining() == 0 {
        return Ok(None);
    }
    let option = a.bytes()?;
    if !option.eq_ignore_ascii_case(b"LIMIT") || a.remaining() != 1 {
        return Err(ServerError::SYNTAX);
    }
    Ok(Some(a.positive("LIMIT")?))
}

/// Reads `min max` score bounds.
fn score_bounds(a: &mut Args<'_>) -> Result<(ScoreBound, ScoreBound), ServerError> {
    let not_float =
        || ServerError::new_static(ErrorCode::NotFloat, "ERR min or max is not a float");
    let min = ScoreBound::parse(a.next_arg()?).ok_or_else(not_float)?;
    let max = ScoreBound::parse(a.next_arg()?).ok_or_else(not_float)?;
    Ok((min, max))
}

fn parse_zadd(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let mut flags = ZAddFlags::default();
    while let Some(option) = a.peek_keyword() {
        let flag = if option.is_keyword("NX") {
            &mut flags.nx
        } else if option.is_keyword("XX") {
            &mut flags.xx
        } else if option.is_keyword("GT") {
            &mut flags.gt
        } else if option.is_keyword("LT") {
            &mut flags.lt
        } else if option.is_keyword("CH") {
            &mut flags.ch
        } else if option.is_keyword("INCR") {
            &mut flags.incr
        } else {
            break;
        };
        *flag = true;
        a.next_arg()?;
    }
    let elements = a.remaining();
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(ServerError::SYNTAX);
    }
    if flags.nx && flags.xx {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && elements > 2 {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = ZAddPairs::with_capacity(elements / 2);
    while a.remaining() > 0 {
        let score = a.next_arg()?.to_f64()?;
        let member = a.bytes()?;
        pairs.push((score, member));
    }
    Ok(Request::ZAdd { key, flags, pairs })
}

/// The `ZRANGE` family, following Redis's `zrangeGenericCommand`: options in
/// any order, REV and BYSCORE at most once, WITHSCORES and LIMIT repeatable.
fn parse_zrange(name: &'static str, a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    // `None`: the option may still be given; `Some`: the name fixed it.
    let (mut reverse, mut by_score) = match name {
        "ZRANGE" => (None, None),
        "ZRANGEBYSCORE" => (Some(false), Some(true)),
        "ZREVRANGE" => (Some(true), Some(false)),
        _ => (Some(true), Some(true)),
    };
    let first = a.next_arg()?;
    let second = a.next_arg()?;
    let mut with_scores = false;
    let mut limit = (0i64, -1i64);
    while a.remaining() > 0 {
        let option = a.bytes()?;
        let left = a.remaining();
        if option.eq_ignore_ascii_case(b"WITHSCORES") {
            with_scores = true;
        } else if option.eq_ignore_ascii_case(b"LIMIT") && left >= 2 {
            limit = (a.int()?, a.int()?);
        } else if reverse.is_none() && option.eq_ignore_ascii_case(b"REV") {
            reverse = Some(true);
        } else if by_score.is_none() && option.eq_ignore_ascii_case(b"BYSCORE") {
            by_score = Some(true);
        } else if by_score.is_none() && option.eq_ignore_ascii_case(b"BYLEX") {
            return Err(ServerError::new_static(
                ErrorCode::Syntax,
                "ERR BYLEX is not supported",
            ));
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    let reverse = reverse.unwrap_or(false);
    let by_score = by_score.unwrap_or(false);
    if limit.1 != -1 && !by_score {
        return Err(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    let by = if by_score {
        // Reverse score ranges are written high bound first.
        let (low, high) = if reverse {
            (second, first)
        } else {
            (first, second)
        };
        let not_float =
            || ServerError::new_static(ErrorCode::NotFloat, "ERR min or max is not a float");
        ZRangeBy::Score {
            min: ScoreBound::parse(low).ok_or_else(not_float)?,
            max: ScoreBound::parse(high).ok_or_else(not_float)?,
        }
    } else {
        ZRangeBy::Rank {
            start: first.to_i64()?,
            stop: second.to_i64()?,
        }
    };
    Ok(Request::ZRange {
        key,
        by,
        reverse,
        limit,
        with_scores,
    })
}

/// Reads an integer that must be 0 or more.
fn non_negative(a: &mut Args<'_>, what: &str) -> Result<u64, ServerError> {
    let value = a.int()?;
    u64::try_from(value)
        .map_err(|_| ServerError::new(ErrorCode::Syntax, format!("ERR {what} must be 0 or more")))
}

fn parse_queue_config(a: &mut Args<'_>) -> Result<Request, ServerError> {
    let key = a.bytes()?;
    let mut capacity = None;
    let mut rate = None;
    let mut ttl_ms = None;
    while a.remaining() > 0 {
        let option = a.bytes()?;
        if option.eq_ignore_ascii_case(b"CAPACITY") && capacity.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            capacity = Some(non_negative(a, "CAPACITY")?);
        } else if option.eq_ignore_ascii_case(b"RATE") && rate.is_none() {
            if a.remaining() < 3 {
                return Err(ServerError::SYNTAX);
            }
            let members = non_negative(a, "RATE")?;
            if !a.next_arg()?.is_keyword("PER") {
                return Err(ServerError::SYNTAX);
            }
            let period_ms = non_negative(a, "the RATE period")?;
            if members > 0 && period_ms == 0 {
                return Err(ServerError::new_static(
                    ErrorCode::Syntax,
                    "ERR the RATE period must be at least 1 ms",
                ));
            }
            rate = Some((members, period_ms));
        } else if option.eq_ignore_ascii_case(b"TTL") && ttl_ms.is_none() {
            if a.remaining() == 0 {
                return Err(ServerError::SYNTAX);
            }
            ttl_ms = Some(non_negative(a, "TTL")?);
        } else {
            return Err(ServerError::SYNTAX);
        }
    }
    Ok(Request::QueueConfig {
        key,
        capacity,
        rate,
        ttl_ms,
    })
}
