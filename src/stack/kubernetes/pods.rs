//! Reading the stack's pods: a role's current pod, its address, and its
//! container's state as the faults' witnesses and the readiness waits need it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::objects;
use crate::stack::docker::ContainerStatus;
use crate::stack::{Role, StackError};

/// What the harness reads of a pod.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodState {
    /// The pod's name.
    pub name: String,
    /// Its UID (a replacement pod has a new one).
    pub uid: String,
    /// Its address, once it has one.
    pub ip: Option<String>,
    /// `Pending`, `Running`, ...
    pub phase: String,
    /// Times its container was restarted.
    pub restart_count: i32,
    /// Whether the container runs now.
    pub running: bool,
    /// How the container's previous run ended: exit code and reason
    /// (`Error`, `OOMKilled`, ...).
    pub last_terminated: Option<(i32, String)>,
    /// Whether the pod is being deleted.
    pub deleting: bool,
    /// The container's id on its node, without the runtime's prefix
    /// (`docker://`).
    pub container_id: Option<String>,
    /// The node it was scheduled on.
    pub node: Option<String>,
}

impl PodState {
    /// Reads a pod.
    pub fn of(pod: &Pod) -> PodState {
        let status = pod.status.clone().unwrap_or_default();
        let container = status
            .container_statuses
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.name == objects::CONTAINER);
        let container_id = container
            .as_ref()
            .and_then(|c| c.container_id.as_deref())
            .map(|id| id.split_once("://").map_or(id, |(_, id)| id).to_string());
        let (restart_count, running, last_terminated) = match container {
            Some(c) => (
                c.restart_count,
                c.state.as_ref().is_some_and(|s| s.running.is_some()),
                c.last_state
                    .and_then(|s| s.terminated)
                    .map(|t| (t.exit_code, t.reason.unwrap_or_default())),
            ),
            None => (0, false, None),
        };
        PodState {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            ip: status.pod_ip.filter(|ip| !ip.is_empty()),
            phase: status.phase.unwrap_or_default(),
            restart_count,
            running,
            last_terminated,
            deleting: pod.metadata.deletion_timestamp.is_some(),
            container_id,
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        }
    }
}

/// The pods of `role`, newest first.
pub async fn of_role(pods: &Api<Pod>, run_id: &str, role: Role) -> Result<Vec<Pod>, StackError> {
    let params = ListParams::default().labels(&objects::role_selector(run_id, role));
    let mut list = pods
        .list(&params)
        .await
        .map_err(|e| StackError::kube(format!("list the {role} pods"), e))?
        .items;
    list.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    Ok(list)
}

/// The current pod of `role`: the newest one not being deleted, else the newest.
pub async fn current(pods: &Api<Pod>, run_id: &str, role: Role) -> Result<Option<Pod>, StackError> {
    let list = of_role(pods, run_id, role).await?;
    let live = list
        .iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .cloned();
    Ok(live.or_else(|| list.into_iter().next()))
}

/// Waits until `role` has a running pod with an address; returns it.
pub async fn wait_running(
    pods: &Api<Pod>,
    run_id: &str,
    role: Role,
    deadline: Instant,
) -> Result<PodState, StackError> {
    let started = Instant::now();
    loop {
        let pod = current(pods, run_id, role).await?;
        let state = pod.as_ref().map(PodState::of);
        if let Some(s) = &state {
            if s.phase == "Running" && s.ip.is_some() && !s.deleting {
                return Ok(s.clone());
            }
        }
        if Instant::now() >= deadline {
            return Err(StackError::NotReady {
                role,
                container: state.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                reason: "its pod did not run with an address".into(),
                state: pod
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "no pod".into()),
                waited_s: started.elapsed().as_secs_f64(),
                logs: String::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A pod's phase and its conditions' and container's reasons, for errors.
pub fn describe(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    let mut parts = vec![status.phase.unwrap_or_else(|| "no phase".into())];
    for c in status.conditions.unwrap_or_default() {
        if c.status != "True" {
            parts.push(format!(
                "{} {}: {}",
                c.type_,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default()
            ));
        }
    }
    for c in status.container_statuses.unwrap_or_default() {
        if let Some(w) = c.state.and_then(|s| s.waiting) {
            parts.push(format!(
                "waiting {}: {}",
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            ));
        }
    }
    parts.join("; ")
}

/// A pod's container state in Docker's words (see `ContainerStatus`).
pub fn container_status(pod: Option<&Pod>) -> ContainerStatus {
    let mut out = ContainerStatus {
        status: "missing".into(),
        exit_code: None,
        oom_killed: false,
        finished_at: None,
        error: None,
    };
    let Some(pod) = pod else {
        return out;
    };
    let state = PodState::of(pod);
    if state.running && !state.deleting {
        out.status = "running".into();
        return out;
    }
    out.status = if state.deleting { "removing" } else { "exited" }.into();
    if let Some((code, reason)) = state.last_terminated {
        out.exit_code = Some(code.into());
        out.oom_killed = reason == "OOMKilled";
    }
    out
}
