//! The command table: name, arity, flags, ACL categories, syntax and a
//! one-line summary for every command. The parser looks names up here,
//! `COMMAND` and `ACL CAT` answer from it, user permissions are built from
//! its categories, and `usher-cli help` prints it, so they never disagree.

/// Every command, one variant per row of [`COMMANDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Ping,
    Echo,
    Time,
    Hello,
    Select,
    Client,
    Command,
    Config,
    Quit,
    Auth,
    Acl,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Info,
    Dbsize,
    Snapshot,
    Flushall,
    Del,
    Unlink,
    Exists,
    Type,
    Expire,
    Pexpire,
    Expireat,
    Pexpireat,
    Ttl,
    Pttl,
    Persist,
    Scan,
    Keys,
    Rename,
    Renamenx,
    Copy,
    Touch,
    Randomkey,
    Expiretime,
    Pexpiretime,
    Flushdb,
    Object,
    Get,
    Set,
    Incr,
    Decr,
    Incrby,
    Decrby,
    Incrbound,
    Mget,
    Mset,
    Msetnx,
    Setnx,
    Setex,
    Psetex,
    Getset,
    Getdel,
    Getex,
    Append,
    Strlen,
    Setrange,
    Getrange,
    Incrbyfloat,
    SeatCreate,
    SeatHold,
    SeatConfirm,
    SeatRelease,
    SeatStatus,
    SeatHolder,
    SeatInfo,
    StockConfig,
    StockReserve,
    StockConfirm,
    StockRelease,
    StockTake,
    StockRefund,
    StockInfo,
    Req,
    Zadd,
    Zincrby,
    Zrem,
    Zscore,
    Zcard,
    Zcount,
    Zrank,
    Zrevrank,
    Zrange,
    Zrangebyscore,
    Zrevrange,
    Zrevrangebyscore,
    Zpopmin,
    Zpopmax,
    Bzpopmin,
    Bzpopmax,
    Zremrangebyscore,
    Zremrangebyrank,
    Zrangebylex,
    Zrevrangebylex,
    Zlexcount,
    Zremrangebylex,
    Zmscore,
    Zrandmember,
    Zrangestore,
    Zunion,
    Zinter,
    Zdiff,
    Zunionstore,
    Zinterstore,
    Zdiffstore,
    Zintercard,
    Zmpop,
    Bzmpop,
    QueueConfig,
    QueueJoin,
    QueuePos,
    QueueAdmit,
    QueueTouch,
    QueueLeave,
    QueueClose,
    QueueDrop,
    QueueInfo,
    Lpush,
    Rpush,
    Lpushx,
    Rpushx,
    Lpop,
    Rpop,
    Llen,
    Lrange,
    Lindex,
    Lset,
    Lrem,
    Ltrim,
    Lpos,
    Lmove,
    Blpop,
    Brpop,
    Blmove,
    Hset,
    Hsetnx,
    Hget,
    Hmget,
    Hgetall,
    Hdel,
    Hexists,
    Hlen,
    Hkeys,
    Hvals,
    Hincrby,
    Hincrbyfloat,
    Hstrlen,
    Hscan,
    Hrandfield,
    Hmset,
    Sadd,
    Srem,
    Sismember,
    Smismember,
    Scard,
    Smembers,
    Spop,
    Srandmember,
    Sscan,
    Smove,
    Sinter,
    Sunion,
    Sdiff,
    Sinterstore,
    Sunionstore,
    Sdiffstore,
    Sintercard,
}

/// One row of the table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Which command, for the parser to dispatch on without comparing names.
    pub id: Cmd,
    /// Upper-case name.
    pub name: &'static str,
    /// Redis-style arity counting the name: `n` exact, `-n` at least n.
    pub arity: i64,
    /// Redis `COMMAND` flags (`write`, `readonly`, `fast`...).
    pub flags: &'static [&'static str],
    /// Family, as in `help @group`.
    pub group: &'static str,
    /// ACL categories (`@read`, `@sale`...): a union of [`category`] bits.
    pub categories: u32,
    /// Syntax after the name.
    pub syntax: &'static str,
    /// What the command does and what it replies.
    pub summary: &'static str,
    /// Position of the first key (1-based), 0 if none; last key (-1 = all).
    pub first_key: i64,
    pub last_key: i64,
}

const W: &[&str] = &["write", "fast"];
const WM: &[&str] = &["write", "denyoom", "fast"];
const R: &[&str] = &["readonly", "fast"];
const C: &[&str] = &["fast", "stale", "loading"];
/// MULTI, DISCARD, WATCH and UNWATCH, flagged as Redis 7.2 flags them.
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
/// Blocking pops, flagged as Redis 7.2 flags them.
const WB: &[&str] = &["write", "blocking", "fast"];
/// Read-only commands whose cost grows with the value (HGETALL, HSCAN...),
/// without Redis's `fast` flag.
const READ_SLOW: &[&str] = &["readonly"];

macro_rules! row {
    ($id:ident, $name:literal, $arity:expr, $flags:expr, $group:literal, $categories:expr, $first:expr, $last:expr, $syntax:literal, $summary:literal) => {
        CommandSpec {
            id: Cmd::$id,
            name: $name,
            arity: $arity,
            flags: $flags,
            group: $group,
            categories: $categories,
            syntax: $syntax,
            summary: $summary,
            first_key: $first,
            last_key: $last,
        }
    };
}

/// ACL categories, one bit each, as Redis names them (without the `@`).
/// `@sale` is every command of a sale's rules: INCRBOUND, QUEUE.*, SEAT.*,
/// STOCK.* and REQ.
pub mod category {
    pub const READ: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const ADMIN: u32 = 1 << 2;
    pub const DANGEROUS: u32 = 1 << 3;
    pub const CONNECTION: u32 = 1 << 4;
    pub const KEYSPACE: u32 = 1 << 5;
    pub const STRING: u32 = 1 << 6;
    pub const SORTEDSET: u32 = 1 << 7;
    pub const QUEUE: u32 = 1 << 8;
    pub const SEAT: u32 = 1 << 9;
    pub const STOCK: u32 = 1 << 10;
    pub const SALE: u32 = 1 << 11;
    pub const FAST: u32 = 1 << 12;
    pub const SLOW: u32 = 1 << 13;
    pub const BLOCKING: u32 = 1 << 14;
    pub const SET: u32 = 1 << 15;
    pub const HASH: u32 = 1 << 16;
    pub const LIST: u32 = 1 << 17;
    pub const TRANSACTION: u32 = 1 << 18;

    /// Every category by name, in `ACL CAT` order.
    pub const ALL: &[(&str, u32)] = &[
        ("read", READ),
        ("write", WRITE),
        ("admin", ADMIN),
        ("dangerous", DANGEROUS),
        ("connection", CONNECTION),
        ("keyspace", KEYSPACE),
        ("string", STRING),
        ("sortedset", SORTEDSET),
        ("queue", QUEUE),
        ("seat", SEAT),
        ("stock", STOCK),
        ("sale", SALE),
        ("fast", FAST),
        ("slow", SLOW),
        ("blocking", BLOCKING),
        ("set", SET),
        ("hash", HASH),
        ("list", LIST),
        ("transaction", TRANSACTION),
    ];

    /// The bit of a category name (without `@`, any case).
    pub fn find(name: &[u8]) -> Option<u32> {
        ALL.iter()
            .find(|(known, _)| known.as_bytes().eq_ignore_ascii_case(name))
            .map(|&(_, bit)| bit)
    }

    /// The names of `bits`, in `ACL CAT` order.
    pub fn names(bits: u32) -> impl Iterator<Item = &'static str> {
        ALL.iter()
            .filter(move |&&(_, bit)| bits & bit != 0)
            .map(|&(name, _)| name)
    }
}

use category::*;

/// Every command the server knows, grouped by family.
pub const COMMANDS: &[CommandSpec] = &[
    row!(Ping, "PING", -1, C, "connection", CONNECTION | FAST, 0, 0, "[message]", "Replies PONG, or the message."),
    row!(Echo, "ECHO", 2, C, "connection", CONNECTION | FAST, 0, 0, "message", "Replies the message."),
    row!(Time, "TIME", 1, C, "connection", FAST, 0, 0, "", "Server time as [unix seconds, microseconds]."),
    row!(Hello, "HELLO", -1, C, "connection", CONNECTION | FAST, 0, 0, "[protover [AUTH user pass] [SETNAME name]]", "Switches RESP version (2 or 3) and replies server facts."),
    row!(Select, "SELECT", 2, C, "connection", CONNECTION | FAST, 0, 0, "index", "Only database 0 exists; SELECT 0 is accepted."),
    row!(Client, "CLIENT", -2, C, "connection", CONNECTION | SLOW, 0, 0, "SETNAME name | GETNAME | ID | SETINFO attr value", "Names and identifies this connection."),
    row!(Command, "COMMAND", -1, C, "connection", CONNECTION | SLOW, 0, 0, "[COUNT | INFO name... | DOCS name...]", "Describes the commands (for redis-cli and client libraries)."),
    row!(Config, "CONFIG", -2, C, "connection", ADMIN | DANGEROUS | SLOW, 0, 0, "GET parameter...", "Reads configuration values as name/value pairs."),
    row!(Quit, "QUIT", 1, C, "connection", CONNECTION | FAST, 0, 0, "", "Replies OK and closes the connection."),
    row!(Auth, "AUTH", -2, &["fast", "no_auth", "stale", "loading"], "connection", CONNECTION | FAST, 0, 0, "[username] password", "Logs the connection in as a user (`default` when no username is given)."),
    row!(Acl, "ACL", -2, &["admin", "stale", "loading"], "connection", ADMIN | DANGEROUS | SLOW, 0, 0, "WHOAMI | LIST | USERS | CAT [category] | SETUSER name [rule ...] | DELUSER name ... | SAVE | LOAD | LOG [count | RESET]", "Users and their permissions, as Redis ACL: who am I, list, change, save to and load from the users file, and the log of refusals."),
    row!(Multi, "MULTI", 1, TX, "transactions", TRANSACTION | FAST, 0, 0, "", "Starts a transaction: later commands are queued (+QUEUED) until EXEC or DISCARD."),
    row!(Exec, "EXEC", 1, &["noscript", "loading", "stale", "skip_slowlog"], "transactions", TRANSACTION | SLOW, 0, 0, "", "Runs the queued commands as one atomic step and replies their replies; nil if a watched key changed, EXECABORT after a queuing error."),
    row!(Discard, "DISCARD", 1, TX, "transactions", TRANSACTION | FAST, 0, 0, "", "Drops the queued commands and unwatches every key."),
    row!(Watch, "WATCH", -2, TX, "transactions", TRANSACTION | FAST, 1, -1, "key [key ...]", "Makes the next EXEC fail (nil) if any of the keys changes first."),
    row!(Unwatch, "UNWATCH", 1, TX, "transactions", TRANSACTION | FAST, 0, 0, "", "Forgets every watched key."),
    row!(Info, "INFO", -1, &["stale", "loading"], "server", DANGEROUS | SLOW, 0, 0, "[section...]", "Server, clients, stats, keyspace and memory facts as text."),
    row!(Dbsize, "DBSIZE", 1, R, "server", READ | KEYSPACE | FAST, 0, 0, "", "Number of keys."),
    row!(Snapshot, "SNAPSHOT", 1, &["admin"], "server", ADMIN | DANGEROUS | SLOW, 0, 0, "", "Starts writing a snapshot of the whole state in the background; the log before it is then dropped."),
    row!(Flushall, "FLUSHALL", -1, &["write"], "server", WRITE | KEYSPACE | DANGEROUS | SLOW, 0, 0, "[ASYNC | SYNC]", "Deletes every key."),
    row!(Del, "DEL", -2, W, "keys", WRITE | KEYSPACE | FAST, 1, -1, "key [key ...]", "Deletes keys; replies how many existed."),
    row!(Unlink, "UNLINK", -2, W, "keys", WRITE | KEYSPACE | FAST, 1, -1, "key [key ...]", "Same as DEL (both free large values off the engine thread)."),
    row!(Exists, "EXISTS", -2, R, "keys", READ | KEYSPACE | FAST, 1, -1, "key [key ...]", "How many of the keys exist (repeats count again)."),
    row!(Type, "TYPE", 2, R, "keys", READ | KEYSPACE | FAST, 1, 1, "key", "The key's type: string, set, hash, list, zset, queue, seats, stock, or none."),
    row!(Expire, "EXPIRE", -3, W, "keys", WRITE | KEYSPACE | FAST, 1, 1, "key seconds [NX | XX | GT | LT]", "Sets a time to live in seconds; 1 if set, 0 if not."),
    row!(Pexpire, "PEXPIRE", -3, W, "keys", WRITE | KEYSPACE | FAST, 1, 1, "key milliseconds [NX | XX | GT | LT]", "Sets a time to live in milliseconds; 1 if set, 0 if not."),
    row!(Expireat, "EXPIREAT", -3, W, "keys", WRITE | KEYSPACE | FAST, 1, 1, "key unix-seconds [NX | XX | GT | LT]", "Sets an absolute expiry in Unix seconds; 1 if set, 0 if not."),
    row!(Pexpireat, "PEXPIREAT", -3, W, "keys", WRITE | KEYSPACE | FAST, 1, 1, "key unix-milliseconds [NX | XX | GT | LT]", "Sets an absolute expiry in Unix milliseconds; 1 if set, 0 if not."),
    row!(Ttl, "TTL", 2, R, "keys", READ | KEYSPACE | FAST, 1, 1, "key", "Seconds to live; -1 without expiry, -2 if missing."),
    row!(Pttl, "PTTL", 2, R, "keys", READ | KEYSPACE | FAST, 1, 1, "key", "Milliseconds to live; -1 without expiry, -2 if missing."),
    row!(Persist, "PERSIST", 2, W, "keys", WRITE | KEYSPACE | FAST, 1, 1, "key", "Removes the expiry; 1 if there was one."),
    row!(Scan, "SCAN", -2, &["readonly"], "keys", READ | KEYSPACE | SLOW, 0, 0, "cursor [MATCH pattern] [COUNT n] [TYPE type]", "Iterates keys; replies [next cursor, [keys]]; cursor 0 ends."),
    row!(Keys, "KEYS", 2, &["readonly"], "keys", READ | KEYSPACE | DANGEROUS | SLOW, 0, 0, "pattern", "Every key matching the glob pattern; an error, and no keys, past keys_reply_max."),
    row!(Rename, "RENAME", 3, &["write"], "keys", WRITE | KEYSPACE | SLOW, 1, 2, "key newkey", "Moves the value and its TTL to newkey, replacing what was there; ERR no such key if key is missing."),
    row!(Renamenx, "RENAMENX", 3, W, "keys", WRITE | KEYSPACE | FAST, 1, 2, "key newkey", "RENAME only if newkey does not exist: 1 if renamed, 0 if not."),
    row!(Copy, "COPY", -3, &["write", "denyoom"], "keys", WRITE | KEYSPACE | SLOW, 1, 2, "source destination [DB 0] [REPLACE]", "Copies the value and its TTL: 1 if copied, 0 if the destination exists (without REPLACE) or the source is missing. Only database 0."),
    row!(Touch, "TOUCH", -2, R, "keys", READ | KEYSPACE | FAST, 1, -1, "key [key ...]", "How many of the keys exist (usher keeps no access times)."),
    row!(Randomkey, "RANDOMKEY", 1, &["readonly"], "keys", READ | KEYSPACE | SLOW, 0, 0, "", "A key drawn from the keyspace, or nil when it is empty."),
    row!(Expiretime, "EXPIRETIME", 2, R, "keys", READ | KEYSPACE | FAST, 1, 1, "key", "Absolute expiry in Unix seconds; -1 without expiry, -2 if missing."),
    row!(Pexpiretime, "PEXPIRETIME", 2, R, "keys", READ | KEYSPACE | FAST, 1, 1, "key", "Absolute expiry in Unix milliseconds; -1 without expiry, -2 if missing."),
    row!(Flushdb, "FLUSHDB", -1, &["write"], "server", WRITE | KEYSPACE | DANGEROUS | SLOW, 0, 0, "[ASYNC | SYNC]", "Deletes every key (the one database: same as FLUSHALL)."),
    row!(Object, "OBJECT", -2, &["readonly"], "keys", READ | KEYSPACE | SLOW, 2, 2, "ENCODING key | FREQ key | IDLETIME key | REFCOUNT key | HELP", "Internals of a key's value: its encoding, access frequency (needs an LFU policy: always an error), idle time (always 0) and reference count (always 1)."),
    row!(Get, "GET", 2, R, "strings", READ | STRING | FAST, 1, 1, "key", "The string value, or nil."),
    row!(Set, "SET", -3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]", "Stores a string; OK, nil when NX/XX fails, or the old value with GET."),
    row!(Incr, "INCR", 2, WM, "strings", WRITE | STRING | FAST, 1, 1, "key", "Adds 1; replies the new value."),
    row!(Decr, "DECR", 2, WM, "strings", WRITE | STRING | FAST, 1, 1, "key", "Subtracts 1; replies the new value."),
    row!(Incrby, "INCRBY", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key delta", "Adds delta; replies the new value."),
    row!(Decrby, "DECRBY", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key delta", "Subtracts delta; replies the new value."),
    row!(Incrbound, "INCRBOUND", -3, WM, "strings", WRITE | STRING | SALE | FAST, 1, 1, "key delta [MIN floor] [MAX cap]", "Adds delta only if the result stays within [floor, cap]: [new value, 1], else [current value, 0] and nothing changes."),
    row!(Mget, "MGET", -2, R, "strings", READ | STRING | FAST, 1, -1, "key [key ...]", "The string value of each key, nil for a missing key or one of another type."),
    row!(Mset, "MSET", -3, &["write", "denyoom"], "strings", WRITE | STRING | SLOW, 1, -1, "key value [key value ...]", "Stores every pair (removing their TTLs); replies OK."),
    row!(Msetnx, "MSETNX", -3, &["write", "denyoom"], "strings", WRITE | STRING | SLOW, 1, -1, "key value [key value ...]", "Stores every pair only if none of the keys exists: 1 if stored, 0 if not."),
    row!(Setnx, "SETNX", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key value", "Stores the string only if the key does not exist: 1 if stored, 0 if not."),
    row!(Setex, "SETEX", 4, &["write", "denyoom"], "strings", WRITE | STRING | SLOW, 1, 1, "key seconds value", "Stores the string with a time to live in seconds; replies OK."),
    row!(Psetex, "PSETEX", 4, &["write", "denyoom"], "strings", WRITE | STRING | SLOW, 1, 1, "key milliseconds value", "Stores the string with a time to live in milliseconds; replies OK."),
    row!(Getset, "GETSET", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key value", "Stores the string (removing the TTL) and replies the old value, or nil."),
    row!(Getdel, "GETDEL", 2, W, "strings", WRITE | STRING | FAST, 1, 1, "key", "The string value, or nil, and deletes the key."),
    row!(Getex, "GETEX", -2, W, "strings", WRITE | STRING | FAST, 1, 1, "key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]", "The string value, or nil, and sets or removes the key's expiry."),
    row!(Append, "APPEND", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key value", "Appends to the string (a missing key counts as empty); replies the new length."),
    row!(Strlen, "STRLEN", 2, R, "strings", READ | STRING | FAST, 1, 1, "key", "Length of the string in bytes; 0 if missing."),
    row!(Setrange, "SETRANGE", 4, &["write", "denyoom"], "strings", WRITE | STRING | SLOW, 1, 1, "key offset value", "Overwrites the string from offset, padding with zero bytes; replies the new length."),
    row!(Getrange, "GETRANGE", 4, &["readonly"], "strings", READ | STRING | SLOW, 1, 1, "key start end", "The substring from start to end, inclusive; negative offsets count from the end."),
    row!(Incrbyfloat, "INCRBYFLOAT", 3, WM, "strings", WRITE | STRING | FAST, 1, 1, "key increment", "Adds a floating-point increment; replies the new value as a string."),
    row!(SeatCreate, "SEAT.CREATE", -3, WM, "seats", WRITE | SEAT | SALE | FAST, 1, 1, "event count [LIMIT k]", "Creates a seat map of seats 0..count-1; k = most seats one holder may hold or buy (default 3)."),
    row!(SeatHold, "SEAT.HOLD", -5, WM, "seats", WRITE | SEAT | SALE | FAST, 1, 1, "event holder ttl_ms seat [seat ...]", "Holds all the seats or none: [held, ttl_ms, [seats held]] | [taken, [seats]] | [limit, held and bought]."),
    row!(SeatConfirm, "SEAT.CONFIRM", 3, W, "seats", WRITE | SEAT | SALE | FAST, 1, 1, "event holder", "Sells every seat the holder holds: [sold, [seats]]; an error if it holds none."),
    row!(SeatRelease, "SEAT.RELEASE", -3, W, "seats", WRITE | SEAT | SALE | FAST, 1, 1, "event holder [seat ...]", "Releases the named held seats (all when none named); replies how many."),
    row!(SeatStatus, "SEAT.STATUS", 4, R, "seats", READ | SEAT | SALE | FAST, 1, 1, "event from count", "One integer per seat from `from`: 0 free, 1 held, 2 sold."),
    row!(SeatHolder, "SEAT.HOLDER", 3, R, "seats", READ | SEAT | SALE | FAST, 1, 1, "event holder", "[held, ttl_ms, [seats]] | [sold, [seats]] | [none]."),
    row!(SeatInfo, "SEAT.INFO", 2, R, "seats", READ | SEAT | SALE | FAST, 1, 1, "event", "total, free, held, sold, limit and holders of an event."),
    row!(StockConfig, "STOCK.CONFIG", -3, WM, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku total [LIMIT k]", "Creates stock or changes its total (never below held + sold); k = most units per holder."),
    row!(StockReserve, "STOCK.RESERVE", 5, WM, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku holder qty ttl_ms", "Reserves units: [held, holder held, available] | [soldout, available] | [limit, holder held and bought]."),
    row!(StockConfirm, "STOCK.CONFIRM", 3, W, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku holder", "Sells the units the holder reserved; replies how many."),
    row!(StockRelease, "STOCK.RELEASE", 3, W, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku holder", "Returns the units the holder reserved; replies how many."),
    row!(StockTake, "STOCK.TAKE", 4, WM, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku holder qty", "Reserves and sells in one step: [sold, holder bought, available] | [soldout, available] | [limit, n]."),
    row!(StockRefund, "STOCK.REFUND", 4, W, "stock", WRITE | STOCK | SALE | FAST, 1, 1, "sku holder qty", "Returns sold units to available, never more than the holder bought; replies how many."),
    row!(StockInfo, "STOCK.INFO", 2, R, "stock", READ | STOCK | SALE | FAST, 1, 1, "sku", "total, available, held, sold and limit of a SKU."),
    row!(Req, "REQ", -3, &["write", "denyoom", "movablekeys"], "idempotency", WRITE | SALE | SLOW, 0, 0, "id command [args ...]", "Runs the command once per id: a repeat within the idempotency window returns the first reply and changes nothing."),
    row!(Zadd, "ZADD", -4, WM, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]", "Adds members or updates their scores; replies how many were added (or changed with CH), or the new score with INCR."),
    row!(Zincrby, "ZINCRBY", 4, WM, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key increment member", "Adds to a member's score (a new member starts at 0); replies the new score."),
    row!(Zrem, "ZREM", -3, W, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key member [member ...]", "Removes members; replies how many were there."),
    row!(Zscore, "ZSCORE", 3, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key member", "The member's score, or nil."),
    row!(Zcard, "ZCARD", 2, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key", "Number of members."),
    row!(Zcount, "ZCOUNT", 4, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key min max", "Number of members with a score in [min, max]; '(' excludes a bound, -inf/+inf allowed."),
    row!(Zrank, "ZRANK", -3, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key member [WITHSCORE]", "0-based rank by ascending score ([rank, score] WITHSCORE), or nil (a nil array WITHSCORE)."),
    row!(Zrevrank, "ZREVRANK", -3, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key member [WITHSCORE]", "0-based rank by descending score ([rank, score] WITHSCORE), or nil (a nil array WITHSCORE)."),
    row!(Zrange, "ZRANGE", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", "Members by rank, score or lex range, ascending or REV; with their scores WITHSCORES."),
    row!(Zrangebyscore, "ZRANGEBYSCORE", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key min max [WITHSCORES] [LIMIT offset count]", "Members with a score in [min, max], ascending."),
    row!(Zrevrange, "ZREVRANGE", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key start stop [WITHSCORES]", "Members by rank counted from the highest score."),
    row!(Zrevrangebyscore, "ZREVRANGEBYSCORE", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key max min [WITHSCORES] [LIMIT offset count]", "Members with a score in [min, max], descending."),
    row!(Zpopmin, "ZPOPMIN", -2, W, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key [count]", "Removes and replies up to count members with the lowest scores, as [member, score, ...]."),
    row!(Zpopmax, "ZPOPMAX", -2, W, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key [count]", "Removes and replies up to count members with the highest scores, as [member, score, ...]."),
    row!(Bzpopmin, "BZPOPMIN", -3, WB, "zset", WRITE | SORTEDSET | BLOCKING | FAST, 1, -2, "key [key ...] timeout", "Pops the lowest-scored member of the first non-empty key as [key, member, score]; waits up to timeout seconds (0 = forever) while all are empty, then nil."),
    row!(Bzpopmax, "BZPOPMAX", -3, WB, "zset", WRITE | SORTEDSET | BLOCKING | FAST, 1, -2, "key [key ...] timeout", "Pops the highest-scored member of the first non-empty key as [key, member, score]; waits up to timeout seconds (0 = forever) while all are empty, then nil."),
    row!(Zremrangebyscore, "ZREMRANGEBYSCORE", 4, W, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key min max", "Removes members with a score in [min, max]; replies how many."),
    row!(Zremrangebyrank, "ZREMRANGEBYRANK", 4, W, "zset", WRITE | SORTEDSET | FAST, 1, 1, "key start stop", "Removes members with a rank in [start, stop]; replies how many."),
    row!(Zrangebylex, "ZRANGEBYLEX", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key min max [LIMIT offset count]", "Members between two member bounds ('[a' inclusive, '(a' exclusive, '-', '+'), ascending; assumes equal scores."),
    row!(Zrevrangebylex, "ZREVRANGEBYLEX", -4, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key max min [LIMIT offset count]", "Members between two member bounds, descending; assumes equal scores."),
    row!(Zlexcount, "ZLEXCOUNT", 4, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key min max", "Number of members between two member bounds; assumes equal scores."),
    row!(Zremrangebylex, "ZREMRANGEBYLEX", 4, &["write"], "zset", WRITE | SORTEDSET | SLOW, 1, 1, "key min max", "Removes the members between two member bounds; replies how many."),
    row!(Zmscore, "ZMSCORE", -3, R, "zset", READ | SORTEDSET | FAST, 1, 1, "key member [member ...]", "The scores of the members, nil for each one absent."),
    row!(Zrandmember, "ZRANDMEMBER", -2, &["readonly"], "zset", READ | SORTEDSET | SLOW, 1, 1, "key [count [WITHSCORES]]", "Random members: one (or nil), up to count distinct ones, or -count with repeats; with their scores WITHSCORES."),
    row!(Zrangestore, "ZRANGESTORE", -5, &["write", "denyoom"], "zset", WRITE | SORTEDSET | SLOW, 1, 2, "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", "Stores a ZRANGE of src at dst (deleting dst when empty); replies its size."),
    row!(Zunion, "ZUNION", -3, &["readonly", "movablekeys"], "zset", READ | SORTEDSET | SLOW, 0, 0, "numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]", "The union of sorted sets, scores weighted and aggregated."),
    row!(Zinter, "ZINTER", -3, &["readonly", "movablekeys"], "zset", READ | SORTEDSET | SLOW, 0, 0, "numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]", "The intersection of sorted sets, scores weighted and aggregated."),
    row!(Zdiff, "ZDIFF", -3, &["readonly", "movablekeys"], "zset", READ | SORTEDSET | SLOW, 0, 0, "numkeys key [key ...] [WITHSCORES]", "The members of the first sorted set in none of the others."),
    row!(Zunionstore, "ZUNIONSTORE", -4, &["write", "denyoom", "movablekeys"], "zset", WRITE | SORTEDSET | SLOW, 1, 1, "destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX]", "Stores the union at destination (deleting it when empty); replies its size."),
    row!(Zinterstore, "ZINTERSTORE", -4, &["write", "denyoom", "movablekeys"], "zset", WRITE | SORTEDSET | SLOW, 1, 1, "destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX]", "Stores the intersection at destination (deleting it when empty); replies its size."),
    row!(Zdiffstore, "ZDIFFSTORE", -4, &["write", "denyoom", "movablekeys"], "zset", WRITE | SORTEDSET | SLOW, 1, 1, "destination numkeys key [key ...]", "Stores the difference at destination (deleting it when empty); replies its size."),
    row!(Zintercard, "ZINTERCARD", -3, &["readonly", "movablekeys"], "zset", READ | SORTEDSET | SLOW, 0, 0, "numkeys key [key ...] [LIMIT limit]", "The size of the intersection, counting up to limit (0 = no limit)."),
    row!(Zmpop, "ZMPOP", -4, &["write", "movablekeys"], "zset", WRITE | SORTEDSET | SLOW, 0, 0, "numkeys key [key ...] MIN | MAX [COUNT count]", "Pops up to count members from the first non-empty key as [key, [[member, score], ...]], or nil."),
    row!(Bzmpop, "BZMPOP", -5, &["write", "blocking", "movablekeys"], "zset", WRITE | SORTEDSET | BLOCKING | SLOW, 0, 0, "timeout numkeys key [key ...] MIN | MAX [COUNT count]", "ZMPOP, waiting up to timeout seconds (0 = forever) while every key is empty, then nil."),
    row!(QueueConfig, "QUEUE.CONFIG", -2, WM, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue [CAPACITY n] [RATE n PER ms] [TTL ms]", "Creates a waiting room or changes it live. CAPACITY: most members active at once; RATE: most admitted per period; TTL: lifetime of an admission. 0 switches a setting off; neither CAPACITY nor RATE = admission by QUEUE.ADMIT only."),
    row!(QueueJoin, "QUEUE.JOIN", 3, WM, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue member", "Joins the line: [waiting, position] (1-based), or [active, ttl_ms] if admitted. Joining again changes nothing. Error if the queue is closed or missing."),
    row!(QueuePos, "QUEUE.POS", 3, R, "queue", READ | QUEUE | SALE | FAST, 1, 1, "queue member", "[waiting, position, eta_ms] (eta -1 if unknown), [active, ttl_ms] (-1 = no expiry), or [none]."),
    row!(QueueAdmit, "QUEUE.ADMIT", 3, W, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue n", "Admits up to n waiting members, oldest first, within CAPACITY; replies the members admitted."),
    row!(QueueTouch, "QUEUE.TOUCH", -3, W, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue member [TTL ms]", "Restarts an active member's lifetime (queue TTL, or the one given): [active, ttl_ms], or [none] if not active."),
    row!(QueueLeave, "QUEUE.LEAVE", 3, W, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue member", "Removes a waiting or active member: 1 if removed, else 0. A freed slot is refilled at once."),
    row!(QueueClose, "QUEUE.CLOSE", 2, W, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue", "Drops every waiting member and refuses later joins; replies how many were dropped."),
    row!(QueueDrop, "QUEUE.DROP", 2, W, "queue", WRITE | QUEUE | SALE | FAST, 1, 1, "queue", "Deletes the queue; 1 if it existed."),
    row!(QueueInfo, "QUEUE.INFO", 2, R, "queue", READ | QUEUE | SALE | FAST, 1, 1, "queue", "Settings and counters: waiting, active, admitted_total, expired_total, left_total, capacity, rate, ttl_ms, closed..."),
    row!(Lpush, "LPUSH", -3, WM, "list", WRITE | LIST | FAST, 1, 1, "key element [element ...]", "Inserts the elements at the head, one after another; replies the list's length."),
    row!(Rpush, "RPUSH", -3, WM, "list", WRITE | LIST | FAST, 1, 1, "key element [element ...]", "Appends the elements at the tail; replies the list's length."),
    row!(Lpushx, "LPUSHX", -3, WM, "list", WRITE | LIST | FAST, 1, 1, "key element [element ...]", "LPUSH only if the list exists; replies its length (0 if missing)."),
    row!(Rpushx, "RPUSHX", -3, WM, "list", WRITE | LIST | FAST, 1, 1, "key element [element ...]", "RPUSH only if the list exists; replies its length (0 if missing)."),
    row!(Lpop, "LPOP", -2, W, "list", WRITE | LIST | FAST, 1, 1, "key [count]", "Removes and replies the first element, or up to count elements as an array."),
    row!(Rpop, "RPOP", -2, W, "list", WRITE | LIST | FAST, 1, 1, "key [count]", "Removes and replies the last element, or up to count elements as an array."),
    row!(Llen, "LLEN", 2, R, "list", READ | LIST | FAST, 1, 1, "key", "The list's length; 0 if missing."),
    row!(Lrange, "LRANGE", 4, &["readonly"], "list", READ | LIST | SLOW, 1, 1, "key start stop", "The elements from start to stop (inclusive; negative counts from the tail)."),
    row!(Lindex, "LINDEX", 3, &["readonly"], "list", READ | LIST | SLOW, 1, 1, "key index", "The element at index (negative counts from the tail), or nil."),
    row!(Lset, "LSET", 4, &["write", "denyoom"], "list", WRITE | LIST | SLOW, 1, 1, "key index element", "Replaces the element at index; an error if the index is out of range."),
    row!(Lrem, "LREM", 4, &["write"], "list", WRITE | LIST | SLOW, 1, 1, "key count element", "Removes count occurrences of element (from the tail if negative, all if 0); replies how many."),
    row!(Ltrim, "LTRIM", 4, &["write"], "list", WRITE | LIST | SLOW, 1, 1, "key start stop", "Keeps only the elements from start to stop."),
    row!(Lpos, "LPOS", -3, &["readonly"], "list", READ | LIST | SLOW, 1, 1, "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", "The index of the matching element (nil if none), or an array of indexes with COUNT."),
    row!(Lmove, "LMOVE", 5, &["write", "denyoom"], "list", WRITE | LIST | SLOW, 1, 2, "source destination LEFT | RIGHT LEFT | RIGHT", "Pops an element from one end of source and pushes it on an end of destination; replies it, or nil."),
    row!(Blpop, "BLPOP", -3, &["write", "blocking"], "list", WRITE | LIST | SLOW | BLOCKING, 1, -2, "key [key ...] timeout", "Pops the first element of the first non-empty list as [key, element]; waits up to timeout seconds (0 = forever) while all are empty, then nil."),
    row!(Brpop, "BRPOP", -3, &["write", "blocking"], "list", WRITE | LIST | SLOW | BLOCKING, 1, -2, "key [key ...] timeout", "Pops the last element of the first non-empty list as [key, element]; waits up to timeout seconds (0 = forever) while all are empty, then nil."),
    row!(Blmove, "BLMOVE", 6, &["write", "denyoom", "blocking"], "list", WRITE | LIST | SLOW | BLOCKING, 1, 2, "source destination LEFT | RIGHT LEFT | RIGHT timeout", "LMOVE, waiting up to timeout seconds (0 = forever) while source is empty, then nil."),
    row!(Hset, "HSET", -4, WM, "hash", WRITE | HASH | FAST, 1, 1, "key field value [field value ...]", "Sets fields to values; replies how many fields were new."),
    row!(Hsetnx, "HSETNX", 4, WM, "hash", WRITE | HASH | FAST, 1, 1, "key field value", "Sets a field only if it is missing; replies 1 if set, else 0."),
    row!(Hget, "HGET", 3, R, "hash", READ | HASH | FAST, 1, 1, "key field", "The field's value, or nil."),
    row!(Hmget, "HMGET", -3, R, "hash", READ | HASH | FAST, 1, 1, "key field [field ...]", "Each field's value, nil where missing."),
    row!(Hgetall, "HGETALL", 2, READ_SLOW, "hash", READ | HASH | SLOW, 1, 1, "key", "Every field and value (a map in RESP3)."),
    row!(Hdel, "HDEL", -3, W, "hash", WRITE | HASH | FAST, 1, 1, "key field [field ...]", "Removes fields; replies how many were there. The last one deletes the key."),
    row!(Hexists, "HEXISTS", 3, R, "hash", READ | HASH | FAST, 1, 1, "key field", "1 if the field exists, else 0."),
    row!(Hlen, "HLEN", 2, R, "hash", READ | HASH | FAST, 1, 1, "key", "The number of fields; 0 when the key is missing."),
    row!(Hkeys, "HKEYS", 2, READ_SLOW, "hash", READ | HASH | SLOW, 1, 1, "key", "Every field."),
    row!(Hvals, "HVALS", 2, READ_SLOW, "hash", READ | HASH | SLOW, 1, 1, "key", "Every value."),
    row!(Hincrby, "HINCRBY", 4, WM, "hash", WRITE | HASH | FAST, 1, 1, "key field increment", "Adds an integer to a field (a missing one starts at 0); replies the new value."),
    row!(Hincrbyfloat, "HINCRBYFLOAT", 4, WM, "hash", WRITE | HASH | FAST, 1, 1, "key field increment", "Adds a float to a field (a missing one starts at 0); replies the new value as a string."),
    row!(Hstrlen, "HSTRLEN", 3, R, "hash", READ | HASH | FAST, 1, 1, "key field", "The length of the field's value; 0 when missing."),
    row!(Hscan, "HSCAN", -3, READ_SLOW, "hash", READ | HASH | SLOW, 1, 1, "key cursor [MATCH pattern] [COUNT count]", "Iterates fields and values: [next cursor, [field, value, ...]]."),
    row!(Hrandfield, "HRANDFIELD", -2, READ_SLOW, "hash", READ | HASH | SLOW, 1, 1, "key [count [WITHVALUES]]", "Random fields (distinct for a positive count, repeats allowed for a negative one), with values on request."),
    row!(Hmset, "HMSET", -4, WM, "hash", WRITE | HASH | FAST, 1, 1, "key field value [field value ...]", "Sets fields to values (deprecated form of HSET); replies OK."),
    row!(Sadd, "SADD", -3, WM, "set", WRITE | SET | FAST, 1, 1, "key member [member ...]", "Adds members to a set; replies how many were new."),
    row!(Srem, "SREM", -3, W, "set", WRITE | SET | FAST, 1, 1, "key member [member ...]", "Removes members; replies how many were there. The last removal deletes the key."),
    row!(Sismember, "SISMEMBER", 3, R, "set", READ | SET | FAST, 1, 1, "key member", "1 if the member is in the set, else 0."),
    row!(Smismember, "SMISMEMBER", -3, R, "set", READ | SET | FAST, 1, 1, "key member [member ...]", "1 or 0 for each member: whether it is in the set."),
    row!(Scard, "SCARD", 2, R, "set", READ | SET | FAST, 1, 1, "key", "Number of members."),
    row!(Smembers, "SMEMBERS", 2, &["readonly"], "set", READ | SET | SLOW, 1, 1, "key", "Every member (a RESP3 set); at most reply_items_max."),
    row!(Spop, "SPOP", -2, W, "set", WRITE | SET | FAST, 1, 1, "key [count]", "Removes and returns a random member, or up to count distinct ones (a RESP3 set)."),
    row!(Srandmember, "SRANDMEMBER", -2, &["readonly"], "set", READ | SET | SLOW, 1, 1, "key [count]", "A random member; with count, up to count distinct ones, or -count with repeats."),
    row!(Sscan, "SSCAN", -3, &["readonly"], "set", READ | SET | SLOW, 1, 1, "key cursor [MATCH pattern] [COUNT n]", "Iterates members; replies [next cursor, [members]]; cursor 0 ends."),
    row!(Smove, "SMOVE", 4, W, "set", WRITE | SET | FAST, 1, 2, "source destination member", "Moves a member from one set to another; 1 if it was moved, else 0."),
    row!(Sinter, "SINTER", -2, &["readonly"], "set", READ | SET | SLOW, 1, -1, "key [key ...]", "The members in every set (a RESP3 set)."),
    row!(Sunion, "SUNION", -2, &["readonly"], "set", READ | SET | SLOW, 1, -1, "key [key ...]", "The members in any of the sets (a RESP3 set)."),
    row!(Sdiff, "SDIFF", -2, &["readonly"], "set", READ | SET | SLOW, 1, -1, "key [key ...]", "The members of the first set in none of the others (a RESP3 set)."),
    row!(Sinterstore, "SINTERSTORE", -3, &["write", "denyoom"], "set", WRITE | SET | SLOW, 1, -1, "destination key [key ...]", "Stores SINTER's result at destination (deleted when empty); replies its size."),
    row!(Sunionstore, "SUNIONSTORE", -3, &["write", "denyoom"], "set", WRITE | SET | SLOW, 1, -1, "destination key [key ...]", "Stores SUNION's result at destination (deleted when empty); replies its size."),
    row!(Sdiffstore, "SDIFFSTORE", -3, &["write", "denyoom"], "set", WRITE | SET | SLOW, 1, -1, "destination key [key ...]", "Stores SDIFF's result at destination (deleted when empty); replies its size."),
    row!(Sintercard, "SINTERCARD", -3, &["readonly", "movablekeys"], "set", READ | SET | SLOW, 0, 0, "numkeys key [key ...] [LIMIT limit]", "The size of the sets' intersection, counting at most LIMIT (0 = no limit)."),
];

// The name index stores rows as `u8`, with `u8::MAX` marking a free slot.
const _: () = assert!(COMMANDS.len() < u8::MAX as usize);

impl CommandSpec {
    /// The step between key positions that `COMMAND` reports: 2 for the
    /// commands that take key-value pairs, else 1 (0 without keys).
    pub fn key_step(&self) -> i64 {
        match self.id {
            _ if self.first_key == 0 => 0,
            Cmd::Mset | Cmd::Msetnx => 2,
            _ => 1,
        }
    }
}

/// Whether a command may grow memory (Redis's `denyoom` flag, read from
/// [`COMMANDS`]): such commands are refused while used memory is over the
/// server's bound; reads and deletes are not. A table lookup, so the
/// server's check costs one branch per request while no bound is set.
#[inline]
pub fn denies_oom(id: Cmd) -> bool {
    DENYOOM[id as usize]
}

/// [`denies_oom`] per command, indexed by [`Cmd`], built from the flags at
/// compile time (an out-of-range `Cmd` would not compile).
const DENYOOM: [bool; COMMANDS.len()] = {
    let mut table = [false; COMMANDS.len()];
    let mut row = 0;
    while row < COMMANDS.len() {
        table[COMMANDS[row].id as usize] = has_flag(COMMANDS[row].flags, "denyoom");
        row += 1;
    }
    table
};

const fn has_flag(flags: &[&str], wanted: &str) -> bool {
    let mut at = 0;
    while at < flags.len() {
        let (flag, wanted) = (flags[at].as_bytes(), wanted.as_bytes());
        if flag.len() == wanted.len() {
            let mut byte = 0;
            while byte < flag.len() && flag[byte] == wanted[byte] {
                byte += 1;
            }
            if byte == flag.len() {
                return true;
            }
        }
        at += 1;
    }
    false
}

/// Slots of the name index: a power of two well above the number of
/// commands, so that probes are short.
const INDEX_SLOTS: usize = 512;
/// Marks a free slot of the name index.
const NO_COMMAND: u8 = u8::MAX;

/// FNV-1a of a name: cheap for names of a few bytes.
fn name_hash(name: &[u8]) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in name {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash as usize
}

/// Open-addressing index from name hash to row of [`COMMANDS`], built once:
/// a lookup hashes the name and compares it with one row (two on a
/// collision) instead of walking the table.
fn index() -> &'static [u8; INDEX_SLOTS] {
    static INDEX: std::sync::OnceLock<[u8; INDEX_SLOTS]> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        assert!(
            COMMANDS.len() < INDEX_SLOTS / 2,
            "the command index is too small"
        );
        let mut slots = [NO_COMMAND; INDEX_SLOTS];
        for (row, spec) in COMMANDS.iter().enumerate() {
            let mut slot = name_hash(spec.name.as_bytes()) % INDEX_SLOTS;
            while slots[slot] != NO_COMMAND {
                slot = (slot + 1) % INDEX_SLOTS;
            }
            slots[slot] = row as u8;
        }
        slots
    })
}

/// The row of a command: the table is in [`Cmd`] order.
#[inline]
pub fn spec(id: Cmd) -> &'static CommandSpec {
    &COMMANDS[id as usize]
}

/// Finds a command by its upper-case name.
pub fn lookup(upper_name: &[u8]) -> Option<&'static CommandSpec> {
    let slots = index();
    let mut slot = name_hash(upper_name) % INDEX_SLOTS;
    loop {
        let spec = COMMANDS.get(usize::from(slots[slot]))?;
        if spec.name.as_bytes() == upper_name {
            return Some(spec);
        }
        slot = (slot + 1) % INDEX_SLOTS;
    }
}

/// Finds a command by name in any case.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_looks_up_its_own_row() {
        for spec in COMMANDS {
            let found = lookup(spec.name.as_bytes()).map(|found| found.name);
            assert_eq!(found, Some(spec.name));
            assert_eq!(
                lookup(spec.name.as_bytes()).map(|found| found.id),
                Some(spec.id)
            );
        }
    }

    #[test]
    fn rows_are_in_cmd_order() {
        for (at, row) in COMMANDS.iter().enumerate() {
            assert_eq!(row.id as usize, at, "{}", row.name);
            assert_eq!(spec(row.id).name, row.name);
        }
    }

    #[test]
    fn sale_commands_are_in_the_sale_category() {
        for row in COMMANDS {
            let sale = row.name.starts_with("QUEUE.")
                || row.name.starts_with("SEAT.")
                || row.name.starts_with("STOCK.")
                || row.name == "INCRBOUND"
                || row.name == "REQ";
            assert_eq!(row.categories & SALE != 0, sale, "{}", row.name);
            assert!(row.categories & (FAST | SLOW) != 0, "{}", row.name);
        }
    }

    #[test]
    fn denyoom_follows_the_flags() {
        for spec in COMMANDS {
            assert_eq!(
                denies_oom(spec.id),
                spec.flags.contains(&"denyoom"),
                "{}",
                spec.name
            );
        }
        assert!(denies_oom(Cmd::Set) && denies_oom(Cmd::Req));
        assert!(!denies_oom(Cmd::Get) && !denies_oom(Cmd::Del) && !denies_oom(Cmd::Flushall));
    }

    #[test]
    fn a_request_names_a_row_with_its_commands_flags() {
        let samples: &[&[&str]] = &[
            &["INCR", "k"],
            &["DECR", "k"],
            &["DECRBY", "k", "2"],
            &["UNLINK", "k"],
            &["PEXPIREAT", "k", "1"],
            &["ZREVRANGEBYSCORE", "k", "1", "0"],
            &["ZREVRANK", "k", "m"],
            &["ZPOPMAX", "k"],
            &["BZPOPMAX", "k", "0"],
            &["REQ", "id", "GET", "k"],
            &["SET", "k", "v"],
            &["GETSET", "k", "v"],
            &["PSETEX", "k", "1", "v"],
            &["MSETNX", "k", "v"],
            &["RENAMENX", "k", "j"],
            &["PEXPIRETIME", "k"],
            &["FLUSHDB"],
            &["OBJECT", "HELP"],
            &["TOUCH", "k"],
        ];
        for words in samples {
            let args: Vec<crate::Arg> = words
                .iter()
                .map(|w| crate::Arg::Bytes(bytes::Bytes::copy_from_slice(w.as_bytes())))
                .collect();
            let request = crate::request::parse(&args).expect("parses");
            let row = request.command().expect("not connection-level");
            let named = find(words[0]).expect("known");
            let spec = COMMANDS.iter().find(|spec| spec.id == row).expect("a row");
            assert_eq!(spec.flags, named.flags, "{words:?}");
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in COMMANDS.iter().enumerate() {
            for b in &COMMANDS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.id, b.id, "{} and {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn unknown_names_are_not_found() {
        for name in [
            &b""[..],
            b"G",
            b"GE",
            b"GETT",
            b"get",
            b"SEAT.",
            b"QUEUE.POSX",
            b"ZREVRANGEBYSCOREZ",
            &[0xff; 24],
        ] {
            assert!(lookup(name).is_none(), "{name:?}");
        }
        // Every prefix and one-byte change of every name misses too.
        for spec in COMMANDS {
            let name = spec.name.as_bytes();
            for cut in 0..name.len() {
                let found = lookup(&name[..cut]).map(|found| found.name);
                assert!(found.is_none() || found == Some(&spec.name[..cut]));
            }
            let mut changed = name.to_vec();
            changed[0] ^= 0x20;
            assert!(lookup(&changed).is_none(), "{changed:?}");
        }
    }
}
