//! The audio check of an iteration: fetch the drilled job's audio and manifest,
//! get an uninterrupted reference (cached), run the verifier, keep artifacts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use contract::{JobOptions, JobRequest, JobState, Manifest, Script};

use crate::report::model::AudioRecord;
use crate::scenario::AudioExpectation;
use crate::workload::JobClient;

/// Why the audio could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A call to the worker failed.
    #[error(transparent)]
    Worker(#[from] crate::workload::WorkloadError),
    /// The audio is not a WAV the contract describes.
    #[error("the job's audio is not a readable WAV: {0}")]
    Wav(#[from] contract::WavError),
    /// The reference job did not finish.
    #[error("the reference job {0}")]
    Reference(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What identifies an uninterrupted reference: same script, seed, chunking,
/// worker image and backend give the same audio.
pub fn reference_key(
    script: &Script,
    chunk_frames: u32,
    worker_image: &str,
    backend: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(serde_json::to_string(script).unwrap_or_default().as_bytes());
    h.update(&chunk_frames.to_le_bytes());
    h.update(worker_image.as_bytes());
    h.update(backend.as_bytes());
    h.finalize().to_hex()[..24].to_string()
}

/// Gets the reference audio: from `cache_dir` when there, else by running the job
/// once, unpaced and without faults, on `client` (a worker of the fresh stack).
pub async fn reference_audio(
    client: &JobClient,
    script: &Script,
    chunk_frames: u32,
    key: &str,
    cache_dir: &Path,
    deadline: Duration,
) -> Result<(Vec<i16>, String), AudioError> {
    let path = cache_dir.join(format!("reference-{key}.wav"));
    if let Ok(wav) = contract::read_wav(&path) {
        return Ok((wav.samples, format!("cache {}", path.display())));
    }
    let request = JobRequest {
        script: script.clone(),
        options: JobOptions {
            chunk_frames,
            pace_rtf: None,
        },
    };
    let started = std::time::Instant::now();
    let job = client.submit(&request).await?;
    loop {
        let status = client.status(&job.id).await?;
        match status.state {
            JobState::Done => break,
            JobState::Failed => {
                return Err(AudioError::Reference(format!(
                    "failed: {}",
                    status.error.unwrap_or_default()
                )))
            }
            _ if started.elapsed() > deadline => {
                return Err(AudioError::Reference(format!(
                    "did not finish within {deadline:?} ({} of {} frames)",
                    status.frames_done, status.frames_total
                )))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let wav = contract::read_wav_bytes(&client.audio(&job.id).await?)?;
    std::fs::create_dir_all(cache_dir).map_err(|source| AudioError::Io {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("wav.tmp");
    contract::write_wav(&tmp, &wav.samples)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|source| AudioError::Io {
            path: path.clone(),
            source,
        })?;
    Ok((
        wav.samples,
        format!(
            "fresh uninterrupted run in {:.1} s, cached as {}",
            started.elapsed().as_secs_f64(),
            path.display()
        ),
    ))
}

/// The drilled job's audio and manifest.
pub struct Candidate {
    /// The WAV bytes as served.
    pub wav_bytes: Vec<u8>,
    /// The decoded WAV.
    pub wav: contract::Wav,
    /// The manifest.
    pub manifest: Manifest,
}

/// Fetches the drilled job's audio and manifest.
pub async fn fetch_candidate(client: &JobClient, job_id: &str) -> Result<Candidate, AudioError> {
    let wav_bytes = client.audio(job_id).await?;
    let wav = contract::read_wav_bytes(&wav_bytes)?;
    let manifest = client.manifest(job_id).await?;
    Ok(Candidate {
        wav_bytes,
        wav,
        manifest,
    })
}

/// Judges the candidate: exact against `reference` when given, else structural;
/// in both modes also the fencing check against the takeovers the job's status showed.
pub fn judge_candidate(
    candidate: &Candidate,
    reference: Option<(&[i16], String)>,
    expected_frames: u64,
    takeovers: &[crate::verify::Takeover],
) -> AudioRecord {
    let (verdict, reference_note, mode) = match reference {
        Some((samples, note)) => (
            crate::verify::verify_exact(samples, &candidate.wav.samples, Some(&candidate.manifest)),
            Some(note),
            AudioExpectation::Exact,
        ),
        None => (
            crate::verify::verify_structural(&candidate.wav, &candidate.manifest, expected_frames),
            None,
            AudioExpectation::Structural,
        ),
    };
    let verdict = crate::verify::with_fencing(verdict, &candidate.manifest, takeovers);
    AudioRecord {
        mode: match mode {
            AudioExpectation::Exact => "exact",
            AudioExpectation::Structural => "structural",
        }
        .to_string(),
        intact: verdict.intact,
        reference: reference_note,
        verdict: {
            // The audio around each seam travels in report.json for the HTML waveforms.
            let mut json = serde_json::to_value(&verdict).unwrap_or_default();
            crate::report::seams::attach_waveforms(
                &mut json,
                &candidate.wav.samples,
                candidate.wav.sample_rate,
            );
            json
        },
        artifacts: Vec::new(),
    }
}

/// Writes the candidate's audio and manifest into `dir`; returns the file names
/// relative to `report_dir`.
pub fn keep_artifacts(
    candidate: &Candidate,
    dir: &Path,
    report_dir: &Path,
) -> Result<Vec<String>, AudioError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AudioError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let wav = dir.join("candidate.wav");
    std::fs::write(&wav, &candidate.wav_bytes).map_err(io(&wav))?;
    let manifest = dir.join("manifest.json");
    let text = serde_json::to_vec_pretty(&candidate.manifest).unwrap_or_default();
    std::fs::write(&manifest, text).map_err(io(&manifest))?;
    Ok([wav, manifest]
        .iter()
        .map(|p| {
            p.strip_prefix(report_dir)
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_key_changes_with_whatever_changes_the_audio() {
        let script = Script {
            turns: vec![contract::Turn {
                speaker: "a".into(),
                text: "hello there".into(),
            }],
            seed: 1,
        };
        let base = reference_key(&script, 8, "img:1", "cpu");
        assert_eq!(base, reference_key(&script, 8, "img:1", "cpu"));
        let mut other = script.clone();
        other.seed = 2;
        assert_ne!(base, reference_key(&other, 8, "img:1", "cpu"));
        assert_ne!(base, reference_key(&script, 8, "img:2", "cpu"));
        assert_ne!(base, reference_key(&script, 8, "img:1", "cuda"));
        assert_ne!(base, reference_key(&script, 4, "img:1", "cpu"));
    }
}
