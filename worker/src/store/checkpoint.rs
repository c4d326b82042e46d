//! The checkpoint file written next to every chunk: what a resuming worker needs to
//! continue bit-identically, sealed with a checksum so a torn or altered file is caught.
//!
//! Layout (all integers little-endian):
//! `b"TKCK"` | format version `u32` | body length `u64` | body (JSON) | blake3 of the body (32 bytes).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// First bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8; 4] = b"TKCK";
/// Version of the layout written by this worker.
pub const CHECKPOINT_VERSION: u32 = 1;
const HEADER_LEN: usize = 4 + 4 + 8;
const HASH_LEN: usize = 32;

/// What a checkpoint holds: where the job stands after one committed chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<S> {
    /// Job the checkpoint belongs to.
    pub job_id: String,
    /// Index of the chunk this checkpoint follows.
    pub chunk_index: u64,
    /// Lease epoch of the worker that wrote it.
    pub epoch: u64,
    /// Worker id that wrote it.
    pub writer: String,
    /// First frame the next chunk synthesizes.
    pub next_frame: u64,
    /// Samples in the chunk's PCM file.
    pub pcm_samples: u64,
    /// blake3 (hex) of the chunk's PCM as little-endian i16.
    pub pcm_blake3: String,
    /// The engine's state after the chunk, everything that crosses a chunk boundary.
    pub state: S,
}

/// Why a checkpoint file could not be trusted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// The file is shorter than its header says: a torn write.
    #[error("checkpoint is truncated: {found} bytes, expected {expected}")]
    Truncated {
        /// Bytes present.
        found: usize,
        /// Bytes the header promises.
        expected: usize,
    },
    /// The file does not start with the checkpoint magic.
    #[error("not a checkpoint file (bad magic bytes)")]
    BadMagic,
    /// A layout version this worker does not read.
    #[error(
        "checkpoint format version {0} is not supported (this worker reads {CHECKPOINT_VERSION})"
    )]
    Version(u32),
    /// Bytes after the checksum.
    #[error("checkpoint has {0} unexpected trailing bytes")]
    Trailing(usize),
    /// The body does not match its checksum: the file was altered or torn.
    #[error("checkpoint checksum mismatch: body hashes to {actual}, file says {stored}")]
    Checksum {
        /// Hash stored in the file.
        stored: String,
        /// Hash of the body as read.
        actual: String,
    },
    /// The checksum holds but the body is not a checkpoint (written by another program).
    #[error("checkpoint body is not valid: {0}")]
    Body(String),
}

impl<S: Serialize> Checkpoint<S> {
    /// Encodes the checkpoint as sealed bytes.
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).expect("checkpoint serializes to JSON");
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + HASH_LEN);
        out.extend_from_slice(CHECKPOINT_MAGIC);
        out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out
    }
}

impl<S: DeserializeOwned> Checkpoint<S> {
    /// Decodes sealed bytes, checking magic, version, length and checksum.
    pub fn decode(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.len() < HEADER_LEN {
            return Err(CheckpointError::Truncated {
                found: bytes.len(),
                expected: HEADER_LEN + HASH_LEN,
            });
        }
        if &bytes[0..4] != CHECKPOINT_MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if version != CHECKPOINT_VERSION {
            return Err(CheckpointError::Version(version));
        }
        let body_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let expected = usize::try_from(body_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER_LEN + HASH_LEN))
            .unwrap_or(usize::MAX);
        if bytes.len() < expected {
            return Err(CheckpointError::Truncated {
                found: bytes.len(),
                expected,
            });
        }
        if bytes.len() > expected {
            return Err(CheckpointError::Trailing(bytes.len() - expected));
        }
        let body = &bytes[HEADER_LEN..expected - HASH_LEN];
        let stored = &bytes[expected - HASH_LEN..];
        let actual = blake3::hash(body);
        if actual.as_bytes() != stored {
            return Err(CheckpointError::Checksum {
                stored: hex(stored),
                actual: actual.to_hex().to_string(),
            });
        }
        serde_json::from_slice(body).map_err(|e| CheckpointError::Body(e.to_string()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint<Vec<u32>> {
        Checkpoint {
            job_id: "j1".into(),
            chunk_index: 3,
            epoch: 2,
            writer: "standby".into(),
            next_frame: 32,
            pcm_samples: 25_600,
            pcm_blake3: "ab".repeat(32),
            state: vec![1, 2, 3],
        }
    }

    #[test]
    fn round_trips() {
        let ck = sample();
        assert_eq!(Checkpoint::decode(&ck.encode()).unwrap(), ck);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                Checkpoint::<Vec<u32>>::decode(&bad).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn torn_files_are_caught() {
        let bytes = sample().encode();
        for len in [0, 3, 10, 16, bytes.len() / 2, bytes.len() - 1] {
            let err = Checkpoint::<Vec<u32>>::decode(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "{len}: {err}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Checkpoint::<Vec<u32>>::decode(&long).unwrap_err(),
            CheckpointError::Trailing(1)
        );
    }
}
