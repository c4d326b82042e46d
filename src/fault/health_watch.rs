//! Watching a worker's `/health` until it really fails: the witness of a reaction that turns
//! the worker unhealthy. The worker saying it is unhealthy is not enough; a health check that
//! still answers 200 keeps the front door on it.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;

/// How often `/health` is asked.
pub const HEALTH_POLL: Duration = Duration::from_millis(50);
/// Longest one `/health` request may take before it counts as failed.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// The first answer of `/health` that was not 200.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthFailure {
    /// When the failing request was sent, clock ms.
    pub sent_at_ms: f64,
    /// When its answer (or error) came, clock ms: the moment it was seen failing.
    pub seen_at_ms: f64,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The transport error, when there was none.
    pub error: Option<String>,
}

/// Asks `health_url` every [`HEALTH_POLL`] until it answers anything but 200 (or does not
/// answer), for at most `limit`; `None` when it stayed 200 throughout.
pub async fn first_failure(
    health_url: &str,
    clock: &Clock,
    limit: Duration,
) -> Option<HealthFailure> {
    let client = reqwest::Client::builder()
        .timeout(HEALTH_TIMEOUT)
        .build()
        .ok()?;
    let until = tokio::time::Instant::now() + limit;
    loop {
        let sent_at_ms = clock.now_ms();
        let answer = client.get(health_url).send().await;
        let seen_at_ms = clock.now_ms();
        let failure = match answer {
            Ok(r) if r.status().as_u16() == 200 => None,
            Ok(r) => Some((Some(r.status().as_u16()), None)),
            Err(e) => Some((None, Some(e.to_string()))),
        };
        if let Some((status, error)) = failure {
            return Some(HealthFailure {
                sent_at_ms,
                seen_at_ms,
                status,
                error,
            });
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// A health endpoint stand-in for tests: a loopback server answering every request with
/// `status` (e.g. `"503 Service Unavailable"`); returns its `/health` URL.
#[cfg(test)]
pub(crate) async fn health_server(status: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf).await;
                let body = r#"{"ok":false,"worker":"primary","checks":[]}"#;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/health")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_503_is_seen_at_the_moment_it_answers() {
        let url = health_server("503 Service Unavailable").await;
        let clock = Clock::start();
        let seen = first_failure(&url, &clock, Duration::from_secs(2))
            .await
            .expect("a failing health check");
        assert_eq!(seen.status, Some(503));
        assert!(seen.sent_at_ms <= seen.seen_at_ms);
    }
}
