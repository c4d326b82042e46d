//! `node-loss`: the node the target's pod runs on is lost, as when a machine
//! of a cluster dies: its kubelet stops (SIGSTOP, so it neither reports to the
//! API nor restarts anything) and every container on the node is killed at
//! once through the node's engine (pod sandboxes too, so the pods' addresses
//! stop answering). Witness: the target's container dead by its engine's
//! account, then the cluster's own view: the Node's `Ready` condition no
//! longer `True` (`Unknown`, "Kubelet stopped posting node status", after the
//! controller manager's `--node-monitor-grace-period`; 5 s on the test bed).
//! A `heal` brings the node back: its kubelet resumes, reports again and
//! restarts the pods' containers, and each worker must then find its place
//! (the job is the standby's: fencing).
//!
//! Only a node the harness can stop: one of the test bed's
//! (`scripts/k8s-testbed.sh`, [`testbed_node`]), with its engine named in
//! `stack.kubernetes.node_engine`, and not the node of the other worker too
//! (losing both workers is no failover). Otherwise the step is not made, with
//! why, and the iteration is inconclusive.

use std::time::Duration;

use bollard::query_parameters::{KillContainerOptions, ListContainersOptions};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{pod_witness, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::kubernetes::nodes::testbed_node;
use crate::stack::kubernetes::KubeRun;
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "node-loss",
    about: "Lose the node the target worker's pod runs on (Kubernetes test bed): its kubelet \
            stopped and every container on it killed at once through its engine. Witness: the \
            target's container dead, then the Node's Ready condition Unknown. A heal resumes \
            the kubelet.",
    schema: NodeLoss::json_schema,
    runtimes: Runtimes::KubernetesOnly("it stops a Kubernetes node"),
    kubernetes: true,
    disruptive: true,
    reverts: &[],
};

/// `kind: node-loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeLoss {
    /// The worker (`primary` or `standby`) whose node is lost.
    pub target: Role,
}

impl Fault for NodeLoss {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        super::require_worker_target("node-loss", self.target)
            .map_err(|why| format!("{why}: it drills a worker's failover to the other node"))
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.hosts.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, _ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            Err(FaultError::NeedsKubernetes {
                kind: KIND.name.into(),
                reason: "it stops a Kubernetes node".into(),
            })
        })
    }

    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target))
    }
}

/// How often the Node and the container are read while the witness is awaited.
const POLL: Duration = Duration::from_millis(100);

async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let k8s = super::kubernetes_run(ctx.stack)?;
    let pod = pod_witness::running_pod(k8s, KIND.name, target).await?;
    let not_made = |why: String| Ok(ctx.unavailable(KIND.name, target, why));
    let Some(node) = pod.node.clone() else {
        return not_made(format!("the {target}'s pod {} has no node", pod.name));
    };
    let other = if target == Role::Primary {
        Role::Standby
    } else {
        Role::Primary
    };
    let other_node = k8s
        .pod(other)
        .await?
        .and_then(|p| crate::stack::kubernetes::PodState::of(&p).node);
    if other_node.as_deref() == Some(node.as_str()) {
        return not_made(format!(
            "the {target} and the {other} both run on node {node}: losing it loses both \
             workers, which no failover survives; this cluster has one node, or the scheduler \
             put them together"
        ));
    }
    let Some((endpoint, engine)) = k8s.node_engine(Some(&node)) else {
        return not_made(format!(
            "no engine is known for node {node} (stack.kubernetes.node_engine): the harness \
             cannot kill what runs there"
        ));
    };
    let bed = match testbed_node(endpoint, &node) {
        Ok(bed) => bed,
        Err(why) => return not_made(why),
    };
    let also_there = roles_on(k8s, &node, target).await?;

    let requested = ctx.clock.now_ms();
    k8s.lost_nodes().stop(&bed).map_err(|detail| FaultError::Invalid {
        kind: KIND.name.into(),
        reason: detail,
    })?;
    let killed = kill_everything(engine).await?;
    let container = pod.container_id.clone().unwrap_or_default();
    let mut evidence = serde_json::Map::new();
    evidence.insert("node".into(), json!(node));
    evidence.insert("kubelet_pid".into(), json!(bed.kubelet_pid));
    evidence.insert("containers_killed".into(), json!(killed));
    evidence.insert("pod".into(), json!(pod.name));
    evidence.insert("container".into(), json!(container));
    evidence.insert(
        "also_on_the_node".into(),
        json!(also_there.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
    );
    let until = tokio::time::Instant::now() + ctx.deadline;
    let Some((dead_at, exit_code)) = container_dead(ctx, engine, &container, until).await else {
        return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence.into()));
    };
    evidence.insert("container_dead_at_ms".into(), json!(dead_at));
    evidence.insert("exit_code".into(), json!(exit_code));
    let nodes: Api<Node> = Api::all(k8s.client().clone());
    let Some((unready_at, status, reason)) = node_unready(ctx, &nodes, &node, until).await else {
        evidence.insert("node_ready_after_deadline".into(), json!(true));
        return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence.into()));
    };
    evidence.insert("node_unready_at_ms".into(), json!(unready_at));
    evidence.insert("ready_status".into(), json!(status));
    evidence.insert("ready_reason".into(), json!(reason));
    let witness = format!(
        "node {node} lost: kubelet stopped, {killed} containers killed (the {target}'s exit \
         {exit_code}); the cluster marked it Ready={status} ({reason}) {:.1} s later",
        (unready_at - requested) / 1000.0
    );
    Ok(ctx.witnessed(
        KIND.name,
        target,
        requested,
        dead_at,
        witness,
        evidence.into(),
    ))
}

/// The roles other than `target` whose pods run on `node`.
async fn roles_on(k8s: &KubeRun, node: &str, target: Role) -> Result<Vec<Role>, FaultError> {
    let mut on = Vec::new();
    for role in Role::ALL.into_iter().filter(|r| *r != target) {
        let there = k8s
            .pod(role)
            .await?
            .and_then(|p| crate::stack::kubernetes::PodState::of(&p).node);
        if there.as_deref() == Some(node) {
            on.push(role);
        }
    }
    Ok(on)
}

/// SIGKILLs every running container of the node's engine, all at once; how many.
async fn kill_everything(engine: &bollard::Docker) -> Result<usize, FaultError> {
    let running = engine
        .list_containers(Some(ListContainersOptions {
            all: false,
            ..Default::default()
        }))
        .await
        .map_err(|e| FaultError::docker("list the node's containers", e))?;
    let kills = running.into_iter().filter_map(|c| c.id).map(|id| {
        let engine = engine.clone();
        async move {
            engine
                .kill_container(
                    &id,
                    Some(KillContainerOptions {
                        signal: "SIGKILL".into(),
                    }),
                )
                .await
        }
    });
    let results = futures_util::future::join_all(kills).await;
    // One that ended by itself meanwhile is dead all the same.
    Ok(results.len())
}

/// When the engine first reports `container` not running, with its exit code.
async fn container_dead(
    ctx: &Ctx<'_>,
    engine: &bollard::Docker,
    container: &str,
    until: tokio::time::Instant,
) -> Option<(f64, i64)> {
    loop {
        let now = ctx.clock.now_ms();
        if let Ok(c) = engine.inspect_container(container, None).await {
            let state = c.state.unwrap_or_default();
            if state.running != Some(true) {
                return Some((now, state.exit_code.unwrap_or_default()));
            }
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// When the Node's `Ready` condition is first seen other than `True`, with its
/// status and reason.
async fn node_unready(
    ctx: &Ctx<'_>,
    nodes: &Api<Node>,
    node: &str,
    until: tokio::time::Instant,
) -> Option<(f64, String, String)> {
    loop {
        let now = ctx.clock.now_ms();
        if let Ok(n) = nodes.get(node).await {
            let ready = n
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Ready");
            if let Some(c) = ready.filter(|c| c.status != "True") {
                return Some((now, c.status, c.reason.unwrap_or_default()));
            }
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Brings back the lost nodes of `target` (every lost node when `None`): their
/// kubelets resume. Returns what it did, in words.
pub async fn heal(
    stack: &crate::stack::Stack,
    target: Option<Role>,
) -> Result<Vec<String>, FaultError> {
    let k8s = super::kubernetes_run(stack)?;
    let lost = k8s.lost_nodes().names();
    if lost.is_empty() {
        return Ok(Vec::new());
    }
    let nodes: Option<Vec<String>> = match target {
        None => None,
        // The target's node: where its pod was when the node was lost.
        Some(role) => Some(
            k8s.pod(role)
                .await?
                .and_then(|p| crate::stack::kubernetes::PodState::of(&p).node)
                .into_iter()
                .collect(),
        ),
    };
    let resumed = k8s
        .lost_nodes()
        .resume(nodes.as_deref())
        .map_err(|reason| FaultError::Invalid {
            kind: "heal".into(),
            reason,
        })?;
    Ok(resumed
        .into_iter()
        .map(|n| format!("resumed node {n}'s kubelet"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_worker_s_node_is_lost() {
        assert!(NodeLoss {
            target: Role::Primary
        }
        .validate()
        .is_ok());
        let why = NodeLoss {
            target: Role::Frontdoor,
        }
        .validate()
        .unwrap_err();
        assert!(why.contains("worker target"), "{why}");
    }
}
