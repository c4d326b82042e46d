//! `takeover report`: re-render every report format from a report.json.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Outcome;
use crate::report::model::Report;
use crate::report::{history, json, Format};
use crate::run::figures;

/// Arguments of `takeover report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report directory (holding report.json) written by `takeover run`.
    pub dir: PathBuf,
    /// Which formats to write into the directory, comma-separated (`html,md`).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Format::ALL)]
    pub format: Vec<Format>,
    /// The run history for the "last runs" tables [default: history.jsonl in the directory above DIR].
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// Runs `takeover report`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let (dir, report) = if args.dir.is_file() {
        let dir = args
            .dir
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."));
        (dir, json::read(&args.dir))
    } else {
        (args.dir.clone(), json::read(&args.dir))
    };
    let report = report.with_context(|| {
        format!(
            "cannot re-render {}: give the directory a `takeover run` wrote (it holds report.json)",
            args.dir.display()
        )
    })?;
    let disagreements = check_figures(&report);
    let history_path = args.history.unwrap_or_else(|| history::path_for(&dir));
    let runs = history::read(&history_path)
        .context("cannot read the run history; pass --history FILE or move it aside")?;
    if !runs.unreadable_lines.is_empty() {
        eprintln!(
            "warning: {} line(s) of {} could not be read and were left out: line {}",
            runs.unreadable_lines.len(),
            history_path.display(),
            history::line_list(&runs.unreadable_lines)
        );
    }
    let written = crate::report::write_formats(&dir, &report, &runs.entries, &args.format)
        .with_context(|| format!("cannot write the reports into {}", dir.display()))?;
    for path in written {
        println!("{}", path.display());
    }
    if disagreements > 0 {
        eprintln!(
            "error: {disagreements} figure(s) in report.json differ from the same figures recomputed from its own record; the report cannot be trusted"
        );
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Passed)
}

/// Recomputes every iteration's figures from the stored record (probe
/// columns, job polls, faults, front-door events) and says whether they equal
/// the stored ones. Returns how many figures disagree.
fn check_figures(report: &Report) -> usize {
    let sustain = report.scenario.definition["probe"]["sustain"]
        .as_u64()
        .unwrap_or(10) as usize;
    let mut disagreements = 0;
    let mut checked = 0;
    for it in &report.iterations {
        if it.probes.sent_ms.len() != it.probes.ok.len() {
            eprintln!(
                "note: iteration {} was written before probe send times were stored; its figures are not recomputed",
                it.index
            );
            continue;
        }
        checked += 1;
        let again = figures::recompute(it, sustain);
        for (name, stored, recomputed) in figures::disagreements(&it.figures, &again) {
            disagreements += 1;
            eprintln!(
                "iteration {}: {name} is {stored} in report.json but {recomputed} recomputed from its probes, polls and events",
                it.index
            );
        }
    }
    if checked > 0 && disagreements == 0 {
        eprintln!(
            "figures recomputed from report.json alone agree with the stored ones ({checked} iteration(s))"
        );
    }
    disagreements
}
