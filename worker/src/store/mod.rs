//! Durable job state: chunk PCM and checkpoints on the data directory
//! ([`files`], [`checkpoint`]), leases and commits with fencing in Redis ([`jobs`]),
//! and each worker's liveness as a named Redis connection ([`presence`]).

pub mod checkpoint;
pub mod files;
pub mod jobs;
mod lua;
pub mod presence;

pub use checkpoint::Checkpoint;
pub use files::{FileStore, FileStoreError};
pub use jobs::{now_ms, CommitOutcome, JobRecord, JobStore, Renewal};
#[cfg(test)]
pub mod test_redis;
