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
    /// Exact mode, identical audio (every sample compared), milliseconds.
    pub exact_ms: f64,
    /// Structural mode (hashes, manifest, detector at every boundary), milliseconds.
    pub structural_ms: f64,
    /// The seam detector alone at every boundary, milliseconds.
    pub detector_ms: f64,
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
        writeln!(f, "  exact (identical audio)  {:>9.1} ms", self.exact_ms)?;
        writeln!(
            f,
            "  structural               {:>9.1} ms",
            self.structural_ms
        )?;
        writeln!(f, "    of which seam detector {:>9.1} ms", self.detector_ms)?;
        write!(f, "  verdicts intact: {}", self.intact)
    }
}

/// Builds `minutes` of test audio and times the checks on it, best of `repeats`.
pub fn run(minutes: f64, repeats: u32) -> VerifyBenchFigures {
    let repeats = repeats.max(1);
    let piece = speech_like(2 * 60 * 15 / 2, 7); // two minutes at 7.5 frames/s
    let wanted = (minutes.max(0.0) * 60.0 * contract::SAMPLE_RATE as f64) as usize;
    let mut samples = Vec::with_capacity(wanted + piece.len());
    while samples.len() < wanted {
        samples.extend_from_slice(&piece);
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

    let best = |f: &mut dyn FnMut() -> bool| -> (f64, bool) {
        let mut best = f64::INFINITY;
        let mut ok = true;
        for _ in 0..repeats {
            let start = Instant::now();
            ok &= f();
            best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        }
        (best, ok)
    };
    let (exact_ms, exact_ok) =
        best(&mut || verify_exact(&reference, &samples, Some(&manifest)).intact);
    let (structural_ms, structural_ok) =
        best(&mut || verify_structural(&wav, &manifest, frames).intact);
    let detector = DetectorConfig::default();
    let (detector_ms, _) = best(&mut || {
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
        intact: exact_ok && structural_ok,
    }
}
