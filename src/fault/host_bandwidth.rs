//! `host-bandwidth`: the target host's link is limited to a rate, both ways:
//! a `tbf` root qdisc on its veth in the root namespace (traffic to the host)
//! and on `eth0` in the host's namespace (traffic from it). Witness: `tc -s`
//! lists both qdiscs at the rate, and the one towards the host has sent
//! traffic since. A `heal` deletes both. Test-bed hosts only.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::host::{self, HOST_LINK};
use super::kind::{Fault, Injection, Kind};
use super::{is_tc_rate, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "host-bandwidth",
    about: "Limit the target's host link to a rate, both ways (test bed): `tbf` qdiscs on its \
            veth and on eth0 in its namespace, witnessed by `tc -s` showing both sending.",
    schema: HostBandwidth::json_schema,
    runtimes: host::RUNTIMES,
    disruptive: true,
    kubernetes: false,
    reverts: &[&HOST_LINK],
};

/// `kind: host-bandwidth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostBandwidth {
    /// A role on the host whose link is limited.
    pub target: Role,
    /// The rate, as `tc` reads it (`1mbit`, `500kbit`).
    pub rate: String,
}

impl Fault for HostBandwidth {
    host::host_fault_parts!();

    fn validate(&self) -> Result<(), String> {
        if is_tc_rate(&self.rate) {
            Ok(())
        } else {
            Err(format!(
                "`rate` `{}` is not a tc rate (e.g. `1mbit`, `500kbit`)",
                self.rate
            ))
        }
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, &self.rate))
    }
}

async fn inject(ctx: &Ctx<'_>, target: Role, rate: &str) -> Result<FaultEffect, FaultError> {
    let (name, bed) = host::bed_host_of(ctx, KIND.name, target)?;
    let tbf = ["root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"];
    let requested = ctx.clock.now_ms();
    let mut root_args = vec!["qdisc", "add", "dev", bed.link.as_str()];
    root_args.extend_from_slice(&tbf);
    host::tool("tc", &root_args)?;
    host::record_qdisc(ctx.stack, &name, &bed.link);
    let netns = format!("--net={}", bed.netns);
    let mut inner_args = vec![netns.as_str(), "tc", "qdisc", "add", "dev", "eth0"];
    inner_args.extend_from_slice(&tbf);
    host::tool("nsenter", &inner_args)?;
    host::record_qdisc(ctx.stack, &name, &format!("netns:{}", bed.netns));
    let in_place = ctx.clock.now_ms();

    // Witness: both qdiscs listed, and the one towards the host sending.
    let until = Instant::now() + ctx.deadline;
    loop {
        let outer = host::tool("tc", &["-s", "qdisc", "show", "dev", &bed.link])?;
        let inner = host::tool("nsenter", &[&netns, "tc", "-s", "qdisc", "show", "dev", "eth0"])?;
        let sent = sent_bytes(&outer);
        if outer.contains("qdisc tbf") && inner.contains("qdisc tbf") && sent > 0 {
            let evidence = json!({
                "host": name,
                "rate": rate,
                "towards_host": outer.trim(),
                "from_host": inner.trim(),
            });
            return Ok(ctx.witnessed(
                KIND.name,
                target,
                requested,
                in_place,
                format!(
                    "tbf at {rate} on {} and on eth0 in host {name}'s namespace; {sent} bytes sent through it",
                    bed.link
                ),
                evidence,
            ));
        }
        if Instant::now() >= until {
            let evidence = json!({ "host": name, "towards_host": outer.trim(), "from_host": inner.trim() });
            return Ok(ctx.unwitnessed(KIND.name, target, requested, evidence));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bytes `tc -s qdisc show` says the first qdisc has sent (`Sent N bytes`).
fn sent_bytes(listing: &str) -> u64 {
    listing
        .split("Sent ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_bytes_are_read_from_tc() {
        let listing = "qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 4Kb lat 400.0ms \n Sent 12345 bytes 80 pkt (dropped 0, overlimits 3 requeues 0)\n";
        assert_eq!(sent_bytes(listing), 12345);
        assert_eq!(sent_bytes("qdisc noqueue 0: root"), 0);
    }
}
