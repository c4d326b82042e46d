//! `takeover bench faults`: how long each fault takes from the request to its
//! witness, on a fresh stack each time. Plain figures; printing is the caller's job.

use std::time::Duration;

use serde::Serialize;

use super::{FaultError, FaultSpec};
use crate::clock::Clock;
use crate::stack::bench::Summary;
use crate::stack::{new_run_id, Stack, StackSpec};

/// Request-to-witness delays of one fault over repetitions (a fresh stack each time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultDelayFigures {
    /// The fault kind.
    pub kind: String,
    /// The fault as given.
    pub fault: FaultSpec,
    /// Delay from request to effect, per witnessed repetition, ms.
    pub delays_ms: Vec<f64>,
    /// Repetitions without a witness within the deadline.
    pub unwitnessed: usize,
    /// Why the fault cannot be made here, if so.
    pub unavailable: Option<String>,
    /// Summary of `delays_ms`.
    pub summary: Option<Summary>,
}

/// Measures each fault's request-to-effect delay, `repetitions` times on a fresh stack each.
pub async fn fault_delays(
    spec: &StackSpec,
    faults: &[FaultSpec],
    repetitions: usize,
    witness_deadline: Duration,
) -> Result<Vec<FaultDelayFigures>, FaultError> {
    let mut out = Vec::new();
    for fault in faults {
        let mut delays = Vec::new();
        let mut unwitnessed = 0;
        let mut unavailable = None;
        for _ in 0..repetitions {
            let clock = Clock::start();
            let stack = Stack::up(spec, &new_run_id(), &clock).await?;
            let effect = super::inject(&stack, fault, &clock, witness_deadline).await;
            stack.down().await?;
            let effect = effect?;
            if let Some(reason) = effect.unavailable {
                unavailable = Some(reason);
                break;
            }
            match effect.in_effect_at_ms {
                Some(t) => delays.push(t - effect.requested_at_ms),
                None => unwitnessed += 1,
            }
        }
        out.push(FaultDelayFigures {
            kind: fault.kind().to_string(),
            fault: fault.clone(),
            summary: Summary::of(&delays),
            delays_ms: delays,
            unwitnessed,
            unavailable,
        });
    }
    Ok(out)
}
