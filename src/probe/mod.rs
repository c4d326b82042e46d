//! The probe engine: a steady, fixed-schedule stream of HTTP requests against
//! a loopback URL, and a poller of the front door's own view of its servers.
//!
//! Probes are timed the way wrk2 times requests, so that an outage cannot hide
//! behind coordinated omission: probe `n` is *due* at `start + n * interval`
//! on a monotonic clock, it is sent at that instant whether or not earlier
//! probes have been answered (up to a cap of requests in flight), and its
//! latency runs from when it was due, not from when it left. A probe that goes
//! out late therefore carries its lateness in its latency.
//!
//! By default every probe opens a new TCP connection ([`ConnectionMode::Fresh`]):
//! that measures a failover the way a client that reconnects sees it, which is
//! what a front door's health-check driven switch promises. A pooled
//! connection ([`ConnectionMode::KeepAlive`]) would instead measure how long a
//! stale connection keeps failing, which depends on the client library.

pub mod calibrate;
pub mod capacity;
mod config;
mod engine;
mod error;
pub mod frontdoor;
pub mod outage_target;
pub mod priority;

pub use crate::timeline::ProbeSample;
pub use config::{ensure_loopback, ConnectionMode, ProbeConfig};
pub use engine::{start, ProbeHandle};
pub use error::ProbeError;

#[cfg(test)]
mod tests;
