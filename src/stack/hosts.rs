//! A stack spread over several Docker engines (`stack.hosts`, `stack.placement`,
//! `stack.checkpoints`, `stack.allow_remote`): the scenario's types and the pure
//! checks on them (which engine each role runs on, which addresses are allowed).
//! Bringing such a stack up is [`super::multi_host`]; the layout is described in
//! `docs/stack.md` ("Several hosts") and the test bed in `docs/hosts.md`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Role;

/// One host of a multi-host stack: its Docker engine and the address the
/// other hosts (and the harness) reach the ports it publishes by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Its Docker engine: `unix:///path/docker.sock` or `tcp://host:port` (no TLS).
    pub docker: String,
    /// Its IPv4 address: ports are published there, and the other roles reach
    /// it there (never `0.0.0.0`).
    pub address: String,
}

/// Which host each role runs on (names from `stack.hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The host of the primary worker.
    pub primary: String,
    /// The host of the standby worker.
    pub standby: String,
    /// The host of the front door.
    pub frontdoor: String,
    /// The host of Redis (the leases).
    pub state: String,
}

impl Placement {
    /// The host named for `role`.
    pub fn host_of(&self, role: Role) -> &str {
        match role {
            Role::Primary => &self.primary,
            Role::Standby => &self.standby,
            Role::Frontdoor => &self.frontdoor,
            Role::State => &self.state,
        }
    }
}

/// The checkpoint store the workers of a multi-host stack share (their `/data`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsSpec {
    /// A folder at the same path on every worker host, the same storage on
    /// all of them (an NFS mount, say). Each run bind-mounts its own
    /// sub-folder `<host_path>/<run id>` at `/data` in both workers. Left out,
    /// and only when every engine is a `unix://` socket of this machine (the
    /// test bed), the run makes a folder of its own in the temp folder.
    #[schemars(with = "Option<String>")]
    pub host_path: Option<PathBuf>,
}

/// The hosts of a stack, resolved: for each role, its host's name, engine and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHost {
    /// The host's name in `stack.hosts`.
    pub name: String,
    /// Its engine.
    pub docker: String,
    /// Its address.
    pub address: Ipv4Addr,
}

/// What is wrong with a `stack.hosts` / `stack.placement` pair: the key it
/// concerns (`hosts.h1.address`, `placement.primary`, ...) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProblem {
    /// The key under `stack` it is about.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// The range the multi-host test bed's addresses come from (RFC 2544's
/// benchmarking range, `scripts/testbed-hosts.sh`).
pub const TESTBED_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);

/// Whether `address` is one a drill may send traffic to without
/// `allow_remote: true`: loopback, or the test bed's range.
pub fn is_local_address(address: Ipv4Addr) -> bool {
    let (net, bits) = TESTBED_RANGE;
    let mask = u32::MAX << (32 - u32::from(bits));
    address.is_loopback() || (u32::from(address) & mask) == (u32::from(net) & mask)
}

/// Whether an engine endpoint is a Unix socket of this machine.
pub fn is_local_engine(docker: &str) -> bool {
    docker.starts_with("unix://")
}

/// Every problem of a host layout; empty when it can be brought up.
pub fn check(
    hosts: &BTreeMap<String, HostSpec>,
    placement: Option<&Placement>,
    checkpoints: &CheckpointsSpec,
    allow_remote: bool,
) -> Vec<HostProblem> {
    let mut problems = Vec::new();
    let mut add = |key: String, message: String| problems.push(HostProblem { key, message });
    if hosts.is_empty() {
        if placement.is_some() {
            add(
                "placement".into(),
                "`stack.placement` needs `stack.hosts`: name the hosts the roles run on".into(),
            );
        }
        if checkpoints.host_path.is_some() {
            add(
                "checkpoints".into(),
                "`stack.checkpoints` is for a stack over several hosts (`stack.hosts`); one engine shares a volume".into(),
            );
        }
        return problems;
    }
    for (name, host) in hosts {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            add(
                format!("hosts.{name}"),
                format!("host name `{name}` must be letters, digits, `-` and `_`"),
            );
        }
        let engine = &host.docker;
        let remote_engine = if let Some(path) = engine.strip_prefix("unix://") {
            if !path.starts_with('/') {
                add(
                    format!("hosts.{name}.docker"),
                    format!(
                        "`{engine}` must name an absolute socket path: `unix:///path/docker.sock`"
                    ),
                );
            }
            None
        } else if let Some(rest) = engine.strip_prefix("tcp://") {
            let host_part = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
            Some(host_part.to_string())
        } else {
            add(
                format!("hosts.{name}.docker"),
                format!(
                    "engine `{engine}` must be `unix:///path/docker.sock` or `tcp://host:port`"
                ),
            );
            None
        };
        if let Some(remote) = remote_engine {
            let local =
                remote.parse::<Ipv4Addr>().is_ok_and(is_local_address) || remote == "localhost";
            if !allow_remote && !local {
                add(
                    format!("hosts.{name}.docker"),
                    format!(
                        "engine `{engine}` is not on loopback or the test bed's range; set `stack.allow_remote: true` to drill real hosts"
                    ),
                );
            }
        }
        match host.address.parse::<Ipv4Addr>() {
            Err(_) => add(
                format!("hosts.{name}.address"),
                format!(
                    "`{}` is not an IPv4 address (the address the other hosts reach {name} by)",
                    host.address
                ),
            ),
            Ok(a) if a.is_unspecified() => add(
                format!("hosts.{name}.address"),
                "`0.0.0.0` would publish ports on every interface; give the host's own address"
                    .into(),
            ),
            Ok(a) if !allow_remote && !is_local_address(a) => add(
                format!("hosts.{name}.address"),
                format!(
                    "`{a}` is outside loopback and the test bed's {}/{}: drill traffic would leave this machine; \
                     set `stack.allow_remote: true` to drill real hosts",
                    TESTBED_RANGE.0, TESTBED_RANGE.1
                ),
            ),
            Ok(_) => {}
        }
    }
    let Some(placement) = placement else {
        add(
            "placement".into(),
            "`stack.hosts` needs `stack.placement`: the host of each role (primary, standby, frontdoor, state)".into(),
        );
        return problems;
    };
    for role in Role::ALL {
        let host = placement.host_of(role);
        if !hosts.contains_key(host) {
            let known: Vec<&str> = hosts.keys().map(String::as_str).collect();
            add(
                format!("placement.{role}"),
                format!(
                    "`{host}` is not a host of `stack.hosts` (it has: {})",
                    known.join(", ")
                ),
            );
        }
    }
    if checkpoints.host_path.is_none() {
        let remote: Vec<&str> = hosts
            .iter()
            .filter(|(_, h)| h.docker.starts_with("tcp://"))
            .map(|(n, _)| n.as_str())
            .collect();
        if !remote.is_empty() {
            add(
                "checkpoints".into(),
                format!(
                    "hosts {} are reached over TCP, so the workers need a checkpoint store they all mount: \
                     set `stack.checkpoints.host_path` (e.g. an NFS mount at the same path on every host)",
                    remote.join(", ")
                ),
            );
        }
    } else if let Some(path) = &checkpoints.host_path {
        if !path.is_absolute() {
            add(
                "checkpoints.host_path".into(),
                format!("`{}` must be an absolute path", path.display()),
            );
        }
    }
    problems
}

/// For each role, its host, resolved from a layout that [`check`] accepted.
pub fn resolve(
    hosts: &BTreeMap<String, HostSpec>,
    placement: &Placement,
) -> Option<BTreeMap<Role, RoleHost>> {
    Role::ALL
        .into_iter()
        .map(|role| {
            let name = placement.host_of(role);
            let host = hosts.get(name)?;
            Some((
                role,
                RoleHost {
                    name: name.to_string(),
                    docker: host.docker.clone(),
                    address: host.address.parse().ok()?,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(docker: &str, address: &str) -> HostSpec {
        HostSpec {
            docker: docker.into(),
            address: address.into(),
        }
    }

    fn bed() -> BTreeMap<String, HostSpec> {
        BTreeMap::from([
            (
                "h1".to_string(),
                host("unix:///run/takeover-tb/h1/docker.sock", "198.18.0.6"),
            ),
            (
                "h2".to_string(),
                host("unix:///run/takeover-tb/h2/docker.sock", "198.18.0.10"),
            ),
        ])
    }

    fn placement(primary: &str, standby: &str) -> Placement {
        Placement {
            primary: primary.into(),
            standby: standby.into(),
            frontdoor: "h2".into(),
            state: "h2".into(),
        }
    }

    #[test]
    fn the_test_bed_layout_is_accepted_and_resolved() {
        let p = placement("h1", "h2");
        assert!(check(&bed(), Some(&p), &CheckpointsSpec::default(), false).is_empty());
        let roles = resolve(&bed(), &p).unwrap();
        assert_eq!(roles[&Role::Primary].name, "h1");
        assert_eq!(roles[&Role::Standby].address, Ipv4Addr::new(198, 18, 0, 10));
        assert!(roles[&Role::State].docker.ends_with("h2/docker.sock"));
    }

    #[test]
    fn addresses_off_the_machine_need_allow_remote() {
        let mut hosts = bed();
        hosts.insert("far".into(), host("tcp://10.0.0.5:2375", "10.0.0.5"));
        let p = placement("h1", "far");
        let problems = check(
            &hosts,
            Some(&p),
            &CheckpointsSpec {
                host_path: Some("/mnt/shared".into()),
            },
            false,
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["hosts.far.docker", "hosts.far.address"],
            "{problems:?}"
        );
        assert!(problems[1].message.contains("allow_remote: true"));
        let allowed = check(
            &hosts,
            Some(&p),
            &CheckpointsSpec {
                host_path: Some("/mnt/shared".into()),
            },
            true,
        );
        assert!(allowed.is_empty(), "{allowed:?}");
        // A TCP engine without a shared store is refused even when allowed.
        let no_store = check(&hosts, Some(&p), &CheckpointsSpec::default(), true);
        assert_eq!(no_store.len(), 1);
        assert_eq!(no_store[0].key, "checkpoints");
    }

    #[test]
    fn unknown_hosts_bad_engines_and_wildcard_addresses_are_named() {
        let mut hosts = bed();
        hosts.insert("h3".into(), host("ssh://x", "0.0.0.0"));
        hosts.insert("h4".into(), host("unix://relative.sock", "nonsense"));
        let problems = check(
            &hosts,
            Some(&placement("h9", "h2")),
            &CheckpointsSpec::default(),
            false,
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hosts.h3.docker",
                "hosts.h3.address",
                "hosts.h4.docker",
                "hosts.h4.address",
                "placement.primary"
            ],
            "{problems:?}"
        );
        assert!(problems[4].message.contains("it has: h1, h2, h3, h4"));
    }

    #[test]
    fn placement_without_hosts_and_hosts_without_placement_are_refused() {
        let p = placement("h1", "h2");
        let problems = check(
            &BTreeMap::new(),
            Some(&p),
            &CheckpointsSpec::default(),
            false,
        );
        assert_eq!(problems[0].key, "placement");
        let problems = check(&bed(), None, &CheckpointsSpec::default(), false);
        assert_eq!(problems[0].key, "placement");
        assert!(problems[0].message.contains("needs `stack.placement`"));
    }

    #[test]
    fn local_addresses_are_loopback_and_the_test_bed_range_only() {
        for a in ["127.0.0.1", "198.18.0.6", "198.19.255.1"] {
            assert!(is_local_address(a.parse().unwrap()), "{a}");
        }
        for a in ["198.20.0.1", "198.17.255.255", "10.0.0.1", "192.168.1.1"] {
            assert!(!is_local_address(a.parse().unwrap()), "{a}");
        }
    }
}
