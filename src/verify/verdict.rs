//! The verdict types: what a check found, where, and the figures behind it.
//!
//! They are plain data with `Serialize`, so the run report embeds them as
//! they are.

use serde::{Deserialize, Serialize};

/// How the candidate audio is judged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Bit-identical to an uninterrupted reference run of the same script and seed.
    Exact,
    /// Manifest complete and contiguous, hashes right, length right, no
    /// unexplained discontinuity at any seam; for stacks that are not deterministic.
    Structural,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Exact => "exact",
            Mode::Structural => "structural",
        })
    }
}

/// The outcome of one named check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Stable name of the check, e.g. `chunk-hashes`, `length`, `seams`.
    pub name: String,
    /// Whether the check held.
    pub ok: bool,
    /// One sentence a person can read: what held, or what is wrong and where.
    pub detail: String,
    /// The figures behind the verdict (positions in samples, counts, scores).
    pub evidence: serde_json::Value,
}

impl CheckResult {
    /// A check result from its parts.
    pub fn new(
        name: &str,
        ok: bool,
        detail: impl Into<String>,
        evidence: serde_json::Value,
    ) -> Self {
        Self {
            name: name.to_string(),
            ok,
            detail: detail.into(),
            evidence,
        }
    }
}

/// Who wrote a chunk: the worker id and its lease epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkOwner {
    /// Worker id.
    pub writer: String,
    /// Lease epoch at commit.
    pub epoch: u64,
}

/// One chunk boundary the verifier looked at: every resume seam (a change of
/// writer or epoch), and any other chunk boundary the detector found suspect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeamReport {
    /// Index of the first chunk after the boundary.
    pub chunk_index: u64,
    /// Offset of the boundary (first sample of that chunk) in the audio.
    pub sample: u64,
    /// The same offset in seconds.
    pub time_s: f64,
    /// Whether the writer or the epoch changes here (a takeover).
    pub resume: bool,
    /// Owner of the chunk before the boundary.
    pub before: ChunkOwner,
    /// Owner of the chunk after the boundary.
    pub after: ChunkOwner,
    /// The discontinuity score: peak linear-prediction residual at the boundary
    /// over the local residual level. `None` when the detector did not run
    /// (exact mode, or the boundary lies outside the audio).
    pub score: Option<f64>,
    /// Score above which a boundary is suspect.
    pub threshold: f64,
    /// Where the residual peaks, in samples from the start of the audio.
    pub peak_sample: Option<u64>,
    /// Whether the boundary shows a discontinuity the audio around it does not explain.
    pub suspect: bool,
}

/// Where an exact comparison first found a difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// Offset of the first differing sample (or the end of the shorter file).
    pub first_sample: u64,
    /// The same offset in seconds.
    pub time_s: f64,
    /// Reference sample there, if the reference reaches that far.
    pub reference_value: Option<i16>,
    /// Candidate sample there, if the candidate reaches that far.
    pub candidate_value: Option<i16>,
    /// Manifest chunk holding that sample, when a manifest was given.
    pub chunk_index: Option<u64>,
    /// Whether that chunk is the first one after a resume seam.
    pub at_seam: bool,
    /// Samples from the nearest resume seam at or before the difference, if any.
    pub samples_after_seam: Option<u64>,
    /// Samples that differ over the length both files share.
    pub differing_samples: u64,
    /// Candidate length minus reference length, in samples.
    pub length_difference: i64,
}

/// The verdict on one candidate audio: intact or not, with every check's evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioVerdict {
    /// The mode that judged it.
    pub mode: Mode,
    /// True only when every check held.
    pub intact: bool,
    /// One line for people: the verdict and, if not intact, the first reason.
    pub summary: String,
    /// Samples in the candidate.
    pub candidate_samples: u64,
    /// Every check, in the order run.
    pub checks: Vec<CheckResult>,
    /// Resume seams, and other chunk boundaries found suspect.
    pub seams: Vec<SeamReport>,
    /// Exact mode: where the candidate first differs from the reference.
    pub mismatch: Option<Mismatch>,
}

impl AudioVerdict {
    /// Builds a verdict from its checks; `intact` and `summary` follow from them.
    pub fn from_checks(
        mode: Mode,
        candidate_samples: u64,
        checks: Vec<CheckResult>,
        seams: Vec<SeamReport>,
        mismatch: Option<Mismatch>,
    ) -> Self {
        let failed: Vec<&CheckResult> = checks.iter().filter(|c| !c.ok).collect();
        let intact = failed.is_empty();
        let summary = match failed.first() {
            None => format!("intact ({mode}: {} checks held)", checks.len()),
            Some(first) => format!(
                "NOT intact ({mode}: {} of {} checks failed; {}: {})",
                failed.len(),
                checks.len(),
                first.name,
                first.detail
            ),
        };
        Self {
            mode,
            intact,
            summary,
            candidate_samples,
            checks,
            seams,
            mismatch,
        }
    }

    /// The check of that name, if it ran.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Names of the checks that failed.
    pub fn failed_checks(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// Seconds at a sample offset of 24 kHz audio.
pub fn seconds_at(sample: u64) -> f64 {
    sample as f64 / contract::SAMPLE_RATE as f64
}
