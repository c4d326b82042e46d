//! Job routes: create, status, audio, manifest.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use contract::{JobRequest, JobStatus, Manifest, SAMPLES_PER_FRAME, SAMPLE_RATE};
use http_body_util::BodyExt;

use super::error::ApiError;
use super::MAX_BODY_BYTES;
use crate::leases::start_job;
use crate::service::Service;
use crate::store::JobRecord;
use crate::validate::validate;

/// `POST /v1/jobs`: checks the request, creates the job in Redis owned by this
/// worker at epoch 1 and starts it. Nothing is written for a bad request.
pub async fn create(State(svc): State<Arc<Service>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let req: JobRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not a valid job request: {e}")))?;
    validate(&req).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    if let Some(why) = svc.unfit_reason() {
        return Err(ApiError::unavailable(format!(
            "this worker takes no jobs now: {why}"
        )));
    }
    let engine = svc.engine.clone();
    let script = req.script.clone();
    let plan = tokio::task::spawn_blocking(move || engine.plan(&script))
        .await
        .map_err(|e| ApiError::internal(format!("planner panicked: {e}")))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let frames_total = plan.frames_total();
    let id = svc.new_job_id();
    let created = svc
        .jobs
        .create(
            &id,
            &req,
            frames_total,
            &svc.cfg.worker_id,
            svc.cfg.lease_ttl,
        )
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot record the job: {e}")))?;
    if !created {
        return Err(ApiError::internal(format!(
            "job id {id} already exists; retry"
        )));
    }
    svc.metrics.jobs_created.fetch_add(1, Ordering::Relaxed);
    let record = load(&svc, &id).await?;
    let status = record.status.clone();
    start_job(&svc, record, 1);
    Ok((StatusCode::CREATED, Json(status)).into_response())
}

/// Most bytes read (and thrown away) from an oversized body before answering 413,
/// so the client sees the answer instead of a connection reset.
const DRAIN_LIMIT: usize = 64 << 20;

/// Reads a request body of at most [`MAX_BODY_BYTES`].
async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body ({} bytes or more) is larger than the {} MiB limit; send a shorter script",
                seen,
                MAX_BODY_BYTES >> 20
            ),
        ));
    }
    Ok(Bytes::from(buf))
}

/// Job ids are `[A-Za-z0-9_-]{1,64}`; anything else could escape the data directory.
fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{id:?} is not a job id (letters, digits, '-' and '_', at most 64)"
        )))
    }
}

async fn load(svc: &Service, id: &str) -> Result<JobRecord, ApiError> {
    check_id(id)?;
    svc.jobs
        .job(id)
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot read the job: {e}")))?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

/// `GET /v1/jobs/{id}`.
pub async fn status(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    Ok(Json(load(&svc, &id).await?.status))
}

async fn manifest_of(svc: &Service, record: &JobRecord) -> Result<Manifest, ApiError> {
    let chunks = svc
        .jobs
        .chunks(&record.id, record.status.chunks_committed)
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot read the chunks: {e}")))?;
    Ok(Manifest {
        job_id: record.id.clone(),
        sample_rate: SAMPLE_RATE,
        samples_per_frame: SAMPLES_PER_FRAME as u64,
        chunk_frames: record.chunk_frames,
        frames_total: record.status.frames_total,
        total_samples: record.status.frames_total * SAMPLES_PER_FRAME as u64,
        chunks,
    })
}

/// `GET /v1/jobs/{id}/manifest`: the committed chunks.
pub async fn manifest(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Json<Manifest>, ApiError> {
    let record = load(&svc, &id).await?;
    Ok(Json(manifest_of(&svc, &record).await?))
}

/// `GET /v1/jobs/{id}/audio`: a WAV of the committed chunks, each checked against
/// its committed hash (a damaged chunk is an error, never served).
pub async fn audio(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = load(&svc, &id).await?;
    let manifest = manifest_of(&svc, &record).await?;
    let files = svc.files.clone();
    let samples = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for c in &manifest.chunks {
            out.extend(files.read_chunk(
                &manifest.job_id,
                c.index,
                c.epoch,
                c.sample_count,
                &c.blake3,
            )?);
        }
        Ok::<_, crate::store::FileStoreError>(out)
    })
    .await
    .map_err(|e| ApiError::internal(format!("chunk reader panicked: {e}")))?
    .map_err(|e| ApiError::internal(format!("the job's audio cannot be served: {e}")))?;
    let wav = contract::write_wav_bytes(&samples);
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}
