//! Degraded networks, end to end against the real stack in Docker: packet
//! loss, a bandwidth limit, a one-way partition, a flapping link, a paused
//! Redis, a paused front door, and latency (netem, which not every kernel has).
//! Each shipped scenario must give its stated verdict, and each fault must have
//! left its witness: a drill whose fault had no effect must never pass.

use crate::support::run::{run_scenario, DrillRun};
use crate::support::skip::{skip, Need};
use crate::support::{kernel_has_netem, one_drill_at_a_time};
use takeover::report::model::{FaultRecord, IterationOutcome};

fn drill(name: &str) -> DrillRun {
    let _turn = one_drill_at_a_time();
    run_scenario(name)
}

fn assert_passed(run: &DrillRun, name: &str) {
    assert_eq!(
        run.code,
        Some(0),
        "{name} did not pass: {:?}\n{}",
        run.report.expectations,
        run.output
    );
    let audio = run.report.iterations[0]
        .audio
        .as_ref()
        .expect("audio checked");
    assert!(audio.intact && audio.mode == "exact", "{audio:?}");
}

/// The fault records of `kind`, each of which must have been witnessed.
fn witnessed<'a>(run: &'a DrillRun, kind: &str) -> Vec<&'a FaultRecord> {
    let faults: Vec<&FaultRecord> = run.report.iterations[0]
        .faults
        .iter()
        .filter(|f| f.kind == kind)
        .collect();
    assert!(!faults.is_empty(), "no {kind} fault\n{}", run.output);
    for f in &faults {
        assert!(f.in_effect_at_ms.is_some() && f.witness.is_some(), "{f:?}");
    }
    faults
}

fn dropped(f: &FaultRecord) -> u64 {
    f.evidence["dropped_packets"].as_u64().unwrap_or(0)
}

/// Epochs the job went through, as its status polls saw them.
fn epochs(run: &DrillRun) -> Vec<u64> {
    let mut seen: Vec<u64> = run.report.iterations[0]
        .job
        .as_ref()
        .expect("a job record")
        .samples
        .iter()
        .map(|s| s.epoch)
        .filter(|e| *e > 0)
        .collect();
    seen.dedup();
    seen
}

#[test]
fn packet_loss_is_witnessed_and_ridden_out() {
    let run = drill("loss-primary");
    let loss = witnessed(&run, "loss")[0];
    assert!(dropped(loss) > 0, "{loss:?}");
    assert_eq!(loss.evidence["percent"], 30.0);
    assert_passed(&run, "loss-primary");
    run.clean();
}

#[test]
fn a_bandwidth_limit_is_witnessed_and_ridden_out() {
    let run = drill("bandwidth-primary");
    let bw = witnessed(&run, "bandwidth")[0];
    assert!(
        bw.witness.as_deref().unwrap().contains("measured"),
        "{bw:?}"
    );
    // The witness is the rate measured through the shaped link, under 64 kbit/s plus the margin.
    let rate = bw.evidence["measured_bits_per_second"]
        .as_f64()
        .expect("a measured rate");
    assert!(rate > 0.0 && rate <= 96_000.0, "{bw:?}");
    assert_passed(&run, "bandwidth-primary");
    run.clean();
}

#[test]
fn a_one_way_partition_moves_the_front_door_but_not_the_job() {
    let run = drill("one-way-partition");
    let cut = witnessed(&run, "partition")[0];
    assert!(dropped(cut) > 0, "{cut:?}");
    assert_eq!(cut.evidence["direction"], "inbound", "{cut:?}");
    assert_passed(&run, "one-way-partition");
    // The primary still reached Redis: its lease held, no takeover.
    assert_eq!(epochs(&run), vec![1], "{}", run.output);
    run.clean();
}

#[test]
fn a_flapping_link_is_cut_three_times_and_the_job_moves_once() {
    let run = drill("flapping-link");
    let cuts = witnessed(&run, "partition");
    assert_eq!(cuts.len(), 3, "{cuts:?}");
    assert!(cuts.iter().all(|c| dropped(c) > 0), "{cuts:?}");
    assert_eq!(witnessed(&run, "heal").len(), 3);
    assert_passed(&run, "flapping-link");
    let seen = epochs(&run);
    assert!(
        *seen.last().unwrap() >= 2,
        "the job never left the flapping primary: {seen:?}"
    );
    run.clean();
}

#[test]
fn a_paused_redis_stalls_the_job_which_then_resumes() {
    let run = drill("pause-redis");
    let pause = witnessed(&run, "pause")[0];
    assert_eq!(pause.target, "state");
    assert_eq!(witnessed(&run, "unpause")[0].target, "state");
    assert_passed(&run, "pause-redis");
    let f = &run.report.iterations[0].figures;
    // Both workers need Redis for /health: the front door is out for about the pause.
    assert!(
        f.errors > 0,
        "no probe failed while Redis was frozen: {f:?}"
    );
    assert!(f.job_rto_ms.is_some(), "{f:?}");
    run.clean();
}

#[test]
fn a_paused_front_door_is_an_outage_of_about_the_pause() {
    let run = drill("pause-frontdoor");
    let pause = witnessed(&run, "pause")[0];
    assert_eq!(pause.target, "frontdoor");
    assert_passed(&run, "pause-frontdoor");
    let f = &run.report.iterations[0].figures;
    // Nothing answers through a frozen HAProxy. Probes sent in the last second
    // of the 3 s pause are answered on thaw (the kernel queued their
    // connections), so the outage is the pause less the 1 s probe timeout.
    let rto = f.rto_ms.expect("an RTO");
    assert!(rto >= 1500.0, "RTO {rto} ms is far shorter than the pause");
    assert!(
        f.errors >= 50,
        "only {} failed probes in a 3 s outage",
        f.errors
    );
    // The job went on behind it: no takeover, nothing lost.
    assert_eq!(epochs(&run), vec![1], "{}", run.output);
    assert_eq!(f.work_lost_frames, Some(0), "{f:?}");
    run.clean();
}

#[test]
fn latency_runs_with_netem_and_is_reported_unavailable_without_it() {
    let run = drill("latency-primary");
    let it = &run.report.iterations[0];
    let latency = it
        .faults
        .iter()
        .find(|f| f.kind == "latency")
        .expect("a latency record");
    let unavailable = match (&latency.unavailable, kernel_has_netem()) {
        (Some(_), Some(true)) | (None, Some(false)) => panic!(
            "the kernel says netem is {:?} but the fault says {latency:?}",
            kernel_has_netem()
        ),
        (Some(reason), _) => Some(reason.clone()),
        (None, _) => None,
    };
    match unavailable {
        Some(reason) => {
            // Skipped, said plainly, and never a pass.
            assert!(reason.contains("netem"), "{reason}");
            skip(Need::Netem, &format!("latency not applied: {reason}"));
            assert!(latency.in_effect_at_ms.is_none());
            assert_eq!(run.code, Some(3), "{}", run.output);
            assert_eq!(it.outcome, IterationOutcome::Inconclusive);
            assert!(
                it.reasons.iter().any(|r| r.contains("netem")),
                "{:?}",
                it.reasons
            );
            assert!(run.output.contains("netem"), "{}", run.output);
            assert!(run.markdown.contains("netem"), "{}", run.markdown);
        }
        None => {
            assert!(latency.in_effect_at_ms.is_some(), "{latency:?}");
            assert_passed(&run, "latency-primary");
        }
    }
    run.clean();
}
