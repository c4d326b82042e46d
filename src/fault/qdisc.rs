//! The root qdisc `bandwidth` and `latency` put on a container's eth0, and
//! its removal by a heal.

use super::kind::BoxFuture;
use super::revert::{Revert, Scope};
use super::sidecar::{self, Attach};
use super::FaultError;
use crate::stack::{Role, Stack};

/// What a heal undoes of `bandwidth` and `latency`: the root qdisc on eth0.
pub static QDISC: Revert = Revert {
    what: "deletes the qdisc",
    order: 2,
    scope: Scope::EachRole {
        docker: delete,
        process: None,
    },
};

/// Deletes the root qdisc the ledger says a fault added (if the container still runs).
fn delete(stack: &Stack, role: Role) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        if !stack.fault_ledger().qdiscs.contains(&role) {
            return Ok(None);
        }
        let mut done = None;
        if stack.state(role).await?.status == "running" {
            let argv = ["/usr/sbin/tc", "qdisc", "del", "dev", "eth0", "root"];
            let run = sidecar::run(stack, Attach::NetNs(role), &argv, &[]).await?;
            // "No such file" means it is gone already (e.g. the container restarted).
            if run.exit_code != 0
                && !run.output.contains("No such file")
                && !run.output.contains("Cannot delete")
            {
                return Err(run.ok(&argv).unwrap_err());
            }
            done = Some(format!("removed the qdisc of {role}"));
        }
        stack.fault_ledger().qdiscs.remove(&role);
        Ok(done)
    })
}
