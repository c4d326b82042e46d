//! The four GPU-fault scenarios, end to end against the real stack in Docker.
//!
//! CI has no GPU, so the workers run the CPU backend, which raises the same
//! error classes and reacts the same way (the witness names the class). Each
//! drill must pass: the fault witnessed with the right class and reaction, the
//! front door and the job recovered within the scenario's limits (or, for the
//! non-sticky OOM, no failover at all), and the audio bit-identical.

mod drill_support;

use drill_support::one_drill_at_a_time;
use drill_support::run::run_scenario;

fn drill(scenario: &str, class: &str, reaction: &str) {
    let _turn = one_drill_at_a_time();
    let run = run_scenario(scenario);
    let it = &run.report.iterations[0];
    let fault = it.faults.first().expect("a fault record");
    assert_eq!(fault.kind, "gpu", "{fault:?}");
    let witness = fault.witness.as_deref().unwrap_or_default();
    assert!(
        fault.in_effect_at_ms.is_some() && witness.contains(class) && witness.contains(reaction),
        "{scenario}: expected {class} / {reaction}, got {fault:?}\n{}",
        run.output
    );
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
    drill("gpu-illegal-address", "CUDA_ERROR_ILLEGAL_ADDRESS", "exit");
}

#[test]
fn a_hung_kernel_is_caught_by_the_watchdog() {
    drill("gpu-hang", "WATCHDOG_HANG", "exit");
}

#[test]
fn device_out_of_memory_is_survived_without_failover() {
    drill("gpu-oom", "CUDA_ERROR_OUT_OF_MEMORY", "continue");
}

#[test]
fn xid_79_takes_the_worker_out_of_service() {
    drill("gpu-xid", "XID_79", "unhealthy");
}
