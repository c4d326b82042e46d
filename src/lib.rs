//! takeover: failover drills for GPU speech-synthesis stacks.
//!
//! The harness starts a stack (primary and standby synthesis workers, an
//! HAProxy front door, Redis for leases, a shared checkpoint volume), drives a
//! long job through the front door, injects the faults a scenario describes,
//! measures recovery (RTO, job RTO, work lost), checks the resumed audio and
//! writes reports. See `ARCHITECTURE.md` for the map of the code.

pub mod cli;
pub mod clock;
pub mod conformance;
pub mod doctor;
pub mod exit;
pub mod fault;
pub mod input;
pub mod probe;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stack;
pub mod timeline;
pub mod verify;
pub mod workload;
