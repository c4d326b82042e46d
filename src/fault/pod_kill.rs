//! `pod-kill`: the target's pod deleted through the Kubernetes API with grace
//! 0, so the kubelet kills its container at once and its Deployment makes a
//! new pod. Witness: the pod gone from the API (its UID no longer found), and
//! a replacement pod with a new UID; when the replacement runs again is in the
//! evidence (the cluster brought it back) and on the timeline.

use std::time::Duration;

use kube::api::DeleteParams;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{Ctx, FaultEffect, FaultError};
use crate::stack::kubernetes::PodState;
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "pod-kill",
    about: "Delete the target's pod through the Kubernetes API with grace 0. Witness: the pod \
            gone and its Deployment's replacement with a new UID.",
    schema: PodKill::json_schema,
    runtimes: Runtimes::KubernetesOnly("it deletes a Kubernetes pod"),
    kubernetes: true,
    disruptive: true,
    reverts: &[],
};

/// `kind: pod-kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodKill {
    /// The pod's role.
    pub target: Role,
}

impl Fault for PodKill {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn inject_docker<'a>(&'a self, _ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            Err(FaultError::NeedsKubernetes {
                kind: KIND.name.into(),
                reason: "it deletes a Kubernetes pod".into(),
            })
        })
    }

    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target))
    }
}

/// How often the pod is read while its witness is awaited.
const POLL: Duration = Duration::from_millis(25);

async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let k8s = super::kubernetes_run(ctx.stack)?;
    let pods = k8s.pods();
    let pod = k8s
        .pod(target)
        .await?
        .map(|p| PodState::of(&p))
        .ok_or_else(|| FaultError::Invalid {
            kind: KIND.name.into(),
            reason: format!("the {target} has no pod to delete"),
        })?;
    let requested = ctx.clock.now_ms();
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    pods.delete(&pod.name, &params)
        .await
        .map_err(|e| FaultError::kube(format!("delete pod {}", pod.name), e))?;
    let mut evidence = serde_json::Map::new();
    evidence.insert("pod".into(), json!(pod.name));
    evidence.insert("uid".into(), json!(pod.uid));
    let until = tokio::time::Instant::now() + ctx.deadline;
    // The pod gone: the name no longer found, or found with another UID.
    let gone_at = loop {
        let now = ctx.clock.now_ms();
        match pods.get_opt(&pod.name).await {
            Ok(None) => break Some(now),
            Ok(Some(p)) if p.metadata.uid.as_deref() != Some(pod.uid.as_str()) => break Some(now),
            Ok(Some(_)) | Err(_) if tokio::time::Instant::now() >= until => break None,
            _ => tokio::time::sleep(POLL).await,
        }
    };
    let Some(gone_at) = gone_at else {
        return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence.into()));
    };
    evidence.insert("gone_at_ms".into(), json!(gone_at));
    // Its controller's replacement: a pod of the role with a new UID.
    let replacement = loop {
        if let Ok(Some(p)) = k8s.pod(target).await {
            let state = PodState::of(&p);
            if state.uid != pod.uid {
                break Some((state, ctx.clock.now_ms()));
            }
        }
        if tokio::time::Instant::now() >= until {
            break None;
        }
        tokio::time::sleep(POLL).await;
    };
    let Some((new, seen_at)) = replacement else {
        evidence.insert("replacement".into(), json!(null));
        return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence.into()));
    };
    evidence.insert("replacement_pod".into(), json!(new.name));
    evidence.insert("replacement_uid".into(), json!(new.uid));
    evidence.insert("replacement_seen_at_ms".into(), json!(seen_at));
    let witness = format!(
        "pod {} gone {:.0} ms after the delete; replaced by {} (new UID)",
        pod.name,
        gone_at - requested,
        new.name
    );
    Ok(ctx.witnessed(
        KIND.name,
        target,
        requested,
        gone_at,
        witness,
        evidence.into(),
    ))
}
