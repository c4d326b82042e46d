//! `takeover images`: build (or show) the local images the stack runs.

use crate::exit::Outcome;

/// Arguments of `takeover images`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover images`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover images` is not built yet")
}
