//! `host-crash`: the whole host the target runs on goes down at once. Every
//! process in the host's container cgroups gets SIGKILL from the kernel in
//! one pass (its engine is not asked), so every container on it dies
//! together, as in a power cut. Witness: the engine's `die` event for each of
//! the run's containers on that host. A `heal` brings the host back: its
//! containers are started again. Test-bed hosts only (`docs/hosts.md`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::host::{self, HOST_BACK};
use super::kind::{Fault, Injection, Kind};
use super::{Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "host-crash",
    about: "Crash the target's whole host (test bed): SIGKILL to every process in its containers' \
            cgroups at once; witnessed by a `die` event for each of the run's containers there. \
            A heal starts them again.",
    schema: HostCrash::json_schema,
    runtimes: host::RUNTIMES,
    disruptive: true,
    kubernetes: false,
    reverts: &[&HOST_BACK],
};

/// `kind: host-crash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostCrash {
    /// A role on the host that crashes (every role on that host goes with it).
    pub target: Role,
}

impl Fault for HostCrash {
    host::host_fault_parts!();

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target))
    }
}

async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let (name, bed) = host::bed_host_of(ctx, KIND.name, target)?;
    let stack = ctx.stack;
    let roles = host::roles_on(stack, &name);
    let events = stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    let killed = kill_cgroups(&bed.cgroups);
    if killed == 0 {
        return Err(FaultError::Invalid {
            kind: KIND.name.into(),
            reason: format!(
                "host {name} has no process in its container cgroups ({})",
                bed.cgroups
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    stack
        .fault_ledger()
        .hosts_crashed
        .insert(name.clone(), roles.clone());
    let mut died = Vec::new();
    for role in &roles {
        match events
            .wait_for_action(from, *role, "die", ctx.deadline)
            .await
        {
            Some(e) => died.push((*role, e.at_ms, e.attr("exitCode").unwrap_or("?").to_string())),
            None => {
                let evidence = json!({ "host": name, "killed_processes": killed, "died": died.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), "missing": role.as_str() });
                return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence));
            }
        }
    }
    let first = died.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let last = died.iter().map(|d| d.1).fold(f64::NEG_INFINITY, f64::max);
    let listed: Vec<String> = died
        .iter()
        .map(|(r, _, code)| format!("{r} (exit {code})"))
        .collect();
    let witness = format!(
        "host {name} crashed: die events for {} within {:.0} ms",
        listed.join(", "),
        last - first
    );
    let evidence = json!({
        "host": name,
        "killed_processes": killed,
        "died": died.iter().map(|(r, at, code)| json!({"role": r.as_str(), "at_ms": at, "exit_code": code})).collect::<Vec<_>>(),
        "spread_ms": last - first,
    });
    Ok(ctx.witnessed(KIND.name, target, requested, first, witness, evidence))
}

/// SIGKILLs every process in the cgroup folders under `roots` (each
/// hierarchy's `takeover-tb-hK`); how many signals were sent.
fn kill_cgroups(roots: &[std::path::PathBuf]) -> usize {
    let mut pids = std::collections::BTreeSet::new();
    let mut stack: Vec<std::path::PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    pids.into_iter()
        .filter(|pid| *pid > 1)
        // SAFETY: kill(2) with a pid read from the host's own cgroups.
        .filter(|pid| unsafe { libc::kill(*pid, libc::SIGKILL) } == 0)
        .count()
}
