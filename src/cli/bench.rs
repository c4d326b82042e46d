//! `takeover bench`: measure the harness itself: stack up/down, fault delays, probe capacity, calibration.

use crate::exit::Outcome;

/// Arguments of `takeover bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover bench`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover bench` is not built yet")
}
