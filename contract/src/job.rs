//! Job request and job status.

use serde::{Deserialize, Serialize};

use crate::{DEFAULT_CHUNK_FRAMES, FRAME_RATE_HZ, WORDS_PER_SECOND};

/// One turn of a dialogue: who speaks and what they say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Speaker name; a script may use at most [`crate::MAX_SPEAKERS`] distinct names.
    pub speaker: String,
    /// The words spoken; their count sets the turn's length.
    pub text: String,
}

/// A dialogue script with the seed that makes its synthesis deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The turns, in speaking order.
    pub turns: Vec<Turn>,
    /// Seed for the model weights and the noise; same script and seed, same audio.
    #[serde(default)]
    pub seed: u64,
}

/// Knobs of one job that do not change what it sounds like, only how it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Frames committed together as one chunk.
    #[serde(default = "default_chunk_frames")]
    pub chunk_frames: u32,
    /// Slowest allowed pace, as wall seconds per second of audio (0.05 makes a
    /// 10-minute script take 30 s); `None` runs as fast as the backend can.
    #[serde(default)]
    pub pace_rtf: Option<f64>,
}

fn default_chunk_frames() -> u32 {
    DEFAULT_CHUNK_FRAMES
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            chunk_frames: DEFAULT_CHUNK_FRAMES,
            pace_rtf: None,
        }
    }
}

/// Body of `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// What to synthesize.
    pub script: Script,
    /// How to run it.
    #[serde(default)]
    pub options: JobOptions,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, not yet claimed by a worker.
    Queued,
    /// A worker holds its lease and is synthesizing.
    Running,
    /// Every chunk is committed; the audio is complete.
    Done,
    /// Stopped for good; `error` says why.
    Failed,
}

/// Body of `GET /v1/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Job id.
    pub id: String,
    /// Life-cycle state.
    pub state: JobState,
    /// Frames committed (durable), across all workers.
    pub frames_done: u64,
    /// Frames the whole script needs.
    pub frames_total: u64,
    /// Chunks committed.
    pub chunks_committed: u64,
    /// Chunks the whole script needs.
    pub chunks_total: u64,
    /// Worker id holding the lease, if any.
    pub owner: Option<String>,
    /// Current lease epoch (fencing token); grows by one at every takeover.
    pub epoch: u64,
    /// Frames the answering worker has synthesized for this job since it
    /// claimed it, committed or not (the part not committed is lost if it dies).
    pub frames_synthesized: u64,
    /// Frames synthesized by earlier owners of the job and never committed:
    /// the work lost to takeovers so far (as far as those owners published it).
    pub frames_lost: u64,
    /// Why the job failed, when it did.
    pub error: Option<String>,
}

/// Frames one turn lasts: its words at [`WORDS_PER_SECOND`], at least one frame.
pub fn turn_frames(turn: &Turn) -> u64 {
    let words = turn.text.split_whitespace().count() as f64;
    ((words / WORDS_PER_SECOND) * FRAME_RATE_HZ)
        .round()
        .max(1.0) as u64
}

/// Frames the whole script lasts.
pub fn script_frames(script: &Script) -> u64 {
    script.turns.iter().map(turn_frames).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_word_count() {
        let turn = |text: &str| Turn {
            speaker: "a".into(),
            text: text.into(),
        };
        assert_eq!(turn_frames(&turn("one two three four five")), 15);
        assert_eq!(turn_frames(&turn("")), 1);
        let script = Script {
            turns: vec![turn("a b"), turn("c d e f g")],
            seed: 1,
        };
        assert_eq!(script_frames(&script), 6 + 15);
    }

    #[test]
    fn options_default_when_absent() {
        let req: JobRequest =
            serde_json::from_str(r#"{"script":{"turns":[{"speaker":"a","text":"hi"}],"seed":3}}"#)
                .unwrap();
        assert_eq!(req.options, JobOptions::default());
    }
}
