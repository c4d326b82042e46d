//! The Kubernetes witness of a container that died in its pod: the kubelet
//! restarted it (`restartCount` up) and says how its last run ended
//! (`lastState.terminated`: exit code and reason). Shared by `kill` and
//! `oom-kill` on `runtime: kubernetes`.

use std::time::Duration;

use serde_json::json;

use super::{Ctx, FaultError};
use crate::stack::kubernetes::{KubeRun, PodState};
use crate::stack::Role;

/// How often the pod is read while the witness is awaited.
const POLL: Duration = Duration::from_millis(25);

/// The target's running pod before a fault, or why there is none.
pub async fn running_pod(k8s: &KubeRun, kind: &str, target: Role) -> Result<PodState, FaultError> {
    k8s.pod(target)
        .await?
        .map(|p| PodState::of(&p))
        .filter(|p| p.running)
        .ok_or_else(|| FaultError::Invalid {
            kind: kind.into(),
            reason: format!("the {target} has no running pod"),
        })
}

/// What the kubelet reported after the fault.
pub struct Restart {
    /// When the container was first seen stopped or restarted (clock ms).
    pub seen_at_ms: f64,
    /// The pod then (its restart count and last termination).
    pub pod: PodState,
}

/// Waits until `before`'s pod (same UID) shows its container restarted,
/// recording in `evidence` what the last termination was; `None` at the
/// deadline.
pub async fn await_restart(
    ctx: &Ctx<'_>,
    k8s: &KubeRun,
    target: Role,
    before: &PodState,
    evidence: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Restart>, FaultError> {
    evidence.insert("pod".into(), json!(before.name));
    evidence.insert("restart_count_before".into(), json!(before.restart_count));
    let until = tokio::time::Instant::now() + ctx.deadline;
    let mut first_seen = None;
    loop {
        let now = ctx.clock.now_ms();
        let state = k8s.pod(target).await?.map(|p| PodState::of(&p));
        if let Some(s) = state.filter(|s| s.uid == before.uid) {
            let restarted = s.restart_count > before.restart_count;
            if first_seen.is_none() && (restarted || !s.running) {
                first_seen = Some(now);
            }
            if let (true, Some((code, reason))) = (restarted, &s.last_terminated) {
                evidence.insert("restart_count".into(), json!(s.restart_count));
                evidence.insert("exit_code".into(), json!(code));
                evidence.insert("reason".into(), json!(reason));
                return Ok(Some(Restart {
                    seen_at_ms: first_seen.unwrap_or(now),
                    pod: s,
                }));
            }
        }
        if tokio::time::Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}
