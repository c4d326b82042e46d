//! `takeover report`: re-render every report format from a report.json.

use crate::exit::Outcome;

/// Arguments of `takeover report`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover report`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover report` is not built yet")
}
