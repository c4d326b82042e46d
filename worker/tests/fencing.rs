//! Fencing: a paused (zombie) worker that wakes up after its lease was taken must
//! not commit; with `--no-fencing` it does, and overwrites the new owner's chunks.
//! Also: a corrupted checkpoint fails the job instead of being resumed from.

mod common;

use std::time::Duration;

use common::*;
use contract::JobState;
use serde_json::json;

const TTL: &str = "300ms";
const LONG: Duration = Duration::from_secs(60);

fn request(seed: u64) -> serde_json::Value {
    json!({"script": script(seed, 2), "options": {"chunk_frames": 4, "pace_rtf": 0.5}})
}

async fn metric(url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// Pauses `a` mid-job until `b` has taken over and committed, then wakes it.
async fn zombie_drill(fencing: bool) -> (Worker, Worker, String, u64, TempDir, Redis) {
    let redis = Redis::start();
    let data = TempDir::new(if fencing { "fenced" } else { "unfenced" });
    let req = request(21);
    let opts = WorkerOpts {
        args: if fencing {
            vec![]
        } else {
            vec!["--no-fencing".into()]
        },
        ..Default::default()
    };
    let a = Worker::start("a", &redis, &data.0, TTL, opts.clone()).await;
    let job = submit(&a.url, &req).await;
    wait_for(&a.url, &job.id, LONG, "a's first commits", |s| {
        s.chunks_committed >= 2
    })
    .await;
    a.signal(libc::SIGSTOP);
    let b = Worker::start("b", &redis, &data.0, TTL, opts).await;
    let took = wait_for(&b.url, &job.id, LONG, "b to take over", |s| s.epoch == 2).await;
    wait_for(&b.url, &job.id, LONG, "b to commit", |s| {
        s.chunks_committed >= took.chunks_committed + 2
    })
    .await;
    a.signal(libc::SIGCONT);
    (a, b, job.id, took.chunks_committed, data, redis)
}

#[tokio::test]
async fn a_woken_zombie_is_fenced_off() {
    let (a, b, id, took_at, data, _redis) = zombie_drill(true).await;
    let req = request(21);
    let done = wait_for(&b.url, &id, LONG, "the job to finish", |s| {
        s.state != JobState::Running
    })
    .await;
    assert_eq!(done.state, JobState::Done);
    wait_until(LONG, "a to notice it is fenced", || {
        a.log().contains("stale")
    })
    .await;
    assert!(
        metric(&a.url, "synth_fenced_total").await >= 1.0,
        "{}",
        a.log()
    );
    let m = manifest(&b.url, &id).await;
    assert!(
        m.chunks[took_at as usize..]
            .iter()
            .all(|c| c.writer == "b" && c.epoch == 2),
        "a zombie chunk landed after the takeover: {:?}",
        m.chunks
            .iter()
            .map(|c| (&c.writer, c.epoch))
            .collect::<Vec<_>>()
    );
    assert_eq!(audio(&b.url, &id).await, reference(&req, &data.0));
}

#[tokio::test]
async fn without_fencing_the_zombie_overwrites_committed_chunks() {
    let (a, b, id, took_at, _data, _redis) = zombie_drill(false).await;
    wait_for(&b.url, &id, LONG, "the job to finish", |s| {
        s.state != JobState::Running
    })
    .await;
    // Let the zombie write on for a while after it woke.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = manifest(&b.url, &id).await;
    // Chunks from index `took_at` on were b's to write; the zombie overwrote some.
    let zombie_after = m.chunks[took_at as usize..]
        .iter()
        .any(|c| c.writer == "a" && c.epoch == 1);
    assert!(
        zombie_after,
        "with fencing off the zombie's commits should land after the takeover: {:?}\n{}",
        m.chunks
            .iter()
            .map(|c| (&c.writer, c.epoch))
            .collect::<Vec<_>>(),
        a.log()
    );
    assert_eq!(metric(&a.url, "synth_fenced_total").await, 0.0);
}

#[tokio::test]
async fn a_corrupted_checkpoint_fails_the_job_instead_of_resuming() {
    let redis = Redis::start();
    let data = TempDir::new("corrupt");
    let req = request(22);
    let mut a = Worker::start("a", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let job = submit(&a.url, &req).await;
    wait_for(&a.url, &job.id, LONG, "a few commits", |s| {
        s.chunks_committed >= 3
    })
    .await;
    a.kill();
    // Find the last committed chunk in Redis, then damage its checkpoint.
    let key = format!("synth:job:{}", job.id);
    let committed: u64 =
        redis::from_redis_value(redis.cmd(&["HGET", &key, "chunks_committed"]).await).unwrap();
    let last: String = redis::from_redis_value(
        redis
            .cmd(&[
                "HGET",
                &format!("{key}:chunks"),
                &(committed - 1).to_string(),
            ])
            .await,
    )
    .unwrap();
    let last: contract::ChunkRecord = serde_json::from_str(&last).unwrap();
    let path = data
        .0
        .join("jobs")
        .join(&job.id)
        .join(format!("{:08}.e{}.ckpt", last.index, last.epoch));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let b = Worker::start("b", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let s = wait_for(&b.url, &job.id, LONG, "the job to end", |s| {
        s.state != JobState::Running
    })
    .await;
    assert_eq!(s.state, JobState::Failed, "{s:?}");
    let err = s.error.unwrap_or_default();
    assert!(
        err.contains("corrupted") && err.contains("checksum"),
        "{err}"
    );
    assert_eq!(
        s.chunks_committed, committed,
        "nothing may be committed after the bad checkpoint"
    );
    // The chunks committed before stay servable and match the reference prefix.
    let got = audio(&b.url, &job.id).await;
    let want = reference(&req, &data.0);
    assert_eq!(got[..], want[..got.len()]);
}
