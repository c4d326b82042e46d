//! The audio around each resume seam, for the waveform pictures of the HTML
//! report. The seams come from the verifier's verdict in report.json. The
//! samples come from the seam's `waveform` (written into the verdict at run
//! time by [`attach_waveforms`], so report.json alone is enough), or else from
//! the candidate audio kept beside the report (the iteration's `.wav`
//! artifact). Without either the report says so instead of drawing a picture.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::Iteration;

/// Audio shown on each side of a seam, in ms.
pub const WINDOW_MS: f64 = 25.0;

/// Who wrote the chunks on one side of a seam, as the verdict records it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Owner {
    /// Worker id.
    #[serde(default)]
    pub writer: String,
    /// Lease epoch.
    #[serde(default)]
    pub epoch: u64,
}

/// The audio around a seam as stored in report.json (`waveform` of a seam).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredWaveform {
    /// Sample rate of the audio.
    pub sample_rate: u32,
    /// Offset of `samples[0]` in the whole audio.
    pub start_sample: u64,
    /// The samples, `WINDOW_MS` on each side of the seam (less at the ends).
    pub samples: Vec<i16>,
}

/// Adds a `waveform` ([`StoredWaveform`]) to every resume or suspect seam of a
/// serialized verifier verdict, cut from the candidate audio `samples`. The
/// run calls it when it builds the audio record, so the HTML report can draw
/// each seam from report.json without keeping the whole audio.
pub fn attach_waveforms(verdict: &mut serde_json::Value, samples: &[i16], sample_rate: u32) {
    let Some(seams) = verdict.get_mut("seams").and_then(|s| s.as_array_mut()) else {
        return;
    };
    let half = (WINDOW_MS / 1000.0 * sample_rate as f64).round() as u64;
    let len = samples.len() as u64;
    for seam in seams {
        let flag = |name: &str| seam.get(name).and_then(|v| v.as_bool()).unwrap_or(false);
        if !(flag("resume") || flag("suspect")) {
            continue;
        }
        let Some(at) = seam.get("sample").and_then(|v| v.as_u64()) else {
            continue;
        };
        let at = at.min(len);
        let start = at.saturating_sub(half);
        let end = (at + half).min(len);
        let stored = StoredWaveform {
            sample_rate,
            start_sample: start,
            samples: samples[start as usize..end as usize].to_vec(),
        };
        if let (Some(object), Ok(value)) = (seam.as_object_mut(), serde_json::to_value(stored)) {
            object.insert("waveform".to_string(), value);
        }
    }
}

/// One seam of the verifier's verdict (the fields the report shows).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Seam {
    /// First chunk after the seam.
    #[serde(default)]
    pub chunk_index: u64,
    /// Offset of the seam in samples.
    #[serde(default)]
    pub sample: u64,
    /// The same in seconds.
    #[serde(default)]
    pub time_s: f64,
    /// Whether the writer or epoch changes here.
    #[serde(default)]
    pub resume: bool,
    /// Owner before.
    #[serde(default)]
    pub before: Owner,
    /// Owner after.
    #[serde(default)]
    pub after: Owner,
    /// Discontinuity score, when the detector ran.
    #[serde(default)]
    pub score: Option<f64>,
    /// Score above which the seam is suspect.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Whether the seam shows an unexplained discontinuity.
    #[serde(default)]
    pub suspect: bool,
    /// The audio around it, when the run stored it ([`attach_waveforms`]).
    #[serde(default)]
    pub waveform: Option<StoredWaveform>,
}

/// One check of the verifier's verdict.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Check {
    /// Check name.
    #[serde(default)]
    pub name: String,
    /// Whether it held.
    #[serde(default)]
    pub ok: bool,
    /// What held or what is wrong.
    #[serde(default)]
    pub detail: String,
}

/// The parts of the verifier's verdict (`AudioRecord::verdict`) the report shows.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct VerdictView {
    /// One line for people.
    #[serde(default)]
    pub summary: String,
    /// Every check.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Resume seams and suspect boundaries.
    #[serde(default)]
    pub seams: Vec<Seam>,
}

impl VerdictView {
    /// Reads the verdict leniently: fields it lacks stay empty.
    pub fn of(verdict: &serde_json::Value) -> Self {
        serde_json::from_value(verdict.clone()).unwrap_or_default()
    }
}

/// The audio around one seam.
#[derive(Debug, Clone, PartialEq)]
pub struct SeamWindow {
    /// The seam.
    pub seam: Seam,
    /// Samples from `WINDOW_MS` before the seam to `WINDOW_MS` after it.
    pub samples: Vec<i16>,
    /// Index in `samples` where the chunk after the seam starts.
    pub seam_at: usize,
    /// Sample rate of the audio.
    pub sample_rate: u32,
}

/// The seams of one iteration with their audio, or why there is no audio.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationSeams {
    /// The iteration's number.
    pub iteration: u32,
    /// Each seam with the audio around it (empty `samples` when the audio is missing).
    pub windows: Vec<SeamWindow>,
    /// Why no waveform can be drawn, when none can.
    pub missing_audio: Option<String>,
}

/// Reads the seams of every iteration of the report in `dir`, with the audio
/// around each from the iteration's kept `.wav` artifact (paths relative to `dir`).
pub fn collect(dir: &Path, iterations: &[Iteration]) -> Vec<IterationSeams> {
    iterations.iter().map(|it| for_iteration(dir, it)).collect()
}

/// Reads a kept `.wav` artifact: a path inside `dir` (never `..` or absolute),
/// a regular file under the audio size cap.
fn read_kept_audio(dir: &Path, rel: &str) -> Result<contract::Wav, String> {
    let path = crate::input::confined(dir, rel).ok_or_else(|| {
        format!(
            "the artifact path `{}` leaves the report folder (only paths inside it are read)",
            rel.escape_debug()
        )
    })?;
    let bytes = crate::input::read_bytes(&path, "kept audio", crate::input::AUDIO_LIMIT)
        .map_err(|e| e.to_string())?;
    contract::read_wav_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn for_iteration(dir: &Path, iteration: &Iteration) -> IterationSeams {
    let mut result = IterationSeams {
        iteration: iteration.index,
        ..Default::default()
    };
    let Some(audio) = &iteration.audio else {
        return result;
    };
    let seams: Vec<Seam> = VerdictView::of(&audio.verdict)
        .seams
        .into_iter()
        .filter(|s| s.resume || s.suspect)
        .collect();
    if seams.is_empty() {
        return result;
    }
    if seams.iter().all(|s| s.waveform.is_some()) {
        for mut seam in seams {
            let stored = seam.waveform.take().unwrap_or_default();
            result.windows.push(SeamWindow {
                seam_at: seam
                    .sample
                    .saturating_sub(stored.start_sample)
                    .min(stored.samples.len() as u64) as usize,
                samples: stored.samples,
                sample_rate: stored.sample_rate,
                seam,
            });
        }
        return result;
    }
    let wav_path = audio
        .artifacts
        .iter()
        .find(|a| a.to_ascii_lowercase().ends_with(".wav"));
    let wav = match wav_path {
        None => {
            result.missing_audio =
                Some("the candidate audio was not kept beside the report".into());
            None
        }
        Some(rel) => match read_kept_audio(dir, rel) {
            Ok(wav) => Some(wav),
            Err(e) => {
                result.missing_audio = Some(format!("the kept audio could not be read: {e}"));
                None
            }
        },
    };
    for seam in seams {
        let (samples, seam_at, sample_rate) = match &wav {
            Some(wav) => {
                let half = (WINDOW_MS / 1000.0 * wav.sample_rate as f64).round() as u64;
                let len = wav.samples.len() as u64;
                let at = seam.sample.min(len);
                let start = at.saturating_sub(half);
                let end = (at + half).min(len);
                (
                    wav.samples[start as usize..end as usize].to_vec(),
                    (at - start) as usize,
                    wav.sample_rate,
                )
            }
            None => (Vec::new(), 0, contract::SAMPLE_RATE),
        };
        result.windows.push(SeamWindow {
            seam,
            samples,
            seam_at,
            sample_rate,
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn the_window_around_each_resume_seam_comes_from_the_kept_audio() {
        let dir = std::env::temp_dir().join(format!("takeover-seams-{}", std::process::id()));
        let report = testdata::report();
        let audio = testdata::audio(120 * 3200);
        std::fs::create_dir_all(dir.join("iteration-1")).unwrap();
        contract::write_wav(&dir.join("iteration-1/audio.wav"), &audio).unwrap();
        let all = collect(&dir, &report.iterations);
        assert_eq!(all.len(), 3);
        let first = &all[0];
        assert_eq!(first.missing_audio, None);
        assert_eq!(first.windows.len(), 1);
        let window = &first.windows[0];
        assert_eq!(window.seam.chunk_index, 6);
        assert_eq!(window.samples.len(), 1200);
        assert_eq!(window.seam_at, 600);
        let seam = window.seam.sample as usize;
        assert_eq!(&window.samples[..], &audio[seam - 600..seam + 600]);
        // Iteration 2 kept no audio file: the seam is listed, without samples, with the reason.
        assert!(all[1]
            .missing_audio
            .as_deref()
            .unwrap()
            .contains("could not be read"));
        assert!(all[1].windows[0].samples.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_artifact_path_outside_the_report_folder_is_not_read() {
        let root = std::env::temp_dir().join(format!("takeover-seams-esc-{}", std::process::id()));
        let dir = root.join("report");
        std::fs::create_dir_all(&dir).unwrap();
        let audio = testdata::audio(120 * 3200);
        contract::write_wav(&root.join("outside.wav"), &audio).unwrap();
        let outside = root.join("outside.wav").display().to_string();
        for rel in ["../outside.wav", outside.as_str()] {
            let mut report = testdata::report();
            report.iterations[0].audio.as_mut().unwrap().artifacts = vec![rel.to_string()];
            let all = collect(&dir, &report.iterations[..1]);
            let why = all[0].missing_audio.as_deref().unwrap_or("read");
            assert!(why.contains("leaves the report folder"), "{rel}: {why}");
            assert!(all[0].windows.iter().all(|w| w.samples.is_empty()));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn waveforms_attached_at_run_time_need_no_audio_file() {
        let mut report = testdata::report();
        let audio = testdata::audio(120 * 3200);
        let verdict = &mut report.iterations[0].audio.as_mut().unwrap().verdict;
        attach_waveforms(verdict, &audio, 24_000);
        // It survives the trip through report.json.
        let text = serde_json::to_string(&report).unwrap();
        let report: crate::report::model::Report = serde_json::from_str(&text).unwrap();
        let nowhere = std::env::temp_dir().join("takeover-seams-no-such-dir");
        let all = collect(&nowhere, &report.iterations);
        let window = &all[0].windows[0];
        assert_eq!(all[0].missing_audio, None);
        let seam = window.seam.sample as usize;
        assert_eq!(window.seam_at, 600);
        assert_eq!(&window.samples[..], &audio[seam - 600..seam + 600]);
        // A seam at the very end keeps what audio there is.
        let mut short = serde_json::json!({"seams": [{"sample": 100, "resume": true}, {"sample": 5, "resume": false}]});
        attach_waveforms(&mut short, &audio[..300], 24_000);
        assert_eq!(
            short["seams"][0]["waveform"]["samples"]
                .as_array()
                .unwrap()
                .len(),
            300
        );
        assert!(short["seams"][1].get("waveform").is_none());
    }
}
