//! Bringing a stack up: network, volume, containers in dependency order,
//! readiness with a deadline.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HostConfig, NetworkCreateRequest,
    NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, StartContainerOptions,
    UploadToContainerOptions,
};
use bollard::Docker;

use super::cleanup::{self, RunGuard};
use super::events::{self, EventLog};
use super::spec::{Failover, Gpus};
use super::{
    docker, haproxy, images, labels, ContainerInfo, DockerRun, Role, Runtime, Stack, StackError,
    StackSpec,
};
use crate::clock::Clock;

/// Port the workers listen on inside their containers.
pub const WORKER_PORT: u16 = 8080;
/// Port Redis listens on inside its container.
pub const REDIS_PORT: u16 = 6379;
/// Role label of the container that keeps a sized (tmpfs) volume mounted.
pub const VOLUME_HOLDER: &str = "volume-holder";

pub(super) async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
    let docker = docker::connect().await?;
    // Heal leftovers first: runs whose harness died on this host.
    if let Err(e) = cleanup::sweep_dead_owners(&docker).await {
        eprintln!("warning: could not sweep runs left by dead harnesses: {e}");
    }
    if spec.worker.gpus == Gpus::All {
        docker::require_nvidia_runtime(&docker).await?;
    }
    let images = images::ensure_all(&docker, &spec.images).await?;
    // From here on, everything created is removed if a later step fails.
    let guard = RunGuard::new(run_id);
    let network = format!("{run_id}-net");
    let volume = format!("{run_id}-data");
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels::for_run(run_id)),
            ..Default::default()
        })
        .await
        .map_err(|e| StackError::docker(format!("create network {network}"), e))?;
    let events = EventLog::new();
    let recorder = events::start_recording(&docker, run_id, &network, *clock, &events).await;
    let mut driver_opts = HashMap::new();
    if let Some(size) = spec.data_volume_size {
        driver_opts.insert("type".to_string(), "tmpfs".to_string());
        driver_opts.insert("device".to_string(), "tmpfs".to_string());
        driver_opts.insert("o".to_string(), format!("size={}", size.0));
    }
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            driver: Some("local".into()),
            driver_opts: Some(driver_opts),
            labels: Some(labels::for_run(run_id)),
            ..Default::default()
        })
        .await
        .map_err(|e| StackError::docker(format!("create volume {volume}"), e))?;

    let fault_token = super::new_fault_token();
    let ctx = Ctx {
        docker: &docker,
        run_id,
        network: &network,
        volume: &volume,
    };
    if spec.data_volume_size.is_some() {
        // A tmpfs volume lives only while some container has it mounted: keep one that does.
        let holder = ctx
            .create(
                VOLUME_HOLDER,
                ContainerCreateBody {
                    image: Some(images.sidecar.clone()),
                    entrypoint: Some(vec!["/usr/bin/sleep".into()]),
                    cmd: Some(vec!["infinity".into()]),
                    host_config: Some(HostConfig {
                        binds: Some(vec![format!("{volume}:/data")]),
                        network_mode: Some("none".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                false,
            )
            .await?;
        ctx.start(&holder).await?;
    }

    let state = ctx
        .create(
            "state",
            ContainerCreateBody {
                image: Some(images.redis.clone()),
                exposed_ports: Some(vec![format!("{REDIS_PORT}/tcp")]),
                host_config: Some(ctx.host_config(&[REDIS_PORT], false)),
                ..Default::default()
            },
            true,
        )
        .await?;
    let mut workers = Vec::new();
    for role in [Role::Primary, Role::Standby] {
        let mut host_config = ctx.host_config(&[WORKER_PORT], true);
        if let Some(limit) = spec.worker.memory_limit {
            host_config.memory = Some(limit.0 as i64);
            host_config.memory_swap = Some(limit.0 as i64);
        }
        if spec.worker.gpus == Gpus::All {
            host_config.device_requests = Some(vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]);
        }
        let id = ctx
            .create(
                role.as_str(),
                ContainerCreateBody {
                    image: Some(images.worker.clone()),
                    cmd: Some(worker_args(spec, role, &fault_token)),
                    exposed_ports: Some(vec![format!("{WORKER_PORT}/tcp")]),
                    host_config: Some(host_config),
                    env: Some(vec!["RUST_BACKTRACE=1".into()]),
                    ..Default::default()
                },
                true,
            )
            .await?;
        events.learn_container(&id, role);
        workers.push((role, id));
    }
    let frontdoor = ctx
        .create(
            "frontdoor",
            ContainerCreateBody {
                image: Some(images.haproxy.clone()),
                exposed_ports: Some(
                    [
                        haproxy::FRONT_PORT,
                        haproxy::STATS_PORT,
                        haproxy::ADMIN_PORT,
                    ]
                    .iter()
                    .map(|p| format!("{p}/tcp"))
                    .collect(),
                ),
                host_config: Some(ctx.host_config(
                    &[
                        haproxy::FRONT_PORT,
                        haproxy::STATS_PORT,
                        haproxy::ADMIN_PORT,
                    ],
                    false,
                )),
                ..Default::default()
            },
            true,
        )
        .await?;
    events.learn_container(&state, Role::State);
    events.learn_container(&frontdoor, Role::Frontdoor);
    upload_file(
        &docker,
        &frontdoor,
        haproxy::CONFIG_DIR,
        "haproxy.cfg",
        haproxy::render_config(&spec.frontdoor, WORKER_PORT).as_bytes(),
    )
    .await?;

    let deadline = Instant::now() + spec.ready_timeout;
    // Redis first: the workers need it to be healthy.
    ctx.start(&state).await?;
    let state_ports = published_ports(&docker, &state).await?;
    let redis_addr = format!("127.0.0.1:{}", state_ports[&REDIS_PORT]);
    ctx.wait_ready(Role::State, &state, deadline, || redis_ready(&redis_addr))
        .await?;
    // Both workers at once.
    futures_util::future::try_join_all(workers.iter().map(|(_, id)| ctx.start(id))).await?;
    let mut worker_urls = BTreeMap::new();
    for (role, id) in &workers {
        let ports = published_ports(&docker, id).await?;
        worker_urls.insert(*role, format!("http://127.0.0.1:{}", ports[&WORKER_PORT]));
    }
    futures_util::future::try_join_all(workers.iter().map(|(role, id)| {
        let url = format!("{}/health", worker_urls[role]);
        let ctx = &ctx;
        async move {
            ctx.wait_ready(*role, id, deadline, || http_ok(url.clone()))
                .await
        }
    }))
    .await?;
    // The front door last, once it has servers to check.
    ctx.start(&frontdoor).await?;
    let fd_ports = published_ports(&docker, &frontdoor).await?;
    let frontdoor_url = format!("http://127.0.0.1:{}", fd_ports[&haproxy::FRONT_PORT]);
    let stats_url = format!("http://127.0.0.1:{}/stats", fd_ports[&haproxy::STATS_PORT]);
    let admin_addr = format!("127.0.0.1:{}", fd_ports[&haproxy::ADMIN_PORT]);
    let want_standby_up = spec.frontdoor.failover == Failover::Backup;
    ctx.wait_ready(Role::Frontdoor, &frontdoor, deadline, || {
        frontdoor_ready(stats_url.clone(), *clock, want_standby_up)
    })
    .await?;

    let mut containers = BTreeMap::new();
    for (role, id) in [
        (Role::State, &state),
        (Role::Primary, &workers[0].1),
        (Role::Standby, &workers[1].1),
        (Role::Frontdoor, &frontdoor),
    ] {
        let ip = network_ip(&docker, id, &network).await?;
        containers.insert(
            role,
            ContainerInfo {
                role,
                id: id.clone(),
                name: ctx.name(role.as_str()),
                ip,
            },
        );
    }
    Ok(Stack {
        run_id: run_id.to_string(),
        clock: *clock,
        spec: spec.clone(),
        containers,
        frontdoor_url,
        stats_url,
        admin_addr,
        worker_urls,
        fault_token,
        images,
        events,
        faults: Default::default(),
        runtime: Runtime::Docker(DockerRun {
            docker,
            network,
            volume,
            recorder: Some(recorder),
            guard: Some(guard),
        }),
    })
}

/// The `synth-worker serve` arguments for a role in its container.
pub fn worker_args(spec: &StackSpec, role: Role, fault_token: &str) -> Vec<String> {
    let listen = format!("0.0.0.0:{WORKER_PORT}");
    let redis = format!("redis://state:{REDIS_PORT}");
    worker_args_at(spec, role, fault_token, &listen, &redis, "/data")
}

/// The `synth-worker serve` arguments for a role that listens on `listen`,
/// uses Redis at `redis_url` and keeps its files in `data_dir`.
pub fn worker_args_at(
    spec: &StackSpec,
    role: Role,
    fault_token: &str,
    listen: &str,
    redis_url: &str,
    data_dir: &str,
) -> Vec<String> {
    let w = &spec.worker;
    let dur = |d: Duration| format!("{}ms", d.as_millis());
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        listen.into(),
        "--redis".into(),
        redis_url.into(),
        "--data-dir".into(),
        data_dir.into(),
        "--worker-id".into(),
        role.as_str().into(),
        "--backend".into(),
        w.backend.as_arg().into(),
        "--lease-ttl".into(),
        dur(w.lease_ttl),
        "--watchdog".into(),
        dur(w.watchdog),
        "--fault-injection".into(),
        "--fault-token".into(),
        fault_token.into(),
    ];
    if !w.fencing {
        args.push("--no-fencing".into());
    }
    args.extend(w.extra_args.iter().cloned());
    args
}

struct Ctx<'a> {
    docker: &'a Docker,
    run_id: &'a str,
    network: &'a str,
    volume: &'a str,
}

impl Ctx<'_> {
    fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.run_id)
    }

    fn host_config(&self, ports: &[u16], with_volume: bool) -> HostConfig {
        let port_bindings = ports
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )
            })
            .collect();
        HostConfig {
            network_mode: Some(self.network.to_string()),
            port_bindings: Some(port_bindings),
            binds: with_volume.then(|| vec![format!("{}:/data", self.volume)]),
            ..Default::default()
        }
    }

    /// Creates a labelled container on the run network (when `networked`), named `<run>-<role>`,
    /// reachable by its role name.
    async fn create(
        &self,
        role: &str,
        mut body: ContainerCreateBody,
        networked: bool,
    ) -> Result<String, StackError> {
        let name = self.name(role);
        body.labels = Some(labels::for_container(self.run_id, role));
        if networked {
            body.hostname = Some(role.to_string());
            body.networking_config = Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.to_string(),
                    EndpointSettings {
                        aliases: Some(vec![role.to_string()]),
                        ..Default::default()
                    },
                )])),
            });
        }
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| StackError::docker(format!("create container {name}"), e))?;
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), StackError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| StackError::docker(format!("start container {id}"), e))
    }

    /// Polls `check` until it passes, the container stops, or the deadline passes.
    async fn wait_ready<F, Fut>(
        &self,
        role: Role,
        id: &str,
        deadline: Instant,
        check: F,
    ) -> Result<(), StackError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        loop {
            let last = match check().await {
                Ok(()) => return Ok(()),
                Err(reason) => reason,
            };
            let status = docker::status(self.docker, id).await?;
            let gone = !matches!(status.status.as_str(), "running" | "created" | "restarting");
            if gone || Instant::now() >= deadline {
                return Err(StackError::NotReady {
                    role,
                    container: self.name(role.as_str()),
                    reason: if gone {
                        format!("it stopped (last check: {last})")
                    } else {
                        last
                    },
                    state: status.to_string(),
                    waited_s: started.elapsed().as_secs_f64(),
                    logs: docker::tail_logs(self.docker, id, 20).await,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Copies one file into a container (created or running) as a tar archive.
pub async fn upload_file(
    docker: &Docker,
    container: &str,
    dir: &str,
    name: &str,
    data: &[u8],
) -> Result<(), StackError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
        .map_err(|e| StackError::Io {
            context: format!("packing {name}"),
            source: e,
        })?;
    let archive = tar.into_inner().map_err(|e| StackError::Io {
        context: format!("packing {name}"),
        source: e,
    })?;
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: dir.to_string(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
        .map_err(|e| StackError::docker(format!("copy {name} into {container}:{dir}"), e))
}

/// Container port -> host port, as the engine published them.
pub async fn published_ports(docker: &Docker, id: &str) -> Result<HashMap<u16, u16>, StackError> {
    let inspect = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| StackError::docker(format!("inspect container {id}"), e))?;
    let mut out = HashMap::new();
    let ports = inspect
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    for (key, bindings) in ports {
        let Some(container_port) = key.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let host_port = bindings
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.host_ip.as_deref() == Some("127.0.0.1"))
            .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()));
        if let Some(hp) = host_port {
            out.insert(container_port, hp);
        }
    }
    if out.is_empty() {
        return Err(StackError::Unsupported(format!(
            "container {id} has no port published on 127.0.0.1"
        )));
    }
    Ok(out)
}

/// A container's address on a network (empty when it is not attached).
pub async fn network_ip(docker: &Docker, id: &str, network: &str) -> Result<String, StackError> {
    let inspect = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| StackError::docker(format!("inspect container {id}"), e))?;
    Ok(inspect
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut nets| nets.remove(network))
        .and_then(|ep| ep.ip_address)
        .unwrap_or_default())
}

pub(super) async fn redis_ready(addr: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .write_all(b"PING\r\n")
            .await
            .map_err(|e| format!("send PING: {e}"))?;
        let mut buf = [0u8; 16];
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read PONG: {e}"))?;
        if buf[..n].starts_with(b"+PONG") {
            Ok(())
        } else {
            Err(format!(
                "answered {:?} to PING",
                String::from_utf8_lossy(&buf[..n])
            ))
        }
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .unwrap_or_else(|_| Err("PING timed out".into()))
}

pub(super) async fn http_ok(url: String) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Err(format!(
                "GET {url} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            ))
        }
        Err(e) => Err(format!("GET {url}: {e}")),
    }
}

pub(super) async fn frontdoor_ready(
    stats_url: String,
    clock: Clock,
    want_standby_up: bool,
) -> Result<(), String> {
    let view = haproxy::read_view(&stats_url, &clock)
        .await
        .map_err(|e| e.to_string())?;
    let status_of = |role: Role| {
        view.iter()
            .find(|s| s.role == Some(role))
            .map(|s| s.status.clone())
            .unwrap_or_else(|| "absent".into())
    };
    let primary = status_of(Role::Primary);
    let standby = status_of(Role::Standby);
    let standby_ok = if want_standby_up {
        standby == "UP"
    } else {
        standby.starts_with("MAINT")
    };
    if primary == "UP" && standby_ok {
        Ok(())
    } else {
        Err(format!("HAProxy sees primary {primary}, standby {standby}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_args_follow_the_spec() {
        let mut spec = StackSpec::default();
        spec.worker.fencing = false;
        spec.worker.extra_args = vec!["--denoise-steps".into(), "2".into()];
        let args = worker_args(&spec, Role::Standby, "tok");
        let joined = args.join(" ");
        assert!(joined.starts_with(
            "serve --listen 0.0.0.0:8080 --redis redis://state:6379 --data-dir /data"
        ));
        assert!(joined.contains("--worker-id standby"));
        assert!(joined.contains("--lease-ttl 1000ms --watchdog 5000ms"));
        assert!(joined.contains("--fault-injection --fault-token tok"));
        assert!(joined.ends_with("--no-fencing --denoise-steps 2"));
    }
}
