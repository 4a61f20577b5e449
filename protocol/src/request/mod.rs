//! `Request`: one typed variant per command, and the parser that turns a
//! decoded argument list (from either codec) into it.
//!
//! Both codecs produce an [`ArgList`] whose first argument is the command
//! name; [`parse_list`] looks the name up in the command table, checks the
//! arity and hands the arguments to the command's family, so a command's
//! syntax is defined once for both protocols. A syntax error is a
//! per-request error reply, never a connection error.
//!
//! One file per family, as in the server's `state/`: `connection`
//! (answered by the connection), `server` (INFO, DBSIZE, SNAPSHOT,
//! FLUSHALL), `keys`, `strings`, `seats`, `stock`, `zset`, `queue`, `list`, `hash`, `set`
//! and `idempotency` (`REQ`); `cursor` is the argument reader they share. Each
//! family file holds its commands' option types and parse functions.

mod connection;
mod cursor;
mod hash;
mod idempotency;
mod keys;
mod list;
mod queue;
mod seats;
mod server;
mod set;
mod stock;
mod strings;
pub mod transaction;
mod zset;

use bytes::Bytes;

pub use crate::args::{Arg, ArgList, ArgRef};
use crate::commands::Cmd;
use crate::error::{ErrorCode, ServerError};
use cursor::Args;

pub use connection::{AclCommand, ClientCommand, CommandQuery, ConnectionCommand, Secret};
pub use idempotency::{fingerprint, fingerprint_list, REQ_ID_BYTES_MAX};
pub use keys::{Deadline, ExpireCondition, ObjectQuery};
pub use list::{LPosOptions, ListItems};
pub use seats::SeatList;
pub use set::{SetMembers, SetOp};
pub use strings::{GetExExpiry, SetCondition, SetExpiry};
pub use transaction::{Step, Transaction};
pub use zset::{
    Aggregate, LexBound, LexRange, ScoreBound, ZAddFlags, ZAddPairs, ZCombine, ZCombineOp,
    ZRangeBy, ZRangeStore,
};

/// A parsed command: one variant per command (a few commands share one, as
/// `INCR` and `DECRBY` share `IncrBy`). [`Request::Connection`] is answered
/// by the connection; every other variant goes to the engine thread. One
/// flat enum, so the engine dispatches with a single `match`.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Answered by the connection itself, never sent to the engine.
    Connection(ConnectionCommand),
    // --- server ---
    Info(Vec<Bytes>),
    DbSize,
    FlushAll,
    /// `SNAPSHOT`: start writing a snapshot now.
    Snapshot,
    // --- transactions ---
    /// `WATCH key [key ...]`: the engine remembers the keys for this
    /// connection's next `EXEC`.
    Watch(Vec<Bytes>),
    /// `UNWATCH` (and `DISCARD` of a connection that watches keys).
    Unwatch,
    /// `EXEC` of a connection's queued commands, built by the connection
    /// (never parsed: `EXEC` itself parses as a connection command).
    Exec(Box<Transaction>),
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
    /// `KEYS pattern`.
    Keys(Bytes),
    /// `RENAME key newkey` and `RENAMENX` (`only_new`).
    Rename {
        /// `[key, newkey]`.
        keys: [Bytes; 2],
        only_new: bool,
    },
    /// `COPY source destination [DB 0] [REPLACE]`.
    Copy {
        /// `[source, destination]`.
        keys: [Bytes; 2],
        replace: bool,
    },
    /// `TOUCH key [key ...]`.
    Touch(Vec<Bytes>),
    RandomKey,
    /// `EXPIRETIME key` and `PEXPIRETIME key` (`millis`).
    ExpireTime {
        key: Bytes,
        millis: bool,
    },
    /// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`.
    Object {
        query: ObjectQuery,
        key: Bytes,
    },
    /// `OBJECT HELP`.
    ObjectHelp,
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
    /// `MGET key [key ...]`.
    MGet(Vec<Bytes>),
    /// `MSET` and `MSETNX` (`only_new`): `keys[i]` gets `values[i]`.
    MSet {
        keys: Vec<Bytes>,
        values: Vec<Bytes>,
        only_new: bool,
    },
    /// `SETNX key value`.
    SetNx {
        key: Bytes,
        value: Bytes,
    },
    /// `SETEX key seconds value` and `PSETEX key ms value`.
    SetEx {
        key: Bytes,
        value: Bytes,
        deadline: Deadline,
    },
    GetDel(Bytes),
    /// `GETEX key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]`.
    GetEx {
        key: Bytes,
        expiry: GetExExpiry,
    },
    Append {
        key: Bytes,
        value: Bytes,
    },
    Strlen(Bytes),
    SetRange {
        key: Bytes,
        offset: u64,
        value: Bytes,
    },
    GetRange {
        key: Bytes,
        start: i64,
        end: i64,
    },
    IncrByFloat {
        key: Bytes,
        delta: f64,
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
    /// `timeout_ms` is relative, rounded up to whole milliseconds as Redis
    /// does, below 2^63; 0 = wait forever. The engine turns it into an
    /// absolute deadline against its own clock.
    BzPop {
        keys: Vec<Bytes>,
        max: bool,
        timeout_ms: u64,
    },
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
    ZLexCount {
        key: Bytes,
        range: Box<LexRange>,
    },
    ZRemRangeByLex {
        key: Bytes,
        range: Box<LexRange>,
    },
    ZMScore {
        key: Bytes,
        members: Vec<Bytes>,
    },
    /// `ZRANDMEMBER key [count [WITHSCORES]]`.
    ZRandMember {
        key: Bytes,
        count: Option<i64>,
        with_scores: bool,
    },
    /// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`.
    ZRangeStore(Box<ZRangeStore>),
    /// `ZUNION`, `ZINTER`, `ZDIFF` and their `STORE` forms.
    ZCombine(Box<ZCombine>),
    /// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`; limit 0 = none.
    ZInterCard {
        keys: Vec<Bytes>,
        limit: u64,
        /// An error in the options, replied after the inputs' types are
        /// checked, as Redis orders them.
        options_error: Option<Box<ServerError>>,
    },
    /// `ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]`.
    ZMPop {
        keys: Vec<Bytes>,
        max: bool,
        count: u64,
    },
    /// `BZMPOP timeout numkeys key [key ...] MIN | MAX [COUNT count]`:
    /// ZMPOP, or wait (`timeout_ms` as in [`Request::BzPop`]).
    BzMPop {
        keys: Vec<Bytes>,
        max: bool,
        count: u64,
        timeout_ms: u64,
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
    // --- lists ---
    /// `LPUSH`, `RPUSH`, and with `existing_only` `LPUSHX`, `RPUSHX`.
    ListPush {
        key: Bytes,
        left: bool,
        existing_only: bool,
        items: ListItems,
    },
    /// `LPOP key [count]`, `RPOP key [count]`.
    ListPop {
        key: Bytes,
        left: bool,
        count: Option<u64>,
    },
    LLen(Bytes),
    LRange {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    LIndex {
        key: Bytes,
        index: i64,
    },
    LSet {
        key: Bytes,
        index: i64,
        item: Bytes,
    },
    LRem {
        key: Bytes,
        count: i64,
        item: Bytes,
    },
    LTrim {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    LPos {
        key: Bytes,
        item: Bytes,
        options: LPosOptions,
    },
    /// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`: `keys` is
    /// `[source, destination]`.
    LMove {
        keys: [Bytes; 2],
        from_left: bool,
        to_left: bool,
    },
    /// `BLPOP` and `BRPOP`: pop from the first non-empty key, or wait
    /// (`timeout_ms` as in [`Request::BzPop`]).
    BListPop {
        keys: Vec<Bytes>,
        left: bool,
        timeout_ms: u64,
    },
    /// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: LMOVE, or
    /// wait for the source (`timeout_ms` as in [`Request::BzPop`]).
    BlMove {
        keys: [Bytes; 2],
        from_left: bool,
        to_left: bool,
        timeout_ms: u64,
    },
    // --- hashes ---
    /// `HSET key field value`: one pair, kept in place.
    HSet {
        key: Bytes,
        field: Bytes,
        value: Bytes,
    },
    /// `HSET` with more pairs, and `HMSET` (`legacy`: replies OK).
    HSetMany {
        key: Bytes,
        /// field, value, field, value...
        pairs: Vec<Bytes>,
        legacy: bool,
    },
    HSetNx {
        key: Bytes,
        field: Bytes,
        value: Bytes,
    },
    HGet {
        key: Bytes,
        field: Bytes,
    },
    HMGet {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HGetAll(Bytes),
    HDel {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HExists {
        key: Bytes,
        field: Bytes,
    },
    HLen(Bytes),
    HKeys(Bytes),
    HVals(Bytes),
    HIncrBy {
        key: Bytes,
        field: Bytes,
        delta: i64,
    },
    HIncrByFloat {
        key: Bytes,
        field: Bytes,
        delta: f64,
    },
    HStrLen {
        key: Bytes,
        field: Bytes,
    },
    HScan {
        key: Bytes,
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
    },
    HRandField {
        key: Bytes,
        /// `None`: one field, as a bulk string (nil when missing).
        count: Option<i64>,
        with_values: bool,
    },
    // --- sets ---
    SAdd {
        key: Bytes,
        members: SetMembers,
    },
    SRem {
        key: Bytes,
        members: SetMembers,
    },
    SIsMember {
        key: Bytes,
        member: Bytes,
    },
    SMIsMember {
        key: Bytes,
        members: Vec<Bytes>,
    },
    SCard(Bytes),
    SMembers(Bytes),
    /// `SPOP key [count]`.
    SPop {
        key: Bytes,
        count: Option<u64>,
    },
    /// `SRANDMEMBER key [count]`; a negative count allows repeats.
    SRandMember {
        key: Bytes,
        count: Option<i64>,
    },
    SScan {
        key: Bytes,
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
    },
    /// `SMOVE source destination member`: `keys` is `[source, destination]`.
    SMove {
        keys: [Bytes; 2],
        member: Bytes,
    },
    /// `SINTER`, `SUNION`, `SDIFF`.
    SCombine {
        op: SetOp,
        keys: Vec<Bytes>,
    },
    /// `SINTERSTORE`, `SUNIONSTORE`, `SDIFFSTORE`: `keys[0]` is the
    /// destination.
    SCombineStore {
        op: SetOp,
        keys: Vec<Bytes>,
    },
    /// `SINTERCARD numkeys key [key ...] [LIMIT limit]`; 0 = no limit.
    SInterCard {
        keys: Vec<Bytes>,
        limit: u64,
    },
}

impl Request {
    /// Whether the connection answers this request itself (no engine hop).
    pub fn is_connection_level(&self) -> bool {
        matches!(self, Request::Connection(_))
    }

    /// The command-table row of this request (`None` for connection-level
    /// commands). Commands that share a variant (INCR and DECRBY, ZRANGE
    /// and ZREVRANGEBYSCORE...) share their flags too, so any one of them
    /// stands for the variant.
    pub fn command(&self) -> Option<Cmd> {
        Some(match self {
            Request::Connection(_) => return None,
            Request::Info(_) => Cmd::Info,
            Request::DbSize => Cmd::Dbsize,
            Request::FlushAll => Cmd::Flushall,
            Request::Snapshot => Cmd::Snapshot,
            Request::Watch(_) => Cmd::Watch,
            Request::Unwatch => Cmd::Unwatch,
            Request::Exec(_) => Cmd::Exec,
            Request::Del(_) => Cmd::Del,
            Request::Exists(_) => Cmd::Exists,
            Request::Type(_) => Cmd::Type,
            Request::Expire { .. } => Cmd::Expire,
            Request::Ttl(_) => Cmd::Ttl,
            Request::Pttl(_) => Cmd::Pttl,
            Request::Persist(_) => Cmd::Persist,
            Request::Scan { .. } => Cmd::Scan,
            Request::Keys(_) => Cmd::Keys,
            Request::Rename {
                only_new: false, ..
            } => Cmd::Rename,
            Request::Rename { only_new: true, .. } => Cmd::Renamenx,
            Request::Copy { .. } => Cmd::Copy,
            Request::Touch(_) => Cmd::Touch,
            Request::RandomKey => Cmd::Randomkey,
            Request::ExpireTime { millis: false, .. } => Cmd::Expiretime,
            Request::ExpireTime { millis: true, .. } => Cmd::Pexpiretime,
            Request::Object { .. } | Request::ObjectHelp => Cmd::Object,
            Request::MGet(_) => Cmd::Mget,
            Request::MSet {
                only_new: false, ..
            } => Cmd::Mset,
            Request::MSet { only_new: true, .. } => Cmd::Msetnx,
            Request::SetNx { .. } => Cmd::Setnx,
            Request::SetEx { .. } => Cmd::Setex,
            Request::GetDel(_) => Cmd::Getdel,
            Request::GetEx { .. } => Cmd::Getex,
            Request::Append { .. } => Cmd::Append,
            Request::Strlen(_) => Cmd::Strlen,
            Request::SetRange { .. } => Cmd::Setrange,
            Request::GetRange { .. } => Cmd::Getrange,
            Request::IncrByFloat { .. } => Cmd::Incrbyfloat,
            Request::Get(_) => Cmd::Get,
            Request::Set { .. } => Cmd::Set,
            Request::IncrBy { .. } => Cmd::Incrby,
            Request::IncrBound { .. } => Cmd::Incrbound,
            Request::SeatCreate { .. } => Cmd::SeatCreate,
            Request::SeatHold { .. } => Cmd::SeatHold,
            Request::SeatConfirm { .. } => Cmd::SeatConfirm,
            Request::SeatRelease { .. } => Cmd::SeatRelease,
            Request::SeatStatus { .. } => Cmd::SeatStatus,
            Request::SeatHolder { .. } => Cmd::SeatHolder,
            Request::SeatInfo(_) => Cmd::SeatInfo,
            Request::StockConfig { .. } => Cmd::StockConfig,
            Request::StockReserve { .. } => Cmd::StockReserve,
            Request::StockConfirm { .. } => Cmd::StockConfirm,
            Request::StockRelease { .. } => Cmd::StockRelease,
            Request::StockTake { .. } => Cmd::StockTake,
            Request::StockRefund { .. } => Cmd::StockRefund,
            Request::StockInfo(_) => Cmd::StockInfo,
            Request::Req { .. } => Cmd::Req,
            Request::ZAdd { .. } => Cmd::Zadd,
            Request::ZIncrBy { .. } => Cmd::Zincrby,
            Request::ZRem { .. } => Cmd::Zrem,
            Request::ZScore { .. } => Cmd::Zscore,
            Request::ZCard(_) => Cmd::Zcard,
            Request::ZCount { .. } => Cmd::Zcount,
            Request::ZRank { .. } => Cmd::Zrank,
            Request::ZRange { .. } => Cmd::Zrange,
            Request::ZPop { .. } => Cmd::Zpopmin,
            Request::BzPop { .. } => Cmd::Bzpopmin,
            Request::ZRemRangeByScore { .. } => Cmd::Zremrangebyscore,
            Request::ZRemRangeByRank { .. } => Cmd::Zremrangebyrank,
            Request::ZLexCount { .. } => Cmd::Zlexcount,
            Request::ZRemRangeByLex { .. } => Cmd::Zremrangebylex,
            Request::ZMScore { .. } => Cmd::Zmscore,
            Request::ZRandMember { .. } => Cmd::Zrandmember,
            Request::ZRangeStore(_) => Cmd::Zrangestore,
            Request::ZCombine(combine) => combine.command(),
            Request::ZInterCard { .. } => Cmd::Zintercard,
            Request::ZMPop { .. } => Cmd::Zmpop,
            Request::BzMPop { .. } => Cmd::Bzmpop,
            Request::QueueConfig { .. } => Cmd::QueueConfig,
            Request::QueueJoin { .. } => Cmd::QueueJoin,
            Request::QueuePos { .. } => Cmd::QueuePos,
            Request::QueueAdmit { .. } => Cmd::QueueAdmit,
            Request::QueueTouch { .. } => Cmd::QueueTouch,
            Request::QueueLeave { .. } => Cmd::QueueLeave,
            Request::QueueClose(_) => Cmd::QueueClose,
            Request::QueueDrop(_) => Cmd::QueueDrop,
            Request::QueueInfo(_) => Cmd::QueueInfo,
            Request::ListPush {
                left,
                existing_only,
                ..
            } => match (left, existing_only) {
                (true, false) => Cmd::Lpush,
                (false, false) => Cmd::Rpush,
                (true, true) => Cmd::Lpushx,
                (false, true) => Cmd::Rpushx,
            },
            Request::ListPop { .. } => Cmd::Lpop,
            Request::LLen(_) => Cmd::Llen,
            Request::LRange { .. } => Cmd::Lrange,
            Request::LIndex { .. } => Cmd::Lindex,
            Request::LSet { .. } => Cmd::Lset,
            Request::LRem { .. } => Cmd::Lrem,
            Request::LTrim { .. } => Cmd::Ltrim,
            Request::LPos { .. } => Cmd::Lpos,
            Request::LMove { .. } => Cmd::Lmove,
            Request::BListPop { .. } => Cmd::Blpop,
            Request::BlMove { .. } => Cmd::Blmove,
            Request::HSet { .. } => Cmd::Hset,
            Request::HSetMany { legacy: false, .. } => Cmd::Hset,
            Request::HSetMany { legacy: true, .. } => Cmd::Hmset,
            Request::HSetNx { .. } => Cmd::Hsetnx,
            Request::HGet { .. } => Cmd::Hget,
            Request::HMGet { .. } => Cmd::Hmget,
            Request::HGetAll(_) => Cmd::Hgetall,
            Request::HDel { .. } => Cmd::Hdel,
            Request::HExists { .. } => Cmd::Hexists,
            Request::HLen(_) => Cmd::Hlen,
            Request::HKeys(_) => Cmd::Hkeys,
            Request::HVals(_) => Cmd::Hvals,
            Request::HIncrBy { .. } => Cmd::Hincrby,
            Request::HIncrByFloat { .. } => Cmd::Hincrbyfloat,
            Request::HStrLen { .. } => Cmd::Hstrlen,
            Request::HScan { .. } => Cmd::Hscan,
            Request::HRandField { .. } => Cmd::Hrandfield,
            Request::SAdd { .. } => Cmd::Sadd,
            Request::SRem { .. } => Cmd::Srem,
            Request::SIsMember { .. } => Cmd::Sismember,
            Request::SMIsMember { .. } => Cmd::Smismember,
            Request::SCard(_) => Cmd::Scard,
            Request::SMembers(_) => Cmd::Smembers,
            Request::SPop { .. } => Cmd::Spop,
            Request::SRandMember { .. } => Cmd::Srandmember,
            Request::SScan { .. } => Cmd::Sscan,
            Request::SMove { .. } => Cmd::Smove,
            Request::SCombine { op, .. } => match op {
                SetOp::Inter => Cmd::Sinter,
                SetOp::Union => Cmd::Sunion,
                SetOp::Diff => Cmd::Sdiff,
            },
            Request::SCombineStore { op, .. } => match op {
                SetOp::Inter => Cmd::Sinterstore,
                SetOp::Union => Cmd::Sunionstore,
                SetOp::Diff => Cmd::Sdiffstore,
            },
            Request::SInterCard { .. } => Cmd::Sintercard,
        })
    }

    /// The keys the request names; used to enforce `key_bytes_max`.
    pub fn keys(&self) -> &[Bytes] {
        match self {
            Request::Del(keys)
            | Request::Exists(keys)
            | Request::Watch(keys)
            | Request::BzPop { keys, .. }
            | Request::BListPop { keys, .. }
            | Request::SCombine { keys, .. }
            | Request::SCombineStore { keys, .. }
            | Request::SInterCard { keys, .. }
            | Request::Touch(keys)
            | Request::MGet(keys)
            | Request::MSet { keys, .. } => keys,
            Request::Rename { keys, .. } | Request::Copy { keys, .. } => keys,
            Request::SMove { keys, .. } => keys,
            Request::LMove { keys, .. } | Request::BlMove { keys, .. } => keys,
            Request::ZInterCard { keys, .. }
            | Request::ZMPop { keys, .. }
            | Request::BzMPop { keys, .. } => keys,
            Request::ZRangeStore(store) => &store.keys,
            Request::ZCombine(combine) => &combine.keys,
            Request::Type(key)
            | Request::Ttl(key)
            | Request::Pttl(key)
            | Request::Persist(key)
            | Request::Get(key)
            | Request::Expire { key, .. }
            | Request::Set { key, .. }
            | Request::IncrBy { key, .. }
            | Request::IncrBound { key, .. }
            | Request::ExpireTime { key, .. }
            | Request::Object { key, .. }
            | Request::SetNx { key, .. }
            | Request::SetEx { key, .. }
            | Request::GetDel(key)
            | Request::GetEx { key, .. }
            | Request::Append { key, .. }
            | Request::Strlen(key)
            | Request::SetRange { key, .. }
            | Request::GetRange { key, .. }
            | Request::IncrByFloat { key, .. }
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
            | Request::ZLexCount { key, .. }
            | Request::ZRemRangeByLex { key, .. }
            | Request::ZMScore { key, .. }
            | Request::ZRandMember { key, .. }
            | Request::QueueConfig { key, .. }
            | Request::QueueJoin { key, .. }
            | Request::QueuePos { key, .. }
            | Request::QueueAdmit { key, .. }
            | Request::QueueTouch { key, .. }
            | Request::QueueLeave { key, .. }
            | Request::QueueClose(key)
            | Request::QueueDrop(key)
            | Request::QueueInfo(key)
            | Request::ListPush { key, .. }
            | Request::ListPop { key, .. }
            | Request::LLen(key)
            | Request::LRange { key, .. }
            | Request::LIndex { key, .. }
            | Request::LSet { key, .. }
            | Request::LRem { key, .. }
            | Request::LTrim { key, .. }
            | Request::LPos { key, .. } => std::slice::from_ref(key),
            Request::HSet { key, .. }
            | Request::HSetMany { key, .. }
            | Request::HSetNx { key, .. }
            | Request::HGet { key, .. }
            | Request::HMGet { key, .. }
            | Request::HGetAll(key)
            | Request::HDel { key, .. }
            | Request::HExists { key, .. }
            | Request::HLen(key)
            | Request::HKeys(key)
            | Request::HVals(key)
            | Request::HIncrBy { key, .. }
            | Request::HIncrByFloat { key, .. }
            | Request::HStrLen { key, .. }
            | Request::HScan { key, .. }
            | Request::HRandField { key, .. } => std::slice::from_ref(key),
            Request::SAdd { key, .. }
            | Request::SRem { key, .. }
            | Request::SIsMember { key, .. }
            | Request::SMIsMember { key, .. }
            | Request::SCard(key)
            | Request::SMembers(key)
            | Request::SPop { key, .. }
            | Request::SRandMember { key, .. }
            | Request::SScan { key, .. } => std::slice::from_ref(key),
            Request::Req { command, .. } => command.keys(),
            _ => &[],
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

/// Parses a decoded argument list and says which command it named (`None`
/// when the name is unknown), for the permission check.
pub fn parse_command(args: &ArgList) -> (Option<Cmd>, Result<Request, ServerError>) {
    match resolve(args, 0) {
        Err(error) => (None, Err(error)),
        Ok(spec) => (Some(spec.id), parse_spec(spec, args, 0)),
    }
}

/// The command that argument `at` of `args` names, if any.
pub fn command_at(args: &ArgList, at: usize) -> Option<Cmd> {
    resolve(args, at).ok().map(|spec| spec.id)
}

/// The table row of the command named by argument `from` of `args`.
fn resolve(
    args: &ArgList,
    from: usize,
) -> Result<&'static crate::commands::CommandSpec, ServerError> {
    let mut buffer = [0u8; 24];
    let Some(first) = args.get(from) else {
        return Err(ServerError::protocol("empty command"));
    };
    let Some(length) = upper_name(first, &mut buffer) else {
        return Err(unknown_command(args, from));
    };
    let upper = &buffer[..length];
    crate::commands::lookup(upper).ok_or_else(|| unknown_command(args, from))
}

/// Parses the command whose name is argument `from` of `args`.
fn parse_from(args: &ArgList, from: usize) -> Result<Request, ServerError> {
    parse_spec(resolve(args, from)?, args, from)
}

/// Checks the arity of the command `spec` at argument `from` and parses its
/// arguments.
fn parse_spec(
    spec: &'static crate::commands::CommandSpec,
    args: &ArgList,
    from: usize,
) -> Result<Request, ServerError> {
    let name = spec.name;
    let given = (args.len() - from) as i64;
    if (spec.arity > 0 && given != spec.arity) || (spec.arity < 0 && given < -spec.arity) {
        return Err(ServerError::wrong_arity(name));
    }
    let mut a = Args {
        name,
        list: args,
        next: from + 1,
    };
    route(spec.id, &mut a)
}

/// Hands a command's arguments to its family's parser.
fn route(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    match id {
        Cmd::Ping
        | Cmd::Echo
        | Cmd::Time
        | Cmd::Hello
        | Cmd::Select
        | Cmd::Client
        | Cmd::Command
        | Cmd::Config
        | Cmd::Quit
        | Cmd::Auth
        | Cmd::Acl => connection::parse(id, a).map(Request::Connection),
        Cmd::Multi | Cmd::Exec | Cmd::Discard | Cmd::Watch | Cmd::Unwatch => {
            transaction::parse(id, a)
        }
        Cmd::Info | Cmd::Dbsize | Cmd::Snapshot | Cmd::Flushall => server::parse(id, a),
        Cmd::Del
        | Cmd::Unlink
        | Cmd::Exists
        | Cmd::Type
        | Cmd::Expire
        | Cmd::Pexpire
        | Cmd::Expireat
        | Cmd::Pexpireat
        | Cmd::Ttl
        | Cmd::Pttl
        | Cmd::Persist
        | Cmd::Scan
        | Cmd::Keys
        | Cmd::Rename
        | Cmd::Renamenx
        | Cmd::Copy
        | Cmd::Touch
        | Cmd::Randomkey
        | Cmd::Expiretime
        | Cmd::Pexpiretime
        | Cmd::Flushdb
        | Cmd::Object => keys::parse(id, a),
        Cmd::Get
        | Cmd::Set
        | Cmd::Incr
        | Cmd::Decr
        | Cmd::Incrby
        | Cmd::Decrby
        | Cmd::Incrbound
        | Cmd::Mget
        | Cmd::Mset
        | Cmd::Msetnx
        | Cmd::Setnx
        | Cmd::Setex
        | Cmd::Psetex
        | Cmd::Getset
        | Cmd::Getdel
        | Cmd::Getex
        | Cmd::Append
        | Cmd::Strlen
        | Cmd::Setrange
        | Cmd::Getrange
        | Cmd::Incrbyfloat => strings::parse(id, a),
        Cmd::SeatCreate
        | Cmd::SeatHold
        | Cmd::SeatConfirm
        | Cmd::SeatRelease
        | Cmd::SeatStatus
        | Cmd::SeatHolder
        | Cmd::SeatInfo => seats::parse(id, a),
        Cmd::StockConfig
        | Cmd::StockReserve
        | Cmd::StockConfirm
        | Cmd::StockRelease
        | Cmd::StockTake
        | Cmd::StockRefund
        | Cmd::StockInfo => stock::parse(id, a),
        Cmd::Zadd
        | Cmd::Zincrby
        | Cmd::Zrem
        | Cmd::Zscore
        | Cmd::Zcard
        | Cmd::Zcount
        | Cmd::Zrank
        | Cmd::Zrevrank
        | Cmd::Zrange
        | Cmd::Zrangebyscore
        | Cmd::Zrevrange
        | Cmd::Zrevrangebyscore
        | Cmd::Zpopmin
        | Cmd::Zpopmax
        | Cmd::Bzpopmin
        | Cmd::Bzpopmax
        | Cmd::Zremrangebyscore
        | Cmd::Zremrangebyrank
        | Cmd::Zrangebylex
        | Cmd::Zrevrangebylex
        | Cmd::Zlexcount
        | Cmd::Zremrangebylex
        | Cmd::Zmscore
        | Cmd::Zrandmember
        | Cmd::Zrangestore
        | Cmd::Zunion
        | Cmd::Zinter
        | Cmd::Zdiff
        | Cmd::Zunionstore
        | Cmd::Zinterstore
        | Cmd::Zdiffstore
        | Cmd::Zintercard
        | Cmd::Zmpop
        | Cmd::Bzmpop => zset::parse(id, a),
        Cmd::QueueConfig
        | Cmd::QueueJoin
        | Cmd::QueuePos
        | Cmd::QueueAdmit
        | Cmd::QueueTouch
        | Cmd::QueueLeave
        | Cmd::QueueClose
        | Cmd::QueueDrop
        | Cmd::QueueInfo => queue::parse(id, a),
        Cmd::Lpush
        | Cmd::Rpush
        | Cmd::Lpushx
        | Cmd::Rpushx
        | Cmd::Lpop
        | Cmd::Rpop
        | Cmd::Llen
        | Cmd::Lrange
        | Cmd::Lindex
        | Cmd::Lset
        | Cmd::Lrem
        | Cmd::Ltrim
        | Cmd::Lpos
        | Cmd::Lmove
        | Cmd::Blpop
        | Cmd::Brpop
        | Cmd::Blmove => list::parse(id, a),
        Cmd::Hset
        | Cmd::Hsetnx
        | Cmd::Hget
        | Cmd::Hmget
        | Cmd::Hgetall
        | Cmd::Hdel
        | Cmd::Hexists
        | Cmd::Hlen
        | Cmd::Hkeys
        | Cmd::Hvals
        | Cmd::Hincrby
        | Cmd::Hincrbyfloat
        | Cmd::Hstrlen
        | Cmd::Hscan
        | Cmd::Hrandfield
        | Cmd::Hmset => hash::parse(id, a),
        Cmd::Sadd
        | Cmd::Srem
        | Cmd::Sismember
        | Cmd::Smismember
        | Cmd::Scard
        | Cmd::Smembers
        | Cmd::Spop
        | Cmd::Srandmember
        | Cmd::Sscan
        | Cmd::Smove
        | Cmd::Sinter
        | Cmd::Sunion
        | Cmd::Sdiff
        | Cmd::Sinterstore
        | Cmd::Sunionstore
        | Cmd::Sdiffstore
        | Cmd::Sintercard => set::parse(id, a),
        // Parsed before routing: it wraps a whole command, not arguments.
        Cmd::Req => idempotency::parse_req(a.list, a.next - 1),
    }
}
