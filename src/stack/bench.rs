//! Measurements of the stack itself, for `takeover bench`: how long a stack
//! takes to come up and go down (each fault's delay is `fault::bench`'s).
//! Plain figures; printing is the caller's job.

use std::time::Instant;

use serde::Serialize;

use super::{new_run_id, Stack, StackError, StackSpec};
use crate::clock::Clock;

/// Summary of a set of durations, in ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest.
    pub min_ms: f64,
    /// Median.
    pub median_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Summary {
    /// Summarizes samples; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            min_ms: s[0],
            median_ms: median,
            max_ms: s[n - 1],
            mean_ms: s.iter().sum::<f64>() / n as f64,
        })
    }
}

/// Stack start and removal times over repetitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpDownFigures {
    /// Each `Stack::up`, ms (images already built: the first call builds them, untimed).
    pub up_ms: Vec<f64>,
    /// Each `Stack::down`, ms.
    pub down_ms: Vec<f64>,
    /// Summary of `up_ms`.
    pub up: Option<Summary>,
    /// Summary of `down_ms`.
    pub down: Option<Summary>,
    /// Where each `up` spent its time.
    pub up_timings: Vec<super::startup::UpTimings>,
}

impl UpDownFigures {
    /// Each phase of `up` (in the order they ran) with the summary of its durations.
    pub fn phase_summaries(&self) -> Vec<(String, Summary)> {
        let mut names: Vec<String> = Vec::new();
        for t in &self.up_timings {
            for p in &t.phases {
                if !names.contains(&p.name) {
                    names.push(p.name.clone());
                }
            }
        }
        names
            .into_iter()
            .filter_map(|name| {
                let samples: Vec<f64> = self
                    .up_timings
                    .iter()
                    .flat_map(|t| t.phases.iter().filter(|p| p.name == name).map(|p| p.ms))
                    .collect();
                Summary::of(&samples).map(|s| (name, s))
            })
            .collect()
    }

    /// Per role, the summary of when its readiness check passed (ms from the start of `up`).
    pub fn ready_summaries(&self) -> Vec<(String, Summary)> {
        let mut roles: Vec<String> = Vec::new();
        for t in &self.up_timings {
            for (role, _) in &t.ready_at_ms {
                if !roles.contains(role) {
                    roles.push(role.clone());
                }
            }
        }
        roles
            .into_iter()
            .filter_map(|role| {
                let samples: Vec<f64> = self
                    .up_timings
                    .iter()
                    .flat_map(|t| {
                        t.ready_at_ms
                            .iter()
                            .filter(|(r, _)| *r == role)
                            .map(|(_, ms)| *ms)
                    })
                    .collect();
                Summary::of(&samples).map(|s| (role, s))
            })
            .collect()
    }
}

/// Errors of a bench run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The stack failed.
    #[error(transparent)]
    Stack(#[from] StackError),
}

/// Brings a stack up and down `repetitions` times.
pub async fn stack_up_down(
    spec: &StackSpec,
    repetitions: usize,
) -> Result<UpDownFigures, BenchError> {
    // Build (or find) the images first, so that the timings are of starting, not building.
    let docker = super::docker::connect().await?;
    super::images::ensure_all(
        &docker,
        &spec.images,
        spec.frontdoor.kind,
        spec.worker.image.as_deref(),
    )
    .await?;
    let mut up_ms = Vec::new();
    let mut down_ms = Vec::new();
    let mut up_timings = Vec::new();
    for _ in 0..repetitions {
        let clock = Clock::start();
        let t = Instant::now();
        let stack = Stack::up(spec, &new_run_id(), &clock).await?;
        up_ms.push(t.elapsed().as_secs_f64() * 1e3);
        up_timings.push(stack.up_timings().clone());
        let t = Instant::now();
        stack.down().await?;
        down_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(UpDownFigures {
        up: Summary::of(&up_ms),
        down: Summary::of(&down_ms),
        up_ms,
        down_ms,
        up_timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_right_for_odd_and_even_counts() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            (s.min_ms, s.median_ms, s.max_ms, s.mean_ms),
            (1.0, 2.0, 3.0, 2.0)
        );
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median_ms, 2.5);
        assert!(Summary::of(&[]).is_none());
    }
}
