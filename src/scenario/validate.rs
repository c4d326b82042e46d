//! Checks that a well-formed scenario makes sense as a drill: the files it names
//! exist, heals have something to heal, expectations judge figures the steps can
//! produce, timings run forward.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::model::{Action, Scenario, Timing};
use super::parse::{LoadedScenario, Problem};
use crate::fault::FaultSpec;
use crate::stack::Role;

/// Where the parts of a scenario are in its file (a second, lenient pass over
/// the YAML that keeps positions only).
#[derive(Debug, Default, Deserialize)]
struct Positions {
    #[serde(default)]
    workload: Option<Spanned<WorkloadPositions>>,
    #[serde(default)]
    probe: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    steps: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    expect: Option<Spanned<BTreeMap<String, Spanned<IgnoredAny>>>>,
    #[serde(default)]
    iterations: Option<Spanned<IgnoredAny>>,
}

#[derive(Debug, Default, Deserialize)]
struct WorkloadPositions {
    #[serde(default)]
    script: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    chunk_frames: Option<Spanned<IgnoredAny>>,
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

    check_script(loaded, script_at, &mut f);
    if s.workload.chunk_frames == 0 {
        let at = positions
            .workload
            .as_ref()
            .and_then(|w| w.value.chunk_frames.as_ref().and_then(pos));
        f.add(at, "`chunk_frames` must be at least 1");
    }
    if s.iterations == 0 {
        f.add(
            positions.iterations.as_ref().and_then(pos),
            "`iterations` must be at least 1",
        );
    }
    let probe_at = positions.probe.as_ref().and_then(pos);
    if s.probe.interval.get().is_zero() {
        f.add(probe_at, "the probe `interval` must be longer than 0s");
    }
    if s.probe.sustain == 0 {
        f.add(
            probe_at,
            "the probe `sustain` must be at least 1 (good probes in a row that end an outage)",
        );
    }
    if !s.probe.path.starts_with('/') {
        f.add(
            probe_at,
            format!("the probe `path` `{}` must start with `/`", s.probe.path),
        );
    }

    check_steps(loaded, &step_at, &mut f);
    check_expectations(s, &positions, &mut f);
    f.problems
}

fn check_script(loaded: &LoadedScenario, at: At, f: &mut Findings) {
    let path = loaded.script_path();
    match crate::workload::read_script(&path) {
        Ok(script) => {
            if script.turns.is_empty() {
                f.add(at, format!("the script {} has no turns", path.display()));
            }
        }
        Err(e) => f.add(at, e.to_string()),
    }
}

/// Targets with something a `heal` can revert, and paused targets an `unpause` can thaw.
#[derive(Default)]
struct Healable {
    network: BTreeSet<Role>,
    paused: BTreeSet<Role>,
    /// A `disk-fill` not yet healed: a heal of any worker (or of all) deletes the fill file.
    disk_filled: bool,
}

fn check_steps(loaded: &LoadedScenario, step_at: &dyn Fn(usize) -> At, f: &mut Findings) {
    let mut healable = Healable::default();
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
            Action::Fault(fault) => check_fault(i, fault, at, &mut healable, f),
            Action::Wait(_) => {}
            Action::Runbook(rb) => {
                let path = loaded.runbook_path(&rb.script);
                if !path.is_file() {
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

fn check_fault(i: usize, fault: &FaultSpec, at: At, healable: &mut Healable, f: &mut Findings) {
    let n = i + 1;
    match fault {
        FaultSpec::Partition { target, .. }
        | FaultSpec::Loss { target, .. }
        | FaultSpec::Bandwidth { target, .. }
        | FaultSpec::Latency { target, .. } => {
            healable.network.insert(*target);
        }
        FaultSpec::Pause { target } => {
            healable.paused.insert(*target);
        }
        FaultSpec::DiskFill { .. } => healable.disk_filled = true,
        FaultSpec::Unpause { target } if !healable.paused.remove(target) => {
            f.add(
                at,
                format!(
                    "step {n}: `unpause` of {} but no earlier step pauses it",
                    target.as_str()
                ),
            );
        }
        FaultSpec::Heal { target } => {
            let nothing = match target {
                Some(t) => {
                    let disk = t.is_worker() && std::mem::take(&mut healable.disk_filled);
                    let had = healable.network.remove(t) | healable.paused.remove(t) | disk;
                    !had
                }
                None => {
                    let had = !healable.network.is_empty()
                        || !healable.paused.is_empty()
                        || std::mem::take(&mut healable.disk_filled);
                    healable.network.clear();
                    healable.paused.clear();
                    !had
                }
            };
            if nothing {
                let whom = target
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "any container".into());
                f.add(
                    at,
                    format!(
                        "step {n}: `heal` has nothing to heal: no earlier step partitions, degrades, pauses or fills the disk of {whom}"
                    ),
                );
            }
        }
        FaultSpec::OomKill { target, .. } | FaultSpec::Gpu { target, .. }
            if !target.is_worker() =>
        {
            f.add(
                at,
                format!(
                    "step {n}: `{}` needs a worker target (primary or standby), not {}",
                    super::model::fault_kind_name(fault),
                    target.as_str()
                ),
            );
        }
        _ => {}
    }
}

fn is_disruptive(fault: &FaultSpec) -> bool {
    !matches!(fault, FaultSpec::Heal { .. } | FaultSpec::Unpause { .. })
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
        .any(|st| matches!(&st.action, Action::Fault(x) if is_disruptive(x)));
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
    if let Some(limit) = s.expect.rto.as_ref().and_then(|b| b.0.max.or(b.0.p95)) {
        if limit.get() < s.probe.interval.get() {
            f.add(
                key_at("rto"),
                format!(
                    "`expect.rto` of {limit} is shorter than the probe interval {}; it cannot be measured that finely",
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
        std::fs::copy(
            shipped_dir().join("scripts/night-shift.yaml"),
            dir.join("scripts/night-shift.yaml"),
        )
        .unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
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
    fn steps_out_of_order_and_bad_targets_are_refused() {
        let p = problems(
            "order.yaml",
            "name: o\nworkload:\n  script: night-shift.yaml\nsteps:\n  - at: 5s\n    fault: {kind: kill, target: primary}\n  - at: 2s\n    fault: {kind: oom-kill, target: state}\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("earlier"), "{}", p[0]);
        assert!(p[1].message.contains("worker target"), "{}", p[1]);
    }
}
