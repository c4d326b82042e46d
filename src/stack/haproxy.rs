//! The HAProxy front door: its configuration, its stats (which server it
//! thinks is up) and its runtime API.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::spec::HealthCheck;
use super::{Failover, FrontdoorSpec, Role, StackError, WorkerSpec};
use crate::clock::Clock;

/// Port of the front door inside its container.
pub const FRONT_PORT: u16 = 8080;
/// Port of the stats page inside the container.
pub const STATS_PORT: u16 = 8404;
/// Port of the runtime API (admin level) inside the container.
pub const ADMIN_PORT: u16 = 9999;
/// Loopback port of the runtime API itself inside the container, when
/// [`ADMIN_PORT`] is a filtering relay to it (see [`Layout::harness_only_from`]).
pub const ADMIN_INNER_PORT: u16 = 9998;
/// Name of the backend holding the workers.
pub const BACKEND: &str = "workers";
/// Where the configuration goes in the container.
pub const CONFIG_DIR: &str = "/etc/haproxy";

/// Where HAProxy listens and where its servers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Address HAProxy binds its front door, stats and runtime API to.
    pub bind_host: String,
    /// Front door port.
    pub front_port: u16,
    /// Stats page port.
    pub stats_port: u16,
    /// Runtime API (admin level) port.
    pub admin_port: u16,
    /// The primary worker, `host:port`.
    pub primary: String,
    /// The standby worker, `host:port`.
    pub standby: String,
    /// Resolve the servers through Docker's DNS (names on the run network).
    pub docker_dns: bool,
    /// When set, the stats page and the runtime API accept connections only
    /// from this address (the run network's gateway: what the harness's
    /// connections through the 127.0.0.1-published ports come from); other
    /// containers on the network are turned away. The runtime API then binds
    /// loopback inside the container, behind a TCP relay that filters.
    pub harness_only_from: Option<String>,
    /// The health check each server gets (`stack.worker.health`).
    pub health: HealthCheck,
}

impl Layout {
    /// The Docker stack: fixed ports in the container, workers by role name
    /// on their `stack.worker.port`, checked with `stack.worker.health`.
    pub fn docker(worker: &WorkerSpec) -> Self {
        let port = worker.port;
        Self {
            bind_host: "0.0.0.0".into(),
            front_port: FRONT_PORT,
            stats_port: STATS_PORT,
            admin_port: ADMIN_PORT,
            primary: format!("primary:{port}"),
            standby: format!("standby:{port}"),
            docker_dns: true,
            harness_only_from: None,
            health: worker.health.clone(),
        }
    }
}

/// HAProxy's configuration for the Docker stack. Servers are the workers'
/// names on the run network, resolved through Docker's DNS so a restarted
/// worker with a new address is found again. A name that stops resolving (a
/// worker cut off the network) keeps its last address for an hour: the server
/// is then marked down by its failing checks and must pass `rise` checks to
/// come back. With a short hold HAProxy 2.6 puts it in maintenance instead and,
/// when the name resolves again, serves it at once, before any check passed
/// (measured: a 503 outage of up to 0.7 s after every reconnect).
///
/// `harness_from` is the run network's gateway: only connections from it
/// reach the stats page and the runtime API (see [`Layout::harness_only_from`]).
pub fn render_config(spec: &FrontdoorSpec, worker: &WorkerSpec, harness_from: &str) -> String {
    let layout = Layout {
        harness_only_from: Some(harness_from.to_string()),
        ..Layout::docker(worker)
    };
    render_config_for(spec, &layout)
}

/// HAProxy's configuration for any [`Layout`] (the process runtime gives
/// 127.0.0.1 ports and fixed server addresses, no DNS).
pub fn render_config_for(spec: &FrontdoorSpec, layout: &Layout) -> String {
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    // With a read timeout both servers are active and `balance first` sends
    // everything to the primary while it is up: a retried read may then go to
    // the standby (a redispatch never picks a backup server while an active one
    // is up, and a hung primary stays up until its checks fail).
    let hung_reads = spec.redispatch && !spec.timeout_read.is_zero();
    let standby_flags = match (spec.failover, hung_reads) {
        (Failover::Backup, false) => " backup",
        (Failover::Backup, true) => "",
        (Failover::Manual, false) => " backup disabled",
        (Failover::Manual, true) => " disabled",
    };
    let balance = if hung_reads {
        "    balance first\n"
    } else {
        ""
    };
    // A retried request goes to another server at once (`redispatch 1`), and
    // a request that met a dead or dying server is retried there: a refused
    // or timed-out connect, an empty answer, a 502/503 from the server. Job
    // submissions (POST) are never replayed at layer 7: only requests that are
    // safe to send twice are (the probes' and status polls' GETs, audio reads).
    let redispatch = match (spec.redispatch, hung_reads) {
        (true, false) => "    option redispatch 1
    retry-on conn-failure empty-response junk-response 502 503
"
        .to_string(),
        (true, true) => "    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 502 503
"
        .to_string(),
        (false, _) => String::new(),
    };
    // A read not answered within `timeout_read` is given up on that server and
    // retried on the other (audio downloads keep `timeout server`: a long
    // answer is not a hung one).
    let read_timeout = if hung_reads {
        format!(
            "    http-request set-timeout server {} if {{ method GET HEAD }} !{{ path_end /audio }}\n",
            ms(spec.timeout_read)
        )
    } else {
        String::new()
    };
    let (resolvers, server_dns) = if layout.docker_dns {
        (
            "resolvers docker
    nameserver dns 127.0.0.11:53
    accepted_payload_size 8192
    timeout resolve 100ms
    timeout retry 100ms
    hold valid 1s
    hold obsolete 1h
    hold nx 1h
    hold refused 1h
    hold timeout 1h
    hold other 1h

",
            " resolvers docker init-addr last,libc,none",
        )
    } else {
        ("", "")
    };
    let Layout {
        bind_host: host,
        front_port,
        stats_port,
        admin_port,
        primary,
        standby,
        harness_only_from,
        health,
        ..
    } = layout;
    // The runtime API is HAProxy's CLI, not a proxy: no ACL applies to it. With
    // a harness-only layout it listens on loopback inside the container and a
    // TCP relay on the admin port passes on only the harness's connections.
    let (admin_socket, admin_relay, stats_filter) = match harness_only_from {
        Some(from) => (
            format!("127.0.0.1:{ADMIN_INNER_PORT}"),
            format!(
                "
listen admin
    mode tcp
    bind {host}:{admin_port}
    tcp-request connection reject unless {{ src {from} }}
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    server cli 127.0.0.1:{ADMIN_INNER_PORT}
"
            ),
            format!("    tcp-request connection reject unless {{ src {from} }}\n"),
        ),
        None => (format!("{host}:{admin_port}"), String::new(), String::new()),
    };
    format!(
        "# Written by takeover for one run.
global
    maxconn 4096
    stats socket ipv4@{admin_socket} level admin
    hard-stop-after 2s
    log stdout format raw local0

defaults
    mode http
    timeout connect {connect}
    timeout client {client}
    timeout server {server}
    timeout check {check}
    retries {retries}
{redispatch}
{resolvers}frontend front
    bind {host}:{front_port}
    # The front door's own account of each probe, read back after the drill.
    log global
    http-request capture req.hdr({probe_header}) len 24
    log-format \"{log_format}\"
    default_backend {BACKEND}

backend {BACKEND}
{balance}    http-request disable-l7-retry if METH_POST
{read_timeout}    option httpchk GET {health_path}
    http-check expect status {health_status}
    default-server inter {inter} fastinter {inter} downinter {inter} fall {fall} rise {rise} observe layer4 error-limit 1 on-error mark-down{server_dns}
    server primary {primary} check
    server standby {standby} check{standby_flags}

listen stats
    bind {host}:{stats_port}
{stats_filter}    stats enable
    stats uri /stats
    stats refresh 1s
{admin_relay}",
        health_path = health.path,
        health_status = health.status,
        probe_header = super::haproxy_log::PROBE_HEADER,
        log_format = super::haproxy_log::LOG_FORMAT,
        connect = ms(spec.timeout_connect),
        client = ms(spec.timeout_client),
        server = ms(spec.timeout_server),
        check = ms(spec.timeout_check),
        retries = spec.retries,
        inter = ms(spec.check_interval),
        fall = spec.fall.max(1),
        rise = spec.rise.max(1),
    )
}

/// HAProxy's view of one server of the worker backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendServerState {
    /// Server name in HAProxy (`primary`, `standby`).
    pub server: String,
    /// The stack role it stands for.
    pub role: Option<Role>,
    /// `UP`, `DOWN`, `MAINT`, `UP 1/2` (going down), `DOWN 1/2` (going up), `NOLB`, `DRAIN`.
    pub status: String,
    /// Whether it is the standby: HAProxy's `backup` server, or the second
    /// server under `balance first` (used only while the primary is not up,
    /// and for reads retried away from it).
    pub backup: bool,
    /// Seconds since its status last changed.
    pub last_change_s: Option<u64>,
    /// Result of its last health check (`L7OK`, `L4CON`, `L7STS`, ...).
    pub check_status: String,
    /// When the view was read, clock ms.
    pub read_at_ms: f64,
}

impl BackendServerState {
    /// Whether HAProxy would send traffic to it now (fully or going down).
    pub fn is_up(&self) -> bool {
        self.status.starts_with("UP")
    }
}

/// Parses HAProxy's stats CSV and keeps the servers of the worker backend.
pub fn parse_stats_csv(csv: &str, read_at_ms: f64) -> Result<Vec<BackendServerState>, String> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or("stats CSV has no `# pxname,...` header")?;
    let columns: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .ok_or(format!("stats CSV lacks the `{name}` column"))
    };
    let (px, sv, status, bck, lastchg, check) = (
        col("pxname")?,
        col("svname")?,
        col("status")?,
        col("bck")?,
        col("lastchg")?,
        col("check_status")?,
    );
    let mut servers = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        if get(px) != BACKEND || get(sv) == "BACKEND" || get(sv) == "FRONTEND" {
            continue;
        }
        servers.push(BackendServerState {
            server: get(sv).to_string(),
            role: Role::parse(get(sv)),
            status: get(status).to_string(),
            backup: get(bck) == "1" || Role::parse(get(sv)) == Some(Role::Standby),
            last_change_s: get(lastchg).parse().ok(),
            check_status: get(check).to_string(),
            read_at_ms,
        });
    }
    Ok(servers)
}

/// Reads the stats page now.
pub async fn read_view(
    stats_url: &str,
    clock: &Clock,
) -> Result<Vec<BackendServerState>, StackError> {
    let url = format!("{stats_url};csv");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| StackError::Frontdoor(format!("client: {e}")))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| StackError::Frontdoor(format!("stats page {url} did not answer: {e}")))?;
    let read_at_ms = clock.now_ms();
    let body = response
        .text()
        .await
        .map_err(|e| StackError::Frontdoor(format!("stats page {url}: {e}")))?;
    parse_stats_csv(&body, read_at_ms).map_err(StackError::Frontdoor)
}

/// Sends one command to HAProxy's runtime API (`show servers state`,
/// `enable server workers/standby`) and returns its answer.
pub async fn runtime_command(admin_addr: &str, command: &str) -> Result<String, StackError> {
    let io = |e: std::io::Error| StackError::Frontdoor(format!("runtime API at {admin_addr}: {e}"));
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(admin_addr)
            .await
            .map_err(io)?;
        stream
            .write_all(format!("{}\n", command.trim()).as_bytes())
            .await
            .map_err(io)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.map_err(io)?;
        Ok::<_, StackError>(answer)
    };
    tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .map_err(|_| {
            StackError::Frontdoor(format!("runtime API at {admin_addr} did not answer in 3s"))
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_carries_the_scenario_checks_and_failover_mode() {
        let mut spec = FrontdoorSpec {
            check_interval: Duration::from_millis(250),
            fall: 3,
            rise: 2,
            ..FrontdoorSpec::default()
        };
        let cfg = render_config(&spec, &WorkerSpec::default(), "172.18.0.1");
        assert!(cfg.contains("inter 250ms"), "{cfg}");
        assert!(cfg.contains("fall 3 rise 2"));
        assert!(cfg.contains("option httpchk GET /health"));
        assert!(cfg.contains("option redispatch"));
        // Both servers active, the primary first, so a read that hangs on the
        // primary can be retried on the standby.
        assert!(cfg.contains("    balance first\n"), "{cfg}");
        assert!(cfg.contains("server standby standby:8080 check\n"), "{cfg}");
        assert!(cfg.contains(
            "http-request set-timeout server 250ms if { method GET HEAD } !{ path_end /audio }"
        ));
        // A request that met a dead server is retried on the other one at once;
        // a connection error on live traffic marks the server down at once.
        assert!(cfg.contains("option redispatch 1\n"), "{cfg}");
        assert!(cfg.contains(
            "retry-on conn-failure empty-response junk-response response-timeout 502 503"
        ));
        assert!(cfg.contains("http-request disable-l7-retry if METH_POST"));
        assert!(cfg.contains("observe layer4 error-limit 1 on-error mark-down"));
        assert!(cfg.contains("timeout connect 100ms"));
        // Every probe is logged with its number and HAProxy's timers.
        assert!(cfg.contains("log stdout format raw local0"), "{cfg}");
        assert!(cfg.contains("http-request capture req.hdr(X-Takeover-Probe) len 24"));
        assert!(cfg.contains("log-format \"tkv1 %Ts.%ms %[capture.req.hdr(0)]"));
        spec.failover = Failover::Manual;
        spec.redispatch = false;
        let cfg = render_config(&spec, &WorkerSpec::default(), "172.18.0.1");
        assert!(cfg.contains("server standby standby:8080 check backup disabled"));
        assert!(!cfg.contains("option redispatch"));
        assert!(
            !cfg.contains("set-timeout"),
            "no retry, so no read timeout: {cfg}"
        );
    }

    #[test]
    fn without_a_read_timeout_the_standby_is_a_backup_server() {
        let mut spec = FrontdoorSpec {
            timeout_read: Duration::ZERO,
            ..FrontdoorSpec::default()
        };
        let cfg = render_config(&spec, &WorkerSpec::default(), "172.18.0.1");
        assert!(
            cfg.contains("server standby standby:8080 check backup\n"),
            "{cfg}"
        );
        assert!(!cfg.contains("balance first"), "{cfg}");
        assert!(!cfg.contains("set-timeout"), "{cfg}");
        assert!(cfg.contains("retry-on conn-failure empty-response junk-response 502 503\n"));
        spec.timeout_read = Duration::from_millis(300);
        spec.failover = Failover::Manual;
        let cfg = render_config(&spec, &WorkerSpec::default(), "172.18.0.1");
        assert!(cfg.contains("set-timeout server 300ms"), "{cfg}");
        assert!(
            cfg.contains("server standby standby:8080 check disabled\n"),
            "{cfg}"
        );
    }

    #[test]
    fn a_loopback_layout_names_addresses_and_needs_no_dns() {
        let layout = Layout {
            bind_host: "127.0.0.1".into(),
            front_port: 4001,
            stats_port: 4002,
            admin_port: 4003,
            primary: "127.0.0.1:4004".into(),
            standby: "127.0.0.1:4005".into(),
            docker_dns: false,
            harness_only_from: None,
            health: HealthCheck::default(),
        };
        let cfg = render_config_for(&FrontdoorSpec::default(), &layout);
        assert!(cfg.contains("bind 127.0.0.1:4001"), "{cfg}");
        assert!(cfg.contains("bind 127.0.0.1:4002"));
        assert!(cfg.contains("stats socket ipv4@127.0.0.1:4003 level admin"));
        assert!(cfg.contains("server primary 127.0.0.1:4004 check\n"));
        assert!(cfg.contains("server standby 127.0.0.1:4005 check\n"));
        assert!(!cfg.contains("resolvers"), "{cfg}");
        // The Docker layout is unchanged by the refactoring.
        assert!(!cfg.contains("tcp-request connection reject"), "{cfg}");
        let docker = render_config(
            &FrontdoorSpec::default(),
            &WorkerSpec::default(),
            "172.18.0.1",
        );
        assert!(docker.contains("resolvers docker\n    nameserver dns 127.0.0.11:53"));
        assert!(docker.contains("on-error mark-down resolvers docker init-addr last,libc,none\n"));
        assert!(docker.contains("bind 0.0.0.0:8080"));
    }

    #[test]
    fn a_service_of_the_users_is_checked_on_its_port_path_and_status() {
        let worker = WorkerSpec {
            image: Some("my/service:1".into()),
            port: 9090,
            health: HealthCheck {
                path: "/healthz".into(),
                status: 204,
            },
            ..WorkerSpec::default()
        };
        let cfg = render_config(&FrontdoorSpec::default(), &worker, "172.18.0.1");
        assert!(cfg.contains("option httpchk GET /healthz\n"), "{cfg}");
        assert!(cfg.contains("http-check expect status 204\n"), "{cfg}");
        assert!(cfg.contains("server primary primary:9090 check\n"), "{cfg}");
        assert!(cfg.contains("server standby standby:9090 check\n"));
        // The front door itself still listens where the harness looks.
        assert!(cfg.contains("bind 0.0.0.0:8080"), "{cfg}");
    }

    #[test]
    fn stats_and_the_runtime_api_take_only_the_harness_in_docker() {
        let cfg = render_config(
            &FrontdoorSpec::default(),
            &WorkerSpec::default(),
            "172.18.0.1",
        );
        // The CLI itself is on loopback inside the container only.
        assert!(
            cfg.contains("stats socket ipv4@127.0.0.1:9998 level admin"),
            "{cfg}"
        );
        assert!(!cfg.contains("stats socket ipv4@0.0.0.0"), "{cfg}");
        // The published admin port is a relay that only the gateway passes.
        let admin = cfg.split("listen admin").nth(1).expect("an admin relay");
        assert!(
            admin.contains("mode tcp\n    bind 0.0.0.0:9999\n"),
            "{admin}"
        );
        assert!(admin.contains("tcp-request connection reject unless { src 172.18.0.1 }"));
        assert!(admin.contains("server cli 127.0.0.1:9998"));
        let stats = cfg.split("listen stats").nth(1).unwrap();
        let stats = stats.split("listen admin").next().unwrap();
        assert!(stats.contains("tcp-request connection reject unless { src 172.18.0.1 }"));
        // The front door takes everyone.
        let front = cfg.split("frontend front").nth(1).unwrap();
        let front = front.split("backend").next().unwrap();
        assert!(!front.contains("reject"), "{front}");
    }

    #[test]
    fn stats_csv_yields_the_worker_servers() {
        let csv = "# pxname,svname,qcur,status,bck,lastchg,check_status,\n\
                   front,FRONTEND,,OPEN,,,,\n\
                   workers,primary,0,DOWN,0,3,L4CON,\n\
                   workers,standby,0,UP,1,120,L7OK,\n\
                   workers,BACKEND,0,UP,0,120,,\n\
                   stats,BACKEND,0,UP,0,120,,\n";
        let view = parse_stats_csv(csv, 42.0).unwrap();
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].role, Some(Role::Primary));
        assert!(!view[0].is_up());
        assert_eq!(view[0].last_change_s, Some(3));
        assert!(view[1].backup && view[1].is_up());
        assert_eq!(view[1].check_status, "L7OK");
        assert!(parse_stats_csv("garbage", 0.0).is_err());
    }
}
