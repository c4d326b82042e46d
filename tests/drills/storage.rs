//! Faults on the shared storage, end to end: the data volume filling up and a
//! corrupted checkpoint. In both the worker must fail safe: the job ends
//! `failed` with an error that says what happened, short of its last frame,
//! and no audio check is passed on its behalf.

use crate::support::one_drill_at_a_time;
use crate::support::run::run_scenario;
use takeover::report::model::{Iteration, Verdict};

/// The job failed with an error, short of its last frame, and no audio was judged.
fn assert_failed_safe(it: &Iteration) -> String {
    let job = it.job.as_ref().expect("a job record");
    assert_eq!(job.final_state.as_str(), "failed", "{job:?}");
    let done = job
        .samples
        .iter()
        .rev()
        .find(|s| s.state.answered())
        .map(|s| s.frames_done)
        .expect("the job was polled");
    assert!(
        done < job.frames_total,
        "{done} of {} frames",
        job.frames_total
    );
    assert!(it.audio.is_none(), "an audio verdict for a failed job");
    job.error.clone().expect("the failed job carries its error")
}

#[test]
fn a_full_data_volume_fails_the_job_with_the_os_error_and_service_returns() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("disk-fill");
    let (code, report, log) = (run.code.expect("exited normally"), &run.report, &run.output);
    let it = &report.iterations[0];
    let fill = it
        .faults
        .iter()
        .find(|f| f.kind == "disk-fill")
        .expect("the fill");
    assert!(
        fill.witness
            .as_deref()
            .unwrap_or("")
            .contains("0 of 64MiB available"),
        "{fill:?}\n{log}"
    );
    let error = assert_failed_safe(it);
    assert!(error.contains("No space left on device"), "{error}");
    assert!(error.contains("could not be written"), "{error}");
    assert!(
        it.figures.rto_ms.is_some(),
        "service did not return after the heal"
    );
    let job = report
        .expectations
        .iter()
        .find(|e| e.name == "job")
        .unwrap();
    assert_eq!(job.verdict, Verdict::Held, "{}", job.evidence);
    assert_eq!(code, 0, "{:?}\n{log}", report.expectations);
    run.clean();
}

#[test]
fn a_corrupted_checkpoint_is_refused_and_the_job_fails_naming_it() {
    let _turn = one_drill_at_a_time();
    let run = run_scenario("corrupt-checkpoint");
    let (code, report, log) = (run.code.expect("exited normally"), &run.report, &run.output);
    let it = &report.iterations[0];
    let corrupt = it
        .faults
        .iter()
        .find(|f| f.kind == "corrupt-checkpoint")
        .expect("the corruption");
    assert!(corrupt.in_effect_at_ms.is_some(), "{corrupt:?}\n{log}");
    let file = corrupt.evidence["file"]
        .as_str()
        .expect("the file corrupted");
    let error = assert_failed_safe(it);
    // The standby refused exactly the file the fault damaged, by its seal.
    assert!(error.contains(file), "{error} does not name {file}");
    assert!(error.contains("checksum mismatch"), "{error}");
    let job = it.job.as_ref().unwrap();
    assert!(
        job.samples.iter().any(|s| s.epoch >= 2),
        "no worker claimed the job after the kill: {:?}",
        job.samples.last()
    );
    assert_eq!(code, 0, "{:?}\n{log}", report.expectations);
    run.clean();
}
