//! `takeover compare`: compare two reports and fail on regressions.

use crate::exit::Outcome;

/// Arguments of `takeover compare`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover compare`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover compare` is not built yet")
}
