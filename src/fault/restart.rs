//! `restart`: Docker restart of the container. Witness: the `restart` event and the state `running`.

use bollard::query_parameters::RestartContainerOptions;
use serde_json::json;

use super::{Ctx, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    stack
        .docker()
        .restart_container(
            &stack.container(target).name,
            Some(RestartContainerOptions {
                t: Some(1),
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| FaultError::docker(format!("restart {target}"), e))?;
    // A restart kills the namespace: rules and qdiscs are gone, the container is not paused.
    {
        let mut ledger = stack.faults.lock().expect("fault ledger poisoned");
        ledger.chains.remove(&target);
        ledger.qdiscs.remove(&target);
        ledger.paused.remove(&target);
    }
    let event = stack
        .events()
        .wait_for_action(from, target, "restart", ctx.deadline)
        .await;
    let state = stack.state(target).await?;
    match event {
        Some(e) if state.status == "running" => Ok(ctx.witnessed(
            "restart",
            target,
            requested,
            e.at_ms,
            "restart event, state running".into(),
            json!({ "state": state.status }),
        )),
        _ => Ok(ctx.unwitnessed(
            "restart",
            target,
            requested,
            json!({ "state": state.to_string(), "event_seen": event.is_some() }),
        )),
    }
}
