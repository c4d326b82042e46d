//! Partitions on Kubernetes: a NetworkPolicy (networking.k8s.io/v1) that
//! selects the target's pods and allows no traffic in the cut directions
//! (from and to the chosen peers' pods only, when peers are named). The API
//! accepts a policy whether or not the cluster's network plugin enforces it,
//! so the witness is the traffic itself: the front door's health checks of the
//! target failing, or the harness's own connections to the pod. Where traffic
//! still flows, the partition is reported as not made here, with that reason
//! (the iteration is inconclusive, never passed).

use std::time::Duration;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};

use super::{Ctx, Direction, FaultEffect, FaultError};
use crate::stack::{labels, Role, Stack};

/// How long the plugin is given to apply a policy before traffic is judged.
const SETTLE: Duration = Duration::from_secs(3);

/// The policy cutting `target` off from `peers` (all pods and addresses when
/// empty) in `direction`.
pub fn policy(
    run_id: &str,
    name: &str,
    target: Role,
    peers: &[Role],
    direction: Direction,
) -> NetworkPolicy {
    let mut types = Vec::new();
    let mut spec = json!({
        "podSelector": {"matchLabels": {labels::RUN: run_id, labels::ROLE: target.as_str()}},
    });
    // With peers, everything but them stays allowed: other pods by a
    // NotIn selector, and addresses outside the cluster's pods.
    let allow_others = |key: &str| -> Value {
        let roles: Vec<&str> = peers.iter().map(|r| r.as_str()).collect();
        json!([{ key: [
            {"podSelector": {"matchExpressions": [
                {"key": labels::ROLE, "operator": "NotIn", "values": roles}
            ]}},
            {"ipBlock": {"cidr": "0.0.0.0/0"}},
        ]}])
    };
    if matches!(direction, Direction::Inbound | Direction::Both) {
        types.push("Ingress");
        spec["ingress"] = if peers.is_empty() {
            json!([])
        } else {
            allow_others("from")
        };
    }
    if matches!(direction, Direction::Outbound | Direction::Both) {
        types.push("Egress");
        spec["egress"] = if peers.is_empty() {
            json!([])
        } else {
            allow_others("to")
        };
    }
    spec["policyTypes"] = json!(types);
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels::for_container(run_id, target.as_str())},
        "spec": spec,
    }))
    .expect("a built NetworkPolicy matches its API type")
}

/// Makes the partition and judges whether it took effect.
pub async fn partition(
    ctx: &Ctx<'_>,
    target: Role,
    peers: &[Role],
    direction: Direction,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let k8s = super::kubernetes_run(stack)?;
    let api: Api<NetworkPolicy> = Api::namespaced(k8s.client().clone(), k8s.namespace());
    let name = {
        let mut ledger = stack.fault_ledger();
        ledger.chain_counter += 1;
        format!(
            "takeover-partition-{}-{}",
            target.as_str(),
            ledger.chain_counter
        )
    };
    let requested = ctx.clock.now_ms();
    api.create(
        &PostParams::default(),
        &policy(stack.run_id(), &name, target, peers, direction),
    )
    .await
    .map_err(|e| FaultError::kube(format!("create NetworkPolicy {name}"), e))?;
    stack
        .fault_ledger()
        .policies
        .entry(target)
        .or_default()
        .push(name.clone());
    let created_at = ctx.clock.now_ms();
    let judge_for = SETTLE.min(ctx.deadline);
    let cut = traffic_stops(stack, target, judge_for).await;
    let evidence = json!({
        "policy": name,
        "created_at_ms": created_at,
        "watched_ms": judge_for.as_millis() as u64,
        "traffic": cut.as_ref().map(|(_, how)| how.clone()).unwrap_or_else(|e| e.clone()),
    });
    match cut {
        Ok((at, how)) => Ok(ctx.witnessed(
            "partition",
            target,
            requested,
            at,
            format!("NetworkPolicy {name} in force: {how}"),
            evidence,
        )),
        Err(flowing) => {
            let mut effect = ctx.unavailable(
                "partition",
                target,
                format!(
                    "NetworkPolicy {name} was accepted but not enforced: {flowing} after {} ms; \
                     this cluster's network plugin does not enforce NetworkPolicy",
                    judge_for.as_millis()
                ),
            );
            effect.requested_at_ms = requested;
            effect.evidence = evidence;
            Ok(effect)
        }
    }
}

/// Watches connections to the target's pod for `window`: the first refused
/// or timed-out one proves the cut (its time and what it was); if every one
/// succeeds, the traffic still flows (what was seen).
async fn traffic_stops(
    stack: &Stack,
    target: Role,
    window: Duration,
) -> Result<(f64, String), String> {
    let info = stack.container(target);
    let port = if target.is_worker() {
        stack.spec().worker.port
    } else if target == Role::State {
        crate::stack::kubernetes::objects::REDIS_PORT
    } else {
        crate::stack::haproxy::FRONT_PORT
    };
    let addr = format!("{}:{port}", info.ip);
    let until = tokio::time::Instant::now() + window;
    let mut ok = 0u32;
    loop {
        let at = stack.clock().now_ms();
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        match attempt {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => return Ok((at, format!("a connection to {addr} failed: {e}"))),
            Err(_) => return Ok((at, format!("a connection to {addr} timed out (200 ms)"))),
        }
        if tokio::time::Instant::now() >= until {
            return Err(format!("{ok} connections to {addr} in a row succeeded"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes the policies faults made for `target` (every role when `None`);
/// returns what it reverted, in words.
pub async fn heal(stack: &Stack, target: Option<Role>) -> Result<Vec<String>, FaultError> {
    let k8s = super::kubernetes_run(stack)?;
    let api: Api<NetworkPolicy> = Api::namespaced(k8s.client().clone(), k8s.namespace());
    let taken: Vec<(Role, Vec<String>)> = {
        let mut ledger = stack.fault_ledger();
        let roles: Vec<Role> = match target {
            Some(t) => vec![t],
            None => ledger.policies.keys().copied().collect(),
        };
        roles
            .into_iter()
            .filter_map(|r| ledger.policies.remove(&r).map(|names| (r, names)))
            .collect()
    };
    let mut reverted = Vec::new();
    for (role, names) in taken {
        for name in names {
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| FaultError::kube(format!("delete NetworkPolicy {name}"), e))?;
            reverted.push(format!("deleted NetworkPolicy {name} of {role}"));
        }
    }
    Ok(reverted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cut_allows_nothing_and_a_peer_cut_allows_the_others() {
        let full =
            serde_json::to_value(policy("tk-1", "p", Role::Primary, &[], Direction::Both)).unwrap();
        assert_eq!(full["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(full["spec"]["ingress"], json!([]));
        assert_eq!(full["spec"]["egress"], json!([]));
        assert_eq!(
            full["spec"]["podSelector"]["matchLabels"][labels::ROLE],
            "primary"
        );
        assert_eq!(full["metadata"]["labels"][labels::RUN], "tk-1");
        let some = serde_json::to_value(policy(
            "tk-1",
            "p",
            Role::Primary,
            &[Role::Frontdoor],
            Direction::Inbound,
        ))
        .unwrap();
        assert_eq!(some["spec"]["policyTypes"], json!(["Ingress"]));
        let from = &some["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0];
        assert_eq!(from["operator"], "NotIn");
        assert_eq!(from["values"], json!(["frontdoor"]));
        assert!(some["spec"].get("egress").is_none());
    }
}
