//! `takeover run`: run one or more drill scenarios against a fresh stack and write reports.

use crate::exit::Outcome;

/// Arguments of `takeover run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover run`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover run` is not built yet")
}
