//! `cargo bench -p synth-worker --bench engine -- [--backend cpu|cuda|auto] [--minutes 10]
//!  [--speakers 4] [--batch 4096] [--chunk 8] [--compare] [--wav FILE]`
//!
//! Prints frames per second and the real-time factor for a long multi-speaker script, in large
//! batches (`--batch`) and in drill-sized chunks (`--chunk`), the denoise kernel's achieved
//! FLOP/s on CUDA, and with `--compare` how far the chosen backend is from the CPU reference.

use std::time::Duration;

use synth_worker::bench::{bench_script, run_bench, BenchFigures};
use synth_worker::engine::{BackendChoice, Engine, EngineConfig};

struct Args {
    backend: BackendChoice,
    minutes: f64,
    speakers: usize,
    batch: u64,
    chunk: u64,
    compare: bool,
    wav: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        backend: BackendChoice::Auto,
        minutes: 10.0,
        speakers: 4,
        batch: 4096,
        chunk: 8,
        compare: false,
        wav: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => a.backend = value()?.parse()?,
            "--minutes" => a.minutes = value()?.parse().map_err(|e| format!("--minutes: {e}"))?,
            "--speakers" => {
                a.speakers = value()?.parse().map_err(|e| format!("--speakers: {e}"))?
            }
            "--batch" => a.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--chunk" => a.chunk = value()?.parse().map_err(|e| format!("--chunk: {e}"))?,
            "--compare" => a.compare = true,
            "--wav" => a.wav = Some(value()?),
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.batch == 0 || a.chunk == 0 {
        return Err("--batch and --chunk must be at least 1".into());
    }
    Ok(a)
}

fn print(label: &str, f: &BenchFigures) {
    println!(
        "{label}: backend={} device=\"{}\" frames={} batch={} wall={:.3}s audio={:.1}s \
         frames/s={:.0} rtf={:.6} ({:.0}x real time)",
        f.backend,
        f.device,
        f.frames,
        f.batch_frames,
        f.wall_s,
        f.audio_s,
        f.frames_per_s(),
        f.rtf(),
        1.0 / f.rtf()
    );
    if let Some(k) = &f.kernels {
        let flops = k.denoise_flops as f64 / (k.denoise_ms / 1e3);
        println!(
            "{label}: denoise kernel {:.2} ms for {} frames = {:.2} TFLOP/s achieved; \
             render kernel {:.2} ms for {} samples = {:.2} Gsamples/s",
            k.denoise_ms,
            k.denoise_frames,
            flops / 1e12,
            k.render_ms,
            k.render_samples,
            k.render_samples as f64 / (k.render_ms / 1e3) / 1e9
        );
    }
}

fn engine(backend: BackendChoice) -> Engine {
    Engine::new(&EngineConfig {
        backend,
        denoise_steps: 8,
        watchdog: Duration::from_secs(120),
    })
    .unwrap_or_else(|e| {
        eprintln!("cannot start the {backend:?} backend: {e}");
        std::process::exit(2)
    })
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("bench: {e}");
        std::process::exit(2)
    });
    let script = bench_script(args.minutes, args.speakers);
    let eng = engine(args.backend);
    // warm-up: kernel load, weights upload, page faults
    let warm = bench_script(0.1, args.speakers);
    let _ = run_bench(&eng, &warm, args.batch).expect("warm-up run failed");

    let big = run_bench(&eng, &script, args.batch).unwrap_or_else(|e| {
        eprintln!("bench failed: {e}");
        std::process::exit(1)
    });
    print(&format!("{} min, batch", args.minutes), &big);
    let chunked = run_bench(&eng, &script, args.chunk).expect("chunked run failed");
    print(&format!("{} min, drill chunks", args.minutes), &chunked);
    assert_eq!(
        big.samples, chunked.samples,
        "batch size changed the audio: determinism is broken"
    );
    if let Some(path) = &args.wav {
        contract::write_wav(std::path::Path::new(path), &big.samples).expect("writing the WAV");
        println!("wrote {path}");
    }
    if args.compare && eng.backend_name() != "cpu" {
        let cpu = run_bench(&engine(BackendChoice::Cpu), &script, args.batch).expect("cpu run");
        print(&format!("{} min, cpu reference", args.minutes), &cpu);
        let (max_diff, snr_db, differing) = compare(&cpu.samples, &big.samples);
        println!(
            "compare {} vs cpu: samples={} differing={} max_abs_diff={} LSB snr={}",
            eng.backend_name(),
            cpu.samples.len(),
            differing,
            max_diff,
            if snr_db.is_infinite() {
                "inf (bit-identical)".to_string()
            } else {
                format!("{snr_db:.1} dB")
            }
        );
    }
}

/// Largest absolute difference, SNR of `b` against reference `a`, and how many samples differ.
fn compare(a: &[i16], b: &[i16]) -> (i32, f64, usize) {
    let mut max = 0;
    let mut signal = 0.0f64;
    let mut noise = 0.0f64;
    let mut differing = 0;
    for (&x, &y) in a.iter().zip(b) {
        let d = (x as i32 - y as i32).abs();
        max = max.max(d);
        differing += (d != 0) as usize;
        signal += (x as f64).powi(2);
        noise += (d as f64).powi(2);
    }
    (max, 10.0 * (signal / noise).log10(), differing)
}
