//! `host-partition`: the target's whole host is cut off from the other hosts.
//! Two DROP rules in the test bed's root chain (`TAKEOVER-TB`, jumped to from
//! `FORWARD`), one for each direction of the host's veth, tagged with the run
//! id. Witness: the rules' packet counter rises (there is always traffic
//! between hosts: health checks, lease renewals). The harness's own
//! connections to the host go through `OUTPUT`/`INPUT` and are not cut, so it
//! keeps observing. A `heal` deletes the rules. Test-bed hosts only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::host::{self, HOST_LINK};
use super::kind::{Fault, Injection, Kind};
use super::{Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::{testbed, Role};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "host-partition",
    about: "Cut the target's whole host off from the other hosts (test bed): DROP rules on its \
            link in the root namespace's TAKEOVER-TB chain, witnessed by their packet counter.",
    schema: HostPartition::json_schema,
    runtimes: host::RUNTIMES,
    disruptive: true,
    kubernetes: false,
    reverts: &[&HOST_LINK],
};

/// `kind: host-partition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostPartition {
    /// A role on the host that is cut off (every role on that host is).
    pub target: Role,
}

impl Fault for HostPartition {
    host::host_fault_parts!();

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject_drops(ctx, KIND.name, self.target, &[]))
    }
}

/// Puts DROP rules (all packets, or those `extra` matches pick) on the
/// target host's link and waits for them to drop a packet: the body of
/// `host-partition` and `host-loss`.
pub(super) async fn inject_drops(
    ctx: &Ctx<'_>,
    kind: &'static str,
    target: Role,
    extra: &[&str],
) -> Result<FaultEffect, FaultError> {
    let (name, bed) = host::bed_host_of(ctx, kind, target)?;
    let comment = testbed::rule_comment(ctx.stack.run_id(), &format!("{kind} {name}"));
    let requested = ctx.clock.now_ms();
    host::add_drop_rules(ctx.stack, &name, &bed, &comment, extra)?;
    let in_place = ctx.clock.now_ms();
    let evidence = |packets: u64| {
        json!({
            "host": name,
            "link": bed.link,
            "chain": testbed::CHAIN,
            "comment": comment,
            "matches": extra.join(" "),
            "dropped_packets": packets,
        })
    };
    match host::wait_for_drops(&comment, ctx.deadline).await? {
        Some((_, packets)) => Ok(ctx.witnessed(
            kind,
            target,
            requested,
            in_place,
            format!(
                "DROP rules on {} (host {name}) in {} dropped {packets} packet(s)",
                bed.link,
                testbed::CHAIN
            ),
            evidence(packets),
        )),
        None => Ok(ctx.unwitnessed(kind, target, requested, evidence(0))),
    }
}
