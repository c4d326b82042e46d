//! The requests of a conformance run, and the answers as they came.
//!
//! Every request goes to the URL the user named (its scheme, host and port,
//! below its path): redirects are not followed and no proxy is used, so the run
//! touches nothing but the user's own service.

use std::time::{Duration, Instant};

use contract::{HealthReport, JobOptions, JobRequest, JobState, JobStatus, Script, Turn};

/// What a conformance run needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The service's base URL, e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    pub url: String,
    /// The job to submit.
    pub request: JobRequest,
    /// The longest one request may take.
    pub request_timeout: Duration,
    /// The longest the job may take to finish, from its submission.
    pub job_timeout: Duration,
    /// Time between two status polls.
    pub poll_interval: Duration,
}

/// Why a run could not even start.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The URL is not one this command can use.
    #[error("{url:?} is not a usable service URL: {why} (expected e.g. http://127.0.0.1:8080)")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// Nothing answered the first request.
    #[error("nothing answers at {url}: GET /health got no answer ({message}); is the service running and listening there?")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The transport error.
        message: String,
    },
}

/// An HTTP answer: its status, its `Content-Type` and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body read as `T`, or why it is not one.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }

    /// The start of the body as text, for evidence.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut s: String = text.chars().take(120).collect();
        if text.chars().count() > 120 {
            s.push_str("...");
        }
        s
    }
}

/// What one request got: an answer, or none (the transport error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The service answered.
    Answer(Answer),
    /// No answer: refused, reset, timed out.
    NoAnswer(String),
}

impl Seen {
    /// The answer, if there was one.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Seen::Answer(a) => Some(a),
            Seen::NoAnswer(_) => None,
        }
    }
}

/// One status poll: when it was sent (ms after the submission) and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    /// Milliseconds after the submission was answered.
    pub at_ms: u64,
    /// The answer.
    pub seen: Seen,
}

/// Everything a run saw; the clauses read only this.
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    /// The base URL.
    pub url: String,
    /// The job submitted.
    pub request: JobRequest,
    /// `GET /health`.
    pub health: Seen,
    /// `POST /v1/jobs` with the job.
    pub submit: Seen,
    /// The same `POST` again with the same `Idempotency-Key`; `None` when the
    /// first gave no job.
    pub repeat: Option<Seen>,
    /// `GET /v1/jobs/{id}` until the job ended or the time ran out.
    pub polls: Vec<Polled>,
    /// The time the job had to finish.
    pub job_timeout: Duration,
    /// `GET /v1/jobs/{id}/audio` once the job ended; `None` when it did not.
    pub audio: Option<Seen>,
    /// `GET /v1/jobs/{id}/manifest` once the job ended; `None` when it did not.
    pub manifest: Option<Seen>,
    /// `GET /v1/jobs/{id}` for an id no job has.
    pub unknown_job: Seen,
    /// `POST /v1/jobs` with a body that is not JSON.
    pub not_json: Seen,
    /// `POST /v1/jobs` with a field the contract does not have.
    pub unknown_field: Seen,
    /// `POST /v1/jobs` with a well-formed request that has no turns.
    pub no_turns: Seen,
}

impl Observations {
    /// The health report, if `/health` answered with one.
    pub fn health_report(&self) -> Option<HealthReport> {
        self.health.answer()?.json().ok()
    }

    /// The submitted job's status, if the submission was accepted with one.
    pub fn submitted(&self) -> Option<JobStatus> {
        let a = self.submit.answer()?;
        if !(200..300).contains(&a.status) {
            return None;
        }
        a.json().ok()
    }

    /// The submitted job's id.
    pub fn job_id(&self) -> Option<String> {
        self.submitted().map(|s| s.id)
    }

    /// The statuses the polls read, in order (polls without one left out).
    pub fn statuses(&self) -> Vec<JobStatus> {
        self.polls
            .iter()
            .filter_map(|p| p.seen.answer())
            .filter(|a| a.status == 200)
            .filter_map(|a| a.json().ok())
            .collect()
    }

    /// The last status read, when the job had ended by then.
    pub fn final_status(&self) -> Option<JobStatus> {
        self.statuses()
            .pop()
            .filter(|s| matches!(s.state, JobState::Done | JobState::Failed))
    }
}

/// The short job a run submits unless the user picks a script: two speakers,
/// 39 frames (5.2 s of audio) in five chunks, the last one short, paced to about
/// 2 s so that its status is seen running.
pub fn default_request() -> JobRequest {
    request_for(Script {
        turns: vec![
            Turn {
                speaker: "mara".into(),
                text: "The night shift starts now, check the lights.".into(),
            },
            Turn {
                speaker: "jonas".into(),
                text: "All green on my side.".into(),
            },
        ],
        seed: 7,
    })
}

/// A request for `script` with the options a run uses: chunks of 8 frames,
/// paced at 0.4 wall seconds per second of audio.
pub fn request_for(script: Script) -> JobRequest {
    JobRequest {
        script,
        options: JobOptions {
            chunk_frames: 8,
            pace_rtf: Some(0.4),
        },
    }
}

/// Checks that `url` is a plain `http://host[:port][/path]` and returns it without a trailing slash.
pub fn base_url(url: &str) -> Result<String, ObserveError> {
    let bad = |why: &str| ObserveError::BadUrl {
        url: url.to_string(),
        why: why.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "http" {
        return Err(bad("only http:// is supported"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a query or fragment has no place in a base URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials in the URL are not supported"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(base: String, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("a reqwest client with a timeout builds");
        Self { base, http }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Seen {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Seen::NoAnswer(error_text(&e)),
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match resp.bytes().await {
            Ok(body) => Seen::Answer(Answer {
                status,
                content_type,
                body: body.to_vec(),
            }),
            Err(e) => Seen::NoAnswer(format!(
                "answered {status}, then the body broke off: {}",
                error_text(&e)
            )),
        }
    }

    async fn get(&self, path: &str) -> Seen {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Vec<u8>, key: Option<&str>) -> Seen {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        self.send(req).await
    }
}

/// A transport error by its causes: reqwest's own text only repeats the URL.
fn error_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within --request-timeout".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// A name no job has: letters, digits and '-' as the contract's ids.
fn unused_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("conformance-no-such-job-{}-{nanos}", std::process::id())
}

/// Sends every request of a run to `config.url` and records the answers.
/// Fails only when the URL is unusable or nothing answers `/health`.
pub async fn observe(config: &Config) -> Result<Observations, ObserveError> {
    let base = base_url(&config.url)?;
    let client = Client::new(base.clone(), config.request_timeout);
    let health = client.get("/health").await;
    if let Seen::NoAnswer(message) = &health {
        return Err(ObserveError::Unreachable {
            url: base,
            message: message.clone(),
        });
    }
    let body = serde_json::to_vec(&config.request).expect("a job request serializes");
    let key = format!("takeover-conformance-{}", unused_id());
    let submit = client.post("/v1/jobs", body.clone(), Some(&key)).await;
    let submitted_at = Instant::now();
    let accepted: Option<JobStatus> = submit
        .answer()
        .filter(|a| (200..300).contains(&a.status))
        .and_then(|a| a.json().ok());
    let mut obs = Observations {
        url: base,
        request: config.request.clone(),
        health,
        submit,
        repeat: None,
        polls: Vec::new(),
        job_timeout: config.job_timeout,
        audio: None,
        manifest: None,
        unknown_job: Seen::NoAnswer(String::new()),
        not_json: Seen::NoAnswer(String::new()),
        unknown_field: Seen::NoAnswer(String::new()),
        no_turns: Seen::NoAnswer(String::new()),
    };
    if let Some(job) = accepted {
        obs.repeat = Some(client.post("/v1/jobs", body, Some(&key)).await);
        let path = format!("/v1/jobs/{}", job.id);
        let ended = poll(&client, &path, submitted_at, config, &mut obs.polls).await;
        if ended {
            obs.audio = Some(client.get(&format!("{path}/audio")).await);
            obs.manifest = Some(client.get(&format!("{path}/manifest")).await);
        }
    }
    obs.unknown_job = client.get(&format!("/v1/jobs/{}", unused_id())).await;
    obs.not_json = client
        .post("/v1/jobs", b"this is not a job request".to_vec(), None)
        .await;
    let mut extra = serde_json::to_value(&config.request).expect("a job request serializes");
    extra["voice_clone"] = serde_json::Value::Bool(true);
    obs.unknown_field = client
        .post("/v1/jobs", extra.to_string().into_bytes(), None)
        .await;
    let no_turns = serde_json::json!({"script": {"turns": [], "seed": 0}});
    obs.no_turns = client
        .post("/v1/jobs", no_turns.to_string().into_bytes(), None)
        .await;
    Ok(obs)
}

/// Polls `path` until the job is `done` or `failed` or the job's time is up;
/// true when it ended.
async fn poll(
    client: &Client,
    path: &str,
    since: Instant,
    config: &Config,
    polls: &mut Vec<Polled>,
) -> bool {
    loop {
        let at = since.elapsed();
        let seen = client.get(path).await;
        let ended = seen
            .answer()
            .filter(|a| a.status == 200)
            .and_then(|a| a.json::<JobStatus>().ok())
            .is_some_and(|s| matches!(s.state, JobState::Done | JobState::Failed));
        polls.push(Polled {
            at_ms: at.as_millis() as u64,
            seen,
        });
        if ended {
            return true;
        }
        if since.elapsed() + config.poll_interval > config.job_timeout {
            return false;
        }
        tokio::time::sleep(config.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_base_urls_are_taken() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url("http://svc.local:80/api").unwrap(),
            "http://svc.local:80/api"
        );
        for bad in [
            "127.0.0.1:8080",
            "https://x:1",
            "ftp://x",
            "http://u:p@x:1",
            "http://x:1/?a=b",
            "not a url",
        ] {
            let err = base_url(bad).unwrap_err().to_string();
            assert!(err.contains("not a usable service URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_default_job_is_short_paced_and_ends_in_a_short_chunk() {
        let req = default_request();
        let frames = contract::script_frames(&req.script);
        assert_eq!(frames, 39);
        assert_eq!(frames % u64::from(req.options.chunk_frames), 7);
        let wall = frames as f64 / contract::FRAME_RATE_HZ * req.options.pace_rtf.unwrap();
        assert!((1.5..3.0).contains(&wall), "{wall}");
    }
}
