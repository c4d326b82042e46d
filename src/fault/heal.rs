//! `heal`: revert what earlier faults did, from the run's fault ledger:
//! reconnect, unpause, remove iptables chains and qdiscs, restore memory
//! limits, delete the fill file. Witness: the list of what it reverted. A heal
//! with nothing to revert says so and has no witness (it is not in effect).

use bollard::models::{ContainerUpdateBody, EndpointSettings, NetworkConnectRequest};
use serde_json::json;

use super::sidecar::{self, Attach};
use super::{disk_fill, netfilter, Ctx, FaultEffect, FaultError};
use crate::stack::{Role, Stack};

pub(super) async fn inject(ctx: &Ctx<'_>, target: Option<Role>) -> Result<FaultEffect, FaultError> {
    let requested = ctx.clock.now_ms();
    let reverted = heal(ctx.stack, target).await?;
    Ok(effect(ctx, target, requested, reverted))
}

/// The note of a heal that found nothing to revert.
pub const NOTHING_TO_REVERT: &str = "nothing to revert";

/// The effect of a heal (any runtime): witnessed by what it reverted; with nothing
/// reverted, no witness and a `note` saying so.
pub(super) fn effect(
    ctx: &Ctx<'_>,
    target: Option<Role>,
    requested: f64,
    reverted: Vec<String>,
) -> FaultEffect {
    effect_at(target, requested, ctx.clock.now_ms(), reverted)
}

fn effect_at(target: Option<Role>, requested: f64, now: f64, reverted: Vec<String>) -> FaultEffect {
    let scope = target.map(|t| t.as_str()).unwrap_or("all");
    let nothing = reverted.is_empty();
    let evidence = if nothing {
        json!({ "scope": scope, "reverted": reverted, "note": NOTHING_TO_REVERT })
    } else {
        json!({ "scope": scope, "reverted": reverted })
    };
    FaultEffect {
        kind: "heal".into(),
        target: target.unwrap_or(Role::Primary),
        requested_at_ms: requested,
        in_effect_at_ms: (!nothing).then_some(now),
        witness: (!nothing).then(|| format!("reverted: {}", reverted.join("; "))),
        evidence,
        unavailable: None,
    }
}

/// Whether `effect` is a heal that found nothing to revert (recorded, never a witness).
pub fn reverted_nothing(effect: &FaultEffect) -> bool {
    effect.kind == "heal"
        && effect.in_effect_at_ms.is_none()
        && effect.evidence.get("note").and_then(|n| n.as_str()) == Some(NOTHING_TO_REVERT)
}

/// Reverts the faults in place on `target` (every container when `None`); returns what it reverted.
pub(super) async fn heal(stack: &Stack, target: Option<Role>) -> Result<Vec<String>, FaultError> {
    let roles: Vec<Role> = match target {
        Some(r) => vec![r],
        None => Role::ALL.to_vec(),
    };
    let mut reverted = Vec::new();
    for role in roles {
        let (paused, disconnected, memory, has_qdisc) = {
            let ledger = stack.faults.lock().expect("fault ledger poisoned");
            (
                ledger.paused.contains(&role),
                ledger.disconnected.contains(&role),
                ledger.memory.get(&role).copied(),
                ledger.qdiscs.contains(&role),
            )
        };
        let name = stack.container(role).name.clone();
        let status = stack.state(role).await?;
        if paused {
            if status.status == "paused" {
                stack
                    .docker()
                    .unpause_container(&name)
                    .await
                    .map_err(|e| FaultError::docker(format!("unpause {role}"), e))?;
                reverted.push(format!("unpaused {role}"));
            }
            stack
                .faults
                .lock()
                .expect("fault ledger poisoned")
                .paused
                .remove(&role);
        }
        let running = matches!(stack.state(role).await?.status.as_str(), "running");
        let chains = netfilter::remove_all(stack, role).await?;
        if chains > 0 {
            reverted.push(format!("removed {chains} iptables chain(s) of {role}"));
        }
        if has_qdisc {
            if running {
                let argv = ["/usr/sbin/tc", "qdisc", "del", "dev", "eth0", "root"];
                let run = sidecar::run(stack, Attach::NetNs(role), &argv, &[]).await?;
                // "No such file" means it is gone already (e.g. the container restarted).
                if run.exit_code != 0
                    && !run.output.contains("No such file")
                    && !run.output.contains("Cannot delete")
                {
                    return Err(run.ok(&argv).unwrap_err());
                }
                reverted.push(format!("removed the qdisc of {role}"));
            }
            stack
                .faults
                .lock()
                .expect("fault ledger poisoned")
                .qdiscs
                .remove(&role);
        }
        if disconnected {
            stack
                .docker()
                .connect_network(
                    stack.network_name(),
                    NetworkConnectRequest {
                        container: stack.container(role).id.clone(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: Some(vec![role.as_str().to_string()]),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(|e| {
                    FaultError::docker(format!("reconnect {role} to the run network"), e)
                })?;
            stack
                .faults
                .lock()
                .expect("fault ledger poisoned")
                .disconnected
                .remove(&role);
            reverted.push(format!("reconnected {role}"));
        }
        if let Some((memory, swap)) = memory {
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
                reverted.push(format!("restored the memory limit of {role}"));
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
                    .map_err(|e| {
                        FaultError::docker(format!("lift the memory limit of {role}"), e)
                    })?;
                reverted.push(format!(
                    "lifted the memory limit of {role} to the host's memory"
                ));
            }
            stack
                .faults
                .lock()
                .expect("fault ledger poisoned")
                .memory
                .remove(&role);
        }
    }
    let filled = stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .disk_filled;
    if filled && target.is_none_or(|t| t.is_worker()) {
        disk_fill::remove_fill(stack).await?;
        stack
            .faults
            .lock()
            .expect("fault ledger poisoned")
            .disk_filled = false;
        reverted.push("deleted the fill file on the shared volume".into());
    }
    Ok(reverted)
}

fn host_memory_bytes() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heal_with_nothing_to_revert_says_so_and_is_no_witness() {
        let idle = effect_at(Some(Role::Primary), 100.0, 120.0, Vec::new());
        assert_eq!(
            (idle.in_effect_at_ms, idle.witness.as_deref()),
            (None, None)
        );
        assert_eq!(idle.evidence["note"], NOTHING_TO_REVERT);
        assert!(reverted_nothing(&idle));

        let real = effect_at(None, 100.0, 120.0, vec!["reconnected primary".into()]);
        assert_eq!(real.in_effect_at_ms, Some(120.0));
        assert_eq!(
            real.witness.as_deref(),
            Some("reverted: reconnected primary")
        );
        assert!(!reverted_nothing(&real));
    }
}
