//! Helpers for the drill tests: the docker CLI, the takeover binary, temp dirs.

#![allow(dead_code)]

pub mod run;
pub mod skip;

use std::path::PathBuf;
use std::process::Command;

/// One drill at a time: two stacks at once on a two-core CI machine would
/// measure the machine, not the failover. Hold the guard for the whole test.
pub fn one_drill_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
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
