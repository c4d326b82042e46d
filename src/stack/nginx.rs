//! The Nginx front door (`stack.frontdoor.kind: nginx`): its configuration
//! and its readiness check.
//!
//! Open-source Nginx has no active health checks, no view of its servers'
//! state and no runtime API, so failover is passive: the standby is a
//! `backup` server, and a request whose attempt on the primary fails (refused
//! or timed-out connect, a 502/503 answer, a read timeout) is passed to the
//! standby, which then serves alone until the primary's `fail_timeout` ends.

use std::time::Duration;

use super::{FrontdoorSpec, StackError};

/// Port of the front door inside its container.
pub const FRONT_PORT: u16 = 8080;
/// Port of the `stub_status` page (readiness) inside its container.
pub const STATUS_PORT: u16 = 8404;
/// Path of the `stub_status` page.
pub const STATUS_PATH: &str = "/nginx_status";
/// Where the configuration goes in the container.
pub const CONFIG_DIR: &str = "/etc/nginx";
/// Name of the configuration file.
pub const CONFIG_FILE: &str = "nginx.conf";
/// The writable folder of the container (a tmpfs): pid file and temp files.
pub const DOCKER_TEMP_DIR: &str = "/tmp";
/// The user the container runs as (`nobody`): a master that is not root
/// switches no user, so the image needs no `/etc/passwd`.
pub const DOCKER_USER: &str = "65534:65534";
/// Name of the upstream holding the workers.
pub const UPSTREAM: &str = "workers";

/// Where Nginx listens, where its servers are and where it may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Address the front door and the status page bind to.
    pub bind_host: String,
    /// Front door port.
    pub front_port: u16,
    /// `stub_status` port.
    pub status_port: u16,
    /// The primary worker, `host:port`.
    pub primary: String,
    /// The standby worker, `host:port`.
    pub standby: String,
    /// A folder only this Nginx writes to (pid file, temp files).
    pub temp_dir: String,
    /// Where the request log goes (`/dev/stdout` in a container).
    pub access_log: String,
    /// When set, only this address may read the status page (the run
    /// network's gateway, where the harness's connections come from).
    pub status_only_from: Option<String>,
    /// The user Nginx's workers run as, when its master runs as root (Nginx
    /// would switch to `nobody`, who cannot enter a private run directory).
    pub user: Option<String>,
}

impl Layout {
    /// The Docker stack: fixed ports in the container, workers by role name
    /// (resolved once, when Nginx starts), the log on stdout.
    pub fn docker(worker_port: u16, harness_from: &str) -> Self {
        Self {
            bind_host: "0.0.0.0".into(),
            front_port: FRONT_PORT,
            status_port: STATUS_PORT,
            primary: format!("primary:{worker_port}"),
            standby: format!("standby:{worker_port}"),
            temp_dir: DOCKER_TEMP_DIR.into(),
            access_log: "/dev/stdout".into(),
            status_only_from: Some(harness_from.to_string()),
            user: None,
        }
    }
}

/// How long a failed server is left out before one request tries it again
/// (Nginx `fail_timeout`): the failover settings' `check_interval x rise`,
/// the time HAProxy takes to bring a server back, but at least a second, so
/// a server that is still dead costs at most one slow attempt a second.
/// Whole seconds, rounded up: Nginx takes no finer `fail_timeout`.
pub fn fail_timeout(spec: &FrontdoorSpec) -> Duration {
    let wanted = spec.check_interval * spec.rise.max(1);
    let secs = wanted.as_secs() + u64::from(wanted.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// Nginx's configuration for a [`Layout`].
pub fn render_config(spec: &FrontdoorSpec, layout: &Layout) -> Result<String, StackError> {
    if spec.failover == super::Failover::Manual {
        return Err(StackError::Unsupported(
            "`failover: manual` is not available with the nginx front door: open-source Nginx \
             has no runtime API to bring the standby in"
                .into(),
        ));
    }
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let Layout {
        bind_host: host,
        front_port,
        status_port,
        primary,
        standby,
        temp_dir: tmp,
        access_log,
        status_only_from,
        user,
    } = layout;
    let user = user
        .as_ref()
        .map_or(String::new(), |u| format!("user {u};\n"));
    // `retries` counts attempts after the first, as HAProxy's does; without
    // `redispatch` a failed attempt is not passed on at all.
    let (next_upstream, tries) = if spec.redispatch {
        ("error timeout http_502 http_503", spec.retries + 1)
    } else {
        ("off", 1)
    };
    let status_filter = match status_only_from {
        Some(from) => format!("            allow {from};\n            deny all;\n"),
        None => String::new(),
    };
    Ok(format!(
        "# Written by takeover for one run.
daemon off;
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr notice;

events {{
    worker_connections 4096;
}}

http {{
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    # The front door's own account of each probe, read back after the drill.
    map $http_{probe_var} $takeover_probe {{
        \"\" 0;
        default 1;
    }}
    log_format takeover '{log_format}';
    access_log {access_log} takeover if=$takeover_probe;

    # One failed attempt marks a server failed (HAProxy's `error-limit 1
    # on-error mark-down`); it is left out for `fail_timeout`.
    upstream {UPSTREAM} {{
        server {primary} max_fails=1 fail_timeout={fail};
        server {standby} backup max_fails=1 fail_timeout={fail};
    }}

    server {{
        listen {host}:{front_port};
        client_max_body_size 16m;
        location / {{
            proxy_pass http://{UPSTREAM};
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_connect_timeout {connect};
            proxy_send_timeout {server};
            proxy_read_timeout {server};
            # Passive failover. A POST (job submission) is never passed on
            # once it was sent (`non_idempotent` is left out on purpose).
            proxy_next_upstream {next_upstream};
            proxy_next_upstream_tries {tries};
            proxy_buffering off;
        }}
    }}

    server {{
        listen {host}:{status_port};
        location = {STATUS_PATH} {{
{status_filter}            stub_status;
        }}
    }}
}}
",
        probe_var = super::nginx_log::PROBE_VARIABLE,
        log_format = super::nginx_log::LOG_FORMAT,
        fail = format!("{}s", fail_timeout(spec).as_secs()),
        connect = ms(spec.timeout_connect),
        server = ms(spec.timeout_server),
    ))
}

/// Nginx is ready when its status page answers 200: it has read its
/// configuration and resolved both workers' names. Nothing is sent through
/// the front door, so no attempt on a worker still starting marks it failed.
pub(super) async fn ready(client: reqwest::Client, status_url: String) -> Result<(), String> {
    match client.get(&status_url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("status page {status_url} answered {}", r.status())),
        Err(e) => Err(format!("status page {status_url} did not answer: {e}")),
    }
}

/// What the nginx front door cannot give, in words for reports and errors.
pub const NO_VIEW: &str = "not available with the nginx front door: open-source Nginx has no \
     health checks and no view of its servers' state (no stats, no runtime API), so there are \
     no front-door samples and no detect_ms (mark-down time)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_passive_failover_and_the_probe_log() {
        let spec = FrontdoorSpec {
            kind: super::super::FrontdoorKind::Nginx,
            ..FrontdoorSpec::default()
        };
        let text = render_config(&spec, &Layout::docker(8080, "172.18.0.1")).unwrap();
        assert!(text.contains("daemon off;"));
        assert!(text.contains("server primary:8080 max_fails=1 fail_timeout=1s;"));
        assert!(text.contains("server standby:8080 backup max_fails=1 fail_timeout=1s;"));
        assert!(text.contains("proxy_next_upstream error timeout http_502 http_503;"));
        assert!(text.contains("proxy_next_upstream_tries 4;"));
        assert!(text.contains("proxy_connect_timeout 100ms;"));
        assert!(text.contains("access_log /dev/stdout takeover if=$takeover_probe;"));
        assert!(text.contains("map $http_x_takeover_probe $takeover_probe"));
        assert!(text.contains("allow 172.18.0.1;\n            deny all;"));
        assert!(text.contains("pid /tmp/nginx.pid;"));
        let off = FrontdoorSpec {
            redispatch: false,
            ..spec.clone()
        };
        let text = render_config(&off, &Layout::docker(8080, "x")).unwrap();
        assert!(text.contains("proxy_next_upstream off;"));
        let manual = FrontdoorSpec {
            failover: super::super::Failover::Manual,
            ..spec
        };
        let err = render_config(&manual, &Layout::docker(8080, "x")).unwrap_err();
        assert!(err
            .to_string()
            .contains("not available with the nginx front door"));
    }

    #[test]
    fn fail_timeout_is_at_least_a_second() {
        let mut spec = FrontdoorSpec::default();
        assert_eq!(fail_timeout(&spec), Duration::from_secs(1));
        spec.check_interval = Duration::from_secs(2);
        assert_eq!(fail_timeout(&spec), Duration::from_secs(4));
        spec.check_interval = Duration::from_millis(700);
        assert_eq!(fail_timeout(&spec), Duration::from_secs(2));
    }

    #[test]
    fn the_host_nginx_accepts_the_config() {
        let Ok(nginx) = super::super::images::find_program("nginx", "") else {
            eprintln!("skipped: no nginx on this host");
            return;
        };
        let dir = std::env::temp_dir().join(format!("takeover-nginx-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = Layout {
            bind_host: "127.0.0.1".into(),
            front_port: 1,
            status_port: 2,
            primary: "127.0.0.1:3".into(),
            standby: "127.0.0.1:4".into(),
            temp_dir: dir.display().to_string(),
            access_log: dir.join("access.log").display().to_string(),
            status_only_from: None,
            user: Some("root".into()),
        };
        let spec = FrontdoorSpec {
            kind: super::super::FrontdoorKind::Nginx,
            ..FrontdoorSpec::default()
        };
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, render_config(&spec, &layout).unwrap()).unwrap();
        let out = std::process::Command::new(nginx)
            .args(["-t", "-e", "stderr", "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
