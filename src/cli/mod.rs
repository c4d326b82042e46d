//! The command line: one file per subcommand, each with an `execute` that
//! returns the process outcome. `main.rs` only parses and dispatches.

pub mod bench;
pub mod clean;
pub mod compare;
pub mod conformance;
pub mod doctor;
pub mod history;
pub mod images;
pub mod list;
pub mod metrics;
pub mod report;
pub mod run;
pub mod schema;
pub mod sweep;
pub mod validate;
pub mod verify;

use clap::{Parser, Subcommand};

use crate::exit::Outcome;

/// Failover drills for GPU speech-synthesis stacks.
#[derive(Debug, Parser)]
#[command(name = "takeover", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one or more drill scenarios against a fresh stack and write reports.
    Run(run::Args),
    /// Check scenario files without running them.
    Validate(validate::Args),
    /// List the shipped scenarios with what each checks.
    List(list::Args),
    /// Print the JSON Schema of scenario files, for editors.
    Schema(schema::Args),
    /// Measure the harness itself: stack up/down, fault delays, probe capacity, calibration.
    Bench(bench::Args),
    /// Build (or show) the local images the stack runs.
    Images(images::Args),
    /// Remove Docker objects left by runs whose harness is gone.
    Clean(clean::Args),
    /// Check a drilled job's audio against a reference, from files.
    Verify(verify::Args),
    /// Re-render every report format from a report.json.
    Report(report::Args),
    /// Compare two reports and fail on regressions.
    Compare(compare::Args),
    /// Show the RTO trend per scenario from reports/history.jsonl.
    History(history::Args),
    /// Check what a drill needs on this machine: ok / missing / degraded, with the fix.
    Doctor(doctor::Args),
    /// Check a running service against the worker contract, clause by clause.
    #[command(long_about = conformance::LONG_ABOUT)]
    Conformance(conformance::Args),
}

/// Runs the parsed command and returns its outcome.
pub fn execute(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Run(args) => run::execute(args),
        Command::Validate(args) => validate::execute(args),
        Command::List(args) => list::execute(args),
        Command::Schema(args) => schema::execute(args),
        Command::Bench(args) => bench::execute(args),
        Command::Images(args) => images::execute(args),
        Command::Clean(args) => clean::execute(args),
        Command::Verify(args) => verify::execute(args),
        Command::Report(args) => report::execute(args),
        Command::Compare(args) => compare::execute(args),
        Command::History(args) => history::execute(args),
        Command::Doctor(args) => doctor::execute(args),
        Command::Conformance(args) => conformance::execute(args),
    }
}

/// An error and its causes on one line, each cause once: a cause whose text
/// the message already holds (an error that prints its source) is not repeated.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_holds_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let inner = crate::input::InputError::Io {
            what: "scenario".into(),
            path: "x.yaml".into(),
            source: io,
        };
        let err = anyhow::Error::new(inner).context("cannot validate x.yaml");
        let text = error_message(&err);
        assert_eq!(text.matches("os error 21").count(), 1, "{text}");
        assert!(
            text.starts_with("cannot validate x.yaml: cannot read the scenario x.yaml"),
            "{text}"
        );
    }
}
