//! The worker's HTTP API (axum); documented in `docs/worker-api.md`.

mod error;
mod jobs;
mod ops;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::service::Service;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Every route of the worker.
pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/jobs", post(jobs::create))
        .route("/v1/jobs/{id}", get(jobs::status))
        .route("/v1/jobs/{id}/audio", get(jobs::audio))
        .route("/v1/jobs/{id}/manifest", get(jobs::manifest))
        .route("/v1/faults", post(ops::fault))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(svc)
}
