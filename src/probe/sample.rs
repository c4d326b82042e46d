//! One probe's record.

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
