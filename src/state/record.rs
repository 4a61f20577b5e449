//! [`Log`]: how a family's structure records what it did while it changes
//! itself, without knowing the keyspace or the effect log. The keyspace's
//! `Recorder` is the one implementation; the structures name only their
//! own effect type, so they sit below the keyspace and the [`Effect`]
//! enum that holds their values.
//!
//! [`Effect`]: super::effect::Effect

use super::key::Key;

/// Records effects of type `E` on one key.
pub trait Log<E> {
    /// Records `effect(key)` if recording is on; builds nothing otherwise.
    fn record(&mut self, effect: impl FnOnce(Key) -> E);
}
