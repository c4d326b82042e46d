//! `bandwidth`: a token-bucket (`tc tbf`) root qdisc on the target's eth0 limits
//! what it sends. Witness: the rate measured through that link (pipelined GETs,
//! or Redis `INFO` for the state store, to the target's published port,
//! answered out of its eth0) is at most the limit plus a margin. The qdisc
//! being listed is not enough: a limit that does not slow the traffic is no
//! fault. A rate that cannot be measured (no port to ask, nothing came) leaves
//! the fault unwitnessed.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::sidecar::{self, Attach};
use super::throughput::{self, Measured, Pipeline};
use super::{qdisc, Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::{Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "bandwidth",
    about: "Limit the target's outbound bandwidth (`tc tbf`). Witness: the qdisc is listed and its counters move.",
    schema: Bandwidth::json_schema,
    runtimes: Runtimes::DockerOnly("it shapes the container's own network interface with tc"),
    kubernetes: false,
    disruptive: true,
    reverts: &[&qdisc::QDISC],
};

/// `kind: bandwidth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bandwidth {
    /// The container.
    pub target: Role,
    /// Rate as `tc` writes it: `1mbit`, `500kbit`.
    pub rate: String,
}

impl Fault for Bandwidth {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        if is_tc_rate(&self.rate) {
            Ok(())
        } else {
            Err(format!(
                "bandwidth `rate` `{}` is not a tc rate; write a number and a unit like `1mbit`, `500kbit` or `2mbps`",
                self.rate.escape_debug()
            ))
        }
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.network.insert(self.target);
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, &self.rate))
    }
}

/// A rate as `tc` reads it: a positive number and a known unit (`1mbit`, `500kbit`, `2mbps`).
pub fn is_tc_rate(rate: &str) -> bool {
    const UNITS: [&str; 12] = [
        "bit", "kbit", "mbit", "gbit", "tbit", "bps", "kbps", "mbps", "gbps", "tbps", "kibit",
        "mibit",
    ];
    let split = rate
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rate.len());
    let (number, unit) = rate.split_at(split);
    let positive = number
        .parse::<f64>()
        .is_ok_and(|n| n.is_finite() && n > 0.0);
    positive && UNITS.contains(&unit.to_ascii_lowercase().as_str())
}

/// How far over the limit a measured rate may be and still witness it: the bucket's
/// 32 kbit burst leaves at line rate inside the measurement.
const MARGIN: f64 = 0.5;
/// Shortest time a measurement may take before it is given up.
const MIN_MEASURE_LIMIT: Duration = Duration::from_secs(5);

async fn inject(ctx: &Ctx<'_>, target: Role, rate: &str) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let limit_bits = throughput::tc_rate_bits(rate).ok_or_else(|| FaultError::Invalid {
        kind: "bandwidth".into(),
        reason: format!("rate `{rate}` is not a tc rate; write it like `1mbit` or `500kbit`"),
    })?;
    let requested = ctx.clock.now_ms();
    let argv = [
        "/usr/sbin/tc",
        "qdisc",
        "replace",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        rate,
        "burst",
        "32kbit",
        "latency",
        "400ms",
    ];
    let added = sidecar::run(stack, Attach::NetNs(target), &argv, &[])
        .await?
        .ok(&argv)?;
    stack.fault_ledger().qdiscs.insert(target);
    let in_place_at = added.ended_at_ms.unwrap_or_else(|| ctx.clock.now_ms());
    let mut evidence = json!({ "rate": rate, "limit_bits_per_second": limit_bits, "qdisc_in_place_at_ms": in_place_at });
    let want = throughput::bytes_to_move(limit_bits);
    let Some((addr, pipeline)) = measuring_point(stack, target, want) else {
        evidence["why"] = json!(format!(
            "`{target}` has no published port to measure its outbound rate through"
        ));
        return Ok(ctx.unwitnessed("bandwidth", target, requested, evidence));
    };
    evidence["measured_through"] = json!(format!("{} on {addr}", pipeline.what));
    // Four times the time the transfer takes at the limit, within the witness deadline.
    let expected = Duration::from_secs_f64(want as f64 * 8.0 / limit_bits);
    let measure_limit = (expected * 4)
        .max(MIN_MEASURE_LIMIT)
        .min(ctx.deadline.max(MIN_MEASURE_LIMIT));
    let measured = throughput::measure(&addr, &pipeline, want, measure_limit, ctx.clock).await;
    let show = ["/usr/sbin/tc", "-s", "qdisc", "show", "dev", "eth0"];
    let listing = sidecar::run(stack, Attach::NetNs(target), &show, &[])
        .await?
        .ok(&show)?
        .output;
    evidence["tbf_sent_bytes"] = json!(tbf_sent_bytes(&listing));
    evidence["listing"] = json!(listing);
    Ok(judge(
        ctx, target, rate, limit_bits, requested, measured, evidence,
    ))
}

/// The effect, from the measured rate: witnessed only under the limit plus [`MARGIN`].
fn judge(
    ctx: &Ctx<'_>,
    target: Role,
    rate: &str,
    limit_bits: f64,
    requested: f64,
    measured: Result<Measured, String>,
    mut evidence: serde_json::Value,
) -> FaultEffect {
    let m = match measured {
        Ok(m) => m,
        Err(why) => {
            evidence["why"] = json!(format!("the rate could not be measured: {why}"));
            return ctx.unwitnessed("bandwidth", target, requested, evidence);
        }
    };
    evidence["measured"] = json!(m);
    evidence["measured_bits_per_second"] = json!(m.bits_per_second);
    if !throughput::under_limit(m.bits_per_second, limit_bits, MARGIN) {
        evidence["why"] = json!(format!(
            "measured {} kbit/s out of {target}, over the {rate} limit plus {}%: the qdisc does not hold the traffic back",
            (m.bits_per_second / 1000.0).round(),
            (MARGIN * 100.0) as u32
        ));
        return ctx.unwitnessed("bandwidth", target, requested, evidence);
    }
    let words = format!(
        "tbf qdisc at {rate} on eth0; measured {:.1} kbit/s out of it ({} bytes in {:.2} s)",
        m.bits_per_second / 1000.0,
        m.bytes,
        m.seconds
    );
    ctx.witnessed(
        "bandwidth",
        target,
        requested,
        m.first_byte_at_ms,
        words,
        evidence,
    )
}

/// Where the target's outbound rate can be measured and what to ask it: the
/// published port and pipelined requests with small answers (a worker's
/// metrics, the front door's proxied health, Redis `INFO`).
fn measuring_point(stack: &Stack, target: Role, want: u64) -> Option<(String, Pipeline)> {
    let http = |url: &str, path: &str| {
        let addr = url
            .strip_prefix("http://")?
            .trim_end_matches('/')
            .to_string();
        Some((addr, throughput::http_pipeline(path, want)))
    };
    match target {
        Role::Frontdoor => http(stack.frontdoor_url(), "/health"),
        Role::State => Some((
            stack.redis_addr().to_string(),
            throughput::redis_pipeline(stack.redis_password(), want),
        )),
        _ => http(stack.worker_url(target)?, "/metrics"),
    }
}

/// Bytes sent through the tbf qdisc, from `tc -s qdisc show` (None when there is no tbf).
pub fn tbf_sent_bytes(listing: &str) -> Option<u64> {
    let mut in_tbf = false;
    for line in listing.lines() {
        let t = line.trim();
        if t.starts_with("qdisc ") {
            in_tbf = t.starts_with("qdisc tbf ");
        } else if in_tbf && t.starts_with("Sent ") {
            return t.split_whitespace().nth(1).and_then(|n| n.parse().ok());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_bytes_come_from_the_tbf_block() {
        let listing = "qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 4Kb lat 400ms\n Sent 4242 bytes 37 pkt (dropped 0, overlimits 0 requeues 0)\n backlog 0b 0p requeues 0\n";
        assert_eq!(tbf_sent_bytes(listing), Some(4242));
        let noqueue = "qdisc noqueue 0: root refcnt 2\n Sent 0 bytes 0 pkt\n";
        assert_eq!(tbf_sent_bytes(noqueue), None);
    }
}
