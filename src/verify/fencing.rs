//! Fencing: did a stale writer commit chunks after someone else took the job?
//!
//! A deterministic worker's zombie writes the same samples the new owner
//! would, so the audio alone can look perfect after a split brain. The
//! manifest cannot hide it: every chunk names the writer and lease epoch of
//! its commit. A chunk committed at an epoch older than a takeover that had
//! already happened (seen in the job's status), or a chunk whose epoch is
//! older than an earlier chunk's, was committed by a writer that fencing
//! should have refused.

use contract::Manifest;
use serde::Serialize;
use serde_json::json;

use super::verdict::{AudioVerdict, CheckResult};

/// Conflicting chunks listed in full in the evidence; beyond that only counted.
const MAX_LISTED: usize = 40;

/// A takeover as the job's status showed it: from `epoch` on, `owner` held the
/// job, and when that was first seen at most `first_chunk` chunks were committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Takeover {
    /// The new lease epoch.
    pub epoch: u64,
    /// The worker that took the job.
    pub owner: String,
    /// Chunks committed when the new epoch was first seen: every chunk from
    /// this index on was committed after the takeover.
    pub first_chunk: u64,
}

/// One chunk a stale writer committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The chunk's index.
    pub index: u64,
    /// Who committed it.
    pub writer: String,
    /// At which epoch.
    pub epoch: u64,
    /// The newer epoch it should have been refused by.
    pub newer_epoch: u64,
    /// The owner at that newer epoch, when known.
    pub newer_owner: Option<String>,
    /// Why it conflicts, in words.
    pub why: String,
}

/// Chunks of `manifest` committed by a writer whose epoch was already stale.
pub fn conflicts(manifest: &Manifest, takeovers: &[Takeover]) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut highest: Option<(u64, &str)> = None;
    for chunk in &manifest.chunks {
        let after_takeover = takeovers
            .iter()
            .filter(|t| chunk.index >= t.first_chunk && chunk.epoch < t.epoch)
            .max_by_key(|t| t.epoch);
        if let Some(t) = after_takeover {
            out.push(Conflict {
                index: chunk.index,
                writer: chunk.writer.clone(),
                epoch: chunk.epoch,
                newer_epoch: t.epoch,
                newer_owner: Some(t.owner.clone()),
                why: format!(
                    "committed at epoch {} although {} had taken the job at epoch {} with {} chunks committed",
                    chunk.epoch, t.owner, t.epoch, t.first_chunk
                ),
            });
        } else if let Some((epoch, writer)) = highest.filter(|(e, _)| chunk.epoch < *e) {
            out.push(Conflict {
                index: chunk.index,
                writer: chunk.writer.clone(),
                epoch: chunk.epoch,
                newer_epoch: epoch,
                newer_owner: Some(writer.to_string()),
                why: format!(
                    "committed at epoch {} after an earlier chunk of epoch {epoch}",
                    chunk.epoch
                ),
            });
        }
        if highest.is_none_or(|(e, _)| chunk.epoch > e) {
            highest = Some((chunk.epoch, chunk.writer.as_str()));
        }
    }
    out
}

/// Index ranges in words: `40-70, 72`.
fn ranges(indexes: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let start = indexes[i];
        let mut end = start;
        while i + 1 < indexes.len() && indexes[i + 1] == end + 1 {
            i += 1;
            end = indexes[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// The `fencing` check: no chunk committed by a stale writer.
pub fn check_fencing(manifest: &Manifest, takeovers: &[Takeover]) -> CheckResult {
    let found = conflicts(manifest, takeovers);
    let detail = if found.is_empty() {
        match takeovers.iter().map(|t| t.epoch).max() {
            Some(e) => format!(
                "no chunk was committed at a stale epoch ({} takeover(s) seen, last at epoch {e})",
                takeovers.len()
            ),
            None => "no takeover seen and epochs never go back".to_string(),
        }
    } else {
        // Group by writer and epochs so that the sentence names who wrote what.
        let mut groups: Vec<(&Conflict, Vec<u64>)> = Vec::new();
        for c in &found {
            let same = |g: &&mut (&Conflict, Vec<u64>)| {
                g.0.writer == c.writer && g.0.epoch == c.epoch && g.0.newer_epoch == c.newer_epoch
            };
            match groups.iter_mut().find(same) {
                Some(g) => g.1.push(c.index),
                None => groups.push((c, vec![c.index])),
            }
        }
        let named: Vec<String> = groups
            .iter()
            .map(|(c, idx)| {
                format!(
                    "chunk(s) {} by {} at stale epoch {} after epoch {}{}",
                    ranges(idx),
                    c.writer,
                    c.epoch,
                    c.newer_epoch,
                    c.newer_owner
                        .as_deref()
                        .map(|o| format!(" ({o})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        format!(
            "split brain: {} chunk(s) committed by a writer whose lease epoch was stale: {}",
            found.len(),
            named.join("; ")
        )
    };
    let count = found.len();
    let mut listed = found;
    listed.truncate(MAX_LISTED);
    CheckResult::new(
        "fencing",
        count == 0,
        detail,
        json!({ "takeovers": takeovers, "conflicts": count, "conflicting_chunks": listed }),
    )
}

/// `verdict` with the fencing check added (and its `intact` and summary redone).
pub fn with_fencing(
    verdict: AudioVerdict,
    manifest: &Manifest,
    takeovers: &[Takeover],
) -> AudioVerdict {
    let mut checks = verdict.checks;
    checks.push(check_fencing(manifest, takeovers));
    AudioVerdict::from_checks(
        verdict.mode,
        verdict.candidate_samples,
        checks,
        verdict.seams,
        verdict.mismatch,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::ChunkRecord;

    /// A manifest of 8-frame chunks with the given (writer, epoch) per chunk.
    fn manifest(owners: &[(&str, u64)]) -> Manifest {
        let spf = contract::SAMPLES_PER_FRAME as u64;
        let chunks = owners
            .iter()
            .enumerate()
            .map(|(i, (w, e))| ChunkRecord {
                index: i as u64,
                first_frame: i as u64 * 8,
                frames: 8,
                first_sample: i as u64 * 8 * spf,
                sample_count: 8 * spf,
                blake3: format!("{i:064x}"),
                epoch: *e,
                writer: w.to_string(),
            })
            .collect::<Vec<_>>();
        Manifest {
            job_id: "job-1".into(),
            sample_rate: contract::SAMPLE_RATE,
            samples_per_frame: spf,
            chunk_frames: 8,
            frames_total: owners.len() as u64 * 8,
            total_samples: owners.len() as u64 * 8 * spf,
            chunks,
        }
    }

    fn takeover(epoch: u64, owner: &str, first_chunk: u64) -> Takeover {
        Takeover {
            epoch,
            owner: owner.into(),
            first_chunk,
        }
    }

    #[test]
    fn a_clean_takeover_has_no_conflict() {
        let m = manifest(&[
            ("primary", 1),
            ("primary", 1),
            ("standby", 2),
            ("standby", 2),
        ]);
        let check = check_fencing(&m, &[takeover(2, "standby", 2)]);
        assert!(check.ok, "{}", check.detail);
        assert!(check.detail.contains("last at epoch 2"));
    }

    #[test]
    fn a_zombie_that_overwrote_every_chunk_after_the_takeover_is_named() {
        // Recorded from an unfenced split-brain drill: the takeover was seen at
        // chunk 3, and the zombie's epoch-1 commits replaced the standby's, so
        // the epochs never go back and only the takeover gives it away.
        let m = manifest(&[
            ("primary", 1),
            ("primary", 1),
            ("primary", 1),
            ("primary", 1),
            ("primary", 1),
            ("primary", 1),
        ]);
        let check = check_fencing(&m, &[takeover(2, "standby", 3)]);
        assert!(!check.ok);
        assert!(
            check
                .detail
                .contains("chunk(s) 3-5 by primary at stale epoch 1 after epoch 2 (standby)"),
            "{}",
            check.detail
        );
        let listed = check.evidence["conflicting_chunks"].as_array().unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0]["index"], 3);
        assert_eq!(listed[0]["writer"], "primary");
        assert_eq!(listed[0]["epoch"], 1);
        assert_eq!(listed[0]["newer_epoch"], 2);
    }

    #[test]
    fn an_epoch_that_goes_back_is_a_conflict_even_without_a_seen_takeover() {
        let m = manifest(&[
            ("primary", 1),
            ("standby", 2),
            ("primary", 1),
            ("standby", 2),
            ("primary", 1),
        ]);
        let found = conflicts(&m, &[]);
        assert_eq!(
            found.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![2, 4]
        );
        let check = check_fencing(&m, &[]);
        assert!(
            check.detail.contains("chunk(s) 2, 4 by primary"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn chunks_before_the_takeover_are_not_conflicts() {
        let m = manifest(&[("primary", 1), ("primary", 1), ("standby", 2)]);
        assert!(conflicts(&m, &[takeover(2, "standby", 2)]).is_empty());
        // A later second takeover back to the primary at epoch 3 is no conflict either.
        let m = manifest(&[("primary", 1), ("standby", 2), ("primary", 3)]);
        assert!(conflicts(&m, &[takeover(2, "standby", 1), takeover(3, "primary", 2)]).is_empty());
    }

    #[test]
    fn the_check_turns_an_intact_verdict_into_a_broken_one() {
        let m = manifest(&[("primary", 1), ("primary", 1), ("primary", 1)]);
        let samples = vec![0i16; 3 * 8 * contract::SAMPLES_PER_FRAME];
        let exact = super::super::verify_exact(&samples, &samples, Some(&m));
        assert!(exact.intact);
        let judged = with_fencing(exact, &m, &[takeover(2, "standby", 1)]);
        assert!(!judged.intact);
        assert_eq!(judged.failed_checks(), vec!["fencing"]);
        assert!(judged.summary.contains("split brain"), "{}", judged.summary);
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
        assert_eq!(ranges(&[]), "");
    }
}
