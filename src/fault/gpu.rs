//! `gpu`: the worker inflicts a GPU fault on itself through its fault endpoint
//! (a real out-of-bounds or hang kernel on CUDA; the same error class on CPU).
//! Witness: the error class the worker reports, and its reaction (it exits,
//! or reports unhealthy).

use serde_json::json;

use super::{Ctx, FaultEffect, FaultError, GpuFault};
use crate::stack::Role;

pub(super) async fn inject(
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
    if report.error_class.trim().is_empty() {
        return Ok(ctx.unwitnessed(
            "gpu",
            target,
            requested,
            json!({ "report": report, "why": "the worker reported no error class" }),
        ));
    }
    // The reaction: a worker that exits shows a `die` event; one that turns unhealthy fails /health.
    let mut evidence = json!({ "report": report, "answered_at_ms": answered });
    let mut witness = format!(
        "worker hit {} and reacted `{}`",
        report.error_class, report.reaction
    );
    if report.reaction == "exit" {
        if let Some(die) = stack
            .events()
            .wait_for_action(from, target, "die", ctx.deadline)
            .await
        {
            let code = die.attr("exitCode").unwrap_or("?").to_string();
            witness.push_str(&format!("; die event, exit code {code}"));
            evidence["exit_code"] = json!(code);
            evidence["died_at_ms"] = json!(die.at_ms);
        } else {
            witness.push_str("; but no die event within the deadline");
            return Ok(ctx.unwitnessed("gpu", target, requested, evidence));
        }
    }
    Ok(ctx.witnessed("gpu", target, requested, answered, witness, evidence))
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
