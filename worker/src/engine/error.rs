//! Engine errors, with the class and stickiness the service reacts to.

use std::fmt;

/// What NVIDIA's Xid catalogue says to do after a given Xid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XidAction {
    /// 13, 31, 94: the application must restart; the GPU stays usable.
    RestartApplication,
    /// 43, 63, 92: informational; keep going.
    Informational,
    /// 46, 62, 64, 95, 109, 119, 120, 140: the GPU needs a reset.
    ResetGpu,
    /// 79: the GPU fell off the bus; reboot the node.
    RebootNode,
    /// 48, 74 and any number not in the catalogue: multi-step triage before reuse.
    Triage,
}

impl XidAction {
    /// The catalogue entry for `xid`.
    pub fn for_xid(xid: u32) -> XidAction {
        match xid {
            13 | 31 | 94 => XidAction::RestartApplication,
            43 | 63 | 92 => XidAction::Informational,
            46 | 62 | 64 | 95 | 109 | 119 | 120 | 140 => XidAction::ResetGpu,
            79 => XidAction::RebootNode,
            _ => XidAction::Triage,
        }
    }

    /// The device must not be used again by any process until someone acts on it.
    pub fn device_bad(self) -> bool {
        matches!(
            self,
            XidAction::ResetGpu | XidAction::RebootNode | XidAction::Triage
        )
    }
}

impl fmt::Display for XidAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XidAction::RestartApplication => "restart the application",
            XidAction::Informational => "informational",
            XidAction::ResetGpu => "GPU reset required",
            XidAction::RebootNode => "node reboot required",
            XidAction::Triage => "triage required",
        })
    }
}

/// Everything the engine can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The script breaks a limit; nothing was synthesized.
    #[error("invalid script: {0}")]
    InvalidScript(String),
    /// A call that does not fit the plan or state (range past the end, foreign checkpoint).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// `--backend cuda` (or a CUDA call) on a machine without a usable driver.
    #[error(
        "no CUDA driver found: {0}; use --backend cpu or auto on machines without an NVIDIA GPU"
    )]
    NoCudaDriver(String),
    /// An error reported by the device (or emulated by the CPU backend).
    #[error("{backend} backend: {class}{}: {detail}", if *.emulated { " (emulated)" } else { "" })]
    Device {
        /// The CUDA error name, e.g. `CUDA_ERROR_ILLEGAL_ADDRESS`.
        class: String,
        /// The context is unusable; every later call fails the same way.
        sticky: bool,
        /// Produced by the CPU backend's emulation, not by a GPU.
        emulated: bool,
        /// Backend name.
        backend: &'static str,
        /// What happened, for a person.
        detail: String,
    },
    /// Work did not finish before the watchdog deadline.
    #[error("{backend} backend: WATCHDOG_HANG: work did not finish within {waited_ms} ms{}", if *.emulated { " (emulated compute loop)" } else { "" })]
    WatchdogHang {
        /// How long the watchdog waited.
        waited_ms: u64,
        /// Produced by the CPU backend's emulation.
        emulated: bool,
        /// Backend name.
        backend: &'static str,
    },
    /// A device error carrying an Xid number.
    #[error("{backend} backend: Xid {xid} ({action}){}: {detail}", if *.emulated { " (emulated)" } else { "" })]
    Xid {
        /// The Xid number.
        xid: u32,
        /// Its catalogue action.
        action: XidAction,
        /// `XID_<n>`.
        class: String,
        /// Produced without a real device error.
        emulated: bool,
        /// Backend name.
        backend: &'static str,
        /// What happened, for a person.
        detail: String,
    },
    /// A fault kind the engine does not make (the service handles host faults).
    #[error("fault {0} is not an engine fault")]
    UnsupportedFault(String),
}

impl EngineError {
    /// The context (or device) is unusable: every later call fails; the process should end.
    pub fn is_sticky(&self) -> bool {
        match self {
            EngineError::Device { sticky, .. } => *sticky,
            EngineError::WatchdogHang { .. } => true,
            EngineError::Xid { action, .. } => *action != XidAction::Informational,
            _ => false,
        }
    }

    /// The device itself is bad (Xid that needs a reset, reboot or triage): a restarted worker
    /// must not use it, so stay out of service rather than restart.
    pub fn device_bad(&self) -> bool {
        matches!(self, EngineError::Xid { action, .. } if action.device_bad())
    }

    /// Short machine-readable class, e.g. `CUDA_ERROR_ILLEGAL_ADDRESS`, `WATCHDOG_HANG`, `XID_79`.
    pub fn error_class(&self) -> &str {
        match self {
            EngineError::InvalidScript(_) => "INVALID_SCRIPT",
            EngineError::InvalidRequest(_) => "INVALID_REQUEST",
            EngineError::NoCudaDriver(_) => "NO_CUDA_DRIVER",
            EngineError::Device { class, .. } => class,
            EngineError::WatchdogHang { .. } => "WATCHDOG_HANG",
            EngineError::Xid { class, .. } => class,
            EngineError::UnsupportedFault(_) => "UNSUPPORTED_FAULT",
        }
    }

    /// What the worker should do: `exit` (restart the process), `unhealthy` (mark the device
    /// bad and stay out of service) or `continue`.
    pub fn reaction(&self) -> &'static str {
        if self.device_bad() {
            "unhealthy"
        } else if self.is_sticky() {
            "exit"
        } else {
            "continue"
        }
    }

    /// Produced by the CPU backend's emulation of a device fault, not by a device.
    pub fn emulated(&self) -> bool {
        match self {
            EngineError::Device { emulated, .. }
            | EngineError::WatchdogHang { emulated, .. }
            | EngineError::Xid { emulated, .. } => *emulated,
            _ => false,
        }
    }

    /// An Xid error for `xid` with its catalogue class.
    pub fn xid(xid: u32, emulated: bool, backend: &'static str, detail: String) -> EngineError {
        EngineError::Xid {
            xid,
            action: XidAction::for_xid(xid),
            class: format!("XID_{xid}"),
            emulated,
            backend,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xid_catalogue_classes() {
        for x in [13, 31, 94] {
            assert_eq!(XidAction::for_xid(x), XidAction::RestartApplication);
        }
        for x in [43, 63, 92] {
            assert_eq!(XidAction::for_xid(x), XidAction::Informational);
        }
        for x in [46, 62, 64, 95, 109, 119, 120, 140] {
            assert_eq!(XidAction::for_xid(x), XidAction::ResetGpu);
        }
        assert_eq!(XidAction::for_xid(79), XidAction::RebootNode);
        assert_eq!(XidAction::for_xid(48), XidAction::Triage);
        assert_eq!(XidAction::for_xid(74), XidAction::Triage);
    }

    #[test]
    fn reactions_follow_class() {
        let restart = EngineError::xid(13, true, "cpu", String::new());
        assert_eq!(restart.error_class(), "XID_13");
        assert!(restart.is_sticky() && !restart.device_bad());
        assert_eq!(restart.reaction(), "exit");
        let info = EngineError::xid(43, true, "cpu", String::new());
        assert!(!info.is_sticky());
        assert_eq!(info.reaction(), "continue");
        let bad = EngineError::xid(79, true, "cpu", String::new());
        assert!(bad.is_sticky() && bad.device_bad());
        assert_eq!(bad.reaction(), "unhealthy");
        let oom = EngineError::Device {
            class: "CUDA_ERROR_OUT_OF_MEMORY".into(),
            sticky: false,
            emulated: false,
            backend: "cuda",
            detail: String::new(),
        };
        assert!(!oom.is_sticky());
        assert_eq!(oom.reaction(), "continue");
        let hang = EngineError::WatchdogHang {
            waited_ms: 5,
            emulated: true,
            backend: "cpu",
        };
        assert_eq!(hang.error_class(), "WATCHDOG_HANG");
        assert!(hang.is_sticky());
        assert!(hang.to_string().contains("emulated"));
    }
}
