//! `REQ id command [args ...]`, and the replay of `REQ` table effects.

use bytes::Bytes;
use usher_protocol::{ErrorCode, Reply, Request, ServerError};

use super::effects::ReqEffect;
use crate::state::effect::ReplayError;
use crate::state::store::State;

/// ```text
/// REQ id command [args ...]
/// ```
/// The command's reply, run at most once per `id` within the window: a
/// repeat returns the remembered reply and changes nothing. Errors:
/// `IdempotencyMismatch` when the id was used for another command, `Limit`
/// when the table is full of live entries (the command does not run).
/// `run` runs the wrapped command (`State::execute`, which this module
/// sits below).
pub fn req(
    state: &mut State,
    id: &Bytes,
    fingerprint: u64,
    command: &Request,
    now_ms: u64,
    run: impl FnOnce(&mut State, &Request) -> Reply,
) -> Reply {
    if let Some(entry) = state
        .idempotency
        .get(id, now_ms, &mut state.keyspace.recorder())
    {
        if entry.fingerprint != fingerprint {
            return Reply::Error(ServerError::new_static(
                ErrorCode::IdempotencyMismatch,
                "ERR this REQ id was already used for a different command within the idempotency window",
            ));
        }
        return entry.reply.clone();
    }
    if matches!(command, Request::Req { .. }) {
        return Reply::Error(ServerError::new_static(
            ErrorCode::Syntax,
            "ERR REQ wraps data commands only, not connection or transaction commands, INFO or another REQ",
        ));
    }
    let limits = state.limits;
    if state.idempotency.len() >= limits.idempotency_entries_max {
        state
            .idempotency
            .expire_due(now_ms, usize::MAX, &mut state.keyspace.recorder());
        if state.idempotency.len() >= limits.idempotency_entries_max {
            return Reply::Error(ServerError::new(
                ErrorCode::Limit,
                format!(
                    "ERR the idempotency table is full ({} live entries, idempotency_entries_max); the command did not run",
                    limits.idempotency_entries_max
                ),
            ));
        }
    }
    let deadline = now_ms.saturating_add(limits.idempotency_window_ms);
    let reply = run(state, command);
    state.idempotency.remember(
        id,
        fingerprint,
        deadline,
        reply.clone(),
        &mut state.keyspace.recorder(),
    );
    reply
}

/// Applies a logged `REQ` effect (see [`State::replay`]). Forgetting an id
/// that is not there is no change (a snapshot did not capture it because
/// it was forgotten while the snapshot ran); remembering one twice is an
/// error.
pub fn replay(state: &mut State, effect: &ReqEffect) -> Result<(), ReplayError> {
    match effect {
        ReqEffect::Remember {
            id,
            fingerprint,
            deadline_ms,
            reply,
        } => {
            if *deadline_ms == 0 || state.idempotency.entries.contains_key(&id[..]) {
                return Err(ReplayError::UnfitReq {
                    id: id.clone(),
                    detail: "remembered twice or without a deadline".into(),
                });
            }
            state
                .idempotency
                .insert(id.clone(), *fingerprint, *deadline_ms, reply.clone());
        }
        // Replay runs with recording off, so this records nothing.
        ReqEffect::Forget { id } => state
            .idempotency
            .forget_expired(id, &mut state.keyspace.recorder()),
    }
    Ok(())
}
