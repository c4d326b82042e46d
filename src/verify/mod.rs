//! Audio checks: is the audio a drilled job produced whole?
//!
//! Two modes. [`verify_exact`] compares the candidate with an uninterrupted
//! reference run sample by sample and says where the first difference is,
//! which chunk holds it and whether it sits at a resume seam.
//! [`verify_structural`] needs no reference: it checks the manifest (complete,
//! contiguous, hashes, epochs), the length the script implies, the WAV header,
//! and scans every chunk boundary with a linear-prediction residual detector
//! for a discontinuity the audio around it does not explain.
//! [`with_fencing`] adds to either the `fencing` check: no chunk committed by
//! a writer whose lease epoch a takeover had already made stale.
//!
//! Everything here is pure: the caller reads the files.

pub mod bench;
pub mod boundaries;
pub mod calibration;
pub mod detector;
mod exact;
pub mod fencing;
pub mod hash;
pub mod lpc;
mod structural;
pub mod synthetic;
pub mod tamper;
mod verdict;

pub use detector::{BoundaryScore, DetectorConfig};
pub use exact::verify_exact;
pub use fencing::{check_fencing, with_fencing, Takeover};
pub use structural::{verify_structural, verify_structural_with};
pub use verdict::{AudioVerdict, CheckResult, ChunkOwner, Mismatch, Mode, SeamReport};
#[cfg(test)]
mod tests;
