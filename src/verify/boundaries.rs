//! Chunk boundaries and resume seams, read from a manifest.

use contract::Manifest;

use super::verdict::ChunkOwner;

/// The boundary between two consecutive manifest chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary {
    /// Index of the chunk after the boundary.
    pub chunk_index: u64,
    /// First sample of that chunk.
    pub sample: u64,
    /// Owner of the chunk before.
    pub before: ChunkOwner,
    /// Owner of the chunk after.
    pub after: ChunkOwner,
}

impl Boundary {
    /// A resume seam: the writer or the epoch changes here.
    pub fn is_resume(&self) -> bool {
        self.before != self.after
    }
}

/// Every boundary between consecutive manifest records, in manifest order.
pub fn boundaries(manifest: &Manifest) -> Vec<Boundary> {
    manifest
        .chunks
        .windows(2)
        .map(|pair| Boundary {
            chunk_index: pair[1].index,
            sample: pair[1].first_sample,
            before: owner(&pair[0]),
            after: owner(&pair[1]),
        })
        .collect()
}

/// The resume seams of a manifest: boundaries where the writer or epoch changes.
pub fn resume_seams(manifest: &Manifest) -> Vec<Boundary> {
    boundaries(manifest)
        .into_iter()
        .filter(Boundary::is_resume)
        .collect()
}

fn owner(chunk: &contract::ChunkRecord) -> ChunkOwner {
    ChunkOwner {
        writer: chunk.writer.clone(),
        epoch: chunk.epoch,
    }
}

/// Position of the manifest chunk holding `sample` (by its recorded range), if any.
pub fn chunk_at(manifest: &Manifest, sample: u64) -> Option<usize> {
    let pos = manifest
        .chunks
        .partition_point(|c| c.first_sample <= sample);
    let holds = |c: &contract::ChunkRecord| {
        c.first_sample <= sample && sample < c.first_sample.saturating_add(c.sample_count)
    };
    match pos.checked_sub(1) {
        Some(i) if holds(&manifest.chunks[i]) => Some(i),
        // A manifest out of order: fall back to a scan.
        _ => manifest.chunks.iter().position(holds),
    }
}
