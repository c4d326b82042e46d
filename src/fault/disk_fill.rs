//! `disk-fill`: fill the shared `/data` volume until no byte is free, from a
//! sidecar that mounts it. Needs a bounded volume (`stack.data_volume_size`,
//! a tmpfs), never the host's disk. Witness: `df` reports 0 bytes available.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{BoxFuture, Fault, Injection, Kind, Runtimes};
use super::revert::{Revert, Scope};
use super::sidecar::{self, Attach};
use super::{Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::{Role, Stack};

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "disk-fill",
    about:
        "Fill the shared `/data` volume until no byte is free (needs `stack.data_volume_size`). \
            Witness: free space reaches zero.",
    schema: DiskFill::json_schema,
    runtimes: Runtimes::DockerOnly("it fills the size-limited (tmpfs) volume Docker mounts"),
    kubernetes: false,
    disruptive: true,
    reverts: &[&FILL],
};

/// What a heal (of a worker or of everything) undoes of a disk fill: the fill file.
pub static FILL: Revert = Revert {
    what: "deletes the fill file",
    order: 5,
    scope: Scope::Run(delete_fill),
};

/// `kind: disk-fill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskFill {
    /// The worker whose writes are expected to fail (for the report).
    #[serde(default = "default_primary")]
    pub target: Role,
}

fn default_primary() -> Role {
    Role::Primary
}

impl Fault for DiskFill {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        left.disk_filled = true;
        Ok(())
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self.target))
    }
}

/// The file that takes the space.
pub const FILL_FILE: &str = "/data/.takeover-fill";

async fn inject(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let stack = ctx.stack;
    let Some(size) = stack.spec().data_volume_size else {
        return Ok(ctx.unavailable(
            "disk-fill",
            target,
            "the shared volume has no size bound, so filling it would fill the host's disk; \
             set stack.data_volume_size (e.g. 256MiB) to drill a full volume"
                .into(),
        ));
    };
    let requested = ctx.clock.now_ms();
    let of = format!("of={FILL_FILE}");
    let argv = ["/usr/bin/dd", "if=/dev/zero", of.as_str(), "bs=1M"];
    stack.fault_ledger().disk_filled = true;
    // dd stops with "No space left on device" (exit 1): that is the point.
    let filled = sidecar::run(stack, Attach::Volume, &argv, &[]).await?;
    if filled.exit_code != 0 && !filled.output.contains("No space left") {
        return Err(filled.ok(&argv).unwrap_err());
    }
    let (available, listing) = available_bytes(stack).await?;
    let evidence = json!({
        "volume": stack.volume_name(),
        "volume_size": size.to_string(),
        "available_bytes": available,
        "df": listing,
        "dd": filled.output.trim(),
    });
    if available == Some(0) {
        Ok(ctx.witnessed(
            "disk-fill",
            target,
            requested,
            filled.ended_at_ms.unwrap_or_else(|| ctx.clock.now_ms()),
            format!("shared volume full: 0 of {size} available"),
            evidence,
        ))
    } else {
        Ok(ctx.unwitnessed("disk-fill", target, requested, evidence))
    }
}

/// Bytes available on the shared volume, from `df -B1 /data`.
async fn available_bytes(stack: &Stack) -> Result<(Option<u64>, String), FaultError> {
    let argv = ["/usr/bin/df", "-B1", "/data"];
    let out = sidecar::run(stack, Attach::Volume, &argv, &[])
        .await?
        .ok(&argv)?
        .output;
    Ok((parse_df_available(&out), out))
}

/// The "Available" column of `df -B1` output.
pub fn parse_df_available(df: &str) -> Option<u64> {
    let line = df.lines().nth(1)?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Deletes the fill file, when the ledger has one and the heal covers a worker.
fn delete_fill(
    stack: &Stack,
    target: Option<Role>,
) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        let filled = stack.fault_ledger().disk_filled;
        if !filled || !target.is_none_or(|t| t.is_worker()) {
            return Ok(None);
        }
        let argv = ["/usr/bin/rm", "-f", FILL_FILE];
        sidecar::run(stack, Attach::Volume, &argv, &[])
            .await?
            .ok(&argv)?;
        stack.fault_ledger().disk_filled = false;
        Ok(Some("deleted the fill file on the shared volume".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_available_column_is_read() {
        let df = "Filesystem     1B-blocks     Used Available Use% Mounted on\ntmpfs           67108864 67108864         0 100% /data\n";
        assert_eq!(parse_df_available(df), Some(0));
        assert_eq!(parse_df_available("garbage"), None);
    }
}
