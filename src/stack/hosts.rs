//! A stack spread over several Docker engines (`stack.hosts`, `stack.placement`,
//! `stack.checkpoints`, `stack.allow_remote`): the scenario's types and the pure
//! checks on them (which engine each role runs on, which addresses are allowed).
//! Bringing such a stack up is [`super::multi_host`]; the layout is described in
//! `docs/stack.md` ("Several hosts") and the test bed in `docs/hosts.md`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Role;

/// One host of a multi-host stack: its Docker engine and the address the
/// other hosts (and the harness) reach the ports it publishes by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Its Docker engine: `unix:///path/docker.sock`, or `tcp://host:port`
    /// (with `tls` for an engine started with `--tlsverify`: the plain TCP
    /// API is root on its host to whoever reaches the port).
    pub docker: String,
    /// Its IPv4 address: ports are published there, and the other roles reach
    /// it there (never `0.0.0.0`).
    pub address: String,
    /// Mutual TLS to a `tcp://` engine: the CA that signed the engine's
    /// certificate, and the client certificate and key the engine trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
}

/// The PEM files of mutual TLS with a Docker engine (dockerd's `--tlsverify
/// --tlscacert --tlscert --tlskey`). A relative path is relative to the
/// scenario file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// The CA certificate the engine's server certificate must chain to (and
    /// that signed the client certificate, for the engine's own check).
    #[schemars(with = "String")]
    pub ca: PathBuf,
    /// The client certificate the harness presents.
    #[schemars(with = "String")]
    pub cert: PathBuf,
    /// The client certificate's private key.
    #[schemars(with = "String")]
    pub key: PathBuf,
}

impl TlsSpec {
    /// The three files with a relative path made relative to `dir` (the scenario's folder).
    pub fn resolved(&self, dir: &Path) -> TlsSpec {
        let at = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                dir.join(p)
            }
        };
        TlsSpec {
            ca: at(&self.ca),
            cert: at(&self.cert),
            key: at(&self.key),
        }
    }

    /// Each file with its key under `tls` and the PEM block it must hold.
    pub fn files(&self) -> [(&'static str, &Path, &'static str); 3] {
        [
            ("ca", &self.ca, "CERTIFICATE"),
            ("cert", &self.cert, "CERTIFICATE"),
            ("key", &self.key, "PRIVATE KEY"),
        ]
    }

    /// Why one of the files cannot serve (unreadable, or no PEM block of
    /// its kind), naming the file, with its key; empty when all three can.
    pub fn unreadable(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (key, path, block) in self.files() {
            let why = match std::fs::read(path) {
                Err(e) => Some(format!("cannot read {}: {e}", path.display())),
                Ok(bytes) if !holds_pem(&bytes, block) => Some(format!(
                    "{} holds no PEM `{block}` block (`-----BEGIN ...{block}-----`)",
                    path.display()
                )),
                Ok(_) => None,
            };
            if let Some(why) = why {
                problems.push((key, why));
            }
        }
        problems
    }
}

/// Whether `bytes` hold a PEM block whose label ends with `block`
/// (`CERTIFICATE`; `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
fn holds_pem(bytes: &[u8], block: &str) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.lines().any(|l| {
        l.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with(block))
    })
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
    /// Mutual TLS to its engine, its paths resolved.
    pub tls: Option<TlsSpec>,
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

/// Whether an engine endpoint is of this machine: a Unix socket, or a
/// `tcp://` engine on loopback or the test bed's range (whose containers
/// mount this machine's folders).
pub fn is_local_engine(docker: &str) -> bool {
    if docker.starts_with("unix://") {
        return true;
    }
    tcp_host(docker).is_some_and(|h| h == "localhost" || h.parse().is_ok_and(is_local_address))
}

/// The host part of a `tcp://host:port` endpoint.
fn tcp_host(docker: &str) -> Option<&str> {
    let rest = docker.strip_prefix("tcp://")?;
    let rest = rest.trim_end_matches('/');
    Some(rest.rsplit_once(':').map_or(rest, |(h, _)| h))
}

/// The hosts reached over plain TCP (no `tls`) at an address off this
/// machine: whoever reaches such a port is root on that host. A warning, not
/// a refusal (an SSH tunnel or a private network may guard it).
pub fn plain_tcp_off_machine(hosts: &BTreeMap<String, HostSpec>) -> Vec<HostProblem> {
    hosts
        .iter()
        .filter(|(_, h)| {
            h.tls.is_none() && h.docker.starts_with("tcp://") && !is_local_engine(&h.docker)
        })
        .map(|(name, h)| HostProblem {
            key: format!("hosts.{name}.docker"),
            message: format!(
                "engine `{}` is plain TCP to another machine: anyone who reaches that port is root there; \
                 start its dockerd with `--tlsverify` and give `stack.hosts.{name}.tls` (docs/stack.md)",
                h.docker
            ),
        })
        .collect()
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
        } else if let Some(host_part) = tcp_host(engine) {
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
        if host.tls.is_some() && !engine.starts_with("tcp://") {
            add(
                format!("hosts.{name}.tls"),
                format!("`tls` is for a `tcp://` engine; `{engine}` is not one"),
            );
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
            .filter(|(_, h)| h.docker.starts_with("tcp://") && !is_local_engine(&h.docker))
            .map(|(n, _)| n.as_str())
            .collect();
        if !remote.is_empty() {
            add(
                "checkpoints".into(),
                format!(
                    "hosts {} are other machines, so the workers need a checkpoint store they all mount: \
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
                    tls: host.tls.clone(),
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
            tls: None,
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

    fn tls(dir: &str) -> TlsSpec {
        TlsSpec {
            ca: format!("{dir}/ca.pem").into(),
            cert: format!("{dir}/cert.pem").into(),
            key: format!("{dir}/key.pem").into(),
        }
    }

    #[test]
    fn tls_is_for_tcp_engines_only() {
        let mut hosts = bed();
        hosts.get_mut("h1").unwrap().tls = Some(tls("/certs"));
        let mut tcp = host("tcp://198.18.0.14:2376", "198.18.0.14");
        tcp.tls = Some(tls("/certs"));
        hosts.insert("h3".into(), tcp);
        let problems = check(
            &hosts,
            Some(&placement("h1", "h3")),
            &CheckpointsSpec::default(),
            false,
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        // The TLS engine on the test bed's range is of this machine: it needs
        // no shared store and draws no warning.
        assert_eq!(keys, ["hosts.h1.tls"], "{problems:?}");
        assert!(problems[0].message.contains("`tcp://` engine"));
        assert!(plain_tcp_off_machine(&hosts).is_empty());
    }

    #[test]
    fn plain_tcp_to_another_machine_is_warned_about_and_tls_silences_it() {
        let mut hosts = bed();
        hosts.insert("far".into(), host("tcp://10.0.0.5:2375", "10.0.0.5"));
        hosts.insert("near".into(), host("tcp://127.0.0.1:2375", "127.0.0.1"));
        let warned = plain_tcp_off_machine(&hosts);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert_eq!(warned[0].key, "hosts.far.docker");
        assert!(warned[0].message.contains("--tlsverify"));
        hosts.get_mut("far").unwrap().tls = Some(tls("/certs"));
        assert!(plain_tcp_off_machine(&hosts).is_empty());
        assert!(is_local_engine("tcp://198.18.0.6:2376"));
        assert!(is_local_engine("tcp://localhost:2375/"));
        assert!(!is_local_engine("tcp://10.0.0.5:2376"));
    }

    #[test]
    fn tls_files_resolve_against_the_scenario_folder_and_are_read() {
        let dir = std::env::temp_dir().join(format!("takeover-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let relative = TlsSpec {
            ca: "certs/ca.pem".into(),
            cert: "/elsewhere/cert.pem".into(),
            key: "certs/key.pem".into(),
        };
        let resolved = relative.resolved(&dir);
        assert_eq!(resolved.ca, dir.join("certs/ca.pem"));
        assert_eq!(resolved.cert, PathBuf::from("/elsewhere/cert.pem"));
        std::fs::write(
            &resolved.ca,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        // A certificate where the key should be is no key.
        std::fs::write(
            &resolved.key,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let problems = resolved.unreadable();
        let keys: Vec<&str> = problems.iter().map(|p| p.0).collect();
        assert_eq!(keys, ["cert", "key"], "{problems:?}");
        assert!(
            problems[0].1.contains("/elsewhere/cert.pem"),
            "{problems:?}"
        );
        assert!(problems[1].1.contains("PRIVATE KEY"), "{problems:?}");
        std::fs::write(
            &resolved.key,
            "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(resolved.unreadable().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
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
