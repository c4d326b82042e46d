//! The drill tests: one test binary, one module per area (as ripgrep's
//! `tests/tests.rs`), with the helpers in `support` compiled once.
//!
//! Everything here runs the `takeover` binary or a stack for real: drills
//! against the Docker stack or local processes, the stack and its faults, Ctrl-C
//! and killed harnesses, the metrics a drill pushes, and the doctor's checks
//! with fake program folders. A test that starts a stack holds
//! [`support::one_drill_at_a_time`] for its whole length; under
//! `cargo nextest` the `drills` test group (`.config/nextest.toml`) runs them
//! one at a time as well.
//!
//! Select an area with its module name: `cargo test --release --test drills --
//! network::` (the skip log names a test `drills::<module>::<test>`).

mod support;

mod back_to_back;
mod conformance;
mod core;
mod doctor_cli;
mod gpu_faults;
mod hosts;
mod k8s_testbed;
mod kubernetes;
mod metrics_pushgateway;
mod network;
mod nginx;
mod own_image;
mod process;
mod runbook;
mod seed;
mod sigint;
mod split_brain;
mod stack_docker;
mod steady_state;
mod storage;
mod sweep;
mod witness;
