//! Faults: one file per kind, each making the fault for real and looking for a
//! witness that it took effect (an engine event, a rule counter, the worker's
//! own report). No witness within the deadline gives `in_effect_at_ms: None`,
//! which makes the iteration inconclusive rather than passed.

pub mod bench;
mod ctx;
pub mod health_watch;
mod host;
pub mod kind;
pub mod netfilter;
mod network_policy;
pub mod plan;
mod pod_witness;
pub mod process;
mod qdisc;
pub mod registry;
pub mod revert;
pub mod sidecar;
pub mod spec;
mod throughput;

registry::fault_kinds! {
    kill::Kill,
    oom_kill::OomKill,
    pause::Pause,
    unpause::Unpause,
    partition::Partition,
    loss::Loss,
    bandwidth::Bandwidth,
    latency::Latency,
    heal::Heal,
    restart::Restart,
    gpu::Gpu,
    disk_fill::DiskFill,
    corrupt_checkpoint::CorruptCheckpoint,
    pod_kill::PodKill,
    node_loss::NodeLoss,
    host_crash::HostCrash,
    host_partition::HostPartition,
    host_loss::HostLoss,
    host_bandwidth::HostBandwidth,
    #[cfg(test)]
    test_mark::TestMark,
}

use std::time::Duration;

pub use bandwidth::is_tc_rate;
pub use ctx::Ctx;
pub use gpu::GpuFault;
pub use heal::{reverted_nothing, NOTHING_TO_REVERT};
pub use kill::signal_number;
pub use kind::{Fault, Kind, Runtimes};
pub use partition::PartitionMethod;
pub use plan::Leftovers;
pub use spec::{Direction, FaultEffect};

use crate::clock::Clock;
use crate::stack::{Role, RuntimeKind, Stack, StackError};

/// Why a fault could not be made (distinct from "made, but no witness").
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The step is wrong (checked before anything is done).
    #[error("invalid `{kind}` fault: {reason}")]
    Invalid {
        /// The fault kind.
        kind: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// The stack or the engine failed.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// A Docker call failed.
    #[error("Docker could not {action}: {source}")]
    Docker {
        /// What was being done.
        action: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// The sidecar's command failed.
    #[error("`{command}` in the fault sidecar failed (exit {exit_code}): {output}")]
    Sidecar {
        /// The command.
        command: String,
        /// Its exit code.
        exit_code: i64,
        /// Its output.
        output: String,
    },
    /// The fault needs Docker and the stack runs as local processes.
    #[error(
        "fault `{kind}` needs `stack.runtime: docker` ({reason}); this stack runs `runtime: process`"
    )]
    NeedsDocker {
        /// The fault kind.
        kind: String,
        /// What it needs Docker for.
        reason: String,
    },
    /// The kind cannot be made on a `runtime: kubernetes` stack.
    #[error("fault `{kind}` cannot be made on `stack.runtime: kubernetes`")]
    NotOnKubernetes {
        /// The fault kind.
        kind: String,
    },
    /// The kind can be made only on `runtime: kubernetes`.
    #[error("fault `{kind}` needs `stack.runtime: kubernetes` ({reason})")]
    NeedsKubernetes {
        /// The fault kind.
        kind: String,
        /// Why.
        reason: String,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes could not {action}: {source}")]
    Kubernetes {
        /// What was being done.
        action: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// A process of a `runtime: process` stack could not be signalled or changed.
    #[error("the {role} process: {detail}")]
    Process {
        /// Which role.
        role: Role,
        /// What happened.
        detail: String,
    },
    /// The worker's fault endpoint refused or failed.
    #[error("the {role} worker's fault endpoint: {detail}")]
    Worker {
        /// Which worker.
        role: Role,
        /// What happened.
        detail: String,
    },
}

impl FaultError {
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        FaultError::Kubernetes {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        FaultError::Docker {
            action: action.into(),
            source,
        }
    }
}

/// Makes `fault` happen on `stack` and waits up to `witness_deadline` for proof that it took effect.
pub async fn inject(
    stack: &Stack,
    fault: &FaultSpec,
    clock: &Clock,
    witness_deadline: Duration,
) -> Result<FaultEffect, FaultError> {
    let fault = fault.as_fault();
    let kind = fault.kind();
    fault.validate().map_err(|reason| FaultError::Invalid {
        kind: kind.name.to_string(),
        reason,
    })?;
    let ctx = Ctx {
        stack,
        clock,
        deadline: witness_deadline,
    };
    match (stack.runtime_kind(), kind.runtimes) {
        (RuntimeKind::Kubernetes, _) if kind.kubernetes => fault.inject_kubernetes(&ctx).await,
        (RuntimeKind::Kubernetes, _) => Err(FaultError::NotOnKubernetes {
            kind: kind.name.to_string(),
        }),
        (_, Runtimes::KubernetesOnly(reason)) => Err(FaultError::NeedsKubernetes {
            kind: kind.name.to_string(),
            reason: reason.to_string(),
        }),
        (RuntimeKind::Docker, _) => fault.inject_docker(&ctx).await,
        (RuntimeKind::Process, Runtimes::Both) => fault.inject_process(&ctx).await,
        (RuntimeKind::Process, Runtimes::DockerOnly(reason)) => Err(FaultError::NeedsDocker {
            kind: kind.name.to_string(),
            reason: reason.to_string(),
        }),
    }
}

/// Refuses a fault of `kind` aimed at anything but a worker (primary or
/// standby), the check each worker-only kind's `validate` makes.
pub(crate) fn require_worker_target(kind: &str, target: Role) -> Result<(), String> {
    if target.is_worker() {
        Ok(())
    } else {
        Err(format!(
            "`{kind}` needs a worker target (primary or standby), not `{target}`"
        ))
    }
}

/// The Kubernetes parts of a stack, for the kinds that run there.
pub(crate) fn kubernetes_run(
    stack: &Stack,
) -> Result<&crate::stack::kubernetes::KubeRun, FaultError> {
    stack.kubernetes().ok_or_else(|| {
        FaultError::Stack(StackError::Unsupported(
            "a Kubernetes fault on a stack that does not run on Kubernetes".into(),
        ))
    })
}

/// Reverts everything faults added to the run: rules, qdiscs, disconnects,
/// pauses, lowered memory limits, fill files.
pub async fn heal_all(stack: &Stack) -> Result<(), FaultError> {
    match stack.runtime_kind() {
        RuntimeKind::Process => return heal::on_process(stack, None).map(|_| ()),
        // Every object a fault adds on Kubernetes lives in the run's
        // namespace, which goes with the run; a lost node comes back.
        RuntimeKind::Kubernetes => return node_loss::heal(stack, None).await.map(|_| ()),
        RuntimeKind::Docker => {}
    }
    heal::on_docker(stack, None).await.map(|_| ())
}
