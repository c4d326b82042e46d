//! The HTTP contract: bad requests get the right 4xx and write nothing; the fault
//! endpoint is 404 when off and 401 without the token; health and metrics answer.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const TTL: &str = "300ms";

#[tokio::test]
async fn bad_requests_get_a_4xx_that_says_why_and_write_nothing() {
    let redis = Redis::start();
    let data = TempDir::new("bad");
    let w = Worker::start("w", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let turn = |s: &str| json!({"speaker": s, "text": "hello there"});
    let huge_turn = "word ".repeat(contract::MAX_TURN_BYTES / 5 + 10);
    let ten_mb = "x".repeat(10 * 1024 * 1024);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("broken JSON", b"{\"script\": {\"turns\": [".to_vec(), 400, "not a valid job request"),
        ("not JSON at all", b"hello".to_vec(), 400, "not a valid job request"),
        ("unknown field", serde_json::to_vec(&json!({"script": {"turns": [turn("a")], "seed": 1}, "colour": "red"})).unwrap(), 400, "unknown field `colour`"),
        ("unknown field in a turn", serde_json::to_vec(&json!({"script": {"turns": [{"speaker": "a", "text": "hi", "voice": 3}]}})).unwrap(), 400, "unknown field `voice`"),
        ("empty script", serde_json::to_vec(&json!({"script": {"turns": [], "seed": 1}})).unwrap(), 422, "no turns"),
        ("five speakers", serde_json::to_vec(&json!({"script": {"turns": [turn("a"), turn("b"), turn("c"), turn("d"), turn("e")]}})).unwrap(), 422, "5 speakers"),
        ("empty speaker", serde_json::to_vec(&json!({"script": {"turns": [turn("")]}})).unwrap(), 422, "empty speaker"),
        ("turn over the limit", serde_json::to_vec(&json!({"script": {"turns": [{"speaker": "a", "text": huge_turn}]}})).unwrap(), 422, "at most 65536 bytes"),
        ("10 MB body", serde_json::to_vec(&json!({"script": {"turns": [{"speaker": "a", "text": ten_mb}]}})).unwrap(), 413, "larger than"),
        ("zero chunk frames", serde_json::to_vec(&json!({"script": {"turns": [turn("a")]}, "options": {"chunk_frames": 0}})).unwrap(), 422, "chunk_frames"),
        ("negative pace", serde_json::to_vec(&json!({"script": {"turns": [turn("a")]}, "options": {"pace_rtf": -2.0}})).unwrap(), 422, "pace_rtf"),
    ];
    let client = reqwest::Client::new();
    for (what, body, code, needle) in cases {
        let r = client
            .post(format!("{}/v1/jobs", w.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(got, code, "{what}: {text}");
        let msg = serde_json::from_str::<serde_json::Value>(&text).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains(needle),
            "{what}: message {msg:?} lacks {needle:?}"
        );
    }
    // Only the worker's own presence (it announces itself at start) may be there.
    let keys = redis.keys("synth:*").await;
    assert!(
        keys.iter().all(|k| k == "synth:workers:presence"),
        "a bad request left Redis keys: {keys:?}"
    );
    let jobs: Vec<_> = std::fs::read_dir(data.0.join("jobs")).unwrap().collect();
    assert!(
        jobs.is_empty(),
        "a bad request left files in the data directory"
    );
    // Unknown job and a job id that tries to leave the data directory.
    let r = reqwest::get(format!("{}/v1/jobs/job-0000000000000000", w.url))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = reqwest::get(format!("{}/v1/jobs/..%2F..%2Fetc/audio", w.url))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn fault_endpoint_is_off_by_default_and_needs_the_token() {
    let redis = Redis::start();
    let data = TempDir::new("faultauth");
    let off = Worker::start("off", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let on = Worker::start(
        "on",
        &redis,
        &data.0,
        TTL,
        WorkerOpts {
            args: vec!["--fault-injection".into()],
            env: vec![("SYNTH_WORKER_FAULT_TOKEN".into(), "s3cret".into())],
        },
    )
    .await;
    let client = reqwest::Client::new();
    let body = json!({"kind": "crash"});
    let post = |url: &str, token: Option<&str>| {
        let mut r = client.post(format!("{url}/v1/faults")).json(&body);
        if let Some(t) = token {
            r = r.header(contract::FAULT_TOKEN_HEADER, t);
        }
        r.send()
    };
    assert_eq!(
        post(&off.url, Some("s3cret"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(post(&on.url, None).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        post(&on.url, Some("wrong"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let bad = client
        .post(format!("{}/v1/faults", on.url))
        .header(contract::FAULT_TOKEN_HEADER, "s3cret")
        .json(&json!({"kind": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    // Neither worker crashed.
    for w in [&off, &on] {
        assert_eq!(
            reqwest::get(format!("{}/health", w.url))
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
}

/// The fault token comes from the environment only: on the command line it
/// would be in `ps` for every local user; missing or empty, anyone could
/// inject faults. Each case is refused at start-up with a clear message.
#[test]
fn the_fault_token_must_come_from_the_environment_and_not_be_empty() {
    let refused = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["serve", "--worker-id", "x", "--backend", "cpu", "--redis"])
            .arg("redis://127.0.0.1:1")
            .args(args)
            .env_remove("SYNTH_WORKER_FAULT_TOKEN");
        if let Some(t) = token {
            cmd.env("SYNTH_WORKER_FAULT_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {token:?} was accepted"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let argv = refused(&["--fault-injection", "--fault-token", "t"], Some("t"));
    assert!(argv.contains("--fault-token is not accepted"), "{argv}");
    let alone = refused(&["--fault-token", "t"], None);
    assert!(alone.contains("--fault-token is not accepted"), "{alone}");
    let missing = refused(&["--fault-injection"], None);
    assert!(
        missing.contains("SYNTH_WORKER_FAULT_TOKEN, which is not set"),
        "{missing}"
    );
    let empty = refused(&["--fault-injection"], Some(""));
    assert!(
        empty.contains("SYNTH_WORKER_FAULT_TOKEN is empty"),
        "{empty}"
    );
    let blank = refused(&["--fault-injection"], Some("  "));
    assert!(blank.contains("is empty"), "{blank}");
}

#[tokio::test]
async fn health_fails_when_redis_goes_away_and_metrics_count_work() {
    let redis = Redis::start();
    let data = TempDir::new("health");
    let w = Worker::start("w", &redis, &data.0, TTL, WorkerOpts::default()).await;
    let req = json!({"script": script(3, 1), "options": {"chunk_frames": 4}});
    let job = submit(&w.url, &req).await;
    wait_for(&w.url, &job.id, Duration::from_secs(60), "the job", |s| {
        s.state == contract::JobState::Done
    })
    .await;
    let text = reqwest::get(format!("{}/metrics", w.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = format!(
        "synth_frames_synthesized_total{{worker=\"w\"}} {}",
        job.frames_total
    );
    assert!(text.contains(&frames), "{text}");
    assert!(text.contains(&format!(
        "synth_chunks_committed_total{{worker=\"w\"}} {}",
        job.chunks_total
    )));
    assert!(text.contains("synth_job_duration_seconds_count{worker=\"w\"} 1"));
    assert!(text.contains("synth_backend_info{worker=\"w\",backend=\"cpu\"} 1"));
    let h: contract::HealthReport = reqwest::get(format!("{}/health", w.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(h.ok && h.backend == "cpu" && h.worker == "w", "{h:?}");
    drop(redis);
    let r = reqwest::get(format!("{}/health", w.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let h: contract::HealthReport = r.json().await.unwrap();
    let check = h.checks.iter().find(|c| c.name == "redis").unwrap();
    assert!(!check.ok && check.detail.contains("redis at"), "{check:?}");
    assert_eq!(
        reqwest::get(format!("{}/ready", w.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
}
