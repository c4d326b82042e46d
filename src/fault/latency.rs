//! `latency`: a `tc netem` delay on the target's eth0. Needs the kernel's
//! `sch_netem`; where it is missing, the fault is reported unavailable (never faked).

use std::time::Duration;

use serde_json::json;

use super::sidecar::{self, Attach};
use super::{Ctx, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn inject(
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
    stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .qdiscs
        .insert(target);
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
