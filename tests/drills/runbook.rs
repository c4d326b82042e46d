//! Runbook validation end to end: a stack whose front door does not fail over
//! by itself (`failover: manual`), a SIGKILLed primary, and an operator's
//! script as the only way back. The working runbook must pass the drill; the
//! one with a realistic mistake must fail it, and the report must say why.

use crate::support::one_drill_at_a_time;
use crate::support::run::run_scenario;
use takeover::report::model::Verdict;

#[test]
fn the_promoting_runbook_restores_service_within_budget() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("runbook-manual-failover");
    let (code, report, md, log) = (
        run.code.expect("exited normally"),
        &run.report,
        &run.markdown,
        &run.output,
    );
    assert_eq!(code, 0, "{:?}\n{log}", report.expectations);
    let it = &report.iterations[0];
    let rb = it.runbooks.first().expect("a runbook record");
    assert_eq!(rb.script, "runbooks/promote-standby.sh");
    assert_eq!(rb.exit_code, Some(0), "{rb:?}");
    assert!(!rb.timed_out);
    assert!(
        rb.stdout.contains("check 3/3: front door unhealthy"),
        "{}",
        rb.stdout
    );
    assert!(
        rb.stdout.contains("enable server workers/standby"),
        "{}",
        rb.stdout
    );
    assert!(rb.stdout.contains("verified"), "{}", rb.stdout);
    // The front door did not fail over by itself: service came back only after
    // the runbook started, so the RTO spans at least the time to it.
    let fault = it.faults.first().expect("the kill");
    let killed = fault.in_effect_at_ms.expect("the kill was witnessed");
    let rto = it.figures.rto_ms.expect("service came back");
    assert!(
        killed + rto >= rb.started_at_ms,
        "service was back {rto} ms after the kill, before the runbook ran at {} ms",
        rb.started_at_ms - killed
    );
    let rto_verdict = report
        .expectations
        .iter()
        .find(|e| e.name == "rto.max")
        .expect("an rto expectation");
    assert_eq!(rto_verdict.verdict, Verdict::Held);
    assert!(md.contains("## Runbooks"), "{md}");
    assert!(
        md.contains("`runbooks/promote-standby.sh`: exit code 0"),
        "{md}"
    );
    run.clean();
}

#[test]
fn the_runbook_that_restarts_the_dead_primary_fails_the_drill_and_says_why() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("runbook-manual-failover-broken");
    let (code, report, md, log) = (
        run.code.expect("exited normally"),
        &run.report,
        &run.markdown,
        &run.output,
    );
    assert_eq!(code, 1, "the broken runbook was not caught\n{log}");
    let it = &report.iterations[0];
    let rb = it.runbooks.first().expect("a runbook record");
    assert!(rb.timed_out, "{rb:?}");
    assert_eq!(rb.exit_code, None);
    assert_eq!(rb.timeout_ms, Some(20_000.0));
    assert!(
        rb.stdout.contains("waiting for the primary to come back"),
        "{}",
        rb.stdout
    );
    // Why, in report.json: the runbook's timeout and the service not restored.
    assert!(
        it.reasons
            .iter()
            .any(|r| r.contains("restart-primary.sh") && r.contains("timed out after 20s")),
        "{:?}",
        it.reasons
    );
    assert!(it.figures.rto_ms.is_none(), "service came back after all");
    let rto = report
        .expectations
        .iter()
        .find(|e| e.name == "rto.max")
        .expect("an rto expectation");
    assert_eq!(rto.verdict, Verdict::Failed);
    assert!(rto.evidence.contains("never measured"), "{}", rto.evidence);
    assert!(
        md.contains("timed out after 20s and was killed (no exit code)"),
        "{md}"
    );
    run.clean();
}
