//! What every injection gets ([`Ctx`]) and the three shapes of its answer.

use std::time::Duration;

use super::FaultEffect;
use crate::clock::Clock;
use crate::stack::{Role, Stack};

/// What every fault needs: the stack, the clock, the witness deadline.
pub struct Ctx<'a> {
    /// The stack the fault is made on.
    pub stack: &'a Stack,
    /// The iteration's time base.
    pub clock: &'a Clock,
    /// How long the fault may take to show its witness.
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
