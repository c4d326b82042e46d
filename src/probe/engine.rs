//! The scheduler and the probe tasks.
//!
//! A dedicated OS thread keeps the schedule: it sleeps until each probe is
//! due (a futex wait, accurate to tens of microseconds, where Tokio's timer
//! rounds to whole milliseconds) and hands the probe to the prober's own
//! Tokio runtime, which sends it and records the answer. The thread never
//! waits for an answer, only for a free slot when `max_in_flight` probes are
//! outstanding.
//!
//! The probes run on a runtime of their own (one worker thread), not the
//! harness's: measured beside an independent client, probes spawned on the
//! harness's runtime sometimes left 50-70 ms late while it was busy with
//! Docker events and fault steps, which widened the measured recovery by as
//! much. A runtime that does nothing but probe keeps sends on schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::priority::{Outcome, Scheduling};
use super::{ConnectionMode, ProbeConfig, ProbeError, ProbeSample};
use crate::clock::Clock;

/// A running prober. Stop it (or wait for its count/duration to run out) to get the samples.
pub struct ProbeHandle {
    config: ProbeConfig,
    priority: Outcome,
    stop_flag: Arc<AtomicBool>,
    stop_tx: watch::Sender<bool>,
    ticker: Option<JoinHandle<()>>,
    ticker_done: Option<oneshot::Receiver<()>>,
    in_flight: Arc<Semaphore>,
    samples: Arc<Mutex<Vec<ProbeSample>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Everything one probe task needs.
struct ProbeContext {
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
    clock: Clock,
    samples: Arc<Mutex<Vec<ProbeSample>>>,
}

/// Starts probing now. Probes run on the prober's own runtime, the schedule
/// on its own thread. Times are on `clock`.
pub fn start(config: ProbeConfig, clock: Clock) -> Result<ProbeHandle, ProbeError> {
    let url = config.validate()?;
    let priority = Outcome::default();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(1)
        .thread_name("takeover-probe")
        .enable_all();
    if config.realtime {
        let priority = priority.clone();
        builder.on_thread_start(move || priority.raise_this_thread());
    }
    let own_runtime = builder.build()?;
    let runtime = own_runtime.handle().clone();
    // The client's connection machinery belongs to the runtime that uses it.
    let client = {
        let _inside = runtime.enter();
        build_client(&config)?
    };
    let samples = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = oneshot::channel();
    let ctx = Arc::new(ProbeContext {
        client,
        url,
        timeout: config.timeout,
        clock,
        samples: samples.clone(),
    });
    let schedule = Schedule {
        first_due: Instant::now(),
        interval: config.interval,
        max_count: config.max_count,
        max_duration: config.max_duration,
    };
    let realtime = config.realtime;
    let ticker = {
        let stop_flag = stop_flag.clone();
        let in_flight = in_flight.clone();
        let priority = priority.clone();
        let (raised_tx, raised_rx) = std::sync::mpsc::channel();
        let ticker = std::thread::Builder::new()
            .name("takeover-probe-ticker".into())
            .spawn(move || {
                if realtime {
                    priority.raise_this_thread();
                }
                let _ = raised_tx.send(());
                run_schedule(schedule, runtime, ctx, in_flight, stop_flag, stop_rx);
                drop(done_tx);
            })?;
        // The ticker's class is settled before anyone asks for it.
        let _ = raised_rx.recv();
        ticker
    };
    Ok(ProbeHandle {
        config,
        priority,
        stop_flag,
        stop_tx,
        ticker: Some(ticker),
        ticker_done: Some(done_rx),
        in_flight,
        samples,
        runtime: Some(own_runtime),
    })
}

impl ProbeHandle {
    /// The settings this prober runs with.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// How the prober's threads are scheduled (real-time unless refused or
    /// turned off). Known once the threads have started: ask after the first probe.
    pub fn scheduling(&self) -> Scheduling {
        if self.config.realtime {
            self.priority.scheduling()
        } else {
            Scheduling::Normal("real-time scheduling turned off".into())
        }
    }

    /// A copy of the samples answered so far, in completion order.
    pub fn samples_so_far(&self) -> Vec<ProbeSample> {
        lock(&self.samples).clone()
    }

    /// Stops scheduling probes, waits for those in flight (each ends within
    /// its timeout) and returns every sample in schedule order.
    pub async fn stop(mut self) -> Vec<ProbeSample> {
        self.stop_flag.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
        if let Some(t) = &self.ticker {
            t.thread().unpark();
        }
        self.collect().await
    }

    /// Waits until the count or duration limit ends the schedule, then
    /// returns every sample in schedule order.
    pub async fn finish(mut self) -> Vec<ProbeSample> {
        self.collect().await
    }

    async fn collect(&mut self) -> Vec<ProbeSample> {
        if let Some(done) = self.ticker_done.take() {
            let _ = done.await;
        }
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        // Every probe holds one permit until its sample is stored.
        let all = self.config.max_in_flight as u32;
        if let Ok(permits) = self.in_flight.acquire_many(all).await {
            drop(permits);
        }
        let mut samples = std::mem::take(&mut *lock(&self.samples));
        samples.sort_by_key(|s| s.seq);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        samples
    }
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        // A handle dropped without stop() must not leave the ticker running.
        self.stop_flag.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
        if let Some(t) = &self.ticker {
            t.thread().unpark();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// When probes are due.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first_due: Instant,
    interval: Duration,
    max_count: Option<u64>,
    max_duration: Option<Duration>,
}

impl Schedule {
    /// When probe `seq` is due, or `None` once the limits are reached.
    fn due(&self, seq: u64) -> Option<Instant> {
        if self.max_count.is_some_and(|max| seq >= max) {
            return None;
        }
        let offset = self.interval.checked_mul(u32::try_from(seq).ok()?)?;
        if self.max_duration.is_some_and(|d| offset >= d) {
            return None;
        }
        Some(self.first_due + offset)
    }
}

fn run_schedule(
    schedule: Schedule,
    runtime: Handle,
    ctx: Arc<ProbeContext>,
    in_flight: Arc<Semaphore>,
    stop_flag: Arc<AtomicBool>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let mut seq = 0u64;
    while let Some(due) = schedule.due(seq) {
        if !sleep_until(due, &stop_flag) {
            return;
        }
        let permit = match in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // At the cap: wait for a slot; the wait counts in this probe's latency.
                let sem = in_flight.clone();
                let got = runtime.block_on(async {
                    tokio::select! {
                        p = sem.acquire_owned() => p.ok(),
                        _ = stop_rx.wait_for(|stop| *stop) => None,
                    }
                });
                match got {
                    Some(p) => p,
                    None => return,
                }
            }
        };
        runtime.spawn(probe_once(ctx.clone(), seq, due, permit));
        seq += 1;
    }
}

/// Sleeps until `due`; false when asked to stop first.
fn sleep_until(due: Instant, stop_flag: &AtomicBool) -> bool {
    loop {
        if stop_flag.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::park_timeout(due - now);
    }
}

async fn probe_once(ctx: Arc<ProbeContext>, seq: u64, due: Instant, permit: OwnedSemaphorePermit) {
    let sent = Instant::now();
    let outcome = tokio::time::timeout(ctx.timeout, request(&ctx.client, &ctx.url, seq)).await;
    let done = Instant::now();
    let (status, error) = match outcome {
        Ok(Ok(status)) if (200..300).contains(&status) => (Some(status), None),
        Ok(Ok(status)) => (Some(status), Some(format!("HTTP {status}"))),
        Ok(Err(e)) => (None, Some(describe(&e))),
        Err(_) => (
            None,
            Some(format!("timeout after {} ms", ctx.timeout.as_millis())),
        ),
    };
    let sample = ProbeSample {
        seq,
        scheduled_ms: ctx.clock.ms(due),
        sent_ms: ctx.clock.ms(sent),
        latency_ms: done.saturating_duration_since(due).as_secs_f64() * 1e3,
        status,
        ok: error.is_none(),
        error,
    };
    lock(&ctx.samples).push(sample);
    drop(permit);
}

/// Sends one probe, numbered in a header so the front door's log can be matched to it.
async fn request(client: &reqwest::Client, url: &Url, seq: u64) -> Result<u16, reqwest::Error> {
    let response = client
        .get(url.clone())
        .header(crate::stack::haproxy_log::PROBE_HEADER, seq)
        .send()
        .await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}

fn build_client(config: &ProbeConfig) -> Result<reqwest::Client, ProbeError> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(config.timeout)
        .connect_timeout(config.timeout);
    if config.connection == ConnectionMode::Fresh {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONNECTION,
            reqwest::header::HeaderValue::from_static("close"),
        );
        builder = builder.pool_max_idle_per_host(0).default_headers(headers);
    }
    builder
        .build()
        .map_err(|e| ProbeError::Client(e.to_string()))
}

/// A short cause: the error's own text and its innermost source.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_connect() {
        "connect"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut root: &dyn std::error::Error = err;
    while let Some(next) = root.source() {
        root = next;
    }
    format!("{kind}: {root}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_bounded_by_count_and_duration() {
        let t0 = Instant::now();
        let s = Schedule {
            first_due: t0,
            interval: Duration::from_millis(20),
            max_count: Some(3),
            max_duration: None,
        };
        assert_eq!(s.due(0), Some(t0));
        assert_eq!(s.due(2), Some(t0 + Duration::from_millis(40)));
        assert_eq!(s.due(3), None);
        let s = Schedule {
            max_count: None,
            max_duration: Some(Duration::from_millis(100)),
            ..s
        };
        assert_eq!(s.due(4), Some(t0 + Duration::from_millis(80)));
        assert_eq!(s.due(5), None);
    }
}
