//! Split brain, end to end against the real stack in Docker: the primary is cut
//! off from the front door and Redis, the standby takes the job over, the cut
//! heals while the old primary still runs it. With fencing (the default) the
//! zombie's commits are refused and the drill passes with bit-identical audio;
//! with `--no-fencing` the same drill must fail and name the conflicting chunks.

use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario, DrillRun};

fn fencing_check(run: &DrillRun) -> serde_json::Value {
    let audio = run.report.iterations[0]
        .audio
        .as_ref()
        .unwrap_or_else(|| panic!("no audio record\n{}", run.output));
    audio.verdict["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "fencing").cloned())
        .unwrap_or_else(|| panic!("no fencing check in {}", audio.verdict))
}

/// The partition was witnessed and the standby really took the job (epoch 2 or later).
fn assert_takeover_happened(run: &DrillRun) {
    let it = &run.report.iterations[0];
    let cut = &it.faults[0];
    assert_eq!(cut.kind, "partition", "{cut:?}");
    assert!(cut.in_effect_at_ms.is_some(), "{cut:?}\n{}", run.output);
    assert!(
        cut.evidence["dropped_packets"].as_u64().unwrap_or(0) > 0,
        "{cut:?}"
    );
    let job = it.job.as_ref().expect("a job record");
    let last = job
        .samples
        .iter()
        .rev()
        .find(|s| s.epoch > 0)
        .expect("a status sample");
    assert!(
        last.epoch >= 2 && last.owner.as_deref() == Some("standby"),
        "the standby never took the job over: {last:?}\n{}",
        run.output
    );
}

#[test]
fn with_fencing_the_zombie_is_refused_and_the_audio_is_exact() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("split-brain");
    assert_takeover_happened(&run);
    assert_eq!(
        run.code,
        Some(0),
        "split-brain did not pass:\n{}",
        run.output
    );
    let audio = run.report.iterations[0].audio.as_ref().unwrap();
    assert!(audio.intact && audio.mode == "exact", "{audio:?}");
    let fencing = fencing_check(&run);
    assert_eq!(fencing["ok"], true, "{fencing}");
    assert_eq!(fencing["evidence"]["conflicts"], 0, "{fencing}");
    // The zombie tried and was stopped: its own counter of stale writes moved.
    let note = run.report.iterations[0]
        .events
        .iter()
        .find(|e| e.detail.starts_with("primary worker: synth_fenced_total"))
        .unwrap_or_else(|| panic!("no fenced counter of the primary\n{}", run.output));
    let count: f64 = note.detail["primary worker: synth_fenced_total ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 1.0, "the zombie was never fenced: {}", note.detail);
    run.clean();
}

#[test]
fn without_fencing_the_drill_fails_and_names_the_conflicting_chunks() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("split-brain-unfenced");
    assert_takeover_happened(&run);
    assert_eq!(
        run.code,
        Some(1),
        "split-brain-unfenced must fail:\n{}",
        run.output
    );
    let fencing = fencing_check(&run);
    assert_eq!(fencing["ok"], false, "{fencing}");
    let chunks = fencing["evidence"]["conflicting_chunks"]
        .as_array()
        .expect("a list of conflicting chunks");
    assert!(!chunks.is_empty(), "{fencing}");
    for c in chunks {
        assert_eq!(c["writer"], "primary", "{c}");
        assert_eq!(c["epoch"], 1, "{c}");
        assert!(c["newer_epoch"].as_u64().unwrap() >= 2, "{c}");
    }
    let first = chunks[0]["index"].as_u64().unwrap();
    // The verdict names them in words, in the run's output and in report.md.
    let detail = fencing["detail"].as_str().unwrap();
    assert!(
        detail.contains("split brain") && detail.contains(&format!("chunk(s) {first}")),
        "{detail}"
    );
    assert!(detail.contains("by primary at stale epoch 1"), "{detail}");
    assert!(run.output.contains("split brain"), "{}", run.output);
    assert!(run.markdown.contains("split brain"), "{}", run.markdown);
    run.clean();
}
