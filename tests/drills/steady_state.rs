//! End to end: `takeover run scenarios/steady-state.yaml` (no fault) against the
//! real stack in Docker: the shipped health-check and lease defaults must not
//! fail over from a healthy primary (no takeover, no mark-down).

use crate::support::one_drill_at_a_time;
use crate::support::run::run_scenario;

#[test]
fn steady_state_sees_no_false_failover() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("steady-state");
    let (report, log) = (&run.report, &run.output);
    assert_eq!(run.code, Some(i32::from(report.exit_code)), "{log}");
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
    assert_eq!(job.final_state.as_str(), "done", "{log}");
    use takeover::report::model::Verdict;
    for name in ["takeovers", "markdowns"] {
        let e = report
            .expectations
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not judged: {:?}", report.expectations));
        assert_eq!(e.verdict, Verdict::Held, "{e:?}\n{log}");
        assert_eq!(e.measured, Some(0.0), "{e:?}");
    }
    run.clean();
}
