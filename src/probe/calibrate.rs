//! Calibration: probes against an outage whose true length is known.
//!
//! Each repetition starts a fresh prober against an [`OutageTarget`],
//! schedules one outage of exactly `outage` at a random phase relative to the
//! probe grid (so that errors sample every alignment), measures the RTO with
//! [`crate::timeline::rto`] from the outage's start, and compares it with the
//! true length. The claim under test: the error stays within one interval.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::outage_target::{OutageMode, OutageTarget};
use super::{start, ProbeConfig, ProbeError};
use crate::clock::Clock;
use crate::timeline::{self, ErrorSummary};

/// What to calibrate.
#[derive(Debug, Clone)]
pub struct CalibrationSettings {
    /// Probe intervals to try.
    pub intervals: Vec<Duration>,
    /// Repetitions per interval.
    pub repetitions: usize,
    /// The true outage length.
    pub outage: Duration,
    /// How the target refuses during the outage.
    pub mode: OutageMode,
    /// Good probes in a row that count as recovered.
    pub sustain: usize,
    /// The prober's thread classes to calibrate: `true` real-time (the
    /// drills' default), `false` normal priority (to compare the two).
    pub realtime: Vec<bool>,
}

impl Default for CalibrationSettings {
    fn default() -> Self {
        Self {
            intervals: [5, 20, 100].map(Duration::from_millis).to_vec(),
            repetitions: 30,
            outage: Duration::from_millis(1000),
            mode: OutageMode::Status503,
            sustain: 3,
            realtime: vec![true],
        }
    }
}

/// One repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRun {
    /// The RTO the probes measured (`None`: they never saw recovery).
    pub measured_rto_ms: Option<f64>,
    /// `measured - true`.
    pub error_ms: Option<f64>,
    /// How late the probe that marked recovery left.
    pub recovering_send_delay_ms: Option<f64>,
    /// The stated bound of this measurement: the gap between the sends of the
    /// last failed and the first good probe (one interval when on schedule).
    pub stated_bound_ms: Option<f64>,
    /// The good probe's round trip: the RTO may be early by up to this.
    pub recovering_round_trip_ms: Option<f64>,
    /// The latest any probe of this repetition left.
    pub max_send_delay_ms: f64,
    /// Probes that failed (all inside the outage when the engine is right).
    pub failed_probes: usize,
}

/// All repetitions at one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalCalibration {
    /// The probe interval.
    pub interval_ms: f64,
    /// The true outage.
    pub true_outage_ms: f64,
    /// How the prober's threads were scheduled (`SCHED_FIFO 10`, or normal
    /// priority with why).
    pub scheduling: String,
    /// Each repetition.
    pub runs: Vec<CalibrationRun>,
    /// Repetitions whose probes never saw recovery.
    pub unrecovered: usize,
    /// Bias, spread and bound of the errors (`None` if no repetition recovered).
    pub error: Option<ErrorSummary>,
}

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The loopback target could not start.
    #[error("could not start the loopback calibration target: {0}")]
    Target(#[from] std::io::Error),
    /// The prober could not start.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A setting is unusable.
    #[error("calibration setting is invalid: {0}")]
    BadSetting(String),
}

/// Runs the calibration (on the current Tokio runtime).
pub async fn calibrate(
    settings: &CalibrationSettings,
) -> Result<Vec<IntervalCalibration>, CalibrationError> {
    if settings.repetitions == 0 || settings.intervals.is_empty() || settings.realtime.is_empty() {
        return Err(CalibrationError::BadSetting(
            "need at least one interval, one repetition and one priority".into(),
        ));
    }
    let target = OutageTarget::start().await?;
    let mut jitter = Jitter::seeded();
    let mut out = Vec::new();
    for &interval in &settings.intervals {
        // The classes take turns repetition by repetition, so that both see
        // the same load on a shared machine.
        let mut runs: Vec<Vec<CalibrationRun>> = vec![Vec::new(); settings.realtime.len()];
        let mut scheduling = vec![String::new(); settings.realtime.len()];
        for _ in 0..settings.repetitions {
            for (i, &realtime) in settings.realtime.iter().enumerate() {
                let (run, class) =
                    one_run(&target, settings, interval, realtime, jitter.next_unit()).await?;
                runs[i].push(run);
                scheduling[i] = class;
            }
        }
        let interval_ms = interval.as_secs_f64() * 1e3;
        for (runs, scheduling) in runs.into_iter().zip(scheduling) {
            let errors: Vec<f64> = runs.iter().filter_map(|r| r.error_ms).collect();
            out.push(IntervalCalibration {
                interval_ms,
                true_outage_ms: settings.outage.as_secs_f64() * 1e3,
                scheduling,
                unrecovered: runs.iter().filter(|r| r.error_ms.is_none()).count(),
                error: timeline::error_summary(&errors, interval_ms),
                runs,
            });
        }
    }
    Ok(out)
}

async fn one_run(
    target: &OutageTarget,
    settings: &CalibrationSettings,
    interval: Duration,
    realtime: bool,
    phase: f64,
) -> Result<(CalibrationRun, String), CalibrationError> {
    target.clear();
    // Lead-in of a few probes, the outage at a random phase of the grid, and
    // enough probes after it for the sustain run plus margin.
    let lead = interval * 3 + interval.mul_f64(phase);
    let tail = interval * (settings.sustain as u32 + 5);
    let mut cfg = ProbeConfig::new(target.url())
        .with_interval(interval)
        .with_timeout(Duration::from_secs(1));
    cfg.max_duration = Some(lead + settings.outage + tail);
    cfg.realtime = realtime;
    let clock = Clock::start();
    let outage_from: Instant = clock.t0() + lead;
    target.schedule(outage_from, settings.outage, settings.mode);
    let prober = start(cfg, clock)?;
    let scheduling = prober.scheduling().to_string();
    let samples = prober.finish().await;
    let fault_ms = clock.ms(outage_from);
    let measured = timeline::rto(&samples, fault_ms, settings.sustain);
    let true_ms = settings.outage.as_secs_f64() * 1e3;
    let (recovering, stated_bound_ms) =
        match timeline::recovery(&samples, fault_ms, settings.sustain) {
            timeline::Recovery::Recovered {
                recovered_ms,
                error_bound_ms,
                ..
            } => (
                samples.iter().find(|s| s.sent_ms == recovered_ms),
                Some(error_bound_ms),
            ),
            _ => (None, None),
        };
    let run = CalibrationRun {
        measured_rto_ms: measured,
        error_ms: measured.map(|m| m - true_ms),
        recovering_send_delay_ms: recovering.map(|s| s.send_delay_ms()),
        stated_bound_ms,
        recovering_round_trip_ms: recovering.map(|s| s.latency_ms - s.send_delay_ms()),
        max_send_delay_ms: samples
            .iter()
            .map(|s| s.send_delay_ms())
            .fold(0.0, f64::max),
        failed_probes: timeline::errors(&samples),
    };
    Ok((run, scheduling))
}

/// A small xorshift generator for the outage's phase (no need for crypto quality).
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self(nanos | 1)
    }

    /// A number in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_unit_interval_and_moves() {
        let mut j = Jitter(12345);
        let v: Vec<f64> = (0..1000).map(|_| j.next_unit()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(v.iter().any(|x| *x < 0.1) && v.iter().any(|x| *x > 0.9));
    }

    /// The correctness property the whole RTO figure rests on: against an
    /// outage of known length, at every interval, the measured RTO is within
    /// one probe interval of the truth. Not timed; only the error is checked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn measured_rto_is_within_one_interval_of_the_true_outage() {
        for (interval_ms, reps) in [(5u64, 20usize), (20, 15), (100, 6)] {
            for mode in [OutageMode::Status503, OutageMode::Close] {
                let settings = CalibrationSettings {
                    intervals: vec![Duration::from_millis(interval_ms)],
                    repetitions: reps,
                    outage: Duration::from_millis(250),
                    mode,
                    sustain: 3,
                    realtime: vec![true],
                };
                let result = calibrate(&settings).await.unwrap();
                let cal = &result[0];
                assert_eq!(cal.unrecovered, 0, "{cal:?}");
                assert_eq!(cal.error.expect("every repetition recovered").n, reps);
                let interval = interval_ms as f64;
                for run in &cal.runs {
                    let error = run.error_ms.unwrap();
                    let bound = run.stated_bound_ms.unwrap();
                    let round_trip = run.recovering_round_trip_ms.unwrap();
                    // Always: late by less than the stated bound, early by at most the round trip.
                    assert!(
                        error < bound && error > -round_trip,
                        "interval {interval_ms} ms, {mode:?}: {run:?}"
                    );
                    // Near schedule (the machine not starving the prober), the bound
                    // is one interval plus the good probe's own send delay.
                    if run.max_send_delay_ms < interval / 4.0 {
                        let delay = run.recovering_send_delay_ms.unwrap();
                        assert!(bound < interval + interval / 4.0, "{run:?}");
                        assert!(error.abs() < interval + delay, "{mode:?}: {run:?}");
                    }
                }
                // The outage was seen by probes every time.
                assert!(cal.runs.iter().all(|r| r.failed_probes > 0));
            }
        }
    }

    #[tokio::test]
    async fn empty_settings_are_refused() {
        let settings = CalibrationSettings {
            repetitions: 0,
            ..CalibrationSettings::default()
        };
        assert!(matches!(
            calibrate(&settings).await,
            Err(CalibrationError::BadSetting(_))
        ));
    }
}
