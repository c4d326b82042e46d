//! What a scenario file says, as Rust types.
//!
//! Every struct refuses unknown keys (`deny_unknown_fields`) so that a typo is
//! an error with a line and column, never a silently ignored setting. The
//! types derive `JsonSchema`, which is what `takeover schema` prints.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::HumanDuration;
use crate::fault::FaultSpec;
use crate::stack::StackSpec;

/// One drill: the stack, the job it runs, the probes, the steps, the expectations.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in report directories and JUnit test names: 1 to 100
    /// letters, digits, `.`, `_` or `-` (not only dots).
    #[schemars(pattern(r"^[A-Za-z0-9._-]{1,100}$"), length(min = 1, max = 100))]
    pub name: String,
    /// What the drill checks and why its expectations are what they are.
    #[serde(default)]
    pub description: String,
    /// The stack under test (images, front door, worker options).
    #[serde(default)]
    pub stack: StackSpec,
    /// The long job submitted through the front door before the faults. Leave
    /// it out for a front-door drill (a service that does not speak the job
    /// contract of `docs/worker-api.md`): RTO, outage, errors and the front
    /// door's events are measured; job RTO, work lost and the audio are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSpec>,
    /// The steady stream of requests through the front door that RTO is measured from.
    #[serde(default)]
    pub probe: ProbeSpec,
    /// What happens during the drill, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold for the drill to pass.
    #[serde(default)]
    pub expect: Expectations,
    /// How many times the drill runs, each on a fresh stack (`--iterations` overrides).
    #[serde(default = "default_iterations")]
    pub iterations: u32,
    /// How long the harness waits for things before it gives up.
    #[serde(default)]
    pub deadlines: Deadlines,
}

impl Scenario {
    /// The path the probes request: `probe.path`, or else the workers' own
    /// health path (`stack.worker.health.path`).
    pub fn probe_path(&self) -> &str {
        self.probe
            .path
            .as_deref()
            .unwrap_or(&self.stack.worker.health.path)
    }
}

fn default_iterations() -> u32 {
    1
}

/// The job a drill runs: a dialogue script, synthesized through the front door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The dialogue script: a file name in `scripts/` beside the scenario file, or
    /// a path relative to the scenario file.
    pub script: String,
    /// Seed of the synthesis; overrides the script's own seed when given.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Wall time the whole job should take (the worker is slowed to it), so that a
    /// fault lands mid-job on any machine. Absent: the job runs as fast as it can.
    #[serde(default)]
    pub pace: Option<HumanDuration>,
    /// Frames committed together as one chunk: the most a kill can lose.
    /// Drills commit every frame (about 0.13 s of audio) unless told otherwise.
    #[serde(default = "default_chunk_frames")]
    pub chunk_frames: u32,
    /// How often the job's status is polled through the front door.
    #[serde(default = "default_status_interval")]
    pub status_interval: HumanDuration,
}

/// The chunk a drill asks for: one frame, so a kill loses at most 0.13 s of
/// audio (the worker API's own default, [`contract::DEFAULT_CHUNK_FRAMES`],
/// is 8 frames for clients that prefer fewer commits).
pub const DRILL_CHUNK_FRAMES: u32 = 1;

fn default_chunk_frames() -> u32 {
    DRILL_CHUNK_FRAMES
}

fn default_status_interval() -> HumanDuration {
    HumanDuration::from_millis(100)
}

/// The availability probes sent through the front door on a fixed schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// HTTP path requested on the front door; a 2xx answer is a good probe
    /// (default: the workers' health path, `stack.worker.health.path`, which
    /// is `/health` for the reference worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Time between scheduled probes; the gap between the probes around a
    /// recovery is the measured error bound of each RTO.
    #[serde(default = "default_probe_interval")]
    pub interval: HumanDuration,
    /// A probe without an answer after this long counts as failed.
    #[serde(default = "default_probe_timeout")]
    pub timeout: HumanDuration,
    /// Consecutive good probes that mark service as recovered.
    #[serde(default = "default_sustain")]
    pub sustain: usize,
}

fn default_probe_interval() -> HumanDuration {
    HumanDuration::from_millis(20)
}
fn default_probe_timeout() -> HumanDuration {
    HumanDuration::from_millis(1000)
}
fn default_sustain() -> usize {
    10
}

impl Default for ProbeSpec {
    fn default() -> Self {
        Self {
            path: None,
            interval: default_probe_interval(),
            timeout: default_probe_timeout(),
            sustain: default_sustain(),
        }
    }
}

/// Limits on how long an iteration may wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// After the last fault, how long service may take to come back through the front door.
    #[serde(default = "default_recovery_deadline")]
    pub recovery: HumanDuration,
    /// How long the whole job may take, from its submission to `done`.
    #[serde(default = "default_job_deadline")]
    pub job: HumanDuration,
    /// How long a fault may take to show its witness (a `die` event, `OOMKilled`, ...).
    #[serde(default = "default_witness_deadline")]
    pub witness: HumanDuration,
}

fn default_recovery_deadline() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_job_deadline() -> HumanDuration {
    HumanDuration::from_secs(180)
}
fn default_witness_deadline() -> HumanDuration {
    HumanDuration::from_secs(10)
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            recovery: default_recovery_deadline(),
            job: default_job_deadline(),
            witness: default_witness_deadline(),
        }
    }
}

/// One step of a drill: when it happens and what it does.
///
/// Written as a mapping with at most one timing key (`at`, `when`, `after`) and
/// exactly one action key (`fault`, `wait`, `runbook`). Without a timing key the
/// step starts as soon as the previous one has finished.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RawStep", into = "RawStep")]
#[schemars(with = "RawStep")]
pub struct Step {
    /// When the step starts.
    pub timing: Timing,
    /// What it does.
    pub action: Action,
}

/// When a step starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// As soon as the previous step has finished.
    Next,
    /// This long after the job was submitted.
    At(HumanDuration),
    /// This long after the previous step finished.
    After(HumanDuration),
    /// When a condition holds (checked on every job status poll).
    When(Condition),
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Inject (or heal) a fault.
    Fault(FaultSpec),
    /// Do nothing for this long.
    Wait(HumanDuration),
    /// Run an operator's script against the stack.
    Runbook(RunbookSpec),
}

impl Action {
    /// A short word for logs and reports: the fault kind, `wait` or `runbook`.
    pub fn label(&self) -> String {
        match self {
            Action::Fault(f) => fault_kind_name(f),
            Action::Wait(d) => format!("wait {d}"),
            Action::Runbook(r) => format!("runbook {}", r.script),
        }
    }
}

/// The kebab-case kind of a fault, as written in the scenario (`oom-kill`).
pub fn fault_kind_name(fault: &FaultSpec) -> String {
    serde_json::to_value(fault)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "fault".to_string())
}

/// The mapping a step is written as; [`Step`] is built from it after checking
/// that its keys make sense together.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Start this long after the job was submitted (`at: 5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<HumanDuration>,
    /// Start this long after the previous step finished (`after: 3s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<HumanDuration>,
    /// Start when a condition holds (`when: {progress: 30%}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// Inject a fault (`fault: {kind: kill, target: primary}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultSpec>,
    /// Wait this long (`wait: 2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<HumanDuration>,
    /// Run an operator's runbook script (`runbook: {script: promote.sh, timeout: 60s}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<RunbookSpec>,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        let timing = match (raw.at, raw.after, raw.when) {
            (None, None, None) => Timing::Next,
            (Some(at), None, None) => Timing::At(at),
            (None, Some(after), None) => Timing::After(after),
            (None, None, Some(when)) => Timing::When(when),
            _ => {
                return Err("a step takes at most one of `at`, `after` and `when`".to_string());
            }
        };
        let action = match (raw.fault, raw.wait, raw.runbook) {
            (Some(f), None, None) => Action::Fault(f),
            (None, Some(w), None) => Action::Wait(w),
            (None, None, Some(r)) => Action::Runbook(r),
            (None, None, None) => {
                return Err(
                    "a step needs an action: one of `fault`, `wait` or `runbook`".to_string(),
                );
            }
            _ => {
                return Err(
                    "a step takes exactly one action: `fault`, `wait` or `runbook`".to_string(),
                );
            }
        };
        Ok(Step { timing, action })
    }
}

impl From<Step> for RawStep {
    fn from(step: Step) -> Self {
        let mut raw = RawStep::default();
        match step.timing {
            Timing::Next => {}
            Timing::At(d) => raw.at = Some(d),
            Timing::After(d) => raw.after = Some(d),
            Timing::When(c) => raw.when = Some(c),
        }
        match step.action {
            Action::Fault(f) => raw.fault = Some(f),
            Action::Wait(d) => raw.wait = Some(d),
            Action::Runbook(r) => raw.runbook = Some(r),
        }
        raw
    }
}

/// A condition on the drill's state that starts a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The job has committed at least this share of its frames (`30%`).
    pub progress: Percent,
}

/// A share written as `30%` (or a number from 0 to 100).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    /// The share as a fraction from 0 to 1.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a share from 0% to 100%, like `30%`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Percent, E> {
                let number = v.trim().strip_suffix('%').unwrap_or(v).trim();
                let value: f64 = number
                    .parse()
                    .map_err(|_| E::custom(format!("`{v}` is not a share: write it like `30%`")))?;
                self.visit_f64(value)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Percent, E> {
                if (0.0..=100.0).contains(&v) {
                    Ok(Percent(v))
                } else {
                    Err(E::custom(format!(
                        "{v}% is outside 0% to 100%: write a share like `30%`"
                    )))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$"},
                {"type": "number", "minimum": 0, "maximum": 100}
            ],
            "description": "A share from 0% to 100%, like `30%`."
        })
    }
}

/// An operator's script run as a drill step (issue 7: runbook validation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookSpec {
    /// The script, relative to the scenario file. It runs with the stack's URLs in its
    /// environment (`TAKEOVER_FRONTDOOR_URL`, `TAKEOVER_PRIMARY_URL`, ...).
    pub script: String,
    /// The script is killed after this long and the step counts as failed.
    #[serde(default = "default_runbook_timeout")]
    pub timeout: HumanDuration,
    /// Extra environment variables for the script. It gets only these, the
    /// `TAKEOVER_*` variables, `PATH` and `HOME` (and `pass_env`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of the harness's own environment variables passed through to the
    /// script (e.g. `KUBECONFIG`); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_env: Vec<String>,
    /// Whether the drill fails when the script exits non-zero (default true).
    #[serde(default = "default_true")]
    pub must_succeed: bool,
}

fn default_runbook_timeout() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_true() -> bool {
    true
}

/// What must hold for a drill to pass. Every key is optional; a drill with no
/// expectations passes when its faults took effect and its job finished.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Front-door RTO: the outage's onset (the earlier of the fault's witness
    /// and the first probe that failed after it was requested) to the first of
    /// a sustained run of good probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<Bound>,
    /// Outage: the first failed probe to the first of a sustained run of good
    /// probes (what clients saw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<Bound>,
    /// Job RTO: the outage's onset to the job's committed progress moving again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_resume: Option<Bound>,
    /// Most work computed twice in any iteration (`1 chunk`, `8 frames`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_lost: Option<WorkAmount>,
    /// Most failed probes in any iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// How the job's final audio is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioExpectation>,
    /// How the job must end (`done`, or `failed` for a drill where failing safe is right).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobExpectation>,
    /// Most lease takeovers (new epochs in the job's status) in any iteration;
    /// `0` in a drill with no fault catches false failovers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeovers: Option<u64>,
    /// Most times HAProxy marked the primary down in any iteration; `0` in a
    /// drill with no fault catches false mark-downs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdowns: Option<u64>,
}

/// The state a drilled job must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobEndState {
    /// Every chunk committed.
    Done,
    /// The worker gave up on the job with an error (failing safe).
    Failed,
}

/// How the job must end: a state, and for `failed` words its error must contain.
///
/// Written `job: done`, `job: failed` or `job: {state: failed, error_contains: checkpoint}`.
/// A job expected to fail must also not claim all its frames (no audio served as complete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobExpectationSpec {
    /// The state the job must end in.
    pub state: JobEndState,
    /// Text the job's error must contain (case-insensitive); only with `state: failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_contains: Option<String>,
}

/// How the job must end; see [`JobExpectationSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(with = "JobExpectationShape")]
#[serde(transparent)]
pub struct JobExpectation(pub JobExpectationSpec);

/// The two ways a [`JobExpectation`] may be written (for the JSON Schema only).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum JobExpectationShape {
    State(JobEndState),
    Full(JobExpectationSpec),
}

impl JobExpectation {
    /// The job is expected to fail.
    pub fn expects_failure(&self) -> bool {
        self.0.state == JobEndState::Failed
    }
}

impl<'de> Deserialize<'de> for JobExpectation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JobExpectation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`done`, `failed` or `{state: failed, error_contains: ...}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<JobExpectation, E> {
                let state =
                    JobEndState::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(JobExpectation(JobExpectationSpec {
                    state,
                    error_contains: None,
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<JobExpectation, A::Error> {
                let spec = JobExpectationSpec::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                if spec.state == JobEndState::Done && spec.error_contains.is_some() {
                    return Err(serde::de::Error::custom(
                        "`error_contains` only goes with `state: failed`",
                    ));
                }
                Ok(JobExpectation(spec))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How the final audio is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioExpectation {
    /// Bit-identical to an uninterrupted reference run of the same script and seed.
    Exact,
    /// Manifest complete and contiguous, hashes right, no discontinuity at any seam.
    Structural,
}

/// A time limit on a figure, over the iterations of a drill.
///
/// Written either as a duration (`3s`: every iteration, i.e. the maximum) or as
/// percentiles (`{p95: 1s, max: 2s}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BoundSpec {
    /// Limit on the median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<HumanDuration>,
    /// Limit on the 95th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<HumanDuration>,
    /// Limit on the 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    /// Limit on the worst iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
}

/// A time limit on a figure; see [`BoundSpec`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(with = "BoundShape")]
#[serde(transparent)]
pub struct Bound(pub BoundSpec);

/// The two ways a [`Bound`] may be written (for the JSON Schema only).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum BoundShape {
    Every(HumanDuration),
    Percentiles(BoundSpec),
}

impl Bound {
    /// The statistics limited, in a fixed order: (name, limit).
    pub fn limits(&self) -> Vec<(Statistic, HumanDuration)> {
        let b = &self.0;
        [
            (Statistic::P50, b.p50),
            (Statistic::P95, b.p95),
            (Statistic::P99, b.p99),
            (Statistic::Max, b.max),
        ]
        .into_iter()
        .filter_map(|(s, d)| d.map(|d| (s, d)))
        .collect()
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bound;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration (`3s`) or percentiles (`{p95: 1s}`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bound, E> {
                let max: HumanDuration = v.parse().map_err(E::custom)?;
                Ok(Bound(BoundSpec {
                    max: Some(max),
                    ..BoundSpec::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Bound, A::Error> {
                let spec =
                    BoundSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                if spec == BoundSpec::default() {
                    return Err(serde::de::Error::custom(
                        "name at least one of p50, p95, p99, max",
                    ));
                }
                Ok(Bound(spec))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A statistic over the iterations of a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Worst iteration.
    Max,
}

impl Statistic {
    /// The name as written in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::P50 => "p50",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
            Statistic::Max => "max",
        }
    }
}

/// An amount of synthesis work, written `1 chunk`, `3 chunks`, `8 frames` or `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkAmount {
    /// How many units.
    pub count: u64,
    /// Which unit.
    pub unit: WorkUnit,
}

/// The unit of a [`WorkAmount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkUnit {
    /// Latent frames (3200 samples each).
    Frames,
    /// Chunks of `chunk_frames` frames.
    Chunks,
}

impl WorkAmount {
    /// The amount in frames, given the workload's chunk size.
    pub fn frames(self, chunk_frames: u32) -> u64 {
        match self.unit {
            WorkUnit::Frames => self.count,
            // Saturates: no job has that many frames, so the limit still reads as "any".
            WorkUnit::Chunks => self.count.saturating_mul(u64::from(chunk_frames)),
        }
    }
}

impl fmt::Display for WorkAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.unit {
            WorkUnit::Frames => ("frame", "frames"),
            WorkUnit::Chunks => ("chunk", "chunks"),
        };
        write!(
            f,
            "{} {}",
            self.count,
            if self.count == 1 { one } else { many }
        )
    }
}

impl std::str::FromStr for WorkAmount {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        let bad =
            || format!("`{v}` is not an amount of work: write `1 chunk`, `2 chunks` or `8 frames`");
        let mut parts = v.split_whitespace();
        let count: u64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let unit = match parts.next() {
            None if count == 0 => WorkUnit::Frames,
            Some("chunk" | "chunks") => WorkUnit::Chunks,
            Some("frame" | "frames") => WorkUnit::Frames,
            _ => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(WorkAmount { count, unit })
    }
}

impl Serialize for WorkAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WorkAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WorkAmount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount of work like `1 chunk` or `8 frames`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WorkAmount, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WorkAmount, E> {
                if v == 0 {
                    Ok(WorkAmount {
                        count: 0,
                        unit: WorkUnit::Frames,
                    })
                } else {
                    Err(E::custom(format!(
                        "`{v}` has no unit: write `{v} chunks` or `{v} frames`"
                    )))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for WorkAmount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WorkAmount".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]+\s+(chunk|chunks|frame|frames)\s*$"},
                {"const": 0}
            ],
            "description": "An amount of work: `1 chunk`, `2 chunks`, `8 frames`, or 0."
        })
    }
}

#[cfg(test)]
mod job_expectation_tests {
    use super::*;

    fn expect_of(yaml: &str) -> Result<Expectations, String> {
        let text = format!("name: t\nworkload:\n  script: s.yaml\nexpect:\n{yaml}");
        crate::scenario::parse_str(&text, "t.yaml")
            .map(|s| s.expect)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn job_expectation_reads_as_a_word_or_a_mapping() {
        let e = expect_of("  job: done\n").unwrap();
        assert_eq!(e.job.unwrap().0.state, JobEndState::Done);
        let e = expect_of("  job: {state: failed, error_contains: checkpoint}\n").unwrap();
        let job = e.job.unwrap();
        assert!(job.expects_failure());
        assert_eq!(job.0.error_contains.as_deref(), Some("checkpoint"));
    }

    #[test]
    fn job_expectation_mistakes_are_refused() {
        let err = expect_of("  job: exploded\n").unwrap_err();
        assert!(err.contains("exploded"), "{err}");
        let err = expect_of("  job: {state: done, error_contains: x}\n").unwrap_err();
        assert!(err.contains("error_contains"), "{err}");
        let err = expect_of("  job: {state: failed, eror: x}\n").unwrap_err();
        assert!(err.contains("eror"), "{err}");
    }
}
