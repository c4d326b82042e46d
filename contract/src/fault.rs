//! The worker's fault endpoint `POST /v1/faults`, enabled only with `--fault-injection`.

use serde::{Deserialize, Serialize};

/// Header that carries the fault token.
pub const FAULT_TOKEN_HEADER: &str = "x-takeover-fault-token";

/// Faults a worker can inflict on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Out-of-bounds kernel: sticky `CUDA_ERROR_ILLEGAL_ADDRESS` (same class on CPU).
    GpuIllegalAddress,
    /// A kernel that never finishes; the worker's watchdog must notice.
    GpuHang,
    /// Device memory exhausted (not sticky).
    GpuOom,
    /// A device error with an Xid number, handled by its class.
    GpuXid,
    /// Grow host memory until the container's limit kills the process.
    HostMemoryGrow,
    /// Abort the process at once.
    Crash,
    /// Stop making progress while still answering HTTP.
    Stall,
}

impl FaultKind {
    /// Every kind, in documentation order.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::GpuIllegalAddress,
        FaultKind::GpuHang,
        FaultKind::GpuOom,
        FaultKind::GpuXid,
        FaultKind::HostMemoryGrow,
        FaultKind::Crash,
        FaultKind::Stall,
    ];
}

/// Body of `POST /v1/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Which fault.
    pub kind: FaultKind,
    /// Xid number for `gpu-xid`.
    #[serde(default)]
    pub xid: Option<u32>,
    /// How long a `stall` lasts, ms; `None` stalls until the process ends.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// Answer of `POST /v1/faults`: what the worker did and the error class it hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultReport {
    /// The fault asked for.
    pub kind: FaultKind,
    /// Error class the worker observed, e.g. `CUDA_ERROR_ILLEGAL_ADDRESS`.
    pub error_class: String,
    /// What the worker does next: `exit`, `unhealthy`, `continue`, `oom-kill`, or `watchdog`
    /// (nothing yet: the stall watchdog is to catch a hang).
    pub reaction: String,
    /// Free text for a person.
    pub detail: String,
    /// The fault was emulated on the CPU backend (no GPU), not made on a device.
    #[serde(default)]
    pub emulated: bool,
    /// For `gpu-oom`: bytes really allocated before the allocation that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
}
