//! The Nginx front door (`stack.frontdoor.kind: nginx`): `kill-primary-nginx`
//! runs end to end, in Docker and as local processes, and must pass with
//! bit-identical audio; Nginx's own access log must say that the standby
//! served the probes after the kill (passive failover), and the figures that
//! Nginx cannot give (`detect_ms`, front-door samples) must be absent with the
//! reason in the timeline, never made up.

use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario_with, DrillRun};
use takeover::report::model::{EventKind, RunOutcome};

/// Checks a passing `kill-primary-nginx` run, whatever its runtime.
fn assert_standby_served_after_the_kill(run: &DrillRun) {
    let report = &run.report;
    assert_eq!(
        run.code,
        Some(0),
        "kill-primary-nginx did not pass: {:?}\n{:?}\n{}",
        report.iterations.first().map(|it| &it.reasons),
        report.expectations,
        run.output
    );
    assert_eq!(report.outcome, RunOutcome::Passed);
    let it = &report.iterations[0];
    let audio = it.audio.as_ref().expect("the audio was checked");
    assert_eq!(audio.mode, "exact", "{audio:?}");
    assert!(audio.intact, "{audio:?}");
    let kill = it
        .faults
        .iter()
        .find(|f| f.kind == "kill")
        .expect("a kill fault");
    let killed_at = kill.in_effect_at_ms.expect("the kill was witnessed");

    // Nginx's log names a server for (nearly) every probe: the primary before
    // the kill, the standby once the kill is in effect.
    let served = &it.probes.served_by;
    assert_eq!(
        served.len(),
        it.probes.scheduled_ms.len(),
        "no front-door record per probe: {} of {}",
        served.len(),
        it.probes.scheduled_ms.len()
    );
    let named = |from: f64, to: f64| -> Vec<&str> {
        it.probes
            .sent_ms
            .iter()
            .zip(served)
            .filter(|(t, s)| **t >= from && **t < to && !s.is_empty())
            .map(|(_, s)| s.as_str())
            .collect()
    };
    let before = named(0.0, killed_at - 200.0);
    assert!(
        !before.is_empty() && before.iter().all(|s| *s == "primary"),
        "before the kill: {before:?}"
    );
    let after = named(killed_at + 500.0, f64::INFINITY);
    assert!(
        after.len() > 100,
        "too few probes after the kill: {}",
        after.len()
    );
    assert!(
        after.iter().all(|s| *s == "standby"),
        "after the kill Nginx's log names {:?}",
        after
            .iter()
            .filter(|s| **s != "standby")
            .collect::<Vec<_>>()
    );

    // What Nginx cannot tell is absent, and the timeline says why.
    assert!(it.figures.detect_ms.is_none(), "{:?}", it.figures);
    assert!(it.frontdoor.is_empty(), "{:?}", it.frontdoor);
    assert!(
        it.events.iter().any(|e| e.kind == EventKind::Note
            && e.detail.contains("not available with the nginx front door")),
        "no note on what Nginx cannot give"
    );
}

#[test]
fn kill_primary_nginx_passes_and_the_log_names_the_standby() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario_with("kill-primary-nginx", &[]);
    assert_standby_served_after_the_kill(&run);
    // The front door was the image baked from the host's nginx.
    let images = crate::support::docker_lines(&["image", "ls", "--format", "{{.Repository}}"]);
    assert!(images.iter().any(|i| i == "takeover-nginx"), "{images:?}");
    run.clean();
}

#[test]
fn kill_primary_nginx_passes_as_local_processes() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario_with("kill-primary-nginx", &["--runtime", "process"]);
    assert_standby_served_after_the_kill(&run);
    run.clean();
}
