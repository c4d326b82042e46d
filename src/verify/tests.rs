//! Tests of the verifier on speech-like test audio (the real-worker tests
//! live in `tests/verify_worker.rs`).

use super::synthetic::{manifest_for, speech_like};
use super::tamper;
use super::*;

fn job(frames: u64) -> (Vec<i16>, contract::Manifest) {
    let samples = speech_like(frames, 11);
    let manifest = manifest_for(&samples, 8, &[(9, "standby", 2)]);
    (samples, manifest)
}

fn wav(samples: &[i16]) -> contract::Wav {
    contract::Wav {
        sample_rate: contract::SAMPLE_RATE,
        channels: 1,
        bits_per_sample: 16,
        samples: samples.to_vec(),
    }
}

#[test]
fn exact_passes_identical_audio_and_lists_seams() {
    let (samples, manifest) = job(160);
    let verdict = verify_exact(&samples, &samples, Some(&manifest));
    assert!(verdict.intact, "{}", verdict.summary);
    assert_eq!(verdict.seams.len(), 1);
    assert_eq!(verdict.seams[0].chunk_index, 9);
    assert_eq!(verdict.seams[0].sample, 9 * 25_600);
    assert!(verdict.mismatch.is_none());
}

#[test]
fn exact_names_the_first_difference_its_chunk_and_seam() {
    let (samples, manifest) = job(160);
    let mut candidate = samples.clone();
    let at = 9 * 25_600 + 17;
    candidate[at] = candidate[at].wrapping_add(1);
    candidate[at + 1000] = candidate[at + 1000].wrapping_add(1);
    let verdict = verify_exact(&samples, &candidate, Some(&manifest));
    assert!(!verdict.intact);
    let m = verdict.mismatch.clone().expect("a mismatch");
    assert_eq!(m.first_sample, at as u64);
    assert_eq!(m.chunk_index, Some(9));
    assert!(m.at_seam);
    assert_eq!(m.samples_after_seam, Some(17));
    assert_eq!(m.differing_samples, 2);
    assert_eq!(m.length_difference, 0);
    assert!((m.time_s - at as f64 / 24_000.0).abs() < 1e-9);
    assert_eq!(verdict.failed_checks(), vec!["samples"]);
}

#[test]
fn exact_reports_a_length_difference_where_the_shorter_ends() {
    let (samples, manifest) = job(80);
    let candidate = &samples[..samples.len() - 3200];
    let verdict = verify_exact(&samples, candidate, Some(&manifest));
    assert!(!verdict.intact);
    let m = verdict.mismatch.clone().expect("a mismatch");
    assert_eq!(m.first_sample, candidate.len() as u64);
    assert_eq!(m.length_difference, -3200);
    assert_eq!(m.differing_samples, 0);
    assert_eq!(verdict.failed_checks(), vec!["length"]);
}

#[test]
fn structural_passes_untouched_audio() {
    let (samples, manifest) = job(240);
    let verdict = verify_structural(&wav(&samples), &manifest, 240);
    assert!(verdict.intact, "{:#?}", verdict.checks);
    assert_eq!(verdict.seams.len(), 1);
    assert!(verdict.seams[0].resume);
    assert!(verdict.seams[0].score.is_some());
}

#[test]
fn structural_catches_each_tampering() {
    let (samples, manifest) = job(240);
    let position = 9;
    let cases = [
        tamper::repeat_chunk(&samples, &manifest, position).unwrap(),
        tamper::drop_chunk(&samples, &manifest, position).unwrap(),
        tamper::shift_one_sample(&samples, &manifest, position).unwrap(),
        tamper::splice_click(&samples, &manifest, position, 8000).unwrap(),
    ];
    let expected: [&[&str]; 4] = [
        &["length", "manifest-contiguous", "no-repeated-audio"],
        &["length", "manifest-contiguous"],
        &["length", "manifest-contiguous"],
        &["seams"],
    ];
    for (case, expected) in cases.iter().zip(expected) {
        let verdict = verify_structural(&wav(&case.samples), &case.manifest, 240);
        let failed = verdict.failed_checks();
        for name in expected {
            assert!(failed.contains(name), "{}: {failed:?}", case.what);
        }
    }
}

#[test]
fn an_expected_length_that_wraps_is_not_the_audio_length() {
    let (samples, manifest) = job(80);
    // 2^57 frames times 3200 samples wraps a u64 back to 0 extra samples.
    let verdict = verify_structural(&wav(&samples), &manifest, 80 + (1u64 << 57));
    assert!(!verdict.intact, "{}", verdict.summary);
    assert!(verdict.failed_checks().contains(&"length"));
}

#[test]
fn a_phantom_chunk_whose_products_wrap_is_caught() {
    let (samples, mut manifest) = job(80);
    let phantom = 1u64 << 57;
    let last = manifest.chunks.last().unwrap().clone();
    manifest.chunks.push(contract::ChunkRecord {
        index: last.index + 1,
        first_frame: last.first_frame + last.frames,
        frames: phantom,
        first_sample: last.first_sample + last.sample_count,
        sample_count: 0,
        blake3: hash::chunk_hash(&[]),
        epoch: last.epoch,
        writer: last.writer.clone(),
    });
    manifest.chunk_frames = phantom;
    manifest.frames_total += phantom;
    manifest.total_samples = manifest.frames_total.wrapping_mul(3200);
    let verdict = verify_structural(&wav(&samples), &manifest, manifest.frames_total);
    assert!(!verdict.intact, "{}", verdict.summary);
    let failed = verdict.failed_checks();
    assert!(failed.contains(&"manifest-contiguous"), "{failed:?}");
    assert!(failed.contains(&"length"), "{failed:?}");
}

#[test]
fn empty_audio_is_never_intact() {
    let empty = contract::Manifest {
        job_id: "j".into(),
        sample_rate: contract::SAMPLE_RATE,
        samples_per_frame: contract::SAMPLES_PER_FRAME as u64,
        chunk_frames: 8,
        frames_total: 0,
        total_samples: 0,
        chunks: vec![],
    };
    let verdict = verify_structural(&wav(&[]), &empty, 0);
    assert!(!verdict.intact, "{}", verdict.summary);
    assert_eq!(verdict.failed_checks(), vec!["length"]);
    let verdict = verify_exact(&[], &[], None);
    assert!(!verdict.intact, "{}", verdict.summary);
    assert!(
        verdict.summary.contains("nothing to compare"),
        "{}",
        verdict.summary
    );
}
