//! Running a sweep: the shipped fault and no-fault scenarios, loaded once,
//! with each setting applied in memory and checked by the scenario
//! validation, run through the same drill machinery as `takeover run`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::grid::Setting;
use super::table::{Cell, FaultCell, SteadyCell};
use crate::run::{ProgressMode, RunOptions, Ui};
use crate::scenario::{self, LoadedScenario, ScenarioError};

/// The faults a sweep can drill, each by its shipped `<fault>-primary.yaml`.
pub const FAULTS: [&str; 3] = ["kill", "pause", "partition"];

/// The shipped no-fault scenario that counts false failovers.
pub const STEADY_SCENARIO: &str = "steady-state.yaml";

/// What a sweep runs, besides its settings.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Where the shipped scenarios are (`scenarios`).
    pub scenarios_dir: PathBuf,
    /// Faults to drill, from [`FAULTS`], in table order.
    pub faults: Vec<String>,
    /// Iterations of each fault per setting.
    pub iterations: u32,
    /// Iterations of the no-fault drill per setting (0: none).
    pub steady: u32,
    /// The job's length, overriding the scenarios' `workload.pace`.
    pub pace: Option<Duration>,
    /// Where every run's report goes (`<out>/<setting>/<scenario>/`).
    pub out_dir: PathBuf,
    /// Where uninterrupted reference audio is cached.
    pub cache_dir: PathBuf,
}

/// Why a sweep cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A shipped scenario could not be read.
    #[error("{}", .0.render())]
    Scenario(ScenarioError),
    /// A setting makes a scenario invalid.
    #[error("setting {setting} is not valid for {file}:\n{problems}")]
    Setting {
        /// The setting.
        setting: String,
        /// The scenario file.
        file: String,
        /// The scenario validation's findings.
        problems: String,
    },
    /// A fault not in [`FAULTS`].
    #[error("unknown fault {0:?}: a sweep drills kill, pause and partition")]
    UnknownFault(String),
    /// A run failed to produce a report.
    #[error("{setting}: {scenario}: {source}")]
    Run {
        /// The setting.
        setting: String,
        /// The scenario.
        scenario: String,
        /// Why (boxed: a run error is large, and this enum is returned often).
        source: Box<crate::run::RunError>,
    },
}

/// One scenario under one setting, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `kill`, `pause`, `partition`, or `None` for the no-fault drill.
    pub fault: Option<String>,
    /// The scenario with the setting applied.
    pub loaded: LoadedScenario,
    /// Iterations to run.
    pub iterations: u32,
}

/// The shipped scenario of `fault` (or of the no-fault drill).
pub fn scenario_file(dir: &Path, fault: Option<&str>) -> PathBuf {
    match fault {
        Some(f) => dir.join(format!("{f}-primary.yaml")),
        None => dir.join(STEADY_SCENARIO),
    }
}

/// Loads each scenario once and applies every setting to a copy, checking
/// each copy with the scenario validation, before anything runs. The result
/// has one list per setting, the faults in order, then the no-fault drill.
pub fn prepare(plan: &SweepPlan, settings: &[Setting]) -> Result<Vec<Vec<Prepared>>, SweepError> {
    let mut bases = Vec::new();
    for f in &plan.faults {
        if !FAULTS.contains(&f.as_str()) {
            return Err(SweepError::UnknownFault(f.clone()));
        }
        bases.push((Some(f.clone()), plan.iterations));
    }
    if plan.steady > 0 {
        bases.push((None, plan.steady));
    }
    let loaded: Vec<(Option<String>, u32, LoadedScenario)> = bases
        .into_iter()
        .map(|(fault, n)| {
            let file = scenario_file(&plan.scenarios_dir, fault.as_deref());
            scenario::load(&file)
                .map(|l| (fault, n, l))
                .map_err(SweepError::Scenario)
        })
        .collect::<Result<_, _>>()?;
    settings
        .iter()
        .map(|setting| {
            loaded
                .iter()
                .map(|(fault, iterations, base)| {
                    let l = with_setting(base, setting, plan.pace)?;
                    Ok(Prepared {
                        fault: fault.clone(),
                        loaded: l,
                        iterations: *iterations,
                    })
                })
                .collect()
        })
        .collect()
}

/// A copy of `base` with `setting` and the pace applied, validated again.
fn with_setting(
    base: &LoadedScenario,
    setting: &Setting,
    pace: Option<Duration>,
) -> Result<LoadedScenario, SweepError> {
    let mut l = base.clone();
    setting.apply(&mut l.scenario.stack);
    if let (Some(p), Some(workload)) = (pace, l.scenario.workload.as_mut()) {
        workload.pace = Some(p.into());
    }
    let problems = scenario::validate::check(&l);
    if problems.is_empty() {
        return Ok(l);
    }
    Err(SweepError::Setting {
        setting: setting.to_string(),
        file: l.path.display().to_string(),
        problems: problems
            .iter()
            .map(|p| format!("  {}", p.message))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// Runs one setting's scenarios and gathers its cell. `progress` gets a line
/// before and after each run; `live_runs` names the stacks alive now (for
/// an interrupt).
pub async fn run_setting(
    plan: &SweepPlan,
    setting: &Setting,
    runs: &[Prepared],
    live_runs: crate::run::LiveRuns,
    progress: &mut dyn FnMut(&str),
) -> Result<Cell, SweepError> {
    let mut cell = Cell {
        setting: setting.clone(),
        shipped: setting.is_shipped(),
        faults: Vec::new(),
        steady: None,
    };
    for p in runs {
        let name = p.loaded.scenario.name.clone();
        progress(&format!("{setting}: {name} x{} ...", p.iterations));
        let opts = RunOptions {
            iterations: Some(p.iterations),
            report_dir: plan.out_dir.join(setting.slug()).join(&name),
            cache_dir: plan.cache_dir.clone(),
            keep_on_failure: false,
            keep_artifacts: false,
        };
        let mut ui = Ui::new(ProgressMode::Quiet);
        let done = crate::run::run_scenario(&p.loaded, &opts, &mut ui, live_runs.clone())
            .await
            .map_err(|source| SweepError::Run {
                setting: setting.to_string(),
                scenario: name.clone(),
                source: Box::new(source),
            })?;
        let path = done.report_path.display().to_string();
        match &p.fault {
            Some(f) => {
                let c = FaultCell::from_report(f, &done.report, &path);
                progress(&format!(
                    "{setting}: {name}: outage p50 {} / p99 {} ms, failed probes max {}, {}/{} passed",
                    opt(c.outage_p50_ms),
                    opt(c.outage_p99_ms),
                    opt(c.failed_probes_max),
                    c.passed,
                    c.iterations
                ));
                cell.faults.push(c);
            }
            None => {
                let c = SteadyCell::from_report(&done.report, &path);
                progress(&format!(
                    "{setting}: {name}: {} false mark-downs, {} false takeovers, {} failed probes, {}/{} passed",
                    c.false_markdowns, c.false_takeovers, c.failed_probes, c.passed, c.iterations
                ));
                cell.steady = Some(c);
            }
        }
    }
    Ok(cell)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.0}"))
}

#[cfg(test)]
mod tests {
    use super::super::grid::{Grid, Knob};
    use super::*;

    fn plan(faults: &[&str], steady: u32) -> SweepPlan {
        SweepPlan {
            scenarios_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")),
            faults: faults.iter().map(|s| s.to_string()).collect(),
            iterations: 2,
            steady,
            pace: Some(Duration::from_secs(12)),
            out_dir: PathBuf::from("/nonexistent"),
            cache_dir: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn every_setting_gets_its_own_copy_of_each_shipped_scenario() {
        let settings = Grid::small_default().expand().unwrap();
        let runs = prepare(&plan(&["kill", "pause"], 3), &settings).unwrap();
        assert_eq!(runs.len(), 4);
        for (setting, list) in settings.iter().zip(&runs) {
            let names: Vec<&str> = list
                .iter()
                .map(|p| p.loaded.scenario.name.as_str())
                .collect();
            assert_eq!(names, ["kill-primary", "pause-primary", "steady-state"]);
            assert_eq!(
                list.iter().map(|p| p.iterations).collect::<Vec<_>>(),
                [2, 2, 3]
            );
            for p in list {
                let stack = &p.loaded.scenario.stack;
                assert_eq!(
                    Some(Knob::CheckInterval.get(stack)),
                    setting.get(Knob::CheckInterval)
                );
                assert_eq!(Some(Knob::Fall.get(stack)), setting.get(Knob::Fall));
                assert_eq!(
                    p.loaded
                        .scenario
                        .workload
                        .as_ref()
                        .and_then(|w| w.pace)
                        .map(|d| d.get()),
                    Some(Duration::from_secs(12))
                );
            }
        }
    }

    #[test]
    fn an_invalid_setting_is_refused_by_the_scenario_validation() {
        let mut g = Grid::default();
        g.counts(Knob::Fall, &[2, 0]);
        let err = prepare(&plan(&["kill"], 0), &g.expand().unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("setting fall=0 is not valid for "),
            "{text}"
        );
        assert!(
            text.contains("`stack.frontdoor.fall` must be at least 1"),
            "{text}"
        );
    }

    #[test]
    fn unknown_faults_and_missing_scenarios_are_clear() {
        let err = prepare(&plan(&["oom"], 0), &[Setting::default()]).unwrap_err();
        assert!(
            err.to_string().contains("kill, pause and partition"),
            "{err}"
        );
        let mut p = plan(&["kill"], 0);
        p.scenarios_dir = PathBuf::from("/nonexistent");
        let err = prepare(&p, &[Setting::default()]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/kill-primary.yaml"),
            "{err}"
        );
    }
}
