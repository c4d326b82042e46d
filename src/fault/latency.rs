//! `latency`: a `tc netem` delay on the target's eth0. Needs the kernel's
//! `sch_netem`; where it is missing, the fault is reported unavailable (never faked).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::sidecar::{self, Attach};
use super::{qdisc, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::units::serde_duration;
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "latency",
    about: "Delay the target's outbound packets (`tc netem`); reported unavailable where the kernel lacks netem.",
    schema: Latency::json_schema,
    runtimes: Runtimes::DockerOnly("it shapes the container's own network interface with tc"),
    kubernetes: false,
    disruptive: true,
    reverts: &[&qdisc::QDISC],
};

/// `kind: latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The container.
    pub target: Role,
    /// Added delay, e.g. `200ms`.
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub delay: Duration,
    /// Random variation of the delay, e.g. `20ms`.
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Duration>,
}

impl Fault for Latency {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        if self.delay.is_zero() || self.jitter.is_some_and(|j| j > self.delay) {
            Err("latency `delay` must be longer than 0s, and `jitter` at most the delay".into())
        } else {
            Ok(())
        }
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.network.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, self.delay, self.jitter))
    }
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => crate::stack::units::serde_duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "crate::stack::units::serde_duration")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    delay: Duration,
    jitter: Option<Duration>,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let delay_arg = format!("{}ms", delay.as_millis());
    let jitter_arg = jitter.map(|j| format!("{}ms", j.as_millis()));
    let mut argv = vec![
        "/usr/sbin/tc",
        "qdisc",
        "replace",
        "dev",
        "eth0",
        "root",
        "netem",
        "delay",
        &delay_arg,
    ];
    if let Some(j) = &jitter_arg {
        argv.push(j);
    }
    let requested = ctx.clock.now_ms();
    let run = sidecar::run(stack, Attach::NetNs(target), &argv, &[]).await?;
    if run.exit_code != 0 {
        let out = run.output.to_lowercase();
        if out.contains("unknown") || out.contains("no such file") || out.contains("not supported")
        {
            return Ok(ctx.unavailable(
                "latency",
                target,
                format!(
                    "this kernel has no netem queueing discipline (sch_netem), so latency cannot be added; \
                     tc said: {}",
                    run.output.trim()
                ),
            ));
        }
        return Err(run.ok(&argv).unwrap_err());
    }
    stack.fault_ledger().qdiscs.insert(target);
    let show = ["/usr/sbin/tc", "qdisc", "show", "dev", "eth0"];
    let listing = sidecar::run(stack, Attach::NetNs(target), &show, &[])
        .await?
        .ok(&show)?
        .output;
    if listing.contains("netem") && listing.contains("delay") {
        Ok(ctx.witnessed(
            "latency",
            target,
            requested,
            run.ended_at_ms.unwrap_or_else(|| ctx.clock.now_ms()),
            format!("netem qdisc with delay {delay_arg} on eth0"),
            json!({ "listing": listing }),
        ))
    } else {
        Ok(ctx.unwitnessed("latency", target, requested, json!({ "listing": listing })))
    }
}
