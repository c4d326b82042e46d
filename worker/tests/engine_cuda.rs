//! The CUDA backend against the CPU reference, and each GPU fault made for real.
//!
//! Every test skips on a machine without a CUDA driver and GPU: it prints `SKIPPED` and the
//! reason and records the skip in the log that `.ci/run` reports (`common::skip`). Faults run
//! in a child process each (this test binary re-run with `FAULT_CHILD` set), because a sticky
//! error poisons the whole process's primary context.

use std::process::Command;
use std::time::{Duration, Instant};

use contract::{FaultKind, FaultRequest, Script, Turn};
use synth_worker::backend::cuda::probe_driver;
use synth_worker::engine::{BackendChoice, Engine, EngineConfig, JobPlan, SynthState};

mod common;

use common::skip::{skip, Need};

/// Whether a CUDA driver and GPU are here; without them the calling test
/// records its skip (see `common::skip`) and returns.
fn gpu_present() -> bool {
    match probe_driver() {
        Ok(_) => true,
        Err(e) => {
            skip(Need::Gpu, &format!("no GPU: {e}"));
            false
        }
    }
}

fn engine(backend: BackendChoice, watchdog: Duration) -> Engine {
    Engine::new(&EngineConfig {
        backend,
        denoise_steps: 8,
        watchdog,
    })
    .unwrap_or_else(|e| panic!("{backend:?} backend did not start: {e}"))
}

fn script() -> Script {
    let t = |s: &str, text: &str| Turn {
        speaker: s.into(),
        text: text.into(),
    };
    Script {
        turns: vec![
            t(
                "ann",
                "We start the drill now, with every worker healthy and the queue full.",
            ),
            t(
                "bob",
                "The primary holds the lease; the standby watches the clock, waiting.",
            ),
            t(
                "cho",
                "Then a kernel goes out of bounds, and the context is gone for good?",
            ),
            t(
                "dee",
                "The standby claims the job and resumes from the last committed chunk.",
            ),
        ],
        seed: 2024,
    }
}

fn run(engine: &Engine, plan: &JobPlan, chunk: u64) -> Vec<i16> {
    let mut state = engine.initial_state(plan);
    let mut out = Vec::new();
    while state.next_frame < plan.frames_total() {
        let n = chunk.min(plan.frames_total() - state.next_frame);
        out.extend(engine.synthesize(plan, &mut state, n).unwrap());
    }
    out
}

/// Stated tolerance between CUDA and CPU: both compute the same IEEE operations in the same
/// order (no FMA contraction, own sin/cos), so they are expected to be bit-identical; the test
/// allows at most 1 LSB on any sample and an SNR of at least 90 dB, and prints what it saw.
const MAX_LSB: i32 = 1;
const MIN_SNR_DB: f64 = 90.0;

#[test]
fn cuda_matches_cpu_and_resumes_bit_identically() {
    if !gpu_present() {
        return;
    }
    let gpu = engine(BackendChoice::Cuda, Duration::from_secs(30));
    assert_eq!(gpu.backend_name(), "cuda");
    let cpu = engine(BackendChoice::Cpu, Duration::from_secs(30));
    let plan = gpu.plan(&script()).unwrap();
    let reference = run(&gpu, &plan, 8);
    assert_eq!(reference, run(&gpu, &plan, 8), "CUDA is not deterministic");
    let on_cpu = run(&cpu, &cpu.plan(&script()).unwrap(), 8);
    let mut max = 0;
    let (mut sig, mut err, mut differing) = (0.0f64, 0.0f64, 0usize);
    for (&a, &b) in on_cpu.iter().zip(&reference) {
        let d = (a as i32 - b as i32).abs();
        max = max.max(d);
        differing += (d != 0) as usize;
        sig += (a as f64).powi(2);
        err += (d as f64).powi(2);
    }
    let snr = 10.0 * (sig / err).log10();
    println!(
        "CUDA vs CPU: {} samples, {differing} differ, max |diff| {max} LSB, SNR {snr:.1} dB",
        reference.len()
    );
    assert!(max <= MAX_LSB, "max difference {max} LSB");
    assert!(snr >= MIN_SNR_DB, "SNR {snr} dB");

    let total = plan.frames_total();
    for split in [1, 17, total / 2, total - 1] {
        for chunk in [1u64, 8, 13] {
            let mut state = gpu.initial_state(&plan);
            let mut out = Vec::new();
            while state.next_frame < split {
                let n = chunk.min(split - state.next_frame);
                out.extend(gpu.synthesize(&plan, &mut state, n).unwrap());
            }
            let json = serde_json::to_string(&state).unwrap();
            let mut resumed: SynthState = serde_json::from_str(&json).unwrap();
            while resumed.next_frame < total {
                let n = chunk.min(total - resumed.next_frame);
                out.extend(gpu.synthesize(&plan, &mut resumed, n).unwrap());
            }
            assert_eq!(out, reference, "CUDA resume at {split}, chunk {chunk}");
        }
    }
    gpu.self_test().unwrap();
}

#[test]
fn auto_picks_cuda_when_a_gpu_is_there() {
    if !gpu_present() {
        let e = engine(BackendChoice::Auto, Duration::from_secs(1));
        assert_eq!(e.backend_name(), "cpu");
        let err = Engine::new(&EngineConfig {
            backend: BackendChoice::Cuda,
            ..EngineConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.error_class(), "NO_CUDA_DRIVER");
        return;
    }
    assert_eq!(
        engine(BackendChoice::Auto, Duration::from_secs(5)).backend_name(),
        "cuda"
    );
}

/// What a fault child printed: the report, then the errors of later calls.
#[derive(Debug)]
struct ChildOutcome {
    report_class: String,
    reaction: String,
    detail: String,
    after_class: String,
    after_sticky: bool,
    self_test: String,
    inject_ms: u64,
}

fn fault_in_child(kind: &str, xid: Option<u32>) -> ChildOutcome {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "fault_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("FAULT_CHILD", kind)
        .env("FAULT_XID", xid.map(|x| x.to_string()).unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.split_once(&format!("{name}=")).map(|(_, v)| v))
            .unwrap_or_else(|| panic!("child printed no {name}:\n{text}"))
            .to_string()
    };
    let outcome = ChildOutcome {
        report_class: field("report_class"),
        reaction: field("reaction"),
        detail: field("detail"),
        after_class: field("after_class"),
        after_sticky: field("after_sticky") == "true",
        self_test: field("self_test"),
        inject_ms: field("inject_ms").parse().unwrap(),
    };
    println!("{kind} {xid:?}: {outcome:?}");
    outcome
}

/// Runs one fault when started by `fault_in_child`; does nothing otherwise.
#[test]
fn fault_child() {
    let Ok(kind) = std::env::var("FAULT_CHILD") else {
        return;
    };
    let xid = std::env::var("FAULT_XID").ok().and_then(|x| x.parse().ok());
    let kind: FaultKind = serde_json::from_value(serde_json::Value::String(kind)).unwrap();
    let eng = engine(BackendChoice::Cuda, Duration::from_secs(2));
    let plan = eng.plan(&script()).unwrap();
    let mut state = eng.initial_state(&plan);
    eng.synthesize(&plan, &mut state, 8)
        .expect("healthy before the fault");
    let started = Instant::now();
    let report = eng
        .inject(&FaultRequest {
            kind,
            xid,
            duration_ms: None,
        })
        .expect("the fault was not raised");
    println!();
    println!("inject_ms={}", started.elapsed().as_millis());
    println!("report_class={}", report.error_class);
    println!("reaction={}", report.reaction);
    println!("detail={}", report.detail.replace('\n', " "));
    match eng.synthesize(&plan, &mut state, 8) {
        Ok(_) => {
            println!("after_class=OK");
            println!("after_sticky=false");
        }
        Err(e) => {
            println!("after_class={}", e.error_class());
            println!("after_sticky={}", e.is_sticky());
        }
    }
    match eng.self_test() {
        Ok(()) => println!("self_test=OK"),
        Err(e) => println!("self_test={}", e.error_class()),
    }
}

#[test]
fn illegal_address_is_real_and_sticky() {
    if !gpu_present() {
        return;
    }
    let o = fault_in_child("gpu-illegal-address", None);
    assert_eq!(o.report_class, "CUDA_ERROR_ILLEGAL_ADDRESS");
    assert_eq!(o.reaction, "exit");
    assert_eq!(o.after_class, "CUDA_ERROR_ILLEGAL_ADDRESS");
    assert!(o.after_sticky);
    assert_eq!(o.self_test, "CUDA_ERROR_ILLEGAL_ADDRESS");
    assert!(!o.detail.contains("emulated"));
}

#[test]
fn hang_is_caught_by_the_watchdog() {
    if !gpu_present() {
        return;
    }
    let o = fault_in_child("gpu-hang", None);
    assert_eq!(o.report_class, "WATCHDOG_HANG");
    assert_eq!(o.reaction, "exit");
    assert_eq!(o.after_class, "WATCHDOG_HANG");
    assert_eq!(o.self_test, "WATCHDOG_HANG");
    // the child's watchdog is 2 s: the hang is cut then, not waited out
    assert!(
        (1900..10_000).contains(&o.inject_ms),
        "the watchdog cut the hang after {} ms",
        o.inject_ms
    );
}

#[test]
fn oom_is_real_and_not_sticky() {
    if !gpu_present() {
        return;
    }
    let o = fault_in_child("gpu-oom", None);
    assert_eq!(o.report_class, "CUDA_ERROR_OUT_OF_MEMORY");
    assert_eq!(o.reaction, "continue");
    assert_eq!(o.after_class, "OK");
    assert_eq!(o.self_test, "OK");
}

#[test]
fn xids_are_raised_or_recorded_by_class() {
    if !gpu_present() {
        return;
    }
    let o = fault_in_child("gpu-xid", Some(13));
    assert_eq!(
        (o.report_class.as_str(), o.reaction.as_str()),
        ("XID_13", "exit")
    );
    assert_eq!(
        o.after_class, "CUDA_ERROR_LAUNCH_FAILED",
        "a trap leaves the context unusable"
    );
    let o = fault_in_child("gpu-xid", Some(79));
    assert_eq!(
        (o.report_class.as_str(), o.reaction.as_str()),
        ("XID_79", "unhealthy")
    );
    assert_eq!(o.after_class, "XID_79");
    let o = fault_in_child("gpu-xid", Some(43));
    assert_eq!(
        (o.report_class.as_str(), o.reaction.as_str()),
        ("XID_43", "continue")
    );
    assert_eq!(o.after_class, "OK");
}
