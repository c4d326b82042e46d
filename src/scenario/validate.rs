//! Checks that a well-formed scenario makes sense as a drill: the files it names
//! exist, heals have something to heal, expectations judge figures the steps can
//! produce, timings run forward.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::model::{Action, Scenario, Timing};
use super::parse::{LoadedScenario, Problem};
use crate::fault::Leftovers;

mod hosts;
use crate::stack::RuntimeKind;

/// Where the parts of a scenario are in its file (a second, lenient pass over
/// the YAML that keeps positions only).
#[derive(Debug, Default, Deserialize)]
struct Positions {
    #[serde(default)]
    name: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    workload: Option<Spanned<WorkloadPositions>>,
    #[serde(default)]
    probe: Keys,
    #[serde(default)]
    deadlines: Keys,
    #[serde(default)]
    steps: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    expect: Option<Spanned<BTreeMap<String, Spanned<IgnoredAny>>>>,
    #[serde(default)]
    iterations: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    stack: Option<Spanned<StackPositions>>,
}

#[derive(Debug, Default, Deserialize)]
struct StackPositions {
    #[serde(default)]
    runtime: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    frontdoor: Keys,
    #[serde(default)]
    worker: Keys,
    #[serde(default)]
    images: Keys,
    #[serde(default)]
    hosts: Option<Spanned<BTreeMap<String, Spanned<HostKeys>>>>,
    #[serde(default)]
    placement: Keys,
    #[serde(default)]
    checkpoints: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    allow_remote: Option<Spanned<IgnoredAny>>,
}

/// The keys of one host under `stack.hosts`, with their places.
#[derive(Debug, Default, Deserialize)]
struct HostKeys {
    #[serde(default)]
    docker: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    address: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    tls: Keys,
}

/// A mapping's keys with their places, and the mapping's own place.
type Keys = Option<Spanned<BTreeMap<String, Spanned<IgnoredAny>>>>;

/// Where `key` of a mapping is, else where the mapping is, else `fallback`.
fn key_at(keys: &Keys, key: &str, fallback: At) -> At {
    keys.as_ref()
        .and_then(|k| k.value.get(key).and_then(pos).or_else(|| pos(k)))
        .or(fallback)
}

#[derive(Debug, Default, Deserialize)]
struct WorkloadPositions {
    #[serde(default)]
    script: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    chunk_frames: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    status_interval: Option<Spanned<IgnoredAny>>,
}

type At = Option<(u64, u64)>;

fn pos<T>(s: &Spanned<T>) -> At {
    let l = s.referenced;
    Some((l.line(), l.column()))
}

/// Collects problems with their places.
struct Findings<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl Findings<'_> {
    fn add(&mut self, at: At, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_string(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            message: message.into(),
        });
    }
}

/// Every semantic problem of a parsed scenario; empty when it is fine to run.
pub fn check(loaded: &LoadedScenario) -> Vec<Problem> {
    let file = loaded.path.display().to_string();
    let positions: Positions =
        serde_saphyr::from_str(&loaded.source).unwrap_or_else(|_| Positions::default());
    let mut f = Findings {
        file: &file,
        problems: Vec::new(),
    };
    let s = &loaded.scenario;
    let step_at = |i: usize| positions.steps.get(i).and_then(pos);
    let workload_at = positions.workload.as_ref().and_then(pos);
    let script_at = positions
        .workload
        .as_ref()
        .and_then(|w| w.value.script.as_ref().and_then(pos))
        .or(workload_at);

    check_name(&s.name, positions.name.as_ref().and_then(pos), &mut f);
    if let Some(w) = &s.workload {
        check_script(loaded, script_at, &mut f);
        if w.status_interval.get() < MIN_INTERVAL {
            let at = positions
                .workload
                .as_ref()
                .and_then(|w| w.value.status_interval.as_ref().and_then(pos))
                .or(workload_at);
            f.add(
                at,
                format!(
                    "`workload.status_interval` of {} is too short: the job's status is polled at most every {MIN_INTERVAL:?}",
                    w.status_interval
                ),
            );
        }
        if w.chunk_frames == 0 {
            let at = positions
                .workload
                .as_ref()
                .and_then(|w| w.value.chunk_frames.as_ref().and_then(pos));
            f.add(at, "`chunk_frames` must be at least 1");
        }
    }
    if s.iterations == 0 {
        f.add(
            positions.iterations.as_ref().and_then(pos),
            "`iterations` must be at least 1",
        );
    }
    let probe_at = |key: &str| key_at(&positions.probe, key, None);
    if s.probe.interval.get() < MIN_INTERVAL {
        f.add(
            probe_at("interval"),
            format!(
                "the probe `interval` of {} is too short: probes go out at most every {MIN_INTERVAL:?}",
                s.probe.interval
            ),
        );
    }
    if s.probe.timeout.get().is_zero() {
        f.add(
            probe_at("timeout"),
            "the probe `timeout` must be longer than 0s",
        );
    }
    if !(1..=MAX_SUSTAIN).contains(&s.probe.sustain) {
        f.add(
            probe_at("sustain"),
            format!(
                "the probe `sustain` of {} must be from 1 to {MAX_SUSTAIN} (good probes in a row that end an outage)",
                s.probe.sustain
            ),
        );
    }
    if let Some(path) = &s.probe.path {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            f.add(
                probe_at("path"),
                format!(
                    "the probe `path` `{}` must start with `/` and hold no control characters",
                    path.escape_debug()
                ),
            );
        }
    }
    check_timings(s, &positions, &mut f);

    check_steps(loaded, &step_at, &mut f);
    check_runtime(s, &positions, &step_at, &mut f);
    check_worker(s, &positions, &mut f);
    hosts::check_hosts(s, &positions, &step_at, &mut f);
    check_expectations(s, &positions, &mut f);
    if s.workload.is_none() {
        check_frontdoor_drill(s, &positions, &step_at, &mut f);
    }
    f.problems
}

/// What a scenario that passes [`check`] may still do unwisely (an engine
/// reached over plain TCP from another machine), located like its problems:
/// shown as warnings, never a refusal.
pub fn warnings(loaded: &LoadedScenario) -> Vec<Problem> {
    let file = loaded.path.display().to_string();
    let positions: Positions =
        serde_saphyr::from_str(&loaded.source).unwrap_or_else(|_| Positions::default());
    let mut f = Findings {
        file: &file,
        problems: Vec::new(),
    };
    hosts::warn_hosts(&loaded.scenario, &positions, &mut f);
    f.problems
}

/// Where `stack.<section>.<key>` is, else its section, else `stack`.
fn stack_key_at(positions: &Positions, section: fn(&StackPositions) -> &Keys, key: &str) -> At {
    let stack_at = positions.stack.as_ref().and_then(pos);
    positions
        .stack
        .as_ref()
        .map_or(stack_at, |st| key_at(section(&st.value), key, stack_at))
}

/// Environment names a worker's `env` may not set: the secrets the harness
/// hands the workers.
const WORKER_SECRETS: [&str; 2] = [
    crate::stack::FAULT_TOKEN_ENV,
    crate::stack::REDIS_PASSWORD_ENV,
];

/// `stack.worker`: a service of the user's (`image`, `command`, `env`,
/// `port`, `health`) and how it sits with the reference worker's options.
fn check_worker(s: &Scenario, positions: &Positions, f: &mut Findings) {
    let w = &s.stack.worker;
    let at = |key: &str| stack_key_at(positions, |st| &st.worker, key);
    let images_at = |key: &str| stack_key_at(positions, |st| &st.images, key);
    let defaults = crate::stack::WorkerSpec::default();
    match &w.image {
        Some(image) => {
            if image.trim().is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                f.add(
                    at("image"),
                    format!(
                        "`stack.worker.image` `{}` is not an image reference (e.g. `my-service:1.2`)",
                        image.escape_debug()
                    ),
                );
            }
            if let Some(named) = &s.stack.images.worker {
                f.add(
                    images_at("worker"),
                    format!(
                        "`stack.images.worker: {named}` and `stack.worker.image: {image}` both name the worker image; \
                         keep `stack.worker.image` for a service of your own (it runs its own command), or \
                         `stack.images.worker` for an image of the reference worker (run as `synth-worker serve ...`)"
                    ),
                );
            }
            if s.stack.images.worker_binary.is_some() {
                f.add(
                    images_at("worker_binary"),
                    "`stack.images.worker_binary` builds the reference worker's image, which `stack.worker.image` replaces; remove one of them",
                );
            }
            // The reference worker's own options mean nothing to another service.
            let reference_only = [
                ("backend", w.backend != defaults.backend),
                ("lease_ttl", w.lease_ttl != defaults.lease_ttl),
                ("watchdog", w.watchdog != defaults.watchdog),
                ("fencing", w.fencing != defaults.fencing),
                ("presence", w.presence != defaults.presence),
                ("extra_args", w.extra_args != defaults.extra_args),
            ];
            for (key, set) in reference_only {
                if set {
                    f.add(
                        at(key),
                        format!(
                            "`stack.worker.{key}` is an option of the reference worker (`synth-worker serve`), \
                             which `stack.worker.image` replaces; give your service its options in \
                             `stack.worker.command` or `stack.worker.env`"
                        ),
                    );
                }
            }
        }
        None => {
            if w.command.is_some() {
                f.add(
                    at("command"),
                    "`stack.worker.command` needs `stack.worker.image`: the reference worker always runs \
                     `synth-worker serve ...` (add options with `stack.worker.extra_args`)",
                );
            }
        }
    }
    if let Some(command) = &w.command {
        if command.is_empty() || command[0].is_empty() {
            f.add(
                at("command"),
                "`stack.worker.command` must name a program: write the full argv, e.g. `[my-service, --port, \"9000\"]`, \
                 or leave it out to run the image's own entrypoint and command",
            );
        }
        if command.iter().any(|a| a.contains('\0')) {
            f.add(at("command"), "`stack.worker.command` holds a NUL byte");
        }
    }
    for (key, value) in &w.env {
        let bad_name = key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with(|c: char| c.is_ascii_digit());
        if bad_name {
            f.add(
                at("env"),
                format!(
                    "`stack.worker.env` name `{}` must be letters, digits and `_`, not starting with a digit",
                    key.escape_debug()
                ),
            );
        } else if WORKER_SECRETS.contains(&key.as_str()) {
            f.add(
                at("env"),
                format!(
                    "`stack.worker.env` may not set `{key}`: the harness gives each run its own secret there"
                ),
            );
        }
        if value.contains('\0') {
            f.add(
                at("env"),
                format!("`stack.worker.env` value of `{key}` holds a NUL byte"),
            );
        }
    }
    if w.port == 0 {
        f.add(
            at("port"),
            "`stack.worker.port` must be the port your service listens on inside its container (1 to 65535)",
        );
    }
    let path = &w.health.path;
    // The path goes into the front door's configuration: one plain token.
    if !path.starts_with('/') || !path.chars().all(|c| c.is_ascii_graphic()) {
        f.add(
            at("health"),
            format!(
                "`stack.worker.health.path` `{}` must start with `/` and hold only visible ASCII (no spaces)",
                path.escape_debug()
            ),
        );
    }
    if !(100..=599).contains(&w.health.status) {
        f.add(
            at("health"),
            format!(
                "`stack.worker.health.status` {} is not an HTTP status (100 to 599)",
                w.health.status
            ),
        );
    }
}

/// Fault kinds made through the worker's fault endpoint of
/// `docs/worker-api.md`, which a service of the user's may lack. Kept here
/// while the fault registry has no word for what a kind needs.
const NEEDS_FAULT_ENDPOINT: [&str; 2] = ["gpu", "oom-kill"];
/// Fault kinds that act on a job (its checkpoints), so need a `workload`.
const NEEDS_JOB: [&str; 1] = ["corrupt-checkpoint"];

/// A scenario without `workload` is a front-door drill: nothing it asks for
/// may need a job, and faults that need the worker's fault endpoint need the
/// reference worker.
fn check_frontdoor_drill(
    s: &Scenario,
    positions: &Positions,
    step_at: &dyn Fn(usize) -> At,
    f: &mut Findings,
) {
    let expect_at = |key: &str| {
        positions
            .expect
            .as_ref()
            .and_then(|e| e.value.get(key).and_then(pos).or_else(|| pos(e)))
    };
    let e = &s.expect;
    let job_checks = [
        ("job_resume", e.job_resume.is_some(), "the job RTO"),
        ("work_lost", e.work_lost.is_some(), "the work lost"),
        ("audio", e.audio.is_some(), "the job's audio"),
        ("job", e.job.is_some(), "how the job ended"),
        (
            "takeovers",
            e.takeovers.is_some(),
            "the lease takeovers in the job's status",
        ),
    ];
    for (key, present, what) in job_checks {
        if present {
            f.add(
                expect_at(key),
                format!(
                    "`expect.{key}` judges {what}, but this scenario has no `workload` (a front-door drill): \
                     no job runs; add a `workload` (the service must speak the job contract of \
                     docs/worker-api.md) or remove `expect.{key}`"
                ),
            );
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        if let Timing::When(cond) = &step.timing {
            f.add(
                step_at(i),
                format!(
                    "step {}: `when: {{progress: {}}}` waits for the job's progress, but this scenario has no \
                     `workload`; time the step with `at` or `after`",
                    i + 1,
                    cond.progress
                ),
            );
        }
        if let Action::Fault(fault) = &step.action {
            let kind = fault.kind();
            if NEEDS_JOB.contains(&kind) {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{kind}` acts on the job's checkpoints, but this scenario has no `workload`",
                        i + 1
                    ),
                );
            } else if NEEDS_FAULT_ENDPOINT.contains(&kind) && !s.stack.worker.is_reference() {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{kind}` is made through the worker's fault endpoint \
                         (docs/worker-api.md), which a service of your own (`stack.worker.image`) \
                         drilled without a `workload` is not expected to have",
                        i + 1
                    ),
                );
            }
        }
    }
}

/// Shortest interval the probes, status polls and health checks may use.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);
/// Most good probes in a row a scenario may ask for before an outage ends.
const MAX_SUSTAIN: usize = 100_000;
/// Longest scenario name.
pub const MAX_NAME_LEN: usize = 100;

/// The scenario name becomes a folder name and a JUnit name: a safe file
/// name only (letters, digits, `.`, `_`, `-`; not `.` or `..`).
fn check_name(name: &str, at: At, f: &mut Findings) {
    let safe = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let only_dots = name.chars().all(|c| c == '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !safe || only_dots {
        f.add(
            at,
            format!(
                "the scenario `name` `{}` must be 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-` (it names the report folder), and not only dots",
                name.escape_debug()
            ),
        );
    }
}

/// Deadlines and the stack's own timings: each must be longer than zero.
fn check_timings(s: &Scenario, positions: &Positions, f: &mut Findings) {
    let deadlines = [
        ("recovery", s.deadlines.recovery.get()),
        ("job", s.deadlines.job.get()),
        ("witness", s.deadlines.witness.get()),
    ];
    for (key, value) in deadlines {
        if value.is_zero() {
            f.add(
                key_at(&positions.deadlines, key, None),
                format!("`deadlines.{key}` must be longer than 0s"),
            );
        }
    }
    let stack_at = positions.stack.as_ref().and_then(pos);
    let stack_key = |pick: fn(&StackPositions) -> &Keys, key: &str| {
        positions
            .stack
            .as_ref()
            .map_or(stack_at, |st| key_at(pick(&st.value), key, stack_at))
    };
    let frontdoor = |key: &str| stack_key(|st| &st.frontdoor, key);
    let worker = |key: &str| stack_key(|st| &st.worker, key);
    let fd = &s.stack.frontdoor;
    if fd.check_interval < MIN_INTERVAL {
        f.add(
            frontdoor("check_interval"),
            format!("`stack.frontdoor.check_interval` must be at least {MIN_INTERVAL:?}"),
        );
    }
    for (key, value) in [("fall", fd.fall), ("rise", fd.rise)] {
        if value == 0 {
            f.add(
                frontdoor(key),
                format!("`stack.frontdoor.{key}` must be at least 1"),
            );
        }
    }
    if !fd.timeout_read.is_zero() && fd.timeout_read >= fd.timeout_server {
        f.add(
            frontdoor("timeout_read"),
            format!(
                "`stack.frontdoor.timeout_read` ({:?}) must be shorter than `timeout_server` ({:?}), \
                 or `0s` to turn the retry of hung reads off",
                fd.timeout_read, fd.timeout_server
            ),
        );
    }
    if fd.kind == crate::stack::FrontdoorKind::Nginx
        && fd.failover == crate::stack::Failover::Manual
    {
        f.add(
            frontdoor("failover"),
            "`stack.frontdoor.failover: manual` cannot work with `kind: nginx`: open-source Nginx \
             has no runtime API to bring a disabled standby in; use `failover: backup` or `kind: haproxy`",
        );
    }
    let w = &s.stack.worker;
    for (key, value) in [("lease_ttl", w.lease_ttl), ("watchdog", w.watchdog)] {
        if value < MIN_INTERVAL {
            f.add(
                worker(key),
                format!("`stack.worker.{key}` must be at least {MIN_INTERVAL:?}"),
            );
        }
    }
}

fn check_script(loaded: &LoadedScenario, at: At, f: &mut Findings) {
    let Some(path) = loaded.script_path() else {
        return;
    };
    match crate::workload::read_script(&path) {
        Ok(script) => {
            if script.turns.is_empty() {
                f.add(at, format!("the script {} has no turns", path.display()));
            }
        }
        Err(e) => f.add(at, e.to_string()),
    }
}

/// Faults and stack options that the chosen runtime cannot honour.
fn check_runtime(
    s: &Scenario,
    positions: &Positions,
    step_at: &dyn Fn(usize) -> At,
    f: &mut Findings,
) {
    let runtime_at = positions
        .stack
        .as_ref()
        .and_then(|st| st.value.runtime.as_ref().and_then(pos).or_else(|| pos(st)));
    match s.stack.runtime {
        RuntimeKind::Process => {}
        RuntimeKind::Kubernetes => return check_kubernetes(s, runtime_at, step_at, f),
        RuntimeKind::Docker => {
            for (i, step) in s.steps.iter().enumerate() {
                if let Action::Fault(fault) = &step.action {
                    if !fault.kind_info().on_docker() {
                        f.add(
                            step_at(i),
                            format!(
                                "step {}: fault `{}` needs `stack.runtime: kubernetes`",
                                i + 1,
                                fault.kind()
                            ),
                        );
                    }
                }
            }
            return;
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        if let Action::Fault(fault) = &step.action {
            if !fault.kind_info().on_docker() {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{}` needs `stack.runtime: kubernetes`",
                        i + 1,
                        fault.kind()
                    ),
                );
            } else if let Some(reason) = fault.kind_info().needs_docker() {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{}` needs `stack.runtime: docker` ({reason}); this scenario runs `stack.runtime: process`",
                        i + 1,
                        fault.kind()
                    ),
                );
            }
        }
    }
    let worker_at = |key: &str| stack_key_at(positions, |st| &st.worker, key);
    let docker_only = [
        (
            "image",
            s.stack.worker.image.is_some(),
            "runs the host's `synth-worker` binary, not images",
        ),
        (
            "command",
            s.stack.worker.command.is_some(),
            "runs the host's `synth-worker` binary, not a command of yours",
        ),
        (
            "port",
            s.stack.worker.port != crate::stack::WORKER_PORT,
            "picks free loopback ports itself",
        ),
    ];
    for (key, set, why) in docker_only {
        if set {
            f.add(
                worker_at(key),
                format!(
                    "`stack.worker.{key}` needs `stack.runtime: docker`: the process runtime {why}"
                ),
            );
        }
    }
    if s.stack.worker.memory_limit.is_some() {
        f.add(
            runtime_at,
            "`stack.worker.memory_limit` needs `stack.runtime: docker` (a container's memory cgroup); remove it or run on Docker",
        );
    }
    if s.stack.data_volume_size.is_some() {
        f.add(
            runtime_at,
            "`stack.data_volume_size` needs `stack.runtime: docker` (a tmpfs volume); the process runtime uses a plain directory",
        );
    }
}

/// Faults and stack options that `runtime: kubernetes` cannot honour.
fn check_kubernetes(s: &Scenario, runtime_at: At, step_at: &dyn Fn(usize) -> At, f: &mut Findings) {
    for (i, step) in s.steps.iter().enumerate() {
        if let Action::Fault(fault) = &step.action {
            if fault.kind() == "oom-kill" && s.stack.worker.memory_limit.is_none() {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: `oom-kill` on Kubernetes needs `stack.worker.memory_limit`: \
                         a pod's limit is set when it is made",
                        i + 1
                    ),
                );
            }
            if !fault.kind_info().kubernetes {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{}` cannot be made on `stack.runtime: kubernetes`; \
                         there: {}",
                        i + 1,
                        fault.kind(),
                        crate::fault::registry::shipped()
                            .filter(|k| k.kubernetes)
                            .map(|k| k.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    let unsupported = [
        (
            s.stack.worker.image.is_some(),
            "`stack.worker.image` (Kubernetes runs the reference worker)",
        ),
        (
            s.stack.frontdoor.kind != crate::stack::FrontdoorKind::Haproxy,
            "`stack.frontdoor.kind: nginx` (Kubernetes runs the HAProxy front door)",
        ),
        (
            s.stack.data_volume_size.is_some(),
            "`stack.data_volume_size` (a Docker tmpfs volume)",
        ),
        (
            s.stack.worker.gpus != crate::stack::Gpus::None,
            "`stack.worker.gpus` (Docker's NVIDIA runtime)",
        ),
    ];
    for (set, what) in unsupported {
        if set {
            f.add(
                runtime_at,
                format!("{what} needs `stack.runtime: docker`; remove it or run on Docker"),
            );
        }
    }
}

fn check_steps(loaded: &LoadedScenario, step_at: &dyn Fn(usize) -> At, f: &mut Findings) {
    let mut left = Leftovers::default();
    let mut last_at = None;
    for (i, step) in loaded.scenario.steps.iter().enumerate() {
        let at = step_at(i);
        if let Timing::At(t) = step.timing {
            if let Some(prev) = last_at {
                if t < prev {
                    f.add(
                        at,
                        format!(
                            "step {}: `at: {t}` is earlier than an earlier step's `at: {prev}`; steps run in order",
                            i + 1
                        ),
                    );
                }
            }
            last_at = Some(t);
        }
        match &step.action {
            Action::Fault(fault) => {
                if let Err(why) = fault.validate() {
                    f.add(at, format!("step {}: {why}", i + 1));
                }
                // What earlier steps left in place (`unpause` needs a `pause`, ...): each kind's `plan`.
                if let Err(why) = fault.as_fault().plan(&mut left) {
                    f.add(at, format!("step {}: {why}", i + 1));
                }
            }
            Action::Wait(_) => {}
            Action::Runbook(rb) => {
                check_runbook_env(i, &rb.env, at, f);
                for name in rb
                    .pass_env
                    .iter()
                    .filter(|n| reserved_env(n) || n.contains(['=', '\0']))
                {
                    f.add(
                        at,
                        format!(
                            "step {}: runbook `pass_env` may not name `{}` (PATH, HOME, LD_* and TAKEOVER_* are the harness's)",
                            i + 1,
                            name.escape_debug()
                        ),
                    );
                }
                let path = loaded.runbook_path(&rb.script);
                if crate::input::confined(loaded.dir(), &rb.script).is_none() {
                    f.add(
                        at,
                        format!(
                            "step {}: runbook script `{}` must be a path inside the scenario's folder (no `..`, not absolute)",
                            i + 1,
                            rb.script.escape_debug()
                        ),
                    );
                } else if !path.is_file() {
                    f.add(
                        at,
                        format!(
                            "step {}: runbook script {} does not exist (paths are relative to the scenario file)",
                            i + 1,
                            path.display()
                        ),
                    );
                }
                if rb.timeout.get().is_zero() {
                    f.add(
                        at,
                        format!("step {}: runbook `timeout` must be longer than 0s", i + 1),
                    );
                }
            }
        }
    }
}

/// Environment names a runbook's `env` may not set: the loader's and the
/// shell's search paths, and the harness's own variables.
fn reserved_env(key: &str) -> bool {
    key.starts_with("LD_")
        || key.starts_with("TAKEOVER_")
        || matches!(key, "PATH" | "HOME" | "IFS" | "ENV" | "BASH_ENV")
}

fn check_runbook_env(i: usize, env: &BTreeMap<String, String>, at: At, f: &mut Findings) {
    for (key, value) in env {
        let bad_name = key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with(|c: char| c.is_ascii_digit());
        if bad_name {
            f.add(
                at,
                format!(
                    "step {}: runbook `env` name `{}` must be letters, digits and `_`, not starting with a digit",
                    i + 1,
                    key.escape_debug()
                ),
            );
        } else if reserved_env(key) {
            f.add(
                at,
                format!(
                    "step {}: runbook `env` may not set `{key}` (PATH, HOME, LD_* and TAKEOVER_* are the harness's)",
                    i + 1
                ),
            );
        }
        if value.contains('\0') {
            f.add(
                at,
                format!(
                    "step {}: runbook `env` value of `{key}` holds a NUL byte",
                    i + 1
                ),
            );
        }
    }
}

fn check_expectations(s: &Scenario, positions: &Positions, f: &mut Findings) {
    let key_at = |key: &str| {
        positions
            .expect
            .as_ref()
            .and_then(|e| e.value.get(key).and_then(pos).or_else(|| pos(e)))
    };
    let has_fault = s
        .steps
        .iter()
        .any(|st| matches!(&st.action, Action::Fault(x) if x.is_disruptive()));
    let needs_fault = [
        ("rto", s.expect.rto.is_some(), "front-door RTO"),
        ("job_resume", s.expect.job_resume.is_some(), "job RTO"),
    ];
    for (key, present, what) in needs_fault {
        if present && !has_fault {
            f.add(
                key_at(key),
                format!(
                    "`expect.{key}` judges the {what}, which is measured from a fault, but no step injects one"
                ),
            );
        }
    }
    for (statistic, limit) in s
        .expect
        .rto
        .as_ref()
        .map(|b| b.limits())
        .unwrap_or_default()
    {
        if limit.get() < s.probe.interval.get() {
            f.add(
                key_at("rto"),
                format!(
                    "`expect.rto` {} of {limit} is shorter than the probe interval {}; it cannot be measured that finely",
                    statistic.name(),
                    s.probe.interval
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse::{load, ScenarioError};
    use std::path::{Path, PathBuf};

    fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
    }

    /// Writes a scenario beside the shipped ones (so `scripts/` resolves) in a temp copy.
    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("takeover-validate-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        // Written aside and renamed: tests run in parallel and read these files.
        let tmp = dir.join(format!(".{name}.{:?}.tmp", std::thread::current().id()));
        std::fs::copy(shipped_dir().join("scripts/night-shift.yaml"), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("scripts/night-shift.yaml")).unwrap();
        let path = dir.join(name);
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    fn problems(name: &str, text: &str) -> Vec<Problem> {
        match load(&write(name, text)) {
            Err(ScenarioError::Invalid { problems }) => problems,
            other => panic!("expected semantic problems, got {other:?}"),
        }
    }

    #[test]
    fn every_shipped_scenario_validates() {
        let mut count = 0;
        for entry in std::fs::read_dir(shipped_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                if let Err(e) = load(&path) {
                    panic!("{} does not validate:\n{}", path.display(), e.render());
                }
                count += 1;
            }
        }
        assert!(count >= 4, "only {count} scenarios shipped");
    }

    #[test]
    fn a_disk_fill_can_be_healed_once() {
        let p = problems(
            "fill.yaml",
            "name: f\nstack: {data_volume_size: 64MiB}\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 2s\n    fault: {kind: disk-fill, target: primary}\n  - after: 1s\n    fault: {kind: heal, target: primary}\n  - after: 1s\n    fault: {kind: heal, target: standby}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.starts_with("step 3"), "{}", p[0]);
    }

    #[test]
    fn a_heal_with_nothing_to_heal_is_located() {
        let p = problems(
            "heal.yaml",
            "name: h\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 2s\n    fault: {kind: kill, target: primary}\n  - after: 1s\n    fault: {kind: heal, target: primary}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("nothing to heal"), "{}", p[0]);
        assert_eq!(p[0].line, Some(7), "{}", p[0]);
    }

    #[test]
    fn an_rto_expectation_without_a_fault_is_refused() {
        let p = problems(
            "nofault.yaml",
            "name: n\nworkload:\n  script: night-shift.yaml\nsteps:\n  - wait: 2s\nexpect:\n  errors: 3\n  rto: 1s\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("expect.rto"), "{}", p[0]);
        assert_eq!(p[0].line, Some(8), "{}", p[0]);
    }

    #[test]
    fn missing_script_and_runbook_files_are_named() {
        let p = problems(
            "missing.yaml",
            "name: m\nworkload:\n  script: no-such-script.yaml\nsteps:\n  - at: 1s\n    fault: {kind: pause, target: primary}\n  - runbook: {script: runbooks/nope.sh}\n  - fault: {kind: unpause, target: primary}\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("no-such-script.yaml"), "{}", p[0]);
        assert_eq!(p[0].line, Some(3));
        assert!(p[1].message.contains("runbooks/nope.sh"), "{}", p[1]);
        assert_eq!(p[1].line, Some(7));
    }

    #[test]
    fn docker_only_faults_on_the_process_runtime_are_located_and_explained() {
        let p = problems(
            "process.yaml",
            "name: p\nstack:\n  runtime: process\n  worker: {memory_limit: 1GiB}\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: kill, target: primary}\n  - at: 2s\n    fault: {kind: partition, target: standby}\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].message
                .contains("fault `partition` needs `stack.runtime: docker`")
                && p[0].message.contains("network namespace")
                && p[0].message.contains("runs `stack.runtime: process`"),
            "{}",
            p[0]
        );
        assert_eq!((p[0].line, p[0].column), (Some(10), Some(5)), "{}", p[0]);
        assert!(p[1].message.contains("memory_limit"), "{}", p[1]);
        assert_eq!(p[1].line, Some(3), "{}", p[1]);
    }

    #[test]
    fn kubernetes_refuses_the_faults_it_cannot_make_and_docker_refuses_pod_kill() {
        let p = problems(
            "k8s.yaml",
            "name: k\nstack:\n  runtime: kubernetes\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: pause, target: primary}\n  - at: 2s\n    fault: {kind: oom-kill, target: primary}\n  - at: 3s\n    fault: {kind: pod-kill, target: primary}\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].message
                .contains("fault `pause` cannot be made on `stack.runtime: kubernetes`")
                && p[0].message.contains("pod-kill"),
            "{}",
            p[0]
        );
        assert_eq!(p[0].line, Some(7), "{}", p[0]);
        assert!(p[1].message.contains("memory_limit"), "{}", p[1]);
        assert_eq!(p[1].line, Some(9), "{}", p[1]);
        let p = problems(
            "docker.yaml",
            "name: d\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: pod-kill, target: primary}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message
                .contains("`pod-kill` needs `stack.runtime: kubernetes`"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn node_loss_takes_a_worker_on_kubernetes_and_docker_refuses_it() {
        let p = problems(
            "k8s-node.yaml",
            "name: k\nstack:\n  runtime: kubernetes\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: node-loss, target: primary}\n  - at: 2s\n    fault: {kind: heal, target: primary}\n  - at: 3s\n    fault: {kind: node-loss, target: state}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("worker target"), "{}", p[0]);
        assert_eq!((p[0].line, p[0].column), (Some(11), Some(5)), "{}", p[0]);
        assert!(
            p[0].to_string().contains("k8s-node.yaml:11:5: step 3"),
            "{}",
            p[0]
        );
        let p = problems(
            "docker-node.yaml",
            "name: d\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: node-loss, target: primary}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message
                .contains("`node-loss` needs `stack.runtime: kubernetes`"),
            "{}",
            p[0]
        );
        assert_eq!(p[0].line, Some(5), "{}", p[0]);
    }

    #[test]
    fn steps_out_of_order_and_bad_targets_are_refused() {
        let p = problems(
            "order.yaml",
            "name: o\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 5s\n    fault: {kind: kill, target: primary}\n  - at: 2s\n    fault: {kind: oom-kill, target: state}\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("earlier"), "{}", p[0]);
        assert!(p[1].message.contains("worker target"), "{}", p[1]);
    }

    const BASE: &str = "name: v\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {kind: kill, target: primary}\n";

    #[test]
    fn unsafe_scenario_names_are_refused_at_their_line() {
        for name in [
            "../../x",
            "/tmp/abs",
            "\"\"",
            "\"a\\nb\"",
            "\"a\\0b\"",
            "..",
            "a b",
            &"n".repeat(101),
        ] {
            let text = BASE.replacen("name: v", &format!("name: {name}"), 1);
            let p = problems("name.yaml", &text);
            assert_eq!(p.len(), 1, "{name}: {p:?}");
            assert!(p[0].message.contains("scenario `name`"), "{}", p[0]);
            assert_eq!(p[0].line, Some(1), "{}", p[0]);
        }
        for name in ["kill-primary", "v1.2_x", &"n".repeat(100)] {
            let text = BASE.replacen("name: v", &format!("name: {name}"), 1);
            load(&write("name-ok.yaml", &text)).unwrap();
        }
    }

    #[test]
    fn each_faults_own_checks_run_at_validate_time() {
        let cases = [
            ("{kind: loss, target: primary, percent: 0}", "percent"),
            ("{kind: loss, target: primary, percent: 150}", "percent"),
            ("{kind: loss, target: primary, percent: -3}", "percent"),
            (
                "{kind: kill, target: primary, signal: SIGBOGUS}",
                "unknown signal",
            ),
            ("{kind: gpu, target: primary, fault: xid}", "xid"),
            (
                "{kind: partition, target: primary, peers: [primary]}",
                "itself",
            ),
            (
                "{kind: partition, target: primary, peers: [standby], method: disconnect}",
                "disconnect",
            ),
            ("{kind: bandwidth, target: primary, rate: abc}", "tc rate"),
        ];
        for (fault, words) in cases {
            let text = format!(
                "name: f\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 1s\n    fault: {fault}\n  - after: 1s\n    fault: {{kind: heal}}\n"
            );
            let p = problems("fault.yaml", &text);
            assert!(
                p.iter()
                    .any(|p| p.message.contains(words) && p.line == Some(5)),
                "{fault}: {p:?}"
            );
        }
    }

    const OWN: &str = "name: own\nstack:\n  worker:\n    image: my-service:1\n    command: [/bin/httpd, -f, -p, \"9000\"]\n    env: {GREETING: hello}\n    port: 9000\n    health: {path: /healthz, status: 204}\nsteps:\n  - at: 1s\n    fault: {kind: kill, target: primary}\nexpect:\n  rto: 5s\n  errors: 50\n  markdowns: 1\n";

    #[test]
    fn a_frontdoor_drill_of_an_image_of_ones_own_validates() {
        let loaded = load(&write("own.yaml", OWN)).unwrap();
        let w = &loaded.scenario.stack.worker;
        assert_eq!(w.image.as_deref(), Some("my-service:1"));
        assert_eq!(w.port, 9000);
        assert_eq!(w.health.path, "/healthz");
        assert_eq!(w.health.status, 204);
        assert!(loaded.scenario.workload.is_none());
        assert!(loaded.script_path().is_none());
    }

    #[test]
    fn job_checks_in_a_frontdoor_drill_are_refused_where_they_are_written() {
        let text = OWN.replace(
            "  markdowns: 1\n",
            "  job_resume: 5s\n  work_lost: 1 chunk\n  audio: exact\n  job: done\n  takeovers: 1\n",
        );
        let p = problems("own-job.yaml", &text);
        assert_eq!(p.len(), 5, "{p:?}");
        for (problem, (key, line)) in p.iter().zip([
            ("job_resume", 15),
            ("work_lost", 16),
            ("audio", 17),
            ("job", 18),
            ("takeovers", 19),
        ]) {
            assert!(
                problem.message.contains(&format!("`expect.{key}`"))
                    && problem.message.contains("no `workload`"),
                "{problem}"
            );
            assert_eq!(problem.line, Some(line), "{problem}");
        }
        let text = OWN.replace("  - at: 1s\n", "  - when: {progress: 30%}\n");
        let p = problems("own-when.yaml", &text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("`when: {progress: 30%}`"), "{}", p[0]);
        assert_eq!(p[0].line, Some(10), "{}", p[0]);
        let text = OWN.replace(
            "{kind: kill, target: primary}",
            "{kind: oom-kill, target: primary}",
        );
        let p = problems("own-oom.yaml", &text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("fault endpoint"), "{}", p[0]);
    }

    #[test]
    fn host_layout_problems_are_refused_where_they_are_written() {
        let p = problems(
            "hosts-bad.yaml",
            "name: hosts-bad\nworkload: {script: scripts/night-shift.yaml}\nstack:\n  hosts:\n    h1: {docker: \"unix:///run/takeover-tb/h1/docker.sock\", address: 198.18.0.6}\n    far:\n      docker: \"tcp://10.1.2.3:2375\"\n      address: 10.1.2.3\n  placement: {primary: h1, standby: far, frontdoor: h1, state: h7}\nsteps:\n  - at: 1s\n    fault: {kind: partition, target: primary}\n",
        );
        let lines: Vec<(Option<u64>, &str)> =
            p.iter().map(|p| (p.line, p.message.as_str())).collect();
        let find = |needle: &str| {
            lines
                .iter()
                .find(|(_, m)| m.contains(needle))
                .unwrap_or_else(|| panic!("no problem mentions {needle}: {lines:#?}"))
                .0
        };
        assert_eq!(find("`stack.hosts.far.docker`"), Some(7));
        assert_eq!(find("`stack.hosts.far.address`"), Some(8));
        assert_eq!(find("`stack.placement.state`"), Some(9));
        assert_eq!(find("`stack.checkpoints`"), Some(4));
        assert_eq!(find("fault `partition` is not available"), Some(11));
        assert_eq!(p.len(), 5, "{lines:#?}");
        assert!(p[0].column.is_some());
    }

    /// `tls` on a socket engine is refused at its key; a TLS file that is
    /// not there is refused at its own key, named by its path resolved
    /// against the scenario's folder; plain TCP to another machine is
    /// accepted with a warning at the engine's line.
    #[test]
    fn tls_keys_are_checked_where_they_are_written() {
        let text = "name: tls\nworkload: {script: scripts/night-shift.yaml}\nstack:\n  hosts:\n    h1:\n      docker: \"unix:///run/takeover-tb/h1/docker.sock\"\n      address: 198.18.0.6\n      tls: {ca: tls-ca.pem, cert: tls-ca.pem, key: tls-key.pem}\n    h2:\n      docker: \"tcp://198.18.0.10:2376\"\n      address: 198.18.0.10\n      tls:\n        ca: tls-ca.pem\n        cert: missing/cert.pem\n        key: tls-key.pem\n  placement: {primary: h1, standby: h2, frontdoor: h2, state: h2}\n";
        let path = write("tls-bad.yaml", text);
        let dir = path.parent().unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.join("tls-ca.pem"), cert).unwrap();
        std::fs::write(
            dir.join("tls-key.pem"),
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let p = match load(&path) {
            Err(ScenarioError::Invalid { problems }) => problems,
            other => panic!("expected semantic problems, got {other:?}"),
        };
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p.iter()
                .all(|p| p.column.is_some() && p.file.ends_with("tls-bad.yaml")),
            "{p:#?}"
        );
        let tls_on_socket = p
            .iter()
            .find(|p| p.message.contains("`stack.hosts.h1.tls`"))
            .unwrap_or_else(|| panic!("{p:#?}"));
        assert!(tls_on_socket.message.contains("`tcp://` engine"));
        assert_eq!(tls_on_socket.line, Some(8));
        let missing = p
            .iter()
            .find(|p| p.message.contains("`stack.hosts.h2.tls.cert`"))
            .unwrap_or_else(|| panic!("{p:#?}"));
        let full = dir.join("missing/cert.pem").display().to_string();
        assert!(missing.message.contains(&full), "{missing}");
        assert_eq!(missing.line, Some(14), "{missing}");

        // Both fixed, the layout loads; with h2 on another machine over
        // plain TCP it loads too, with a warning at h2's engine.
        let good = text
            .replace(
                "      tls: {ca: tls-ca.pem, cert: tls-ca.pem, key: tls-key.pem}\n",
                "",
            )
            .replace("missing/cert.pem", "tls-ca.pem");
        let loaded = load(&write("tls-good.yaml", &good)).unwrap();
        let tls = loaded.scenario.stack.hosts["h2"].tls.as_ref().unwrap();
        assert_eq!(
            tls.key,
            dir.join("tls-key.pem"),
            "resolved against the scenario"
        );
        assert!(warnings(&loaded).is_empty());
        let plain = good
            .replace("tcp://198.18.0.10:2376", "tcp://10.9.8.7:2375")
            .replace("      tls:\n        ca: tls-ca.pem\n        cert: tls-ca.pem\n        key: tls-key.pem\n", "")
            .replace("address: 198.18.0.10", "address: 10.9.8.7")
            .replace("stack:\n", "stack:\n  allow_remote: true\n  checkpoints: {host_path: /mnt/shared}\n");
        let loaded = load(&write("tls-plain.yaml", &plain)).unwrap();
        let w = warnings(&loaded);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(w[0].message.contains("--tlsverify"), "{}", w[0]);
        assert_eq!(w[0].line, Some(11), "{}", w[0]);
    }

    #[test]
    fn allow_remote_without_hosts_is_refused() {
        let p = problems(
            "remote-alone.yaml",
            "name: remote-alone\nworkload: {script: scripts/night-shift.yaml}\nstack:\n  allow_remote: true\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (Some(4), Some(17)));
    }

    #[test]
    fn contradictory_worker_settings_are_refused_where_they_are_written() {
        let cases = [
            (
                "  images: {worker: takeover-worker:x}\n",
                "both name the worker image",
                9,
            ),
            ("  images: {worker_binary: /bin/true}\n", "worker_binary", 9),
            ("  worker:\n    image: a b\n", "not an image reference", 9),
            (
                "  worker:\n    command: [x]\n",
                "needs `stack.worker.image`",
                9,
            ),
            (
                "  worker:\n    image: s:1\n    command: []\n",
                "must name a program",
                10,
            ),
            (
                "  worker:\n    env: {SYNTH_WORKER_FAULT_TOKEN: x}\n",
                "own secret",
                9,
            ),
            ("  worker:\n    env: {\"1X\": x}\n", "letters, digits", 9),
            ("  worker:\n    port: 0\n", "1 to 65535", 9),
            (
                "  worker:\n    health: {path: \"/a b\"}\n",
                "visible ASCII",
                9,
            ),
            (
                "  worker:\n    health: {status: 42}\n",
                "not an HTTP status",
                9,
            ),
            (
                "  worker:\n    image: s:1\n    lease_ttl: 3s\n",
                "option of the reference worker",
                10,
            ),
        ];
        for (stack, words, line) in cases {
            let text = format!("{BASE}stack:\n{stack}");
            let text = if stack.contains("images:") {
                format!("{BASE}stack:\n  worker: {{image: s:1}}\n{stack}")
            } else {
                text
            };
            let p = problems("worker.yaml", &text);
            assert_eq!(p.len(), 1, "{stack}: {p:?}");
            assert!(p[0].message.contains(words), "{stack}: {}", p[0]);
            assert_eq!(p[0].line, Some(line), "{stack}: {}", p[0]);
        }
        let process = format!(
            "{BASE}stack:\n  runtime: process\n  worker:\n    image: s:1\n    port: 9000\n"
        );
        let p = problems("worker-process.yaml", &process);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].message
                .contains("`stack.worker.image` needs `stack.runtime: docker`"),
            "{}",
            p[0]
        );
        assert_eq!(p[0].line, Some(10), "{}", p[0]);
        assert!(p[1].message.contains("`stack.worker.port`"), "{}", p[1]);
    }

    #[test]
    fn manual_failover_with_nginx_is_refused_where_it_is_written() {
        let text = format!("{BASE}stack:\n  frontdoor:\n    kind: nginx\n    failover: manual\n");
        let p = problems("nginx-manual.yaml", &text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("runtime API"), "{}", p[0]);
        assert_eq!(p[0].line, Some(10), "{}", p[0]);
        let ok = format!("{BASE}stack:\n  frontdoor: {{kind: nginx}}\n");
        assert!(load(&write("nginx.yaml", &ok)).is_ok());
    }

    #[test]
    fn zero_and_absurd_timings_are_refused_where_they_are_written() {
        let cases = [
            (
                "workload:\n  script: night-shift.yaml\n  status_interval: 0s\n",
                "status_interval",
                4,
            ),
            ("probe: {timeout: 0s}\n", "`timeout`", 7),
            ("probe:\n  interval: 50us\n", "`interval`", 8),
            ("probe:\n  sustain: 18446744073709551615\n", "`sustain`", 8),
            ("deadlines:\n  witness: 0s\n", "deadlines.witness", 8),
            ("stack:\n  worker: {lease_ttl: 0s}\n", "lease_ttl", 8),
            (
                "stack:\n  frontdoor:\n    check_interval: 0s\n",
                "check_interval",
                9,
            ),
            ("expect:\n  rto: {p50: 1ms}\n", "p50", 8),
            (
                "stack:\n  frontdoor:\n    timeout_server: 1s\n    timeout_read: 2s\n",
                "timeout_read",
                10,
            ),
        ];
        for (extra, words, line) in cases {
            let text = if extra.starts_with("workload") {
                BASE.replacen("workload:\n  script: night-shift.yaml\n", extra, 1)
            } else {
                format!("{BASE}{extra}")
            };
            let p = problems("timing.yaml", &text);
            assert_eq!(p.len(), 1, "{extra}: {p:?}");
            assert!(p[0].message.contains(words), "{extra}: {}", p[0]);
            assert_eq!(p[0].line, Some(line), "{extra}: {}", p[0]);
        }
    }

    #[test]
    fn runbooks_outside_the_scenario_folder_and_unsafe_env_are_refused() {
        let cases = [
            ("{script: /etc/passwd}", "inside the scenario's folder"),
            ("{script: ../x.sh}", "inside the scenario's folder"),
            ("{script: r.sh, env: {LD_PRELOAD: /tmp/x.so}}", "LD_PRELOAD"),
            ("{script: r.sh, env: {PATH: /tmp}}", "`PATH`"),
            ("{script: r.sh, env: {\"A=B\": x}}", "env` name"),
            ("{script: r.sh, env: {A: \"x\\0y\"}}", "NUL"),
        ];
        let dir = write("rb-base.yaml", BASE).parent().unwrap().to_path_buf();
        std::fs::write(dir.join("r.sh"), "#!/bin/sh\n").unwrap();
        for (runbook, words) in cases {
            let text = format!("{BASE}  - runbook: {runbook}\n");
            let p = problems("runbook.yaml", &text);
            assert_eq!(p.len(), 1, "{runbook}: {p:?}");
            assert!(p[0].message.contains(words), "{runbook}: {}", p[0]);
            assert_eq!(p[0].line, Some(7), "{runbook}: {}", p[0]);
        }
    }
}
