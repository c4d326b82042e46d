//! The `stack:` section of a scenario: which images, how the front door
//! checks and fails over, how the workers are started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::hosts::{CheckpointsSpec, HostSpec, Placement};
use super::units::{serde_duration, ByteSize};

/// The stack a scenario drills. Every field has a default, so `stack: {}` is a full stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StackSpec {
    /// Where the stack runs: `docker` (containers) or `process` (local processes on 127.0.0.1).
    pub runtime: RuntimeKind,
    /// Host programs of `runtime: process` (ignored by `docker`).
    pub process: ProcessSpec,
    /// The cluster of `runtime: kubernetes` (ignored by the others).
    #[serde(skip_serializing_if = "KubernetesSpec::is_default")]
    pub kubernetes: KubernetesSpec,
    /// Images to run instead of the locally built ones (for users with a registry).
    pub images: ImagesSpec,
    /// The front door (HAProxy by default, or Nginx).
    pub frontdoor: FrontdoorSpec,
    /// Options of both workers (primary and standby).
    pub worker: WorkerSpec,
    /// Size of the shared `/data` volume. When set, the volume is a tmpfs of
    /// this size (needed by the `disk-fill` fault, so that filling it is bounded);
    /// when not set, it is a plain local volume.
    #[schemars(with = "Option<String>")]
    pub data_volume_size: Option<ByteSize>,
    /// How long every container may take to become ready (e.g. `60s`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub ready_timeout: Duration,
    /// The Docker engines of a stack spread over several hosts, by name
    /// (`docs/stack.md`, "Several hosts"); left out, the stack runs on one engine.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, HostSpec>,
    /// With `hosts`: the host each role runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// With `hosts`: the checkpoint store both workers share.
    #[serde(skip_serializing_if = "is_default_checkpoints")]
    pub checkpoints: CheckpointsSpec,
    /// Allow `hosts` addresses and engines outside loopback and the test bed's
    /// 198.18.0.0/15 (real hosts: drill traffic then leaves this machine).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_remote: bool,
}

fn is_default_checkpoints(c: &CheckpointsSpec) -> bool {
    *c == CheckpointsSpec::default()
}

impl StackSpec {
    /// Whether the stack spreads over several engines (`stack.hosts`).
    pub fn is_multi_host(&self) -> bool {
        !self.hosts.is_empty()
    }
}

impl Default for StackSpec {
    fn default() -> Self {
        Self {
            runtime: RuntimeKind::Docker,
            process: ProcessSpec::default(),
            kubernetes: KubernetesSpec::default(),
            images: ImagesSpec::default(),
            frontdoor: FrontdoorSpec::default(),
            worker: WorkerSpec::default(),
            data_volume_size: None,
            ready_timeout: Duration::from_secs(60),
            hosts: BTreeMap::new(),
            placement: None,
            checkpoints: CheckpointsSpec::default(),
            allow_remote: false,
        }
    }
}

/// The container runtime.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// The local Docker engine (through its Unix socket, or `DOCKER_HOST`).
    #[default]
    Docker,
    /// Local processes on 127.0.0.1, for hosts without Docker (a GPU machine):
    /// the host's `redis-server` and `haproxy`, two `synth-worker serve`.
    /// Only `kill`, `pause`, `unpause`, `restart`, `heal`, `gpu` and
    /// `corrupt-checkpoint` faults work there.
    Process,
    /// A Kubernetes cluster (kubeconfig from `KUBECONFIG`, `~/.kube/config` or
    /// in-cluster): one namespace per run, the stack as pods. Only `kill`,
    /// `oom-kill`, `pod-kill`, `partition`, `node-loss` and `heal` faults work there.
    Kubernetes,
}

impl RuntimeKind {
    /// The name written in scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
            RuntimeKind::Kubernetes => "kubernetes",
        }
    }
}

/// Where `runtime: kubernetes` runs the stack and how its pods get their
/// images and their shared checkpoint volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSpec {
    /// The kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`,
    /// then the pod's service account when `takeover` runs in a cluster).
    #[schemars(with = "Option<String>")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current one; `takeover run
    /// --context` overrides it).
    pub context: Option<String>,
    /// A StorageClass that provides ReadWriteMany volumes (NFS, CephFS, ...):
    /// the run's namespace gets a claim of it, which both workers mount at
    /// `/data` for their checkpoints. Without it, a hostPath folder on the node
    /// is used, which is shared only on a one-node cluster.
    pub checkpoint_storage_class: Option<String>,
    /// The nodes' Docker engines, to copy the locally built images into: one
    /// endpoint for a one-node cluster, or `NODE=ENDPOINT` per node separated
    /// by commas (`takeover-node=unix:///run/takeover-k8s/n1/docker.sock,...`
    /// on the test bed); pods then use the images with `imagePullPolicy:
    /// Never`, and `kill` and `node-loss` act on a pod's containers through
    /// its node's engine. Default: `$TAKEOVER_K8S_NODE_ENGINE`. Without one,
    /// the images named in `stack.images` must be pullable by the cluster.
    pub node_engine: Option<String>,
}

impl KubernetesSpec {
    /// Whether nothing is set (it is then left out of a serialized spec).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Host programs of the process runtime. Each left out is looked for in
/// its environment variable (`TAKEOVER_REDIS_SERVER`, `TAKEOVER_HAPROXY`),
/// next to the `takeover` binary, then on `PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessSpec {
    /// The `redis-server` program.
    #[schemars(with = "Option<String>")]
    pub redis_server: Option<PathBuf>,
    /// The `haproxy` program.
    #[schemars(with = "Option<String>")]
    pub haproxy: Option<PathBuf>,
    /// The `nginx` program (with `frontdoor.kind: nginx`).
    #[schemars(with = "Option<String>")]
    pub nginx: Option<PathBuf>,
}

/// Named images; any left out is built locally from the host's binaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesSpec {
    /// An image of the reference worker (runs `synth-worker serve ...`; its
    /// entrypoint must be `synth-worker`). For any other service, use
    /// `stack.worker.image` instead (not both).
    pub worker: Option<String>,
    /// HAProxy image (its entrypoint must be `haproxy`).
    pub haproxy: Option<String>,
    /// Nginx image, with `frontdoor.kind: nginx` (its entrypoint must be `nginx`,
    /// run as `nginx -c /etc/nginx/nginx.conf -e stderr`).
    pub nginx: Option<String>,
    /// Redis image (its entrypoint must be `redis-server`).
    pub redis: Option<String>,
    /// Network-fault sidecar image (must hold `iptables`, `iptables-save`, `iptables-restore`, `tc`, `sleep`, `dd`, `df`, `rm`, `find` under /usr/sbin and /usr/bin).
    pub sidecar: Option<String>,
    /// The `synth-worker` binary to bake into the local worker image (default:
    /// next to the running `takeover`, or `target/release/synth-worker`).
    #[schemars(with = "Option<String>")]
    pub worker_binary: Option<PathBuf>,
}

/// How the front door checks the workers and fails over. The check and
/// runtime-API settings are HAProxy's; Nginx uses `timeout_*`, `retries`,
/// `redispatch` and `check_interval` x `fall` (see `docs/stack.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FrontdoorSpec {
    /// Which proxy: `haproxy` (active health checks, stats, runtime API) or
    /// `nginx` (open-source Nginx: passive failover only).
    pub kind: FrontdoorKind,
    /// Health-check interval (HAProxy `inter`), e.g. `100ms`.
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub check_interval: Duration,
    /// Failed checks before a server is marked down (HAProxy `fall`).
    pub fall: u32,
    /// Good checks before a server is marked up again (HAProxy `rise`).
    pub rise: u32,
    /// `backup`: the standby takes over by itself; `manual`: the standby is a
    /// disabled server that only the runtime API (a runbook) can enable.
    pub failover: Failover,
    /// Connection retries to a server before giving up (HAProxy `retries`).
    pub retries: u32,
    /// Send a retried request to another server (HAProxy `option redispatch`).
    pub redispatch: bool,
    /// Time to establish a TCP connection to a server (HAProxy `timeout connect`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub timeout_connect: Duration,
    /// Time a server may take to answer (HAProxy `timeout server`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub timeout_server: Duration,
    /// Time a client may stay silent (HAProxy `timeout client`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub timeout_client: Duration,
    /// Time a health check may take (HAProxy `timeout check`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub timeout_check: Duration,
    /// How long a read (a GET or HEAD other than an audio download) may wait
    /// for its answer before HAProxy sends it to the other server instead
    /// (`http-request set-timeout server` with `retry-on response-timeout`;
    /// both servers are then active under `balance first`, so the retry can
    /// reach the standby while the hung primary is still up). Needs
    /// `redispatch`; `0s` turns it off (the standby is then a `backup`
    /// server). HAProxy only: Nginx keeps `timeout_server` for every request
    /// (see docs/stack.md for why).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub timeout_read: Duration,
}

impl Default for FrontdoorSpec {
    fn default() -> Self {
        Self {
            kind: FrontdoorKind::Haproxy,
            check_interval: Duration::from_millis(100),
            fall: 2,
            rise: 2,
            failover: Failover::Backup,
            retries: 3,
            redispatch: true,
            timeout_connect: Duration::from_millis(100),
            timeout_server: Duration::from_secs(10),
            timeout_client: Duration::from_secs(30),
            timeout_check: Duration::from_millis(500),
            timeout_read: Duration::from_millis(250),
        }
    }
}

/// The proxy of the front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FrontdoorKind {
    /// HAProxy: active health checks, stats and a runtime API.
    #[default]
    Haproxy,
    /// Open-source Nginx: passive failover (a failed attempt moves the request
    /// to the backup), no health checks, no view of its servers' state.
    Nginx,
}

impl FrontdoorKind {
    /// The name written in scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            FrontdoorKind::Haproxy => "haproxy",
            FrontdoorKind::Nginx => "nginx",
        }
    }
}

impl std::fmt::Display for FrontdoorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the standby comes into service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Failover {
    /// The standby is an HAProxy `backup` server: used as soon as the primary is down.
    #[default]
    Backup,
    /// The standby is listed but disabled; a runbook enables it through the runtime API.
    Manual,
}

/// Options of the workers (both get the same). Without `image`, the workers
/// are the reference `synth-worker`; with `image`, any HTTP service (see
/// `docs/stack.md`, "Your own worker image").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSpec {
    /// An image of your own service to run as both workers, instead of the
    /// reference worker (`synth-worker`); it must already be on the Docker
    /// engine. Docker runtime only. Not together with `stack.images.worker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The full command (argv) to run in `image`, instead of the image's own
    /// entrypoint and command; only with `image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables given to both workers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The port the service listens on inside its container (default 8080,
    /// the reference worker's). Docker runtime only.
    #[serde(skip_serializing_if = "is_default_port")]
    pub port: u16,
    /// What the front door checks and what readiness waits for on each worker
    /// (default `GET /health` answered 200).
    #[serde(skip_serializing_if = "HealthCheck::is_default")]
    pub health: HealthCheck,
    /// Compute backend: `auto`, `cpu` or `cuda`.
    pub backend: Backend,
    /// Job lease time-to-live (`--lease-ttl`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub lease_ttl: Duration,
    /// Progress watchdog (`--watchdog`).
    #[serde(with = "serde_duration")]
    #[schemars(with = "String")]
    pub watchdog: Duration,
    /// Fencing of stale writers (off passes `--no-fencing`: for split-brain drills that must fail).
    pub fencing: bool,
    /// Take a dead worker's jobs as soon as its Redis presence connection closes
    /// (off passes `--no-presence`: the standby waits for the lease to expire).
    pub presence: bool,
    /// Memory limit of each worker container, e.g. `1GiB` (none: unlimited; Docker only).
    #[schemars(with = "Option<String>")]
    pub memory_limit: Option<ByteSize>,
    /// GPUs handed to each worker: `none` or `all` (needs Docker's NVIDIA runtime;
    /// ignored by `runtime: process`, where the workers see the host's GPUs).
    pub gpus: Gpus,
    /// Extra arguments appended to `synth-worker serve`.
    pub extra_args: Vec<String>,
}

impl Default for WorkerSpec {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            lease_ttl: Duration::from_secs(1),
            watchdog: Duration::from_secs(5),
            fencing: true,
            presence: true,
            memory_limit: None,
            gpus: Gpus::None,
            extra_args: Vec::new(),
            image: None,
            command: None,
            env: BTreeMap::new(),
            port: DEFAULT_WORKER_PORT,
            health: HealthCheck::default(),
        }
    }
}

impl WorkerSpec {
    /// Whether the workers run the reference worker (`synth-worker`), which
    /// speaks the job contract of `docs/worker-api.md`, rather than a
    /// `stack.worker.image` of the user's.
    pub fn is_reference(&self) -> bool {
        self.image.is_none()
    }
}

/// The port the reference worker listens on inside its container.
pub const DEFAULT_WORKER_PORT: u16 = 8080;

/// Left out of a serialized spec when default, so that the scenario kept in
/// report.json reads as it did before the key existed.
fn is_default_port(port: &u16) -> bool {
    *port == DEFAULT_WORKER_PORT
}

/// An HTTP health check on a worker: `GET path` must answer `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// The path requested (default `/health`).
    pub path: String,
    /// The HTTP status a healthy worker answers (default 200).
    pub status: u16,
}

impl HealthCheck {
    /// Whether it is the reference worker's check (`GET /health`, 200).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/health".to_string(),
            status: 200,
        }
    }
}

/// The worker's compute backend.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CUDA when a GPU is usable, else CPU.
    #[default]
    Auto,
    /// The CPU backend.
    Cpu,
    /// The CUDA backend (fails when no GPU is usable).
    Cuda,
}

impl Backend {
    /// The value of `synth-worker --backend`.
    pub fn as_arg(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// GPUs given to the worker containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gpus {
    /// No GPU.
    #[default]
    None,
    /// Every NVIDIA GPU of the host (a Docker device request).
    All,
}

/// A container of the reference stack.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The worker HAProxy sends traffic to first.
    Primary,
    /// The warm worker that takes over.
    Standby,
    /// HAProxy.
    Frontdoor,
    /// Redis.
    State,
}

impl Role {
    /// Every role, in start order.
    pub const ALL: [Role; 4] = [Role::State, Role::Primary, Role::Standby, Role::Frontdoor];

    /// The role's name as written in scenarios and used as the container's host name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
            Role::Frontdoor => "frontdoor",
            Role::State => "state",
        }
    }

    /// Whether this role runs `synth-worker`.
    pub fn is_worker(self) -> bool {
        matches!(self, Role::Primary | Role::Standby)
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_is_the_default_stack() {
        let spec: StackSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, StackSpec::default());
        assert_eq!(spec.frontdoor.check_interval, Duration::from_millis(100));
        assert_eq!(spec.frontdoor.kind, FrontdoorKind::Haproxy);
        let nginx: StackSpec = serde_json::from_str(r#"{"frontdoor": {"kind": "nginx"}}"#).unwrap();
        assert_eq!(nginx.frontdoor.kind, FrontdoorKind::Nginx);
    }

    #[test]
    fn durations_sizes_and_enums_read_as_written() {
        let spec: StackSpec = serde_json::from_str(
            r#"{"frontdoor": {"check_interval": "250ms", "fall": 3, "failover": "manual"},
                "worker": {"memory_limit": "512MiB", "gpus": "all", "lease_ttl": "2s"},
                "data_volume_size": "64m"}"#,
        )
        .unwrap();
        assert_eq!(spec.frontdoor.check_interval, Duration::from_millis(250));
        assert_eq!(spec.frontdoor.failover, Failover::Manual);
        assert_eq!(spec.worker.memory_limit, Some(ByteSize(512 * 1024 * 1024)));
        assert_eq!(spec.worker.gpus, Gpus::All);
        assert_eq!(spec.worker.lease_ttl, Duration::from_secs(2));
        assert_eq!(spec.data_volume_size, Some(ByteSize(64 * 1024 * 1024)));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_str::<StackSpec>(r#"{"frontdoor": {"interval": "1s"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `interval`"), "{err}");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("leader"), None);
    }
}
