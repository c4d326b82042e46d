//! End to end: `takeover run scenarios/steady-state.yaml` (no fault) against the
//! real stack in Docker: the shipped health-check and lease defaults must not
//! fail over from a healthy primary (no takeover, no mark-down).

mod drill_support;

use drill_support::*;

#[test]
fn steady_state_sees_no_false_failover() {
    require_docker();
    let dir = temp_dir("steady-drill");
    let out = takeover()
        .args(["run", "scenarios/steady-state.yaml", "--plain"])
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
    assert_eq!(i32::from(report.exit_code), code, "{stdout}\n{stderr}");
    let it = &report.iterations[0];
    // The counts are not vacuous: HAProxy's view of the primary and the job's
    // epochs were both recorded.
    assert!(
        it.frontdoor.iter().any(|s| s.server == "primary"),
        "no HAProxy sample of the primary"
    );
    let job = it.job.as_ref().expect("a job record");
    assert!(
        job.samples.iter().any(|s| s.epoch >= 1),
        "{:?}",
        job.samples
    );
    assert_eq!(job.final_state, "done", "{stderr}");
    use takeover::report::model::Verdict;
    for name in ["takeovers", "markdowns"] {
        let e = report
            .expectations
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not judged: {:?}", report.expectations));
        assert_eq!(e.verdict, Verdict::Held, "{e:?}\n{stderr}");
        assert_eq!(e.measured, Some(0.0), "{e:?}");
    }
    assert!(objects_with_label(&format!("takeover.run={}", it.run_id)).is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
