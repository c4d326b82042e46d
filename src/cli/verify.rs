//! `takeover verify`: check a drilled job's audio against a reference, from files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use contract::{Manifest, Wav, SAMPLES_PER_FRAME, SAMPLE_RATE};

use crate::exit::Outcome;
use crate::verify::{verify_exact, verify_structural, AudioVerdict, Mode};

/// Arguments of `takeover verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// WAV of an uninterrupted reference run of the same script and seed
    /// (required in exact mode; in structural mode it sets the expected length).
    #[arg(long, value_name = "REF.wav")]
    pub reference: Option<PathBuf>,
    /// WAV of the drilled job's audio.
    #[arg(long, value_name = "OUT.wav")]
    pub candidate: PathBuf,
    /// The drilled job's manifest (JSON, as GET /v1/jobs/{id}/manifest returns it);
    /// required in structural mode, optional in exact mode (names chunks and seams).
    #[arg(long, value_name = "M.json")]
    pub manifest: Option<PathBuf>,
    /// exact: bit-identical to the reference; structural: manifest, hashes,
    /// length and seams, no reference needed. Default: exact with a reference,
    /// structural without.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Frames the script implies (structural mode); default: the reference's
    /// length, else the manifest's frames_total.
    #[arg(long, value_name = "N")]
    pub expected_frames: Option<u64>,
    /// Print the verdict as JSON (the same object report.json holds).
    #[arg(long)]
    pub json: bool,
}

/// Runs `takeover verify`: exit 0 intact, 1 not intact, 2 unreadable input.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let mode = args.mode.unwrap_or(if args.reference.is_some() {
        Mode::Exact
    } else {
        Mode::Structural
    });
    let candidate = read_audio(&args.candidate, "candidate")?;
    let reference = args
        .reference
        .as_deref()
        .map(|p| read_audio(p, "reference"))
        .transpose()?;
    let manifest = args.manifest.as_deref().map(read_manifest).transpose()?;

    let verdict = match mode {
        Mode::Exact => {
            let Some(reference) = &reference else {
                bail!("exact mode compares with a reference: pass --reference REF.wav, or use --mode structural");
            };
            verify_exact(&reference.samples, &candidate.samples, manifest.as_ref())
        }
        Mode::Structural => {
            let Some(manifest) = &manifest else {
                bail!("structural mode checks the audio against its manifest: pass --manifest M.json (GET /v1/jobs/{{id}}/manifest)");
            };
            let expected_frames = args
                .expected_frames
                .or_else(|| {
                    reference
                        .as_ref()
                        .map(|r| (r.samples.len() / SAMPLES_PER_FRAME) as u64)
                })
                .unwrap_or(manifest.frames_total);
            verify_structural(&candidate, manifest, expected_frames)
        }
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print!("{}", render(&verdict));
    }
    Ok(if verdict.intact {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

/// Reads a WAV file the verifier can judge, or says plainly why not.
fn read_audio(path: &Path, role: &str) -> anyhow::Result<Wav> {
    let bytes =
        crate::input::read_bytes(path, &format!("{role} audio"), crate::input::AUDIO_LIMIT)?;
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!(
            "the {role} audio {} is not a WAV file (no RIFF/WAVE header); pass the .wav the worker wrote",
            path.display()
        );
    }
    let wav = contract::read_wav_bytes(&bytes).map_err(|err| match err {
        contract::WavError::SampleFormat { bits, format, .. } => anyhow::anyhow!(
            "the {role} audio {} is {bits}-bit {format}; the verifier judges 16-bit integer PCM as workers write it",
            path.display()
        ),
        other => anyhow::anyhow!(
            "the {role} audio {} is truncated or damaged ({}); fetch it again (GET /v1/jobs/{{id}}/audio)",
            path.display(),
            cause_of(&other)
        ),
    })?;
    if wav.sample_rate != SAMPLE_RATE || wav.channels != 1 {
        bail!(
            "the {role} audio {} is {} Hz with {} channel(s); the verifier judges {SAMPLE_RATE} Hz mono 16-bit audio as workers write it",
            path.display(),
            wav.sample_rate,
            wav.channels
        );
    }
    Ok(wav)
}

fn cause_of(err: &contract::WavError) -> String {
    match err {
        contract::WavError::Format { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = crate::input::read_text(path, "manifest", crate::input::MANIFEST_LIMIT)?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "the manifest {} is not a job manifest (JSON as GET /v1/jobs/{{id}}/manifest returns it)",
            path.display()
        )
    })
}

/// The verdict as text for a terminal.
fn render(verdict: &AudioVerdict) -> String {
    let mut out = format!("{}\n", verdict.summary);
    for check in &verdict.checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        out.push_str(&format!("  {mark} {:<22} {}\n", check.name, check.detail));
    }
    for seam in &verdict.seams {
        out.push_str(&format!(
            "  seam at sample {} ({:.3} s), chunk {}: {}@{} -> {}@{}{}{}\n",
            seam.sample,
            seam.time_s,
            seam.chunk_index,
            seam.before.writer,
            seam.before.epoch,
            seam.after.writer,
            seam.after.epoch,
            seam.score
                .map(|s| format!(", score {s:.2} (threshold {})", seam.threshold))
                .unwrap_or_default(),
            if seam.suspect { ", SUSPECT" } else { "" },
        ));
    }
    out
}
