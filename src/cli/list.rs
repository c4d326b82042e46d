//! `takeover list`: list the shipped scenarios with what each checks.

use crate::exit::Outcome;

/// Arguments of `takeover list`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover list`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover list` is not built yet")
}
