//! Real processes for the worker's integration tests: a private `redis-server`
//! and `synth-worker serve` instances on free loopback ports.
#![allow(dead_code)]

/// Visible skips, shared with the harness's tests (one file, one log).
#[path = "../../../tests/drills/support/skip.rs"]
pub mod skip;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use contract::{JobStatus, Manifest};
use serde_json::Value;

/// The worker binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_synth-worker");

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `<tmp>/synth-it-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("synth-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private `redis-server`, killed on drop.
pub struct Redis {
    child: Child,
    _dir: TempDir,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
}

impl Redis {
    /// Starts one; fails the test with install advice when `redis-server` is missing.
    pub fn start() -> Self {
        let port = free_port();
        let dir = TempDir::new("redis");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); these tests need it: install it (apt-get install redis-server)")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            _dir: dir,
            url: format!("redis://127.0.0.1:{port}"),
            port,
        }
    }

    /// Runs one Redis command and returns its reply.
    pub async fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query_async(&mut conn).await.unwrap()
    }

    /// Keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options of one worker process.
#[derive(Clone, Default)]
pub struct WorkerOpts {
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// A `synth-worker serve` process, SIGKILLed on drop.
pub struct Worker {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Worker id.
    pub id: String,
    log: PathBuf,
}

impl Worker {
    /// Starts a worker on `redis` and `data` with `--lease-ttl ttl` and waits until it answers.
    pub async fn start(id: &str, redis: &Redis, data: &Path, ttl: &str, opts: WorkerOpts) -> Self {
        let port = free_port();
        let log = data.join(format!("{id}-{port}.log"));
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis",
            &redis.url,
        ])
        .arg("--data-dir")
        .arg(data)
        .args(["--worker-id", id, "--backend", "cpu", "--lease-ttl", ttl])
        .args(&opts.args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start synth-worker");
        let w = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            id: id.to_string(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(format!("{}/health", w.url)).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "worker {id} did not answer; log:\n{}",
                w.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        w
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the process exits on its own and returns its exit code;
    /// panics with `what` when it is still running after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration, what: &str) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (SIGSTOP, SIGCONT).
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
        self.kill();
    }
}

/// A short two-speaker script: `turns` turns of about 10 words.
pub fn script(seed: u64, turns: usize) -> Value {
    let words = [
        "one", "small", "step", "for", "the", "standby", "and", "its", "warm", "weights", "again",
    ];
    let turns: Vec<Value> = (0..turns)
        .map(|t| {
            let text: Vec<&str> = (0..10).map(|i| words[(t * 3 + i) % words.len()]).collect();
            serde_json::json!({"speaker": if t % 2 == 0 { "ada" } else { "bo" }, "text": text.join(" ")})
        })
        .collect();
    serde_json::json!({"turns": turns, "seed": seed})
}

/// Offline reference audio for a job request (`synth-worker synth`).
pub fn reference(request: &Value, dir: &Path) -> Vec<i16> {
    let script = dir.join("ref-request.json");
    let out = dir.join("ref.wav");
    std::fs::write(&script, serde_json::to_vec(request).unwrap()).unwrap();
    let st = Command::new(BIN)
        .args(["synth", "--backend", "cpu", "--script"])
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "offline synth failed");
    contract::read_wav(&out).unwrap().samples
}

/// POST a job, return its status.
pub async fn submit(url: &str, request: &Value) -> JobStatus {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/jobs"))
        .json(request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// GET a job's status.
pub async fn status(url: &str, id: &str) -> JobStatus {
    let r = reqwest::get(format!("{url}/v1/jobs/{id}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// GET a job's manifest.
pub async fn manifest(url: &str, id: &str) -> Manifest {
    reqwest::get(format!("{url}/v1/jobs/{id}/manifest"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GET a job's audio.
pub async fn audio(url: &str, id: &str) -> Vec<i16> {
    let r = reqwest::get(format!("{url}/v1/jobs/{id}/audio"))
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "audio: {}",
        r.text().await.unwrap()
    );
    contract::read_wav_bytes(&r.bytes().await.unwrap())
        .unwrap()
        .samples
}

/// Polls the job's status until `pred` holds, or panics after `limit`.
pub async fn wait_for(
    url: &str,
    id: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let deadline = Instant::now() + limit;
    loop {
        let s = status(url, id).await;
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Submits `request` to `url` and waits until its job has committed at least
/// `chunks` chunks; returns the submitted status and the one that saw the commits.
pub async fn submit_and_wait_for_commits(
    url: &str,
    request: &Value,
    chunks: u64,
    limit: Duration,
) -> (JobStatus, JobStatus) {
    let job = submit(url, request).await;
    let seen = wait_for(url, &job.id, limit, "first commits", |s| {
        s.chunks_committed >= chunks
    })
    .await;
    (job, seen)
}

/// The HTTP status of `GET /health`, or `None` when the worker does not answer.
pub async fn health_code(url: &str) -> Option<u16> {
    reqwest::get(format!("{url}/health"))
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Polls `GET /health` until it answers `code`; panics with `what` after `limit`.
pub async fn wait_for_health(url: &str, code: u16, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while health_code(url).await != Some(code) {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls until `pred` holds, or panics after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
