//! `bandwidth`: a token-bucket (`tc tbf`) root qdisc on the target's eth0 limits
//! what it sends. Witness: the qdisc is listed and its byte counter moves.

use std::time::{Duration, Instant};

use serde_json::json;

use super::sidecar::{self, Attach};
use super::{Ctx, FaultEffect, FaultError};
use crate::stack::Role;

pub(super) async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    rate: &str,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    if !rate.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(FaultError::Invalid {
            kind: "bandwidth".into(),
            reason: format!("rate `{rate}` is not a tc rate; write it like `1mbit` or `500kbit`"),
        });
    }
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
    stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .qdiscs
        .insert(target);
    let in_place_at = added.ended_at_ms.unwrap_or_else(|| ctx.clock.now_ms());
    let until = Instant::now() + ctx.deadline;
    let mut first: Option<u64> = None;
    loop {
        let show = ["/usr/sbin/tc", "-s", "qdisc", "show", "dev", "eth0"];
        let listing = sidecar::run(stack, Attach::NetNs(target), &show, &[])
            .await?
            .ok(&show)?
            .output;
        let sent = tbf_sent_bytes(&listing);
        match (first, sent) {
            (Some(a), Some(b)) if b > a => {
                return Ok(ctx.witnessed(
                    "bandwidth",
                    target,
                    requested,
                    in_place_at,
                    format!(
                        "tbf qdisc at {rate} on eth0; {} bytes went through it",
                        b - a
                    ),
                    json!({ "rate": rate, "listing": listing }),
                ))
            }
            (None, Some(b)) => first = Some(b),
            _ => {}
        }
        if Instant::now() >= until {
            return Ok(ctx.unwitnessed(
                "bandwidth",
                target,
                requested,
                json!({ "rate": rate, "listing": listing }),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
