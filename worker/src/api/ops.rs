//! Operational routes: health, readiness, metrics, faults.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use contract::{FaultRequest, HealthCheck, HealthReport, FAULT_TOKEN_HEADER};

use super::error::ApiError;
use crate::faults::{self, FaultError};
use crate::service::Service;

/// Longest the data-directory probe or the device self-test may take in a health check.
const CHECK_LIMIT: Duration = Duration::from_secs(2);

fn check(name: &str, result: Result<String, String>) -> HealthCheck {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    HealthCheck {
        name: name.into(),
        ok,
        detail,
    }
}

/// Runs every check: device, watchdog, Redis, data directory.
pub async fn report(svc: &Arc<Service>) -> HealthReport {
    let gpu = gpu_check(svc).await;
    let watchdog = match svc.watchdog_reason() {
        Some(r) => Err(r),
        None if svc.stalled() => Err("synthesis is stalled by an injected fault".into()),
        None => Ok(format!(
            "{} job(s) held, all making progress",
            svc.owned_jobs().len()
        )),
    };
    let redis = svc
        .jobs
        .ping()
        .await
        .map(|()| format!("{} answers", svc.jobs.url()))
        .map_err(|e| e.to_string());
    let files = svc.files.clone();
    let worker = svc.cfg.worker_id.clone();
    let data = match tokio::time::timeout(
        CHECK_LIMIT,
        tokio::task::spawn_blocking(move || files.probe(&worker)),
    )
    .await
    {
        Ok(Ok(Ok(()))) => Ok(format!("{} is writable", svc.files.root().display())),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("probe panicked: {e}")),
        Err(_) => Err(format!(
            "{} did not answer within {} s",
            svc.files.root().display(),
            CHECK_LIMIT.as_secs()
        )),
    };
    let checks = vec![
        check("gpu", gpu),
        check("watchdog", watchdog),
        check("redis", redis),
        check("data", data),
    ];
    HealthReport {
        ok: checks.iter().all(|c| c.ok),
        worker: svc.cfg.worker_id.clone(),
        backend: svc.engine.backend_name().into(),
        checks,
        contract_version: Some(contract::CONTRACT_VERSION.to_string()),
    }
}

async fn gpu_check(svc: &Arc<Service>) -> Result<String, String> {
    if let Some(r) = svc.fatal_reason() {
        return Err(format!("sticky error, exiting for a restart: {r}"));
    }
    if let Some(r) = svc.device_bad_reason() {
        return Err(format!("device marked bad, out of service: {r}"));
    }
    if !svc.engine_suspect() {
        return Ok(format!(
            "{} backend, no errors seen",
            svc.engine.backend_name()
        ));
    }
    // After an error, only a real piece of work on the device may say it is fine.
    let engine = svc.engine.clone();
    match tokio::time::timeout(
        CHECK_LIMIT,
        tokio::task::spawn_blocking(move || engine.self_test()),
    )
    .await
    {
        Ok(Ok(Ok(()))) => {
            svc.engine_cleared();
            Ok(format!(
                "{} backend, self-test passed after an earlier error",
                svc.engine.backend_name()
            ))
        }
        Ok(Ok(Err(e))) => {
            svc.on_engine_error(&e);
            Err(format!("self-test failed: {e}"))
        }
        Ok(Err(e)) => Err(format!("self-test panicked: {e}")),
        Err(_) => Err(format!(
            "self-test did not finish within {} s",
            CHECK_LIMIT.as_secs()
        )),
    }
}

fn answer(r: HealthReport) -> Response {
    let code = if r.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r)).into_response()
}

/// `GET /health`: 200 when every check passes, else 503.
pub async fn health(State(svc): State<Arc<Service>>) -> Response {
    answer(report(&svc).await)
}

/// `GET /ready`: the same checks, plus: the worker is fit to take jobs.
pub async fn ready(State(svc): State<Arc<Service>>) -> Response {
    let mut r = report(&svc).await;
    let fit = svc.unfit_reason();
    r.checks
        .push(check("ready", fit.map_or(Ok("taking jobs".into()), Err)));
    r.ok = r.checks.iter().all(|c| c.ok);
    answer(r)
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(svc): State<Arc<Service>>) -> Response {
    let healthy = svc.unfit_reason().is_none();
    let text = svc.metrics.render(
        &svc.cfg.worker_id,
        svc.engine.backend_name(),
        healthy,
        svc.owned_jobs().len(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `POST /v1/faults`: 404 unless fault injection is on, 401 without the right token.
pub async fn fault(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<contract::FaultReport>, ApiError> {
    let Some(token) = svc.cfg.fault_token.as_deref() else {
        return Err(ApiError::not_found(
            "fault injection is off; start the worker with --fault-injection and the token in $SYNTH_WORKER_FAULT_TOKEN",
        ));
    };
    let given = headers
        .get(FAULT_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("missing or wrong {FAULT_TOKEN_HEADER} header"),
        ));
    }
    let req: FaultRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a valid fault request: {e}"))
    })?;
    faults::inject(&svc, req)
        .await
        .map(Json)
        .map_err(|e| match e {
            FaultError::NoMemoryLimit => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            FaultError::MissingXid => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            FaultError::Engine { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
