//! `takeover validate`: check scenario files without running them.

use std::path::PathBuf;

use crate::exit::Outcome;

/// `println!` that stops quietly when stdout is closed (`takeover list | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            return Ok(Outcome::Passed);
        }
    }};
}
use crate::scenario;

/// Arguments of `takeover validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files to check (default: every `*.yaml` in `scenarios/`).
    pub files: Vec<PathBuf>,
}

/// The scenario files in a directory, sorted.
pub fn scenario_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list scenarios in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs `takeover validate`: exit 0 when every file is a valid scenario, 2 otherwise.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let files = if args.files.is_empty() {
        scenario_files(std::path::Path::new("scenarios"))?
    } else {
        args.files
    };
    if files.is_empty() {
        anyhow::bail!(
            "no scenario files to check: name some, or run from a directory with scenarios/"
        );
    }
    let mut outcome = Outcome::Passed;
    for file in &files {
        match scenario::load(file) {
            Ok(loaded) => {
                for warning in scenario::validate::warnings(&loaded) {
                    eprintln!("warning: {warning}");
                }
                let s = &loaded.scenario;
                out!(
                    "ok    {}  ({}: {} step(s), {} iteration(s))",
                    file.display(),
                    s.name,
                    s.steps.len(),
                    s.iterations
                );
            }
            Err(err) => {
                outcome = Outcome::BadInput;
                out!("error {}", file.display());
                eprintln!("{}", err.render());
            }
        }
    }
    Ok(outcome)
}
