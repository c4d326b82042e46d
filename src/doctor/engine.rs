//! The Docker engine: reachable and its API version, the storage driver, and
//! the NVIDIA container runtime.

use bollard::Docker;

use super::{Check, Need, Status};

const DOCKER_AFFECTS: &str = "every drill with runtime: docker (the default)";

/// Connects the way a drill does (negotiating the API version) and says what answered.
pub async fn docker() -> (Check, Option<Docker>) {
    let docker = match crate::stack::docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            return (
                Check::not_ok(
                    "docker",
                    Status::Missing,
                    Need::Docker,
                    DOCKER_AFFECTS,
                    e.to_string(),
                    "install and start Docker (Debian: `sudo apt-get install -y docker.io`, then \
                     `sudo systemctl start docker`), or drill without it: `takeover run --runtime process`",
                ),
                None,
            )
        }
    };
    let detail = match docker.version().await {
        Ok(v) => format!(
            "engine {} (API {}, client negotiated {})",
            v.version.as_deref().unwrap_or("?"),
            v.api_version.as_deref().unwrap_or("?"),
            docker.client_version()
        ),
        Err(e) => format!("reachable; version unknown: {e}"),
    };
    (
        Check::ok("docker", Need::Docker, DOCKER_AFFECTS, detail),
        Some(docker),
    )
}

/// Judges a storage driver: overlay2 and the like are fine, `vfs` copies every
/// layer and makes stacks slow to start.
pub fn storage_driver(driver: Option<&str>) -> Check {
    let affects = "stack start-up time on docker";
    match driver {
        Some("vfs") => Check::not_ok(
            "storage driver",
            Status::Degraded,
            Need::Optional,
            affects,
            "vfs: every container start copies its image",
            "configure overlay2 in /etc/docker/daemon.json (`\"storage-driver\": \"overlay2\"`)",
        ),
        Some(d) => Check::ok("storage driver", Need::Optional, affects, d),
        None => Check::not_ok(
            "storage driver",
            Status::Degraded,
            Need::Optional,
            affects,
            "the engine did not say",
            "check `docker info`",
        ),
    }
}

/// Judges the engine's runtimes: GPU scenarios run for real on the CUDA
/// backend only through the `nvidia` runtime.
pub fn nvidia_runtime(runtimes: &[String]) -> Check {
    let affects = "gpu-* scenarios on the CUDA backend (`--worker-backend cuda`); the CPU backend runs them without it";
    if runtimes.iter().any(|r| r == "nvidia") {
        Check::ok(
            "nvidia runtime",
            Need::Optional,
            affects,
            "registered with Docker",
        )
    } else {
        Check::not_ok(
            "nvidia runtime",
            Status::Degraded,
            Need::Optional,
            affects,
            format!(
                "Docker has no `nvidia` runtime (runtimes: {})",
                if runtimes.is_empty() {
                    "none listed".to_string()
                } else {
                    runtimes.join(", ")
                }
            ),
            "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker",
        )
    }
}

/// The engine's runtimes, sorted (none when its info cannot be read).
pub async fn runtimes(docker: &Docker) -> Vec<String> {
    let mut runtimes: Vec<String> = docker
        .info()
        .await
        .ok()
        .and_then(|i| i.runtimes)
        .map(|r| r.into_keys().collect())
        .unwrap_or_default();
    runtimes.sort();
    runtimes
}

/// Every engine check; the ones after `docker` only when it answered.
pub async fn checks() -> Vec<Check> {
    let (check, docker) = docker().await;
    let mut out = vec![check];
    if let Some(docker) = docker {
        match docker.info().await {
            Ok(info) => {
                out.push(storage_driver(info.driver.as_deref()));
                let mut runtimes: Vec<String> = info
                    .runtimes
                    .map(|r| r.into_keys().collect())
                    .unwrap_or_default();
                runtimes.sort();
                out.push(nvidia_runtime(&runtimes));
            }
            Err(e) => out.push(Check::not_ok(
                "docker info",
                Status::Degraded,
                Need::Optional,
                "storage driver and runtime checks",
                format!("the engine's info could not be read: {e}"),
                "check `docker info`",
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vfs_is_degraded_and_overlay2_ok() {
        assert_eq!(storage_driver(Some("overlay2")).status, Status::Ok);
        let vfs = storage_driver(Some("vfs"));
        assert_eq!(vfs.status, Status::Degraded);
        assert!(vfs.fix.unwrap().contains("overlay2"));
    }

    #[test]
    fn no_nvidia_runtime_names_the_toolkit_and_the_runtimes_there() {
        let c = nvidia_runtime(&["runc".into()]);
        assert_eq!(c.status, Status::Degraded);
        assert!(c.detail.contains("runtimes: runc"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("NVIDIA Container Toolkit"));
        assert_eq!(
            nvidia_runtime(&["nvidia".into(), "runc".into()]).status,
            Status::Ok
        );
    }
}
