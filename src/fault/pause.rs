//! `pause`: the cgroup freezer stops every process of the container (alive,
//! answering nothing); on `runtime: process`, SIGSTOP. Witness: the `pause`
//! event and the state `paused` (on processes, `/proc/PID/stat` state `T`).
//! A heal thaws it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{BoxFuture, Fault, Injection, Kind, Runtimes};
use super::revert::{Revert, Scope};
use super::{process, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::{Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "pause",
    about: "Freeze every process of the container (cgroup freezer). Witness: state `paused` and `pause` event.",
    schema: Pause::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: true,
    reverts: &[&PAUSED],
};

/// What a heal undoes of a pause: it thaws the container (SIGCONT for a process).
pub static PAUSED: Revert = Revert {
    what: "thaws it",
    order: 0,
    scope: Scope::EachRole {
        docker: thaw,
        process: Some(thaw_process),
    },
};

/// `kind: pause`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// The container.
    pub target: Role,
}

impl Fault for Pause {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.paused.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_docker(ctx, self.target, true))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(process::stop_or_continue(ctx, self.target, true))
    }
}

/// `pause` (`freeze`) or `unpause` on Docker: the engine's call, the ledger
/// kept in step, and the witness (the engine's event and the state it leaves).
pub(super) async fn on_docker(
    ctx: &Ctx<'_>,
    target: Role,
    freeze: bool,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    let name = &stack.container(target).name;
    let (action, want_state, done) = if freeze {
        ("pause", "paused", stack.docker_for(target).pause_container(name).await)
    } else {
        ("unpause", "running", stack.docker_for(target).unpause_container(name).await)
    };
    done.map_err(|e| FaultError::docker(format!("{action} {target}"), e))?;
    {
        let mut ledger = stack.fault_ledger();
        if freeze {
            ledger.paused.insert(target);
        } else {
            ledger.paused.remove(&target);
        }
    }
    witness(ctx, target, from, requested, action, want_state).await
}

/// The witness of `pause` and `unpause` on Docker: the engine's event and the state it leaves.
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

/// Unpauses a container the ledger says is paused (if it still is).
fn thaw(stack: &Stack, role: Role) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        if !stack.fault_ledger().paused.contains(&role) {
            return Ok(None);
        }
        let mut done = None;
        if stack.state(role).await?.status == "paused" {
            stack
                .docker_for(role)
                .unpause_container(&stack.container(role).name)
                .await
                .map_err(|e| FaultError::docker(format!("unpause {role}"), e))?;
            done = Some(format!("unpaused {role}"));
        }
        stack.fault_ledger().paused.remove(&role);
        Ok(done)
    })
}

/// Sends SIGCONT to a process the ledger says is stopped.
fn thaw_process(stack: &Stack, role: Role) -> Result<Option<String>, FaultError> {
    let paused = stack.fault_ledger().paused.remove(&role);
    let sup = process::supervisor(stack);
    if paused && sup.signal(role, libc::SIGCONT).is_ok() {
        sup.push_event(role, "unpause", &[]);
        return Ok(Some(format!("continued {role} (SIGCONT)")));
    }
    Ok(None)
}
