//! Iterations back to back: each next stack comes up while the last one is
//! torn down, yet no drill starts before the old stack is gone, every stack
//! is removed, and `takeover bench drill` states the harness's share of the
//! run as a reader recomputes it from report.json.

use crate::support::run::run_scenario_file;
use crate::support::{one_drill_at_a_time, takeover, temp_dir};
use takeover::report::model::{Iteration, IterationOutcome};

/// A short front-door drill of the reference stack: a second of probes.
const SCENARIO: &str = r#"name: back-to-back
description: Short iterations of the reference stack, one after the other.
steps:
  - wait: 1s
expect:
  errors: 1000
"#;

/// Milliseconds since the Unix epoch of `ms` on `it`'s clock.
fn wall_ms(it: &Iteration, ms: f64) -> f64 {
    it.started_at.timestamp_micros() as f64 / 1e3 + ms
}

#[test]
fn each_next_stack_comes_up_during_the_last_teardown_and_none_is_left() {
    let _turn = one_drill_at_a_time();
    let dir = temp_dir("back-to-back-scenario");
    let path = dir.join("back-to-back.yaml");
    std::fs::write(&path, SCENARIO).unwrap();
    let run = run_scenario_file("back-to-back", &path, &["--iterations", "3"]);
    let its = &run.report.iterations;
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_eq!(its.len(), 3, "{}", run.output);
    assert!(its.iter().all(|i| i.outcome == IterationOutcome::Passed));
    // The drill proper of a front-door drill is a phase of its own.
    assert!(
        its.iter()
            .all(|i| i.phases_ms.get("steps") >= Some(&1000.0)),
        "{:?}",
        its.iter().map(|i| &i.phases_ms).collect::<Vec<_>>()
    );

    for pair in its.windows(2) {
        let (last, next) = (&pair[0], &pair[1]);
        assert_ne!(last.run_id, next.run_id, "each iteration has its own stack");
        let last_ended = wall_ms(last, last.duration_ms);
        let teardown = last.phases_ms["teardown"];
        // The next stack began to come up during the last one's teardown ...
        assert!(
            wall_ms(next, 0.0) < last_ended && wall_ms(next, 0.0) >= last_ended - teardown - 5.0,
            "iteration {} launched at {:.0}, iteration {} tore down from {:.0} to {last_ended:.0}",
            next.index,
            wall_ms(next, 0.0),
            last.index,
            last_ended - teardown
        );
        // ... but its drill began only once that teardown had ended.
        let first_probe = wall_ms(next, next.probes.sent_ms[0]);
        assert!(
            first_probe >= last_ended - 5.0,
            "iteration {} probed at {first_probe:.0}, before iteration {} ended at {last_ended:.0}",
            next.index,
            last.index
        );
    }

    // The harness's share, recomputed here from report.json alone: the run's
    // wall time less every phase that is not the harness's own, per iteration.
    let wall = (run.report.ended_at - run.report.started_at)
        .num_microseconds()
        .unwrap() as f64
        / 1e3;
    let harness = [
        "images",
        "stack_up",
        "reference",
        "verify",
        "report",
        "teardown",
    ];
    let proper: f64 = its
        .iter()
        .flat_map(|i| i.phases_ms.iter())
        .filter(|(k, _)| !harness.contains(&k.as_str()))
        .map(|(_, v)| v)
        .sum();
    let expected = (wall - proper) / its.len() as f64;
    let json = dir.join("drill.json");
    let out = takeover()
        .args(["bench", "drill", "--report"])
        .arg(run.dir.join("report.json"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("takeover runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("harness share"), "{text}");
    let drill: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let share = drill["harness_share_ms"].as_f64().expect("a harness share");
    assert!((share - expected).abs() < 0.01, "{share} != {expected}");
    eprintln!("back-to-back: harness share {share:.0} ms per iteration");

    run.clean();
    std::fs::remove_dir_all(&dir).ok();
}
