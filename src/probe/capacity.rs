//! How many probes a second one core sustains while keeping its own schedule.
//!
//! The prober (its schedule thread and a one-worker Tokio runtime) is pinned
//! to a single CPU; the loopback target runs on its own runtime on the other
//! CPUs, so that serving does not steal the prober's core. At each rate in a
//! ladder the prober runs for a fixed time and the send delay of every probe
//! (sent minus due) goes into an HDR histogram. A rate is sustained when the
//! p99 send delay stays under the limit (1 ms) and no probe fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::outage_target::OutageTarget;
use super::{start, ConnectionMode, ProbeConfig, ProbeError};
use crate::clock::Clock;
use crate::timeline;

/// What to measure.
#[derive(Debug, Clone)]
pub struct CapacitySettings {
    /// Probe rates to try, per second, in increasing order.
    pub rates: Vec<u32>,
    /// How long each rate runs.
    pub duration: Duration,
    /// Connection mode of the probes.
    pub connection: ConnectionMode,
    /// The p99 send delay a sustained rate must stay under.
    pub p99_limit: Duration,
}

impl Default for CapacitySettings {
    fn default() -> Self {
        Self {
            rates: vec![100, 250, 500, 1000, 2000, 4000, 8000],
            duration: Duration::from_secs(3),
            connection: ConnectionMode::Fresh,
            p99_limit: Duration::from_millis(1),
        }
    }
}

/// The figures at one rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateFigures {
    /// Probes per second asked for.
    pub rate_per_s: u32,
    /// Probes sent.
    pub probes: usize,
    /// Probes that failed.
    pub failed: usize,
    /// Median send delay, ms.
    pub send_delay_p50_ms: f64,
    /// 99th percentile send delay, ms.
    pub send_delay_p99_ms: f64,
    /// Largest send delay, ms.
    pub send_delay_max_ms: f64,
    /// Median latency (due to answered), ms.
    pub latency_p50_ms: f64,
    /// 99th percentile latency, ms.
    pub latency_p99_ms: f64,
    /// CPU time the whole process used per second of probing (1.0 = one core busy).
    pub cpu_per_s: Option<f64>,
    /// p99 send delay under the limit and no failures.
    pub sustained: bool,
}

/// The ladder's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityFigures {
    /// The CPU the prober was pinned to, when pinning worked.
    pub pinned_cpu: Option<usize>,
    /// `fresh` or `keep-alive`.
    pub connection: String,
    /// The p99 limit, ms.
    pub p99_limit_ms: f64,
    /// Each rate tried.
    pub rates: Vec<RateFigures>,
    /// The highest rate sustained (`None`: not even the first).
    pub highest_sustained_per_s: Option<u32>,
}

/// Why the measurement could not run.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// The target or a runtime could not start.
    #[error("could not start the probe capacity bench: {0}")]
    Io(#[from] std::io::Error),
    /// The prober refused its settings.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The measuring thread panicked.
    #[error("the probe capacity bench thread panicked")]
    Panicked,
}

/// Runs the ladder. Blocking: it starts its own threads and runtimes, and
/// must not be called from inside a Tokio runtime's worker.
pub fn probe_capacity(settings: &CapacitySettings) -> Result<CapacityFigures, CapacityError> {
    let cpus = allowed_cpus();
    let probe_cpu = cpus.first().copied();
    let other_cpus: Vec<usize> = cpus.iter().copied().skip(1).collect();
    // The target: its own runtime on the other CPUs (if any).
    let target_rt = {
        let others = other_cpus.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                if !others.is_empty() {
                    pin_current_thread(&others);
                }
            })
            .build()?
    };
    let target = target_rt.block_on(OutageTarget::start())?;
    let url = target.url();
    let settings = settings.clone();
    let measured = std::thread::Builder::new()
        .name("takeover-probe-bench".into())
        .spawn(move || -> Result<CapacityFigures, CapacityError> {
            // Threads started from here (the runtime's worker, the probe
            // schedule thread) inherit this affinity.
            let pinned = probe_cpu.filter(|cpu| pin_current_thread(&[*cpu]));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let mut rates = Vec::new();
            for &rate in &settings.rates {
                let figures = rt.block_on(one_rate(&url, rate, &settings))?;
                let overloaded = is_overloaded(&figures, &settings);
                rates.push(figures);
                if overloaded {
                    break; // probes failing or far behind: higher rates only get worse
                }
            }
            let highest = highest_sustained(&rates);
            Ok(CapacityFigures {
                pinned_cpu: pinned,
                connection: match settings.connection {
                    ConnectionMode::Fresh => "fresh".into(),
                    ConnectionMode::KeepAlive => "keep-alive".into(),
                },
                p99_limit_ms: settings.p99_limit.as_secs_f64() * 1e3,
                rates,
                highest_sustained_per_s: highest,
            })
        })?
        .join()
        .map_err(|_| CapacityError::Panicked)?;
    drop(target);
    target_rt.shutdown_background();
    measured
}

async fn one_rate(
    url: &str,
    rate: u32,
    settings: &CapacitySettings,
) -> Result<RateFigures, CapacityError> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut cfg = ProbeConfig::new(url)
        .with_interval(interval)
        .with_timeout(Duration::from_secs(1));
    cfg.max_duration = Some(settings.duration);
    cfg.connection = settings.connection;
    let cpu_before = process_cpu_seconds();
    let samples = start(cfg, Clock::start())?.finish().await;
    let cpu = match (cpu_before, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some((b - a) / settings.duration.as_secs_f64()),
        _ => None,
    };
    let mut delays = hdrhistogram::Histogram::<u64>::new(3).expect("valid precision");
    for s in &samples {
        let us = (s.send_delay_ms().max(0.0) * 1e3).round() as u64;
        delays.record(us).expect("auto-resizing histogram");
    }
    let latency = timeline::LatencySummary::from_histogram(
        &timeline::latency_histogram(&samples),
        timeline::errors(&samples) as u64,
    );
    let ms = |us: u64| us as f64 / 1e3;
    let p99 = ms(delays.value_at_quantile(0.99));
    let failed = timeline::errors(&samples);
    Ok(RateFigures {
        rate_per_s: rate,
        probes: samples.len(),
        failed,
        send_delay_p50_ms: ms(delays.value_at_quantile(0.5)),
        send_delay_p99_ms: p99,
        send_delay_max_ms: ms(delays.max()),
        latency_p50_ms: latency.p50_ms,
        latency_p99_ms: latency.p99_ms,
        cpu_per_s: cpu,
        sustained: failed == 0
            && !samples.is_empty()
            && p99 < settings.p99_limit.as_secs_f64() * 1e3,
    })
}

/// The highest rate that was sustained. A slower rate that missed the limit
/// (a scheduling hiccup from other load on the machine) does not hide a
/// faster one that held it; the table shows both.
fn highest_sustained(rates: &[RateFigures]) -> Option<u32> {
    rates
        .iter()
        .filter(|r| r.sustained)
        .map(|r| r.rate_per_s)
        .max()
}

/// A rate so far past capacity that trying higher ones is pointless: probes
/// failed, or the p99 send delay is ten times the limit.
fn is_overloaded(r: &RateFigures, settings: &CapacitySettings) -> bool {
    r.failed > 0 || r.send_delay_p99_ms > 10.0 * settings.p99_limit.as_secs_f64() * 1e3
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes
    // into the zeroed set we own; CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Restricts the calling thread to `cpus`; false if the kernel refused.
fn pin_current_thread(cpus: &[usize]) -> bool {
    // SAFETY: the set is a zeroed value we own; CPU_SET writes within it and
    // sched_setaffinity reads size_of::<cpu_set_t>() bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// User plus system CPU seconds used by the whole process so far.
fn process_cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage fills the zeroed struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(secs(usage.ru_utime) + secs(usage.ru_stime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rate_per_s: u32, p99: f64, failed: usize) -> RateFigures {
        RateFigures {
            rate_per_s,
            probes: 100,
            failed,
            send_delay_p50_ms: 0.1,
            send_delay_p99_ms: p99,
            send_delay_max_ms: p99,
            latency_p50_ms: 0.5,
            latency_p99_ms: 1.0,
            cpu_per_s: None,
            sustained: failed == 0 && p99 < 1.0,
        }
    }

    #[test]
    fn the_highest_sustained_rate_survives_a_hiccup_below_it() {
        let rates = [
            rate(100, 3.6, 0),
            rate(500, 0.2, 0),
            rate(1000, 0.6, 0),
            rate(2000, 1.02, 0),
        ];
        assert_eq!(highest_sustained(&rates), Some(1000));
        assert_eq!(highest_sustained(&[rate(100, 2.0, 0)]), None);
        let settings = CapacitySettings::default();
        assert!(!is_overloaded(&rate(2000, 1.02, 0), &settings));
        assert!(is_overloaded(&rate(4000, 38.0, 0), &settings));
        assert!(is_overloaded(&rate(4000, 0.5, 3), &settings));
    }

    #[test]
    fn a_short_ladder_reports_every_rate_it_tried() {
        let settings = CapacitySettings {
            rates: vec![50, 100],
            duration: Duration::from_millis(300),
            ..CapacitySettings::default()
        };
        let figures = probe_capacity(&settings).unwrap();
        assert!(!figures.rates.is_empty());
        for r in &figures.rates {
            // 300 ms at the rate, give or take the first probe.
            let expected = (f64::from(r.rate_per_s) * 0.3).round() as usize;
            assert!(r.probes.abs_diff(expected) <= 1, "{r:?}");
            assert!(r.send_delay_p99_ms <= r.send_delay_max_ms);
        }
        if let Some(h) = figures.highest_sustained_per_s {
            assert!(figures
                .rates
                .iter()
                .any(|r| r.rate_per_s == h && r.sustained));
        }
        assert!(!allowed_cpus().is_empty());
    }
}
