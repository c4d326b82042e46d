//! `gpu`: the worker inflicts a GPU fault on itself through its fault endpoint
//! (a real out-of-bounds or hang kernel on CUDA; an emulation with a real effect on
//! the CPU backend). Witness, by the reaction the worker reports:
//! - `exit`: its `die` event;
//! - `unhealthy`: its `/health` really failing (non-200), seen by the harness;
//! - `watchdog` (a hang the CPU backend holds): the worker's answer that the device is
//!   held; whether the stall watchdog then ends it shows in the recovery, not here;
//! - `continue`: the error class it reports.
//!
//! A fault made on the CPU backend says "emulated on the CPU backend" in its witness
//! and carries `"emulated": true` in its evidence.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::health_watch::{self, HealthFailure};
use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{Ctx, FaultEffect, FaultError};
use crate::clock::Clock;
use crate::report::display::EMULATED_ON_CPU as EMULATED;
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "gpu",
    about: "Ask the worker to inflict a GPU fault on itself through its fault endpoint. \
            Witness: the error class the worker reports, and its reaction (e.g. it exits).",
    schema: Gpu::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: true,
    reverts: &[],
};

/// `kind: gpu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// The worker.
    pub target: Role,
    /// Which GPU fault.
    pub fault: GpuFault,
    /// Xid number for `fault: xid` (e.g. 13, 48, 79).
    #[serde(default)]
    pub xid: Option<u32>,
}

impl Fault for Gpu {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        super::require_worker_target("gpu", self.target)?;
        if self.fault == GpuFault::Xid && self.xid.is_none() {
            return Err(
                "a `gpu` fault with `fault: xid` needs an `xid` number (e.g. 13, 48, 79)".into(),
            );
        }
        Ok(())
    }

    /// The worker's own endpoint makes it, wherever the worker runs.
    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, self.fault, self.xid))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target, self.fault, self.xid))
    }
}

/// GPU faults the worker can inflict on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GpuFault {
    /// An out-of-bounds kernel: sticky `CUDA_ERROR_ILLEGAL_ADDRESS`.
    IllegalAddress,
    /// A kernel that never finishes: the worker's watchdog must notice.
    Hang,
    /// Device memory exhausted (not sticky).
    Oom,
    /// A device error with an Xid number.
    Xid,
}

impl GpuFault {
    /// The matching fault kind of the worker's fault endpoint.
    pub fn worker_kind(self) -> contract::FaultKind {
        match self {
            GpuFault::IllegalAddress => contract::FaultKind::GpuIllegalAddress,
            GpuFault::Hang => contract::FaultKind::GpuHang,
            GpuFault::Oom => contract::FaultKind::GpuOom,
            GpuFault::Xid => contract::FaultKind::GpuXid,
        }
    }
}

async fn inject(
    ctx: &Ctx<'_>,
    target: Role,
    fault: GpuFault,
    xid: Option<u32>,
) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let from = stack.events().len();
    let request = contract::FaultRequest {
        kind: fault.worker_kind(),
        xid,
        duration_ms: None,
    };
    let requested = ctx.clock.now_ms();
    let report = post_fault(ctx, target, &request).await?;
    let answered = ctx.clock.now_ms();
    let mut evidence = json!({
        "report": report,
        "answered_at_ms": answered,
        "emulated": report.emulated,
    });
    if let Some(bytes) = report.allocated_bytes {
        evidence["allocated_bytes"] = json!(bytes);
    }
    if report.error_class.trim().is_empty() {
        evidence["why"] = json!("the worker reported no error class");
        return Ok(ctx.unwitnessed("gpu", target, requested, evidence));
    }
    let mut witness = format!(
        "worker hit {} and reacted `{}`",
        report.error_class, report.reaction
    );
    if let Some(bytes) = report.allocated_bytes {
        witness.push_str(&format!(" after {bytes} bytes really allocated"));
    }
    if report.emulated {
        witness.push_str(&format!(" ({EMULATED})"));
    }
    let mut in_effect = answered;
    match report.reaction.as_str() {
        "exit" => {
            let Some(die) = stack
                .events()
                .wait_for_action(from, target, "die", ctx.deadline)
                .await
            else {
                evidence["why"] = json!("no die event within the deadline");
                return Ok(ctx.unwitnessed("gpu", target, requested, evidence));
            };
            let code = die.attr("exitCode").unwrap_or("?").to_string();
            witness.push_str(&format!("; die event, exit code {code}"));
            evidence["exit_code"] = json!(code);
            evidence["died_at_ms"] = json!(die.at_ms);
        }
        "unhealthy" => {
            let url = format!("{}/health", worker_url(ctx, target)?);
            match unhealthy_witness(&url, ctx.clock, ctx.deadline).await {
                Ok(seen) => {
                    witness.push_str(&format!("; /health failed ({})", failure_words(&seen)));
                    in_effect = seen.seen_at_ms;
                    evidence["health_failure"] = json!(seen);
                }
                Err(why) => {
                    evidence["why"] = json!(why);
                    return Ok(ctx.unwitnessed("gpu", target, requested, evidence));
                }
            }
        }
        "watchdog" => {
            // The hang is in effect once the device is held; the watchdog's reaction is what
            // the drill tests, so its absence fails the drill (no recovery) rather than
            // making it inconclusive.
            match stack
                .events()
                .wait_for_action(from, target, "die", ctx.deadline)
                .await
            {
                Some(die) => {
                    let code = die.attr("exitCode").unwrap_or("?").to_string();
                    witness.push_str(&format!(
                        "; the stall watchdog ended it: die event, exit code {code}"
                    ));
                    evidence["exit_code"] = json!(code);
                    evidence["died_at_ms"] = json!(die.at_ms);
                }
                None => witness.push_str(&format!(
                    "; no reaction from the worker within {} s",
                    ctx.deadline.as_secs()
                )),
            }
        }
        _ => {}
    }
    Ok(ctx.witnessed("gpu", target, requested, in_effect, witness, evidence))
}

/// The witness of an `unhealthy` reaction: `/health` at `health_url` really failing within
/// `limit`. A worker that reports itself unhealthy while its health check answers 200 is not
/// one: the front door would keep sending it traffic.
pub(super) async fn unhealthy_witness(
    health_url: &str,
    clock: &Clock,
    limit: std::time::Duration,
) -> Result<HealthFailure, String> {
    health_watch::first_failure(health_url, clock, limit)
        .await
        .ok_or_else(|| {
            format!(
                "the worker reported `unhealthy` but {health_url} kept answering 200 for {} ms",
                limit.as_millis()
            )
        })
}

fn failure_words(seen: &HealthFailure) -> String {
    match (&seen.status, &seen.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(e)) => format!("no answer: {e}"),
        (None, None) => "no answer".into(),
    }
}

fn worker_url<'a>(ctx: &'a Ctx<'_>, target: Role) -> Result<&'a str, FaultError> {
    ctx.stack
        .worker_url(target)
        .ok_or_else(|| FaultError::Invalid {
            kind: "gpu".into(),
            reason: format!("`{target}` is not a worker"),
        })
}

/// POSTs a fault request to a worker's own port with the run's token.
pub(super) async fn post_fault(
    ctx: &Ctx<'_>,
    target: Role,
    request: &contract::FaultRequest,
) -> Result<contract::FaultReport, FaultError> {
    let stack = ctx.stack;
    let url = format!(
        "{}/v1/faults",
        stack
            .worker_url(target)
            .ok_or_else(|| FaultError::Invalid {
                kind: "gpu".into(),
                reason: format!("`{target}` is not a worker"),
            })?
    );
    let client = reqwest::Client::builder()
        .timeout(ctx.deadline.max(std::time::Duration::from_secs(2)))
        .build()
        .map_err(|e| FaultError::Worker {
            role: target,
            detail: e.to_string(),
        })?;
    let response = client
        .post(&url)
        .header(contract::FAULT_TOKEN_HEADER, stack.fault_token())
        .json(request)
        .send()
        .await
        .map_err(|e| FaultError::Worker {
            role: target,
            detail: format!("POST {url}: {e}"),
        })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(FaultError::Worker {
            role: target,
            detail: format!("POST {url} answered {status}: {}", body.trim()),
        });
    }
    response.json().await.map_err(|e| FaultError::Worker {
        role: target,
        detail: format!("POST {url}: the answer is not a FaultReport: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unhealthy_report_with_a_passing_health_check_is_not_witnessed() {
        // A worker that reports itself unhealthy, but whose /health still answers 200.
        let url = health_watch::health_server("200 OK").await;
        let clock = Clock::start();
        let why = unhealthy_witness(&url, &clock, std::time::Duration::from_millis(300))
            .await
            .expect_err("a 200 health check must not witness `unhealthy`");
        assert!(why.contains("kept answering 200"), "{why}");
    }
}
