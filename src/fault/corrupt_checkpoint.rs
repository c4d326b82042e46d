//! `corrupt-checkpoint`: flip bytes in the newest checkpoint file on the shared
//! volume (between two chunks of a running job), so that a worker that resumes
//! from it must notice. Witness: the file's checksum changed.

use std::io::Read;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions,
};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::sidecar::{self, Attach};
use super::{process, Ctx, FaultEffect, FaultError};
use crate::stack::{labels, Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "corrupt-checkpoint",
    about: "Flip bytes in the newest checkpoint file on the shared volume. Witness: its checksum changed.",
    schema: CorruptCheckpoint::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: true,
    reverts: &[],
};

/// `kind: corrupt-checkpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorruptCheckpoint {
    /// The worker expected to read the checkpoint (for the report).
    #[serde(default = "default_standby")]
    pub target: Role,
}

fn default_standby() -> Role {
    Role::Standby
}

impl Fault for CorruptCheckpoint {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(on_process(ctx, self.target))
    }
}

async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let requested = ctx.clock.now_ms();
    let argv = [
        "/usr/bin/find",
        "/data/jobs",
        "-name",
        "*.ckpt",
        "-printf",
        "%T@ %p\n",
    ];
    let found = sidecar::run(stack, Attach::Volume, &argv, &[]).await?;
    let Some(path) = newest(&found.output) else {
        return Ok(ctx.unwitnessed(
            "corrupt-checkpoint",
            target,
            requested,
            json!({ "why": "no checkpoint file on the shared volume yet", "find": found.output.trim() }),
        ));
    };
    // A stopped helper container with the volume: the archive API reads and writes through it.
    let helper = create_volume_holder(stack).await?;
    let result = corrupt_via(stack, &helper, &path).await;
    let _ = stack
        .docker()
        .remove_container(
            &helper,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    let (before, after, flipped) = result?;
    Ok(judge(
        ctx, target, requested, &path, &before, &after, &flipped,
    ))
}

/// The effect of a corruption: witnessed when the file's blake3 checksum changed.
pub(super) fn judge(
    ctx: &Ctx<'_>,
    target: Role,
    requested: f64,
    path: &str,
    before: &str,
    after: &str,
    flipped: &[usize],
) -> FaultEffect {
    let done = ctx.clock.now_ms();
    let evidence = json!({ "file": path, "blake3_before": before, "blake3_after": after, "flipped_offsets": flipped });
    if before != after {
        ctx.witnessed(
            "corrupt-checkpoint",
            target,
            requested,
            done,
            format!(
                "checkpoint {path} changed (blake3 {} -> {})",
                &before[..12],
                &after[..12]
            ),
            evidence,
        )
    } else {
        ctx.unwitnessed("corrupt-checkpoint", target, requested, evidence)
    }
}

/// The newest file of `find -printf '%T@ %p\n'` output.
pub fn newest(listing: &str) -> Option<String> {
    listing
        .lines()
        .filter_map(|l| {
            let (t, p) = l.trim().split_once(' ')?;
            Some((t.parse::<f64>().ok()?, p.to_string()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, p)| p)
}

/// Flips bytes at a few offsets spread over the data (never a no-op).
pub fn flip_bytes(data: &mut [u8]) -> Vec<usize> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut offsets: Vec<usize> = [data.len() / 2, data.len() * 3 / 4, data.len() - 1]
        .into_iter()
        .collect();
    offsets.dedup();
    for &o in &offsets {
        data[o] ^= 0xA5;
    }
    offsets
}

async fn create_volume_holder(stack: &Stack) -> Result<String, FaultError> {
    let name = format!(
        "{}-sidecar-{}",
        stack.run_id(),
        &crate::stack::new_fault_token()[..8]
    );
    let body = ContainerCreateBody {
        image: Some(stack.images().sidecar.clone()),
        labels: Some(labels::for_container(stack.run_id(), "sidecar")),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            binds: Some(vec![format!("{}:/data", stack.volume_name())]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(stack
        .docker()
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| FaultError::docker(format!("create helper {name}"), e))?
        .id)
}

async fn download(stack: &Stack, container: &str, path: &str) -> Result<Vec<u8>, FaultError> {
    let mut stream = Box::pin(stack.docker().download_from_container(
        container,
        Some(DownloadFromContainerOptions {
            path: path.to_string(),
        }),
    ));
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar_bytes
            .extend_from_slice(&chunk.map_err(|e| FaultError::docker(format!("read {path}"), e))?);
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let io = |e: std::io::Error| FaultError::Invalid {
        kind: "corrupt-checkpoint".into(),
        reason: format!("reading {path} from the volume: {e}"),
    };
    let mut entries = archive.entries().map_err(io)?;
    let mut entry = entries
        .next()
        .ok_or_else(|| io(std::io::Error::other("empty archive")))?
        .map_err(io)?;
    let mut data = Vec::new();
    entry.read_to_end(&mut data).map_err(io)?;
    Ok(data)
}

async fn corrupt_via(
    stack: &Stack,
    helper: &str,
    path: &str,
) -> Result<(String, String, Vec<usize>), FaultError> {
    let mut data = download(stack, helper, path).await?;
    let before = blake3::hash(&data).to_hex().to_string();
    let flipped = flip_bytes(&mut data);
    let (dir, file) = path.rsplit_once('/').unwrap_or(("/data", path));
    crate::stack::upload_file(stack.docker(), helper, dir, file, &data).await?;
    let after = blake3::hash(&download(stack, helper, path).await?)
        .to_hex()
        .to_string();
    Ok((before, after, flipped))
}

/// Flips bytes in the newest checkpoint of a process stack's local data directory.
async fn on_process(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let requested = ctx.clock.now_ms();
    let data_dir = ctx.stack.processes().expect("a process stack").data_dir();
    let Some(path) = process::newest_checkpoint(&data_dir) else {
        return Ok(ctx.unwitnessed(
            "corrupt-checkpoint",
            target,
            requested,
            json!({ "why": "no checkpoint file in the data directory yet", "data_dir": data_dir }),
        ));
    };
    let io = |e: std::io::Error| FaultError::Process {
        role: target,
        detail: format!("{}: {e}", path.display()),
    };
    let mut data = std::fs::read(&path).map_err(io)?;
    let before = blake3::hash(&data).to_hex().to_string();
    let flipped = flip_bytes(&mut data);
    std::fs::write(&path, &data).map_err(io)?;
    let after = blake3::hash(&std::fs::read(&path).map_err(io)?)
        .to_hex()
        .to_string();
    Ok(judge(
        ctx,
        target,
        requested,
        &path.display().to_string(),
        &before,
        &after,
        &flipped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_checkpoint_is_picked_and_bytes_really_change() {
        let listing = "1700000001.5 /data/jobs/j/00000001.e1.ckpt\n1700000003.25 /data/jobs/j/00000003.e1.ckpt\n1700000002.0 /data/jobs/j/00000002.e1.ckpt\n";
        assert_eq!(
            newest(listing).as_deref(),
            Some("/data/jobs/j/00000003.e1.ckpt")
        );
        assert_eq!(newest(""), None);
        let original = vec![7u8; 100];
        let mut data = original.clone();
        let offsets = flip_bytes(&mut data);
        assert!(!offsets.is_empty());
        assert_ne!(data, original);
        let mut one = vec![1u8];
        flip_bytes(&mut one);
        assert_ne!(one, vec![1u8]);
    }
}
