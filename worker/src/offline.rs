//! `synth` and `bench`: the engine run straight through, without Redis or HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use contract::{
    ChunkRecord, JobOptions, JobRequest, Manifest, Script, Turn, FRAME_RATE_HZ, SAMPLES_PER_FRAME,
    SAMPLE_RATE,
};
use synth_worker::engine::{Engine, SynthState};

use crate::store::{Checkpoint, FileStore};
use crate::validate::validate;

/// Reads a script file: a `Script` (`{turns, seed}`) or a whole `JobRequest`
/// (`{script, options}`), as JSON or YAML (by extension: `.yaml`/`.yml`).
pub fn load_request(path: &Path) -> Result<JobRequest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read script {}", path.display()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let value: serde_json::Value = if yaml {
        serde_saphyr::from_str(&text)
            .with_context(|| format!("{} is not valid YAML", path.display()))?
    } else {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?
    };
    let req = if value.get("script").is_some() {
        serde_json::from_value::<JobRequest>(value)
    } else {
        serde_json::from_value::<Script>(value).map(|script| JobRequest {
            script,
            options: JobOptions::default(),
        })
    }
    .with_context(|| {
        format!(
            "{} is not a script ({{turns, seed}}) or a job request ({{script, options}})",
            path.display()
        )
    })?;
    validate(&req).with_context(|| format!("{} cannot be synthesized", path.display()))?;
    Ok(req)
}

/// Synthesizes the whole request in chunks, as a served job would, returning the PCM
/// and the manifest (writer `offline`, epoch 0).
pub fn synthesize(engine: &Engine, req: &JobRequest) -> Result<(Vec<i16>, Manifest)> {
    let plan = engine
        .plan(&req.script)
        .context("the script cannot be planned")?;
    let mut state = engine.initial_state(&plan);
    let total = plan.frames_total();
    let chunk_frames = u64::from(req.options.chunk_frames);
    let mut pcm = Vec::with_capacity(total as usize * SAMPLES_PER_FRAME);
    let mut chunks = Vec::new();
    while state.next_frame < total {
        let first_frame = state.next_frame;
        let frames = chunk_frames.min(total - first_frame);
        let chunk = engine
            .synthesize(&plan, &mut state, frames)
            .with_context(|| format!("synthesis failed at frame {first_frame}"))?;
        chunks.push(ChunkRecord {
            index: chunks.len() as u64,
            first_frame,
            frames,
            first_sample: pcm.len() as u64,
            sample_count: chunk.len() as u64,
            blake3: contract::chunk_hash(&chunk),
            epoch: 0,
            writer: "offline".into(),
        });
        pcm.extend_from_slice(&chunk);
    }
    let manifest = Manifest {
        job_id: "offline".into(),
        sample_rate: SAMPLE_RATE,
        samples_per_frame: SAMPLES_PER_FRAME as u64,
        chunk_frames,
        frames_total: total,
        total_samples: total * SAMPLES_PER_FRAME as u64,
        chunks,
    };
    Ok((pcm, manifest))
}

/// A dialogue of about `minutes` minutes among `speakers` speakers, deterministic.
pub fn bench_script(minutes: f64, speakers: usize) -> Script {
    const WORDS: [&str; 24] = [
        "the", "signal", "arrives", "before", "morning", "and", "nobody", "answers", "so", "we",
        "wait", "for", "another", "window", "while", "the", "standby", "keeps", "its", "weights",
        "warm", "under", "steady", "load",
    ];
    let total_words = (minutes * 60.0 * contract::WORDS_PER_SECOND).round() as usize;
    let mut turns = Vec::new();
    let mut said = 0;
    let mut k = 0usize;
    while said < total_words {
        let n = (12 + (k * 7) % 19).min(total_words - said);
        let text: Vec<&str> = (0..n)
            .map(|i| WORDS[(k * 5 + i * 3) % WORDS.len()])
            .collect();
        turns.push(Turn {
            speaker: format!("speaker{}", k % speakers.max(1)),
            text: text.join(" "),
        });
        said += n;
        k += 1;
    }
    Script { turns, seed: 42 }
}

/// Figures of one benchmark run.
#[derive(Debug)]
pub struct BenchFigures {
    /// Frames synthesized.
    pub frames: u64,
    /// Audio seconds produced.
    pub audio_seconds: f64,
    /// Wall time of synthesis alone.
    pub synth_seconds: f64,
    /// Mean time to make one chunk durable (PCM + checkpoint, fsync, rename, dir fsync).
    pub commit_seconds_per_chunk: f64,
    /// Mean synthesis time of one chunk.
    pub synth_seconds_per_chunk: f64,
}

/// Times synthesis of `script` in chunks of `chunk_frames` and the durable
/// write of each chunk into `dir`.
pub fn bench(
    engine: &Engine,
    script: &Script,
    dir: &Path,
    chunk_frames: u32,
) -> Result<BenchFigures> {
    let plan = engine
        .plan(script)
        .context("the bench script cannot be planned")?;
    let files = FileStore::open(dir).context("cannot open the bench data directory")?;
    let mut state = engine.initial_state(&plan);
    let total = plan.frames_total();
    let chunk_frames = u64::from(chunk_frames.max(1));
    let (mut synth, mut commit, mut chunks) = (Duration::ZERO, Duration::ZERO, 0u64);
    while state.next_frame < total {
        let frames = chunk_frames.min(total - state.next_frame);
        let t0 = Instant::now();
        let pcm = engine
            .synthesize(&plan, &mut state, frames)
            .context("synthesis failed")?;
        synth += t0.elapsed();
        let t1 = Instant::now();
        let ck: Checkpoint<SynthState> = Checkpoint {
            job_id: "bench".into(),
            chunk_index: chunks,
            epoch: 1,
            writer: "bench".into(),
            next_frame: state.next_frame,
            pcm_samples: pcm.len() as u64,
            pcm_blake3: contract::chunk_hash(&pcm),
            state: state.clone(),
        };
        files
            .write_chunk(&pcm, &ck)
            .context("writing a bench chunk failed")?;
        commit += t1.elapsed();
        chunks += 1;
    }
    if chunks == 0 {
        bail!("the bench script has no frames");
    }
    Ok(BenchFigures {
        frames: total,
        audio_seconds: total as f64 / FRAME_RATE_HZ,
        synth_seconds: synth.as_secs_f64(),
        commit_seconds_per_chunk: commit.as_secs_f64() / chunks as f64,
        synth_seconds_per_chunk: synth.as_secs_f64() / chunks as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` to a temp file called `name`, loads it, removes it.
    fn load(name: &str, text: &str) -> Result<JobRequest> {
        let dir = std::env::temp_dir().join(format!("synth-offline-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let result = load_request(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn reads_scripts_and_requests_as_json_or_yaml() {
        let s = load(
            "a.json",
            r#"{"turns":[{"speaker":"a","text":"hi there"}],"seed":4}"#,
        )
        .unwrap();
        assert_eq!(
            (s.script.seed, s.options.chunk_frames),
            (4, contract::DEFAULT_CHUNK_FRAMES)
        );
        let r = load(
            "b.json",
            r#"{"script":{"turns":[{"speaker":"a","text":"hi"}]},"options":{"chunk_frames":3}}"#,
        )
        .unwrap();
        assert_eq!(r.options.chunk_frames, 3);
        let y = load(
            "c.yaml",
            "seed: 9\nturns:\n  - speaker: a\n    text: hello you\n",
        )
        .unwrap();
        assert_eq!(
            (y.script.seed, y.script.turns[0].text.as_str()),
            (9, "hello you")
        );
    }

    #[test]
    fn bad_scripts_say_what_is_wrong() {
        let err = load("d.json", r#"{"turns":[]}"#).unwrap_err();
        assert!(format!("{err:#}").contains("no turns"), "{err:#}");
        let err = load("e.json", r#"{"turns":[{"speaker":"a","txt":"x"}]}"#).unwrap_err();
        assert!(format!("{err:#}").contains("txt"), "{err:#}");
        let err = load("f.yaml", "turns: [").unwrap_err();
        assert!(format!("{err:#}").contains("not valid YAML"), "{err:#}");
    }

    #[test]
    fn bench_script_has_the_asked_length_and_speakers() {
        let s = bench_script(1.0, 3);
        let words: usize = s
            .turns
            .iter()
            .map(|t| t.text.split_whitespace().count())
            .sum();
        assert_eq!(words, 150);
        let speakers: std::collections::BTreeSet<_> = s.turns.iter().map(|t| &t.speaker).collect();
        assert_eq!(speakers.len(), 3);
    }
}
