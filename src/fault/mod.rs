//! Faults: one file per kind, each making the fault for real and looking for a
//! witness that it took effect (an engine event, a rule counter, the worker's
//! own report). No witness within the deadline gives `in_effect_at_ms: None`,
//! which makes the iteration inconclusive rather than passed.

mod bandwidth;
mod corrupt_checkpoint;
mod disk_fill;
mod gpu;
pub mod heal;
pub mod health_watch;
mod kill;
mod latency;
pub mod ledger;
mod loss;
pub mod netfilter;
mod oom_kill;
mod partition;
mod pause;
pub mod process;
mod restart;
pub mod sidecar;
pub mod spec;
mod throughput;

use std::time::Duration;

pub use spec::{signal_number, Direction, FaultEffect, FaultSpec, GpuFault, PartitionMethod};

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
    fault.validate().map_err(|reason| FaultError::Invalid {
        kind: fault.kind().to_string(),
        reason,
    })?;
    let ctx = Ctx {
        stack,
        clock,
        deadline: witness_deadline,
    };
    if stack.runtime_kind() == RuntimeKind::Process {
        return process::inject(&ctx, fault).await;
    }
    match fault {
        FaultSpec::Kill { target, signal } => kill::inject(&ctx, *target, signal).await,
        FaultSpec::OomKill { target, headroom } => oom_kill::inject(&ctx, *target, *headroom).await,
        FaultSpec::Pause { target } => pause::pause(&ctx, *target).await,
        FaultSpec::Unpause { target } => pause::unpause(&ctx, *target).await,
        FaultSpec::Partition {
            target,
            peers,
            direction,
            method,
        } => partition::inject(&ctx, *target, peers, *direction, *method).await,
        FaultSpec::Loss {
            target,
            percent,
            direction,
        } => loss::inject(&ctx, *target, *percent, *direction).await,
        FaultSpec::Bandwidth { target, rate } => bandwidth::inject(&ctx, *target, rate).await,
        FaultSpec::Latency {
            target,
            delay,
            jitter,
        } => latency::inject(&ctx, *target, *delay, *jitter).await,
        FaultSpec::Heal { target } => heal::inject(&ctx, *target).await,
        FaultSpec::Restart { target } => restart::inject(&ctx, *target).await,
        FaultSpec::Gpu { target, fault, xid } => gpu::inject(&ctx, *target, *fault, *xid).await,
        FaultSpec::DiskFill { target } => disk_fill::inject(&ctx, *target).await,
        FaultSpec::CorruptCheckpoint { target } => corrupt_checkpoint::inject(&ctx, *target).await,
    }
}

/// Reverts everything faults added to the run: rules, qdiscs, disconnects,
/// pauses, lowered memory limits, fill files.
pub async fn heal_all(stack: &Stack) -> Result<(), FaultError> {
    if stack.runtime_kind() == RuntimeKind::Process {
        return process::heal(stack, None).map(|_| ());
    }
    heal::heal(stack, None).await.map(|_| ())
}

/// What every fault needs: the stack, the clock, the witness deadline.
pub(crate) struct Ctx<'a> {
    pub stack: &'a Stack,
    pub clock: &'a Clock,
    pub deadline: Duration,
}

impl Ctx<'_> {
    /// An effect with a witness.
    pub fn witnessed(
        &self,
        kind: &str,
        target: Role,
        requested_at_ms: f64,
        in_effect_at_ms: f64,
        witness: String,
        evidence: serde_json::Value,
    ) -> FaultEffect {
        FaultEffect {
            kind: kind.to_string(),
            target,
            requested_at_ms,
            in_effect_at_ms: Some(in_effect_at_ms),
            witness: Some(witness),
            evidence,
            unavailable: None,
        }
    }

    /// An effect without a witness (the iteration becomes inconclusive).
    pub fn unwitnessed(
        &self,
        kind: &str,
        target: Role,
        requested_at_ms: f64,
        evidence: serde_json::Value,
    ) -> FaultEffect {
        FaultEffect {
            kind: kind.to_string(),
            target,
            requested_at_ms,
            in_effect_at_ms: None,
            witness: None,
            evidence,
            unavailable: None,
        }
    }

    /// A fault that cannot be made here; the step is skipped and the report says why.
    pub fn unavailable(&self, kind: &str, target: Role, reason: String) -> FaultEffect {
        FaultEffect {
            kind: kind.to_string(),
            target,
            requested_at_ms: self.clock.now_ms(),
            in_effect_at_ms: None,
            witness: None,
            evidence: serde_json::Value::Null,
            unavailable: Some(reason),
        }
    }
}
