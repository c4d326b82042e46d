//! Visible skips: a test that cannot do its real check on this machine says so
//! here, and `.ci/run` prints every skip at the end and fails on one that this
//! machine had no reason to make (a Docker test skipping where Docker runs).
//!
//! The worker's tests (another crate) compile this same file
//! (`worker/tests/common/mod.rs` names it with `#[path]`) and write to the same
//! log. Its own tests are in `support/mod.rs`, which only the drills compile.

use std::io::Write;
use std::path::PathBuf;

/// What a test needs that a machine may lack. The names are the ones `.ci/run`
/// judges skips by; keep the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A reachable Docker engine.
    Docker,
    /// `redis-server` on PATH.
    RedisServer,
    /// `haproxy` on PATH.
    Haproxy,
    /// A headless Chromium.
    Chromium,
    /// An NVIDIA GPU with its CUDA driver.
    Gpu,
    /// The kernel's netem queueing discipline.
    Netem,
    /// Docker's `nvidia` runtime (the NVIDIA Container Toolkit).
    NvidiaRuntime,
    /// A Docker engine *without* the `nvidia` runtime (to see the error path).
    NoNvidiaRuntime,
    /// `prometheus-pushgateway` on PATH.
    Pushgateway,
    /// What `scripts/k8s-testbed.sh` needs: root, the Kubernetes binaries of
    /// `../shared/k8s` (or `$TAKEOVER_K8S_TARBALL`), etcd, jq.
    K8sTestbed,
    /// A statically linked `/bin/busybox` (Debian's `busybox-static`).
    BusyboxStatic,
    /// What the multi-host test bed needs (`scripts/testbed-hosts.sh`): root,
    /// `ip`, `nsenter`, `iptables`, `dockerd` and `containerd`.
    TestBed,
}

impl Need {
    /// Every need, for the check that `.ci/skips` judges each one.
    pub const ALL: [Need; 12] = [
        Need::Docker,
        Need::RedisServer,
        Need::Haproxy,
        Need::Chromium,
        Need::Gpu,
        Need::Netem,
        Need::NvidiaRuntime,
        Need::NoNvidiaRuntime,
        Need::Pushgateway,
        Need::K8sTestbed,
        Need::BusyboxStatic,
        Need::TestBed,
    ];

    /// The name written to the skip log.
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Docker => "docker",
            Need::RedisServer => "redis-server",
            Need::Haproxy => "haproxy",
            Need::Chromium => "chromium",
            Need::Gpu => "gpu",
            Need::Netem => "netem",
            Need::NvidiaRuntime => "nvidia-runtime",
            Need::NoNvidiaRuntime => "no-nvidia-runtime",
            Need::Pushgateway => "pushgateway",
            Need::K8sTestbed => "k8s-testbed",
            Need::BusyboxStatic => "busybox-static",
            Need::TestBed => "testbed",
        }
    }
}

/// Where skips are recorded: `$TAKEOVER_SKIP_LOG`, or `target/test-skips.jsonl`
/// in the workspace (the nearest folder above the test's crate with a `Cargo.lock`).
pub fn skip_log() -> PathBuf {
    match std::env::var_os("TAKEOVER_SKIP_LOG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/test-skips.jsonl"),
    }
}

/// The workspace's root: the crate's own folder or the nearest one above it
/// that holds `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&manifest)
        .to_path_buf()
}

/// The running test as `<test binary>::<test name>`.
pub fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            // Cargo names test binaries `<name>-<16 hex digits>`.
            Some((name, hash))
                if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                name.to_string()
            }
            _ => stem,
        })
        .unwrap_or_else(|| "tests".to_string());
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("unknown test")
        .to_string();
    format!("{binary}::{test}")
}

/// Records that the running test could not do its real check because this
/// machine lacks `need`: prints `SKIPPED <test>: <reason>` to stderr and appends
/// `{"test", "need", "reason"}` as one JSON line to [`skip_log`]. The caller
/// returns (or goes on with the checks it can still make).
pub fn skip(need: Need, reason: &str) {
    let test = current_test();
    eprintln!("SKIPPED {test}: {reason}");
    // Keys in a fixed order, so that `.ci/run` can read the line with sed.
    let line = format!(
        "{{\"test\":{},\"need\":{},\"reason\":{}}}\n",
        serde_json::to_string(&test).unwrap(),
        serde_json::to_string(need.as_str()).unwrap(),
        serde_json::to_string(reason).unwrap()
    );
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One write of the whole line, in append mode: lines from tests running in
    // parallel do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        // A skip nobody can see is what this module exists to prevent.
        panic!("cannot record the skip in {}: {e}", log.display());
    }
}
