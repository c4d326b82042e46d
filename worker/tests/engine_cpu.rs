//! Engine behaviour on the CPU backend: determinism, bit-identical resume from a serialized
//! state at any split, distinct speakers, and the emulated device faults.

use contract::{FaultKind, FaultRequest, Script, Turn, SAMPLES_PER_FRAME, SAMPLE_RATE};
use synth_worker::backend::cpu::CpuBackend;
use synth_worker::engine::{BackendChoice, Engine, EngineConfig, JobPlan, SynthState};

fn cpu_engine() -> Engine {
    Engine::new(&EngineConfig {
        backend: BackendChoice::Cpu,
        ..EngineConfig::default()
    })
    .unwrap()
}

fn dialogue(seed: u64) -> Script {
    let t = |speaker: &str, text: &str| Turn {
        speaker: speaker.into(),
        text: text.into(),
    };
    Script {
        turns: vec![
            t(
                "ann",
                "Good morning, everyone. Today we talk about failover drills.",
            ),
            t("bob", "Why would anybody kill a perfectly healthy worker?"),
            t("cho", "Because the unhealthy ones choose their own moment."),
            t("dee", "And the audio must survive it, sample for sample!"),
        ],
        seed,
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

#[test]
fn same_script_and_seed_give_the_same_samples() {
    let engine = cpu_engine();
    let plan = engine.plan(&dialogue(7)).unwrap();
    let a = run(&engine, &plan, 8);
    let b = run(&engine, &plan, 8);
    assert_eq!(
        a.len() as u64,
        plan.frames_total() * SAMPLES_PER_FRAME as u64
    );
    assert_eq!(a, b);
    let other = engine.plan(&dialogue(8)).unwrap();
    assert_ne!(a, run(&engine, &other, 8), "the seed must matter");
}

#[test]
fn chunk_size_does_not_change_the_audio() {
    let engine = cpu_engine();
    let plan = engine.plan(&dialogue(3)).unwrap();
    let reference = run(&engine, &plan, 8);
    for chunk in [1, 13, plan.frames_total()] {
        assert_eq!(run(&engine, &plan, chunk), reference, "chunk size {chunk}");
    }
}

#[test]
fn resume_from_serialized_state_is_bit_identical() {
    let engine = cpu_engine();
    let plan = engine.plan(&dialogue(11)).unwrap();
    let reference = run(&engine, &plan, 8);
    let total = plan.frames_total();
    // first turn has 25 frames: 12 splits inside it, 25 is a turn boundary
    for split in [1, 12, 25, 40, total - 1] {
        for chunk in [1u64, 8, 13] {
            let mut state = engine.initial_state(&plan);
            let mut out = Vec::new();
            while state.next_frame < split {
                let n = chunk.min(split - state.next_frame);
                out.extend(engine.synthesize(&plan, &mut state, n).unwrap());
            }
            // the checkpoint: serialize, drop the engine, resume in a fresh one
            let json = serde_json::to_string(&state).unwrap();
            let resumed_engine = cpu_engine();
            let replan = resumed_engine.plan(&dialogue(11)).unwrap();
            let mut resumed: SynthState = serde_json::from_str(&json).unwrap();
            assert_eq!(resumed, state);
            while resumed.next_frame < total {
                let n = chunk.min(total - resumed.next_frame);
                out.extend(resumed_engine.synthesize(&replan, &mut resumed, n).unwrap());
            }
            assert_eq!(out, reference, "split {split}, chunk {chunk}");
        }
    }
}

#[test]
fn a_state_from_another_plan_or_past_the_end_is_refused() {
    let engine = cpu_engine();
    let plan = engine.plan(&dialogue(1)).unwrap();
    let other = engine.plan(&dialogue(2)).unwrap();
    let mut foreign = engine.initial_state(&other);
    let err = engine.synthesize(&plan, &mut foreign, 1).unwrap_err();
    assert_eq!(err.error_class(), "INVALID_REQUEST");
    let mut state = engine.initial_state(&plan);
    let err = engine
        .synthesize(&plan, &mut state, plan.frames_total() + 1)
        .unwrap_err();
    assert!(err.to_string().contains("frames"), "{err}");
    assert_eq!(state.next_frame, 0, "a failed call leaves the state alone");
}

/// Median autocorrelation pitch (Hz) over loud 40 ms windows.
fn median_pitch(samples: &[i16]) -> f64 {
    let win = 960;
    let mut pitches = Vec::new();
    for w in samples.chunks_exact(win) {
        let x: Vec<f64> = w.iter().map(|&s| s as f64).collect();
        let energy: f64 = x.iter().map(|v| v * v).sum::<f64>() / win as f64;
        if energy.sqrt() < 1500.0 {
            continue;
        }
        let (lo, hi) = (SAMPLE_RATE as usize / 400, SAMPLE_RATE as usize / 70);
        let mut best = (0.0, lo);
        for lag in lo..=hi {
            let r: f64 = (0..win - lag).map(|i| x[i] * x[i + lag]).sum();
            if r > best.0 {
                best = (r, lag);
            }
        }
        pitches.push(SAMPLE_RATE as f64 / best.1 as f64);
    }
    assert!(pitches.len() > 5, "too few voiced windows");
    pitches.sort_by(|a, b| a.partial_cmp(b).unwrap());
    pitches[pitches.len() / 2]
}

#[test]
fn the_four_speakers_have_distinct_pitch() {
    let engine = cpu_engine();
    let text = "many words spoken here to measure a steady voice over several seconds of speech";
    let script = Script {
        turns: ["a", "b", "c", "d"]
            .iter()
            .map(|s| Turn {
                speaker: s.to_string(),
                text: text.into(),
            })
            .collect(),
        seed: 5,
    };
    let plan = engine.plan(&script).unwrap();
    let audio = run(&engine, &plan, 64);
    let per_turn = audio.len() / 4;
    let pitches: Vec<f64> = audio.chunks_exact(per_turn).map(median_pitch).collect();
    eprintln!("median pitch per speaker: {pitches:?}");
    // slots 0..3 are voiced around 105, 200, 135, 240 Hz
    let expected = [105.0, 200.0, 135.0, 240.0];
    for (p, e) in pitches.iter().zip(expected) {
        assert!(
            (p / e - 1.0).abs() < 0.15,
            "pitch {p} Hz, expected near {e} Hz"
        );
    }
}

#[test]
fn audio_is_speech_like_not_a_tone() {
    let engine = cpu_engine();
    let plan = engine.plan(&dialogue(4)).unwrap();
    let audio = run(&engine, &plan, 8);
    // 50 ms RMS envelope: syllables and gaps make it rise and fall many times a second
    let rms: Vec<f64> = audio
        .chunks_exact(1200)
        .map(|w| (w.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / 1200.0).sqrt())
        .collect();
    let peak = rms.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 3000.0, "too quiet: peak RMS {peak}");
    let quiet = rms.iter().filter(|&&r| r < peak * 0.1).count() as f64 / rms.len() as f64;
    assert!(
        (0.1..0.6).contains(&quiet),
        "share of near-silent windows {quiet}"
    );
    let mut crossings = 0;
    for w in rms.windows(2) {
        if (w[0] < peak * 0.3) != (w[1] < peak * 0.3) {
            crossings += 1;
        }
    }
    let seconds = audio.len() as f64 / SAMPLE_RATE as f64;
    let rate = crossings as f64 / 2.0 / seconds;
    assert!(
        (1.5..8.0).contains(&rate),
        "syllable-like rate {rate} per second"
    );
}

#[test]
fn illegal_address_poisons_the_cpu_backend_for_good() {
    let engine = cpu_engine();
    engine.self_test().unwrap();
    let report = engine
        .inject(&FaultRequest {
            kind: FaultKind::GpuIllegalAddress,
            xid: None,
            duration_ms: None,
        })
        .unwrap();
    assert_eq!(report.error_class, "CUDA_ERROR_ILLEGAL_ADDRESS");
    assert_eq!(report.reaction, "exit");
    assert!(report.detail.contains("emulated"));
    let plan = engine.plan(&dialogue(1)).unwrap();
    let mut state = engine.initial_state(&plan);
    for _ in 0..2 {
        let err = engine.synthesize(&plan, &mut state, 8).unwrap_err();
        assert!(err.is_sticky());
        assert_eq!(err.error_class(), "CUDA_ERROR_ILLEGAL_ADDRESS");
        assert_eq!(
            engine.self_test().unwrap_err().error_class(),
            "CUDA_ERROR_ILLEGAL_ADDRESS"
        );
    }
}

#[test]
fn a_hang_holds_the_device_and_an_oom_is_a_real_failure_that_is_not_sticky() {
    let watchdog = std::time::Duration::from_millis(200);
    // The OOM helper is the worker binary (this test's own executable is not).
    let backend =
        CpuBackend::with_threads(2).with_memory_helper(env!("CARGO_BIN_EXE_synth-worker").into());
    let engine = Engine::with_backend(
        Box::new(backend),
        &EngineConfig {
            backend: BackendChoice::Cpu,
            watchdog,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let fault = |kind, xid| FaultRequest {
        kind,
        xid,
        duration_ms: None,
    };
    let oom = engine.inject(&fault(FaultKind::GpuOom, None)).unwrap();
    assert_eq!(oom.error_class, "CUDA_ERROR_OUT_OF_MEMORY");
    assert_eq!(oom.reaction, "continue");
    assert!(
        oom.emulated && oom.allocated_bytes.is_some_and(|b| b > 0),
        "{oom:?}"
    );
    engine.self_test().expect("OOM is not sticky");
    let info = engine.inject(&fault(FaultKind::GpuXid, Some(43))).unwrap();
    assert_eq!(
        (info.error_class.as_str(), info.reaction.as_str()),
        ("XID_43", "continue")
    );
    engine
        .self_test()
        .expect("an informational Xid leaves the device usable");
    assert_eq!(
        engine.oldest_device_work(),
        None,
        "an idle device has no work in flight"
    );
    let hang = engine.inject(&fault(FaultKind::GpuHang, None)).unwrap();
    assert_eq!(
        (hang.error_class.as_str(), hang.reaction.as_str()),
        ("KERNEL_HUNG", "watchdog")
    );
    // Nothing in the engine ends it: past the watchdog period the work is still in flight,
    // for the worker's stall watchdog to see.
    std::thread::sleep(watchdog * 2);
    assert!(engine
        .oldest_device_work()
        .is_some_and(|w| w >= watchdog * 2));
}

#[test]
fn xid_classes_decide_restart_or_out_of_service() {
    for (xid, reaction) in [
        (13, "exit"),
        (79, "unhealthy"),
        (48, "unhealthy"),
        (119, "unhealthy"),
    ] {
        let engine = cpu_engine();
        let report = engine
            .inject(&FaultRequest {
                kind: FaultKind::GpuXid,
                xid: Some(xid),
                duration_ms: None,
            })
            .unwrap();
        assert_eq!(report.error_class, format!("XID_{xid}"));
        assert_eq!(report.reaction, reaction, "xid {xid}");
        let err = engine.self_test().unwrap_err();
        assert!(err.is_sticky());
        assert_eq!(err.device_bad(), reaction == "unhealthy");
    }
    let engine = cpu_engine();
    let err = engine
        .inject(&FaultRequest {
            kind: FaultKind::Crash,
            xid: None,
            duration_ms: None,
        })
        .unwrap_err();
    assert_eq!(err.error_class(), "UNSUPPORTED_FAULT");
}
