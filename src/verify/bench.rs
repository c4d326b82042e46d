//! The verifier's own benchmark: how long the checks take on long audio.
//!
//! `takeover bench` and `benches/verify.rs` call [`run`]. The audio is the
//! speech-like test signal (two minutes, tiled seamlessly to the asked
//! length) cut into default chunks, with a takeover in the middle; reading
//! files is not timed, only the checks.

use std::time::Instant;

use serde::Serialize;

use super::synthetic::{manifest_for, speech_like};
use super::{verify_exact, verify_structural, DetectorConfig};

/// Figures of one benchmark run (best of `repeats`).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyBenchFigures {
    /// Minutes of 24 kHz audio verified.
    pub audio_minutes: f64,
    /// Samples verified.
    pub samples: u64,
    /// Chunk boundaries in the manifest.
    pub boundaries: u64,
    /// Times each check was run; the figures are the fastest.
    pub repeats: u32,
    /// Exact mode, identical audio (every sample compared), wall milliseconds.
    pub exact_ms: f64,
    /// Structural mode (hashes, manifest, detector at every boundary), wall milliseconds.
    pub structural_ms: f64,
    /// The seam detector alone at every boundary, wall milliseconds.
    pub detector_ms: f64,
    /// Exact mode, CPU milliseconds of the one thread doing the work (what
    /// the machine's other load does not inflate).
    pub exact_cpu_ms: f64,
    /// Structural mode, CPU milliseconds of the thread.
    pub structural_cpu_ms: f64,
    /// The seam detector alone, CPU milliseconds of the thread.
    pub detector_cpu_ms: f64,
    /// Whether both verdicts said intact (they should: the audio is untouched).
    pub intact: bool,
}

impl std::fmt::Display for VerifyBenchFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "verifier: {:.0} min of audio, {} samples, {} chunk boundaries (best of {})",
            self.audio_minutes, self.samples, self.boundaries, self.repeats
        )?;
        writeln!(f, "                           wall ms  thread CPU ms")?;
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, wall: f64, cpu: f64| {
            writeln!(f, "  {name:<24} {wall:>9.1} {cpu:>9.1}")
        };
        row(
            f,
            "exact (identical audio)",
            self.exact_ms,
            self.exact_cpu_ms,
        )?;
        row(f, "structural", self.structural_ms, self.structural_cpu_ms)?;
        row(
            f,
            "  of which seam detector",
            self.detector_ms,
            self.detector_cpu_ms,
        )?;
        write!(f, "  verdicts intact: {}", self.intact)
    }
}

/// Builds `minutes` of test audio and times the checks on it, best of three.
pub fn run(minutes: f64) -> VerifyBenchFigures {
    run_with(minutes, 3)
}

/// [`run`] with a chosen number of repeats.
pub fn run_with(minutes: f64, repeats: u32) -> VerifyBenchFigures {
    let repeats = repeats.max(1);
    let piece = speech_like(2 * 60 * 15 / 2, 7); // two minutes at 7.5 frames/s
    let wanted = (minutes.max(0.0) * 60.0 * contract::SAMPLE_RATE as f64) as usize;
    let mut samples = Vec::with_capacity(wanted + piece.len());
    // Each copy a little quieter than the one before, so no chunk repeats
    // another's audio; the piece starts and ends in silence, so the joins are seamless.
    let mut copy = 0;
    while samples.len() < wanted {
        let gain = 1.0 - 0.01 * (copy % 50) as f64;
        samples.extend(piece.iter().map(|&s| (s as f64 * gain).round() as i16));
        copy += 1;
    }
    samples.truncate(wanted - wanted % contract::SAMPLES_PER_FRAME);
    let chunks = samples.len().div_ceil(8 * contract::SAMPLES_PER_FRAME) as u64;
    let manifest = manifest_for(&samples, 8, &[(chunks / 2, "standby", 2)]);
    let wav = contract::Wav {
        sample_rate: contract::SAMPLE_RATE,
        channels: 1,
        bits_per_sample: 16,
        samples: samples.clone(),
    };
    let reference = samples.clone();
    let frames = manifest.frames_total;

    let best = |f: &mut dyn FnMut() -> bool| -> (f64, f64, bool) {
        let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
        let mut ok = true;
        for _ in 0..repeats {
            let (start, start_cpu) = (Instant::now(), thread_cpu_ms());
            ok &= f();
            wall = wall.min(start.elapsed().as_secs_f64() * 1000.0);
            cpu = cpu.min(thread_cpu_ms() - start_cpu);
        }
        (wall, cpu, ok)
    };
    let (exact_ms, exact_cpu_ms, exact_ok) =
        best(&mut || verify_exact(&reference, &samples, Some(&manifest)).intact);
    let (structural_ms, structural_cpu_ms, structural_ok) =
        best(&mut || verify_structural(&wav, &manifest, frames).intact);
    let detector = DetectorConfig::default();
    let (detector_ms, detector_cpu_ms, _) = best(&mut || {
        manifest
            .chunks
            .iter()
            .skip(1)
            .filter_map(|c| detector.score(&samples, c.first_sample as usize))
            .all(|s| s.score <= detector.threshold)
    });
    VerifyBenchFigures {
        audio_minutes: samples.len() as f64 / contract::SAMPLE_RATE as f64 / 60.0,
        samples: samples.len() as u64,
        boundaries: manifest.chunks.len().saturating_sub(1) as u64,
        repeats,
        exact_ms,
        structural_ms,
        detector_ms,
        exact_cpu_ms,
        structural_cpu_ms,
        detector_cpu_ms,
        intact: exact_ok && structural_ok,
    }
}

/// CPU time of the calling thread, in milliseconds.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}
