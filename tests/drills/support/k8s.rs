//! The Kubernetes test bed (`scripts/k8s-testbed.sh`) as a fixture: started
//! once for all the Kubernetes tests of this binary, when the first one asks,
//! and taken down when the binary exits. At exit, anything of it left on the
//! machine (state folder, namespace, veth, processes, mounts) is printed and
//! the binary exits 1, so a leak fails the test run. A killed run's test bed
//! is swept with `down` before a fresh one is made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, Once};

use super::skip::{skip, workspace_root, Need};

/// The test bed's state folder (not the script's default, so a developer's
/// own test bed is left alone).
pub const STATE: &str = "/run/takeover-k8s-test";
/// Its nodes' network namespaces (`scripts/k8s-testbed.sh up`: two nodes).
pub const NETNS: [&str; 2] = ["takeover-k8s", "takeover-k8s-2"];
/// The root sides of its nodes' veth pairs.
pub const VETH: [&str; 2] = ["tk8s-root", "tk8s-root2"];
/// Its nodes' names.
pub const NODES: [&str; 2] = ["takeover-node", "takeover-node-2"];

/// A test bed that is up.
#[derive(Debug)]
pub struct K8sBed {
    /// The admin kubeconfig (`KUBECONFIG` for takeover).
    pub kubeconfig: PathBuf,
    /// The nodes' engines, `NODE=unix://.../docker.sock,...` (as
    /// `TAKEOVER_K8S_NODE_ENGINE` takes them).
    pub node_engine: String,
}

impl K8sBed {
    /// The environment a `takeover` run against this test bed needs.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("KUBECONFIG", self.kubeconfig.display().to_string()),
            ("TAKEOVER_K8S_NODE_ENGINE", self.node_engine.clone()),
        ]
    }
}

/// Why this machine cannot run the test bed, if it cannot.
pub fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: the test bed makes a network namespace and a dockerd".into());
    }
    let tarball = tarball();
    if !tarball.is_file() {
        return Some(format!("no Kubernetes binaries at {}", tarball.display()));
    }
    for tool in ["etcd", "jq", "curl", "openssl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

fn tarball() -> PathBuf {
    std::env::var_os("TAKEOVER_K8S_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("../shared/k8s/kubernetes-1.20.2-linux-amd64.tar.xz")
        })
}

/// Runs `scripts/k8s-testbed.sh VERB` on the test's state folder.
pub fn script(verb: &str) -> Output {
    Command::new(workspace_root().join("scripts/k8s-testbed.sh"))
        .arg(verb)
        .env("TAKEOVER_K8S_STATE", STATE)
        .output()
        .expect("run scripts/k8s-testbed.sh")
}

static BED: Mutex<Option<K8sBed>> = Mutex::new(None);

/// The shared test bed, started now if it is not up; `None` (with a visible
/// skip recorded) when this machine cannot make it. Hold the guard for the
/// test's length, inside `one_drill_at_a_time`.
pub fn shared() -> Option<MutexGuard<'static, Option<K8sBed>>> {
    static AT_EXIT: Once = Once::new();
    if let Some(why) = missing() {
        skip(Need::K8sTestbed, &why);
        return None;
    }
    let mut bed = BED.lock().unwrap_or_else(|p| p.into_inner());
    if bed.is_none() {
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no captured state.
            unsafe { libc::atexit(down_at_exit) };
        });
        let started = std::time::Instant::now();
        let up = script("up");
        if !up.status.success() {
            let _ = script("down");
            panic!(
                "the k8s test bed did not come up: {}",
                String::from_utf8_lossy(&up.stderr)
            );
        }
        eprintln!(
            "k8s test bed up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        *bed = Some(K8sBed {
            kubeconfig: Path::new(STATE).join("admin.kubeconfig"),
            node_engine: NODES
                .iter()
                .enumerate()
                .map(|(k, node)| format!("{node}=unix://{}", engine_socket(k + 1)))
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    Some(bed)
}

/// The socket of node `k`'s engine (from 1).
pub fn engine_socket(k: usize) -> String {
    format!("{STATE}/n{k}/docker.sock")
}

extern "C" fn down_at_exit() {
    let down = script("down");
    let left = leftovers();
    if !down.status.success() || !left.is_empty() {
        eprintln!(
            "the k8s test bed did not come down cleanly: {}\nleft: {left:?}",
            String::from_utf8_lossy(&down.stderr)
        );
        // SAFETY: _exit(2) ends the process at once; nothing else runs at exit.
        unsafe { libc::_exit(1) };
    }
}

/// Everything of the test bed still on the machine. Empty after `down`.
pub fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    if Path::new(STATE).exists() {
        left.push(format!("state folder {STATE}"));
    }
    for netns in NETNS {
        if Path::new("/run/netns").join(netns).exists() {
            left.push(format!("network namespace {netns}"));
        }
    }
    for veth in VETH {
        let link = Command::new("ip").args(["link", "show", veth]).output();
        if link.is_ok_and(|o| o.status.success()) {
            left.push(format!("veth {veth}"));
        }
    }
    let forward = Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .output();
    if forward.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("takeover-k8s-testbed")) {
        left.push("the FORWARD rule between the nodes".into());
    }
    let procs = Command::new("pgrep")
        .args(["-af", STATE])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !procs.is_empty() {
        left.push(format!("processes: {procs}"));
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if mounts.contains(STATE) {
        left.push("mounts under the state folder".into());
    }
    left
}
