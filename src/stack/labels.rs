//! The labels every Docker object of a run carries, so that the run can be
//! found and removed later (also by another process: `takeover clean`).

use std::collections::HashMap;

/// The run id. Every object the tool creates carries it.
pub const RUN: &str = "takeover.run";
/// The role of a container (`primary`, `standby`, `frontdoor`, `state`, `sidecar`).
pub const ROLE: &str = "takeover.role";
/// Process id of the harness that owns the run.
pub const OWNER_PID: &str = "takeover.owner.pid";
/// Host name of the machine the owner runs on (a pid means nothing elsewhere).
pub const OWNER_HOST: &str = "takeover.owner.host";
/// On images: the content hash they were built from.
pub const IMAGE_CONTENT: &str = "takeover.image.content";

/// The labels of an object of `run_id`, owned by this process.
pub fn for_run(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (RUN.to_string(), run_id.to_string()),
        (OWNER_PID.to_string(), std::process::id().to_string()),
        (OWNER_HOST.to_string(), this_host()),
    ])
}

/// The labels of a container of `run_id` in `role`.
pub fn for_container(run_id: &str, role: &str) -> HashMap<String, String> {
    let mut labels = for_run(run_id);
    labels.insert(ROLE.to_string(), role.to_string());
    labels
}

/// A Docker filter matching the objects of one run.
pub fn run_filter(run_id: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{RUN}={run_id}")])])
}

/// A Docker filter matching the objects of every run.
pub fn any_run_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![RUN.to_string()])])
}

/// This machine's host name (from the kernel), or `unknown`.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
