//! The seed article's own failover design (`scenarios/seed-failover.yaml`):
//! the standby held back by the front door, a monitor script that checks the
//! primary's /health three times (5 s to connect, 2 s apart) on a 30 s period
//! and then promotes it. The drill must pass, and its RTO must be the
//! monitor's, far above what the shipped health checks give for the same
//! OOM kill (`oom-kill-primary` expects a p95 under 2 s).

use crate::support::one_drill_at_a_time;
use crate::support::run::run_scenario;

#[test]
fn the_seed_monitor_fails_over_in_its_own_time_not_the_health_checks() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("seed-failover");
    let code = run.code.expect("exited normally");
    assert_eq!(code, 0, "{:?}\n{}", run.report.expectations, run.output);
    let it = &run.report.iterations[0];
    let rb = it.runbooks.first().expect("the monitor's record");
    assert_eq!(rb.script, "runbooks/seed-monitor.sh");
    assert_eq!(rb.exit_code, Some(0), "{rb:?}");
    for line in [
        "round 1, try 3/3: primary unhealthy",
        "promoting the standby",
        "enable server workers/standby",
        "front door serves through the standby",
    ] {
        assert!(
            rb.stdout.contains(line),
            "{line:?} missing from\n{}",
            rb.stdout
        );
    }
    // The monitor, not the front door's health checks, brought service back:
    // its first round comes 15 s after the crash and takes 6 s to give up.
    let rto = it.figures.rto_ms.expect("service came back");
    assert!(
        rto > 5_000.0,
        "RTO {rto} ms: service came back before the monitor could have promoted the standby"
    );
    let fault = it.faults.first().expect("the oom kill");
    let killed = fault.in_effect_at_ms.expect("the oom kill was witnessed");
    assert!(
        killed + rto >= rb.started_at_ms + 20_000.0,
        "service was back {rto} ms after the kill, before the monitor's round ended (started {} ms after the kill)",
        rb.started_at_ms - killed
    );
    run.clean();
}
