//! `takeover list`: list the shipped scenarios with what each checks, or
//! (`--faults`) the fault kinds, from the fault registry.

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

/// Arguments of `takeover list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding scenario files.
    #[arg(long, default_value = "scenarios")]
    pub dir: PathBuf,
    /// List the fault kinds a scenario step can use instead: fields, runtimes, what a heal undoes.
    #[arg(long)]
    pub faults: bool,
}

/// Prints every fault kind of the registry.
fn list_faults() -> anyhow::Result<Outcome> {
    use crate::fault::registry;
    for kind in registry::shipped() {
        let fields: Vec<String> = registry::fields(kind)
            .iter()
            .map(|f| f.replace('`', ""))
            .collect();
        out!("{:<20} {}", kind.name, fields.join(", "));
        out!(
            "    runtimes: {}; heal undoes: {}",
            registry::runtimes(kind),
            registry::heal_undoes(kind).replace('—', "nothing")
        );
        for line in wrap(&kind.about.replace('`', ""), 76) {
            out!("    {line}");
        }
    }
    Ok(Outcome::Passed)
}

/// Runs `takeover list`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    if args.faults {
        return list_faults();
    }
    let files = super::validate::scenario_files(&args.dir)?;
    if files.is_empty() {
        anyhow::bail!("no scenario files in {}", args.dir.display());
    }
    let mut outcome = Outcome::Passed;
    for file in files {
        match scenario::load(&file) {
            Ok(loaded) => {
                let s = &loaded.scenario;
                let steps: Vec<String> = s.steps.iter().map(|st| st.action.label()).collect();
                out!("{:<24} {}", s.name, file.display());
                if !s.description.is_empty() {
                    for line in wrap(&s.description, 76) {
                        out!("    {line}");
                    }
                }
                out!(
                    "    steps: {}",
                    if steps.is_empty() {
                        "none".to_string()
                    } else {
                        steps.join(", ")
                    }
                );
            }
            Err(err) => {
                outcome = Outcome::BadInput;
                out!(
                    "{:<24} {} (invalid: run `takeover validate` on it)",
                    "?",
                    file.display()
                );
                eprintln!("{}", err.render());
            }
        }
    }
    Ok(outcome)
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
