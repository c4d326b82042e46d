//! `takeover doctor`: checks what a drill needs on this machine.

use anyhow::Context;

use crate::doctor::{self, Status};
use crate::exit::Outcome;
use crate::stack::RuntimeKind;

/// Arguments of `takeover doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runtime the verdict is for: what it needs missing exits 2.
    #[arg(long, value_enum, default_value = "docker", value_name = "RUNTIME")]
    pub runtime: RuntimeKind,
    /// One JSON object (runtimes, checks, blocking, apt_line) instead of lines, for CI.
    #[arg(long)]
    pub json: bool,
}

/// Runs `takeover doctor`: exit 0 when a drill on the runtime can start, 2
/// when something it needs is missing (degraded and optional pieces are listed
/// but do not change the exit code).
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Docker is looked at even for the process runtime: the report says what it would need.
    let d = runtime.block_on(doctor::diagnose(&[args.runtime], true));
    let blocking: Vec<String> = d.blocking().iter().map(|c| c.name.clone()).collect();
    let apt = d.apt_line();
    if args.json {
        let out = serde_json::json!({
            "runtimes": d.runtimes,
            "checks": d.checks,
            "blocking": blocking,
            "apt_line": apt,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for c in &d.checks {
            println!("{}", c.line());
        }
        let degraded = d.checks.iter().filter(|c| c.status != Status::Ok).count() - blocking.len();
        println!();
        if blocking.is_empty() {
            println!(
                "ready for runtime {}{}",
                args.runtime.as_str(),
                if degraded > 0 {
                    format!(" ({degraded} degraded: those faults or scenarios are limited)")
                } else {
                    String::new()
                }
            );
        } else {
            println!(
                "not ready for runtime {}: missing {}",
                args.runtime.as_str(),
                blocking.join(", ")
            );
            if let Some(line) = &apt {
                println!("run: {line}");
            }
        }
    }
    Ok(if blocking.is_empty() {
        Outcome::Passed
    } else {
        Outcome::BadInput
    })
}

/// The checks `takeover run` makes before anything starts: only those the
/// scenarios' runtimes need, with their own program paths. Prints every
/// missing piece and the one line that installs what a package provides, and
/// returns `Some(BadInput)` when a drill could not start.
pub async fn preflight(loaded: &[crate::scenario::LoadedScenario]) -> Option<Outcome> {
    let mut blocking: Vec<doctor::Check> = Vec::new();
    for l in loaded {
        let spec = &l.scenario.stack;
        let d = doctor::required(&[spec.runtime], spec).await;
        for c in d.blocking() {
            if !blocking.iter().any(|b| b.name == c.name) {
                blocking.push(c.clone());
            }
        }
    }
    if blocking.is_empty() {
        return None;
    }
    for c in &blocking {
        eprintln!("{}", c.line());
    }
    if let Some(line) = doctor::apt_line(blocking.iter()) {
        eprintln!("error: this machine lacks what the drill needs; run: {line}");
    } else {
        eprintln!("error: this machine lacks what the drill needs (see the fix lines above; `takeover doctor` checks everything)");
    }
    Some(Outcome::BadInput)
}
