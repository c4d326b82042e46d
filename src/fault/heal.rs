//! `heal`: revert what earlier faults did, from the run's fault ledger: every
//! distinct [`Revert`] of the registry, container by container in their
//! order (thaw, iptables chains, qdisc, reconnect, memory limit), then the
//! run-wide ones (the fill file). Witness: the list of what it reverted. A
//! heal with nothing to revert says so and has no witness (it is not in effect).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::revert::{Revert, Scope};
use super::{registry, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::{Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "heal",
    about: "Revert what earlier faults did to the target (rules, qdiscs, disconnects, pauses); \
            without a target, to every container.",
    schema: Heal::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: true,
    disruptive: false,
    reverts: &[],
};

/// `kind: heal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heal {
    /// The container, or every one when left out.
    #[serde(default)]
    pub target: Option<Role>,
}

impl Fault for Heal {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        self.target
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        let had = match self.target {
            Some(t) => {
                let disk = t.is_worker() && std::mem::take(&mut left.disk_filled);
                left.network.remove(&t) | left.paused.remove(&t) | left.hosts.remove(&t) | disk
            }
            None => {
                let had = !left.network.is_empty()
                    || !left.paused.is_empty()
                    || !left.hosts.is_empty()
                    || std::mem::take(&mut left.disk_filled);
                left.network.clear();
                left.paused.clear();
                left.hosts.clear();
                had
            }
        };
        if had {
            return Ok(());
        }
        let whom = self
            .target
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "any container".into());
        Err(format!(
            "`heal` has nothing to heal: no earlier step partitions, degrades, pauses or fills the disk of {whom}"
        ))
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            let requested = ctx.clock.now_ms();
            let reverted = on_docker(ctx.stack, self.target).await?;
            Ok(effect(ctx, self.target, requested, reverted))
        })
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            let requested = ctx.clock.now_ms();
            let reverted = on_process(ctx.stack, self.target)?;
            Ok(effect(ctx, self.target, requested, reverted))
        })
    }

    /// On Kubernetes a heal deletes the NetworkPolicies of partitions and
    /// brings lost nodes back (their kubelets resume).
    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            let requested = ctx.clock.now_ms();
            let mut reverted = super::network_policy::heal(ctx.stack, self.target).await?;
            reverted.extend(super::node_loss::heal(ctx.stack, self.target).await?);
            Ok(effect(ctx, self.target, requested, reverted))
        })
    }
}

/// The note of a heal that found nothing to revert.
pub const NOTHING_TO_REVERT: &str = "nothing to revert";

/// The effect of a heal (any runtime): witnessed by what it reverted; with nothing
/// reverted, no witness and a `note` saying so.
fn effect(
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
        kind: KIND.name.into(),
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
    effect.kind == KIND.name
        && effect.in_effect_at_ms.is_none()
        && effect.evidence.get("note").and_then(|n| n.as_str()) == Some(NOTHING_TO_REVERT)
}

fn roles(target: Option<Role>) -> Vec<Role> {
    match target {
        Some(r) => vec![r],
        None => Role::ALL.to_vec(),
    }
}

/// Reverts the faults in place on `target` of a Docker stack (every container
/// when `None`); returns what it reverted.
pub(super) async fn on_docker(
    stack: &Stack,
    target: Option<Role>,
) -> Result<Vec<String>, FaultError> {
    let reverts: Vec<&Revert> = registry::reverts();
    let mut reverted = Vec::new();
    for role in roles(target) {
        for revert in &reverts {
            if let Scope::EachRole { docker, .. } = revert.scope {
                reverted.extend(docker(stack, role).await?);
            }
        }
    }
    for revert in &reverts {
        if let Scope::Run(run) = revert.scope {
            reverted.extend(run(stack, target).await?);
        }
    }
    Ok(reverted)
}

/// Reverts what the process runtime can have in place (paused processes) on
/// `target` (every role when `None`); returns what it reverted.
pub(super) fn on_process(stack: &Stack, target: Option<Role>) -> Result<Vec<String>, FaultError> {
    let reverts: Vec<&Revert> = registry::reverts();
    let mut reverted = Vec::new();
    for role in roles(target) {
        for revert in &reverts {
            if let Scope::EachRole {
                process: Some(process),
                ..
            } = revert.scope
            {
                reverted.extend(process(stack, role)?);
            }
        }
    }
    Ok(reverted)
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
