//! `takeover images`: build (or show) the local images the stack runs.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Outcome;
use crate::stack::images::{self, ImageKind};
use crate::stack::ImagesSpec;

/// Arguments of `takeover images`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The synth-worker binary to bake into the worker image (default: next to
    /// this program, or target/release/synth-worker).
    #[arg(long, value_name = "PATH")]
    pub worker_binary: Option<PathBuf>,
    /// Only list the takeover images already on the engine; build nothing.
    #[arg(long)]
    pub list: bool,
}

/// Runs `takeover images`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<Outcome> {
    let docker = crate::stack::docker::connect().await?;
    if args.list {
        let local = images::list_local(&docker).await?;
        if local.is_empty() {
            println!("no takeover images on this engine yet; `takeover images` builds them");
        }
        for (reference, created) in local {
            let when = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default();
            println!("{reference:<40} {when}");
        }
        return Ok(Outcome::Passed);
    }
    let spec = ImagesSpec {
        worker_binary: args.worker_binary,
        ..ImagesSpec::default()
    };
    let mut outcome = Outcome::Passed;
    println!(
        "{:<8} {:<8} {:>6} {:>9}  image",
        "kind", "action", "files", "size"
    );
    for kind in ImageKind::ALL {
        match images::ensure_one(&docker, kind, &spec).await {
            Ok(done) => println!(
                "{:<8} {:<8} {:>6} {:>7.1}MB  {}",
                kind.name(),
                done.action,
                done.files,
                done.bytes as f64 / 1e6,
                done.reference
            ),
            // Nginx is needed only by `frontdoor.kind: nginx` scenarios.
            Err(e @ crate::stack::StackError::HostProgramMissing { .. })
                if kind == ImageKind::Nginx =>
            {
                println!(
                    "{:<8} {:<8} {:>6} {:>9}  -",
                    kind.name(),
                    "skipped",
                    "-",
                    "-"
                );
                eprintln!("note: {e} (only `frontdoor.kind: nginx` scenarios need it)");
            }
            Err(e) => {
                println!(
                    "{:<8} {:<8} {:>6} {:>9}  -",
                    kind.name(),
                    "failed",
                    "-",
                    "-"
                );
                eprintln!("error: {e}");
                outcome = Outcome::BadInput;
            }
        }
    }
    Ok(outcome)
}
