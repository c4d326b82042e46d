//! The reference stack as local processes on 127.0.0.1 (`stack.runtime:
//! process`), for hosts without Docker, such as a GPU machine: the host's
//! `redis-server` and `haproxy` (or `nginx`) and two `synth-worker serve` sharing one data
//! directory, each on a free loopback port, started in the same order and
//! with the same readiness checks as the Docker stack.
//!
//! Cleanup survives a killed harness: every child has `PR_SET_PDEATHSIG`
//! (SIGKILL) and its own process group, [`ProcessRun`] kills them and removes
//! the run directory when the stack goes down or is dropped (panic, Ctrl-C),
//! and the run directory's owner file lets `takeover clean` sweep a run whose
//! harness is dead.

pub mod ports;
pub mod programs;
pub mod run_dir;
pub mod supervise;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::haproxy::{self, Layout};
use super::nginx;
use super::startup::PhaseTimer;
use super::up::{frontdoor_ready, http_status, redis_ready, worker_args_at};
use super::{
    docker::ContainerStatus, images::ResolvedImages, ContainerInfo, EventLog, Failover,
    FrontdoorKind, Role, Runtime, Stack, StackError, StackSpec,
};
use crate::clock::Clock;
use run_dir::RunDir;
use supervise::{ChildSpec, Supervisor};

/// The processes and directory of one process run. Dropping it kills the
/// processes and removes the directory (unless kept with [`ProcessRun::keep`]).
pub struct ProcessRun {
    supervisor: Supervisor,
    dir: RunDir,
    root: PathBuf,
    run_id: String,
    data_dir: String,
    programs: programs::Programs,
    down: bool,
}

impl ProcessRun {
    /// The run directory (data, logs, HAProxy's configuration, owner file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory both workers share.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.data()
    }

    pub(crate) fn data_dir_str(&self) -> &str {
        &self.data_dir
    }

    /// The programs the stack runs.
    pub fn programs(&self) -> &programs::Programs {
        &self.programs
    }

    /// The supervisor of the processes (pids, signals, exits).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The pid of a role's current process.
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.supervisor.pid(role)
    }

    /// A role's state in Docker's words: `running`, `paused` (stopped by
    /// SIGSTOP: `/proc` state `T`), or `exited` with its code.
    pub fn status(&self, role: Role) -> ContainerStatus {
        let mut status = ContainerStatus {
            status: "missing".into(),
            exit_code: None,
            oom_killed: false,
            finished_at: None,
            error: None,
        };
        let Some(pid) = self.supervisor.pid(role) else {
            return status;
        };
        if let Some(exit) = self.supervisor.exit(role) {
            status.status = "exited".into();
            status.exit_code = Some(exit.code.into());
            return status;
        }
        status.status = match supervise::proc_state(pid) {
            Some('T') | Some('t') => "paused",
            Some('Z') | Some('X') | None => "exited",
            Some(_) => "running",
        }
        .into();
        status
    }

    /// The last `tail` lines of a role's output.
    pub fn tail_log(&self, role: Role, tail: usize) -> String {
        match std::fs::read_to_string(self.dir.log(role)) {
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(tail)..].join("\n")
            }
            Err(e) => format!("(no output: {e})"),
        }
    }

    /// Everything a process wrote so far (empty when the log cannot be read).
    pub fn whole_log(&self, role: Role) -> String {
        std::fs::read_to_string(self.dir.log(role)).unwrap_or_default()
    }

    /// Kills every process and removes the run directory. Idempotent.
    pub fn shutdown(&mut self) -> Result<(), StackError> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        let left = self.supervisor.stop_all();
        let removed = std::fs::remove_dir_all(self.dir.path());
        if !left.is_empty() {
            return Err(StackError::Unsupported(format!(
                "run {}: {left:?} did not end after SIGKILL",
                self.run_id
            )));
        }
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StackError::Io {
                context: format!("removing {}", self.dir.path().display()),
                source,
            }),
        }
    }

    /// Where the run's directory lives (`$TMPDIR/takeover-runs`).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for ProcessRun {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!(
                "warning: {e}; `takeover clean --run {}` removes what is left",
                self.run_id
            );
        }
    }
}

/// Starts the process stack: Redis, both workers, HAProxy, each ready in turn.
pub(super) async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
    if let Some(image) = &spec.worker.image {
        return Err(StackError::Unsupported(format!(
            "`stack.worker.image: {image}` needs `stack.runtime: docker`: the process runtime \
             runs the host's `synth-worker` binary, not images"
        )));
    }
    let mut timer = PhaseTimer::new();
    let root = run_dir::runs_root();
    // Heal leftovers first: process runs whose harness died on this host.
    match run_dir::sweep_dead_owners(&root) {
        Ok(swept) => {
            for (id, removed) in swept {
                eprintln!(
                    "removed process run {id} left by a dead harness ({} process(es))",
                    removed.processes
                );
            }
        }
        Err(e) => eprintln!("warning: could not sweep process runs left by dead harnesses: {e}"),
    }
    let programs = programs::resolve(spec)?;
    let worker_hash = content_hash(&programs.worker)?;
    timer.mark("sweep and programs");
    let dir = RunDir::create(&root, run_id)?;
    let events = EventLog::new();
    let supervisor = Supervisor::new(*clock, events.clone(), dir.clone());
    // From here on, dropping `run` kills what was started and removes the directory.
    let run = ProcessRun {
        supervisor: supervisor.clone(),
        data_dir: dir.data().display().to_string(),
        dir,
        root,
        run_id: run_id.to_string(),
        programs: programs.clone(),
        down: false,
    };
    let [redis_port, front_port, stats_port, admin_port, primary_port, standby_port] =
        ports::free_ports::<6>()?;
    let deadline = Instant::now() + spec.ready_timeout;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| StackError::Unsupported(format!("HTTP client: {e}")))?;
    let ready = Readiness {
        run: &run,
        deadline,
        started: Instant::now(),
    };

    let run_path = run.dir().display().to_string();
    // Redis's password goes in a file of the private run folder: on the
    // command line every local user could read it.
    let redis_password = super::new_fault_token();
    let redis_conf = run.dir().join("redis.conf");
    write_private(&redis_conf, &format!("requirepass {redis_password}\n"))?;
    let redis_conf = redis_conf.display().to_string();
    supervisor.spawn(
        Role::State,
        ChildSpec {
            program: programs.redis_server.clone(),
            args: [
                &redis_conf,
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "yes",
                "--port",
                &redis_port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &run_path,
            ]
            .map(String::from)
            .to_vec(),
            env: vec![],
            log: run.dir.log(Role::State),
        },
    )?;
    let redis_addr = format!("127.0.0.1:{redis_port}");
    ready
        .wait(Role::State, || redis_ready(&redis_addr, &redis_password))
        .await?;
    timer.ready(Role::State.as_str(), Instant::now());
    timer.mark("redis");

    let fault_token = super::new_fault_token();
    let redis_url = format!("redis://{redis_addr}");
    let mut worker_env = vec![("RUST_BACKTRACE".to_string(), "1".to_string())];
    worker_env.extend(super::worker_env(&fault_token, &redis_password));
    worker_env.extend(spec.worker.env.clone());
    let mut worker_urls = BTreeMap::new();
    for (role, port) in [(Role::Primary, primary_port), (Role::Standby, standby_port)] {
        let listen = format!("127.0.0.1:{port}");
        supervisor.spawn(
            role,
            ChildSpec {
                program: programs.worker.clone(),
                args: worker_args_at(spec, role, &listen, &redis_url, &run.data_dir),
                env: worker_env.clone(),
                log: run.dir.log(role),
            },
        )?;
        worker_urls.insert(role, format!("http://{listen}"));
    }
    let ready_at = futures_util::future::try_join_all([Role::Primary, Role::Standby].map(|role| {
        let check = &spec.worker.health;
        let url = format!("{}{}", worker_urls[&role], check.path);
        let (ready, http) = (&ready, &http);
        async move {
            ready
                .wait(role, || {
                    http_status(http.clone(), url.clone(), check.status)
                })
                .await?;
            Ok::<_, StackError>((role, Instant::now()))
        }
    }))
    .await?;
    for (role, at) in ready_at {
        timer.ready(role.as_str(), at);
    }
    timer.mark("workers");

    let ports = FrontdoorPorts {
        front: front_port,
        stats: stats_port,
        admin: admin_port,
        primary: primary_port,
        standby: standby_port,
    };
    let (front_args, stats_url, admin_addr, ready_url) = match spec.frontdoor.kind {
        FrontdoorKind::Haproxy => haproxy_files(spec, &run, &ports)?,
        FrontdoorKind::Nginx => nginx_files(spec, &run, &ports)?,
    };
    supervisor.spawn(
        Role::Frontdoor,
        ChildSpec {
            program: programs.frontdoor.clone(),
            args: front_args,
            env: vec![],
            log: run.dir.log(Role::Frontdoor),
        },
    )?;
    let frontdoor_url = format!("http://127.0.0.1:{front_port}");
    let want_standby_up = spec.frontdoor.failover == Failover::Backup;
    ready
        .wait(Role::Frontdoor, || {
            let (http, stats_url, ready_url) = (http.clone(), stats_url.clone(), ready_url.clone());
            async move {
                match spec.frontdoor.kind {
                    FrontdoorKind::Haproxy => {
                        frontdoor_ready(http, stats_url, *clock, want_standby_up).await
                    }
                    FrontdoorKind::Nginx => nginx::ready(http, ready_url).await,
                }
            }
        })
        .await?;
    timer.ready(Role::Frontdoor.as_str(), Instant::now());
    timer.mark(spec.frontdoor.kind.as_str());

    let containers = Role::ALL
        .into_iter()
        .map(|role| {
            let info = ContainerInfo {
                role,
                id: run.pid(role).map(|p| p.to_string()).unwrap_or_default(),
                name: format!("{run_id}-{role}"),
                ip: "127.0.0.1".into(),
            };
            (role, info)
        })
        .collect();
    let images = ResolvedImages {
        worker: format!("process:synth-worker@{worker_hash}"),
        haproxy: match spec.frontdoor.kind {
            FrontdoorKind::Haproxy => programs.frontdoor.display().to_string(),
            FrontdoorKind::Nginx => String::new(),
        },
        nginx: (spec.frontdoor.kind == FrontdoorKind::Nginx)
            .then(|| programs.frontdoor.display().to_string()),
        redis: programs.redis_server.display().to_string(),
        sidecar: String::new(),
    };
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
        runtime: Runtime::Process(run),
        up_timings: timer.finish(),
    })
}

/// The loopback ports of the front door and of the workers behind it.
struct FrontdoorPorts {
    front: u16,
    stats: u16,
    admin: u16,
    primary: u16,
    standby: u16,
}

/// What starting a front door needs: its arguments, the stats URL and
/// runtime API address the stack reports (empty where it has none), and the
/// URL its readiness check reads.
type FrontdoorStart = (Vec<String>, String, String, String);

/// HAProxy's configuration in the run directory, and how to start it.
fn haproxy_files(
    spec: &StackSpec,
    run: &ProcessRun,
    p: &FrontdoorPorts,
) -> Result<FrontdoorStart, StackError> {
    let layout = Layout {
        bind_host: "127.0.0.1".into(),
        front_port: p.front,
        stats_port: p.stats,
        admin_port: p.admin,
        primary: format!("127.0.0.1:{}", p.primary),
        standby: format!("127.0.0.1:{}", p.standby),
        docker_dns: false,
        harness_only_from: None,
        health: spec.worker.health.clone(),
    };
    let config = run.dir().join("haproxy.cfg");
    write_file(
        &config,
        &haproxy::render_config_for(&spec.frontdoor, &layout),
    )?;
    let stats_url = format!("http://127.0.0.1:{}/stats", p.stats);
    Ok((
        vec!["-f".into(), config.display().to_string(), "-db".into()],
        stats_url.clone(),
        format!("127.0.0.1:{}", p.admin),
        stats_url,
    ))
}

/// Nginx's configuration and its own folder (pid, temp files) in the run
/// directory, its request log on its standard output, and how to start it.
fn nginx_files(
    spec: &StackSpec,
    run: &ProcessRun,
    p: &FrontdoorPorts,
) -> Result<FrontdoorStart, StackError> {
    let prefix = run.dir().join("nginx");
    std::fs::create_dir_all(&prefix).map_err(|source| StackError::Io {
        context: format!("creating {}", prefix.display()),
        source,
    })?;
    let layout = nginx::Layout {
        bind_host: "127.0.0.1".into(),
        front_port: p.front,
        status_port: p.stats,
        primary: format!("127.0.0.1:{}", p.primary),
        standby: format!("127.0.0.1:{}", p.standby),
        temp_dir: prefix.display().to_string(),
        access_log: "/dev/stdout".into(),
        status_only_from: Some("127.0.0.1".into()),
        // SAFETY: geteuid has no preconditions and cannot fail.
        user: (unsafe { libc::geteuid() } == 0).then(|| "root".to_string()),
    };
    let config = prefix.join(nginx::CONFIG_FILE);
    write_file(&config, &nginx::render_config(&spec.frontdoor, &layout)?)?;
    let prefix_arg = format!("{}/", prefix.display());
    Ok((
        [
            "-p",
            &prefix_arg,
            "-c",
            &config.display().to_string(),
            "-e",
            "stderr",
        ]
        .map(String::from)
        .to_vec(),
        String::new(),
        String::new(),
        format!("http://127.0.0.1:{}{}", p.stats, nginx::STATUS_PATH),
    ))
}

fn write_file(path: &Path, text: &str) -> Result<(), StackError> {
    std::fs::write(path, text).map_err(|source| StackError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// Writes `text` to a new file at `path` that only this user can read.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), StackError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| StackError::Io {
            context: format!("writing {}", path.display()),
            source,
        })
}

/// The first 16 hex digits of the blake3 hash of a file (names the worker
/// build in reference-audio cache keys, as an image tag does for Docker).
fn content_hash(path: &Path) -> Result<String, StackError> {
    let data = std::fs::read(path).map_err(|source| StackError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    Ok(blake3::hash(&data).to_hex()[..16].to_string())
}

/// Readiness checks with one deadline for the whole stack.
struct Readiness<'a> {
    run: &'a ProcessRun,
    deadline: Instant,
    started: Instant,
}

impl Readiness<'_> {
    /// Polls `check` until it passes, the process ends, or the deadline passes.
    async fn wait<F, Fut>(&self, role: Role, check: F) -> Result<(), StackError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        loop {
            let last = match check().await {
                Ok(()) => return Ok(()),
                Err(reason) => reason,
            };
            let status = self.run.status(role);
            let gone = status.status != "running";
            if gone || Instant::now() >= self.deadline {
                let program = self
                    .run
                    .supervisor
                    .spec(role)
                    .map(|s| s.program.display().to_string())
                    .unwrap_or_default();
                return Err(StackError::ProcessNotReady {
                    role,
                    program,
                    reason: if gone {
                        format!("it stopped (last check: {last})")
                    } else {
                        last
                    },
                    state: status.to_string(),
                    waited_s: self.started.elapsed().as_secs_f64(),
                    logs: self.run.tail_log(role, 20),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
