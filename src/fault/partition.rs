//! `partition`: cut the target off. `disconnect` takes it off the run network
//! (witness: the network's `disconnect` event); `iptables` drops packets from
//! and/or to chosen peers in its namespace (witness: the rule is listed and
//! its counter moves). On Kubernetes, a NetworkPolicy (see `network_policy`):
//! witnessed by connections to the pod failing, else reported as not enforced.

use bollard::models::{EndpointSettings, NetworkConnectRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{BoxFuture, Fault, Injection, Kind, Runtimes};
use super::netfilter::{self, Match};
use super::revert::{Revert, Scope};
use super::{network_policy, Ctx, Direction, FaultEffect, FaultError, Leftovers};
use crate::stack::{Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "partition",
    about: "Cut the target off from peers: leave the run network (`disconnect`) or drop \
            packets with iptables in its network namespace (`iptables`, per peer and direction).",
    schema: Partition::json_schema,
    runtimes: Runtimes::DockerOnly("it works inside the container's network namespace"),
    kubernetes: true,
    disruptive: true,
    reverts: &[&netfilter::CHAINS, &DISCONNECTED],
};

/// What a heal undoes of a `disconnect` partition: it reconnects the container (with its alias).
pub static DISCONNECTED: Revert = Revert {
    what: "reconnects it",
    order: 3,
    scope: Scope::EachRole {
        docker: reconnect,
        process: None,
    },
};

/// `kind: partition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// The container cut off.
    pub target: Role,
    /// Peers it can no longer reach or be reached from (empty: every peer).
    #[serde(default)]
    pub peers: Vec<Role>,
    /// Which traffic is dropped, seen from the target.
    #[serde(default)]
    pub direction: Direction,
    /// How: `auto` picks `disconnect` for a full two-way cut from everyone, else `iptables`.
    #[serde(default)]
    pub method: PartitionMethod,
}

/// How a partition is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartitionMethod {
    /// `disconnect` for a two-way cut from every peer, else `iptables`.
    #[default]
    Auto,
    /// Disconnect the container from the run network.
    Disconnect,
    /// DROP rules in the container's network namespace, from the sidecar.
    Iptables,
}

impl Fault for Partition {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        let target = self.target;
        if self.method == PartitionMethod::Disconnect
            && (!self.peers.is_empty() || self.direction != Direction::Both)
        {
            return Err(format!(
                "partition of `{target}` with method `disconnect` cuts every peer both ways; \
                 use method `iptables` for chosen peers or one direction"
            ));
        }
        if self.peers.contains(&target) {
            return Err(format!(
                "partition of `{target}` lists itself among its peers"
            ));
        }
        Ok(())
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.network.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(
            ctx,
            self.target,
            &self.peers,
            self.direction,
            self.method,
        ))
    }

    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(network_policy::partition(
            ctx,
            self.target,
            &self.peers,
            self.direction,
        ))
    }
}

async fn inject(
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
    stack.fault_ledger().disconnected.insert(target);
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

/// Reconnects a container the ledger says a partition disconnected.
fn reconnect(stack: &Stack, role: Role) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        if !stack.fault_ledger().disconnected.contains(&role) {
            return Ok(None);
        }
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
            .map_err(|e| FaultError::docker(format!("reconnect {role} to the run network"), e))?;
        stack.fault_ledger().disconnected.remove(&role);
        Ok(Some(format!("reconnected {role}")))
    })
}
