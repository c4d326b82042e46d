//! One-shot sidecar containers: the network tools (`iptables`, `tc`) run in a
//! target's network namespace with NET_ADMIN, and the file tools (`dd`, `df`,
//! `find`) on the shared volume. Each run is a labelled container, removed after.

use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::FaultError;
use crate::stack::{docker, labels, Role, Stack};

/// Where the sidecar runs.
#[derive(Debug, Clone, Copy)]
pub enum Attach {
    /// In the network namespace of this container, with NET_ADMIN.
    NetNs(Role),
    /// With the run's shared volume at `/data`, no network.
    Volume,
}

/// The result of one sidecar command.
#[derive(Debug, Clone)]
pub struct SidecarRun {
    /// The command's exit code.
    pub exit_code: i64,
    /// Its stdout and stderr.
    pub output: String,
    /// When it ended, from the engine's `die` event (clock ms), if seen.
    pub ended_at_ms: Option<f64>,
}

impl SidecarRun {
    /// The run, or an error naming the command when it failed.
    pub fn ok(self, argv: &[&str]) -> Result<SidecarRun, FaultError> {
        if self.exit_code == 0 {
            Ok(self)
        } else {
            Err(FaultError::Sidecar {
                command: argv.join(" "),
                exit_code: self.exit_code,
                output: self.output.trim().to_string(),
            })
        }
    }
}

/// Runs `argv` in a sidecar, with `files` (directory, name, content) copied in first.
pub async fn run(
    stack: &Stack,
    attach: Attach,
    argv: &[&str],
    files: &[(&str, &str, &[u8])],
) -> Result<SidecarRun, FaultError> {
    let docker = stack.docker();
    let host_config = match attach {
        Attach::NetNs(role) => HostConfig {
            network_mode: Some(format!("container:{}", stack.container(role).id)),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            ..Default::default()
        },
        Attach::Volume => HostConfig {
            network_mode: Some("none".into()),
            binds: Some(vec![format!("{}:/data", stack.volume_name())]),
            ..Default::default()
        },
    };
    let name = format!(
        "{}-sidecar-{}",
        stack.run_id(),
        &crate::stack::new_fault_token()[..8]
    );
    let body = ContainerCreateBody {
        image: Some(stack.images().sidecar.clone()),
        entrypoint: Some(vec![argv[0].to_string()]),
        cmd: Some(argv[1..].iter().map(|s| s.to_string()).collect()),
        labels: Some(labels::for_container(stack.run_id(), "sidecar")),
        host_config: Some(host_config),
        ..Default::default()
    };
    let id = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| FaultError::docker(format!("create sidecar {name}"), e))?
        .id;
    let result = run_created(stack, &id, argv, files).await;
    let _ = docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    result
}

async fn run_created(
    stack: &Stack,
    id: &str,
    argv: &[&str],
    files: &[(&str, &str, &[u8])],
) -> Result<SidecarRun, FaultError> {
    let docker = stack.docker();
    for (dir, name, data) in files {
        crate::stack::upload_file(docker, id, dir, name, data).await?;
    }
    let from = stack.events().len();
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .map_err(|e| FaultError::docker(format!("start sidecar for `{}`", argv.join(" ")), e))?;
    let mut wait = Box::pin(docker.wait_container(id, None::<WaitContainerOptions>));
    let waited = tokio::time::timeout(Duration::from_secs(60), wait.next()).await;
    let exit_code = match waited {
        Ok(Some(Ok(r))) => r.status_code,
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
        Ok(Some(Err(e))) => return Err(FaultError::docker("wait for the sidecar", e)),
        Ok(None) => {
            return Err(FaultError::Sidecar {
                command: argv.join(" "),
                exit_code: -1,
                output: "the engine ended the wait without an exit code".into(),
            })
        }
        Err(_) => {
            return Err(FaultError::Sidecar {
                command: argv.join(" "),
                exit_code: -1,
                output: "still running after 60s".into(),
            })
        }
    };
    let output = docker::tail_logs(docker, id, 200).await;
    let output = if output == "(no output)" {
        String::new()
    } else {
        output
    };
    let ended = stack
        .events()
        .wait_for(from, Duration::from_secs(2), |e| {
            e.actor == id && e.action == "die"
        })
        .await;
    Ok(SidecarRun {
        exit_code,
        output,
        ended_at_ms: ended.map(|e| e.at_ms),
    })
}
