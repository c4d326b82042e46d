//! Fault reactions: a stall trips the watchdog (health fails, the lease is
//! released, the standby takes the job); a sticky device error makes the worker
//! drop its lease and exit non-zero; a bad device keeps it up but out of service;
//! an out-of-memory error is survived.

mod common;

use std::time::{Duration, Instant};

use common::*;
use contract::{FaultReport, JobState};
use serde_json::json;

const LONG: Duration = Duration::from_secs(60);
const TOKEN: &str = "drill";

fn faulty(extra: &[&str]) -> WorkerOpts {
    let mut args = vec!["--fault-injection".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    WorkerOpts {
        args,
        env: vec![("SYNTH_WORKER_FAULT_TOKEN".into(), TOKEN.into())],
    }
}

async fn inject(url: &str, body: serde_json::Value) -> FaultReport {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/faults"))
        .header(contract::FAULT_TOKEN_HEADER, TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

fn request(seed: u64) -> serde_json::Value {
    json!({"script": script(seed, 2), "options": {"chunk_frames": 4, "pace_rtf": 0.5}})
}

#[tokio::test]
async fn a_stall_trips_the_watchdog_and_the_standby_takes_the_job() {
    let redis = Redis::start();
    let data = TempDir::new("stall");
    // A long lease: the standby can only take over this fast if the lease is released.
    let a = Worker::start("a", &redis, &data.0, "30s", faulty(&["--watchdog", "1s"])).await;
    let b = Worker::start("b", &redis, &data.0, "30s", WorkerOpts::default()).await;
    let req = request(31);
    let (job, _) = submit_and_wait_for_commits(&a.url, &req, 2, LONG).await;
    let report = inject(&a.url, json!({"kind": "stall"})).await;
    assert_eq!(
        (report.error_class.as_str(), report.reaction.as_str()),
        ("STALL", "unhealthy")
    );
    let t0 = Instant::now();
    // HTTP still answers, health turns 503.
    wait_for_health(
        &a.url,
        503,
        Duration::from_secs(20),
        "health never failed during the stall",
    )
    .await;
    let s = wait_for(&b.url, &job.id, LONG, "b to finish the job", |s| {
        s.state == JobState::Done
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "took over only after the 30 s lease expired"
    );
    assert_eq!((s.owner.as_deref(), s.epoch), (Some("b"), 2));
    assert_eq!(
        health_code(&a.url).await,
        Some(503),
        "the stalled worker must stay unhealthy"
    );
    assert_eq!(audio(&b.url, &job.id).await, reference(&req, &data.0));
}

#[tokio::test]
async fn a_sticky_device_error_drops_the_lease_and_exits() {
    let redis = Redis::start();
    let data = TempDir::new("sticky");
    let mut a = Worker::start("a", &redis, &data.0, "30s", faulty(&[])).await;
    let b = Worker::start("b", &redis, &data.0, "30s", WorkerOpts::default()).await;
    let req = request(32);
    let (job, _) = submit_and_wait_for_commits(&a.url, &req, 2, LONG).await;
    let t0 = Instant::now();
    let report = inject(&a.url, json!({"kind": "gpu-illegal-address"})).await;
    assert_eq!(report.error_class, "CUDA_ERROR_ILLEGAL_ADDRESS");
    assert_eq!(report.reaction, "exit");
    let code = a
        .wait_exit(
            Duration::from_secs(10),
            "the worker did not exit after a sticky error",
        )
        .await;
    assert_eq!(code, Some(70), "{}", a.log());
    let s = wait_for(&b.url, &job.id, LONG, "b to finish", |s| {
        s.state == JobState::Done
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "b waited for the 30 s lease: it was not released"
    );
    assert_eq!(s.owner.as_deref(), Some("b"));
    assert_eq!(audio(&b.url, &job.id).await, reference(&req, &data.0));
}

#[tokio::test]
async fn a_bad_device_stays_up_unhealthy_and_an_oom_is_survived() {
    let redis = Redis::start();
    let data = TempDir::new("xid");
    let a = Worker::start("a", &redis, &data.0, "300ms", faulty(&[])).await;
    let oom = inject(&a.url, json!({"kind": "gpu-oom"})).await;
    assert_eq!(
        (oom.error_class.as_str(), oom.reaction.as_str()),
        ("CUDA_ERROR_OUT_OF_MEMORY", "continue")
    );
    let allocated = oom
        .allocated_bytes
        .expect("the bytes allocated before the failure");
    assert!(oom.emulated && allocated > 0, "{oom:?}");
    assert!(
        oom.detail.contains(&allocated.to_string()),
        "{}",
        oom.detail
    );
    assert_eq!(
        health_code(&a.url).await,
        Some(200),
        "an OOM must not take the worker out"
    );
    let req = json!({"script": script(33, 1), "options": {"chunk_frames": 4}});
    let job = submit(&a.url, &req).await;
    wait_for(&a.url, &job.id, LONG, "a job after the OOM", |s| {
        s.state == JobState::Done
    })
    .await;
    let xid = inject(&a.url, json!({"kind": "gpu-xid", "xid": 79})).await;
    assert_eq!(
        (xid.error_class.as_str(), xid.reaction.as_str()),
        ("XID_79", "unhealthy")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(health_code(&a.url).await, Some(503));
    let r = reqwest::Client::new()
        .post(format!("{}/v1/jobs", a.url))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        503,
        "a worker with a bad device must refuse jobs"
    );
    let h: contract::HealthReport = reqwest::get(format!("{}/health", a.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gpu = h.checks.iter().find(|c| c.name == "gpu").unwrap();
    assert!(!gpu.ok && gpu.detail.contains("marked bad"), "{gpu:?}");
}

#[tokio::test]
async fn a_hang_stalls_the_device_until_the_stall_watchdog_ends_the_worker() {
    let redis = Redis::start();
    let data = TempDir::new("hang");
    let mut a = Worker::start("a", &redis, &data.0, "30s", faulty(&["--watchdog", "1s"])).await;
    let (job, _) = submit_and_wait_for_commits(&a.url, &request(34), 2, LONG).await;
    let report = inject(&a.url, json!({"kind": "gpu-hang"})).await;
    assert_eq!(
        (report.error_class.as_str(), report.reaction.as_str()),
        ("KERNEL_HUNG", "watchdog")
    );
    assert!(report.emulated && report.detail.contains("emulated on the CPU backend"));
    // The hang does not end itself: the watchdog, a separate task, sees device work
    // unfinished past its limit, and the worker drops the lease and exits for a restart.
    let code = a
        .wait_exit(Duration::from_secs(15), "the watchdog did not end the hang")
        .await;
    assert_eq!(code, Some(70), "{}", a.log());
    let log = a.log();
    assert!(
        log.contains("WATCHDOG_HANG") && log.contains("released job"),
        "{log}"
    );
    let b = Worker::start("b", &redis, &data.0, "30s", WorkerOpts::default()).await;
    wait_for(
        &b.url,
        &job.id,
        LONG,
        "the standby finishing the job",
        |s| s.state == JobState::Done,
    )
    .await;
}

#[tokio::test]
async fn with_the_stall_watchdog_off_a_hang_is_never_ended() {
    let redis = Redis::start();
    let data = TempDir::new("hang-off");
    let mut a = Worker::start(
        "a",
        &redis,
        &data.0,
        "30s",
        faulty(&["--watchdog", "300ms", "--no-watchdog"]),
    )
    .await;
    let (job, _) = submit_and_wait_for_commits(&a.url, &request(35), 2, LONG).await;
    let report = inject(&a.url, json!({"kind": "gpu-hang"})).await;
    assert_eq!(report.reaction, "watchdog");
    assert!(report.detail.contains("OFF"), "{}", report.detail);
    // A chunk already on the device may finish; after that nothing moves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = status(&a.url, &job.id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = status(&a.url, &job.id).await;
    assert_eq!(
        after.chunks_committed, before.chunks_committed,
        "synthesis went on while the device was hung"
    );
    assert_eq!(after.state, JobState::Running);
    assert!(
        a.child.try_wait().unwrap().is_none(),
        "the worker exited: {}",
        a.log()
    );
    // Nothing noticed: health that only reads flags stays green, which is why the watchdog matters.
    assert_eq!(health_code(&a.url).await, Some(200));
}

#[tokio::test]
async fn sigterm_hands_the_job_over_without_waiting_for_the_lease() {
    let redis = Redis::start();
    let data = TempDir::new("term");
    let mut a = Worker::start("a", &redis, &data.0, "30s", WorkerOpts::default()).await;
    let b = Worker::start("b", &redis, &data.0, "30s", WorkerOpts::default()).await;
    let req = request(34);
    let (job, _) = submit_and_wait_for_commits(&a.url, &req, 2, LONG).await;
    let t0 = Instant::now();
    a.signal(libc::SIGTERM);
    assert_eq!(a.child.wait().unwrap().code(), Some(0), "{}", a.log());
    let s = wait_for(&b.url, &job.id, LONG, "b to finish", |s| {
        s.state == JobState::Done
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "b waited for the 30 s lease"
    );
    assert_eq!(s.owner.as_deref(), Some("b"));
    assert_eq!(audio(&b.url, &job.id).await, reference(&req, &data.0));
}

#[tokio::test]
async fn an_unwritable_data_directory_fails_the_job_cleanly() {
    let redis = Redis::start();
    let data = TempDir::new("nospace");
    let a = Worker::start("a", &redis, &data.0, "300ms", WorkerOpts::default()).await;
    let req = request(35);
    let (job, s) = submit_and_wait_for_commits(&a.url, &req, 2, LONG).await;
    // Put a plain file where the job's directory was: every later chunk write fails.
    let dir = data.0.join("jobs").join(&job.id);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let end = wait_for(&a.url, &job.id, LONG, "the job to end", |s| {
        s.state != JobState::Running
    })
    .await;
    assert_eq!(end.state, JobState::Failed, "{end:?}");
    let err = end.error.clone().unwrap_or_default();
    assert!(
        err.contains("could not be written") && err.contains("after 3 attempts"),
        "{err}"
    );
    assert!(end.chunks_committed <= s.chunks_committed + 1, "{end:?}");
    // Chunks whose files are gone are refused, not served as silence.
    let r = reqwest::get(format!("{}/v1/jobs/{}/audio", a.url, job.id))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert!(r.text().await.unwrap().contains("cannot be served"));
}

#[tokio::test]
async fn after_a_timed_stall_the_worker_recovers_and_picks_the_job_up_again() {
    let redis = Redis::start();
    let data = TempDir::new("stall-ends");
    let a = Worker::start(
        "a",
        &redis,
        &data.0,
        "300ms",
        faulty(&["--watchdog", "500ms"]),
    )
    .await;
    let req = request(36);
    let (job, _) = submit_and_wait_for_commits(&a.url, &req, 2, LONG).await;
    inject(&a.url, json!({"kind": "stall", "duration_ms": 2000})).await;
    wait_for_health(&a.url, 503, Duration::from_secs(10), "health never failed").await;
    // The stall ends, the worker is fit again and claims the job it gave up (epoch 2).
    let s = wait_for(&a.url, &job.id, LONG, "the job to finish", |s| {
        s.state == JobState::Done
    })
    .await;
    assert_eq!((s.owner.as_deref(), s.epoch), (Some("a"), 2));
    assert_eq!(health_code(&a.url).await, Some(200));
    assert_eq!(audio(&a.url, &job.id).await, reference(&req, &data.0));
}

#[test]
fn the_memory_probe_allocates_until_an_allocation_really_fails_under_its_cap() {
    let cap = 64u64 << 20;
    let outcome =
        synth_worker::backend::memory_probe::spawn(std::path::Path::new(BIN), cap, 4 << 20)
            .unwrap();
    assert!(
        outcome.failure.is_some(),
        "no allocation failed: {outcome:?}"
    );
    assert!(
        outcome.allocated_bytes > 0 && outcome.allocated_bytes <= cap,
        "{outcome:?}"
    );
}
