//! The probe engine against real loopback servers.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use super::outage_target::{OutageMode, OutageTarget};
use super::*;
use crate::clock::Clock;
use crate::timeline;

fn config(url: &str, interval_ms: u64, count: u64) -> ProbeConfig {
    let mut cfg = ProbeConfig::new(url).with_interval(Duration::from_millis(interval_ms));
    cfg.max_count = Some(count);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_keep_schedule_and_see_a_known_outage() {
    let target = OutageTarget::start().await.unwrap();
    let clock = Clock::start();
    let outage_from = clock.t0() + Duration::from_millis(200);
    target.schedule(
        outage_from,
        Duration::from_millis(300),
        OutageMode::Status503,
    );
    let samples = start(config(&target.url(), 10, 80), clock)
        .unwrap()
        .finish()
        .await;
    assert_eq!(samples.len(), 80);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.seq, i as u64);
        assert!(s.sent_ms >= s.scheduled_ms);
        assert!(s.latency_ms >= s.send_delay_ms());
        if i > 0 {
            let step = s.scheduled_ms - samples[i - 1].scheduled_ms;
            assert!((step - 10.0).abs() < 1e-6, "step {step}");
        }
    }
    // Failures only inside the outage (the first probe is due at ~0 ms).
    let fault_ms = clock.ms(outage_from);
    for s in samples.iter().filter(|s| !s.ok) {
        assert!(
            s.sent_ms >= fault_ms - 1.0 && s.sent_ms < fault_ms + 301.0,
            "{s:?}"
        );
        assert_eq!(s.status, Some(503));
        assert_eq!(s.error.as_deref(), Some("HTTP 503"));
    }
    // A 300 ms outage probed every 10 ms: about 30 failures, fewer only if
    // the machine starved the prober.
    assert!(timeline::errors(&samples) >= 10);
    let rto = timeline::rto(&samples, fault_ms, 3).expect("recovered");
    let error = rto - 300.0;
    // Late by less than the stated bound (one interval when the schedule is
    // kept; the real gap between the last failed and first good send when a
    // loaded machine delayed the prober), early by at most a round trip.
    let bound = match timeline::recovery(&samples, fault_ms, 3) {
        timeline::Recovery::Recovered { error_bound_ms, .. } => error_bound_ms,
        other => panic!("expected a recovery, got {other:?}"),
    };
    assert!(
        error > -10.0 && error < bound + 1.0,
        "rto {rto} for a 300 ms outage, stated bound {bound} ms"
    );
    assert_eq!(target.refused() as usize, timeline::errors(&samples));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_fail_probes() {
    let target = OutageTarget::start().await.unwrap();
    let clock = Clock::start();
    target.schedule(clock.t0(), Duration::from_secs(60), OutageMode::Close);
    let samples = start(config(&target.url(), 5, 10), clock)
        .unwrap()
        .finish()
        .await;
    assert_eq!(samples.len(), 10);
    assert!(samples
        .iter()
        .all(|s| !s.ok && s.status.is_none() && s.error.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_does_not_stall_the_schedule() {
    // Accepts connections and never answers: every probe times out, yet each
    // one still leaves on time (no coordinated omission).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let clock = Clock::start();
    let cfg = config(&url, 10, 20).with_timeout(Duration::from_millis(200));
    let samples = start(cfg, clock).unwrap().finish().await;
    holder.abort();
    assert_eq!(samples.len(), 20);
    for s in &samples {
        assert!(!s.ok);
        assert!(s.error.as_deref().unwrap().contains("timeout"), "{s:?}");
        assert!(
            s.send_delay_ms() < 50.0,
            "probe #{} left {} ms late",
            s.seq,
            s.send_delay_ms()
        );
        assert!(s.latency_ms >= 199.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_in_flight_cap_waiting_counts_as_latency() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut cfg = config(&url, 10, 6).with_timeout(Duration::from_millis(100));
    cfg.max_in_flight = 2;
    let samples = start(cfg, Clock::start()).unwrap().finish().await;
    holder.abort();
    assert_eq!(samples.len(), 6);
    // Probes 2 and 3 wait for 0 and 1 to time out (~100 ms after they were due).
    assert!(samples[2].send_delay_ms() >= 70.0, "{:?}", samples[2]);
    assert!(samples[3].send_delay_ms() >= 70.0, "{:?}", samples[3]);
    assert!(samples[5].latency_ms >= samples[5].send_delay_ms() + 99.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_unbounded_count_early() {
    let target = OutageTarget::start().await.unwrap();
    let mut cfg = ProbeConfig::new(target.url()).with_interval(Duration::from_millis(10));
    cfg.max_duration = Some(Duration::from_secs(60));
    let handle = start(cfg, Clock::start()).unwrap();
    let began = Instant::now();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let samples = handle.stop().await;
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(
        (5..=30).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    assert!(samples.iter().all(|s| s.ok));
    // Samples come back in schedule order with no gap.
    assert!(samples.iter().enumerate().all(|(i, s)| s.seq == i as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_and_non_loopback_urls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let samples = start(config(&url, 5, 3), Clock::start())
        .unwrap()
        .finish()
        .await;
    assert!(samples
        .iter()
        .all(|s| s.error.as_deref().is_some_and(|e| e.starts_with("connect"))));
    assert!(matches!(
        start(config("http://192.0.2.1/", 5, 3), Clock::start()),
        Err(ProbeError::NotLoopback { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_mode_reuses_connections() {
    let target = OutageTarget::start().await.unwrap();
    let mut cfg = config(&target.url(), 5, 20);
    cfg.connection = ConnectionMode::KeepAlive;
    let samples = start(cfg, Clock::start()).unwrap().finish().await;
    assert!(samples.iter().all(|s| s.ok));
    assert_eq!(target.served_ok(), 20);
}

#[test]
fn the_prober_brings_its_own_runtime() {
    // Nothing of the caller's runtime is needed: probes run on the prober's own.
    let handle = start(config("http://127.0.0.1:9/", 5, 3), Clock::start()).unwrap();
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let samples = waiter.block_on(handle.finish());
    assert_eq!(samples.len(), 3);
    assert!(samples.iter().all(|s| !s.ok), "nothing listens on port 9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontdoor_poller_records_snapshots_and_errors() {
    use super::frontdoor::{FrontdoorPoller, ServerView};
    let mut calls = 0u32;
    let poller = FrontdoorPoller::start(Duration::from_millis(10), Clock::start(), move || {
        calls += 1;
        let n = calls;
        async move {
            if n == 2 {
                Err("stats socket busy".to_string())
            } else {
                Ok(vec![ServerView {
                    name: "primary".into(),
                    backup: false,
                    up: n < 4,
                    sessions_total: Some(n as u64),
                }])
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(80)).await;
    let seen = poller.stop().await;
    assert!(seen.snapshots.len() >= 3, "{seen:?}");
    assert_eq!(seen.errors.len(), 1);
    assert!(seen
        .snapshots
        .windows(2)
        .all(|w| w[0].answered_ms <= w[1].asked_ms));
    let events = timeline::frontdoor_events(&seen.snapshots);
    assert_eq!(
        events[0].kind,
        timeline::EventKind::FrontdoorMarkedPrimaryDown
    );
}
