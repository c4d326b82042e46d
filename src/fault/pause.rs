//! `pause` / `unpause`: the cgroup freezer stops every process of the container
//! (alive, answering nothing). Witness: the `pause` (`unpause`) event and the state.

use serde_json::json;

use super::{Ctx, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn pause(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    stack
        .docker()
        .pause_container(&stack.container(target).name)
        .await
        .map_err(|e| FaultError::docker(format!("pause {target}"), e))?;
    stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .paused
        .insert(target);
    witness(ctx, target, from, requested, "pause", "paused").await
}

pub(super) async fn unpause(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    stack
        .docker()
        .unpause_container(&stack.container(target).name)
        .await
        .map_err(|e| FaultError::docker(format!("unpause {target}"), e))?;
    stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .paused
        .remove(&target);
    witness(ctx, target, from, requested, "unpause", "running").await
}

async fn witness(
    ctx: &Ctx<'_>,
    target: Role,
    from: usize,
    requested: f64,
    action: &str,
    want_state: &str,
) -> Result<FaultEffect, FaultError> {
    let event = ctx
        .stack
        .events()
        .wait_for_action(from, target, action, ctx.deadline)
        .await;
    let state = ctx.stack.state(target).await?;
    match event {
        Some(e) if state.status == want_state => Ok(ctx.witnessed(
            action,
            target,
            requested,
            e.at_ms,
            format!("{action} event, state {}", state.status),
            json!({ "state": state.status }),
        )),
        _ => Ok(ctx.unwitnessed(
            action,
            target,
            requested,
            json!({ "state": state.status, "event_seen": event.is_some() }),
        )),
    }
}
