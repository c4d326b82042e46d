//! The health report of `GET /health` and `GET /ready`.

use serde::{Deserialize, Serialize};

/// One named check inside a health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What was checked: `gpu`, `redis`, `data`, `watchdog`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen, for a person.
    pub detail: String,
}

/// Body of `GET /health` (200 when `ok`, 503 otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// True when every check passed.
    pub ok: bool,
    /// Worker id.
    pub worker: String,
    /// Backend in use: `cpu` or `cuda`.
    pub backend: String,
    /// Each check.
    pub checks: Vec<HealthCheck>,
    /// The contract version the server keeps ([`crate::CONTRACT_VERSION`]);
    /// optional, absent from servers older than the versioned contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_version: Option<String>,
}
