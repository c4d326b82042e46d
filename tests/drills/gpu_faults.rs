//! The four GPU-fault scenarios, end to end against the real stack in Docker.
//!
//! CI has no GPU, so the workers run the CPU backend, which emulates the faults
//! with a real effect (a hang holds the device, an OOM is a real allocation
//! failure under a cap) and the same error classes and reactions; every witness
//! and report.md say "emulated on the CPU backend". Each drill must pass: the
//! fault witnessed with the right class and reaction, the front door and the job
//! recovered within the scenario's limits (or, for the non-sticky OOM, no
//! failover at all), and the audio bit-identical. The hang's twin with the
//! workers' stall watchdog off must fail.

use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario, DrillRun};

const EMULATED: &str = "emulated on the CPU backend";

/// Runs `scenario` and checks its one fault's witness names `class`, `reaction`
/// and each of `also`; returns the witness and the run.
fn witnessed(scenario: &str, class: &str, reaction: &str, also: &[&str]) -> (String, DrillRun) {
    let run = run_scenario(scenario);
    let it = &run.report.iterations[0];
    let fault = it.faults.first().expect("a fault record");
    assert_eq!(fault.kind, "gpu", "{fault:?}");
    let witness = fault.witness.clone().unwrap_or_default();
    assert!(
        fault.in_effect_at_ms.is_some()
            && witness.contains(class)
            && witness.contains(reaction)
            && witness.contains(EMULATED)
            && also.iter().all(|a| witness.contains(a)),
        "{scenario}: expected {class} / {reaction} / {also:?}, got {fault:?}\n{}",
        run.output
    );
    assert!(
        run.markdown.contains(EMULATED),
        "report.md does not say the fault was emulated"
    );
    (witness, run)
}

fn drill(scenario: &str, class: &str, reaction: &str, also: &[&str]) {
    let _turn = one_drill_at_a_time();
    let (_, run) = witnessed(scenario, class, reaction, also);
    assert_eq!(
        run.code,
        Some(0),
        "{scenario} did not pass: {:?}\n{}",
        run.report.expectations,
        run.output
    );
    run.clean();
}

#[test]
fn sticky_illegal_address_makes_the_worker_exit_and_the_standby_finish() {
    drill(
        "gpu-illegal-address",
        "CUDA_ERROR_ILLEGAL_ADDRESS",
        "exit",
        &["die event"],
    );
}

#[test]
fn a_hung_kernel_is_caught_by_the_watchdog() {
    drill(
        "gpu-hang",
        "KERNEL_HUNG",
        "watchdog",
        &["the stall watchdog ended it: die event, exit code 70"],
    );
}

#[test]
fn with_the_stall_watchdog_off_the_hang_drill_fails() {
    let _turn = one_drill_at_a_time();
    let (witness, run) = witnessed("gpu-hang-no-watchdog", "KERNEL_HUNG", "watchdog", &[]);
    assert!(
        witness.contains("no reaction from the worker"),
        "{witness}\n{}",
        run.output
    );
    assert_eq!(
        run.code,
        Some(1),
        "a hang nobody ends must fail the drill, not pass or be inconclusive\n{}",
        run.output
    );
    let reasons = &run.report.iterations[0].reasons;
    assert!(
        reasons.iter().any(|r| r.contains("did not finish")),
        "the reason must say the job never finished, got {reasons:?}\n{}",
        run.output
    );
    run.clean();
}

#[test]
fn device_out_of_memory_is_survived_without_failover() {
    drill(
        "gpu-oom",
        "CUDA_ERROR_OUT_OF_MEMORY",
        "continue",
        &["bytes really allocated"],
    );
}

#[test]
fn xid_79_takes_the_worker_out_of_service() {
    drill(
        "gpu-xid",
        "XID_79",
        "unhealthy",
        &["/health failed (HTTP 503)"],
    );
}
