//! The command table: name, arity, flags, syntax and a one-line summary for
//! every command. The parser looks names up here, `COMMAND` answers from it
//! and `usher-cli help` prints it, so the three never disagree.

/// One row of the table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Upper-case name.
    pub name: &'static str,
    /// Redis-style arity counting the name: `n` exact, `-n` at least n.
    pub arity: i64,
    /// Redis `COMMAND` flags (`write`, `readonly`, `fast`...).
    pub flags: &'static [&'static str],
    /// Family, as in `help @group`.
    pub group: &'static str,
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

macro_rules! row {
    ($name:literal, $arity:expr, $flags:expr, $group:literal, $first:expr, $last:expr, $syntax:literal, $summary:literal) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            group: $group,
            syntax: $syntax,
            summary: $summary,
            first_key: $first,
            last_key: $last,
        }
    };
}

/// Every command the server knows, grouped by family.
pub const COMMANDS: &[CommandSpec] = &[
    row!("PING", -1, C, "connection", 0, 0, "[message]", "Replies PONG, or the message."),
    row!("ECHO", 2, C, "connection", 0, 0, "message", "Replies the message."),
    row!("TIME", 1, C, "connection", 0, 0, "", "Server time as [unix seconds, microseconds]."),
    row!("HELLO", -1, C, "connection", 0, 0, "[protover [AUTH user pass] [SETNAME name]]", "Switches RESP version (2 or 3) and replies server facts."),
    row!("SELECT", 2, C, "connection", 0, 0, "index", "Only database 0 exists; SELECT 0 is accepted."),
    row!("CLIENT", -2, C, "connection", 0, 0, "SETNAME name | GETNAME | ID | SETINFO attr value", "Names and identifies this connection."),
    row!("COMMAND", -1, C, "connection", 0, 0, "[COUNT | INFO name... | DOCS name...]", "Describes the commands (for redis-cli and client libraries)."),
    row!("CONFIG", -2, C, "connection", 0, 0, "GET parameter...", "Reads configuration values as name/value pairs."),
    row!("QUIT", 1, C, "connection", 0, 0, "", "Replies OK and closes the connection."),
    row!("INFO", -1, &["stale", "loading"], "server", 0, 0, "[section...]", "Server, clients, stats, keyspace and memory facts as text."),
    row!("DBSIZE", 1, R, "server", 0, 0, "", "Number of keys."),
    row!("SNAPSHOT", 1, &["admin"], "server", 0, 0, "", "Starts writing a snapshot of the whole state in the background; the log before it is then dropped."),
    row!("FLUSHALL", -1, &["write"], "server", 0, 0, "[ASYNC | SYNC]", "Deletes every key."),
    row!("DEL", -2, W, "keys", 1, -1, "key [key ...]", "Deletes keys; replies how many existed."),
    row!("EXISTS", -2, R, "keys", 1, -1, "key [key ...]", "How many of the keys exist (repeats count again)."),
    row!("TYPE", 2, R, "keys", 1, 1, "key", "The key's type: string, zset, queue, or none."),
    row!("EXPIRE", -3, W, "keys", 1, 1, "key seconds [NX | XX | GT | LT]", "Sets a time to live in seconds; 1 if set, 0 if not."),
    row!("PEXPIRE", -3, W, "keys", 1, 1, "key milliseconds [NX | XX | GT | LT]", "Sets a time to live in milliseconds; 1 if set, 0 if not."),
    row!("EXPIREAT", -3, W, "keys", 1, 1, "key unix-seconds [NX | XX | GT | LT]", "Sets an absolute expiry in Unix seconds; 1 if set, 0 if not."),
    row!("PEXPIREAT", -3, W, "keys", 1, 1, "key unix-milliseconds [NX | XX | GT | LT]", "Sets an absolute expiry in Unix milliseconds; 1 if set, 0 if not."),
    row!("TTL", 2, R, "keys", 1, 1, "key", "Seconds to live; -1 without expiry, -2 if missing."),
    row!("PTTL", 2, R, "keys", 1, 1, "key", "Milliseconds to live; -1 without expiry, -2 if missing."),
    row!("PERSIST", 2, W, "keys", 1, 1, "key", "Removes the expiry; 1 if there was one."),
    row!("SCAN", -2, &["readonly"], "keys", 0, 0, "cursor [MATCH pattern] [COUNT n] [TYPE type]", "Iterates keys; replies [next cursor, [keys]]; cursor 0 ends."),
    row!("GET", 2, R, "strings", 1, 1, "key", "The string value, or nil."),
    row!("SET", -3, WM, "strings", 1, 1, "key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]", "Stores a string; OK, nil when NX/XX fails, or the old value with GET."),
    row!("INCR", 2, WM, "strings", 1, 1, "key", "Adds 1; replies the new value."),
    row!("DECR", 2, WM, "strings", 1, 1, "key", "Subtracts 1; replies the new value."),
    row!("INCRBY", 3, WM, "strings", 1, 1, "key delta", "Adds delta; replies the new value."),
    row!("DECRBY", 3, WM, "strings", 1, 1, "key delta", "Subtracts delta; replies the new value."),
    row!("INCRBOUND", -3, WM, "strings", 1, 1, "key delta [MIN floor] [MAX cap]", "Adds delta only if the result stays within [floor, cap]: [new value, 1], else [current value, 0] and nothing changes."),
    row!("SEAT.CREATE", -3, WM, "seats", 1, 1, "event count [LIMIT k]", "Creates a seat map of seats 0..count-1; k = most seats one holder may hold or buy (default 3)."),
    row!("SEAT.HOLD", -5, WM, "seats", 1, 1, "event holder ttl_ms seat [seat ...]", "Holds all the seats or none: [held, ttl_ms, [seats held]] | [taken, [seats]] | [limit, held and bought]."),
    row!("SEAT.CONFIRM", 3, W, "seats", 1, 1, "event holder", "Sells every seat the holder holds: [sold, [seats]]; an error if it holds none."),
    row!("SEAT.RELEASE", -3, W, "seats", 1, 1, "event holder [seat ...]", "Releases the named held seats (all when none named); replies how many."),
    row!("SEAT.STATUS", 4, R, "seats", 1, 1, "event from count", "One integer per seat from `from`: 0 free, 1 held, 2 sold."),
    row!("SEAT.HOLDER", 3, R, "seats", 1, 1, "event holder", "[held, ttl_ms, [seats]] | [sold, [seats]] | [none]."),
    row!("SEAT.INFO", 2, R, "seats", 1, 1, "event", "total, free, held, sold, limit and holders of an event."),
    row!("STOCK.CONFIG", -3, WM, "stock", 1, 1, "sku total [LIMIT k]", "Creates stock or changes its total (never below held + sold); k = most units per holder."),
    row!("STOCK.RESERVE", 5, WM, "stock", 1, 1, "sku holder qty ttl_ms", "Reserves units: [held, holder held, available] | [soldout, available] | [limit, holder held and bought]."),
    row!("STOCK.CONFIRM", 3, W, "stock", 1, 1, "sku holder", "Sells the units the holder reserved; replies how many."),
    row!("STOCK.RELEASE", 3, W, "stock", 1, 1, "sku holder", "Returns the units the holder reserved; replies how many."),
    row!("STOCK.TAKE", 4, WM, "stock", 1, 1, "sku holder qty", "Reserves and sells in one step: [sold, holder bought, available] | [soldout, available] | [limit, n]."),
    row!("STOCK.REFUND", 4, W, "stock", 1, 1, "sku holder qty", "Returns sold units to available, never more than the holder bought; replies how many."),
    row!("STOCK.INFO", 2, R, "stock", 1, 1, "sku", "total, available, held, sold and limit of a SKU."),
    row!("REQ", -3, &["write", "denyoom", "movablekeys"], "idempotency", 0, 0, "id command [args ...]", "Runs the command once per id: a repeat within the idempotency window returns the first reply and changes nothing."),
    row!("ZADD", -4, WM, "zset", 1, 1, "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]", "Adds members or updates their scores; replies how many were added (or changed with CH), or the new score with INCR."),
    row!("ZINCRBY", 4, WM, "zset", 1, 1, "key increment member", "Adds to a member's score (a new member starts at 0); replies the new score."),
    row!("ZREM", -3, W, "zset", 1, 1, "key member [member ...]", "Removes members; replies how many were there."),
    row!("ZSCORE", 3, R, "zset", 1, 1, "key member", "The member's score, or nil."),
    row!("ZCARD", 2, R, "zset", 1, 1, "key", "Number of members."),
    row!("ZCOUNT", 4, R, "zset", 1, 1, "key min max", "Number of members with a score in [min, max]; '(' excludes a bound, -inf/+inf allowed."),
    row!("ZRANK", -3, R, "zset", 1, 1, "key member [WITHSCORE]", "0-based rank by ascending score ([rank, score] WITHSCORE), or nil."),
    row!("ZREVRANK", -3, R, "zset", 1, 1, "key member [WITHSCORE]", "0-based rank by descending score ([rank, score] WITHSCORE), or nil."),
    row!("ZRANGE", -4, &["readonly"], "zset", 1, 1, "key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]", "Members by rank or score range, ascending or REV; scores interleaved WITHSCORES."),
    row!("ZRANGEBYSCORE", -4, &["readonly"], "zset", 1, 1, "key min max [WITHSCORES] [LIMIT offset count]", "Members with a score in [min, max], ascending."),
    row!("ZREVRANGE", -4, &["readonly"], "zset", 1, 1, "key start stop [WITHSCORES]", "Members by rank counted from the highest score."),
    row!("ZREVRANGEBYSCORE", -4, &["readonly"], "zset", 1, 1, "key max min [WITHSCORES] [LIMIT offset count]", "Members with a score in [min, max], descending."),
    row!("ZPOPMIN", -2, W, "zset", 1, 1, "key [count]", "Removes and replies up to count members with the lowest scores, as [member, score, ...]."),
    row!("ZPOPMAX", -2, W, "zset", 1, 1, "key [count]", "Removes and replies up to count members with the highest scores, as [member, score, ...]."),
    row!("ZREMRANGEBYSCORE", 4, W, "zset", 1, 1, "key min max", "Removes members with a score in [min, max]; replies how many."),
    row!("ZREMRANGEBYRANK", 4, W, "zset", 1, 1, "key start stop", "Removes members with a rank in [start, stop]; replies how many."),
    row!("QUEUE.CONFIG", -2, WM, "queue", 1, 1, "queue [CAPACITY n] [RATE n PER ms] [TTL ms]", "Creates a waiting room or changes it live. CAPACITY: most members active at once; RATE: most admitted per period; TTL: lifetime of an admission. 0 switches a setting off; neither CAPACITY nor RATE = admission by QUEUE.ADMIT only."),
    row!("QUEUE.JOIN", 3, WM, "queue", 1, 1, "queue member", "Joins the line: [waiting, position] (1-based), or [active, ttl_ms] if admitted. Joining again changes nothing. Error if the queue is closed or missing."),
    row!("QUEUE.POS", 3, R, "queue", 1, 1, "queue member", "[waiting, position, eta_ms] (eta -1 if unknown), [active, ttl_ms] (-1 = no expiry), or [none]."),
    row!("QUEUE.ADMIT", 3, W, "queue", 1, 1, "queue n", "Admits up to n waiting members, oldest first, within CAPACITY; replies the members admitted."),
    row!("QUEUE.TOUCH", -3, W, "queue", 1, 1, "queue member [TTL ms]", "Restarts an active member's lifetime (queue TTL, or the one given): [active, ttl_ms], or [none] if not active."),
    row!("QUEUE.LEAVE", 3, W, "queue", 1, 1, "queue member", "Removes a waiting or active member: 1 if removed, else 0. A freed slot is refilled at once."),
    row!("QUEUE.CLOSE", 2, W, "queue", 1, 1, "queue", "Drops every waiting member and refuses later joins; replies how many were dropped."),
    row!("QUEUE.DROP", 2, W, "queue", 1, 1, "queue", "Deletes the queue; 1 if it existed."),
    row!("QUEUE.INFO", 2, R, "queue", 1, 1, "queue", "Settings and counters: waiting, active, admitted_total, expired_total, left_total, capacity, rate, ttl_ms, closed..."),
];

/// Finds a command by its upper-case name.
pub fn lookup(upper_name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name.as_bytes() == upper_name)
}

/// Finds a command by name in any case.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(name))
}
