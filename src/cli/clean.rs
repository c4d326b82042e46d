//! `takeover clean`: remove Docker objects (and local processes of
//! `runtime: process` runs, and with `--kubernetes` the namespaces of
//! `runtime: kubernetes` runs) left by runs whose harness is gone.

use anyhow::Context;

use crate::exit::Outcome;
use crate::stack::cleanup;

/// Arguments of `takeover clean`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove every run's objects, also those of runs still going.
    #[arg(long, conflicts_with = "run")]
    pub all: bool,
    /// Remove this run's objects (repeatable).
    #[arg(long, value_name = "RUN_ID")]
    pub run: Vec<String>,
    /// Also remove the locally built takeover images (they are rebuilt when needed).
    #[arg(long)]
    pub images: bool,
    /// Also take down the multi-host test bed (`scripts/testbed-hosts.sh down`:
    /// its namespaces, engines, veths, rules and folders), also one a killed
    /// run left up. Needs root.
    #[arg(long)]
    pub hosts: bool,
    /// Also remove runs from the Kubernetes cluster of the kubeconfig
    /// (`KUBECONFIG`, `~/.kube/config`): each run is a namespace labelled
    /// `takeover.run`; `--all` and `--run` apply to them too.
    #[arg(long)]
    pub kubernetes: bool,
    /// The kubeconfig context of `--kubernetes` (default: the current one).
    #[arg(long, value_name = "CONTEXT", requires = "kubernetes")]
    pub context: Option<String>,
}

/// Runs `takeover clean`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.hosts {
        let was_up = std::path::Path::new(crate::stack::testbed::STATE_DIR).exists();
        let said = tokio::task::spawn_blocking(crate::stack::testbed::down)
            .await
            .context("the test bed's `down` task")??;
        print!("{said}");
        println!(
            "{}",
            if was_up {
                "took the multi-host test bed down"
            } else {
                "no multi-host test bed was up (leftovers, if any, swept)"
            }
        );
    }
    if args.kubernetes {
        clean_kubernetes(&args).await?;
    }
    // Process runs need no engine; Docker runs are swept when one answers.
    let docker = match crate::stack::docker::connect().await {
        Ok(d) => Some(d),
        Err(e) if !args.images => {
            println!("note: Docker is not reachable ({e}); only process runs are cleaned");
            None
        }
        Err(e) => return Err(e.into()),
    };
    // A multi-host run on the test bed also has objects on its hosts' engines.
    let mut bed_engines = Vec::new();
    for endpoint in crate::stack::testbed::engines() {
        match crate::stack::docker::connect_to(&endpoint).await {
            Ok(d) => bed_engines.push(d),
            Err(e) => println!("note: test-bed engine not reachable ({e})"),
        }
    }
    let mut removed = Vec::new();
    for engine in &bed_engines {
        if args.all {
            removed.extend(cleanup::remove_all_runs(engine).await?);
        } else if !args.run.is_empty() {
            for run_id in &args.run {
                removed.push((
                    run_id.clone(),
                    cleanup::remove_run_with(engine, run_id).await?,
                ));
            }
        } else {
            removed.extend(cleanup::sweep_dead_owners(engine).await?);
        }
    }
    for (run_id, _) in &removed {
        crate::stack::testbed::remove_run_rules(run_id)?;
    }
    if args.all {
        removed.extend(cleanup::remove_all_process_runs()?);
        if let Some(docker) = &docker {
            removed.extend(cleanup::remove_all_runs(docker).await?);
        }
    } else if !args.run.is_empty() {
        for run_id in &args.run {
            let process_root = crate::stack::process::run_dir::runs_root();
            if let Some(r) = crate::stack::process::run_dir::remove_run(&process_root, run_id)? {
                removed.push((run_id.clone(), r));
            } else if let Some(docker) = &docker {
                removed.push((
                    run_id.clone(),
                    cleanup::remove_run_with(docker, run_id).await?,
                ));
            }
        }
    } else if let Some(docker) = &docker {
        // Sweeps process runs as well.
        removed.extend(cleanup::sweep_dead_owners(docker).await?);
    } else {
        removed.extend(cleanup::sweep_dead_process_runs()?);
    }
    for (run_id, r) in &removed {
        if r.processes > 0 {
            println!(
                "removed process run {run_id}: {} process(es), {} directory",
                r.processes, r.directories
            );
        } else {
            println!(
                "removed run {run_id}: {} container(s), {} network(s), {} volume(s), {} folder(s)",
                r.containers, r.networks, r.volumes, r.directories
            );
        }
    }
    if removed.iter().all(|(_, r)| r.total() == 0) {
        println!("nothing to remove");
    }
    let mut left = cleanup::list_process_runs();
    if let Some(docker) = &docker {
        left.extend(cleanup::list_runs(docker).await?);
    }
    for engine in &bed_engines {
        left.extend(cleanup::list_runs(engine).await?);
    }
    for run in &left {
        println!(
            "kept run {} ({} object(s)): owner pid {} on {} is alive or on another host; \
             `takeover clean --run {}` removes it",
            run.run_id,
            run.objects,
            run.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            run.host.as_deref().unwrap_or("?"),
            run.run_id
        );
    }
    if let (true, Some(docker)) = (args.images, &docker) {
        let local = crate::stack::images::list_local(docker).await?;
        for (reference, _) in local {
            docker
                .remove_image(
                    &reference,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await
                .with_context(|| format!("removing image {reference}"))?;
            println!("removed image {reference}");
        }
    }
    Ok(Outcome::Passed)
}

/// Removes the runs' namespaces from the cluster: those named by `--run`,
/// every one with `--all`, else those whose harness died on this host.
async fn clean_kubernetes(args: &Args) -> anyhow::Result<()> {
    use crate::stack::kubernetes::{self, sweep};
    let (client, _) = kubernetes::connect(None, args.context.as_deref()).await?;
    let removed = if args.all {
        sweep::remove_all(&client).await?
    } else if !args.run.is_empty() {
        let mut removed = Vec::new();
        for run_id in &args.run {
            if sweep::remove_run(&client, run_id).await? {
                removed.push(run_id.clone());
            }
        }
        removed
    } else {
        sweep::sweep_dead_owners(&client).await?
    };
    for run_id in &removed {
        println!("removed Kubernetes run {run_id}: its namespace and everything in it");
    }
    for run in sweep::list_runs(&client).await? {
        println!(
            "kept Kubernetes run {}: owner pid {} on {} is alive or on another host; \
             `takeover clean --kubernetes --run {}` removes it",
            run.run_id,
            run.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            run.host.as_deref().unwrap_or("?"),
            run.run_id
        );
    }
    if removed.is_empty() {
        println!("no Kubernetes run to remove");
    }
    Ok(())
}
