//! Host programs: the ones the stack images are baked from (`haproxy`,
//! `redis-server`, `iptables`, `tc`), `nginx`, the `synth-worker` binary, and
//! the programs the process runtime starts.

use std::path::{Path, PathBuf};

use super::{Check, Need, Status};
use crate::stack::process::programs as process;
use crate::stack::{images, StackSpec};

/// Where host programs are looked for (see [`images::host_program_dirs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The folders, in order.
    pub dirs: Vec<PathBuf>,
}

impl Search {
    /// The folders the image builder uses.
    pub fn from_env() -> Search {
        Search {
            dirs: images::host_program_dirs(),
        }
    }

    /// The first `dir/name` that is a file.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        self.dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
    }
}

/// One host program: where it is looked for, its package and what needs it.
struct Program {
    name: &'static str,
    /// The file actually looked for (iptables images copy `xtables-nft-multi`).
    file: &'static str,
    package: &'static str,
    need: Need,
    affects: &'static str,
}

const PROGRAMS: [Program; 5] = [
    Program {
        name: "haproxy",
        file: "haproxy",
        package: "haproxy",
        need: Need::Docker,
        affects: "every docker drill: the front door image is baked from it",
    },
    Program {
        name: "redis-server",
        file: "redis-server",
        package: "redis-server",
        need: Need::Docker,
        affects: "every docker drill: the lease store image is baked from it",
    },
    Program {
        name: "iptables",
        file: "xtables-nft-multi",
        package: "iptables",
        need: Need::Docker,
        affects:
            "every docker drill: the fault sidecar image (partition, loss, split-brain faults)",
    },
    Program {
        name: "tc",
        file: "tc",
        package: "iproute2",
        need: Need::Docker,
        affects: "every docker drill: the fault sidecar image (latency, bandwidth faults)",
    },
    Program {
        name: "nginx",
        file: "nginx",
        package: "nginx",
        need: Need::Optional,
        affects: "nginx front-door drills (`stack.frontdoor.kind: nginx`, the `*-nginx` scenarios): their front door image is baked from it",
    },
];

/// The line that installs one Debian/Ubuntu package.
pub fn apt_install(package: &str) -> String {
    format!("sudo apt-get install -y {package}")
}

fn program(search: &Search, p: &Program) -> Check {
    match search.find(p.file) {
        Some(path) => Check::ok(p.name, p.need, p.affects, path.display().to_string()),
        None => Check::not_ok(
            p.name,
            if p.need == Need::Optional {
                Status::Degraded
            } else {
                Status::Missing
            },
            p.need,
            p.affects,
            format!("no {} in {}", p.file, shown(&search.dirs)),
            apt_install(p.package),
        )
        .with_package(p.package),
    }
}

fn shown(dirs: &[PathBuf]) -> String {
    let mut s = dirs
        .iter()
        .take(6)
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    if dirs.len() > 6 {
        s.push_str(":...");
    }
    s
}

/// The host programs the images are baked from, and `nginx`.
pub fn checks(search: &Search) -> Vec<Check> {
    PROGRAMS.iter().map(|p| program(search, p)).collect()
}

/// The `synth-worker` binary (both runtimes run it; the worker image is baked from it).
pub fn worker_binary(explicit: Option<&Path>) -> Check {
    let affects = "every drill: the workers";
    match images::find_worker_binary(explicit) {
        Ok(path) => Check::ok("synth-worker", Need::Always, affects, path.display().to_string()),
        Err(e) => Check::not_ok(
            "synth-worker",
            Status::Missing,
            Need::Always,
            affects,
            e.to_string(),
            "cargo build --release --workspace (or name it: TAKEOVER_WORKER_BINARY=PATH, --worker-binary PATH)",
        ),
    }
}

/// The programs `runtime: process` starts (`haproxy` or `nginx`, `redis-server`), found the way it finds them
/// (explicit paths of the stack spec and their environment variables count).
pub fn process_programs(spec: &StackSpec) -> Vec<Check> {
    let affects = "runtime: process";
    let one = |name: &str, explicit: Option<&Path>, env: &str, flag: &str| {
        let candidates = process::candidates(name, explicit, env);
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Check::ok(name, Need::Process, affects, p.display().to_string()),
            None => Check::not_ok(
                name,
                Status::Missing,
                Need::Process,
                affects,
                format!(
                    "not found (looked at: {})",
                    candidates
                        .iter()
                        .take(4)
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "{} (or name it: {env}=PATH, takeover run {flag} PATH)",
                    apt_install(name)
                ),
            )
            .with_package(name),
        }
    };
    let frontdoor = match spec.frontdoor.kind {
        crate::stack::FrontdoorKind::Haproxy => one(
            "haproxy",
            spec.process.haproxy.as_deref(),
            process::HAPROXY_ENV,
            "--haproxy",
        ),
        crate::stack::FrontdoorKind::Nginx => one(
            "nginx",
            spec.process.nginx.as_deref(),
            process::NGINX_ENV,
            "--nginx",
        ),
    };
    vec![
        frontdoor,
        one(
            "redis-server",
            spec.process.redis_server.as_deref(),
            process::REDIS_SERVER_ENV,
            "--redis-server",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> (PathBuf, Search) {
        let dir = std::env::temp_dir().join(format!(
            "takeover-doctor-programs-{}-{}",
            std::process::id(),
            files.join("-")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let search = Search {
            dirs: vec![dir.clone()],
        };
        (dir, search)
    }

    #[test]
    fn each_missing_program_names_its_package_line() {
        let (dir, search) = dir_with(&["redis-server", "tc"]);
        let checks = checks(&search);
        let by = |n: &str| checks.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(by("redis-server").status, Status::Ok);
        assert_eq!(by("tc").status, Status::Ok);
        let haproxy = by("haproxy");
        assert_eq!(haproxy.status, Status::Missing);
        assert_eq!(
            haproxy.fix.as_deref(),
            Some("sudo apt-get install -y haproxy")
        );
        let iptables = by("iptables");
        assert_eq!(iptables.status, Status::Missing);
        assert!(
            iptables.detail.contains("xtables-nft-multi"),
            "{}",
            iptables.detail
        );
        assert_eq!(
            iptables.fix.as_deref(),
            Some("sudo apt-get install -y iptables")
        );
        // nginx is optional: degraded, never missing.
        let nginx = by("nginx");
        assert_eq!(nginx.status, Status::Degraded);
        assert_eq!(nginx.fix.as_deref(), Some("sudo apt-get install -y nginx"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tc_comes_from_iproute2() {
        let (dir, search) = dir_with(&["haproxy"]);
        let tc = checks(&search)
            .into_iter()
            .find(|c| c.name == "tc")
            .unwrap();
        assert_eq!(tc.status, Status::Missing);
        assert_eq!(tc.fix.as_deref(), Some("sudo apt-get install -y iproute2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_worker_binary_says_how_to_build_it() {
        let c = worker_binary(Some(Path::new("/no/such/synth-worker")));
        assert_eq!(c.status, Status::Missing);
        assert!(c.detail.contains("/no/such/synth-worker"), "{}", c.detail);
        assert!(c
            .fix
            .unwrap()
            .starts_with("cargo build --release --workspace"));
    }

    #[test]
    fn an_explicit_process_program_that_is_absent_is_missing() {
        let mut spec = StackSpec::default();
        spec.process.haproxy = Some(PathBuf::from("/no/such/haproxy"));
        let checks = process_programs(&spec);
        assert_eq!(checks[0].status, Status::Missing);
        assert!(checks[0].detail.contains("/no/such/haproxy"));
        assert!(checks[0].fix.as_deref().unwrap().contains("--haproxy PATH"));
    }

    #[test]
    fn an_nginx_front_door_checks_nginx_instead_of_haproxy() {
        let mut spec = StackSpec::default();
        spec.frontdoor.kind = crate::stack::FrontdoorKind::Nginx;
        spec.process.nginx = Some(PathBuf::from("/no/such/nginx"));
        let checks = process_programs(&spec);
        assert_eq!(checks[0].name, "nginx");
        assert_eq!(checks[0].status, Status::Missing);
        assert!(checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("TAKEOVER_NGINX=PATH"));
        assert!(checks.iter().all(|c| c.name != "haproxy"));
    }
}
