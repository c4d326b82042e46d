//! What the host faults (`host-crash`, `host-partition`, `host-loss`,
//! `host-bandwidth`) share: finding the test-bed host a role runs on (and
//! refusing any other), the rules' witness (their packet counters), and what a
//! heal undoes of them (the rules and qdiscs; a crashed host's containers
//! started again).

use std::time::{Duration, Instant};

use super::kind::BoxFuture;
use super::revert::{Revert, Scope};
use super::{Ctx, FaultError};
use crate::stack::testbed::{self, BedHost};
use crate::stack::{Role, Stack};

/// What a heal undoes of `host-partition`, `host-loss` and `host-bandwidth`:
/// the host's rules in the test bed's chain and its qdiscs.
pub static HOST_LINK: Revert = Revert {
    what: "removes its host's DROP rules and qdiscs",
    order: 6,
    scope: Scope::Run(heal_links),
};

/// What a heal undoes of `host-crash`: the host comes back, its containers
/// started again (each must then find its place: a worker that comes back
/// finds the job leased by the other).
pub static HOST_BACK: Revert = Revert {
    what: "starts the crashed host's containers again",
    order: 7,
    scope: Scope::Run(bring_back),
};

/// Where every host fault can be made: on Docker, on a test-bed host.
pub(super) const RUNTIMES: super::kind::Runtimes =
    super::kind::Runtimes::DockerOnly("it acts on a test-bed host of a `stack.hosts` stack");

/// The methods of [`super::kind::Fault`] every host fault writes alike: its
/// kind is the module's `KIND`, its target is its `target` field, and it
/// leaves that target's host for a heal (`Leftovers::hosts`). Used inside
/// `impl Fault for ...` of a module that has `KIND`, `Kind`, `Role` and
/// `Leftovers` in scope.
macro_rules! host_fault_parts {
    () => {
        fn kind(&self) -> &'static Kind {
            &KIND
        }

        fn target(&self) -> Option<Role> {
            Some(self.target)
        }

        fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
            left.hosts.insert(self.target);
            Ok(())
        }
    };
}
pub(super) use host_fault_parts;

/// The test-bed host `role` runs on: its name in `stack.hosts` and the objects
/// a host fault acts on. Refused (with why) on a one-engine stack and for an
/// engine that is not a test-bed host.
pub(super) fn bed_host_of(
    ctx: &Ctx<'_>,
    kind: &str,
    role: Role,
) -> Result<(String, BedHost), FaultError> {
    let invalid = |reason: String| FaultError::Invalid {
        kind: kind.to_string(),
        reason,
    };
    let host = ctx.stack.host_of(role).ok_or_else(|| {
        invalid(format!(
            "`{kind}` acts on a whole host: the stack needs `stack.hosts` and `stack.placement`"
        ))
    })?;
    let bed = testbed::bed_host(&host.docker).map_err(invalid)?;
    Ok((host.name.clone(), bed))
}

/// The roles that run on host `name`.
pub(super) fn roles_on(stack: &Stack, name: &str) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| stack.host_of(*r).is_some_and(|h| h.name == name))
        .collect()
}

/// Runs a root-namespace tool, as a fault error.
pub(super) fn tool(program: &str, args: &[&str]) -> Result<String, FaultError> {
    Ok(testbed::run_tool(program, args)?)
}

/// Adds a DROP rule (with `extra` matches) for each direction of `bed`'s link
/// at the top of the test bed's chain, tagged with `comment`, and records it.
pub(super) fn add_drop_rules(
    stack: &Stack,
    host: &str,
    bed: &BedHost,
    comment: &str,
    extra: &[&str],
) -> Result<(), FaultError> {
    for direction in ["-i", "-o"] {
        let mut args = vec!["-w", "-I", testbed::CHAIN, "1", direction, &bed.link];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-m", "comment", "--comment", comment, "-j", "DROP"]);
        tool("iptables", &args)?;
    }
    stack
        .fault_ledger()
        .host_rules
        .entry(host.to_string())
        .or_default()
        .push(comment.to_string());
    Ok(())
}

/// Records a root qdisc a host fault added on `link` of host `host`.
pub(super) fn record_qdisc(stack: &Stack, host: &str, link: &str) {
    stack
        .fault_ledger()
        .host_qdiscs
        .entry(host.to_string())
        .or_default()
        .push(link.to_string());
}

/// Waits until the rules tagged `comment` have dropped a packet (there is
/// always traffic between the hosts: health checks, lease renewals), up to
/// `deadline`; when and how many.
pub(super) async fn wait_for_drops(
    comment: &str,
    deadline: Duration,
) -> Result<Option<(Instant, u64)>, FaultError> {
    let until = Instant::now() + deadline;
    loop {
        let packets = testbed::rule_packets(comment)?;
        if packets > 0 {
            return Ok(Some((Instant::now(), packets)));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hosts a heal of `target` covers: the target's host, or every host.
fn hosts_healed(stack: &Stack, target: Option<Role>) -> Option<String> {
    target.and_then(|t| stack.host_of(t).map(|h| h.name.clone()))
}

fn heal_links(
    stack: &Stack,
    target: Option<Role>,
) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        let only = hosts_healed(stack, target);
        let (rules, qdiscs) = {
            let mut ledger = stack.fault_ledger();
            let take = |m: &mut std::collections::BTreeMap<String, Vec<String>>| {
                let keys: Vec<String> = m
                    .keys()
                    .filter(|k| only.as_ref().is_none_or(|o| o == *k))
                    .cloned()
                    .collect();
                keys.into_iter()
                    .filter_map(|k| m.remove(&k).map(|v| (k, v)))
                    .collect::<Vec<_>>()
            };
            (take(&mut ledger.host_rules), take(&mut ledger.host_qdiscs))
        };
        let mut done = Vec::new();
        for (host, comments) in rules {
            let mut n = 0;
            for comment in comments {
                n += testbed::remove_rules_tagged(&comment)?;
            }
            done.push(format!("removed {n} DROP rule(s) of host {host}"));
        }
        for (host, links) in qdiscs {
            for link in &links {
                testbed::remove_qdisc(link)?;
            }
            done.push(format!(
                "removed the qdisc(s) of host {host} on {}",
                links.join(", ")
            ));
        }
        Ok((!done.is_empty()).then(|| done.join("; ")))
    })
}

fn bring_back(
    stack: &Stack,
    target: Option<Role>,
) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        let only = hosts_healed(stack, target);
        let crashed: Vec<(String, Vec<Role>)> = {
            let mut ledger = stack.fault_ledger();
            let keys: Vec<String> = ledger
                .hosts_crashed
                .keys()
                .filter(|k| only.as_ref().is_none_or(|o| o == *k))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| ledger.hosts_crashed.remove(&k).map(|v| (k, v)))
                .collect()
        };
        let mut done = Vec::new();
        for (host, roles) in crashed {
            for role in &roles {
                stack
                    .docker_for(*role)
                    .start_container(
                        &stack.container(*role).name,
                        None::<bollard::query_parameters::StartContainerOptions>,
                    )
                    .await
                    .map_err(|e| FaultError::docker(format!("start {role} again"), e))?;
            }
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            done.push(format!("host {host} is back: started {}", names.join(", ")));
        }
        Ok((!done.is_empty()).then(|| done.join("; ")))
    })
}
