//! `loss`: drop a random share of the target's packets (iptables `statistic`).
//! Witness: the rule is listed and its counter moves.

use serde_json::json;

use super::netfilter::{self, Match};
use super::{Ctx, Direction, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn inject(
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
