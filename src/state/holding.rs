//! Running a command on a value whose holders have deadlines (seat maps,
//! stock): due holds are released first, so replies never depend on when
//! the timer last ran, and the value's next deadline is registered in the
//! [`HoldIndex`](super::holders::HoldIndex) after.

use usher_protocol::{Reply, ServerError};

use super::keyspace::Recorder;
use super::store::State;
use super::value::Value;

/// A value whose holders have deadlines (seat maps, stock): what
/// [`with_holds`] needs to release due holds and keep the [`HoldIndex`]
/// in step.
pub trait HoldValue {
    /// The value at a key, if it is of this type.
    fn of(value: &mut Value) -> Option<&mut Self>;
    /// Releases up to `budget` holds due at `now_ms`.
    fn expire_due(&mut self, now_ms: u64, budget: usize, log: &mut Recorder<'_>) -> usize;
    fn next_deadline(&self) -> Option<u64>;
    /// The deadline this value is registered under in the hold index.
    fn indexed_ms(&mut self) -> &mut Option<u64>;
}

/// Runs `op` on the value at `key` after releasing its due holds, then
/// re-registers its next deadline in the hold index. `missing` is the error
/// for a key that does not exist.
pub fn with_holds<T: HoldValue>(
    state: &mut State,
    key: &[u8],
    now_ms: u64,
    missing: ServerError,
    op: impl FnOnce(&mut T, &mut Recorder<'_>) -> Reply,
) -> Reply {
    let Some((entry, mut log)) = state.keyspace.get_live_recorded(key, now_ms) else {
        return Reply::Error(missing);
    };
    let Some(value) = T::of(&mut entry.value) else {
        return Reply::Error(ServerError::WRONG_TYPE);
    };
    value.expire_due(now_ms, usize::MAX, &mut log);
    assert!(
        value.next_deadline().is_none_or(|due| due > now_ms),
        "a due hold survived its release"
    );
    let reply = op(value, &mut log);
    let next = value.next_deadline();
    state.holds.sync(log.key(), value.indexed_ms(), next);
    reply
}
