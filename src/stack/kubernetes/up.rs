//! Bringing the stack up on a cluster: images where the node can run them,
//! the run's namespace, then Redis, the workers (given Redis's address) and
//! HAProxy (given the workers' addresses), each waited for, then the same
//! readiness checks as the Docker stack, made on the pods' own addresses.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use kube::api::{Api, PostParams};

use super::nodes::NodeEngines;
use super::objects::{self, CheckpointVolume, Pull};
use super::pods::{self, PodState};
use super::KubeRun;
use crate::clock::Clock;
use crate::stack::images::{self, ResolvedImages};
use crate::stack::startup::PhaseTimer;
use crate::stack::up::{frontdoor_ready, http_status, redis_ready};
use crate::stack::{
    docker, haproxy, ContainerInfo, EventLog, Failover, FrontdoorKind, Role, Runtime, Stack,
    StackError, StackSpec,
};

/// Brings the stack up in a new namespace named by the run id. From the
/// namespace on, a failure deletes it again (the [`KubeRun`]'s drop).
pub(in crate::stack) async fn up(
    spec: &StackSpec,
    run_id: &str,
    clock: &Clock,
) -> Result<Stack, StackError> {
    if spec.frontdoor.kind != FrontdoorKind::Haproxy {
        return Err(StackError::Unsupported(
            "`stack.runtime: kubernetes` runs the HAProxy front door only; \
             remove `stack.frontdoor.kind: nginx`"
                .into(),
        ));
    }
    if spec.worker.image.is_some() {
        return Err(StackError::Unsupported(
            "`stack.runtime: kubernetes` runs the reference worker; \
             `stack.worker.image` needs `stack.runtime: docker`"
                .into(),
        ));
    }
    let mut timer = PhaseTimer::new();
    let k = &spec.kubernetes;
    let (client, config) = super::connect(k.kubeconfig.as_deref(), k.context.as_deref()).await?;
    match super::sweep::sweep_dead_owners(&client).await {
        Ok(swept) => {
            for id in swept {
                eprintln!("removed Kubernetes run {id} left by a dead harness");
            }
        }
        Err(e) => eprintln!("warning: could not sweep Kubernetes runs of dead harnesses: {e}"),
    }
    timer.mark("connect and sweep");
    let (images, pull, node_engines) = prepare_images(spec).await?;
    timer.mark("images");

    let namespace = objects::namespace_name(run_id);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &objects::namespace(run_id))
        .await
        .map_err(|e| StackError::kube(format!("create namespace {namespace}"), e))?;
    let (volume, host_path) = match &spec.kubernetes.checkpoint_storage_class {
        Some(_) => (objects::CHECKPOINT_CLAIM.to_string(), None),
        None => {
            let path = objects::host_path(run_id);
            (path.clone(), Some(path))
        }
    };
    // From here on, dropping `run` deletes the namespace.
    let mut run = KubeRun {
        client: client.clone(),
        config,
        namespace: namespace.clone(),
        run_id: run_id.to_string(),
        volume,
        host_path,
        node_engines,
        lost_nodes: Default::default(),
        recorder: None,
        down: false,
    };
    let events = EventLog::new();
    run.recorder = Some(super::events::start_recording(
        client.clone(),
        &namespace,
        run_id,
        *clock,
        events.clone(),
    ));
    let fault_token = crate::stack::new_fault_token();
    let redis_password = crate::stack::new_fault_token();
    let post = PostParams::default();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(
            &post,
            &objects::secret(run_id, &fault_token, &redis_password),
        )
        .await
        .map_err(|e| StackError::kube("create the run's secret", e))?;
    let checkpoints = match &spec.kubernetes.checkpoint_storage_class {
        Some(class) => {
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace)
                .create(&post, &objects::checkpoint_claim(run_id, class))
                .await
                .map_err(|e| StackError::kube("create the checkpoint claim", e))?;
            CheckpointVolume::Claim
        }
        None => CheckpointVolume::HostPath(objects::host_path(run_id)),
    };
    timer.mark("namespace");

    let deadline = Instant::now() + spec.ready_timeout;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let pods_api = run.pods();
    create(&deployments, &objects::redis(run_id, &images.redis, pull)).await?;
    let state = pods::wait_running(&pods_api, run_id, Role::State, deadline).await?;
    let redis_ip = state.ip.clone().unwrap_or_default();
    let redis_url = format!("redis://{redis_ip}:{}", objects::REDIS_PORT);
    for role in [Role::Primary, Role::Standby] {
        let d = objects::worker(
            run_id,
            spec,
            role,
            &images.worker,
            pull,
            &redis_url,
            &checkpoints,
        );
        create(&deployments, &d).await?;
    }
    let (primary, standby) = tokio::try_join!(
        pods::wait_running(&pods_api, run_id, Role::Primary, deadline),
        pods::wait_running(&pods_api, run_id, Role::Standby, deadline),
    )?;
    timer.mark("redis and workers scheduled");

    let port = spec.worker.port;
    let worker_addr = |p: &PodState| format!("{}:{port}", p.ip.as_deref().unwrap_or_default());
    let layout = haproxy::Layout {
        bind_host: "0.0.0.0".into(),
        front_port: haproxy::FRONT_PORT,
        stats_port: haproxy::STATS_PORT,
        admin_port: haproxy::ADMIN_PORT,
        primary: worker_addr(&primary),
        standby: worker_addr(&standby),
        docker_dns: false,
        harness_only_from: None,
        health: spec.worker.health.clone(),
    };
    let config_text = haproxy::render_config_for(&spec.frontdoor, &layout);
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .create(&post, &objects::haproxy_config(run_id, &config_text))
        .await
        .map_err(|e| StackError::kube("create HAProxy's ConfigMap", e))?;
    create(
        &deployments,
        &objects::frontdoor(run_id, &images.haproxy, pull),
    )
    .await?;
    Api::<Service>::namespaced(client.clone(), &namespace)
        .create(&post, &objects::frontdoor_service(run_id))
        .await
        .map_err(|e| StackError::kube("create the front door's Service", e))?;
    let frontdoor = pods::wait_running(&pods_api, run_id, Role::Frontdoor, deadline).await?;
    timer.mark("frontdoor scheduled");

    let fd_ip = frontdoor.ip.clone().unwrap_or_default();
    let redis_addr = format!("{redis_ip}:{}", objects::REDIS_PORT);
    let worker_urls: BTreeMap<Role, String> =
        [(Role::Primary, &primary), (Role::Standby, &standby)]
            .into_iter()
            .map(|(role, p)| (role, format!("http://{}", worker_addr(p))))
            .collect();
    let frontdoor_url = format!("http://{fd_ip}:{}", haproxy::FRONT_PORT);
    let stats_url = format!("http://{fd_ip}:{}/stats", haproxy::STATS_PORT);
    let admin_addr = format!("{fd_ip}:{}", haproxy::ADMIN_PORT);
    let ready = Readiness {
        run: &run,
        deadline,
        started: Instant::now(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| StackError::Unsupported(format!("HTTP client: {e}")))?;
    let check = &spec.worker.health;
    let health = |role: Role| {
        let url = format!("{}{}", worker_urls[&role], check.path);
        let http = http.clone();
        move || http_status(http.clone(), url.clone(), check.status)
    };
    let want_standby_up = spec.frontdoor.failover == Failover::Backup;
    let (t_state, t_primary, t_standby, t_frontdoor) = tokio::try_join!(
        ready.wait(Role::State, || redis_ready(&redis_addr, &redis_password)),
        ready.wait(Role::Primary, health(Role::Primary)),
        ready.wait(Role::Standby, health(Role::Standby)),
        ready.wait(Role::Frontdoor, || frontdoor_ready(
            http.clone(),
            stats_url.clone(),
            *clock,
            want_standby_up
        )),
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

    let containers = [
        (Role::State, &state),
        (Role::Primary, &primary),
        (Role::Standby, &standby),
        (Role::Frontdoor, &frontdoor),
    ]
    .into_iter()
    .map(|(role, p)| {
        events.learn_container(&p.uid, role);
        let info = ContainerInfo {
            role,
            id: p.uid.clone(),
            name: p.name.clone(),
            ip: p.ip.clone().unwrap_or_default(),
        };
        (role, info)
    })
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
        runtime: Runtime::Kubernetes(Box::new(run)),
        up_timings: timer.finish(),
    })
}

async fn create(api: &Api<Deployment>, d: &Deployment) -> Result<(), StackError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), d)
        .await
        .map(|_| ())
        .map_err(|e| StackError::kube(format!("create deployment {name}"), e))
}

/// The images on the local engine (built when missing) and, with
/// `stack.kubernetes.node_engine`, copied into each node's engine, where pods
/// use them without pulling; otherwise the cluster pulls them.
/// Returns the nodes' engines too (none when not given).
async fn prepare_images(
    spec: &StackSpec,
) -> Result<(ResolvedImages, Pull, NodeEngines), StackError> {
    let local = docker::connect().await?;
    let images = images::ensure_all(&local, &spec.images, FrontdoorKind::Haproxy, None).await?;
    let endpoint = spec.kubernetes.node_engine.clone().or_else(|| {
        std::env::var(NODE_ENGINE_ENV)
            .ok()
            .filter(|e| !e.is_empty())
    });
    let Some(endpoint) = endpoint else {
        return Ok((images, Pull::IfNotPresent, NodeEngines::default()));
    };
    let nodes = NodeEngines::connect(&endpoint).await?;
    for node in nodes.all() {
        for reference in [&images.worker, &images.redis, &images.haproxy] {
            images::copy_image(&local, node, reference).await?;
        }
    }
    Ok((images, Pull::Never, nodes))
}

/// The environment variable naming the node's engine when the scenario does not.
pub const NODE_ENGINE_ENV: &str = "TAKEOVER_K8S_NODE_ENGINE";

/// Readiness waits with one deadline: a check is repeated every 10 ms until
/// it passes; at the deadline the error carries the pod's state and output.
struct Readiness<'a> {
    run: &'a KubeRun,
    deadline: Instant,
    started: Instant,
}

impl Readiness<'_> {
    async fn wait<F, Fut>(&self, role: Role, check: F) -> Result<Instant, StackError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        loop {
            let last = match check().await {
                Ok(()) => return Ok(Instant::now()),
                Err(reason) => reason,
            };
            if Instant::now() >= self.deadline {
                let pod = self.run.pod(role).await?;
                return Err(StackError::NotReady {
                    role,
                    container: pod
                        .as_ref()
                        .and_then(|p| p.metadata.name.clone())
                        .unwrap_or_default(),
                    reason: last,
                    state: pod
                        .as_ref()
                        .map(pods::describe)
                        .unwrap_or_else(|| "no pod".into()),
                    waited_s: self.started.elapsed().as_secs_f64(),
                    logs: self.run.logs(role, Some(20)).await,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
