//! The promise: SIGKILL a worker at any point, start another on the same data
//! directory and Redis, and the finished audio is bit-identical to an
//! uninterrupted run. Real `redis-server`, real worker processes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const TTL: &str = "300ms";
const LONG: Duration = Duration::from_secs(60);

fn request(seed: u64) -> serde_json::Value {
    json!({"script": script(seed, 2), "options": {"chunk_frames": 4, "pace_rtf": 0.5}})
}

/// Finishes the job on `worker`, then checks the audio against the offline reference
/// and the manifest's continuity.
async fn finish_and_compare(
    worker: &Worker,
    id: &str,
    req: &serde_json::Value,
    dir: &TempDir,
) -> contract::Manifest {
    let done = wait_for(&worker.url, id, LONG, "the resumed job to finish", |s| {
        s.state == contract::JobState::Done || s.state == contract::JobState::Failed
    })
    .await;
    assert_eq!(
        done.state,
        contract::JobState::Done,
        "{done:?}\n{}",
        worker.log()
    );
    let got = audio(&worker.url, id).await;
    let want = reference(req, &dir.0);
    assert_eq!(
        got.len(),
        want.len(),
        "length differs from the uninterrupted run"
    );
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(
        first_diff, None,
        "resumed audio differs from the uninterrupted run"
    );
    let m = manifest(&worker.url, id).await;
    let mut next = 0;
    for c in &m.chunks {
        assert_eq!(c.first_sample, next, "chunk {} is not contiguous", c.index);
        next += c.sample_count;
    }
    assert_eq!(next, m.total_samples);
    m
}

#[tokio::test]
async fn killed_right_after_submit_resumes_bit_identical() {
    let redis = Redis::start();
    let data = TempDir::new("early");
    let req = request(11);
    let mut a = Worker::start("a", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let job = submit(&a.url, &req).await;
    a.kill();
    let b = Worker::start("b", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let m = finish_and_compare(&b, &job.id, &req, &data).await;
    let s = status(&b.url, &job.id).await;
    assert_eq!((s.epoch, s.owner.as_deref()), (2, Some("b")));
    assert!(m.chunks.iter().any(|c| c.writer == "b" && c.epoch == 2));
}

#[tokio::test]
async fn killed_mid_job_twice_resumes_bit_identical() {
    let redis = Redis::start();
    let data = TempDir::new("mid");
    let req = request(12);
    let mut a = Worker::start("a", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let job = submit(&a.url, &req).await;
    let third = job.chunks_total / 3;
    wait_for(&a.url, &job.id, LONG, "a third of the chunks", |s| {
        s.chunks_committed >= third
    })
    .await;
    a.kill();
    let mut b = Worker::start("b", &redis, &data.0, TTL, WorkerOpts::default()).await;
    wait_for(&b.url, &job.id, LONG, "b to commit more", |s| {
        s.epoch == 2 && s.chunks_committed >= 2 * third
    })
    .await;
    b.kill();
    let c = Worker::start("c", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let m = finish_and_compare(&c, &job.id, &req, &data).await;
    let writers: Vec<(&str, u64)> = m
        .chunks
        .iter()
        .map(|c| (c.writer.as_str(), c.epoch))
        .collect();
    for w in [("a", 1), ("b", 2), ("c", 3)] {
        assert!(writers.contains(&w), "no chunk from {w:?}: {writers:?}");
    }
    assert!(
        writers.windows(2).all(|p| p[0].1 <= p[1].1),
        "epochs go backwards: {writers:?}"
    );
}

#[tokio::test]
async fn killed_inside_a_chunk_write_resumes_bit_identical() {
    let redis = Redis::start();
    let data = TempDir::new("torn");
    let req = request(13);
    // The hidden test knob: sleep between the PCM temp file's fsync and its rename.
    let slow = WorkerOpts {
        env: vec![(
            "SYNTH_WORKER_TEST_PAUSE_BEFORE_RENAME_MS".into(),
            "1500".into(),
        )],
        ..Default::default()
    };
    let mut a = Worker::start("a", &redis, &data.0, TTL, slow).await;
    let job = submit(&a.url, &req).await;
    wait_for(&a.url, &job.id, LONG, "a first commit", |s| {
        s.chunks_committed >= 1
    })
    .await;
    let dir = data.0.join("jobs").join(&job.id);
    // Chunk 1's PCM sits in its temp file, not yet renamed: kill now.
    let torn = dir.join(".00000001.e1.pcm.tmp");
    wait_until(LONG, "chunk 1's PCM temp file", || torn.exists()).await;
    a.kill();
    assert_eq!(
        committed_in_redis(&redis, &job.id).await,
        1,
        "the torn chunk must not count as committed"
    );
    assert!(torn.exists(), "the torn temp file should be left behind");
    assert!(!dir.join("00000001.e1.pcm").exists());
    let b = Worker::start("b", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let m = finish_and_compare(&b, &job.id, &req, &data).await;
    assert_eq!(
        (m.chunks[0].writer.as_str(), m.chunks[1].writer.as_str()),
        ("a", "b")
    );
    let s = status(&b.url, &job.id).await;
    // a had synthesized chunk 1 (4 frames) and published it, but never committed it.
    assert_eq!(s.frames_lost, 4, "{s:?}");
}

/// With a lease far longer than the test, a standby still takes the job of a
/// SIGKILLed holder at once: the holder's Redis presence connection closed. A
/// SIGSTOPped holder keeps its connection and its job; with `--no-presence` the
/// standby waits for the lease.
#[tokio::test]
async fn a_dead_holder_is_taken_over_at_once_and_a_paused_one_is_not() {
    let redis = Redis::start();
    let data = TempDir::new("presence");
    let req = request(14);
    const LEASE: &str = "60s";
    let mut a = Worker::start("a", &redis, &data.0, LEASE, WorkerOpts::default()).await;
    let b = Worker::start("b", &redis, &data.0, LEASE, WorkerOpts::default()).await;
    let job = submit(&a.url, &req).await;
    wait_for(&b.url, &job.id, LONG, "a first commit", |s| {
        s.chunks_committed >= 1
    })
    .await;
    // Paused for 1.5 s (30 of b's scans): not dead, so not taken.
    a.signal(libc::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = status(&b.url, &job.id).await;
    assert_eq!((s.epoch, s.owner.as_deref()), (1, Some("a")), "{}", b.log());
    a.signal(libc::SIGCONT);
    a.kill();
    // Taken long before the 60 s lease could lapse (the limit only guards a slow machine).
    let moved = wait_for(
        &b.url,
        &job.id,
        Duration::from_secs(20),
        "b to take the job",
        |s| s.epoch == 2,
    )
    .await;
    assert_eq!(moved.owner.as_deref(), Some("b"));
    assert!(b.log().contains("Redis connection closed"), "{}", b.log());
    finish_and_compare(&b, &job.id, &req, &data).await;

    // The same kill with presence off: the standby waits for the lease.
    let redis = Redis::start();
    let data = TempDir::new("no-presence");
    let off = WorkerOpts {
        args: vec!["--no-presence".into()],
        ..Default::default()
    };
    let mut a = Worker::start("a", &redis, &data.0, "60s", off.clone()).await;
    let b = Worker::start("b", &redis, &data.0, "60s", off).await;
    let job = submit(&a.url, &req).await;
    wait_for(&b.url, &job.id, LONG, "a first commit", |s| {
        s.chunks_committed >= 1
    })
    .await;
    a.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = status(&b.url, &job.id).await;
    assert_eq!((s.epoch, s.owner.as_deref()), (1, Some("a")), "{}", b.log());
}

/// Chunks committed, read from Redis directly (no worker is up).
async fn committed_in_redis(redis: &Redis, id: &str) -> u64 {
    let v = redis
        .cmd(&["HGET", &format!("synth:job:{id}"), "chunks_committed"])
        .await;
    redis::from_redis_value(v).unwrap()
}
