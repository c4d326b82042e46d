//! Kernel pieces faults rely on: the cgroup memory controller and freezer,
//! iptables' `statistic` match, and the netem queueing discipline.

use std::path::{Path, PathBuf};

use super::{Check, Need, Status};

/// Where the kernel's pieces are looked for (the real host, or a test's folders).
#[derive(Debug, Clone)]
pub struct Host {
    /// The cgroup mount (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// The folders iptables loads its matches from.
    pub xtables_dirs: Vec<PathBuf>,
    /// The running kernel's configuration, if it can be read.
    pub kernel_config: Option<String>,
    /// The running kernel's module folder (`/lib/modules/<release>`).
    pub modules_dir: Option<PathBuf>,
}

impl Host {
    /// The machine this runs on.
    pub fn real() -> Host {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        Host {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            xtables_dirs: [
                "/usr/lib/x86_64-linux-gnu/xtables",
                "/usr/lib/aarch64-linux-gnu/xtables",
                "/usr/lib/xtables",
                "/usr/lib64/xtables",
            ]
            .map(PathBuf::from)
            .to_vec(),
            kernel_config: read_kernel_config(release.as_deref()),
            modules_dir: release.map(|r| Path::new("/lib/modules").join(r)),
        }
    }
}

/// The running kernel's configuration: `/proc/config.gz` (through `zcat`) or
/// `/boot/config-<release>`.
fn read_kernel_config(release: Option<&str>) -> Option<String> {
    let gz = std::process::Command::new("zcat")
        .arg("/proc/config.gz")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    gz.or_else(|| std::fs::read_to_string(format!("/boot/config-{}", release?)).ok())
}

/// What a kernel configuration says about netem: `Some(true)` built in or a
/// module, `Some(false)` not set, `None` the configuration does not say.
pub fn netem_in_config(config: &str) -> Option<bool> {
    if config.contains("CONFIG_NET_SCH_NETEM=y") || config.contains("CONFIG_NET_SCH_NETEM=m") {
        Some(true)
    } else if config.contains("CONFIG_NET_SCH_NETEM is not set") {
        Some(false)
    } else {
        None
    }
}

/// Whether the running kernel has netem: its configuration first, then a
/// `sch_netem` module file; `None` when neither tells.
pub fn has_netem(host: &Host) -> Option<bool> {
    if let Some(v) = host.kernel_config.as_deref().and_then(netem_in_config) {
        return Some(v);
    }
    let dir = host.modules_dir.as_ref()?.join("kernel/net/sched");
    let listing = std::fs::read_dir(dir).ok()?;
    Some(
        listing
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("sch_netem.")),
    )
}

const NETEM_AFFECTS: &str = "latency (latency-primary): inconclusive, exit 3, without it";

/// The netem queueing discipline.
pub fn netem(host: &Host) -> Check {
    match has_netem(host) {
        Some(true) => Check::ok("sch_netem", Need::Optional, NETEM_AFFECTS, "in the kernel"),
        Some(false) => Check::not_ok(
            "sch_netem",
            Status::Degraded,
            Need::Optional,
            NETEM_AFFECTS,
            "this kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM is not set)",
            "a kernel built with CONFIG_NET_SCH_NETEM (Ubuntu: `sudo apt-get install -y linux-modules-extra-$(uname -r)`; Debian's stock kernel has it)",
        ),
        None => Check::not_ok(
            "sch_netem",
            Status::Degraded,
            Need::Optional,
            NETEM_AFFECTS,
            "cannot tell: neither the kernel configuration nor a sch_netem module was found",
            "check with `sudo modprobe sch_netem`; latency drills report inconclusive where it is absent",
        ),
    }
}

/// Whether the cgroup mount has a controller: v1 as its own folder, v2 in
/// `cgroup.controllers`.
fn has_controller(root: &Path, v1_dir: &str, v2_name: &str) -> bool {
    if root.join(v1_dir).is_dir() {
        return true;
    }
    std::fs::read_to_string(root.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == v2_name))
}

/// The cgroup memory controller (the `oom-kill` fault lowers a live limit).
pub fn cgroup_memory(host: &Host) -> Check {
    let affects = "oom-kill (oom-kill-primary) on docker";
    if has_controller(&host.cgroup_root, "memory", "memory") {
        Check::ok(
            "cgroup memory",
            Need::Optional,
            affects,
            "controller mounted",
        )
    } else {
        Check::not_ok(
            "cgroup memory",
            Status::Degraded,
            Need::Optional,
            affects,
            format!("no memory controller under {}", host.cgroup_root.display()),
            "boot with `cgroup_enable=memory swapaccount=1` on the kernel command line",
        )
    }
}

/// The cgroup freezer (`pause` freezes a container).
pub fn cgroup_freezer(host: &Host) -> Check {
    let affects = "pause (pause-primary, pause-redis, pause-frontdoor) on docker";
    // cgroup v2 has the freezer in every cgroup (`cgroup.freeze`), with no controller to list.
    if host.cgroup_root.join("freezer").is_dir()
        || host.cgroup_root.join("cgroup.controllers").is_file()
    {
        Check::ok("cgroup freezer", Need::Optional, affects, "available")
    } else {
        Check::not_ok(
            "cgroup freezer",
            Status::Degraded,
            Need::Optional,
            affects,
            format!("no freezer under {}", host.cgroup_root.display()),
            "a kernel with CONFIG_CGROUP_FREEZER and the freezer hierarchy mounted",
        )
    }
}

/// iptables' `statistic` match (random packet loss).
pub fn statistic_match(host: &Host) -> Check {
    let affects = "loss (loss-primary)";
    match host
        .xtables_dirs
        .iter()
        .map(|d| d.join("libxt_statistic.so"))
        .find(|p| p.is_file())
    {
        Some(p) => Check::ok(
            "iptables statistic",
            Need::Optional,
            affects,
            p.display().to_string(),
        ),
        None => Check::not_ok(
            "iptables statistic",
            Status::Degraded,
            Need::Optional,
            affects,
            "no libxt_statistic.so among iptables' matches",
            "sudo apt-get install -y iptables",
        )
        .with_package("iptables"),
    }
}

/// Every kernel check.
pub fn checks(host: &Host) -> Vec<Check> {
    vec![
        cgroup_memory(host),
        cgroup_freezer(host),
        statistic_match(host),
        netem(host),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_host(name: &str) -> (PathBuf, Host) {
        let dir = std::env::temp_dir().join(format!(
            "takeover-doctor-kernel-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cgroup")).unwrap();
        std::fs::create_dir_all(dir.join("xtables")).unwrap();
        let host = Host {
            cgroup_root: dir.join("cgroup"),
            xtables_dirs: vec![dir.join("xtables")],
            kernel_config: Some("CONFIG_NET_SCH_TBF=m\n# CONFIG_NET_SCH_NETEM is not set\n".into()),
            modules_dir: None,
        };
        (dir, host)
    }

    #[test]
    fn an_empty_host_is_degraded_on_each_kernel_piece_with_its_fix() {
        let (dir, host) = empty_host("empty");
        let checks = checks(&host);
        for c in &checks {
            assert_eq!(c.status, Status::Degraded, "{c:?}");
            assert!(c.fix.is_some());
            assert!(!c.blocks(crate::stack::RuntimeKind::Docker));
        }
        assert!(checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("cgroup_enable=memory"));
        assert!(checks[1].detail.contains("no freezer"));
        assert!(checks[2].detail.contains("libxt_statistic.so"));
        assert!(checks[3].detail.contains("CONFIG_NET_SCH_NETEM is not set"));
        assert!(checks[3].affects.contains("latency"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn cgroup_v1_and_v2_layouts_are_both_recognised() {
        let (dir, mut host) = empty_host("layouts");
        std::fs::create_dir_all(host.cgroup_root.join("memory")).unwrap();
        std::fs::create_dir_all(host.cgroup_root.join("freezer")).unwrap();
        assert_eq!(cgroup_memory(&host).status, Status::Ok);
        assert_eq!(cgroup_freezer(&host).status, Status::Ok);
        host.cgroup_root = dir.join("v2");
        std::fs::create_dir_all(&host.cgroup_root).unwrap();
        std::fs::write(
            host.cgroup_root.join("cgroup.controllers"),
            "cpu io memory pids\n",
        )
        .unwrap();
        assert_eq!(cgroup_memory(&host).status, Status::Ok);
        assert_eq!(cgroup_freezer(&host).status, Status::Ok);
        std::fs::write(host.xtables_dirs[0].join("libxt_statistic.so"), "").unwrap();
        assert_eq!(statistic_match(&host).status, Status::Ok);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn netem_comes_from_the_config_or_a_module_file() {
        assert_eq!(netem_in_config("CONFIG_NET_SCH_NETEM=m"), Some(true));
        assert_eq!(
            netem_in_config("# CONFIG_NET_SCH_NETEM is not set"),
            Some(false)
        );
        assert_eq!(netem_in_config("CONFIG_X=y"), None);
        let (dir, mut host) = empty_host("module");
        host.kernel_config = None;
        assert_eq!(netem(&host).status, Status::Degraded);
        assert!(netem(&host).detail.contains("cannot tell"));
        let sched = dir.join("modules/kernel/net/sched");
        std::fs::create_dir_all(&sched).unwrap();
        std::fs::write(sched.join("sch_netem.ko.xz"), "").unwrap();
        host.modules_dir = Some(dir.join("modules"));
        assert_eq!(has_netem(&host), Some(true));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
