//! `takeover history`: show the RTO trend per scenario from reports/history.jsonl.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Outcome;
use crate::report::history;

/// Arguments of `takeover history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this scenario.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Show the last N runs of each scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub last: u32,
    /// The history file.
    #[arg(long, value_name = "FILE", default_value = "reports/history.jsonl")]
    pub file: PathBuf,
}

/// Runs `takeover history`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let runs = history::read(&args.file).context("cannot show the history")?;
    if !runs.unreadable_lines.is_empty() {
        eprintln!(
            "warning: {} line(s) of {} could not be read and were left out: line {}",
            runs.unreadable_lines.len(),
            args.file.display(),
            history::line_list(&runs.unreadable_lines)
        );
    }
    let table = history::trend_table(&runs.entries, args.scenario.as_deref(), args.last as usize);
    if table.is_empty() {
        match &args.scenario {
            Some(name) => println!(
                "no run of scenario `{name}` is recorded in {}",
                args.file.display()
            ),
            None => println!(
                "no runs recorded yet in {} (each `takeover run` appends one line)",
                args.file.display()
            ),
        }
    } else {
        print!("{table}");
    }
    Ok(Outcome::Passed)
}
