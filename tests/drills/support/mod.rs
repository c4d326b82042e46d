//! Helpers for the drill tests: the docker CLI, the takeover binary, temp dirs,
//! and the one turn that keeps two stacks from running at once.

pub mod k8s;
pub mod run;
pub mod skip;
pub mod testbed;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// A turn to run a drill (or any test that starts a stack), held until dropped.
pub struct DrillTurn {
    // Field order is drop order: the file lock goes before the thread lock, so
    // that a thread of this process waiting on the mutex finds the file free.
    _machine: File,
    _process: MutexGuard<'static, ()>,
}

/// One drill at a time: two stacks at once on a two-core CI machine would
/// measure the machine, not the failover. Hold the turn for the whole test.
///
/// The mutex orders the threads of this binary (`cargo test` runs its tests
/// two at a time); the `flock(2)` on a file in the target directory orders
/// test processes (`cargo nextest` runs each test in its own process, where
/// the `drills` test group in `.config/nextest.toml` already starts them one at
/// a time: the lock makes that hold under any runner or filter). The kernel
/// drops the file lock with the process, so a killed test leaves no stale turn.
pub fn one_drill_at_a_time() -> DrillTurn {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let process = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drills.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open the drill lock {}: {e}", path.display()));
    loop {
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            panic!("cannot lock {}: {e}", path.display());
        }
    }
    DrillTurn {
        _machine: file,
        _process: process,
    }
}

/// The `takeover` binary under test.
pub fn takeover() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_takeover"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Panics with a clear message when Docker is not usable: these tests need it.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the drill tests need a reachable Docker engine (see .ci/run)"
    );
}

/// Lines of `docker <args>` output.
pub fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every Docker object (containers, networks, volumes) labelled with `filter`.
pub fn objects_with_label(filter: &str) -> Vec<String> {
    let label = format!("label={filter}");
    let mut all = Vec::new();
    for (kind, args) in [
        (
            "container",
            vec!["ps", "-a", "--filter", &label, "--format", "{{.Names}}"],
        ),
        (
            "network",
            vec!["network", "ls", "--filter", &label, "--format", "{{.Name}}"],
        ),
        (
            "volume",
            vec!["volume", "ls", "--filter", &label, "--format", "{{.Name}}"],
        ),
    ] {
        all.extend(
            docker_lines(&args)
                .into_iter()
                .map(|n| format!("{kind} {n}")),
        );
    }
    all
}

/// A fresh directory under the system's temp area (`/` in `name` becomes `-`).
pub fn temp_dir(name: &str) -> PathBuf {
    let name = name.replace('/', "-");
    let dir = std::env::temp_dir().join(format!("takeover-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the running kernel has netem: `Some(false)` when its config says it
/// is not set, `None` when it cannot tell (the library check `takeover doctor` makes).
pub fn kernel_has_netem() -> Option<bool> {
    takeover::doctor::kernel::has_netem(&takeover::doctor::kernel::Host::real())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// While a turn is held, another thread of this binary waits for it, and
    /// another process (any other open of the lock file) cannot take it.
    #[test]
    fn a_turn_keeps_threads_and_processes_out_until_it_is_dropped() {
        let turn = one_drill_at_a_time();
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drills.lock");
        let other = File::options().write(true).open(&path).unwrap();
        // SAFETY: flock(2) on a descriptor this test owns.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(
            rc, -1,
            "a second open of the lock file took it while a turn was held"
        );

        let got = Arc::new(AtomicBool::new(false));
        let waiter = std::thread::spawn({
            let got = Arc::clone(&got);
            move || {
                let _turn = one_drill_at_a_time();
                got.store(true, Ordering::SeqCst);
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!got.load(Ordering::SeqCst), "two turns at once");
        drop(turn);
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
    }
}

/// Tests of `skip.rs` (kept here: the worker's tests compile that file too).
#[cfg(test)]
mod skip_tests {
    use super::skip::{current_test, workspace_root, Need};

    /// A need `.ci/skips` does not know fails CI as "unknown": each one this
    /// enum can write must be a pattern of its `has` function.
    #[test]
    fn every_need_is_one_ci_skips_judges() {
        let script = std::fs::read_to_string(workspace_root().join(".ci/skips")).unwrap();
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
            "drills::support::skip_tests::a_skip_is_named_after_the_binary_and_the_module"
        );
    }
}
