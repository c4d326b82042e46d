//! `takeover verify`: check a drilled job's audio against a reference, from files.

use crate::exit::Outcome;

/// Arguments of `takeover verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover verify`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover verify` is not built yet")
}
