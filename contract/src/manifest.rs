//! The manifest: which chunks a job's audio is made of, who wrote each, and its hash.

use serde::{Deserialize, Serialize};

/// One committed chunk of PCM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Chunk number, from 0.
    pub index: u64,
    /// First latent frame the chunk holds.
    pub first_frame: u64,
    /// Frames in the chunk (the last chunk may be short).
    pub frames: u64,
    /// Offset of the chunk's first sample in the job's audio.
    pub first_sample: u64,
    /// Samples in the chunk (`frames * SAMPLES_PER_FRAME`).
    pub sample_count: u64,
    /// blake3 of the chunk's PCM as little-endian i16, hex.
    pub blake3: String,
    /// Lease epoch of the writer when it committed the chunk.
    pub epoch: u64,
    /// Worker id that wrote the chunk.
    pub writer: String,
}

/// Body of `GET /v1/jobs/{id}/manifest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Job id.
    pub job_id: String,
    /// Sample rate of the audio, Hz.
    pub sample_rate: u32,
    /// Samples per latent frame.
    pub samples_per_frame: u64,
    /// Frames per chunk the job was run with.
    pub chunk_frames: u64,
    /// Frames the whole script needs.
    pub frames_total: u64,
    /// Samples the whole script needs (`frames_total * samples_per_frame`).
    pub total_samples: u64,
    /// Committed chunks in index order.
    pub chunks: Vec<ChunkRecord>,
}

/// blake3 of PCM samples as little-endian i16 bytes, in hex: the chunk hash of the manifest.
pub fn chunk_hash(samples: &[i16]) -> String {
    let mut hasher = blake3::Hasher::new();
    for s in samples {
        hasher.update(&s.to_le_bytes());
    }
    hasher.finalize().to_hex().to_string()
}
