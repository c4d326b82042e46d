//! `restart`: Docker restart of the container (on `runtime: process`, the
//! process is spawned anew). Witness: the `restart` event and the state `running`.

use bollard::query_parameters::RestartContainerOptions;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{process, Ctx, FaultEffect, FaultError};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "restart",
    about: "Restart the container (Docker restart). Witness: `restart` event, then running.",
    schema: Restart::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: true,
    reverts: &[],
};

/// `kind: restart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// The container.
    pub target: Role,
}

impl Fault for Restart {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_docker(ctx, self.target))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_process(ctx, self.target))
    }
}

async fn on_docker(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    stack
        .docker_for(target)
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
    stack.fault_ledger().forget_restarted(target);
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

/// Restarts the local process (the supervisor spawns it anew).
async fn on_process(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let sup = process::supervisor(ctx.stack);
    let events = ctx.stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    let old_pid = sup.pid(target);
    let restarter = sup.clone();
    let new_pid = tokio::task::spawn_blocking(move || restarter.restart(target))
        .await
        .map_err(|e| FaultError::Process {
            role: target,
            detail: format!("the restart did not finish: {e}"),
        })??;
    ctx.stack.fault_ledger().paused.remove(&target);
    let event = events
        .wait_for_action(from, target, "restart", ctx.deadline)
        .await;
    let state = ctx.stack.state(target).await?;
    match event {
        Some(e) if state.status == "running" => Ok(ctx.witnessed(
            "restart",
            target,
            requested,
            e.at_ms,
            format!("restart event, new pid {new_pid}, state running"),
            json!({ "old_pid": old_pid, "pid": new_pid, "state": state.status }),
        )),
        _ => Ok(ctx.unwitnessed(
            "restart",
            target,
            requested,
            json!({ "old_pid": old_pid, "pid": new_pid, "state": state.to_string() }),
        )),
    }
}
