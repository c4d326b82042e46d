//! `takeover compare`: compare two reports and fail on regressions.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Outcome;
use crate::report::compare::{self, Threshold};
use crate::report::json;

/// Arguments of `takeover compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base report (a report directory or its report.json).
    pub base: PathBuf,
    /// The report to judge against the base.
    pub current: PathBuf,
    /// How far a figure may grow: FIGURE[.STAT]=LIMIT with LIMIT as `20%`,
    /// `500ms`, `2s` or a number in the figure's unit. Repeatable; these go
    /// before the scenario's own `expect.regression` thresholds.
    #[arg(long = "threshold", value_name = "FIGURE[.STAT]=LIMIT")]
    pub thresholds: Vec<String>,
}

/// Runs `takeover compare`: exit 1 when a figure regressed beyond a
/// threshold, 0 otherwise, 2 when a report or threshold cannot be read.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let base = json::read(&args.base)
        .with_context(|| format!("cannot read the base report {}", args.base.display()))?;
    let current = json::read(&args.current)
        .with_context(|| format!("cannot read the current report {}", args.current.display()))?;
    let mut thresholds = args
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t, "command line"))
        .collect::<Result<Vec<_>, _>>()?;
    thresholds.extend(
        compare::scenario_thresholds(&current)
            .context("the scenario's regression thresholds are malformed")?,
    );
    compare::check_figures(&thresholds, &[&base, &current])?;
    if thresholds.is_empty() {
        eprintln!("note: no threshold given (--threshold rto_ms=20%) and none in the scenario: showing changes only");
    }
    let comparison = compare::compare(&base, &current, &thresholds);
    print!("{}", compare::table(&comparison));
    Ok(if comparison.regressions().is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
