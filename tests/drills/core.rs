//! The four core drills gate CI: `kill-primary`, `oom-kill-primary`,
//! `pause-primary` and `partition-primary` each run end to end against the real
//! stack in Docker and must pass (exit 0) with a witnessed fault, a measured RTO
//! and job RTO, and bit-identical audio. Each has a planted-failure twin in
//! `scenarios/planted/` (the same drill with a standby the front door never
//! enables) that must fail with exit 1 and say why in report.json: a harness
//! that stopped catching a failover that did not happen fails here.

use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario, run_scenario_with, DrillRun};
use takeover::report::model::{
    EventKind, ExpectationResult, FaultRecord, IterationOutcome, RunOutcome, Verdict,
};

/// The fault records of the drill's only iteration.
fn faults(run: &DrillRun) -> &[FaultRecord] {
    &run.report.iterations[0].faults
}

/// The first fault of `kind`, which must have been witnessed.
fn witnessed<'a>(run: &'a DrillRun, kind: &str) -> &'a FaultRecord {
    let fault = faults(run)
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} fault: {:?}\n{}", faults(run), run.output));
    assert!(
        fault.in_effect_at_ms.is_some() && fault.witness.is_some(),
        "the {kind} was not witnessed: {fault:?}\n{}",
        run.output
    );
    fault
}

/// The verdict of expectation `name`.
fn expectation<'a>(run: &'a DrillRun, name: &str) -> &'a ExpectationResult {
    run.report
        .expectations
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", run.report.expectations))
}

/// Runs a shipped core drill and checks everything a passing one must show;
/// `fault` is the kind of its measured fault.
pub(crate) fn passing_drill(name: &str, fault: &str, extra: &[&str]) -> DrillRun {
    let run = run_scenario_with(name, extra);
    let report = &run.report;
    assert_eq!(
        run.code,
        Some(0),
        "{name} did not pass: {:?}\n{:?}\n{}",
        report.iterations.first().map(|it| &it.reasons),
        report.expectations,
        run.output
    );
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.outcome, RunOutcome::Passed);
    assert_eq!(report.scenario.name, name);
    assert_eq!(report.iterations.len(), 1, "one iteration per core drill");
    let it = &report.iterations[0];
    assert_eq!(it.outcome, IterationOutcome::Passed, "{:?}", it.reasons);
    assert!(it.reasons.is_empty(), "{:?}", it.reasons);
    witnessed(&run, fault);
    assert!(
        it.figures.rto_ms.is_some(),
        "no measured RTO: {:?}",
        it.figures
    );
    assert!(
        it.figures.job_rto_ms.is_some(),
        "no measured job RTO: {:?}",
        it.figures
    );
    let audio = it.audio.as_ref().expect("the audio was checked");
    assert_eq!(audio.mode, "exact", "{audio:?}");
    assert!(audio.intact, "{audio:?}");
    // Every expectation held, with its evidence.
    for e in &report.expectations {
        assert_eq!(e.verdict, Verdict::Held, "{e:?}");
        assert!(!e.evidence.is_empty(), "{e:?}");
    }
    for n in ["rto.p95", "job_resume.max", "work_lost", "errors", "audio"] {
        expectation(&run, n);
    }
    run
}

/// Runs a planted-failure twin (`scenarios/planted/<name>.yaml`) and checks
/// that it failed with exit 1 and a failed RTO expectation.
fn planted_twin(name: &str, fault: &str) -> DrillRun {
    let run = run_scenario(&format!("planted/{name}"));
    let report = &run.report;
    assert_eq!(
        run.code,
        Some(1),
        "the planted failure of {name} was not caught: {:?}\n{:?}\n{}",
        report.iterations.first().map(|it| &it.reasons),
        report.expectations,
        run.output
    );
    assert_eq!(report.exit_code, 1);
    assert_eq!(report.outcome, RunOutcome::Failed);
    assert_eq!(report.scenario.name, format!("planted-{name}"));
    // The fault was real: the twin fails on the failover, not on a missing fault.
    witnessed(&run, fault);
    let rto = expectation(&run, "rto.p95");
    assert_eq!(rto.verdict, Verdict::Failed, "{rto:?}");
    run
}

/// The twin's front door never came back: the iteration says so, and the RTO
/// expectation says it was never measured.
fn assert_never_recovered(run: &DrillRun) {
    let it = &run.report.iterations[0];
    assert_eq!(it.outcome, IterationOutcome::Failed);
    assert!(it.figures.rto_ms.is_none(), "{:?}", it.figures);
    assert!(
        it.reasons
            .iter()
            .any(|r| r.contains("the front door did not serve") && r.contains("good probes")),
        "no reason names the front door: {:?}",
        it.reasons
    );
    let rto = expectation(run, "rto.p95");
    assert!(rto.evidence.contains("never measured"), "{}", rto.evidence);
    assert_standby_never_enabled(run);
}

/// HAProxy never had the standby up: the planted failure really was in place.
/// (HAProxy's own view, not the probe-event classification, which is as coarse
/// as the 50 ms poll of that view.)
fn assert_standby_never_enabled(run: &DrillRun) {
    let it = &run.report.iterations[0];
    let standby: Vec<_> = it
        .frontdoor
        .iter()
        .filter(|s| s.server == "standby")
        .collect();
    assert!(
        !standby.is_empty(),
        "no view of the standby: {:?}",
        it.frontdoor
    );
    assert!(
        standby.iter().all(|s| s.status.as_str() != "UP"),
        "the front door had the standby up: {standby:?}"
    );
}

/// The twin's front door came back only with the primary itself, after the
/// primary's fault was healed (`heal_kind`): the RTO expectation failed on a
/// measured figure over its limit (or, if the healed primary never passed its
/// checks, on none at all).
fn assert_back_only_with_the_primary(run: &DrillRun, heal_kind: &str) {
    let it = &run.report.iterations[0];
    let healed = witnessed(run, heal_kind);
    let rto = expectation(run, "rto.p95");
    assert_standby_never_enabled(run);
    let kinds: Vec<EventKind> = it.events.iter().map(|e| e.kind).collect();
    match it.figures.rto_ms {
        Some(measured) => {
            assert!(
                rto.evidence.contains("over the limit"),
                "RTO {measured} ms: {}",
                rto.evidence
            );
            // Service was back only once the primary's fault had been undone.
            let back = it
                .events
                .iter()
                .find(|e| e.kind == EventKind::SustainedGood)
                .unwrap_or_else(|| panic!("an RTO without its sustained good run: {kinds:?}"));
            assert!(
                back.at_ms >= healed.requested_at_ms,
                "service was back at {} ms, before the {heal_kind} at {} ms",
                back.at_ms,
                healed.requested_at_ms
            );
        }
        None => assert_never_recovered(run),
    }
}

#[test]
fn kill_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let run = passing_drill("kill-primary", "kill", &[]);
    let fault = witnessed(&run, "kill");
    assert!(
        fault.witness.as_deref().unwrap_or_default().contains("137"),
        "the witness is not the SIGKILL's exit code: {fault:?}"
    );
    run.clean();
}

#[test]
fn oom_kill_primary_passes_with_exact_audio_and_a_complete_report() {
    let _turn = one_drill_at_a_time();
    let run = passing_drill("oom-kill-primary", "oom-kill", &["--keep-artifacts"]);
    let it = &run.report.iterations[0];
    assert!(it.figures.probes > 100, "{:?}", it.figures);
    assert!(
        run.report.summary.figures["rto_ms"].error_bound.is_some(),
        "the RTO has no error bound: {:?}",
        run.report.summary.figures["rto_ms"]
    );
    assert!(run.dir.join("iteration-1/candidate.wav").is_file());
    let kinds: Vec<EventKind> = it.events.iter().map(|e| e.kind).collect();
    for k in [
        EventKind::StackUp,
        EventKind::JobSubmitted,
        EventKind::FaultRequested,
        EventKind::FaultInEffect,
        EventKind::JobDone,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    assert!(
        run.markdown.contains("oom-kill-primary"),
        "report.md does not name its scenario"
    );
    run.clean();
}

#[test]
fn pause_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let run = passing_drill("pause-primary", "pause", &[]);
    witnessed(&run, "unpause");
    run.clean();
}

#[test]
fn partition_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let run = passing_drill("partition-primary", "partition", &[]);
    witnessed(&run, "heal");
    run.clean();
}

#[test]
fn planted_kill_primary_without_failover_fails_and_says_why() {
    let _turn = one_drill_at_a_time();
    let run = planted_twin("kill-primary", "kill");
    assert_never_recovered(&run);
    run.clean();
}

#[test]
fn planted_oom_kill_primary_without_failover_fails_and_says_why() {
    let _turn = one_drill_at_a_time();
    let run = planted_twin("oom-kill-primary", "oom-kill");
    assert_never_recovered(&run);
    run.clean();
}

#[test]
fn planted_pause_primary_without_failover_fails_and_says_why() {
    let _turn = one_drill_at_a_time();
    let run = planted_twin("pause-primary", "pause");
    assert_back_only_with_the_primary(&run, "unpause");
    run.clean();
}

#[test]
fn planted_partition_primary_without_failover_fails_and_says_why() {
    let _turn = one_drill_at_a_time();
    let run = planted_twin("partition-primary", "partition");
    assert_back_only_with_the_primary(&run, "heal");
    run.clean();
}
