//! The multi-host test bed (`scripts/testbed-hosts.sh`) as a fixture: started
//! once for all the host tests of this binary, when the first one asks, and
//! stopped when the binary exits (or earlier, by a test that checks `down`).
//! A run that was killed left its test bed up: the first `up` here sweeps it
//! with `down` before making a fresh one.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};

use super::skip::{skip, Need};

/// How many hosts the shared test bed has: h1 runs the primary, h2 the
/// standby, h3 the front door and Redis in the host drills.
pub const HOSTS: usize = 3;

/// The network-namespace and link prefixes the script uses: everything it
/// makes carries one of them.
pub const NETNS_PREFIX: &str = "takeover-tb-";
/// The prefix of the root-side veth of each host.
pub const LINK_PREFIX: &str = "tkb-h";
/// The script's state folder.
pub const STATE_DIR: &str = "/run/takeover-tb";
/// The engines' data roots.
pub const DATA_DIR: &str = "/var/lib/takeover-tb";

/// One host of the test bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `h1`, `h2`, ...
    pub name: String,
    /// Its engine, `unix:///run/takeover-tb/hN/docker.sock`.
    pub docker: String,
    /// The address other hosts reach it by.
    pub address: String,
}

impl Host {
    /// Its network namespace's path, for `nsenter --net=`.
    pub fn netns(&self) -> String {
        format!("/run/netns/{NETNS_PREFIX}{}", self.name)
    }

    /// `docker -H <its engine> <args>`.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.docker)
            .args(args)
            .output()
            .expect("the docker CLI runs")
    }
}

/// A test bed that is up.
#[derive(Debug)]
pub struct TestBed {
    /// Its hosts, `h1` first.
    pub hosts: Vec<Host>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed-hosts.sh")
}

/// Runs the script with `args`; its exit status and output.
pub fn run_script(args: &[&str]) -> (bool, String) {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("scripts/testbed-hosts.sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Parses `status`'s lines: `hN <socket> <address>`.
pub fn parse_status(text: &str) -> Vec<Host> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, docker, address) = (w.next()?, w.next()?, w.next()?);
            name.starts_with('h').then(|| Host {
                name: name.into(),
                docker: docker.into(),
                address: address.into(),
            })
        })
        .collect()
}

/// Why this machine cannot make the test bed, if it plainly cannot: the
/// script needs root, `ip`, `nsenter`, `iptables` and `dockerd`.
fn cannot_make() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the host test bed needs root (network namespaces, veths, iptables)".into());
    }
    for program in ["ip", "nsenter", "iptables", "dockerd", "containerd"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("the host test bed needs `{program}` on PATH"));
        }
    }
    None
}

static BED: Mutex<Option<TestBed>> = Mutex::new(None);

/// The shared test bed, started now if it is not up; `None` (with a visible
/// skip recorded) when this machine cannot make it. Hold the guard for the
/// test's length, inside [`super::one_drill_at_a_time`].
pub fn shared() -> Option<MutexGuard<'static, Option<TestBed>>> {
    static AT_EXIT: Once = Once::new();
    if let Some(why) = cannot_make() {
        skip(Need::TestBed, &why);
        return None;
    }
    let mut bed = BED.lock().unwrap_or_else(|p| p.into_inner());
    if bed.is_none() {
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no captured state.
            unsafe { libc::atexit(down_at_exit) };
        });
        // Whatever a killed run left (its test bed, or half of one).
        let (swept, text) = run_script(&["down"]);
        assert!(swept, "sweeping an earlier test bed failed:\n{text}");
        let (up, text) = run_script(&["up", &HOSTS.to_string()]);
        assert!(up, "the test bed did not come up:\n{text}");
        let hosts = parse_status(&text);
        assert_eq!(hosts.len(), HOSTS, "{text}");
        *bed = Some(TestBed { hosts });
    }
    Some(bed)
}

/// Takes the test bed down now (a later [`shared`] makes a fresh one);
/// panics with the script's output when `down` fails.
pub fn down(bed: &mut Option<TestBed>) {
    *bed = None;
    let (ok, text) = run_script(&["down"]);
    assert!(ok, "the test bed did not come down:\n{text}");
}

extern "C" fn down_at_exit() {
    // A test that panicked (or still runs) holding the bed: take it down anyway.
    let up = BED.try_lock().map(|b| b.is_some()).unwrap_or(true);
    if up {
        let _ = Command::new(script()).arg("down").status();
    }
}

/// Everything of the test bed still on the machine: namespaces, links, routes,
/// iptables rules, processes, mounts, cgroups and folders. Empty after `down`.
pub fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    let lines = |program: &str, args: &[&str]| -> Vec<String> {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(NETNS_PREFIX) {
                left.push(format!("namespace {name}"));
            }
        }
    }
    for l in lines("ip", &["-o", "link", "show"]) {
        if l.contains(&format!(" {LINK_PREFIX}")) {
            left.push(format!("link {l}"));
        }
    }
    for l in lines("ip", &["-4", "route", "show", "table", "all"]) {
        // The Kubernetes test bed's link (`tk8s-root`, scripts/k8s-testbed.sh)
        // is in 198.19.252.0/22 and not this test bed's.
        let ours = l.starts_with("198.18.") || l.starts_with("198.19.") || l.contains(LINK_PREFIX);
        if ours && !l.contains("tk8s-root") {
            left.push(format!("route {l}"));
        }
    }
    for l in lines("iptables", &["-S"]) {
        if l.contains("TAKEOVER-TB") || l.contains(LINK_PREFIX) {
            left.push(format!("iptables {l}"));
        }
    }
    for l in lines("iptables", &["-t", "nat", "-S"]) {
        if l.contains(LINK_PREFIX) {
            left.push(format!("iptables nat {l}"));
        }
    }
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        for l in mounts.lines() {
            if l.contains(STATE_DIR) || l.contains(DATA_DIR) || l.contains(NETNS_PREFIX) {
                left.push(format!("mount {l}"));
            }
        }
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&format!("{STATE_DIR}/"))
                || cmdline.contains(&format!("{DATA_DIR}/"))
            {
                left.push(format!(
                    "process {} {cmdline}",
                    p.file_name().to_string_lossy()
                ));
            }
        }
    }
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            for e in std::fs::read_dir(h.path()).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(NETNS_PREFIX) {
                    left.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
    }
    for dir in [STATE_DIR, DATA_DIR] {
        if std::path::Path::new(dir).exists() {
            left.push(format!("folder {dir}"));
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_each_host_with_its_engine_and_address() {
        let hosts = parse_status(
            "h1 unix:///run/takeover-tb/h1/docker.sock 198.18.0.6\n\
             h2 unix:///run/takeover-tb/h2/docker.sock 198.18.0.10\n",
        );
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[1].name, "h2");
        assert_eq!(hosts[1].address, "198.18.0.10");
        assert_eq!(hosts[0].netns(), "/run/netns/takeover-tb-h1");
    }
}
