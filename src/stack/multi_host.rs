//! Bringing up a stack spread over several Docker engines (`stack.hosts`):
//! one client per engine, the images built once and copied into each engine
//! that lacks them, a labelled run network on each engine, every port
//! published on its host's own address, and every reference from one role to
//! another by host address and published port. The workers share their
//! `/data` through a host folder every worker host mounts
//! (`stack.checkpoints`, or a folder of the run's own on the test bed).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, NetworkCreateRequest, PortBinding};
use bollard::Docker;

use super::cleanup::{self, RunGuard};
use super::events::{self, EventLog};
use super::hosts::{self, RoleHost};
use super::images::{self, ResolvedImages};
use super::startup::PhaseTimer;
use super::up::{
    endpoint_on, frontdoor_body, frontdoor_ready, http_status, port_on, redis_ready, upload_file,
    worker_body, Ctx, REDIS_CONFIG, REDIS_PORT,
};
use super::{
    docker, haproxy, labels, redis_config, worker_env, ContainerInfo, DockerRun, Failover, Role,
    Runtime, Stack, StackError, StackSpec,
};
use crate::clock::Clock;

/// Brings up a multi-host stack: Redis first (the workers need its published
/// port), then both workers, then the front door (its servers are the workers'
/// published ports). Everything made is removed if a later step fails.
pub(super) async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
    let mut timer = PhaseTimer::new();
    let placement = spec
        .placement
        .as_ref()
        .ok_or_else(|| StackError::Unsupported("`stack.hosts` without `stack.placement`".into()))?;
    let roles = hosts::resolve(&spec.hosts, placement).ok_or_else(|| {
        StackError::Unsupported(
            "`stack.placement` names a host `stack.hosts` does not have, or an address that is not IPv4".into(),
        )
    })?;
    let engines = connect_all(&roles).await?;
    timer.mark("connect");
    let images = images_everywhere(spec, &roles, &engines).await?;
    timer.mark("sweep and images");

    let endpoints: Vec<(String, Option<hosts::TlsSpec>)> = engines
        .keys()
        .map(|endpoint| {
            let tls = roles
                .values()
                .find(|h| &h.docker == endpoint)
                .and_then(|h| h.tls.clone());
            (endpoint.clone(), tls)
        })
        .collect();
    let checkpoints = checkpoint_dir(spec, run_id)?;
    let own_folder = spec.checkpoints.host_path.is_none();
    let guard = RunGuard::with(
        run_id,
        endpoints.clone(),
        own_folder
            .then(|| checkpoints.clone())
            .into_iter()
            .collect(),
    );
    if own_folder {
        make_shared_folder(&checkpoints)?;
    }
    let volume = checkpoints.display().to_string();
    let network = format!("{run_id}-net");
    for docker in engines.values() {
        create_network(docker, run_id, &network).await?;
    }
    timer.mark("network and volume");

    let role_engine = |role: Role| &engines[&roles[&role].docker];
    let addresses: BTreeMap<Role, String> = roles
        .iter()
        .map(|(role, host)| (*role, host.address.to_string()))
        .collect();
    let ctx_for = |role: Role| Ctx {
        docker: role_engine(role),
        run_id,
        network: &network,
        volume: &volume,
        publish_on: &addresses[&role],
    };

    let events = EventLog::new();
    let mut recorder = events::Recorder::default();
    for docker in engines.values() {
        recorder.absorb(events::start_recording(docker, run_id, &network, *clock, &events).await);
    }
    let fault_token = super::new_fault_token();
    let redis_password = super::new_fault_token();
    let deadline = Instant::now() + spec.ready_timeout;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| StackError::Unsupported(format!("HTTP client: {e}")))?;
    let mut ids: BTreeMap<Role, String> = BTreeMap::new();
    let mut published: BTreeMap<Role, u16> = BTreeMap::new();

    // Redis, on its host's address.
    let state_ctx = ctx_for(Role::State);
    let redis_conf = redis_config(&redis_password);
    let state = create_pinned(
        &state_ctx,
        Role::State,
        &[REDIS_PORT],
        || state_body(&state_ctx, &images.redis),
        Some(("/", REDIS_CONFIG, redis_conf.as_bytes())),
    )
    .await?;
    events.learn_container(&state, Role::State);
    let redis_port = published_port(&state_ctx, &state, REDIS_PORT).await?;
    let redis_addr = format!("{}:{redis_port}", addresses[&Role::State]);
    ids.insert(Role::State, state);
    timer.mark("state");

    // Both workers, Redis by its host's address and published port.
    let redis_url = format!("redis://{redis_addr}");
    let env = worker_env(&fault_token, &redis_password);
    for role in [Role::Primary, Role::Standby] {
        let ctx = ctx_for(role);
        let id = create_pinned(
            &ctx,
            role,
            &[spec.worker.port],
            || worker_body(spec, &ctx, role, &images.worker, &env, &redis_url),
            None,
        )
        .await?;
        events.learn_container(&id, role);
        let port = published_port(&ctx, &id, spec.worker.port).await?;
        published.insert(role, port);
        ids.insert(role, id);
    }
    timer.mark("workers");

    // The front door: its servers are the workers' host addresses and ports;
    // its stats page and runtime API answer only the harness.
    let worker_at = |role: Role| format!("{}:{}", addresses[&role], published[&role]);
    let harness_from = source_address_towards(roles[&Role::Frontdoor].address)?;
    let layout = haproxy::Layout {
        primary: worker_at(Role::Primary),
        standby: worker_at(Role::Standby),
        docker_dns: false,
        harness_only_from: Some(harness_from.to_string()),
        ..haproxy::Layout::docker(&spec.worker)
    };
    let config = haproxy::render_config_for(&spec.frontdoor, &layout);
    let fd_ctx = ctx_for(Role::Frontdoor);
    let frontdoor = create_pinned(
        &fd_ctx,
        Role::Frontdoor,
        &[
            haproxy::FRONT_PORT,
            haproxy::STATS_PORT,
            haproxy::ADMIN_PORT,
        ],
        || frontdoor_body(&fd_ctx, &images.haproxy),
        Some((haproxy::CONFIG_DIR, "haproxy.cfg", config.as_bytes())),
    )
    .await?;
    events.learn_container(&frontdoor, Role::Frontdoor);
    let (fd_ports, _) = endpoint_on(fd_ctx.docker, &frontdoor, &network, fd_ctx.publish_on).await?;
    let fd_addr = &addresses[&Role::Frontdoor];
    let fd_port = |p| port_on(&frontdoor, &fd_ports, p, fd_addr);
    let frontdoor_url = format!("http://{fd_addr}:{}", fd_port(haproxy::FRONT_PORT)?);
    let stats_url = format!("http://{fd_addr}:{}/stats", fd_port(haproxy::STATS_PORT)?);
    let admin_addr = format!("{fd_addr}:{}", fd_port(haproxy::ADMIN_PORT)?);
    ids.insert(Role::Frontdoor, frontdoor);
    timer.mark("front door");

    let worker_urls: BTreeMap<Role, String> = [Role::Primary, Role::Standby]
        .into_iter()
        .map(|role| (role, format!("http://{}", worker_at(role))))
        .collect();
    let check = &spec.worker.health;
    let health = |role: Role| {
        let url = format!("{}{}", worker_urls[&role], check.path);
        let http = http.clone();
        move || http_status(http.clone(), url.clone(), check.status)
    };
    let want_standby_up = spec.frontdoor.failover == Failover::Backup;
    let (primary_ctx, standby_ctx) = (ctx_for(Role::Primary), ctx_for(Role::Standby));
    let (t_state, t_primary, t_standby, t_frontdoor) = tokio::try_join!(
        state_ctx.wait_ready(Role::State, &ids[&Role::State], deadline, || {
            redis_ready(&redis_addr, &redis_password)
        }),
        primary_ctx.wait_ready(
            Role::Primary,
            &ids[&Role::Primary],
            deadline,
            health(Role::Primary)
        ),
        standby_ctx.wait_ready(
            Role::Standby,
            &ids[&Role::Standby],
            deadline,
            health(Role::Standby)
        ),
        fd_ctx.wait_ready(Role::Frontdoor, &ids[&Role::Frontdoor], deadline, || {
            frontdoor_ready(http.clone(), stats_url.clone(), *clock, want_standby_up)
        }),
    )?;
    for (role, at) in [
        (Role::State, t_state),
        (Role::Primary, t_primary),
        (Role::Standby, t_standby),
        (Role::Frontdoor, t_frontdoor),
    ] {
        timer.ready(role.as_str(), at);
    }
    timer.mark("ready");

    let containers = ids
        .iter()
        .map(|(role, id)| {
            let info = ContainerInfo {
                role: *role,
                id: id.clone(),
                name: format!("{run_id}-{role}"),
                ip: addresses[role].clone(),
            };
            (*role, info)
        })
        .collect();
    let by_role: BTreeMap<Role, Docker> = Role::ALL
        .into_iter()
        .map(|role| (role, role_engine(role).clone()))
        .collect();
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
        redis_addr,
        redis_password,
        images,
        events,
        faults: Default::default(),
        runtime: Runtime::Docker(DockerRun {
            docker: by_role[&Role::Frontdoor].clone(),
            engines: by_role,
            hosts: Some(roles),
            network,
            volume,
            recorder: Some(recorder),
            guard: Some(guard),
        }),
        up_timings: timer.finish(),
    })
}

/// One client per distinct engine of the layout, by endpoint (over mutual
/// TLS where the host has `tls`).
async fn connect_all(
    roles: &BTreeMap<Role, RoleHost>,
) -> Result<BTreeMap<String, Docker>, StackError> {
    let mut engines = BTreeMap::new();
    for host in roles.values() {
        if !engines.contains_key(&host.docker) {
            let docker = docker::connect_engine(&host.docker, host.tls.as_ref()).await?;
            engines.insert(host.docker.clone(), docker);
        }
    }
    Ok(engines)
}

/// Sweeps each engine of runs whose harness died, resolves the images once
/// (on this machine's own engine when the layout is all local sockets and it
/// answers, else on the first host's engine: built there when missing) and
/// copies each into the engines of the roles that run it, where it is missing.
async fn images_everywhere(
    spec: &StackSpec,
    roles: &BTreeMap<Role, RoleHost>,
    engines: &BTreeMap<String, Docker>,
) -> Result<ResolvedImages, StackError> {
    for docker in engines.values() {
        if let Err(e) = cleanup::sweep_dead_owners(docker).await {
            eprintln!("warning: could not sweep runs left by dead harnesses: {e}");
        }
    }
    let all_local = roles.values().all(|h| hosts::is_local_engine(&h.docker));
    let own = if all_local {
        docker::connect().await.ok()
    } else {
        None
    };
    let source = match &own {
        Some(d) => d,
        None => &engines[&roles[&Role::Primary].docker],
    };
    let own_worker = spec.worker.image.as_deref();
    let images = images::ensure_all(source, &spec.images, spec.frontdoor.kind, own_worker).await?;
    let mut copies = Vec::new();
    for (role, host) in roles {
        let reference = match role {
            Role::Primary | Role::Standby => &images.worker,
            Role::State => &images.redis,
            Role::Frontdoor => &images.haproxy,
        };
        copies.push((host.docker.clone(), reference.clone()));
    }
    copies.sort();
    copies.dedup();
    for (engine, reference) in copies {
        images::copy_image(source, &engines[&engine], &reference).await?;
    }
    Ok(images)
}

/// The folder both workers mount at `/data`: `<host_path>/<run id>` when the
/// scenario names a shared store, else the run's own folder in the temp folder.
fn checkpoint_dir(spec: &StackSpec, run_id: &str) -> Result<PathBuf, StackError> {
    match &spec.checkpoints.host_path {
        Some(path) => Ok(path.join(run_id)),
        None => cleanup::own_checkpoint_dir(run_id).ok_or_else(|| {
            StackError::Unsupported(format!("run id `{run_id}` is not a plain name"))
        }),
    }
}

/// Makes the run's own shared folder, writable by the workers whatever their user.
fn make_shared_folder(dir: &PathBuf) -> Result<(), StackError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |context: String| move |source| StackError::Io { context, source };
    std::fs::create_dir(dir).map_err(io(format!("making {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(io(format!("opening {} to the workers", dir.display())))
}

/// The run's labelled bridge network on one engine.
async fn create_network(docker: &Docker, run_id: &str, network: &str) -> Result<(), StackError> {
    docker
        .create_network(NetworkCreateRequest {
            name: network.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels::for_run(run_id)),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| StackError::docker(format!("create network {network}"), e))
}

/// Redis's container (its configuration is uploaded before it starts).
fn state_body(ctx: &Ctx<'_>, image: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec![format!("/{REDIS_CONFIG}")]),
        exposed_ports: Some(vec![format!("{REDIS_PORT}/tcp")]),
        host_config: Some(ctx.host_config(&[REDIS_PORT], false)),
        ..Default::default()
    }
}

/// A file uploaded into a container before it starts: folder, name, content.
type Upload<'a> = Option<(&'a str, &'a str, &'a [u8])>;

/// Lowest host port picked for a published port; picks stay below the
/// kernel's ephemeral range (32768 on), which the engines' own picks use.
const PINNED_FROM: u16 = 20000;
/// How many host ports the picks come from.
const PINNED_SPAN: u16 = 12000;
/// Tries before giving up on finding free host ports.
const PIN_TRIES: usize = 5;

/// Creates the container of `role` with its `ports` published on host ports
/// picked here (a container started again after a host crash keeps them,
/// where ports the engine picks would change, and the front door's servers
/// and the workers' Redis URL name them), uploads `upload`, and starts it; a
/// host port already taken is picked again.
async fn create_pinned(
    ctx: &Ctx<'_>,
    role: Role,
    ports: &[u16],
    body: impl Fn() -> ContainerCreateBody,
    upload: Upload<'_>,
) -> Result<String, StackError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut made = body();
        pin_ports(&mut made, ctx.publish_on, ports);
        let id = ctx.create(role.as_str(), made, true).await?;
        if let Some((dir, file, data)) = upload {
            upload_file(ctx.docker, &id, dir, file, data).await?;
        }
        match ctx.start(&id).await {
            Ok(()) => return Ok(id),
            Err(StackError::Docker { source, .. })
                if attempt < PIN_TRIES && port_taken(&source.to_string()) =>
            {
                ctx.docker
                    .remove_container(
                        &id,
                        Some(bollard::query_parameters::RemoveContainerOptions {
                            force: true,
                            ..Default::default()
                        }),
                    )
                    .await
                    .map_err(|e| StackError::docker(format!("remove container {id}"), e))?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether an engine's answer says a host port is taken.
fn port_taken(message: &str) -> bool {
    message.contains("port is already allocated") || message.contains("address already in use")
}

/// Publishes each of `ports` on `address` at a host port picked at random.
fn pin_ports(body: &mut ContainerCreateBody, address: &str, ports: &[u16]) {
    let host_config = body.host_config.get_or_insert_with(Default::default);
    let bindings = ports
        .iter()
        .map(|p| {
            let mut bytes = [0u8; 2];
            super::random_bytes(&mut bytes);
            let host_port = PINNED_FROM + u16::from_le_bytes(bytes) % PINNED_SPAN;
            (
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(address.to_string()),
                    host_port: Some(host_port.to_string()),
                }]),
            )
        })
        .collect();
    host_config.port_bindings = Some(bindings);
}

/// The host port a started container published `container_port` on, at its host's address.
async fn published_port(ctx: &Ctx<'_>, id: &str, container_port: u16) -> Result<u16, StackError> {
    let (ports, _) = endpoint_on(ctx.docker, id, ctx.network, ctx.publish_on).await?;
    port_on(id, &ports, container_port, ctx.publish_on)
}

/// The address this machine's connections to `to` come from (the route's
/// source): what the front door sees the harness as.
fn source_address_towards(to: Ipv4Addr) -> Result<Ipv4Addr, StackError> {
    let io = |source| StackError::Io {
        context: format!("finding this machine's address towards {to}"),
        source,
    };
    // A UDP "connection" sends nothing; it only picks the route and its source.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io)?;
    socket.connect((to, 9)).map_err(io)?;
    match socket.local_addr().map_err(io)?.ip() {
        std::net::IpAddr::V4(a) => Ok(a),
        std::net::IpAddr::V6(a) => Err(StackError::Unsupported(format!(
            "the route to {to} leaves from an IPv6 address ({a})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_ports_are_on_the_host_address_below_the_ephemeral_range() {
        let mut body = ContainerCreateBody::default();
        pin_ports(&mut body, "198.18.0.6", &[8080, 8404]);
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings.len(), 2);
        for binding in bindings.values() {
            let b = &binding.as_ref().unwrap()[0];
            assert_eq!(b.host_ip.as_deref(), Some("198.18.0.6"));
            let port: u16 = b.host_port.as_deref().unwrap().parse().unwrap();
            assert!(
                (PINNED_FROM..PINNED_FROM + PINNED_SPAN).contains(&port),
                "{port}"
            );
        }
        assert!(port_taken("driver failed programming external connectivity: Bind for 198.18.0.6:20001 failed: port is already allocated"));
        assert!(!port_taken("no such image"));
    }

    #[test]
    fn the_route_to_loopback_leaves_from_loopback() {
        assert_eq!(
            source_address_towards(Ipv4Addr::LOCALHOST).unwrap(),
            Ipv4Addr::LOCALHOST
        );
    }
}
