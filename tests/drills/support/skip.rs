//! Visible skips: a test that cannot do its real check on this machine says so
//! here, and `.ci/run` prints every skip at the end and fails on one that this
//! machine had no reason to make (a Docker test skipping where Docker runs).
//!
//! The same function lives in `worker/tests/common/skip.rs` (the worker's tests
//! are another crate) and writes to the same log.

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
    /// What the multi-host test bed needs (`scripts/testbed-hosts.sh`): root,
    /// `ip`, `nsenter`, `iptables`, `dockerd` and `containerd`.
    TestBed,
}

impl Need {
    /// Every need, for the check that `.ci/skips` judges each one.
    pub const ALL: [Need; 10] = [
        Need::Docker,
        Need::RedisServer,
        Need::Haproxy,
        Need::Chromium,
        Need::Gpu,
        Need::Netem,
        Need::NvidiaRuntime,
        Need::NoNvidiaRuntime,
        Need::Pushgateway,
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
            Need::TestBed => "testbed",
        }
    }
}

/// Where skips are recorded: `$TAKEOVER_SKIP_LOG`, or `target/test-skips.jsonl`
/// in the workspace.
pub fn skip_log() -> PathBuf {
    match std::env::var_os("TAKEOVER_SKIP_LOG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-skips.jsonl"),
    }
}

/// The running test as `<test binary>::<test name>`.
fn current_test() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A need `.ci/skips` does not know fails CI as "unknown": each one this
    /// enum can write must be a pattern of its `has` function.
    #[test]
    fn every_need_is_one_ci_skips_judges() {
        let script =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/skips"))
                .unwrap();
        let patterns: Vec<&str> = script
            .lines()
            .filter_map(|l| l.trim().split_once(')'))
            .flat_map(|(pattern, _)| pattern.split('|').map(str::trim))
            .collect();
        for need in Need::ALL {
            assert!(
                patterns.contains(&need.as_str()),
                "`.ci/skips` does not judge the need `{}`",
                need.as_str()
            );
        }
    }

    /// CI prints each skip by this name: the binary, then the test's path in it.
    #[test]
    fn a_skip_is_named_after_the_binary_and_the_module() {
        assert_eq!(
            current_test(),
            "drills::support::skip::tests::a_skip_is_named_after_the_binary_and_the_module"
        );
    }
}
