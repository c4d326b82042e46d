//! Exact mode: the candidate must be bit-identical to the reference.

use contract::Manifest;
use serde_json::json;

use super::boundaries::{chunk_at, resume_seams};
use super::verdict::{seconds_at, AudioVerdict, CheckResult, Mismatch, Mode, SeamReport};

/// Samples compared as one block before looking sample by sample (one default chunk).
const BLOCK: usize = 8 * contract::SAMPLES_PER_FRAME;

/// Compares the candidate with the reference sample by sample.
///
/// With a manifest (the candidate's), a mismatch names the chunk it falls in
/// and whether that chunk starts at a resume seam, and the verdict lists the
/// resume seams.
pub fn verify_exact(
    reference: &[i16],
    candidate: &[i16],
    manifest: Option<&Manifest>,
) -> AudioVerdict {
    let shared = reference.len().min(candidate.len());
    let (first_diff, differing) = compare(&reference[..shared], &candidate[..shared]);
    let length_difference = candidate.len() as i64 - reference.len() as i64;

    let seams = manifest.map(resume_seams).unwrap_or_default();
    let mut checks = Vec::new();

    // Two empty files are equal, but no job's audio is empty: nothing was checked.
    let empty = candidate.is_empty() || reference.is_empty();
    checks.push(CheckResult::new(
        "length",
        length_difference == 0 && !empty,
        if empty {
            format!(
                "nothing to compare: the candidate holds {} samples, the reference {}",
                candidate.len(),
                reference.len()
            )
        } else if length_difference == 0 {
            format!("both files hold {} samples", candidate.len())
        } else {
            format!(
                "candidate holds {} samples, reference {} ({:+} samples, {:+.3} s)",
                candidate.len(),
                reference.len(),
                length_difference,
                length_difference as f64 / contract::SAMPLE_RATE as f64
            )
        },
        json!({
            "reference_samples": reference.len(),
            "candidate_samples": candidate.len(),
            "length_difference": length_difference,
        }),
    ));

    let first = first_diff.or((length_difference != 0).then_some(shared));
    let mismatch = first.map(|at| {
        let at = at as u64;
        let chunk = manifest.and_then(|m| chunk_at(m, at).map(|i| (m, i)));
        let chunk_index = chunk.map(|(m, i)| m.chunks[i].index);
        let chunk_start = chunk.map(|(m, i)| m.chunks[i].first_sample);
        let at_seam = chunk_start.is_some_and(|start| seams.iter().any(|s| s.sample == start));
        let samples_after_seam = seams
            .iter()
            .filter(|s| s.sample <= at)
            .map(|s| at - s.sample)
            .min();
        Mismatch {
            first_sample: at,
            time_s: seconds_at(at),
            reference_value: reference.get(at as usize).copied(),
            candidate_value: candidate.get(at as usize).copied(),
            chunk_index,
            at_seam,
            samples_after_seam,
            differing_samples: differing,
            length_difference,
        }
    });

    checks.push(match (&first_diff, &mismatch) {
        (Some(_), Some(m)) => CheckResult::new(
            "samples",
            false,
            format!(
                "first difference at sample {} ({:.3} s){}{}; {} of {} shared samples differ",
                m.first_sample,
                m.time_s,
                m.chunk_index
                    .map(|c| format!(", in chunk {c}"))
                    .unwrap_or_default(),
                if m.at_seam {
                    ", the first chunk after a resume seam"
                } else {
                    ""
                },
                m.differing_samples,
                shared
            ),
            serde_json::to_value(m).unwrap_or_default(),
        ),
        _ => CheckResult::new(
            "samples",
            true,
            format!("all {shared} shared samples are identical"),
            json!({ "compared_samples": shared, "differing_samples": 0 }),
        ),
    });

    let seams = seams
        .into_iter()
        .map(|b| SeamReport {
            chunk_index: b.chunk_index,
            sample: b.sample,
            time_s: seconds_at(b.sample),
            resume: true,
            before: b.before,
            after: b.after,
            score: None,
            threshold: 0.0,
            peak_sample: None,
            suspect: false,
        })
        .collect();
    AudioVerdict::from_checks(Mode::Exact, candidate.len() as u64, checks, seams, mismatch)
}

/// First differing index and the count of differing samples of two equal-length slices.
///
/// Blocks are compared whole first (a memory compare); only blocks that
/// differ are walked sample by sample.
fn compare(reference: &[i16], candidate: &[i16]) -> (Option<usize>, u64) {
    let mut first = None;
    let mut differing = 0u64;
    for (block, (r, c)) in reference
        .chunks(BLOCK)
        .zip(candidate.chunks(BLOCK))
        .enumerate()
    {
        if r == c {
            continue;
        }
        if first.is_none() {
            let offset = r.iter().zip(c).position(|(a, b)| a != b).unwrap_or(0);
            first = Some(block * BLOCK + offset);
        }
        differing += r.iter().zip(c).filter(|(a, b)| a != b).count() as u64;
    }
    (first, differing)
}
