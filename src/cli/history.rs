//! `takeover history`: show the RTO trend per scenario from reports/history.jsonl.

use crate::exit::Outcome;

/// Arguments of `takeover history`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `takeover history`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("`takeover history` is not built yet")
}
