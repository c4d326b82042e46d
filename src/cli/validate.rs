//! `takeover validate`: check scenario files without running them.

use crate::exit::Outcome;

/// Arguments of `takeover validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover validate`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover validate` is not built yet")
}
