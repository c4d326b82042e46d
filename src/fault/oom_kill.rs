//! `oom-kill`: a real cgroup OOM. The worker's live memory limit is lowered to
//! its current use plus some headroom (memory and memory+swap: cgroup v1), then
//! the worker is told to grow its memory; the kernel's OOM killer ends it.
//! Witness: the `oom` event, then `die` with exit code 137 and `OOMKilled: true`.
//!
//! On Kubernetes the limit is the one the pod was created with
//! (`stack.worker.memory_limit`: a running pod's limit cannot change before
//! 1.33), and the worker is told to grow. Witness: the container restarted,
//! its `lastState.terminated.reason` `OOMKilled`.

use std::time::Duration;

use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::{InspectContainerOptions, StatsOptions};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{BoxFuture, Fault, Injection, Kind, Runtimes};
use super::revert::{Revert, Scope};
use super::{gpu, pod_witness, Ctx, FaultEffect, FaultError};
use crate::stack::{ByteSize, Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "oom-kill",
    about: "Lower the worker's live memory limit and make it grow until the kernel's \
            OOM killer ends it. Witness: `oom` event, `OOMKilled: true`, exit 137.",
    schema: OomKill::json_schema,
    runtimes: Runtimes::DockerOnly(
        "it lowers the container's memory limit, a cgroup that Docker manages",
    ),
    kubernetes: true,
    disruptive: true,
    reverts: &[&MEMORY],
};

/// What a heal undoes of an OOM kill: the memory limit it lowered.
pub static MEMORY: Revert = Revert {
    what: "restores the memory limit",
    order: 4,
    scope: Scope::EachRole {
        docker: restore_memory,
        process: None,
    },
};

/// `kind: oom-kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OomKill {
    /// The worker.
    pub target: Role,
    /// Headroom above the worker's current memory use given as the new limit (default `64MiB`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub headroom: Option<ByteSize>,
}

impl Fault for OomKill {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        super::require_worker_target("oom-kill", self.target)
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, self.headroom))
    }

    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_kubernetes(ctx, self.target))
    }
}

/// Tells the worker to grow past the limit its pod was created with; the
/// kubelet's account of the container is the witness.
async fn on_kubernetes(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let k8s = super::kubernetes_run(ctx.stack)?;
    let Some(limit) = ctx.stack.spec().worker.memory_limit else {
        return Ok(ctx.unavailable(
            "oom-kill",
            target,
            "on Kubernetes the worker's pod needs a memory limit from its creation: \
             set stack.worker.memory_limit"
                .into(),
        ));
    };
    let before = pod_witness::running_pod(k8s, "oom-kill", target).await?;
    let requested = ctx.clock.now_ms();
    let request = contract::FaultRequest {
        kind: contract::FaultKind::HostMemoryGrow,
        xid: None,
        duration_ms: None,
    };
    let report = gpu::post_fault(ctx, target, &request).await?;
    let mut evidence = serde_json::Map::new();
    evidence.insert("limit_bytes".into(), json!(limit.0));
    evidence.insert("worker_report".into(), json!(report));
    let restart = pod_witness::await_restart(ctx, k8s, target, &before, &mut evidence).await?;
    match restart {
        Some(r) if r.pod.last_terminated.as_ref().is_some_and(|t| t.1 == "OOMKilled") => {
            let witness = format!(
                "restartCount {} -> {}, lastState.terminated reason OOMKilled (limit {limit})",
                before.restart_count, r.pod.restart_count
            );
            Ok(ctx.witnessed("oom-kill", target, requested, r.seen_at_ms, witness, evidence.into()))
        }
        _ => Ok(ctx.unwitnessed("oom-kill", target, requested, evidence.into())),
    }
}

/// Headroom above current use when the scenario gives none.
pub const DEFAULT_HEADROOM: ByteSize = ByteSize(64 << 20);

async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    headroom: Option<ByteSize>,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let docker = stack.docker();
    let name = stack.container(target).name.clone();
    let inspect = docker
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| FaultError::docker(format!("inspect {target}"), e))?;
    let host_config = inspect.host_config.unwrap_or_default();
    let original = (
        host_config.memory.unwrap_or(0),
        host_config.memory_swap.unwrap_or(0),
    );
    let usage = memory_usage(ctx, &name).await?;
    let limit = usage + headroom.unwrap_or(DEFAULT_HEADROOM).0;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    docker
        .update_container(
            &name,
            ContainerUpdateBody {
                memory: Some(limit as i64),
                memory_swap: Some(limit as i64),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            FaultError::docker(
                format!("lower the memory limit of {target} to {}", ByteSize(limit)),
                e,
            )
        })?;
    stack
        .fault_ledger()
        .memory
        .entry(target)
        .or_insert(original);
    let request = contract::FaultRequest {
        kind: contract::FaultKind::HostMemoryGrow,
        xid: None,
        duration_ms: None,
    };
    let report = gpu::post_fault(ctx, target, &request).await?;
    let events = stack.events();
    let oom = events
        .wait_for_action(from, target, "oom", ctx.deadline)
        .await;
    let die = events
        .wait_for_action(
            from,
            target,
            "die",
            Duration::from_secs(5).min(ctx.deadline),
        )
        .await;
    let status = stack.state(target).await?;
    let exit_code = die
        .as_ref()
        .and_then(|d| d.attr("exitCode"))
        .map(str::to_string);
    let evidence = json!({
        "usage_before_bytes": usage,
        "limit_bytes": limit,
        "worker_report": report,
        "oom_event": oom.is_some(),
        "die_event": die.is_some(),
        "exit_code": exit_code,
        "oom_killed": status.oom_killed,
        "state": status.to_string(),
    });
    match oom {
        Some(oom) if status.oom_killed && exit_code.as_deref() == Some("137") => Ok(ctx.witnessed(
            "oom-kill",
            target,
            requested,
            oom.at_ms,
            format!(
                "oom event; OOMKilled true, exit code 137 (limit {})",
                ByteSize(limit)
            ),
            evidence,
        )),
        _ => Ok(ctx.unwitnessed("oom-kill", target, requested, evidence)),
    }
}

async fn memory_usage(ctx: &Ctx<'_>, name: &str) -> Result<u64, FaultError> {
    let mut stats = Box::pin(ctx.stack.docker().stats(
        name,
        Some(StatsOptions {
            stream: false,
            one_shot: true,
        }),
    ));
    let sample = stats
        .next()
        .await
        .ok_or_else(|| FaultError::Invalid {
            kind: "oom-kill".into(),
            reason: "the engine returned no memory statistics".into(),
        })?
        .map_err(|e| FaultError::docker(format!("read the memory use of {name}"), e))?;
    sample
        .memory_stats
        .and_then(|m| m.usage)
        .ok_or_else(|| FaultError::Invalid {
            kind: "oom-kill".into(),
            reason:
                "the engine reports no memory use for the container (is the memory cgroup enabled?)"
                    .into(),
        })
}

/// Gives a worker back the memory limit the ledger says an OOM kill lowered.
fn restore_memory(stack: &Stack, role: Role) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        let Some((memory, swap)) = stack.fault_ledger().memory.get(&role).copied() else {
            return Ok(None);
        };
        let name = stack.container(role).name.clone();
        let done;
        if memory > 0 {
            stack
                .docker()
                .update_container(
                    &name,
                    ContainerUpdateBody {
                        memory: Some(memory),
                        memory_swap: Some(swap),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| {
                    FaultError::docker(format!("restore the memory limit of {role}"), e)
                })?;
            done = format!("restored the memory limit of {role}");
        } else {
            // cgroup v1 cannot be set back to "unlimited" on a live container: give it the host's memory.
            let host = host_memory_bytes().unwrap_or(i64::MAX / 2);
            stack
                .docker()
                .update_container(
                    &name,
                    ContainerUpdateBody {
                        memory_swap: Some(-1),
                        memory: Some(host),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| FaultError::docker(format!("lift the memory limit of {role}"), e))?;
            done = format!("lifted the memory limit of {role} to the host's memory");
        }
        stack.fault_ledger().memory.remove(&role);
        Ok(Some(done))
    })
}

fn host_memory_bytes() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
