//! HTTP calls to a worker's job API (through the front door or directly).

use std::time::Duration;

use contract::{JobRequest, JobStatus, Manifest};

/// Why a job call failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// No answer (connection refused, timeout, ...).
    #[error("{what}: no answer from {url}: {source}")]
    Transport {
        /// The call.
        what: &'static str,
        /// The URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// An answer that was not a success.
    #[error("{what}: {url} answered {status}: {body}")]
    Status {
        /// The call.
        what: &'static str,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A success whose body was not what the contract says.
    #[error("{what}: {url} sent a body that is not a {expected}: {message}")]
    Body {
        /// The call.
        what: &'static str,
        /// The URL.
        url: String,
        /// The expected type.
        expected: &'static str,
        /// The parse error.
        message: String,
    },
}

/// A client for one base URL (`http://127.0.0.1:<port>`).
#[derive(Debug, Clone)]
pub struct JobClient {
    base: String,
    http: reqwest::Client,
}

impl JobClient {
    /// A client for `base` whose calls give up after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(2)
            .no_proxy()
            .build()
            .expect("a reqwest client with a timeout builds");
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        what: &'static str,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, WorkloadError> {
        let resp = req
            .send()
            .await
            .map_err(|source| WorkloadError::Transport {
                what,
                url: url.to_string(),
                source,
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Err(WorkloadError::Status {
            what,
            url: url.to_string(),
            status,
            body: body.chars().take(300).collect(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        expected: &'static str,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, WorkloadError> {
        let resp = self.send(what, req, url).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| WorkloadError::Transport {
                what,
                url: url.to_string(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|e| WorkloadError::Body {
            what,
            url: url.to_string(),
            expected,
            message: e.to_string(),
        })
    }

    /// `POST /v1/jobs`.
    pub async fn submit(&self, request: &JobRequest) -> Result<JobStatus, WorkloadError> {
        let url = format!("{}/v1/jobs", self.base);
        self.json(
            "submitting the job",
            "JobStatus",
            self.http.post(&url).json(request),
            &url,
        )
        .await
    }

    /// `GET /v1/jobs/{id}`.
    pub async fn status(&self, id: &str) -> Result<JobStatus, WorkloadError> {
        let url = format!("{}/v1/jobs/{id}", self.base);
        self.json(
            "reading the job status",
            "JobStatus",
            self.http.get(&url),
            &url,
        )
        .await
    }

    /// `GET /v1/jobs/{id}/manifest`.
    pub async fn manifest(&self, id: &str) -> Result<Manifest, WorkloadError> {
        let url = format!("{}/v1/jobs/{id}/manifest", self.base);
        self.json(
            "fetching the manifest",
            "Manifest",
            self.http.get(&url),
            &url,
        )
        .await
    }

    /// `GET /v1/jobs/{id}/audio`: the WAV bytes.
    pub async fn audio(&self, id: &str) -> Result<Vec<u8>, WorkloadError> {
        let url = format!("{}/v1/jobs/{id}/audio", self.base);
        let resp = self
            .send("fetching the audio", self.http.get(&url), &url)
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| WorkloadError::Transport {
                what: "fetching the audio",
                url: url.clone(),
                source,
            })?;
        Ok(bytes.to_vec())
    }
}
