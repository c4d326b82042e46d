//! The drill: every iteration of a scenario on its own fresh stack, then the
//! summary, the verdicts and `report.json`.
//!
//! [`iteration`] carries one iteration out (stack, probes, job, steps,
//! recovery, audio, teardown); [`figures`] and [`judge`] turn what it recorded
//! into figures and verdicts (pure, tested on recorded data).

pub mod audio;
pub mod failovers;
pub mod figures;
pub mod frontdoor_account;
pub mod iteration;
pub mod judge;
pub mod live_runs;
pub mod progress;
pub mod runbook;
pub mod sweep;

use std::path::PathBuf;

pub use live_runs::LiveRuns;
pub use progress::{ProgressMode, Ui};

use crate::report::model::{
    Environment, IterationOutcome, Report, RunOutcome, ScenarioRecord, ToolInfo, SCHEMA_VERSION,
};
use crate::scenario::LoadedScenario;

/// How `takeover run` runs a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Iterations, overriding the scenario's.
    pub iterations: Option<u32>,
    /// Where the report goes.
    pub report_dir: PathBuf,
    /// Where uninterrupted reference audio is cached.
    pub cache_dir: PathBuf,
    /// Leave the stack of a failed iteration running.
    pub keep_on_failure: bool,
    /// Keep audio and manifest of every iteration.
    pub keep_artifacts: bool,
}

/// Why a scenario could not be run at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The workload's script could not be read.
    #[error(transparent)]
    Script(#[from] crate::workload::ScriptError),
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] crate::report::json::ReportJsonError),
}

/// What a run produced.
pub struct RunResult {
    /// The report, as written.
    pub report: Report,
    /// Where `report.json` is.
    pub report_path: PathBuf,
}

/// The engine's API version in use and its version, when it answers.
async fn docker_facts() -> (Option<String>, Option<String>) {
    match crate::stack::docker::connect().await {
        Ok(docker) => match docker.version().await {
            Ok(v) => (Some(docker.client_version().to_string()), v.version),
            Err(_) => (Some(docker.client_version().to_string()), None),
        },
        Err(_) => (None, None),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Runs every iteration of `loaded` and writes `report.json` into the report directory.
/// `live_runs` always names the stacks alive now, so that an interrupt can remove them.
///
/// Each iteration after the first gets a stack brought up while the last one
/// is torn down (the two overlap; the drill starts only once the old stack
/// is gone), so the harness's own share of a run is shorter than the sum of
/// its iterations' phases.
pub async fn run_scenario(
    loaded: &LoadedScenario,
    opts: &RunOptions,
    ui: &mut Ui,
    live_runs: LiveRuns,
) -> Result<RunResult, RunError> {
    let scenario = &loaded.scenario;
    let started_at = chrono::Utc::now();
    let job = match (&scenario.workload, loaded.script_path()) {
        (Some(workload), Some(path)) => Some(iteration::JobPlan::new(
            workload,
            crate::workload::read_script(&path)?,
        )),
        _ => None,
    };
    let total = opts.iterations.unwrap_or(scenario.iterations).max(1);
    let plan = iteration::Plan {
        loaded,
        job,
        report_dir: opts.report_dir.clone(),
        cache_dir: opts.cache_dir.clone(),
        keep_on_failure: opts.keep_on_failure,
        keep_artifacts: opts.keep_artifacts,
        live_runs,
    };

    let mut iterations = Vec::new();
    let mut environment = Environment {
        host: host_name(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Environment::default()
    };
    (environment.docker_api_version, environment.docker_version) = docker_facts().await;
    let mut artifacts = Vec::new();
    let mut run_id = String::new();
    let mut launched = None;
    for index in 1..=total {
        let (result, next) =
            iteration::run_iteration(&plan, index, total, ui, launched.take(), index < total).await;
        launched = next;
        if run_id.is_empty() {
            run_id = result.iteration.run_id.clone();
        }
        environment.backend = environment.backend.or(result.backend);
        environment.worker_image = environment.worker_image.or(result.worker_image);
        artifacts.extend(result.artifacts);
        let outcome = result.iteration.outcome;
        ui.result(&format!(
            "{} {index}/{total}: {}{}",
            scenario.name,
            outcome_word(outcome),
            result
                .iteration
                .figures
                .rto_ms
                .map(|r| format!(", RTO {r:.0} ms"))
                .unwrap_or_default()
        ));
        iterations.push(result.iteration);
        if result.environment_error || result.kept_stack {
            break;
        }
    }
    if let Some(unused) = launched {
        unused.discard(&plan).await;
    }

    let probe_ms = scenario.probe.interval.as_millis_f64();
    let not_applicable = judge::not_applicable(scenario);
    let summary = judge::summarize_applicable(&iterations, &not_applicable);
    let chunk_frames = scenario.workload.as_ref().map_or(0, |w| w.chunk_frames);
    let expectations = judge::judge(&scenario.expect, chunk_frames, &iterations, &summary);
    let outcome = judge::outcome(&iterations, &expectations);
    let mut definition = serde_json::to_value(scenario).unwrap_or_default();
    definition["iterations"] = serde_json::json!(total);
    let report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        run_id,
        scenario: ScenarioRecord {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: loaded.path.display().to_string(),
            definition,
        },
        started_at,
        ended_at: chrono::Utc::now(),
        environment,
        probe_interval_ms: probe_ms,
        iterations,
        summary,
        expectations,
        outcome,
        exit_code: outcome.exit_code(),
        artifacts,
        not_applicable,
    };
    let report_path = crate::report::json::write(&report, &opts.report_dir)?;
    Ok(RunResult {
        report,
        report_path,
    })
}

fn outcome_word(o: IterationOutcome) -> &'static str {
    match o {
        IterationOutcome::Passed => "passed",
        IterationOutcome::Failed => "FAILED",
        IterationOutcome::Inconclusive => "inconclusive",
        IterationOutcome::Error => "error",
    }
}

/// One line per expectation and the verdict, for the terminal.
pub fn verdict_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for e in &report.expectations {
        let word = match e.verdict {
            crate::report::model::Verdict::Held => "held  ",
            crate::report::model::Verdict::Failed => "FAILED",
            crate::report::model::Verdict::Inconclusive => "n/a   ",
        };
        lines.push(format!("  {word} {:<16} {}", e.name, e.evidence));
    }
    for it in &report.iterations {
        for r in &it.reasons {
            lines.push(format!("  iteration {}: {r}", it.index));
        }
    }
    let verdict = match report.outcome {
        RunOutcome::Passed => "PASSED",
        RunOutcome::Failed => "FAILED",
        RunOutcome::Inconclusive => "INCONCLUSIVE",
        RunOutcome::Error => "ERROR",
    };
    if report.is_frontdoor_only() {
        let checks: Vec<&str> = report
            .not_applicable
            .iter()
            .map(|n| n.check.as_str())
            .collect();
        lines.push(format!(
            "  front-door drill (no job): the verdict rests on the front-door figures only; not applicable: {}",
            checks.join(", ")
        ));
    }
    let skipped = judge::skipped_faults(&report.iterations);
    if !skipped.is_empty() {
        lines.push(format!(
            "  skipped (cannot be made on this machine): {}",
            skipped.join("; ")
        ));
    }
    lines.push(format!(
        "{}: {verdict} (exit {})",
        report.scenario.name, report.exit_code
    ));
    lines
}
