//! `host-loss`: a share of the packets on the target host's link is dropped,
//! both ways: DROP rules with iptables' `statistic` match (random mode) in the
//! test bed's root chain, tagged with the run id. Witness: the rules' packet
//! counter rises. No `netem` is needed (this kernel has none). A `heal`
//! deletes the rules. Test-bed hosts only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::host::{self, HOST_LINK};
use super::host_partition::inject_drops;
use super::kind::{Fault, Injection, Kind};
use super::{Ctx, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "host-loss",
    about: "Drop a share of the packets on the target's host link, both ways (test bed): \
            iptables `statistic` DROP rules in TAKEOVER-TB, witnessed by their packet counter.",
    schema: HostLoss::json_schema,
    runtimes: host::RUNTIMES,
    disruptive: true,
    kubernetes: false,
    reverts: &[&HOST_LINK],
};

/// `kind: host-loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostLoss {
    /// A role on the host whose link loses packets.
    pub target: Role,
    /// Share of packets dropped, in percent (above 0, at most 100).
    pub percent: f64,
}

impl Fault for HostLoss {
    host::host_fault_parts!();

    fn validate(&self) -> Result<(), String> {
        if self.percent > 0.0 && self.percent <= 100.0 {
            Ok(())
        } else {
            Err(format!(
                "`percent` of {} must be above 0 and at most 100",
                self.percent
            ))
        }
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(async move {
            let probability = format!("{:.4}", self.percent / 100.0);
            let extra = [
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                probability.as_str(),
            ];
            inject_drops(ctx, KIND.name, self.target, &extra).await
        })
    }
}
