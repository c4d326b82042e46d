//! Ways to damage a job's audio the way a faulty takeover could, for tests.
//!
//! Each function takes the audio and manifest of a job, damages the audio at
//! the chunk at `position` (its place in the manifest), and returns the
//! damaged audio with the manifest a faulty stack could publish for it: one
//! that agrees with the damaged audio (chunks renumbered, offsets re-added,
//! hashes recomputed). So the damage cannot be caught by a hash alone; the
//! length, the frame bookkeeping and the seam detector have to find it.

use contract::{ChunkRecord, Manifest};
use thiserror::Error;

use super::hash::chunk_hash;

/// Damaged audio with the manifest that describes it.
#[derive(Debug, Clone)]
pub struct Tampered {
    /// The damaged audio.
    pub samples: Vec<i16>,
    /// A manifest consistent with the damaged audio.
    pub manifest: Manifest,
    /// Where the damage starts, in samples.
    pub at_sample: u64,
    /// What was done.
    pub what: String,
}

/// Why a tampering could not be applied.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TamperError {
    /// `position` must leave a chunk on each side of the damaged boundary.
    #[error(
        "chunk position {position} is not inside the manifest's {chunks} chunks (need 1..{chunks})"
    )]
    Position {
        /// Asked position.
        position: usize,
        /// Chunks in the manifest.
        chunks: usize,
    },
    /// The manifest's chunk ranges do not lie within the audio.
    #[error("the manifest's chunk {index} lies beyond the {samples} samples of audio")]
    Range {
        /// Chunk index.
        index: u64,
        /// Samples in the audio.
        samples: usize,
    },
}

fn range_of(chunk: &ChunkRecord, samples: &[i16]) -> Result<std::ops::Range<usize>, TamperError> {
    let start = chunk.first_sample as usize;
    let end = start + chunk.sample_count as usize;
    if end > samples.len() {
        return Err(TamperError::Range {
            index: chunk.index,
            samples: samples.len(),
        });
    }
    Ok(start..end)
}

fn check_position(manifest: &Manifest, position: usize) -> Result<(), TamperError> {
    if position == 0 || position >= manifest.chunks.len() {
        return Err(TamperError::Position {
            position,
            chunks: manifest.chunks.len(),
        });
    }
    Ok(())
}

/// Rebuilds a manifest from chunk records and their audio: indices from 0,
/// frames and samples re-added, hashes recomputed. Totals stay as planned.
fn renumber(template: &Manifest, records: Vec<(ChunkRecord, Vec<i16>)>) -> (Vec<i16>, Manifest) {
    let mut samples = Vec::new();
    let mut chunks = Vec::with_capacity(records.len());
    let mut next_frame = 0;
    for (index, (mut record, audio)) in records.into_iter().enumerate() {
        record.index = index as u64;
        record.first_frame = next_frame;
        record.first_sample = samples.len() as u64;
        record.sample_count = audio.len() as u64;
        record.blake3 = chunk_hash(&audio);
        next_frame += record.frames;
        samples.extend_from_slice(&audio);
        chunks.push(record);
    }
    let manifest = Manifest {
        chunks,
        ..template.clone()
    };
    (samples, manifest)
}

fn split(
    samples: &[i16],
    manifest: &Manifest,
) -> Result<Vec<(ChunkRecord, Vec<i16>)>, TamperError> {
    manifest
        .chunks
        .iter()
        .map(|c| Ok((c.clone(), samples[range_of(c, samples)?].to_vec())))
        .collect()
}

/// The chunk before `position` is committed twice: it plays again where
/// the chunk at `position` should start.
pub fn repeat_chunk(
    samples: &[i16],
    manifest: &Manifest,
    position: usize,
) -> Result<Tampered, TamperError> {
    check_position(manifest, position)?;
    let mut records = split(samples, manifest)?;
    let again = records[position - 1].clone();
    records.insert(position, again);
    let at_sample = manifest.chunks[position].first_sample;
    let (samples, manifest) = renumber(manifest, records);
    Ok(Tampered {
        samples,
        manifest,
        at_sample,
        what: format!("chunk {} repeated at sample {at_sample}", position - 1),
    })
}

/// The chunk at `position` is lost: the one after it follows its predecessor.
pub fn drop_chunk(
    samples: &[i16],
    manifest: &Manifest,
    position: usize,
) -> Result<Tampered, TamperError> {
    check_position(manifest, position)?;
    let mut records = split(samples, manifest)?;
    records.remove(position);
    let at_sample = manifest.chunks[position].first_sample;
    let (samples, manifest) = renumber(manifest, records);
    Ok(Tampered {
        samples,
        manifest,
        at_sample,
        what: format!("chunk {position} dropped at sample {at_sample}"),
    })
}

/// The chunk at `position` starts one sample late: its first sample is lost
/// and everything after comes one sample early.
pub fn shift_one_sample(
    samples: &[i16],
    manifest: &Manifest,
    position: usize,
) -> Result<Tampered, TamperError> {
    check_position(manifest, position)?;
    let mut records = split(samples, manifest)?;
    records[position].1.remove(0);
    let at_sample = manifest.chunks[position].first_sample;
    let (samples, manifest) = renumber(manifest, records);
    Ok(Tampered {
        samples,
        manifest,
        at_sample,
        what: format!("audio shifted by one sample from sample {at_sample}"),
    })
}

/// A click of `amplitude` (a one-sample impulse, then a short decaying
/// ring) added at the first sample of the chunk at `position`.
pub fn splice_click(
    samples: &[i16],
    manifest: &Manifest,
    position: usize,
    amplitude: i16,
) -> Result<Tampered, TamperError> {
    check_position(manifest, position)?;
    let mut records = split(samples, manifest)?;
    let chunk = &mut records[position].1;
    let shape = [1.0, -0.5, 0.25];
    for (sample, gain) in chunk.iter_mut().zip(shape) {
        let added = (*sample as f64 + gain * amplitude as f64).round();
        *sample = added.clamp(i16::MIN as f64, i16::MAX as f64) as i16;
    }
    let at_sample = manifest.chunks[position].first_sample;
    let (samples, manifest) = renumber(manifest, records);
    Ok(Tampered {
        samples,
        manifest,
        at_sample,
        what: format!("click of amplitude {amplitude} spliced at sample {at_sample}"),
    })
}
