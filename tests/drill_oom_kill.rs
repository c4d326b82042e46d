//! End to end: `takeover run scenarios/oom-kill-primary.yaml` against the real
//! stack in Docker, to a report.json with a measured RTO and verdicts.

mod drill_support;

use drill_support::*;

#[test]
fn oom_kill_primary_runs_to_a_report_with_a_measured_rto_and_verdicts() {
    require_docker();
    let dir = temp_dir("oom-drill");
    let out = takeover()
        .args([
            "run",
            "scenarios/oom-kill-primary.yaml",
            "--plain",
            "--keep-artifacts",
        ])
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .expect("takeover runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().expect("exited normally");
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); exit {code}\n{stdout}\n{stderr}"));
    let report: takeover::report::model::Report = serde_json::from_str(&text).unwrap();

    // The exit code is the report's.
    assert_eq!(i32::from(report.exit_code), code, "{stdout}\n{stderr}");
    assert_eq!(report.scenario.name, "oom-kill-primary");
    assert_eq!(report.iterations.len(), 1);
    let it = &report.iterations[0];
    // The fault was real: the OOM kill has its witness.
    let fault = it.faults.first().expect("a fault record");
    assert_eq!(fault.kind, "oom-kill");
    assert!(
        fault.in_effect_at_ms.is_some(),
        "the OOM kill was not witnessed: {fault:?}\n{stderr}"
    );
    // Figures were measured from it.
    let rto = it.figures.rto_ms.expect("a measured front-door RTO");
    assert!((0.0..30_000.0).contains(&rto), "RTO {rto}");
    assert!(it.figures.job_rto_ms.is_some(), "{:?}", it.figures);
    assert!(it.figures.probes > 100, "{:?}", it.figures);
    let kinds: Vec<_> = it.events.iter().map(|e| e.kind).collect();
    use takeover::report::model::EventKind as K;
    for k in [
        K::StackUp,
        K::JobSubmitted,
        K::FaultRequested,
        K::FaultInEffect,
        K::JobDone,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    // Every expectation has a verdict with evidence; the audio was checked.
    let names: Vec<_> = report
        .expectations
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for n in ["rto.p95", "job_resume.max", "work_lost", "errors", "audio"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(report.expectations.iter().all(|e| !e.evidence.is_empty()));
    assert!(it.audio.is_some(), "no audio verdict");
    assert!(dir.join("iteration-1/candidate.wav").is_file());
    assert_eq!(report.summary.figures["rto_ms"].error_bound, Some(20.0));
    // And nothing is left behind.
    assert!(objects_with_label(&format!("takeover.run={}", it.run_id)).is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
