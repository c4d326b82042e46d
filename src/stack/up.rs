//! Bringing a stack up: network, volume, containers in dependency order,
//! readiness with a deadline.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HostConfig, NetworkCreateRequest,
    NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, InspectNetworkOptions, StartContainerOptions,
    UploadToContainerOptions,
};
use bollard::Docker;

use super::cleanup::{self, RunGuard};
use super::events::{self, EventLog};
use super::images::ResolvedImages;
use super::spec::{Failover, FrontdoorKind, Gpus};
use super::startup::PhaseTimer;
use super::{
    docker, haproxy, images, labels, nginx, ContainerInfo, DockerRun, Role, Runtime, Stack,
    StackError, StackSpec,
};
use crate::clock::Clock;

/// Port the reference worker listens on inside its container (a scenario's
/// `stack.worker.port` may set another).
pub const WORKER_PORT: u16 = super::spec::DEFAULT_WORKER_PORT;
/// Port Redis listens on inside its container.
pub const REDIS_PORT: u16 = 6379;
/// Role label of the container that keeps a sized (tmpfs) volume mounted.
pub const VOLUME_HOLDER: &str = "volume-holder";
/// How often a readiness check is repeated while it fails.
const READY_POLL: Duration = Duration::from_millis(10);
/// How often a container's state is read while its readiness check fails.
const STATE_EVERY: Duration = Duration::from_millis(250);

/// Brings a stack up. Each phase is timed (`Stack::up_timings`); from the network on, everything
/// created is removed if a later phase fails.
pub(super) async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
    let mut timer = PhaseTimer::new();
    let docker = docker::connect().await?;
    timer.mark("connect");
    let images = sweep_and_ensure_images(&docker, spec).await?;
    timer.mark("sweep and images");

    // From here on, everything created is removed if a later step fails.
    let guard = RunGuard::new(run_id);
    let network = format!("{run_id}-net");
    let volume = format!("{run_id}-data");
    let ctx = Ctx {
        docker: &docker,
        run_id,
        network: &network,
        volume: &volume,
        publish_on: LOOPBACK,
    };
    let gateway = create_network_and_volume(&ctx, spec).await?;
    timer.mark("network and volume");

    let secrets = Secrets {
        fault_token: super::new_fault_token(),
        redis_password: super::new_fault_token(),
    };
    // The event subscriptions are made while the containers are created; both
    // are done before the first container starts, so no event is missed.
    let events = EventLog::new();
    let record = events::start_recording(&docker, run_id, &network, *clock, &events);
    let create = create_containers(&ctx, spec, &images, &gateway, &secrets);
    let (recorder, created) = tokio::join!(record, create);
    let containers = created?;
    for (role, id) in containers.by_role() {
        events.learn_container(id, role);
    }
    timer.mark("create containers and subscribe to events");

    let deadline = Instant::now() + spec.ready_timeout;
    start_containers(&ctx, spec.frontdoor.kind, &containers).await?;
    timer.mark("start containers");
    let (endpoints, addresses) = read_ports(&ctx, spec, &containers).await?;
    timer.mark("read ports");
    let ready = wait_all_ready(
        &ctx,
        spec,
        clock,
        &containers,
        &addresses,
        &secrets,
        deadline,
    )
    .await?;
    for (role, at) in ready {
        timer.ready(role.as_str(), at);
    }
    timer.mark("ready");

    let Addresses {
        redis_addr,
        worker_urls,
        frontdoor_url,
        stats_url,
        admin_addr,
        nginx_status_url: _,
    } = addresses;
    Ok(Stack {
        run_id: run_id.to_string(),
        clock: *clock,
        spec: spec.clone(),
        containers: container_infos(&ctx, &containers, &endpoints),
        frontdoor_url,
        stats_url,
        admin_addr,
        worker_urls,
        fault_token: secrets.fault_token,
        redis_addr,
        redis_password: secrets.redis_password,
        images,
        events,
        faults: Default::default(),
        runtime: Runtime::Docker(DockerRun {
            engines: Role::ALL.map(|r| (r, docker.clone())).into(),
            hosts: None,
            docker,
            network,
            volume,
            recorder: Some(recorder),
            guard: Some(guard),
        }),
        up_timings: timer.finish(),
    })
}

/// The secrets of one run, made fresh for it: the fault token and Redis's password.
struct Secrets {
    fault_token: String,
    redis_password: String,
}

/// The ids of a stack's containers.
struct Containers {
    /// The container that keeps a sized (tmpfs) volume mounted, when there is one.
    holder: Option<String>,
    state: String,
    primary: String,
    standby: String,
    frontdoor: String,
}

impl Containers {
    /// The containers that have a role in the stack (all but the volume holder), in role order.
    fn by_role(&self) -> [(Role, &str); 4] {
        [
            (Role::State, &self.state),
            (Role::Primary, &self.primary),
            (Role::Standby, &self.standby),
            (Role::Frontdoor, &self.frontdoor),
        ]
    }
}

/// A started container's published ports (container port -> host port on 127.0.0.1) and its
/// address on the run network ([`endpoint`]).
type Endpoint = (HashMap<u16, u16>, String);

/// The endpoints of the containers that have a role.
struct Endpoints {
    state: Endpoint,
    primary: Endpoint,
    standby: Endpoint,
    frontdoor: Endpoint,
}

/// Where the harness reaches the stack, through the ports published on 127.0.0.1.
struct Addresses {
    redis_addr: String,
    worker_urls: BTreeMap<Role, String>,
    frontdoor_url: String,
    /// HAProxy's stats page (empty with Nginx).
    stats_url: String,
    /// HAProxy's admin socket (empty with Nginx).
    admin_addr: String,
    /// Nginx's status page (empty with HAProxy).
    nginx_status_url: String,
}

/// Sweeps the runs left by dead harnesses on this host while it checks (and pulls or builds) the
/// images, and the NVIDIA runtime when the workers get GPUs. A failed sweep is only a warning.
async fn sweep_and_ensure_images(
    docker: &Docker,
    spec: &StackSpec,
) -> Result<ResolvedImages, StackError> {
    // Heal leftovers first (runs whose harness died on this host), while the images are checked.
    let sweep = async {
        if let Err(e) = cleanup::sweep_dead_owners(docker).await {
            eprintln!("warning: could not sweep runs left by dead harnesses: {e}");
        }
    };
    let prepare = async {
        if spec.worker.gpus == Gpus::All {
            docker::require_nvidia_runtime(docker).await?;
        }
        let own_worker = spec.worker.image.as_deref();
        images::ensure_all(docker, &spec.images, spec.frontdoor.kind, own_worker).await
    };
    let ((), images) = tokio::join!(sweep, prepare);
    images
}

/// Creates the run's labelled bridge network and its data volume (tmpfs of the given size when
/// the spec sizes it), together; returns the network's gateway.
async fn create_network_and_volume(ctx: &Ctx<'_>, spec: &StackSpec) -> Result<String, StackError> {
    let (docker, run_id, network, volume) = (ctx.docker, ctx.run_id, ctx.network, ctx.volume);
    let mut driver_opts = HashMap::new();
    if let Some(size) = spec.data_volume_size {
        driver_opts.insert("type".to_string(), "tmpfs".to_string());
        driver_opts.insert("device".to_string(), "tmpfs".to_string());
        driver_opts.insert("o".to_string(), format!("size={}", size.0));
    }
    let create_network = async {
        docker
            .create_network(NetworkCreateRequest {
                name: network.to_string(),
                driver: Some("bridge".into()),
                labels: Some(labels::for_run(run_id)),
                ..Default::default()
            })
            .await
            .map_err(|e| StackError::docker(format!("create network {network}"), e))
    };
    let create_volume = async {
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.to_string()),
                driver: Some("local".into()),
                driver_opts: Some(driver_opts),
                labels: Some(labels::for_run(run_id)),
                ..Default::default()
            })
            .await
            .map_err(|e| StackError::docker(format!("create volume {volume}"), e))
    };
    tokio::try_join!(create_network, create_volume)?;
    network_gateway(docker, network).await
}

/// Creates every container at once: the volume holder (with a sized volume), Redis, the two
/// workers and the front door, with their configuration files uploaded.
async fn create_containers(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    images: &ResolvedImages,
    gateway: &str,
    secrets: &Secrets,
) -> Result<Containers, StackError> {
    let (holder, state, primary, standby, frontdoor) = tokio::try_join!(
        create_holder(ctx, spec, &images.sidecar),
        create_state(ctx, &images.redis, &secrets.redis_password),
        create_worker(ctx, spec, Role::Primary, &images.worker, secrets),
        create_worker(ctx, spec, Role::Standby, &images.worker, secrets),
        create_frontdoor(ctx, spec, images, gateway),
    )?;
    Ok(Containers {
        holder,
        state,
        primary,
        standby,
        frontdoor,
    })
}

/// With a sized data volume, creates the container that keeps it mounted (off the network).
async fn create_holder(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    sidecar_image: &str,
) -> Result<Option<String>, StackError> {
    if spec.data_volume_size.is_none() {
        return Ok(None);
    }
    // A tmpfs volume lives only while some container has it mounted: keep one that does.
    ctx.create(VOLUME_HOLDER, holder_body(sidecar_image, ctx.volume), false)
        .await
        .map(Some)
}

/// Creates Redis's container (role `state`) and uploads its configuration.
async fn create_state(
    ctx: &Ctx<'_>,
    image: &str,
    redis_password: &str,
) -> Result<String, StackError> {
    let id = ctx
        .create(
            "state",
            ContainerCreateBody {
                image: Some(image.to_string()),
                // The password is in a file, not on the command line.
                cmd: Some(vec![format!("/{REDIS_CONFIG}")]),
                exposed_ports: Some(vec![format!("{REDIS_PORT}/tcp")]),
                host_config: Some(ctx.host_config(&[REDIS_PORT], false)),
                ..Default::default()
            },
            true,
        )
        .await?;
    upload_file(
        ctx.docker,
        &id,
        "/",
        REDIS_CONFIG,
        redis_config(redis_password).as_bytes(),
    )
    .await?;
    Ok(id)
}

/// Creates one worker's container, its secrets in its environment.
async fn create_worker(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    role: Role,
    image: &str,
    secrets: &Secrets,
) -> Result<String, StackError> {
    let env = worker_env(&secrets.fault_token, &secrets.redis_password);
    ctx.create(
        role.as_str(),
        worker_body(spec, ctx, role, image, &env, &state_redis_url()),
        true,
    )
    .await
}

/// Creates the front door's container (HAProxy or Nginx) and uploads its configuration, which
/// reaches the workers through the network's `gateway`.
async fn create_frontdoor(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    images: &ResolvedImages,
    gateway: &str,
) -> Result<String, StackError> {
    let (body, dir, file, config) = match spec.frontdoor.kind {
        FrontdoorKind::Haproxy => (
            frontdoor_body(ctx, &images.haproxy),
            haproxy::CONFIG_DIR,
            "haproxy.cfg",
            haproxy::render_config(&spec.frontdoor, &spec.worker, gateway),
        ),
        FrontdoorKind::Nginx => (
            nginx_body(ctx, images.nginx.as_deref().unwrap_or_default()),
            nginx::CONFIG_DIR,
            nginx::CONFIG_FILE,
            nginx::render_config(
                &spec.frontdoor,
                &nginx::Layout::docker(spec.worker.port, gateway),
            )?,
        ),
    };
    let id = ctx.create("frontdoor", body, true).await?;
    upload_file(ctx.docker, &id, dir, file, config.as_bytes()).await?;
    Ok(id)
}

/// Starts the containers: Nginx after the others, everything else at once.
async fn start_containers(
    ctx: &Ctx<'_>,
    frontdoor: FrontdoorKind,
    c: &Containers,
) -> Result<(), StackError> {
    // Redis, the workers (and the volume holder) start together: a worker
    // reports unhealthy until Redis answers, which the readiness wait allows.
    // HAProxy starts with them: its resolvers retry until the workers' names
    // resolve. Nginx resolves them once, when it starts, so it starts after the
    // workers' containers are (and their names are on the network's DNS).
    let nginx_after = frontdoor == FrontdoorKind::Nginx;
    let start_frontdoor_now = async {
        if nginx_after {
            Ok(())
        } else {
            ctx.start(&c.frontdoor).await
        }
    };
    let holder = async {
        match &c.holder {
            Some(id) => ctx.start(id).await,
            None => Ok(()),
        }
    };
    tokio::try_join!(
        holder,
        ctx.start(&c.state),
        ctx.start(&c.primary),
        ctx.start(&c.standby),
        start_frontdoor_now
    )?;
    if nginx_after {
        ctx.start(&c.frontdoor).await?;
    }
    Ok(())
}

/// Reads each started container's endpoint, and from them the addresses the harness uses.
async fn read_ports(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    c: &Containers,
) -> Result<(Endpoints, Addresses), StackError> {
    let frontdoor = spec.frontdoor.kind;
    let (docker, network) = (ctx.docker, ctx.network);
    let (state, primary, standby, frontdoor_ep) = tokio::try_join!(
        endpoint(docker, &c.state, network),
        endpoint(docker, &c.primary, network),
        endpoint(docker, &c.standby, network),
        endpoint(docker, &c.frontdoor, network),
    )?;
    let ep = Endpoints {
        state,
        primary,
        standby,
        frontdoor: frontdoor_ep,
    };
    let redis_addr = format!("127.0.0.1:{}", port(&c.state, &ep.state.0, REDIS_PORT)?);
    let mut worker_urls = BTreeMap::new();
    for (role, id, worker_ep) in [
        (Role::Primary, &c.primary, &ep.primary),
        (Role::Standby, &c.standby, &ep.standby),
    ] {
        worker_urls.insert(
            role,
            format!(
                "http://127.0.0.1:{}",
                port(id, &worker_ep.0, spec.worker.port)?
            ),
        );
    }
    let fd_port = |p| port(&c.frontdoor, &ep.frontdoor.0, p);
    let frontdoor_url = format!("http://127.0.0.1:{}", fd_port(haproxy::FRONT_PORT)?);
    let (stats_url, admin_addr, nginx_status_url) = match frontdoor {
        FrontdoorKind::Haproxy => (
            format!("http://127.0.0.1:{}/stats", fd_port(haproxy::STATS_PORT)?),
            format!("127.0.0.1:{}", fd_port(haproxy::ADMIN_PORT)?),
            String::new(),
        ),
        FrontdoorKind::Nginx => (
            String::new(),
            String::new(),
            format!(
                "http://127.0.0.1:{}{}",
                fd_port(nginx::STATUS_PORT)?,
                nginx::STATUS_PATH
            ),
        ),
    };
    let addresses = Addresses {
        redis_addr,
        worker_urls,
        frontdoor_url,
        stats_url,
        admin_addr,
        nginx_status_url,
    };
    Ok((ep, addresses))
}

/// Waits for Redis, both workers and the front door to pass their readiness checks, all at once,
/// each polling at a fine interval, until `deadline`; returns when each passed.
async fn wait_all_ready(
    ctx: &Ctx<'_>,
    spec: &StackSpec,
    clock: &Clock,
    c: &Containers,
    a: &Addresses,
    secrets: &Secrets,
    deadline: Instant,
) -> Result<[(Role, Instant); 4], StackError> {
    let want_standby_up = spec.frontdoor.failover == Failover::Backup;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| StackError::Unsupported(format!("HTTP client: {e}")))?;
    let check = &spec.worker.health;
    let health = |role: Role| {
        let url = format!("{}{}", a.worker_urls[&role], check.path);
        let http = http.clone();
        move || http_status(http.clone(), url.clone(), check.status)
    };
    let (t_state, t_primary, t_standby, t_frontdoor) = tokio::try_join!(
        ctx.wait_ready(Role::State, &c.state, deadline, || {
            redis_ready(&a.redis_addr, &secrets.redis_password)
        }),
        ctx.wait_ready(Role::Primary, &c.primary, deadline, health(Role::Primary)),
        ctx.wait_ready(Role::Standby, &c.standby, deadline, health(Role::Standby)),
        ctx.wait_ready(Role::Frontdoor, &c.frontdoor, deadline, || {
            let (http, stats_url, status_url) = (
                http.clone(),
                a.stats_url.clone(),
                a.nginx_status_url.clone(),
            );
            async move {
                match spec.frontdoor.kind {
                    FrontdoorKind::Haproxy => {
                        frontdoor_ready(http, stats_url, *clock, want_standby_up).await
                    }
                    FrontdoorKind::Nginx => nginx::ready(http, status_url).await,
                }
            }
        }),
    )?;
    Ok([
        (Role::State, t_state),
        (Role::Primary, t_primary),
        (Role::Standby, t_standby),
        (Role::Frontdoor, t_frontdoor),
    ])
}

/// What the stack keeps of each container that has a role: id, name and network address.
fn container_infos(ctx: &Ctx<'_>, c: &Containers, ep: &Endpoints) -> BTreeMap<Role, ContainerInfo> {
    let endpoints = [&ep.state, &ep.primary, &ep.standby, &ep.frontdoor];
    c.by_role()
        .into_iter()
        .zip(endpoints)
        .map(|((role, id), ep)| {
            let info = ContainerInfo {
                role,
                id: id.to_string(),
                name: ctx.name(role.as_str()),
                ip: ep.1.clone(),
            };
            (role, info)
        })
        .collect()
}

fn holder_body(sidecar_image: &str, volume: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(sidecar_image.to_string()),
        entrypoint: Some(vec!["/usr/bin/sleep".into()]),
        cmd: Some(vec!["infinity".into()]),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{volume}:/data")]),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn worker_body(
    spec: &StackSpec,
    ctx: &Ctx<'_>,
    role: Role,
    image: &str,
    secrets: &[(String, String)],
    redis_url: &str,
) -> ContainerCreateBody {
    let w = &spec.worker;
    let mut host_config = ctx.host_config(&[w.port], true);
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
    // The reference worker gets its `serve` arguments; a service of the
    // user's runs its `command`, or what its image says when there is none.
    let (entrypoint, cmd) = match (&w.image, &w.command) {
        (None, _) => (
            None,
            Some(worker_args_at(
                spec,
                role,
                &format!("0.0.0.0:{}", w.port),
                redis_url,
                "/data",
            )),
        ),
        (Some(_), Some(command)) => (Some(command.clone()), Some(Vec::new())),
        (Some(_), None) => (None, None),
    };
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint,
        cmd,
        exposed_ports: Some(vec![format!("{}/tcp", w.port)]),
        host_config: Some(host_config),
        env: Some(
            std::iter::once("RUST_BACKTRACE=1".to_string())
                .chain(secrets.iter().map(|(k, v)| format!("{k}={v}")))
                .chain(w.env.iter().map(|(k, v)| format!("{k}={v}")))
                .collect(),
        ),
        ..Default::default()
    }
}

pub(super) fn frontdoor_body(ctx: &Ctx<'_>, image: &str) -> ContainerCreateBody {
    let ports = [
        haproxy::FRONT_PORT,
        haproxy::STATS_PORT,
        haproxy::ADMIN_PORT,
    ];
    ContainerCreateBody {
        image: Some(image.to_string()),
        exposed_ports: Some(ports.iter().map(|p| format!("{p}/tcp")).collect()),
        host_config: Some(ctx.host_config(&ports, false)),
        ..Default::default()
    }
}

/// The Nginx container: not root (so Nginx switches to no user and the image
/// needs no `/etc/passwd`), with a small tmpfs at `/tmp` for its pid and
/// temp files; the front door and status ports published.
fn nginx_body(ctx: &Ctx<'_>, image: &str) -> ContainerCreateBody {
    let ports = [nginx::FRONT_PORT, nginx::STATUS_PORT];
    let mut host_config = ctx.host_config(&ports, false);
    host_config.tmpfs = Some(HashMap::from([(
        nginx::DOCKER_TEMP_DIR.to_string(),
        "rw,mode=1777,size=16m".to_string(),
    )]));
    ContainerCreateBody {
        image: Some(image.to_string()),
        user: Some(nginx::DOCKER_USER.to_string()),
        exposed_ports: Some(ports.iter().map(|p| format!("{p}/tcp")).collect()),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// A started container's published ports (container port -> host port on
/// 127.0.0.1) and its address on the run network, from one inspection.
async fn endpoint(
    docker: &Docker,
    id: &str,
    network: &str,
) -> Result<(HashMap<u16, u16>, String), StackError> {
    endpoint_on(docker, id, network, LOOPBACK).await
}

/// [`endpoint`] for ports published on the host address `publish_on`.
pub(super) async fn endpoint_on(
    docker: &Docker,
    id: &str,
    network: &str,
    publish_on: &str,
) -> Result<(HashMap<u16, u16>, String), StackError> {
    let inspect = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| StackError::docker(format!("inspect container {id}"), e))?;
    let settings = inspect.network_settings.unwrap_or_default();
    let ports = ports_on(settings.ports.unwrap_or_default(), publish_on);
    let ip = settings
        .networks
        .and_then(|mut nets| nets.remove(network))
        .and_then(|ep| ep.ip_address)
        .unwrap_or_default();
    Ok((ports, ip))
}

fn port(id: &str, ports: &HashMap<u16, u16>, container_port: u16) -> Result<u16, StackError> {
    port_on(id, ports, container_port, LOOPBACK)
}

/// The host port `container_port` of container `id` is published on at `address`.
pub(super) fn port_on(
    id: &str,
    ports: &HashMap<u16, u16>,
    container_port: u16,
    address: &str,
) -> Result<u16, StackError> {
    ports.get(&container_port).copied().ok_or_else(|| {
        StackError::Unsupported(format!(
            "container {id} has no port {container_port} published on {address}"
        ))
    })
}

/// Name of Redis's configuration file, uploaded to `/` of its container.
pub(super) const REDIS_CONFIG: &str = "takeover-redis.conf";

/// Redis's configuration in the Docker stack: on the run network, no
/// persistence, and a password (`requirepass`) that only the workers and the
/// harness know.
pub fn redis_config(password: &str) -> String {
    format!("bind 0.0.0.0\nprotected-mode no\nsave \"\"\nappendonly no\nrequirepass {password}\n")
}

/// The secrets a worker gets by environment, never on its command line (which
/// every local user can read in `ps`, `/proc/PID/cmdline` and `docker inspect`'s
/// Args): the fault token and Redis's password.
pub fn worker_env(fault_token: &str, redis_password: &str) -> Vec<(String, String)> {
    vec![
        (FAULT_TOKEN_ENV.into(), fault_token.into()),
        (REDIS_PASSWORD_ENV.into(), redis_password.into()),
    ]
}

/// The worker's environment variable for the fault token.
pub const FAULT_TOKEN_ENV: &str = "SYNTH_WORKER_FAULT_TOKEN";
/// The worker's environment variable for Redis's password.
pub const REDIS_PASSWORD_ENV: &str = "SYNTH_WORKER_REDIS_PASSWORD";

/// The run network's gateway: the source address of the harness's connections
/// through the ports published on 127.0.0.1.
async fn network_gateway(docker: &Docker, network: &str) -> Result<String, StackError> {
    let inspect = docker
        .inspect_network(network, None::<InspectNetworkOptions>)
        .await
        .map_err(|e| StackError::docker(format!("inspect network {network}"), e))?;
    inspect
        .ipam
        .and_then(|ipam| ipam.config)
        .into_iter()
        .flatten()
        .filter_map(|c| c.gateway)
        .find(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
        .ok_or_else(|| StackError::Unsupported(format!("network {network} has no IPv4 gateway")))
}

/// The `synth-worker serve` arguments for a role in its container (the
/// secrets go by environment: [`worker_env`]).
pub fn worker_args(spec: &StackSpec, role: Role) -> Vec<String> {
    let listen = format!("0.0.0.0:{}", spec.worker.port);
    worker_args_at(spec, role, &listen, &state_redis_url(), "/data")
}

/// Redis's URL for the workers of a one-engine stack: its name on the run network.
fn state_redis_url() -> String {
    format!("redis://state:{REDIS_PORT}")
}

/// The `synth-worker serve` arguments for a role that listens on `listen`,
/// uses Redis at `redis_url` and keeps its files in `data_dir`.
pub fn worker_args_at(
    spec: &StackSpec,
    role: Role,
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
    ];
    if !w.fencing {
        args.push("--no-fencing".into());
    }
    if !w.presence {
        args.push("--no-presence".into());
    }
    args.extend(w.extra_args.iter().cloned());
    args
}

/// The address a one-engine stack publishes its ports on.
pub(super) const LOOPBACK: &str = "127.0.0.1";

/// One engine's part of a run: where its containers go and where their ports are published.
pub(super) struct Ctx<'a> {
    pub(super) docker: &'a Docker,
    pub(super) run_id: &'a str,
    pub(super) network: &'a str,
    /// The volume (or, for a multi-host stack, the host folder) mounted at `/data`.
    pub(super) volume: &'a str,
    /// The host address ports are published on: 127.0.0.1, or a host's own
    /// address in a multi-host stack (never 0.0.0.0).
    pub(super) publish_on: &'a str,
}

impl Ctx<'_> {
    pub(super) fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.run_id)
    }

    pub(super) fn host_config(&self, ports: &[u16], with_volume: bool) -> HostConfig {
        let port_bindings = ports
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some(self.publish_on.into()),
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
    pub(super) async fn create(
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

    pub(super) async fn start(&self, id: &str) -> Result<(), StackError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| StackError::docker(format!("start container {id}"), e))
    }

    /// Polls `check` every few ms until it passes (returning when it did), the
    /// container stops, or the deadline passes. The container's state is read
    /// at most every [`STATE_EVERY`] while the check fails.
    pub(super) async fn wait_ready<F, Fut>(
        &self,
        role: Role,
        id: &str,
        deadline: Instant,
        check: F,
    ) -> Result<Instant, StackError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        let mut state_read: Option<Instant> = None;
        loop {
            let last = match check().await {
                Ok(()) => return Ok(Instant::now()),
                Err(reason) => reason,
            };
            let now = Instant::now();
            let expired = now >= deadline;
            if expired || state_read.is_none_or(|t| now - t >= STATE_EVERY) {
                state_read = Some(now);
                let status = docker::status(self.docker, id).await?;
                let gone = !matches!(status.status.as_str(), "running" | "created" | "restarting");
                if gone || expired {
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
            }
            tokio::time::sleep(READY_POLL).await;
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
    let out = ports_on(
        inspect
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default(),
        LOOPBACK,
    );
    if out.is_empty() {
        return Err(StackError::Unsupported(format!(
            "container {id} has no port published on 127.0.0.1"
        )));
    }
    Ok(out)
}

/// Container port -> host port, for the ports bound on the host address `ip`.
fn ports_on(ports: HashMap<String, Option<Vec<PortBinding>>>, ip: &str) -> HashMap<u16, u16> {
    let mut out = HashMap::new();
    for (key, bindings) in ports {
        let Some(container_port) = key.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let host_port = bindings
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.host_ip.as_deref() == Some(ip))
            .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()));
        if let Some(hp) = host_port {
            out.insert(container_port, hp);
        }
    }
    out
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

/// Whether Redis at `addr` answers PING after AUTH with `password`.
pub(super) async fn redis_ready(addr: &str, password: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .write_all(format!("AUTH {password}\r\nPING\r\n").as_bytes())
            .await
            .map_err(|e| format!("send AUTH and PING: {e}"))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        // "+OK\r\n+PONG\r\n", possibly in two reads; an error line ends it.
        while got.len() < 256 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read PONG: {e}"))?;
            got.extend_from_slice(&buf[..n]);
            if n == 0 || got.starts_with(b"-") || got.ends_with(b"+PONG\r\n") {
                break;
            }
        }
        if got == b"+OK\r\n+PONG\r\n" {
            Ok(())
        } else {
            Err(format!(
                "answered {:?} to AUTH and PING",
                String::from_utf8_lossy(&got)
            ))
        }
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .unwrap_or_else(|_| Err("PING timed out".into()))
}

/// Whether `GET url` answers exactly `want` (a worker's health check).
pub(super) async fn http_status(
    client: reqwest::Client,
    url: String,
    want: u16,
) -> Result<(), String> {
    match client.get(&url).send().await {
        Ok(r) if r.status().as_u16() == want => Ok(()),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Err(format!(
                "GET {url} answered {status}, not the {want} of a healthy worker: {}",
                body.chars().take(300).collect::<String>()
            ))
        }
        Err(e) => Err(format!("GET {url}: {e}")),
    }
}

/// HAProxy is ready when the primary (and, with a backup standby, the
/// standby) is `UP` after a health check that passed (`L7OK`): right after
/// start HAProxy shows its servers `UP` before it has checked them.
pub(super) async fn frontdoor_ready(
    client: reqwest::Client,
    stats_url: String,
    clock: Clock,
    want_standby_up: bool,
) -> Result<(), String> {
    let url = format!("{stats_url};csv");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("stats page {url} did not answer: {e}"))?;
    let read_at_ms = clock.now_ms();
    let body = response
        .text()
        .await
        .map_err(|e| format!("stats page {url}: {e}"))?;
    let view = haproxy::parse_stats_csv(&body, read_at_ms)?;
    frontdoor_view_ready(&view, want_standby_up)
}

/// Whether a view of the worker backend shows the stack ready (see [`frontdoor_ready`]).
fn frontdoor_view_ready(
    view: &[haproxy::BackendServerState],
    want_standby_up: bool,
) -> Result<(), String> {
    let server = |role: Role| view.iter().find(|s| s.role == Some(role));
    let checked_up = |role: Role| {
        server(role).is_some_and(|s| s.status == "UP" && s.check_status.starts_with("L7OK"))
    };
    let shown = |role: Role| {
        server(role).map_or("absent".to_string(), |s| {
            format!("{} ({})", s.status, s.check_status)
        })
    };
    let standby_ok = if want_standby_up {
        checked_up(Role::Standby)
    } else {
        server(Role::Standby).is_some_and(|s| s.status.starts_with("MAINT"))
    };
    if checked_up(Role::Primary) && standby_ok {
        Ok(())
    } else {
        Err(format!(
            "HAProxy sees primary {}, standby {}",
            shown(Role::Primary),
            shown(Role::Standby)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_args_follow_the_spec() {
        let mut spec = StackSpec::default();
        spec.worker.fencing = false;
        spec.worker.presence = false;
        spec.worker.extra_args = vec!["--denoise-steps".into(), "2".into()];
        let args = worker_args(&spec, Role::Standby);
        let joined = args.join(" ");
        assert!(joined.starts_with(
            "serve --listen 0.0.0.0:8080 --redis redis://state:6379 --data-dir /data"
        ));
        assert!(joined.contains("--worker-id standby"));
        assert!(joined.contains("--lease-ttl 1000ms --watchdog 5000ms"));
        assert!(joined.contains("--fault-injection"));
        assert!(!joined.contains("token"), "{joined}");
        assert!(joined.ends_with("--no-fencing --no-presence --denoise-steps 2"));
        let defaults = worker_args(&StackSpec::default(), Role::Primary).join(" ");
        assert!(!defaults.contains("--no-"), "{defaults}");
    }

    fn server(name: &str, role: Role, status: &str, check: &str) -> haproxy::BackendServerState {
        haproxy::BackendServerState {
            server: name.into(),
            role: Some(role),
            status: status.into(),
            backup: role == Role::Standby,
            last_change_s: Some(0),
            check_status: check.into(),
            read_at_ms: 0.0,
        }
    }

    #[test]
    fn frontdoor_is_ready_only_after_a_passed_check() {
        // Right after start HAProxy shows servers UP before checking them.
        let unchecked = [
            server("primary", Role::Primary, "UP", "INI"),
            server("standby", Role::Standby, "UP", "INI"),
        ];
        assert!(frontdoor_view_ready(&unchecked, true).is_err());
        let checked = [
            server("primary", Role::Primary, "UP", "L7OK"),
            server("standby", Role::Standby, "UP", "L7OK"),
        ];
        assert!(frontdoor_view_ready(&checked, true).is_ok());
        let standby_down = [
            server("primary", Role::Primary, "UP", "L7OK"),
            server("standby", Role::Standby, "DOWN", "L4CON"),
        ];
        let err = frontdoor_view_ready(&standby_down, true).unwrap_err();
        assert!(err.contains("standby DOWN (L4CON)"), "{err}");
        let manual = [
            server("primary", Role::Primary, "UP", "L7OK"),
            server("standby", Role::Standby, "MAINT", ""),
        ];
        assert!(frontdoor_view_ready(&manual, false).is_ok());
        assert!(frontdoor_view_ready(&manual, true).is_err());
    }
}
