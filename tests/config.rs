//! The defaults of `src/config.rs` against the defaults the libraries keep
//! for themselves: `StateLimits::default()` (used by every `State` built
//! without a config: benches, tests, tools) and the protocol's
//! `Limits::default()`. Each limit is written in both places, so a change to
//! one side alone would make a server run with other limits than the state
//! and codecs are tested with.

use usher::config::Config;
use usher::protocol::Limits;
use usher::state::StateLimits;

/// Compares each named field of a `Config` with the same-named binding
/// taken from a library default, and returns `name: config vs library`
/// for every one that differs.
macro_rules! differences {
    ($config:expr, $($field:ident),+ $(,)?) => {{
        let mut differences: Vec<String> = Vec::new();
        $(
            if $config.$field != $field {
                differences.push(format!(
                    "{}: config {} vs library {}",
                    stringify!($field),
                    $config.$field,
                    $field
                ));
            }
        )+
        differences
    }};
}

#[test]
fn config_defaults_are_the_state_limits_defaults() {
    let config = Config::default();
    // No `..`: a new state limit does not compile here until it is listed,
    // and so compared.
    let StateLimits {
        keys_max,
        scan_count_max,
        hold_ttl_ms_max,
        seats_per_event_max,
        holders_per_key_max,
        holder_bytes_max,
        seat_status_count_max,
        idempotency_window_ms,
        idempotency_entries_max,
        member_bytes_max,
        zset_members_max,
        hash_fields_max,
        set_members_max,
        queue_members_max,
        queue_ttl_ms_max,
        queue_rate_period_ms_max,
        reply_items_max,
        list_items_max,
        keys_reply_max,
        string_bytes_max,
    } = StateLimits::default();
    let differences = differences!(
        config,
        keys_max,
        scan_count_max,
        hold_ttl_ms_max,
        seats_per_event_max,
        holders_per_key_max,
        holder_bytes_max,
        seat_status_count_max,
        idempotency_window_ms,
        idempotency_entries_max,
        member_bytes_max,
        zset_members_max,
        hash_fields_max,
        set_members_max,
        queue_members_max,
        queue_ttl_ms_max,
        queue_rate_period_ms_max,
        reply_items_max,
        list_items_max,
        keys_reply_max,
        string_bytes_max,
    );
    assert!(differences.is_empty(), "defaults differ: {differences:#?}");
    // And the conversion the server uses carries each one to its own field.
    assert_eq!(config.state_limits(), StateLimits::default());
}

#[test]
fn config_defaults_are_the_decoder_limits_defaults() {
    let config = Config::default();
    let Limits {
        frame_bytes_max,
        args_max,
        inline_bytes_max,
    } = Limits::default();
    let differences = differences!(config, frame_bytes_max, args_max, inline_bytes_max);
    assert!(differences.is_empty(), "defaults differ: {differences:#?}");
    assert_eq!(config.decoder_limits(), Limits::default());
}
