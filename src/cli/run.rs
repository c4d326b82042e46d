//! `takeover run`: run one or more drill scenarios against a fresh stack and write reports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::FutureExt;

use crate::exit::Outcome;
use crate::run::{self, ProgressMode, RunOptions, Ui};
use crate::scenario;

/// Arguments of `takeover run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files to run, in order.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Run each scenario this many times (each on a fresh stack), overriding the file.
    #[arg(long, short = 'n')]
    pub iterations: Option<u32>,
    /// Where the report goes (default `reports/<timestamp>-<scenario>/`; with several
    /// scenarios, one subdirectory per scenario).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Leave the stack of a failed iteration running for a person to inspect
    /// (`takeover clean` removes it later).
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Keep the audio and manifest of every iteration (by default only when the audio check fails).
    #[arg(long)]
    pub keep_artifacts: bool,
    /// Also write a JUnit XML file with one test case per expectation.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Where uninterrupted reference audio is cached.
    #[arg(long, default_value = "reports/.cache")]
    pub cache_dir: PathBuf,
    /// Plain log lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Run the stack here instead of where the scenario says: `docker`,
    /// `process` (local processes on 127.0.0.1, for hosts without Docker), or
    /// `kubernetes` (a cluster from the kubeconfig).
    /// The scenario is checked again for the new runtime.
    #[arg(long, value_enum, value_name = "RUNTIME")]
    pub runtime: Option<crate::stack::RuntimeKind>,
    /// The kubeconfig context of `runtime: kubernetes`, overriding
    /// `stack.kubernetes.context` (default: the current context).
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// The workers' compute backend, overriding `stack.worker.backend`
    /// (e.g. `--worker-backend cuda` on a GPU host).
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub worker_backend: Option<crate::stack::Backend>,
    /// The `redis-server` program of `runtime: process` (default:
    /// $TAKEOVER_REDIS_SERVER, next to `takeover`, then PATH).
    #[arg(long, value_name = "PATH")]
    pub redis_server: Option<PathBuf>,
    /// The `haproxy` program of `runtime: process` (default: $TAKEOVER_HAPROXY,
    /// next to `takeover`, then PATH).
    #[arg(long, value_name = "PATH")]
    pub haproxy: Option<PathBuf>,
    /// The `nginx` program of `runtime: process` with `frontdoor.kind: nginx`
    /// (default: $TAKEOVER_NGINX, next to `takeover`, then PATH).
    #[arg(long, value_name = "PATH")]
    pub nginx: Option<PathBuf>,
    /// The `synth-worker` binary (default: $TAKEOVER_WORKER_BINARY, next to `takeover`).
    #[arg(long, value_name = "PATH")]
    pub worker_binary: Option<PathBuf>,
    /// Also write the run's figures as OpenMetrics text to this file (atomically;
    /// for node_exporter's textfile collector, name it `*.prom`).
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Also push them to this Prometheus Pushgateway, one group per scenario
    /// (`/metrics/job/takeover/scenario/<name>`). Loopback only, unless
    /// --pushgateway-allow-remote.
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Allow a --pushgateway that is not on this machine.
    #[arg(long)]
    pub pushgateway_allow_remote: bool,
}

impl Args {
    /// Applies the stack overrides of the command line to a loaded scenario.
    fn override_stack(&self, stack: &mut crate::stack::StackSpec) {
        if let Some(runtime) = self.runtime {
            stack.runtime = runtime;
        }
        if let Some(context) = &self.context {
            stack.kubernetes.context = Some(context.clone());
        }
        if let Some(backend) = self.worker_backend {
            stack.worker.backend = backend;
        }
        if let Some(p) = &self.redis_server {
            stack.process.redis_server = Some(p.clone());
        }
        if let Some(p) = &self.haproxy {
            stack.process.haproxy = Some(p.clone());
        }
        if let Some(p) = &self.nginx {
            stack.process.nginx = Some(p.clone());
        }
        if let Some(p) = &self.worker_binary {
            stack.images.worker_binary = Some(p.clone());
        }
    }
}

fn default_report_dir(name: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    Path::new("reports").join(format!("{stamp}-{name}"))
}

/// Runs `takeover run`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    // Every scenario is checked before anything starts.
    let mut loaded = Vec::new();
    let mut bad = false;
    for file in &args.scenarios {
        match scenario::load(file) {
            Ok(mut l) => {
                args.override_stack(&mut l.scenario.stack);
                // A runtime chosen on the command line must suit the scenario's faults too.
                let problems = scenario::validate::check(&l);
                if problems.is_empty() {
                    for warning in scenario::validate::warnings(&l) {
                        eprintln!("warning: {warning}");
                    }
                    loaded.push(l);
                } else {
                    eprintln!("{}", scenario::ScenarioError::Invalid { problems }.render());
                    bad = true;
                }
            }
            Err(e) => {
                eprintln!("{}", e.render());
                bad = true;
            }
        }
    }
    if bad {
        eprintln!("error: fix the scenario files above (`takeover validate` checks them)");
        return Ok(Outcome::BadInput);
    }
    if args.iterations == Some(0) {
        anyhow::bail!("--iterations must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_all(args, loaded))
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => "terminate signal",
    }
}

/// Removes every stack alive now (one, or two while the next iteration's
/// stack comes up beside a teardown).
pub(crate) async fn remove_current(live: &run::LiveRuns) {
    for run_id in live.take_all() {
        match crate::stack::cleanup::remove_run(&run_id).await {
            Ok(removed) => eprintln!("removed run {run_id} ({} objects)", removed.total()),
            Err(e) => eprintln!(
                "warning: could not remove run {run_id}: {e}; run `takeover clean --run {run_id}`"
            ),
        }
    }
}

async fn run_all(args: Args, loaded: Vec<scenario::LoadedScenario>) -> anyhow::Result<Outcome> {
    use crate::stack::RuntimeKind;
    let gateway = match super::metrics::check_target(
        args.pushgateway.as_deref(),
        args.pushgateway_allow_remote,
    ) {
        Ok(g) => g,
        Err(outcome) => return Ok(outcome),
    };
    // What the runtimes need is checked first: a missing piece stops here, with its fix.
    if let Some(outcome) = super::doctor::preflight(&loaded).await {
        return Ok(outcome);
    }
    let needs_docker = loaded
        .iter()
        .any(|l| l.scenario.stack.runtime != RuntimeKind::Process);
    // Heal leftovers first: runs whose harness died are removed before this one
    // starts (process runs always; Docker runs when Docker is needed).
    let swept = if needs_docker {
        let docker = match crate::stack::docker::connect().await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e} (or run the stack as local processes: `--runtime process`)");
                return Ok(Outcome::BadInput);
            }
        };
        crate::stack::cleanup::sweep_dead_owners(&docker).await
    } else {
        crate::stack::cleanup::sweep_dead_process_runs()
    };
    match swept {
        Ok(swept) => {
            for (run_id, removed) in swept {
                eprintln!(
                    "removed {} objects left by dead run {run_id}",
                    removed.total()
                );
            }
        }
        Err(e) => eprintln!("warning: could not sweep dead runs: {e}"),
    }

    let mode = if args.plain {
        ProgressMode::Lines
    } else {
        ProgressMode::detect()
    };
    let several = loaded.len() > 1;
    let mut worst = Outcome::Passed;
    let mut reports = Vec::new();
    for l in &loaded {
        let name = &l.scenario.name;
        let report_dir = match &args.report_dir {
            Some(d) if several => d.join(name),
            Some(d) => d.clone(),
            None => default_report_dir(name),
        };
        let opts = RunOptions {
            iterations: args.iterations,
            report_dir,
            cache_dir: args.cache_dir.clone(),
            keep_on_failure: args.keep_on_failure,
            keep_artifacts: args.keep_artifacts,
        };
        let current = run::LiveRuns::new();
        let mut ui = Ui::new(mode);
        let drill =
            std::panic::AssertUnwindSafe(run::run_scenario(l, &opts, &mut ui, current.clone()))
                .catch_unwind();
        let result = tokio::select! {
            r = drill => r,
            why = interrupted() => {
                drop(ui);
                eprintln!("{why}: stopping the drill and removing its stack");
                remove_current(&current).await;
                return Ok(Outcome::BadInput);
            }
        };
        drop(ui);
        match result {
            Ok(Ok(done)) => {
                for line in run::verdict_lines(&done.report) {
                    println!("{line}");
                }
                println!("report: {}", done.report_path.display());
                render_formats(&opts.report_dir, &done.report);
                worst = worst.max(done.report.outcome.to_exit_outcome());
                reports.push(done.report);
            }
            Ok(Err(e)) => {
                eprintln!("error: {name}: {e}");
                worst = worst.max(Outcome::BadInput);
            }
            Err(_) => {
                eprintln!("error: {name}: the harness panicked; removing the stack");
                remove_current(&current).await;
                worst = worst.max(Outcome::BadInput);
            }
        }
    }
    if let Some(path) = &args.junit {
        let refs: Vec<_> = reports.iter().collect();
        let xml = crate::report::junit::render(&refs).context("cannot render the JUnit XML")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
        println!("junit: {}", path.display());
    }
    let published =
        super::metrics::publish(args.metrics.as_deref(), gateway.as_ref(), &reports).await;
    Ok(worst.max(published))
}

/// Appends the run to the history beside the report directory and writes the
/// other formats (HTML, Markdown, JUnit) next to report.json. A failure here
/// is reported but does not change the drill's verdict.
fn render_formats(report_dir: &Path, report: &crate::report::model::Report) {
    use crate::report::history;
    let history_path = history::path_for(report_dir);
    if let Err(e) = history::append(&history_path, report, report_dir) {
        eprintln!(
            "warning: the run was not added to {}: {e}",
            history_path.display()
        );
    }
    let runs = history::read(&history_path)
        .map(|h| h.entries)
        .unwrap_or_default();
    match crate::report::write_all(report_dir, report, &runs) {
        Ok(paths) => {
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "html" || e == "md"))
            {
                println!("report: {}", p.display());
            }
        }
        Err(e) => eprintln!("warning: the HTML/Markdown/JUnit reports were not written: {e}"),
    }
}
