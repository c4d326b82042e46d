//! `takeover clean`: remove Docker objects left by runs whose harness is gone.

use crate::exit::Outcome;

/// Arguments of `takeover clean`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover clean`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover clean` is not built yet")
}
