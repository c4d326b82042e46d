//! `takeover bench sweep`: the shipped drills under a grid of front-door and
//! lease settings, one table row per setting (see `run::sweep`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::exit::Outcome;
use crate::run::sweep::{self, drive, table, Grid, Knob, SweepPlan};

const LONG_ABOUT: &str = "\
Runs the shipped kill, pause and partition drills (scenarios/<fault>-primary.yaml) \
and the no-fault drill (scenarios/steady-state.yaml) under every combination of the \
settings given, and prints one Markdown row per setting: outage p50 / p99 (from the \
first failed probe to the sustained recovery, report.json's outage_ms) and failed \
probes per fault, then the no-fault drill's false mark-downs of the primary and false \
lease takeovers. The best setting is the one with the lowest worst-case p99 outage \
and no false failover.

Each list is comma-separated; a setting not given keeps the scenarios' value (the \
shipped default). With no list and no --grid, the grid is --check-interval 50ms,100ms \
--fall 2,3. A --grid file maps the same names to lists (check_interval: [50ms, 100ms]); \
lists on the command line replace the file's.

Cost: settings x (faults x --iterations + --steady) drill iterations of about 25 s \
each (less with a shorter --pace). The default grid, 5 + 5 iterations: 80 iterations, \
about 35 minutes. Run it beside the load you care about: false failovers depend on it.

Writes <out>/sweep.md (the table), <out>/sweep.json (every cell, the winner) and each \
run's report under <out>/<setting>/<scenario>/.

Example: takeover bench sweep --check-interval 50ms,100ms --fall 2,3 --lease-ttl 300ms,1s \
--iterations 5 --steady 5";

/// `takeover bench sweep`.
#[derive(Debug, clap::Args)]
#[command(long_about = LONG_ABOUT)]
pub struct SweepArgs {
    /// Health-check intervals (HAProxy `inter`), e.g. `50ms,100ms`.
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration, value_name = "LIST")]
    pub check_interval: Vec<Duration>,
    /// Failed checks before the primary is marked down (HAProxy `fall`), e.g. `2,3`.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub fall: Vec<u32>,
    /// Good checks before a server is back up (HAProxy `rise`).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub rise: Vec<u32>,
    /// How long one health check may take (HAProxy `timeout check`), e.g. `250ms,500ms`.
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration, value_name = "LIST")]
    pub timeout_check: Vec<Duration>,
    /// Time to connect to a server (HAProxy `timeout connect`).
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration, value_name = "LIST")]
    pub timeout_connect: Vec<Duration>,
    /// How long a read may wait before it is retried on the other server
    /// (`stack.frontdoor.timeout_read`; `0s` turns the retry off), e.g. `0s,250ms`.
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration, value_name = "LIST")]
    pub timeout_read: Vec<Duration>,
    /// The workers' job lease TTL, e.g. `300ms,1s`.
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration, value_name = "LIST")]
    pub lease_ttl: Vec<Duration>,
    /// A YAML grid file (`fall: [2, 3]`); lists given as options replace its lists.
    #[arg(long, value_name = "PATH")]
    pub grid: Option<PathBuf>,
    /// Iterations of each fault drill per setting.
    #[arg(long, default_value_t = 5)]
    pub iterations: u32,
    /// Iterations of the no-fault drill per setting (0 skips it, and then no
    /// setting can be named best).
    #[arg(long, default_value_t = 5)]
    pub steady: u32,
    /// Faults to drill, from kill, pause, partition.
    #[arg(long, value_delimiter = ',', default_value = "kill,pause,partition")]
    pub faults: Vec<String>,
    /// The job's length instead of the scenarios' 20 s (faults land 6 s in; a
    /// pause lasts 8 s, so keep 16 s or more with pause).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub pace: Option<Duration>,
    /// Where the table, the JSON and every run's report go (default
    /// `reports/<timestamp>-sweep/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the shipped scenarios are.
    #[arg(long, default_value = "scenarios", value_name = "DIR")]
    pub scenarios_dir: PathBuf,
    /// Where uninterrupted reference audio is cached.
    #[arg(long, default_value = "reports/.cache", value_name = "DIR")]
    pub cache_dir: PathBuf,
}

impl SweepArgs {
    /// The grid: the file's, with the command line's lists on top; the small
    /// default grid when neither names a knob.
    fn grid(&self) -> anyhow::Result<Grid> {
        let mut cli = Grid::default();
        cli.durations(Knob::CheckInterval, &self.check_interval);
        cli.counts(Knob::Fall, &self.fall);
        cli.counts(Knob::Rise, &self.rise);
        cli.durations(Knob::TimeoutCheck, &self.timeout_check);
        cli.durations(Knob::TimeoutConnect, &self.timeout_connect);
        cli.durations(Knob::TimeoutRead, &self.timeout_read);
        cli.durations(Knob::LeaseTtl, &self.lease_ttl);
        let file = match &self.grid {
            Some(path) => {
                let text =
                    crate::input::read_text(path, "grid file", crate::input::SCENARIO_LIMIT)?;
                Grid::from_yaml(&text, &path.display().to_string())?
            }
            None => Grid::default(),
        };
        let grid = file.overlay(cli);
        Ok(if grid.is_empty() {
            Grid::small_default()
        } else {
            grid
        })
    }
}

/// Runs `takeover bench sweep`: the table, the JSON of every cell and the outcome
/// (failed when no setting qualifies as best).
pub fn run(a: SweepArgs) -> anyhow::Result<(String, serde_json::Value, Outcome)> {
    if a.iterations == 0 && a.steady == 0 {
        anyhow::bail!("--iterations and --steady are both 0: nothing to run");
    }
    let faults: Vec<String> = if a.iterations == 0 {
        Vec::new()
    } else {
        a.faults.clone()
    };
    let grid = a.grid()?;
    let settings = grid.expand()?;
    let out_dir = a.out.clone().unwrap_or_else(|| {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        Path::new("reports").join(format!("{stamp}-sweep"))
    });
    let plan = SweepPlan {
        scenarios_dir: a.scenarios_dir.clone(),
        faults: faults.clone(),
        iterations: a.iterations,
        steady: a.steady,
        pace: a.pace,
        out_dir: out_dir.clone(),
        cache_dir: a.cache_dir.clone(),
    };
    // Every setting is checked against every scenario before anything runs.
    let runs = drive::prepare(&plan, &settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cells = match runtime.block_on(run_cells(&plan, &settings, &runs))? {
        Some(cells) => cells,
        None => return Ok((String::new(), serde_json::Value::Null, Outcome::BadInput)),
    };
    let best = table::winner(&cells);
    let knobs = grid.knobs();
    let md = table::markdown(&knobs, &faults, &cells, best.as_ref());
    let line = table::winner_line(&cells, best.as_ref());
    let text =
        format!(
        "sweep: {} settings; {} x{} per fault, steady-state x{} per setting{}\n\n{md}\n{line}\n",
        settings.len(),
        if faults.is_empty() { "no faults".to_string() } else { faults.join(", ") },
        a.iterations,
        a.steady,
        a.pace
            .map(|p| format!(", pace {}", crate::scenario::HumanDuration::from(p)))
            .unwrap_or_default()
    );
    let json = serde_json::json!({
        "bench": "sweep",
        "knobs": knobs,
        "faults": faults,
        "iterations": a.iterations,
        "steady": a.steady,
        "pace": a.pace.map(|p| crate::scenario::HumanDuration::from(p).to_string()),
        "cells": cells,
        "winner": best.as_ref().map(|b| serde_json::json!({
            "setting": cells[b.index].setting,
            "index": b.index,
            "worst_p99_ms": b.worst_p99_ms,
            "runner_up_p99_ms": b.runner_up_p99_ms,
            "shipped_p99_ms": b.shipped_p99_ms,
        })),
        "table": md,
    });
    write_outputs(&out_dir, &text, &json)?;
    let outcome = if best.is_some() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    Ok((text, json, outcome))
}

/// Runs every setting in turn; `None` when this machine cannot run drills
/// (the doctor said why) or when interrupted (the live stack removed).
async fn run_cells(
    plan: &SweepPlan,
    settings: &[sweep::Setting],
    runs: &[Vec<drive::Prepared>],
) -> anyhow::Result<Option<Vec<table::Cell>>> {
    if let Some(outcome) = super::doctor::preflight(
        &runs
            .first()
            .map(|r| r.iter().map(|p| p.loaded.clone()).collect::<Vec<_>>())
            .unwrap_or_default(),
    )
    .await
    {
        // The doctor has printed what is missing and its fix.
        let _ = outcome;
        return Ok(None);
    }
    let current = crate::run::LiveRuns::new();
    let total = settings.len();
    let sweep = async {
        let mut cells = Vec::new();
        for (i, (setting, list)) in settings.iter().zip(runs).enumerate() {
            let mut progress = |line: &str| eprintln!("[sweep {}/{total}] {line}", i + 1);
            cells.push(
                drive::run_setting(plan, setting, list, current.clone(), &mut progress).await?,
            );
        }
        Ok::<_, sweep::SweepError>(cells)
    };
    tokio::select! {
        r = sweep => Ok(Some(r?)),
        why = super::run::interrupted() => {
            eprintln!("{why}: stopping the sweep and removing its stack");
            super::run::remove_current(&current).await;
            Ok(None)
        }
    }
}

fn write_outputs(dir: &Path, text: &str, json: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let md = dir.join("sweep.md");
    std::fs::write(&md, text).with_context(|| format!("cannot write {}", md.display()))?;
    let path = dir.join("sweep.json");
    let body = serde_json::to_string_pretty(json).context("cannot encode the sweep")?;
    std::fs::write(&path, body + "\n").with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SweepArgs,
    }

    fn parse(argv: &[&str]) -> SweepArgs {
        Cli::try_parse_from(std::iter::once("sweep").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn command_line_lists_make_the_grid() {
        let a = parse(&[
            "--check-interval",
            "50ms,100ms",
            "--fall",
            "2,3",
            "--lease-ttl",
            "300ms,1s",
        ]);
        let g = a.grid().unwrap();
        assert_eq!(g.knobs(), [Knob::CheckInterval, Knob::Fall, Knob::LeaseTtl]);
        assert_eq!(g.expand().unwrap().len(), 8);
    }

    #[test]
    fn no_list_gives_the_small_default_grid() {
        let a = parse(&[]);
        assert_eq!(a.grid().unwrap(), Grid::small_default());
        assert_eq!((a.iterations, a.steady), (5, 5));
        assert_eq!(a.faults, ["kill", "pause", "partition"]);
    }

    #[test]
    fn bad_values_are_refused_when_parsed() {
        let err = Cli::try_parse_from(["sweep", "--check-interval", "fast"]).unwrap_err();
        assert!(err.to_string().contains("--check-interval"), "{err}");
        let err = run(parse(&["--iterations", "0", "--steady", "0"])).unwrap_err();
        assert!(err.to_string().contains("nothing to run"), "{err}");
    }
}
