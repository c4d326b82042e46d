//! Calibrating the seam detector: its scores on real, seamless chunk
//! boundaries (every boundary of an uninterrupted job), and on the same
//! boundaries after each kind of tampering.
//!
//! A good threshold sits above every clean score with room to spare and
//! below the scores of the tamperings. `takeover verify --calibrate` prints
//! this for a job's audio; the tests assert it on real worker audio.

use contract::Manifest;
use serde::Serialize;

use super::detector::DetectorConfig;
use super::tamper::{self, TamperError, Tampered};

/// A kind of damage the calibration applies at every boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TamperKind {
    /// The chunk before the boundary plays twice.
    RepeatChunk,
    /// The chunk after the boundary is lost.
    DropChunk,
    /// The audio after the boundary comes one sample early.
    ShiftOneSample,
    /// A click is added at the boundary.
    Click,
}

impl TamperKind {
    /// Every kind, in report order.
    pub const ALL: [TamperKind; 4] = [
        TamperKind::RepeatChunk,
        TamperKind::DropChunk,
        TamperKind::ShiftOneSample,
        TamperKind::Click,
    ];

    /// The kebab-case name the calibration report uses (`repeat-chunk`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TamperKind::RepeatChunk => "repeat-chunk",
            TamperKind::DropChunk => "drop-chunk",
            TamperKind::ShiftOneSample => "shift-one-sample",
            TamperKind::Click => "click",
        }
    }

    /// Applies this damage at the chunk at `position`.
    pub fn apply(
        self,
        samples: &[i16],
        manifest: &Manifest,
        position: usize,
        click_amplitude: i16,
    ) -> Result<Tampered, TamperError> {
        match self {
            TamperKind::RepeatChunk => tamper::repeat_chunk(samples, manifest, position),
            TamperKind::DropChunk => tamper::drop_chunk(samples, manifest, position),
            TamperKind::ShiftOneSample => tamper::shift_one_sample(samples, manifest, position),
            TamperKind::Click => tamper::splice_click(samples, manifest, position, click_amplitude),
        }
    }
}

/// Summary of a set of detector scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreStats {
    /// Scores summarized.
    pub count: usize,
    /// Lowest score.
    pub min: f64,
    /// Median score.
    pub median: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Highest score.
    pub max: f64,
}

impl ScoreStats {
    fn of(mut scores: Vec<f64>) -> Option<Self> {
        if scores.is_empty() {
            return None;
        }
        scores.sort_by(f64::total_cmp);
        let at = |q: f64| scores[((scores.len() - 1) as f64 * q).round() as usize];
        Some(Self {
            count: scores.len(),
            min: scores[0],
            median: at(0.5),
            p99: at(0.99),
            max: scores[scores.len() - 1],
        })
    }
}

impl std::fmt::Display for TamperKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the detector did on one kind of damage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindCalibration {
    /// The damage.
    pub kind: TamperKind,
    /// Boundaries damaged and scored.
    pub tried: usize,
    /// Of those, scored above the threshold.
    pub detected: usize,
    /// Their scores.
    pub scores: Option<ScoreStats>,
    /// Boundaries damaged where the audio is audible on both sides (RMS of
    /// the 512 samples either side at least [`AUDIBLE_RMS`]): there a
    /// repeated or dropped chunk can be heard; in a pause it cannot.
    pub audible_tried: usize,
    /// Of those, scored above the threshold.
    pub audible_detected: usize,
}

/// RMS (in sample units, about -50 dBFS) above which audio counts as audible.
pub const AUDIBLE_RMS: f64 = 100.0;

fn audible_both_sides(samples: &[i16], at: usize) -> bool {
    let rms = |s: &[i16]| {
        if s.is_empty() {
            return 0.0;
        }
        (s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    };
    let before = &samples[at.saturating_sub(512)..at.min(samples.len())];
    let after = &samples[at.min(samples.len())..(at + 512).min(samples.len())];
    rms(before) >= AUDIBLE_RMS && rms(after) >= AUDIBLE_RMS
}

/// The detector's scores on clean and damaged boundaries of one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The threshold judged against.
    pub threshold: f64,
    /// Scores at the job's own (seamless) chunk boundaries.
    pub clean: Option<ScoreStats>,
    /// Clean boundaries scored above the threshold: false alarms.
    pub false_alarms: usize,
    /// Sample offsets of the false alarms.
    pub false_alarm_samples: Vec<u64>,
    /// Per kind of damage.
    pub tampered: Vec<KindCalibration>,
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = |f: &mut std::fmt::Formatter<'_>,
                   name: &str,
                   hit: String,
                   s: &Option<ScoreStats>| {
            match s {
                Some(s) => writeln!(
                    f,
                    "  {name:<18} {:>6} {hit:>14}  min {:>8.2}  median {:>8.2}  p99 {:>8.2}  max {:>8.2}",
                    s.count, s.min, s.median, s.p99, s.max
                ),
                None => writeln!(f, "  {name:<18} no boundary could be scored"),
            }
        };
        writeln!(f, "seam detector calibration, threshold {}", self.threshold)?;
        writeln!(
            f,
            "  {:<18} {:>6} {:>14}",
            "boundaries", "scored", "over threshold"
        )?;
        row(
            f,
            "clean (real seams)",
            format!("{}", self.false_alarms),
            &self.clean,
        )?;
        for kind in &self.tampered {
            row(
                f,
                kind.kind.as_str(),
                format!("{}/{}", kind.detected, kind.tried),
                &kind.scores,
            )?;
            writeln!(
                f,
                "  {:<18} {:>6} {:>14}  (boundaries audible on both sides)",
                "",
                kind.audible_tried,
                format!("{}/{}", kind.audible_detected, kind.audible_tried)
            )?;
        }
        Ok(())
    }
}

/// Chunks `from..to` of a job as a job of their own (offsets from 0).
pub fn excerpt(
    samples: &[i16],
    manifest: &Manifest,
    from: usize,
    to: usize,
) -> (Vec<i16>, Manifest) {
    let chunks: Vec<_> = manifest.chunks[from..to].to_vec();
    let start = chunks.first().map_or(0, |c| c.first_sample) as usize;
    let end = chunks
        .last()
        .map_or(0, |c| (c.first_sample + c.sample_count) as usize)
        .min(samples.len());
    let first_frame = chunks.first().map_or(0, |c| c.first_frame);
    let chunks = chunks
        .into_iter()
        .map(|mut c| {
            c.first_sample -= start as u64;
            c.first_frame -= first_frame;
            c
        })
        .collect();
    (
        samples[start.min(end)..end].to_vec(),
        Manifest {
            chunks,
            ..manifest.clone()
        },
    )
}

/// Scores every chunk boundary of a job as it is (`clean`), then with each
/// kind of damage applied there, one boundary at a time.
pub fn calibrate(
    samples: &[i16],
    manifest: &Manifest,
    detector: &DetectorConfig,
    click_amplitude: i16,
) -> Calibration {
    let n = manifest.chunks.len();
    let mut clean = Vec::new();
    let mut false_alarm_samples = Vec::new();
    for chunk in manifest.chunks.iter().skip(1) {
        if let Some(s) = detector.score(samples, chunk.first_sample as usize) {
            if s.score > detector.threshold {
                false_alarm_samples.push(chunk.first_sample);
            }
            clean.push(s.score);
        }
    }
    let tampered = TamperKind::ALL
        .iter()
        .map(|&kind| {
            let mut scores = Vec::new();
            let (mut audible_tried, mut audible_detected) = (0, 0);
            // Two chunks of context before the damaged boundary, two after.
            for position in 1..n {
                let from = position.saturating_sub(2);
                let to = (position + 2).min(n);
                let (audio, local) = excerpt(samples, manifest, from, to);
                let Ok(damaged) = kind.apply(&audio, &local, position - from, click_amplitude)
                else {
                    continue;
                };
                let at = damaged.at_sample as usize;
                if let Some(s) = detector.score(&damaged.samples, at) {
                    if audible_both_sides(&damaged.samples, at) {
                        audible_tried += 1;
                        audible_detected += usize::from(s.score > detector.threshold);
                    }
                    scores.push(s.score);
                }
            }
            KindCalibration {
                kind,
                tried: scores.len(),
                detected: scores.iter().filter(|s| **s > detector.threshold).count(),
                scores: ScoreStats::of(scores),
                audible_tried,
                audible_detected,
            }
        })
        .collect();
    Calibration {
        threshold: detector.threshold,
        false_alarms: false_alarm_samples.len(),
        false_alarm_samples,
        clean: ScoreStats::of(clean),
        tampered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tamper_kind_is_named_as_serde_writes_it() {
        for kind in TamperKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
