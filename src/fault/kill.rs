//! `kill`: a signal to the container's main process. Witness: the engine's
//! `die` event for the container, with its exit code.

use bollard::query_parameters::KillContainerOptions;
use serde_json::json;

use super::{Ctx, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    signal: &str,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let events = stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    stack
        .docker()
        .kill_container(
            &stack.container(target).name,
            Some(KillContainerOptions {
                signal: signal.to_string(),
            }),
        )
        .await
        .map_err(|e| FaultError::docker(format!("send {signal} to {target}"), e))?;
    let Some(die) = events
        .wait_for_action(from, target, "die", ctx.deadline)
        .await
    else {
        let status = stack.state(target).await?;
        return Ok(ctx.unwitnessed(
            "kill",
            target,
            requested,
            json!({ "signal": signal, "state_after_deadline": status.to_string() }),
        ));
    };
    let exit_code = die.attr("exitCode").unwrap_or("?").to_string();
    Ok(ctx.witnessed(
        "kill",
        target,
        requested,
        die.at_ms,
        format!("die event, exit code {exit_code}"),
        json!({ "signal": signal, "exit_code": exit_code, "event_unix_nanos": die.unix_nanos }),
    ))
}
