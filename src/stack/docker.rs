//! The Docker connection and small helpers around containers.

use bollard::query_parameters::{InspectContainerOptions, LogsOptions};
use bollard::Docker;
use futures_util::StreamExt;

use super::hosts::TlsSpec;
use super::StackError;

/// Connects to the local engine (or `DOCKER_HOST`) and agrees on an API version
/// both sides speak (the engine here speaks 1.41).
pub async fn connect() -> Result<Docker, StackError> {
    let docker = Docker::connect_with_defaults().map_err(|e| StackError::DockerUnreachable {
        detail: e.to_string(),
    })?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| StackError::DockerUnreachable {
            detail: e.to_string(),
        })?;
    docker
        .ping()
        .await
        .map_err(|e| StackError::DockerUnreachable {
            detail: e.to_string(),
        })?;
    Ok(docker)
}

/// Connects to the engine at `endpoint` (`unix:///path/docker.sock` or
/// `tcp://host:port`, plain), agrees on an API version and pings it:
/// one client per engine where a stack spans several (`docs/hosts.md`).
pub async fn connect_to(endpoint: &str) -> Result<Docker, StackError> {
    connect_engine(endpoint, None).await
}

/// [`connect_to`], with mutual TLS to a `tcp://` engine when `tls` is given
/// (the engine's certificate must chain to `tls.ca`; the harness presents
/// `tls.cert` and `tls.key`). A file that cannot serve is named in the error.
pub async fn connect_engine(endpoint: &str, tls: Option<&TlsSpec>) -> Result<Docker, StackError> {
    let unreachable = |detail: String| StackError::DockerUnreachable {
        detail: format!("{endpoint}: {detail}"),
    };
    let docker = match tls {
        Some(_) if !endpoint.starts_with("tcp://") => {
            return Err(unreachable("TLS is for a `tcp://host:port` engine".into()))
        }
        Some(tls) => {
            // bollard reads the client's files only during the handshake and
            // then says no more than that the handshake failed: read them first.
            if let Some((_, why)) = tls.unreadable().into_iter().next() {
                return Err(unreachable(format!("TLS: {why}")));
            }
            Docker::connect_with_ssl(
                endpoint,
                &tls.key,
                &tls.cert,
                &tls.ca,
                CLIENT_TIMEOUT_S,
                bollard::API_DEFAULT_VERSION,
            )
        }
        None if endpoint.starts_with("unix://") => {
            Docker::connect_with_socket(endpoint, CLIENT_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        }
        None if endpoint.starts_with("tcp://") => {
            Docker::connect_with_http(endpoint, CLIENT_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        }
        None => {
            return Err(unreachable(
                "an engine is `unix:///path/to/docker.sock` or `tcp://host:port`".into(),
            ))
        }
    }
    .map_err(|e| unreachable(e.to_string()))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    docker
        .ping()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    Ok(docker)
}

/// An error with its causes (a refused TLS handshake says why only there).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Seconds a call to an engine named by [`connect_to`] may take (image
/// builds and loads included), as bollard's default.
const CLIENT_TIMEOUT_S: u64 = 120;

/// Fails with a clear error when the engine has no `nvidia` runtime.
pub async fn require_nvidia_runtime(docker: &Docker) -> Result<(), StackError> {
    let info = docker
        .info()
        .await
        .map_err(|e| StackError::docker("read the engine's info", e))?;
    let runtimes: Vec<String> = info
        .runtimes
        .map(|r| r.into_keys().collect())
        .unwrap_or_default();
    if runtimes.iter().any(|r| r == "nvidia") {
        Ok(())
    } else {
        Err(StackError::NoNvidiaRuntime {
            runtimes: if runtimes.is_empty() {
                "none listed".into()
            } else {
                runtimes.join(", ")
            },
        })
    }
}

/// A container's state, as the faults and readiness checks need it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerStatus {
    /// `created`, `running`, `paused`, `restarting`, `exited`, `dead`, or `missing`.
    pub status: String,
    /// Exit code of the last run (when not running).
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// When it last finished (RFC 3339, from Docker).
    pub finished_at: Option<String>,
    /// The engine's error text, if any.
    pub error: Option<String>,
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.status)?;
        if self.status == "exited" || self.status == "dead" {
            if let Some(code) = self.exit_code {
                write!(f, " (code {code}")?;
                if self.oom_killed {
                    f.write_str(", OOMKilled")?;
                }
                f.write_str(")")?;
            }
        }
        if let Some(err) = self.error.as_deref().filter(|e| !e.is_empty()) {
            write!(f, ", error: {err}")?;
        }
        Ok(())
    }
}

/// Reads a container's state; a container that does not exist is `missing`.
pub async fn status(docker: &Docker, name: &str) -> Result<ContainerStatus, StackError> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(inspect) => {
            let state = inspect.state.unwrap_or_default();
            Ok(ContainerStatus {
                status: state
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                exit_code: state.exit_code,
                oom_killed: state.oom_killed.unwrap_or(false),
                finished_at: state.finished_at,
                error: state.error,
            })
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(ContainerStatus {
            status: "missing".into(),
            exit_code: None,
            oom_killed: false,
            finished_at: None,
            error: None,
        }),
        Err(e) => Err(StackError::docker(format!("inspect container {name}"), e)),
    }
}

/// The last `tail` lines of a container's stdout and stderr, or a note saying why there are none.
pub async fn tail_logs(docker: &Docker, name: &str, tail: usize) -> String {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: tail.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(options));
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => text.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
            Err(e) => {
                text.push_str(&format!("(could not read the logs of {name}: {e})"));
                break;
            }
        }
    }
    if text.trim().is_empty() {
        "(no output)".to_string()
    } else {
        text
    }
}

/// Everything a container wrote to its stdout (empty when it cannot be read).
pub async fn all_logs(docker: &Docker, name: &str) -> String {
    let options = LogsOptions {
        stdout: true,
        stderr: false,
        tail: "all".to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}

/// Whether an error is Docker's "no such object" answer.
pub fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine named any other way is refused with the forms it may take,
    /// and a socket that is not there is named in the error.
    #[tokio::test]
    async fn an_engine_is_a_unix_socket_or_a_tcp_address() {
        let err = connect_to("ssh://host").await.unwrap_err().to_string();
        assert!(
            err.contains("ssh://host") && err.contains("unix:///"),
            "{err}"
        );
        let err = connect_to("unix:///nonexistent/docker.sock")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/docker.sock"), "{err}");
    }

    /// TLS is refused on a socket, and a client file that is not there is
    /// named before any connection is tried.
    #[tokio::test]
    async fn tls_needs_a_tcp_engine_and_its_files() {
        let tls = TlsSpec {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = connect_engine("unix:///run/docker.sock", Some(&tls))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("TLS is for a `tcp://"), "{err}");
        let err = connect_engine("tcp://127.0.0.1:9", Some(&tls))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
