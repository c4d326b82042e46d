//! `partition`: cut the target off. `disconnect` takes it off the run network
//! (witness: the network's `disconnect` event); `iptables` drops packets from
//! and/or to chosen peers in its namespace (witness: the rule is listed and
//! its counter moves).

use serde_json::json;

use super::netfilter::{self, Match};
use super::{Ctx, Direction, FaultEffect, FaultError, PartitionMethod};
use crate::stack::Role;

pub(super) async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    peers: &[Role],
    direction: Direction,
    method: PartitionMethod,
) -> Result<FaultEffect, FaultError> {
    let method = match method {
        PartitionMethod::Auto if peers.is_empty() && direction == Direction::Both => {
            PartitionMethod::Disconnect
        }
        PartitionMethod::Auto => PartitionMethod::Iptables,
        m => m,
    };
    match method {
        PartitionMethod::Disconnect => disconnect(ctx, target).await,
        _ => iptables(ctx, target, peers, direction).await,
    }
}

async fn disconnect(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let requested = ctx.clock.now_ms();
    stack
        .docker()
        .disconnect_network(
            stack.network_name(),
            bollard::models::NetworkDisconnectRequest {
                container: stack.container(target).id.clone(),
                force: Some(true),
            },
        )
        .await
        .map_err(|e| FaultError::docker(format!("disconnect {target} from the run network"), e))?;
    stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .disconnected
        .insert(target);
    let event = stack
        .events()
        .wait_for_action(from, target, "disconnect", ctx.deadline)
        .await;
    let ip_after = crate::stack::network_ip(
        stack.docker(),
        &stack.container(target).id,
        stack.network_name(),
    )
    .await?;
    match event {
        Some(e) if ip_after.is_empty() => Ok(ctx.witnessed(
            "partition",
            target,
            requested,
            e.at_ms,
            "disconnect event; endpoint gone from the run network".into(),
            json!({ "method": "disconnect", "network": stack.network_name() }),
        )),
        _ => Ok(ctx.unwitnessed(
            "partition",
            target,
            requested,
            json!({ "method": "disconnect", "event_seen": event.is_some(), "ip_after": ip_after }),
        )),
    }
}

async fn iptables(
    ctx: &Ctx<'_>,
    target: Role,
    peers: &[Role],
    direction: Direction,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let peer_roles: Vec<Role> = if peers.is_empty() {
        Role::ALL.into_iter().filter(|r| *r != target).collect()
    } else {
        peers.to_vec()
    };
    let mut ips = Vec::new();
    for peer in &peer_roles {
        let ip = crate::stack::network_ip(
            stack.docker(),
            &stack.container(*peer).id,
            stack.network_name(),
        )
        .await?;
        if ip.is_empty() {
            return Err(FaultError::Invalid {
                kind: "partition".into(),
                reason: format!(
                    "peer `{peer}` has no address on the run network (is it disconnected?)"
                ),
            });
        }
        ips.push(ip);
    }
    let requested = ctx.clock.now_ms();
    let (chain, in_place_at) =
        netfilter::apply(stack, target, direction, &Match::Peers(ips.clone())).await?;
    let evidence = |drops: Option<u64>, listing: &str| {
        json!({
            "method": "iptables",
            "chain": chain,
            "direction": direction,
            "peers": peer_roles,
            "peer_ips": ips,
            "dropped_packets": drops,
            "listing": listing,
        })
    };
    match netfilter::wait_for_drops(stack, target, &chain, ctx.deadline).await? {
        Some((packets, seen_at, listing)) => Ok(ctx.witnessed(
            "partition",
            target,
            requested,
            in_place_at,
            format!("DROP rules in chain {chain}; {packets} packets dropped by {seen_at:.0} ms"),
            evidence(Some(packets), &listing),
        )),
        None => Ok(ctx.unwitnessed("partition", target, requested, evidence(Some(0), ""))),
    }
}
