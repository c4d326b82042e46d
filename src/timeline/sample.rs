//! The recordings the timeline reads: each probe's outcome and the front
//! door's view of its servers. The prober and the poller (`crate::probe`)
//! produce them; they live here so that the pure side owns its inputs.

use serde::{Deserialize, Serialize};

/// The outcome of one probe, all times in ms on the iteration's [`crate::clock::Clock`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSample {
    /// Position in the schedule (0 for the first probe).
    pub seq: u64,
    /// When the probe was due: `start + seq * interval`.
    pub scheduled_ms: f64,
    /// When the request actually left (never earlier than `scheduled_ms`).
    pub sent_ms: f64,
    /// From `scheduled_ms` to the full answer or the failure: a late send counts.
    pub latency_ms: f64,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// True for a 2xx answer within the timeout.
    pub ok: bool,
    /// Why the probe failed (`None` when it succeeded).
    pub error: Option<String>,
}

impl ProbeSample {
    /// How late the probe left compared with its schedule, in ms.
    pub fn send_delay_ms(&self) -> f64 {
        self.sent_ms - self.scheduled_ms
    }
}

/// One server as the front door sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// The server's name in the front door's configuration (e.g. `primary`).
    pub name: String,
    /// True for the standby: a `backup` server, or HAProxy's second server
    /// under `balance first`; either way it takes traffic only while the
    /// primary is not up (and, under `balance first`, reads retried away
    /// from a primary that did not answer in time).
    pub backup: bool,
    /// True while the front door's health checks consider it up.
    pub up: bool,
    /// Sessions the front door has sent to it since it started, when known
    /// (HAProxy's `stot`): a rise on the backup proves traffic went there.
    pub sessions_total: Option<u64>,
}

/// The front door's view at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontdoorSnapshot {
    /// When the poll was sent, in clock ms.
    pub asked_ms: f64,
    /// When the answer came back, in clock ms.
    pub answered_ms: f64,
    /// Every server of the backend.
    pub servers: Vec<ServerView>,
}
