//! The structure of `report.json`: everything one `takeover run` of one scenario
//! measured, judged and decided.
//!
//! Field names are part of the tool's interface (CI scripts, `takeover compare`,
//! `takeover report` and the HTML/Markdown/JUnit renderers read them), so they
//! only ever grow: a change that renames or removes a field bumps
//! [`SCHEMA_VERSION`]. Times inside an iteration are milliseconds since that
//! iteration's start, on one monotonic clock; wall times are RFC 3339 UTC.
//! Every figure's name ends with its unit (`rto_ms`, `work_lost_frames`).
//! `docs/report-format.md` documents each field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of the report layout; bumped only when a field is renamed or removed.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report of one scenario run (all its iterations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Layout version ([`SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: ToolInfo,
    /// Id of this run; each iteration's stack has its own id (see [`Iteration::run_id`]).
    pub run_id: String,
    /// The scenario as it was run.
    pub scenario: ScenarioRecord,
    /// Wall time the run started.
    pub started_at: DateTime<Utc>,
    /// Wall time the run ended.
    pub ended_at: DateTime<Utc>,
    /// Where the run happened.
    pub environment: Environment,
    /// Time between scheduled probes, in ms: the error bound of every RTO figure.
    pub probe_interval_ms: f64,
    /// One entry per iteration, in order.
    pub iterations: Vec<Iteration>,
    /// Figures across iterations.
    pub summary: Summary,
    /// Each expectation of the scenario with its verdict.
    pub expectations: Vec<ExpectationResult>,
    /// The verdict of the whole run.
    pub outcome: RunOutcome,
    /// The process exit code that goes with [`Report::outcome`].
    pub exit_code: u8,
    /// Files written beside the report (audio, manifests, logs), relative to the report directory.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// The checks that did not apply to this drill, each with why (a
    /// front-door drill has no job: no job RTO, work lost or audio check).
    /// Absent when every check applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<NotApplicable>,
}

/// A check that did not apply to a drill, and why: it was neither run nor
/// counted towards the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotApplicable {
    /// The check: a figure's name (`job_rto_ms`, `work_lost_frames`) or
    /// `audio`, `job`, `takeovers`.
    pub check: String,
    /// Why it did not apply, in a sentence.
    pub reason: String,
}

impl Report {
    /// Whether this was a front-door drill (no job): its verdict rests on the
    /// front-door figures only.
    pub fn is_frontdoor_only(&self) -> bool {
        !self.not_applicable.is_empty()
    }
}

/// What every renderer says of a front-door drill's verdict.
pub const FRONTDOOR_ONLY_VERDICT: &str = "This was a front-door drill (no job): the verdict rests \
     on the front-door figures only (RTO, outage, failed probes, the front door's events); the \
     checks below did not run and count for nothing.";

/// Name and version of the program that wrote a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Always `takeover`.
    pub name: String,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: String,
}

impl ToolInfo {
    /// This build of the tool.
    pub fn current() -> Self {
        Self {
            name: "takeover".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The scenario a report belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// The scenario's `name`.
    pub name: String,
    /// Its `description`.
    #[serde(default)]
    pub description: String,
    /// The file it was read from, as given on the command line.
    pub file: String,
    /// The parsed scenario with every default filled in and overrides applied
    /// (`--iterations`). Kept as JSON so that old reports stay readable when the
    /// scenario format grows.
    pub definition: serde_json::Value,
}

/// Where a run happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Docker engine API version in use (after negotiation), e.g. `1.41`.
    pub docker_api_version: Option<String>,
    /// Docker engine version, e.g. `20.10.24`.
    pub docker_version: Option<String>,
    /// The synthesis backend the workers reported (`cpu`, `cuda`).
    pub backend: Option<String>,
    /// Host name of the machine running the harness.
    pub host: String,
    /// Operating system and architecture (`linux x86_64`).
    pub os: String,
    /// Logical CPUs of the harness machine.
    pub cpus: usize,
    /// Image id of the worker image (what an exact-audio reference is tied to).
    pub worker_image: Option<String>,
}

/// The verdict of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Every iteration ran and every expectation held: exit 0.
    Passed,
    /// An expectation failed or an iteration failed: exit 1.
    Failed,
    /// No failure, but some fault was not proven to take effect: exit 3.
    Inconclusive,
    /// The run could not be carried out (stack did not start, ...): exit 2.
    Error,
}

impl RunOutcome {
    /// The exit code CI sees for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Passed => crate::exit::PASSED,
            RunOutcome::Failed => crate::exit::FAILED,
            RunOutcome::Inconclusive => crate::exit::INCONCLUSIVE,
            RunOutcome::Error => crate::exit::BAD_INPUT,
        }
    }

    /// The process outcome for this run outcome.
    pub fn to_exit_outcome(self) -> crate::exit::Outcome {
        match self {
            RunOutcome::Passed => crate::exit::Outcome::Passed,
            RunOutcome::Failed => crate::exit::Outcome::Failed,
            RunOutcome::Inconclusive => crate::exit::Outcome::Inconclusive,
            RunOutcome::Error => crate::exit::Outcome::BadInput,
        }
    }
}

impl RunOutcome {
    /// The lowercase word report.json uses (`passed`, `failed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Passed => "passed",
            RunOutcome::Failed => "failed",
            RunOutcome::Inconclusive => "inconclusive",
            RunOutcome::Error => "error",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict of one iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IterationOutcome {
    /// Every fault took effect, service and job recovered, the audio checked out.
    Passed,
    /// A fault was not proven to take effect (no witness): no verdict possible.
    Inconclusive,
    /// Recovery or the job failed, or the audio is not intact.
    Failed,
    /// The harness could not carry the iteration out (stack did not start, ...).
    Error,
}

impl IterationOutcome {
    /// The lowercase word report.json uses (`passed`, `failed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IterationOutcome::Passed => "passed",
            IterationOutcome::Inconclusive => "inconclusive",
            IterationOutcome::Failed => "failed",
            IterationOutcome::Error => "error",
        }
    }
}

impl std::fmt::Display for IterationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One iteration of a drill, on its own fresh stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    /// 1-based number of the iteration.
    pub index: u32,
    /// The stack's run id (the `takeover.run` label on its Docker objects).
    pub run_id: String,
    /// Wall time the iteration started (its time zero).
    pub started_at: DateTime<Utc>,
    /// How long it took, in ms.
    pub duration_ms: f64,
    /// Its verdict.
    pub outcome: IterationOutcome,
    /// Why it did not pass (empty when it passed).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Everything that happened, in time order.
    pub events: Vec<Event>,
    /// Its figures.
    pub figures: Figures,
    /// Each fault step and what happened to it.
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// Each runbook step and its output.
    #[serde(default)]
    pub runbooks: Vec<RunbookRecord>,
    /// The probes through the front door.
    pub probes: ProbeSeries,
    /// The job's progress as polled through the front door.
    #[serde(default)]
    pub job: Option<JobRecord>,
    /// HAProxy's view of its servers, read during the iteration.
    #[serde(default)]
    pub frontdoor: Vec<FrontdoorSample>,
    /// The front door's own account of every failed probe, from its request log.
    #[serde(default)]
    pub frontdoor_accounts: Vec<FrontdoorAccount>,
    /// The check of the job's final audio, when one ran.
    #[serde(default)]
    pub audio: Option<AudioRecord>,
    /// Time the iteration spent in each phase, in ms (stack_up, job, teardown, ...).
    #[serde(default)]
    pub phases_ms: BTreeMap<String, f64>,
}

pub use crate::timeline::{Event, EventKind};

/// The figures of one iteration. `None` means "not measured" (no fault, no
/// recovery within the deadline, ...); the reasons say which.
///
/// Times are measured from the outage's **onset**: the earlier of the fault's
/// witness and the first probe sent after the fault was requested that failed
/// (`docs/report-format.md` gives each figure's recipe from the stored probes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Front-door RTO: onset to the first probe of the sustained good run, in ms.
    pub rto_ms: Option<f64>,
    /// Job RTO: onset to the job's committed progress moving again, in ms.
    pub job_rto_ms: Option<f64>,
    /// Frames synthesized more than once (work lost to the takeover).
    pub work_lost_frames: Option<u64>,
    /// Failed probes (no answer, timeout or non-2xx) during the iteration.
    pub errors: u64,
    /// Fault requested to its witness, in ms; the same as `witness_delay_ms`,
    /// kept under this name for readers of earlier reports.
    pub fault_effect_delay_ms: Option<f64>,
    /// Onset to the front door marking the primary down, in ms.
    pub detect_ms: Option<f64>,
    /// First failed probe (sent after the fault was requested) to the first
    /// probe of the sustained good run, in ms: the outage clients saw (0 when
    /// no probe failed).
    #[serde(default)]
    pub outage_ms: Option<f64>,
    /// Fault requested to its witness, in ms.
    #[serde(default)]
    pub witness_delay_ms: Option<f64>,
    /// When the outage began, in ms since the iteration's start.
    #[serde(default)]
    pub onset_ms: Option<f64>,
    /// What showed the outage first: `witness` or `failed_probe`.
    #[serde(default)]
    pub onset: Option<crate::timeline::OnsetSource>,
    /// The measured error bound of each time figure, by figure name
    /// (`rto_ms`, `outage_ms`, `job_rto_ms`), in ms: the gap around the
    /// recovery in which the truth lies, plus the witness's uncertainty
    /// (request to witness) when the witness is the onset.
    #[serde(default)]
    pub error_bounds_ms: BTreeMap<String, f64>,
    /// Probe latency before, during and after the outage.
    pub latency: LatencySplit,
    /// Total probes sent.
    pub probes: u64,
}

/// Probe latencies split around the outage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySplit {
    /// Before the first fault was in effect.
    pub before: LatencySummary,
    /// From the fault to the sustained recovery.
    pub during: LatencySummary,
    /// After the recovery.
    pub after: LatencySummary,
}

/// Percentiles of probe latency (timed from each probe's scheduled send time), in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Probes counted.
    pub count: u64,
    /// Median, in ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile, in ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, in ms.
    pub p99_ms: Option<f64>,
    /// Slowest, in ms.
    pub max_ms: Option<f64>,
}

/// What happened to one fault step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// 0-based index of the step in the scenario.
    pub step: usize,
    /// Fault kind as written in the scenario (`oom-kill`).
    pub kind: String,
    /// The container it targets (`primary`, `standby`, `frontdoor`, `state`).
    pub target: String,
    /// When the harness asked for it, in ms.
    pub requested_at_ms: f64,
    /// When its witness shows it took effect, in ms; absent means no witness.
    pub in_effect_at_ms: Option<f64>,
    /// The witness (`oom event, exit 137, OOMKilled=true`).
    pub witness: Option<String>,
    /// Raw evidence (container state, rule counters, the worker's fault report).
    #[serde(default)]
    pub evidence: serde_json::Value,
    /// Why the fault could not be made here, when it could not (the step was skipped).
    pub unavailable: Option<String>,
    /// An error from the injection itself.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a runbook step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookRecord {
    /// 0-based index of the step.
    pub step: usize,
    /// The script, as named in the scenario.
    pub script: String,
    /// Start, in ms.
    pub started_at_ms: f64,
    /// End, in ms.
    pub ended_at_ms: f64,
    /// Exit code; absent when it was killed.
    pub exit_code: Option<i32>,
    /// It ran past its timeout and was killed.
    pub timed_out: bool,
    /// The timeout it ran under, in ms.
    #[serde(default)]
    pub timeout_ms: Option<f64>,
    /// Its standard output (the last 64 KiB).
    pub stdout: String,
    /// Its standard error (the last 64 KiB).
    pub stderr: String,
}

impl RunbookRecord {
    /// How it ended, in words: `exit code 0 after 1.7s` or
    /// `timed out after 20s and was killed (no exit code)`.
    pub fn ending(&self) -> String {
        let took = (self.ended_at_ms - self.started_at_ms) / 1000.0;
        match (self.timed_out, self.exit_code) {
            (true, _) => format!(
                "timed out after {} and was killed (no exit code)",
                self.timeout_ms
                    .map(|t| format!("{}s", t / 1000.0))
                    .unwrap_or_else(|| format!("{took:.1}s"))
            ),
            (false, Some(code)) => format!("exit code {code} after {took:.1}s"),
            (false, None) => format!("killed by a signal after {took:.1}s (no exit code)"),
        }
    }
}

/// The probes of an iteration, stored column by column to keep the file small.
/// Entry `i` of every column belongs to probe `i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeSeries {
    /// The path probed.
    pub path: String,
    /// Interval between scheduled probes, in ms.
    pub interval_ms: f64,
    /// When each probe was due, in ms.
    pub scheduled_ms: Vec<f64>,
    /// When each probe actually left, in ms (empty in reports written before this column).
    #[serde(default)]
    pub sent_ms: Vec<f64>,
    /// Latency of each probe from its scheduled time, in ms (up to the timeout when it failed).
    pub latency_ms: Vec<f64>,
    /// HTTP status of each probe, 0 when there was no answer.
    pub status: Vec<u16>,
    /// Whether each probe was good.
    pub ok: Vec<bool>,
    /// The server that answered each probe by the front door's own request log
    /// (`primary`, `standby`; empty when it has no record); empty in reports
    /// written before this column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub served_by: Vec<String>,
    /// The errors of failed probes: (probe index, message); the same message is kept once per run of failures.
    #[serde(default)]
    pub errors: Vec<(usize, String)>,
}

/// The drill's job as followed through the front door.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id the worker gave it.
    pub id: String,
    /// The script file.
    pub script: String,
    /// The seed.
    pub seed: u64,
    /// Frames the script needs.
    pub frames_total: u64,
    /// Frames per chunk.
    pub chunk_frames: u32,
    /// Wall seconds per audio second the job was paced to, if paced.
    pub pace_rtf: Option<f64>,
    /// Final state (`done`, `failed`, or `running` when the deadline passed;
    /// `unknown` when no poll answered).
    pub final_state: super::state::JobSeen,
    /// The job's error, when it failed.
    pub error: Option<String>,
    /// Status polls, in order.
    pub samples: Vec<JobSample>,
}

/// One poll of the job's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSample {
    /// When the answer came, in ms.
    pub at_ms: f64,
    /// Frames committed.
    pub frames_done: u64,
    /// State (`queued`, `running`, `done`, `failed`), or `unreachable` when the poll failed.
    pub state: super::state::JobSeen,
    /// Worker holding the lease.
    pub owner: Option<String>,
    /// Lease epoch.
    pub epoch: u64,
    /// Frames lost to takeovers so far, as the worker reports.
    pub frames_lost: u64,
    /// Frames the answering worker synthesized since it claimed the job.
    #[serde(default)]
    pub frames_synthesized: u64,
}

/// HAProxy's view of one server at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontdoorSample {
    /// When it was read, in ms.
    pub at_ms: f64,
    /// Server name (`primary`, `standby`).
    pub server: String,
    /// HAProxy's status (`UP`, `DOWN`, `MAINT`, `UP 1/3`, ...).
    pub status: super::state::ServerStatus,
    /// Whether it is the backup server.
    pub backup: bool,
}

/// The front door's own account of one failed probe: its request-log line
/// beside what the prober saw, so a reader can tell whose failure it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontdoorAccount {
    /// The probe's index in the probe columns.
    pub probe: u64,
    /// When the prober sent it, in ms.
    pub sent_ms: f64,
    /// What the prober saw (`HTTP 502`, `timeout after 1000 ms`).
    pub prober_saw: String,
    /// Whose failure the two records point to.
    pub finding: AccountFinding,
    /// When the front door accepted it, in ms (absent when it has no record).
    pub accepted_ms: Option<f64>,
    /// HAProxy's log line for it, parsed (absent when it has no record).
    pub frontdoor: Option<crate::stack::haproxy_log::FrontdoorLogLine>,
}

/// What the front door's record says about a probe the prober counted as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountFinding {
    /// The front door failed it too (an error status or an aborted stream): the stack's failure.
    FrontdoorFailed,
    /// The front door answered it with a 2xx, but only after the prober had
    /// waited as long as it does (it held the request on a stuck server): the stack's failure.
    FrontdoorTooLate,
    /// The front door answered it with a 2xx in time: the failure arose between the front door and the prober.
    FrontdoorAnswered,
    /// The front door has no record of it: it never reached HAProxy (or was still open at the end).
    NotSeen,
}

/// The audio check of one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRecord {
    /// `exact` or `structural`.
    pub mode: String,
    /// Whether the audio is intact.
    pub intact: bool,
    /// Where the reference came from, for `exact` (a cache file, a fresh run).
    pub reference: Option<String>,
    /// The verifier's full verdict (`verify::AudioVerdict`, serialized as is):
    /// every check with its evidence, and the seams.
    pub verdict: serde_json::Value,
    /// The candidate audio and manifest kept beside the report, if kept.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

/// Figures across the iterations of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Iterations run.
    pub iterations: u32,
    /// Iterations per outcome (`passed`, `failed`, `inconclusive`, `error`).
    pub outcomes: BTreeMap<String, u32>,
    /// Distribution of each figure across iterations, keyed by the figure's
    /// name (`rto_ms`, `job_rto_ms`, `work_lost_frames`, `errors`,
    /// `fault_effect_delay_ms`, `detect_ms`).
    pub figures: BTreeMap<String, Distribution>,
}

/// A figure's distribution across iterations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// The figure's unit (`ms`, `frames`, `probes`).
    pub unit: String,
    /// Iterations that produced a value.
    pub count: u32,
    /// Iterations that did not (no recovery, no witness, ...).
    pub missing: u32,
    /// Smallest value.
    pub min: Option<f64>,
    /// Median (nearest rank).
    pub p50: Option<f64>,
    /// 95th percentile (nearest rank).
    pub p95: Option<f64>,
    /// 99th percentile (nearest rank).
    pub p99: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// How far each value may be from the truth, in the figure's unit: the
    /// largest of the iterations' measured bounds (`Figures::error_bounds_ms`).
    pub error_bound: Option<f64>,
}

/// Verdict of one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The measured value is within the threshold.
    Held,
    /// The measured value is beyond the threshold, or the figure could not be produced
    /// because the system never recovered.
    Failed,
    /// No value to judge (every iteration was inconclusive).
    Inconclusive,
}

/// One expectation of the scenario, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// Name as in the scenario, with the statistic (`rto.p95`, `job_resume.max`, `audio`).
    pub name: String,
    /// The figure judged (`rto_ms`, `job_rto_ms`, `work_lost_frames`, `errors`, `audio_intact`).
    pub figure: String,
    /// The statistic across iterations (`p50`, `p95`, `p99`, `max`), or `all` for per-iteration checks.
    pub statistic: String,
    /// The limit, in `unit` (for `audio_intact`, 1 means intact).
    pub threshold: f64,
    /// What was measured, in `unit`; absent when nothing could be measured.
    pub measured: Option<f64>,
    /// Unit of `threshold` and `measured`.
    pub unit: String,
    /// The verdict.
    pub verdict: Verdict,
    /// A sentence saying why, with the figures.
    pub evidence: String,
}

impl Summary {
    /// The distribution of `figure` across iterations, when the summary has it.
    pub fn figure(&self, figure: super::figure::Figure) -> Option<&Distribution> {
        self.figures.get(figure.as_str())
    }
}

impl Figures {
    /// Records the measured error bound of `figure`.
    pub fn set_error_bound(&mut self, figure: super::figure::Figure, bound_ms: f64) {
        self.error_bounds_ms
            .insert(figure.as_str().to_string(), bound_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_words_are_the_serialized_names() {
        for o in [
            RunOutcome::Passed,
            RunOutcome::Failed,
            RunOutcome::Inconclusive,
            RunOutcome::Error,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        for o in [
            IterationOutcome::Passed,
            IterationOutcome::Failed,
            IterationOutcome::Inconclusive,
            IterationOutcome::Error,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.to_string());
        }
    }
}
