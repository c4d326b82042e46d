//! `takeover schema`: print the JSON Schema of scenario files, for editors.

use crate::exit::Outcome;

/// Arguments of `takeover schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover schema`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover schema` is not built yet")
}
