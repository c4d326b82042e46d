//! Structural mode: judge the candidate by its manifest and by the audio
//! itself, without a reference.

use contract::{Manifest, Wav, SAMPLES_PER_FRAME, SAMPLE_RATE};
use serde_json::json;

use super::boundaries::boundaries;
use super::detector::DetectorConfig;
use super::hash::chunk_hash;
use super::verdict::{seconds_at, AudioVerdict, CheckResult, Mode, SeamReport};

/// Problems listed in full in a check's evidence; beyond that only counted.
const MAX_LISTED: usize = 20;

/// Checks the candidate against its manifest and the length the script
/// implies, and scans every chunk boundary for an unexplained discontinuity,
/// with the calibrated detector.
pub fn verify_structural(
    candidate: &Wav,
    manifest: &Manifest,
    expected_frames: u64,
) -> AudioVerdict {
    verify_structural_with(
        candidate,
        manifest,
        expected_frames,
        &DetectorConfig::default(),
    )
}

/// [`verify_structural`] with a chosen detector configuration.
pub fn verify_structural_with(
    candidate: &Wav,
    manifest: &Manifest,
    expected_frames: u64,
    detector: &DetectorConfig,
) -> AudioVerdict {
    let samples = &candidate.samples;
    let (seam_check, seams) = check_seams(samples, manifest, detector);
    let checks = vec![
        check_header(candidate, manifest),
        check_length(samples.len() as u64, expected_frames),
        check_contiguity(manifest),
        check_coverage(samples.len() as u64, manifest),
        check_hashes(samples, manifest),
        check_epochs(manifest),
        check_duplicates(samples, manifest),
        seam_check,
    ];
    AudioVerdict::from_checks(Mode::Structural, samples.len() as u64, checks, seams, None)
}

/// The WAV is 24 kHz mono 16-bit, and the manifest says the same rate and frame size.
fn check_header(wav: &Wav, manifest: &Manifest) -> CheckResult {
    let mut problems = Vec::new();
    if wav.sample_rate != SAMPLE_RATE {
        problems.push(format!(
            "WAV sample rate {} Hz, expected {SAMPLE_RATE}",
            wav.sample_rate
        ));
    }
    if wav.channels != 1 {
        problems.push(format!("WAV has {} channels, expected 1", wav.channels));
    }
    if wav.bits_per_sample != 16 {
        problems.push(format!(
            "WAV has {} bits per sample, expected 16",
            wav.bits_per_sample
        ));
    }
    if manifest.sample_rate != SAMPLE_RATE {
        problems.push(format!(
            "manifest sample rate {} Hz, expected {SAMPLE_RATE}",
            manifest.sample_rate
        ));
    }
    if manifest.samples_per_frame != SAMPLES_PER_FRAME as u64 {
        problems.push(format!(
            "manifest has {} samples per frame, expected {SAMPLES_PER_FRAME}",
            manifest.samples_per_frame
        ));
    }
    CheckResult::new(
        "wav-header",
        problems.is_empty(),
        if problems.is_empty() {
            "24 kHz mono 16-bit, as the manifest says".to_string()
        } else {
            problems.join("; ")
        },
        json!({
            "sample_rate": wav.sample_rate,
            "channels": wav.channels,
            "bits_per_sample": wav.bits_per_sample,
            "manifest_sample_rate": manifest.sample_rate,
            "manifest_samples_per_frame": manifest.samples_per_frame,
        }),
    )
}

/// The audio is as long as the script implies, and holds something.
fn check_length(actual: u64, expected_frames: u64) -> CheckResult {
    let Some(expected) = expected_frames.checked_mul(SAMPLES_PER_FRAME as u64) else {
        return CheckResult::new(
            "length",
            false,
            format!(
                "the script would need {expected_frames} frames, more samples than any audio can hold; the audio holds {actual}"
            ),
            json!({ "expected_frames": expected_frames, "actual_samples": actual }),
        );
    };
    if actual == 0 {
        return CheckResult::new(
            "length",
            false,
            format!("the audio is empty; the script implies {expected} samples ({expected_frames} frames)"),
            json!({ "expected_frames": expected_frames, "expected_samples": expected, "actual_samples": 0 }),
        );
    }
    let difference = i128::from(actual) - i128::from(expected);
    CheckResult::new(
        "length",
        difference == 0,
        if difference == 0 {
            format!("{actual} samples = {expected_frames} frames, as the script implies")
        } else {
            format!(
                "{actual} samples, the script implies {expected} ({expected_frames} frames): {difference:+} samples ({:+.3} frames)",
                difference as f64 / SAMPLES_PER_FRAME as f64
            )
        },
        json!({
            "expected_frames": expected_frames,
            "expected_samples": expected,
            "actual_samples": actual,
            "difference_samples": i64::try_from(difference).ok(),
        }),
    )
}

/// Chunks 0..n in order, none missing, repeated or overlapping; frames and
/// samples add up, and to the manifest's totals.
fn check_contiguity(manifest: &Manifest) -> CheckResult {
    let spf = manifest.samples_per_frame;
    let mut problems = Vec::new();
    let mut next_frame = 0u64;
    let mut next_sample = 0u64;
    for (position, chunk) in manifest.chunks.iter().enumerate() {
        let expected_index = position as u64;
        if chunk.index != expected_index {
            let kind = if chunk.index < expected_index {
                "repeated or out of order"
            } else {
                "missing chunk(s) before it"
            };
            problems.push(json!({
                "problem": "index", "position": position, "index": chunk.index,
                "expected_index": expected_index, "kind": kind,
            }));
        }
        if chunk.first_frame != next_frame {
            let kind = if chunk.first_frame < next_frame {
                "overlap"
            } else {
                "gap"
            };
            problems.push(json!({
                "problem": "first_frame", "index": chunk.index, "first_frame": chunk.first_frame,
                "expected_first_frame": next_frame, "kind": kind,
            }));
        }
        if chunk.first_sample != next_sample {
            let kind = if chunk.first_sample < next_sample {
                "overlap"
            } else {
                "gap"
            };
            problems.push(json!({
                "problem": "first_sample", "index": chunk.index, "first_sample": chunk.first_sample,
                "expected_first_sample": next_sample, "kind": kind,
            }));
        }
        if chunk.frames == 0 || chunk.frames > manifest.chunk_frames.max(1) {
            problems.push(json!({
                "problem": "frames", "index": chunk.index, "frames": chunk.frames,
                "chunk_frames": manifest.chunk_frames,
            }));
        }
        // A product that does not fit is never a real chunk (a forged one
        // would otherwise wrap to the sample count it claims).
        let expected_count = chunk.frames.checked_mul(spf);
        if expected_count != Some(chunk.sample_count) {
            problems.push(json!({
                "problem": "sample_count", "index": chunk.index, "sample_count": chunk.sample_count,
                "expected_sample_count": expected_count,
            }));
        }
        next_frame = chunk.first_frame.saturating_add(chunk.frames);
        next_sample = chunk.first_sample.saturating_add(chunk.sample_count);
    }
    // Summed wide, so that no sum of forged counts wraps to the right total.
    let frames_sum: u128 = manifest.chunks.iter().map(|c| u128::from(c.frames)).sum();
    if frames_sum != u128::from(manifest.frames_total) {
        problems.push(json!({
            "problem": "frames_total", "frames_in_chunks": u64::try_from(frames_sum).ok(),
            "frames_total": manifest.frames_total,
        }));
    }
    let expected_total = manifest.frames_total.checked_mul(spf);
    if expected_total != Some(manifest.total_samples) {
        problems.push(json!({
            "problem": "total_samples", "total_samples": manifest.total_samples,
            "expected_total_samples": expected_total,
        }));
    }
    let count = problems.len();
    let detail = match problems.first() {
        None => format!(
            "{} chunks in order, {} frames, no gap, repeat or overlap",
            manifest.chunks.len(),
            frames_sum
        ),
        Some(first) => format!("{count} problem(s); first: {first}"),
    };
    problems.truncate(MAX_LISTED);
    CheckResult::new(
        "manifest-contiguous",
        count == 0,
        detail,
        json!({
            "chunks": manifest.chunks.len(),
            "frames_in_chunks": u64::try_from(frames_sum).ok(),
            "frames_total": manifest.frames_total,
            "problem_count": count,
            "problems": problems,
        }),
    )
}

/// The manifest's chunks cover exactly the audio.
fn check_coverage(audio_samples: u64, manifest: &Manifest) -> CheckResult {
    let covered: u128 = manifest
        .chunks
        .iter()
        .map(|c| u128::from(c.sample_count))
        .sum();
    let difference = i128::from(audio_samples) - covered as i128;
    CheckResult::new(
        "manifest-covers-audio",
        difference == 0,
        if difference == 0 {
            format!("the chunks cover the {audio_samples} samples exactly")
        } else {
            format!(
                "the chunks cover {covered} samples, the audio holds {audio_samples} ({difference:+})"
            )
        },
        json!({
            "audio_samples": audio_samples,
            "manifest_samples": u64::try_from(covered).ok(),
            "difference_samples": i64::try_from(difference).ok(),
        }),
    )
}

/// Every chunk's blake3 matches the audio at the chunk's recorded place.
fn check_hashes(samples: &[i16], manifest: &Manifest) -> CheckResult {
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    let mut checked = 0usize;
    for chunk in &manifest.chunks {
        let start = chunk.first_sample as usize;
        let end = chunk.first_sample.saturating_add(chunk.sample_count) as usize;
        let actual = if end <= samples.len() && start <= end {
            checked += 1;
            Some(chunk_hash(&samples[start..end]))
        } else {
            None
        };
        if actual.as_deref() != Some(chunk.blake3.as_str()) {
            bad_count += 1;
            if bad.len() < MAX_LISTED {
                bad.push(json!({
                    "index": chunk.index,
                    "first_sample": chunk.first_sample,
                    "time_s": seconds_at(chunk.first_sample),
                    "expected": chunk.blake3,
                    "actual": actual,
                    "why": if actual.is_some() { "hash differs" } else { "chunk lies beyond the audio" },
                }));
            }
        }
    }
    let detail = match bad.first() {
        None => format!("all {checked} chunk hashes match the audio"),
        Some(first) => format!(
            "{bad_count} of {} chunks do not match their hash; first: chunk {} at sample {}",
            manifest.chunks.len(),
            first["index"],
            first["first_sample"]
        ),
    };
    CheckResult::new(
        "chunk-hashes",
        bad_count == 0,
        detail,
        json!({ "chunks": manifest.chunks.len(), "mismatched": bad_count, "mismatches": bad }),
    )
}

/// No chunk was committed under an epoch older than an earlier chunk's: such a
/// chunk came from a fenced-off (stale) writer.
fn check_epochs(manifest: &Manifest) -> CheckResult {
    let mut highest = 0u64;
    let mut stale = Vec::new();
    let mut stale_count = 0usize;
    for chunk in &manifest.chunks {
        if chunk.epoch < highest {
            stale_count += 1;
            if stale.len() < MAX_LISTED {
                stale.push(json!({
                    "index": chunk.index,
                    "first_sample": chunk.first_sample,
                    "writer": chunk.writer,
                    "epoch": chunk.epoch,
                    "newer_epoch_seen": highest,
                }));
            }
        }
        highest = highest.max(chunk.epoch);
    }
    let epochs: std::collections::BTreeSet<u64> = manifest.chunks.iter().map(|c| c.epoch).collect();
    let detail = match stale.first() {
        None => format!("epochs never go back (epochs seen: {epochs:?})"),
        Some(first) => format!(
            "{stale_count} chunk(s) written under a stale epoch; first: chunk {} by {} at epoch {} after epoch {}",
            first["index"], first["writer"], first["epoch"], first["newer_epoch_seen"]
        ),
    };
    CheckResult::new(
        "epochs",
        stale_count == 0,
        detail,
        json!({ "epochs": epochs, "stale_count": stale_count, "stale": stale }),
    )
}

/// No two chunks hold the same audio: a chunk committed twice shows up here
/// even when the manifest was renumbered around it. Chunks of digital
/// silence (all zero) are left out: those may repeat naturally.
fn check_duplicates(samples: &[i16], manifest: &Manifest) -> CheckResult {
    let mut seen: std::collections::HashMap<&str, &contract::ChunkRecord> =
        std::collections::HashMap::new();
    let mut repeats = Vec::new();
    let mut repeat_count = 0usize;
    for chunk in &manifest.chunks {
        let start = chunk.first_sample as usize;
        let end = chunk.first_sample.saturating_add(chunk.sample_count) as usize;
        let silent = samples
            .get(start..end)
            .is_some_and(|audio| audio.iter().all(|&s| s == 0));
        if silent || chunk.sample_count == 0 {
            continue;
        }
        match seen.get(chunk.blake3.as_str()) {
            Some(first) => {
                repeat_count += 1;
                if repeats.len() < MAX_LISTED {
                    repeats.push(json!({
                        "index": chunk.index,
                        "first_sample": chunk.first_sample,
                        "time_s": seconds_at(chunk.first_sample),
                        "same_audio_as_index": first.index,
                        "same_audio_as_sample": first.first_sample,
                    }));
                }
            }
            None => {
                seen.insert(chunk.blake3.as_str(), chunk);
            }
        }
    }
    let detail = match repeats.first() {
        None => "no chunk repeats another's audio".to_string(),
        Some(first) => format!(
            "{repeat_count} chunk(s) repeat earlier audio; first: chunk {} at sample {} is chunk {} again",
            first["index"], first["first_sample"], first["same_audio_as_index"]
        ),
    };
    CheckResult::new(
        "no-repeated-audio",
        repeat_count == 0,
        detail,
        json!({ "repeated": repeat_count, "repeats": repeats }),
    )
}

/// Runs the detector at every chunk boundary; reports every resume seam and
/// every suspect boundary.
fn check_seams(
    samples: &[i16],
    manifest: &Manifest,
    detector: &DetectorConfig,
) -> (CheckResult, Vec<SeamReport>) {
    let all = boundaries(manifest);
    let mut reports = Vec::new();
    let mut scanned = 0usize;
    let mut suspect_count = 0usize;
    let mut max_score: Option<(f64, u64)> = None;
    for boundary in all.iter() {
        let score = usize::try_from(boundary.sample)
            .ok()
            .and_then(|at| detector.score(samples, at));
        if let Some(s) = &score {
            scanned += 1;
            if max_score.is_none_or(|(m, _)| s.score > m) {
                max_score = Some((s.score, boundary.sample));
            }
        }
        let suspect = score.is_some_and(|s| s.score > detector.threshold);
        suspect_count += usize::from(suspect);
        if boundary.is_resume() || suspect {
            reports.push(SeamReport {
                chunk_index: boundary.chunk_index,
                sample: boundary.sample,
                time_s: seconds_at(boundary.sample),
                resume: boundary.is_resume(),
                before: boundary.before.clone(),
                after: boundary.after.clone(),
                score: score.map(|s| s.score),
                threshold: detector.threshold,
                peak_sample: score.map(|s| s.peak_sample),
                suspect,
            });
        }
    }
    let resume_count = all.iter().filter(|b| b.is_resume()).count();
    let first_suspect = reports.iter().find(|r| r.suspect);
    let detail = match first_suspect {
        None => format!(
            "no discontinuity at {scanned} chunk boundaries ({resume_count} resume seams); highest score {:.2}, threshold {}",
            max_score.map_or(0.0, |m| m.0),
            detector.threshold
        ),
        Some(first) => format!(
            "{suspect_count} boundary(ies) show a discontinuity; first at sample {} ({:.3} s, chunk {}{}), score {:.1} over threshold {}",
            first.sample,
            first.time_s,
            first.chunk_index,
            if first.resume { ", a resume seam" } else { "" },
            first.score.unwrap_or(0.0),
            detector.threshold
        ),
    };
    let check = CheckResult::new(
        "seams",
        suspect_count == 0,
        detail,
        json!({
            "boundaries": all.len(),
            "scanned": scanned,
            "resume_seams": resume_count,
            "suspect": suspect_count,
            "threshold": detector.threshold,
            "max_score": max_score.map(|m| m.0),
            "max_score_sample": max_score.map(|m| m.1),
            "detector": detector,
        }),
    );
    (check, reports)
}
