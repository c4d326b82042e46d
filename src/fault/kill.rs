//! `kill`: a signal to the container's main process (Docker kill; on
//! `runtime: process`, to the local process; on Kubernetes, to the pod's
//! container through the node's engine). Witness: the `die` event for the
//! container or process, with its exit code; on Kubernetes, the container's
//! `restartCount` up and its `lastState.terminated` exit code 128 + the signal.

use bollard::query_parameters::KillContainerOptions;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{pod_witness, process, Ctx, FaultEffect, FaultError};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "kill",
    about: "Send a signal to the container's main process (Docker kill). Witness: `die` event and exit code.",
    schema: Kill::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: true,
    disruptive: true,
    reverts: &[],
};

/// `kind: kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Kill {
    /// The container.
    pub target: Role,
    /// Signal name, `SIGKILL` unless given (`SIGTERM`, `SIGINT`, ...).
    #[serde(default = "default_signal")]
    pub signal: String,
}

fn default_signal() -> String {
    "SIGKILL".to_string()
}

impl Fault for Kill {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        match signal_number(&self.signal) {
            Some(_) => Ok(()),
            None => Err(format!(
                "unknown signal `{}`; use a name like SIGKILL, SIGTERM, SIGINT, SIGQUIT, SIGSEGV",
                self.signal
            )),
        }
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_docker(ctx, self.target, &self.signal))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_process(ctx, self.target, &self.signal))
    }

    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_kubernetes(ctx, self.target, &self.signal))
    }
}

/// The signal to the pod's container, sent by the node's engine (the API has
/// no stable way to signal a container: no ephemeral containers before 1.25,
/// and the images have no `kill` to exec), witnessed by the kubelet's account
/// of the container: restarted, its last run ended by that signal.
async fn on_kubernetes(
    ctx: &Ctx<'_>,
    target: Role,
    signal: &str,
) -> Result<FaultEffect, FaultError> {
    let k8s = super::kubernetes_run(ctx.stack)?;
    let before = pod_witness::running_pod(k8s, "kill", target).await?;
    let Some((_, node)) = k8s.node_engine(before.node.as_deref()) else {
        return Ok(ctx.unavailable(
            "kill",
            target,
            "signalling a pod's container needs the node's engine \
             (stack.kubernetes.node_engine); use `pod-kill` instead"
                .into(),
        ));
    };
    let signo = signal_number(signal).ok_or_else(|| FaultError::Invalid {
        kind: "kill".into(),
        reason: format!("unknown signal `{signal}`"),
    })?;
    let container = before.container_id.clone().unwrap_or_default();
    let requested = ctx.clock.now_ms();
    node.kill_container(
        &container,
        Some(KillContainerOptions {
            signal: signal.to_string(),
        }),
    )
    .await
    .map_err(|e| FaultError::docker(format!("send {signal} to {target}'s container"), e))?;
    let mut evidence = serde_json::Map::new();
    evidence.insert("signal".into(), json!(signal));
    evidence.insert("container".into(), json!(container));
    let restart = pod_witness::await_restart(ctx, k8s, target, &before, &mut evidence).await?;
    match restart {
        Some(r) if r.pod.last_terminated.as_ref().map(|t| t.0) == Some(128 + signo) => {
            let witness = format!(
                "restartCount {} -> {}, lastState.terminated exit code {}",
                before.restart_count,
                r.pod.restart_count,
                128 + signo
            );
            Ok(ctx.witnessed("kill", target, requested, r.seen_at_ms, witness, evidence.into()))
        }
        _ => Ok(ctx.unwitnessed("kill", target, requested, evidence.into())),
    }
}

/// The number of a signal named `SIGKILL` or `KILL` (the ones that make sense to send to a service).
pub fn signal_number(name: &str) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match bare {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "TERM" => 15,
        "STOP" => 19,
        _ => return None,
    })
}

async fn on_docker(ctx: &Ctx<'_>, target: Role, signal: &str) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let events = stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    stack
        .docker_for(target)
        .kill_container(
            &stack.container(target).name,
            Some(KillContainerOptions {
                signal: signal.to_string(),
            }),
        )
        .await
        .map_err(|e| FaultError::docker(format!("send {signal} to {target}"), e))?;
    let facts = [("signal", json!(signal))];
    witness_die(ctx, target, from, requested, &facts, "").await
}

/// SIGKILL (or `signal`) to the local process, witnessed by the supervisor's `die` event.
async fn on_process(ctx: &Ctx<'_>, target: Role, signal: &str) -> Result<FaultEffect, FaultError> {
    let signo = signal_number(signal).ok_or_else(|| FaultError::Invalid {
        kind: "kill".into(),
        reason: format!("unknown signal `{signal}`"),
    })?;
    let sup = process::supervisor(ctx.stack);
    let events = ctx.stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    let pid = sup
        .signal(target, signo)
        .map_err(|detail| FaultError::Process {
            role: target,
            detail,
        })?;
    let facts = [("signal", json!(signal)), ("pid", json!(pid))];
    witness_die(ctx, target, from, requested, &facts, &format!(" (pid {pid})")).await
}

/// Waits for the target's `die` event after event `from`: witnessed with its
/// exit code (`note` follows it in the witness), or unwitnessed with the state
/// the target is in after the deadline. `facts` (the signal, the pid) open the
/// evidence either way.
async fn witness_die(
    ctx: &Ctx<'_>,
    target: Role,
    from: usize,
    requested: f64,
    facts: &[(&str, serde_json::Value)],
    note: &str,
) -> Result<FaultEffect, FaultError> {
    let mut evidence: serde_json::Map<String, serde_json::Value> = facts
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let Some(die) = ctx
        .stack
        .events()
        .wait_for_action(from, target, "die", ctx.deadline)
        .await
    else {
        let state = ctx.stack.state(target).await?;
        evidence.insert("state_after_deadline".into(), state.to_string().into());
        return Ok(ctx.unwitnessed("kill", target, requested, evidence.into()));
    };
    let exit_code = die.attr("exitCode").unwrap_or("?").to_string();
    let witness = format!("die event, exit code {exit_code}{note}");
    evidence.insert("exit_code".into(), exit_code.into());
    evidence.insert("event_unix_nanos".into(), json!(die.unix_nanos));
    Ok(ctx.witnessed("kill", target, requested, die.at_ms, witness, evidence.into()))
}
