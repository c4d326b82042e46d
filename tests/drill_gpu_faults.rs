//! The four GPU-fault scenarios, end to end against the real stack in Docker.
//!
//! CI has no GPU, so the workers run the CPU backend, which raises the same
//! error classes and reacts the same way (the witness names the class). Each
//! drill must pass: the fault witnessed with the right class and reaction, the
//! front door and the job recovered within the scenario's limits (or, for the
//! non-sticky OOM, no failover at all), and the audio bit-identical.

mod drill_support;

use drill_support::*;

/// One drill at a time: four stacks at once on a two-core CI machine would
/// measure the machine, not the failover.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn drill(scenario: &str, class: &str, reaction: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    require_docker();
    let dir = temp_dir(scenario);
    let out = takeover()
        .args(["run", &format!("scenarios/{scenario}.yaml"), "--plain"])
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .expect("takeover runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e})\n{stdout}\n{stderr}"));
    let report: takeover::report::model::Report = serde_json::from_str(&text).unwrap();
    let it = &report.iterations[0];
    let fault = it.faults.first().expect("a fault record");
    assert_eq!(fault.kind, "gpu", "{fault:?}");
    let witness = fault.witness.as_deref().unwrap_or_default();
    assert!(
        fault.in_effect_at_ms.is_some() && witness.contains(class) && witness.contains(reaction),
        "{scenario}: expected {class} / {reaction}, got {fault:?}\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{scenario} did not pass: {:?}\n{stdout}\n{stderr}",
        report.expectations
    );
    assert!(objects_with_label(&format!("takeover.run={}", it.run_id)).is_empty());
    std::fs::remove_dir_all(&dir).ok();
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
