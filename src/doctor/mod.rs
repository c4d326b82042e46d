//! `takeover doctor`: what a drill needs on this machine, one check per piece.
//!
//! Each check says ok / missing / degraded, the line that fixes it, and which
//! faults or scenarios it affects. A *missing* piece that the chosen runtime
//! needs stops a drill before it starts (`takeover run` calls [`required`]);
//! *degraded* and optional pieces only narrow what a drill can prove.

pub mod engine;
pub mod gpu;
pub mod kernel;
pub mod programs;

use serde::Serialize;

use crate::stack::RuntimeKind;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Absent.
    Missing,
    /// Present but limited, or an optional piece is absent.
    Degraded,
}

impl Status {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Degraded => "degraded",
        }
    }
}

/// Which runtimes cannot run a drill without a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Both runtimes need it.
    Always,
    /// Only `runtime: docker` needs it.
    Docker,
    /// Only `runtime: process` needs it.
    Process,
    /// No drill stops without it; some faults or scenarios do.
    Optional,
}

impl Need {
    /// Whether a drill on `runtime` needs the piece.
    pub fn blocks(self, runtime: RuntimeKind) -> bool {
        match self {
            Need::Always => true,
            // Kubernetes runs need the local engine to build the images.
            Need::Docker => matches!(runtime, RuntimeKind::Docker | RuntimeKind::Kubernetes),
            Need::Process => runtime == RuntimeKind::Process,
            Need::Optional => false,
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The piece checked (`docker`, `haproxy`, `sch_netem`, ...).
    pub name: String,
    /// What was found.
    pub status: Status,
    /// What was found, in words (a version, a path, why it is missing).
    pub detail: String,
    /// The line that fixes it (absent when ok).
    pub fix: Option<String>,
    /// The Debian/Ubuntu package that provides it, if there is one.
    pub package: Option<String>,
    /// The faults or scenarios that need it.
    pub affects: String,
    /// Which runtimes cannot run a drill without it.
    pub need: Need,
}

impl Check {
    /// An ok result.
    pub fn ok(name: &str, need: Need, affects: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            package: None,
            affects: affects.into(),
            need,
        }
    }

    /// A result that is not ok, with its fix.
    pub fn not_ok(
        name: &str,
        status: Status,
        need: Need,
        affects: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
            package: None,
            affects: affects.into(),
            need,
        }
    }

    /// The same result, naming the package that provides the piece.
    pub fn with_package(mut self, package: &str) -> Check {
        self.package = Some(package.into());
        self
    }

    /// Whether this result stops a drill on `runtime`.
    pub fn blocks(&self, runtime: RuntimeKind) -> bool {
        self.status == Status::Missing && self.need.blocks(runtime)
    }

    /// One line for a person: `missing  haproxy: ... (fix: ...)`.
    pub fn line(&self) -> String {
        let mut s = format!("{:<8} {}: {}", self.status.as_str(), self.name, self.detail);
        if self.status != Status::Ok {
            s.push_str(&format!(" [affects: {}]", self.affects));
        }
        if let Some(fix) = &self.fix {
            s.push_str(&format!("\n         fix: {fix}"));
        }
        s
    }
}

/// All checks of one look at the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The runtimes the verdict is for.
    pub runtimes: Vec<RuntimeKind>,
    /// Every check, in the order made.
    pub checks: Vec<Check>,
}

impl Diagnosis {
    /// The checks that stop a drill on one of [`Diagnosis::runtimes`].
    pub fn blocking(&self) -> Vec<&Check> {
        let mut out: Vec<&Check> = Vec::new();
        for c in &self.checks {
            // The same program may be looked for by each runtime's rules: name it once.
            if self.runtimes.iter().any(|r| c.blocks(*r)) && !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
        out
    }

    /// One `apt-get install` line for every blocking piece a Debian package
    /// provides, or `None` when no package would help.
    pub fn apt_line(&self) -> Option<String> {
        apt_line(self.blocking().into_iter())
    }
}

/// The `apt-get install` line (Debian and Ubuntu) for the packages of `checks`.
pub fn apt_line<'a>(checks: impl Iterator<Item = &'a Check>) -> Option<String> {
    let mut packages: Vec<&str> = checks.filter_map(|c| c.package.as_deref()).collect();
    packages.dedup();
    let mut seen = Vec::new();
    for p in packages {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    (!seen.is_empty()).then(|| format!("sudo apt-get install -y {}", seen.join(" ")))
}

/// The Debian/Ubuntu line that installs every host program a drill can use.
pub const PREREQUISITES: &str =
    "sudo apt-get install -y haproxy nginx redis-server iptables iproute2";

/// Every check, for the `runtimes` the verdict is for. Docker is asked only
/// when a runtime needs it or `with_docker` is set.
pub async fn diagnose(runtimes: &[RuntimeKind], with_docker: bool) -> Diagnosis {
    let host = programs::Search::from_env();
    let mut checks = Vec::new();
    if with_docker || runtimes.contains(&RuntimeKind::Docker) {
        checks.extend(engine::checks().await);
    }
    checks.extend(programs::checks(&host));
    if runtimes.contains(&RuntimeKind::Process) {
        checks.extend(programs::process_programs(
            &crate::stack::StackSpec::default(),
        ));
    }
    checks.push(programs::worker_binary(None));
    checks.extend(kernel::checks(&kernel::Host::real()));
    checks.push(gpu::cuda_driver(&gpu::DriverPaths::real()));
    Diagnosis {
        runtimes: runtimes.to_vec(),
        checks,
    }
}

/// Only the checks whose result can stop a drill on `runtimes`, as `takeover
/// run` makes them before starting: host programs, the worker binary, Docker
/// when a runtime is Docker, and for the CUDA backend the nvidia runtime
/// (Docker) or the CUDA driver (process). The stack's explicit program paths count.
pub async fn required(runtimes: &[RuntimeKind], spec: &crate::stack::StackSpec) -> Diagnosis {
    let mut checks = Vec::new();
    let cuda = spec.worker.backend == crate::stack::Backend::Cuda;
    if runtimes.contains(&RuntimeKind::Docker) {
        let (check, docker) = engine::docker().await;
        checks.push(check);
        // `--worker-backend cuda` on Docker cannot start without the nvidia runtime.
        if let (true, Some(docker)) = (cuda, docker) {
            checks.push(required_for(
                engine::nvidia_runtime(&engine::runtimes(&docker).await),
                Need::Docker,
            ));
        }
    }
    if cuda && runtimes.contains(&RuntimeKind::Process) {
        checks.push(required_for(
            gpu::cuda_driver(&gpu::DriverPaths::real()),
            Need::Process,
        ));
    }
    let host = programs::Search::from_env();
    if runtimes.contains(&RuntimeKind::Process) {
        checks.extend(programs::process_programs(spec));
    }
    if runtimes.contains(&RuntimeKind::Docker) {
        // nginx is optional, unless the scenario's front door is Nginx.
        let nginx_needed = spec.frontdoor.kind == crate::stack::FrontdoorKind::Nginx;
        checks.extend(programs::checks(&host).into_iter().filter_map(|c| {
            if c.need != Need::Optional {
                Some(c)
            } else if nginx_needed && c.name == "nginx" {
                Some(required_for(c, Need::Docker))
            } else {
                None
            }
        }));
    }
    checks.push(programs::worker_binary(
        spec.images.worker_binary.as_deref(),
    ));
    let mut d = Diagnosis {
        runtimes: runtimes.to_vec(),
        checks,
    };
    d.checks
        .retain(|c| runtimes.iter().any(|r| c.need.blocks(*r)));
    d
}

/// An optional check made required: the scenario asked for what it gives.
fn required_for(mut c: Check, need: Need) -> Check {
    if c.status != Status::Ok {
        c.status = Status::Missing;
    }
    c.need = need;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(name: &str, need: Need, package: Option<&str>) -> Check {
        let c = Check::not_ok(name, Status::Missing, need, "x", "not found", "install it");
        match package {
            Some(p) => c.with_package(p),
            None => c,
        }
    }

    #[test]
    fn only_what_the_runtime_needs_blocks_and_packages_make_one_line() {
        let d = Diagnosis {
            runtimes: vec![RuntimeKind::Process],
            checks: vec![
                missing("haproxy", Need::Process, Some("haproxy")),
                missing("haproxy", Need::Docker, Some("haproxy")),
                missing("iptables", Need::Docker, Some("iptables")),
                missing("nginx", Need::Optional, Some("nginx")),
                missing("redis-server", Need::Always, Some("redis-server")),
                Check::not_ok(
                    "sch_netem",
                    Status::Degraded,
                    Need::Optional,
                    "latency",
                    "no",
                    "x",
                ),
            ],
        };
        let names: Vec<_> = d.blocking().iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["haproxy", "redis-server"]);
        assert_eq!(
            d.apt_line().as_deref(),
            Some("sudo apt-get install -y haproxy redis-server")
        );
        let docker = Diagnosis {
            runtimes: vec![RuntimeKind::Docker],
            ..d
        };
        assert_eq!(docker.blocking().len(), 3);
    }

    #[test]
    fn a_cuda_scenario_makes_the_gpu_pieces_required() {
        let c = Check::not_ok(
            "cuda driver",
            Status::Degraded,
            Need::Optional,
            "gpu",
            "none",
            "install",
        );
        let r = required_for(c, Need::Process);
        assert!(r.blocks(RuntimeKind::Process));
        assert!(!r.blocks(RuntimeKind::Docker));
        let ok = required_for(
            Check::ok("cuda driver", Need::Optional, "gpu", "550"),
            Need::Process,
        );
        assert!(!ok.blocks(RuntimeKind::Process));
    }

    #[test]
    fn a_degraded_piece_never_blocks() {
        let c = Check::not_ok(
            "cgroup freezer",
            Status::Degraded,
            Need::Docker,
            "pause",
            "d",
            "f",
        );
        assert!(!c.blocks(RuntimeKind::Docker));
        assert!(c.line().contains("fix: f"));
    }
}
