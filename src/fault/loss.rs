//! `loss`: drop a random share of the target's packets (iptables `statistic`).
//! Witness: the rule is listed and its counter moves.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::netfilter::{self, Match};
use super::{Ctx, Direction, FaultEffect, FaultError, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "loss",
    about: "Drop a share of the target's packets at random (iptables `statistic`). Witness: the rule's counter moves.",
    schema: Loss::json_schema,
    runtimes: Runtimes::DockerOnly("it works inside the container's network namespace"),
    kubernetes: false,
    disruptive: true,
    reverts: &[&netfilter::CHAINS],
};

/// `kind: loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loss {
    /// The container.
    pub target: Role,
    /// Share of packets dropped, 0 to 100.
    pub percent: f64,
    /// Which traffic is dropped, seen from the target.
    #[serde(default)]
    pub direction: Direction,
}

impl Fault for Loss {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        let percent = self.percent;
        if percent > 0.0 && percent <= 100.0 {
            Ok(())
        } else {
            Err(format!(
                "loss `percent` must be above 0 and at most 100, not {percent}"
            ))
        }
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.network.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, self.percent, self.direction))
    }
}

async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    percent: f64,
    direction: Direction,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let requested = ctx.clock.now_ms();
    let what = Match::Random(percent / 100.0);
    let (chain, in_place_at) = netfilter::apply(stack, target, direction, &what).await?;
    match netfilter::wait_for_drops(stack, target, &chain, ctx.deadline).await? {
        Some((packets, seen_at, listing)) => Ok(ctx.witnessed(
            "loss",
            target,
            requested,
            in_place_at,
            format!("random DROP rule ({percent}%) in chain {chain}; {packets} packets dropped by {seen_at:.0} ms"),
            json!({ "chain": chain, "percent": percent, "direction": direction,
                    "dropped_packets": packets, "listing": listing }),
        )),
        None => Ok(ctx.unwitnessed(
            "loss",
            target,
            requested,
            json!({ "chain": chain, "percent": percent, "dropped_packets": 0 }),
        )),
    }
}
