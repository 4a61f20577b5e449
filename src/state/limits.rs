//! [`StateLimits`]: the limits `State` enforces itself (the rest are
//! enforced before a request reaches the engine), with units in the names.

/// Limits that `State` enforces itself (the rest are enforced before a
/// request reaches the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Most keys the keyspace may hold; writes that would add a key beyond it
    /// get an `OOM` error.
    pub keys_max: usize,
    /// Most entries one SCAN call visits, whatever COUNT says.
    pub scan_count_max: usize,
    /// Longest seat hold or stock reservation, in milliseconds.
    pub hold_ttl_ms_max: u64,
    /// Most seats in one event (at most 2³¹ − 1).
    pub seats_per_event_max: u64,
    /// Most holders one SKU may have at once (an event's are bounded by its
    /// seats).
    pub holders_per_key_max: usize,
    /// Longest holder id in bytes (at most 255).
    pub holder_bytes_max: usize,
    /// Most seats one SEAT.STATUS call reports.
    pub seat_status_count_max: u64,
    /// How long a `REQ` reply is remembered, in milliseconds.
    pub idempotency_window_ms: u64,
    /// Most remembered `REQ` replies.
    pub idempotency_entries_max: usize,
    /// Longest sorted-set or queue member in bytes.
    pub member_bytes_max: usize,
    /// Most members in one sorted set.
    pub zset_members_max: usize,
    /// Most fields in one hash.
    pub hash_fields_max: usize,
    /// Most members in one set.
    pub set_members_max: usize,
    /// Most members (waiting + active) in one queue.
    pub queue_members_max: usize,
    /// Longest admission lifetime a queue may give, in ms.
    pub queue_ttl_ms_max: u64,
    /// Longest RATE period in ms.
    pub queue_rate_period_ms_max: u64,
    /// Most members one range, pop or QUEUE.ADMIT reply may hold.
    pub reply_items_max: usize,
    /// Most items in one list.
    pub list_items_max: usize,
    /// Most keys one KEYS reply may hold.
    pub keys_reply_max: usize,
    /// Longest string APPEND and SETRANGE may make, in bytes (Redis's
    /// `proto-max-bulk-len`).
    pub string_bytes_max: usize,
}

impl Default for StateLimits {
    fn default() -> StateLimits {
        StateLimits {
            keys_max: 50_000_000,
            scan_count_max: 100_000,
            hold_ttl_ms_max: 86_400_000,
            seats_per_event_max: 10_000_000,
            holders_per_key_max: 10_000_000,
            holder_bytes_max: 128,
            seat_status_count_max: 100_000,
            idempotency_window_ms: 600_000,
            idempotency_entries_max: 1_000_000,
            member_bytes_max: 1024,
            zset_members_max: 50_000_000,
            hash_fields_max: 50_000_000,
            set_members_max: 50_000_000,
            queue_members_max: 50_000_000,
            queue_ttl_ms_max: 30 * 24 * 3_600_000,
            queue_rate_period_ms_max: 24 * 3_600_000,
            reply_items_max: 1_000_000,
            list_items_max: 50_000_000,
            keys_reply_max: 1_000_000,
            string_bytes_max: 512 * 1024 * 1024,
        }
    }
}
