//! `takeover bench`: measure the harness itself and print a table (and JSON):
//! calibration of the RTO figure against outages of known length, the probe
//! engine's capacity on one core, stack start/stop, fault delays, the cost
//! of a drill iteration phase by phase, and a sweep of front-door and lease
//! settings (`sweep.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::exit::Outcome;
use crate::probe::calibrate::{self, CalibrationSettings, IntervalCalibration};
use crate::probe::capacity::{self, CapacityFigures, CapacitySettings};
use crate::probe::outage_target::OutageMode;
use crate::probe::ConnectionMode;

/// Arguments of `takeover bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to measure.
    #[command(subcommand)]
    pub what: What,
    /// Also write the figures as JSON to this file.
    #[arg(long, global = true, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// The benches.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Probe a loopback target that is down for exactly a known time; compare measured RTO with it.
    Calibrate(CalibrateArgs),
    /// The highest probe rate one pinned core sustains with p99 send delay under 1 ms.
    Probes(ProbesArgs),
    /// Time to bring the Docker stack up and down (needs Docker and the images).
    Stack(StackArgs),
    /// Delay from asking for each fault to its witness (needs Docker and the images).
    Faults(FaultsArgs),
    /// Wall time of a drill iteration, phase by phase, from a run's report.json.
    Drill(DrillArgs),
    /// Outage p50/p99 per fault and false failovers under a grid of front-door
    /// and lease settings: the table to pick settings from (needs Docker).
    Sweep(Box<super::sweep::SweepArgs>),
}

/// `takeover bench calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Probe intervals to calibrate, in ms.
    #[arg(long, value_delimiter = ',', default_value = "5,20,100")]
    pub intervals: Vec<u64>,
    /// Repetitions per interval.
    #[arg(long, default_value_t = 30)]
    pub repetitions: usize,
    /// The true outage length (`1s`, `250ms`).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub outage: Duration,
    /// How the target refuses during the outage: `503` or `close`.
    #[arg(long, default_value = "503", value_parser = parse_mode)]
    pub mode: OutageMode,
    /// Good probes in a row that count as recovered.
    #[arg(long, default_value_t = 3)]
    pub sustain: usize,
    /// The prober's thread classes to calibrate, comma-separated: `realtime`
    /// (SCHED_FIFO, what drills use) and/or `normal`. With both, they take
    /// turns repetition by repetition, so the two rows share the machine's load.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "realtime")]
    pub priority: Vec<ProbePriority>,
}

/// A class for the prober's threads in `takeover bench calibrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbePriority {
    /// `SCHED_FIFO` (falls back to normal, and says so, where refused).
    Realtime,
    /// The ordinary class, as every other thread of the machine.
    Normal,
}

/// `takeover bench probes`.
#[derive(Debug, clap::Args)]
pub struct ProbesArgs {
    /// Probe rates to try, per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,250,500,1000,2000,4000,8000"
    )]
    pub rates: Vec<u32>,
    /// How long each rate runs (`3s`).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Reuse connections instead of opening one per probe.
    #[arg(long)]
    pub keep_alive: bool,
}

/// `takeover bench stack`.
#[derive(Debug, clap::Args)]
pub struct StackArgs {
    /// Up/down cycles.
    #[arg(long, default_value_t = 5)]
    pub repetitions: usize,
}

/// `takeover bench faults`.
#[derive(Debug, clap::Args)]
pub struct FaultsArgs {
    /// Repetitions per fault (each on a fresh stack).
    #[arg(long, default_value_t = 3)]
    pub repetitions: usize,
    /// Fault kinds to time, against the primary.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill,oom-kill,pause,partition"
    )]
    pub kinds: Vec<String>,
    /// How long to wait for each fault's witness.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub witness_deadline: Duration,
}

/// `takeover bench drill`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// A run's report.json (or its directory).
    #[arg(long, value_name = "PATH")]
    pub report: PathBuf,
}

fn parse_mode(s: &str) -> Result<OutageMode, String> {
    match s {
        "503" => Ok(OutageMode::Status503),
        "close" => Ok(OutageMode::Close),
        other => Err(format!("unknown outage mode {other:?}: use 503 or close")),
    }
}

/// Runs `takeover bench`.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let (table, json, outcome) = match args.what {
        What::Calibrate(a) => run_calibrate(a)?,
        What::Probes(a) => run_probes(a)?,
        What::Stack(a) => run_stack(a)?,
        What::Faults(a) => run_faults(a)?,
        What::Drill(a) => run_drill(a)?,
        What::Sweep(a) => super::sweep::run(*a)?,
    };
    {
        use std::io::Write as _;
        // A closed stdout (`| head`) is not an error worth a message.
        let _ = std::io::stdout().lock().write_all(table.as_bytes());
    }
    if let Some(path) = &args.json {
        write_json(path, &json)?;
    }
    Ok(outcome)
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode the figures")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the figures to {}", path.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

type BenchOutput = (String, serde_json::Value, Outcome);

fn run_calibrate(a: CalibrateArgs) -> anyhow::Result<BenchOutput> {
    if a.intervals.contains(&0) {
        anyhow::bail!("--intervals must be whole milliseconds above 0");
    }
    let settings = CalibrationSettings {
        intervals: a
            .intervals
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect(),
        repetitions: a.repetitions,
        outage: a.outage,
        mode: a.mode,
        sustain: a.sustain,
        realtime: a
            .priority
            .iter()
            .map(|p| *p == ProbePriority::Realtime)
            .collect(),
    };
    let results = runtime()?
        .block_on(calibrate::calibrate(&settings))
        .context("calibration failed")?;
    let table = calibration_table(&results, &settings);
    let all_within = results
        .iter()
        .all(|r| r.unrecovered == 0 && r.error.is_some_and(|e| e.within_bound));
    let json = serde_json::json!({
        "bench": "calibrate",
        "true_outage_ms": settings.outage.as_secs_f64() * 1e3,
        "mode": format!("{:?}", settings.mode),
        "sustain": settings.sustain,
        "repetitions": settings.repetitions,
        "intervals": results,
        "all_within_one_interval": all_within,
    });
    // The error bound is a correctness property: a breach fails the command.
    let outcome = if all_within {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    Ok((table, json, outcome))
}

/// The calibration table (one line per interval).
pub fn calibration_table(
    results: &[IntervalCalibration],
    settings: &CalibrationSettings,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "calibration: true outage {:.0} ms ({:?}), {} repetitions per interval, sustain {}",
        settings.outage.as_secs_f64() * 1e3,
        settings.mode,
        settings.repetitions,
        settings.sustain
    );
    let _ = writeln!(
        t,
        "{:>11} {:>5} {:>9} {:>9} {:>10} {:>10} {:>12} {:>11} {:>13}  {:<17}  prober threads",
        "interval_ms",
        "runs",
        "bias_ms",
        "spread_ms",
        "p50_|e|ms",
        "p95_|e|ms",
        "max_|e|_ms",
        "unrecovered",
        "max_send_late",
        "within 1 interval",
    );
    for r in results {
        let late = r
            .runs
            .iter()
            .map(|x| x.max_send_delay_ms)
            .fold(0.0, f64::max);
        match r.error {
            Some(e) => {
                let _ =
                    writeln!(
                    t,
                    "{:>11.0} {:>5} {:>9.2} {:>9.2} {:>10.2} {:>10.2} {:>12.2} {:>11} {:>13.2}  {:<17}  {}",
                    r.interval_ms,
                    e.n,
                    e.bias_ms,
                    e.spread_ms,
                    e.p50_abs_ms,
                    e.p95_abs_ms,
                    e.max_abs_ms,
                    r.unrecovered,
                    late,
                    if e.within_bound && r.unrecovered == 0 { "yes" } else { "NO" },
                    r.scheduling
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "{:>11.0} {:>5} no repetition recovered ({})",
                    r.interval_ms,
                    r.runs.len(),
                    r.scheduling
                );
            }
        }
    }
    t
}

fn run_probes(a: ProbesArgs) -> anyhow::Result<BenchOutput> {
    if a.rates.is_empty() || a.rates.contains(&0) {
        anyhow::bail!("--rates needs at least one rate above 0 probes per second");
    }
    let mut rates = a.rates.clone();
    rates.sort_unstable();
    rates.dedup();
    let settings = CapacitySettings {
        rates,
        duration: a.duration,
        connection: if a.keep_alive {
            ConnectionMode::KeepAlive
        } else {
            ConnectionMode::Fresh
        },
        p99_limit: Duration::from_millis(1),
    };
    let figures = capacity::probe_capacity(&settings).context("probe capacity bench failed")?;
    let table = capacity_table(&figures);
    let json = serde_json::json!({ "bench": "probes", "figures": figures });
    Ok((table, json, Outcome::Passed))
}

/// The probe capacity table.
pub fn capacity_table(f: &CapacityFigures) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "probe capacity: one worker thread pinned to CPU {}, {} connections, sustained = p99 send delay < {:.1} ms and no failures",
        f.pinned_cpu.map_or("(not pinned)".to_string(), |c| c.to_string()),
        f.connection,
        f.p99_limit_ms
    );
    let _ = writeln!(
        t,
        "{:>8} {:>7} {:>6} {:>12} {:>12} {:>12} {:>13} {:>13} {:>8}  sustained",
        "rate/s",
        "probes",
        "failed",
        "send_p50_ms",
        "send_p99_ms",
        "send_max_ms",
        "latency_p50",
        "latency_p99",
        "cpu/s",
    );
    for r in &f.rates {
        let _ = writeln!(
            t,
            "{:>8} {:>7} {:>6} {:>12.3} {:>12.3} {:>12.3} {:>13.3} {:>13.3} {:>8}  {}",
            r.rate_per_s,
            r.probes,
            r.failed,
            r.send_delay_p50_ms,
            r.send_delay_p99_ms,
            r.send_delay_max_ms,
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.cpu_per_s.map_or("-".into(), |c| format!("{c:.2}")),
            if r.sustained { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        t,
        "highest sustained rate: {}",
        f.highest_sustained_per_s
            .map_or("none of those tried".into(), |r| format!("{r} probes/s"))
    );
    t
}

fn run_stack(a: StackArgs) -> anyhow::Result<BenchOutput> {
    if a.repetitions == 0 {
        anyhow::bail!("--repetitions must be at least 1");
    }
    let spec = crate::stack::StackSpec::default();
    let figures = runtime()?
        .block_on(crate::stack::bench::stack_up_down(&spec, a.repetitions))
        .context("could not time the stack (is Docker running and are the images buildable? try `takeover images`)")?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "stack up/down: default stack spec, {} cycles (images built beforehand, untimed)",
        a.repetitions
    );
    let _ = writeln!(
        t,
        "{:>6} {:>4} {:>9} {:>10} {:>9} {:>9}",
        "what", "n", "min_ms", "median_ms", "max_ms", "mean_ms"
    );
    for (name, s) in [("up", &figures.up), ("down", &figures.down)] {
        if let Some(s) = s {
            let _ = writeln!(
                t,
                "{:>6} {:>4} {:>9.0} {:>10.0} {:>9.0} {:>9.0}",
                name, s.n, s.min_ms, s.median_ms, s.max_ms, s.mean_ms
            );
        }
    }
    let _ = writeln!(
        t,
        "where up spends its time (median of each phase, in order):"
    );
    for (name, s) in figures.phase_summaries() {
        let _ = writeln!(
            t,
            "  {:<44} {:>8.0} ms  (min {:.0}, max {:.0})",
            name, s.median_ms, s.min_ms, s.max_ms
        );
    }
    let _ = writeln!(
        t,
        "readiness check passed, ms from the start of up (median):"
    );
    for (role, s) in figures.ready_summaries() {
        let _ = writeln!(
            t,
            "  {:<44} {:>8.0} ms  (min {:.0}, max {:.0})",
            role, s.median_ms, s.min_ms, s.max_ms
        );
    }
    let json = serde_json::json!({ "bench": "stack", "figures": figures });
    Ok((t, json, Outcome::Passed))
}

fn run_faults(a: FaultsArgs) -> anyhow::Result<BenchOutput> {
    if a.repetitions == 0 {
        anyhow::bail!("--repetitions must be at least 1");
    }
    let faults = a
        .kinds
        .iter()
        .map(|kind| {
            serde_json::from_value::<crate::fault::FaultSpec>(
                serde_json::json!({ "kind": kind, "target": "primary" }),
            )
            .with_context(|| format!("{kind:?} is not a fault kind that needs only a target (try kill, oom-kill, pause, partition)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = crate::stack::StackSpec::default();
    let figures = runtime()?
        .block_on(crate::fault::bench::fault_delays(
            &spec,
            &faults,
            a.repetitions,
            a.witness_deadline,
        ))
        .context("could not time the faults (is Docker running and are the images buildable? try `takeover images`)")?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "fault request-to-effect delay: target primary, {} repetitions each, fresh stack each time",
        a.repetitions
    );
    let _ = writeln!(
        t,
        "{:>10} {:>4} {:>9} {:>10} {:>9} {:>12}  note",
        "fault", "n", "min_ms", "median_ms", "max_ms", "unwitnessed"
    );
    for f in &figures {
        match (&f.summary, &f.unavailable) {
            (_, Some(why)) => {
                let _ = writeln!(t, "{:>10} unavailable here: {why}", f.kind);
            }
            (Some(s), None) => {
                let _ = writeln!(
                    t,
                    "{:>10} {:>4} {:>9.1} {:>10.1} {:>9.1} {:>12}",
                    f.kind, s.n, s.min_ms, s.median_ms, s.max_ms, f.unwitnessed
                );
            }
            (None, None) => {
                let _ = writeln!(
                    t,
                    "{:>10} {:>4} {:>9} {:>10} {:>9} {:>12}  never witnessed",
                    f.kind, 0, "-", "-", "-", f.unwitnessed
                );
            }
        }
    }
    let json = serde_json::json!({ "bench": "faults", "figures": figures });
    Ok((t, json, Outcome::Passed))
}

/// The phases of a drill iteration in the order they happen.
const PHASE_ORDER: &[&str] = &[
    "images",
    "stack_up",
    "reference",
    "warm_up",
    "workload",
    "job",
    "steps",
    "fault",
    "fault_to_recovery",
    "recovery",
    "verify",
    "report",
    "teardown",
];

#[derive(Debug, Serialize)]
struct PhaseRow {
    phase: String,
    per_iteration_ms: Vec<Option<f64>>,
    median_ms: Option<f64>,
    share_of_total: Option<f64>,
}

fn run_drill(a: DrillArgs) -> anyhow::Result<BenchOutput> {
    let report = crate::report::json::read(&a.report)
        .with_context(|| format!("cannot read a report from {}", a.report.display()))?;
    if report.iterations.is_empty() {
        anyhow::bail!("{} has no iterations to break down", a.report.display());
    }
    let iterations: Vec<(f64, &BTreeMap<String, f64>)> = report
        .iterations
        .iter()
        .map(|i| (i.duration_ms, &i.phases_ms))
        .collect();
    let (rows, total_median) = drill_rows(&iterations);
    let totals: Vec<f64> = iterations.iter().map(|i| i.0).collect();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "drill cost: scenario {:?}, {} iteration(s), from {}",
        report.scenario.name,
        report.iterations.len(),
        a.report.display()
    );
    let _ = writeln!(
        t,
        "{:>18} {:>11} {:>7}  per iteration (ms)",
        "phase", "median_ms", "share"
    );
    for r in &rows {
        let per: Vec<String> = r
            .per_iteration_ms
            .iter()
            .map(|v| v.map_or("-".into(), |x| format!("{x:.0}")))
            .collect();
        let _ = writeln!(
            t,
            "{:>18} {:>11} {:>7}  {}",
            r.phase,
            r.median_ms.map_or("-".into(), |m| format!("{m:.0}")),
            r.share_of_total
                .map_or("-".into(), |s| format!("{:.0}%", s * 100.0)),
            per.join(" ")
        );
    }
    let _ = writeln!(
        t,
        "{:>18} {:>11}  {}",
        "whole iteration",
        total_median.map_or("-".into(), |m| format!("{m:.0}")),
        totals
            .iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let wall_ms = (report.ended_at - report.started_at)
        .num_microseconds()
        .unwrap_or(0) as f64
        / 1e3;
    let share = harness_share_ms(wall_ms, &iterations);
    let _ = writeln!(
        t,
        "{:>18} {:>11}  per iteration: the run's wall time ({wall_ms:.0} ms) less every drill-proper phase",
        "harness share",
        share.map_or("-".into(), |m| format!("{m:.0}")),
    );
    let json = serde_json::json!({
        "bench": "drill",
        "scenario": report.scenario.name,
        "iterations": report.iterations.len(),
        "phases": rows,
        "iteration_ms": totals,
        "iteration_median_ms": total_median,
        "run_wall_ms": wall_ms,
        "harness_share_ms": share,
    });
    Ok((t, json, Outcome::Passed))
}

/// The phases that are the harness's own work; every other phase is the
/// drill proper (the job, the faults, the recovery).
const HARNESS_PHASES: &[&str] = &[
    "images",
    "stack_up",
    "reference",
    "verify",
    "report",
    "teardown",
];

/// The harness's own share of a run, per iteration: the run's wall time less
/// the drill-proper phases of every iteration, over the iterations. Unlike the
/// sum of the harness phases, it counts time once where phases overlapped
/// (the next stack coming up during a teardown). `None` without iterations.
fn harness_share_ms(wall_ms: f64, iterations: &[(f64, &BTreeMap<String, f64>)]) -> Option<f64> {
    if iterations.is_empty() || !wall_ms.is_finite() {
        return None;
    }
    let proper: f64 = iterations
        .iter()
        .flat_map(|(_, phases)| phases.iter())
        .filter(|(name, _)| !HARNESS_PHASES.contains(&name.as_str()))
        .map(|(_, ms)| ms)
        .sum();
    Some((wall_ms - proper).max(0.0) / iterations.len() as f64)
}

/// One row per phase (known phases in drill order, then any others) and the
/// median whole-iteration time, from (iteration ms, phase ms) pairs.
fn drill_rows(iterations: &[(f64, &BTreeMap<String, f64>)]) -> (Vec<PhaseRow>, Option<f64>) {
    let mut names: Vec<String> = PHASE_ORDER
        .iter()
        .filter(|p| {
            iterations
                .iter()
                .any(|(_, phases)| phases.contains_key(**p))
        })
        .map(|p| p.to_string())
        .collect();
    for (_, phases) in iterations {
        for k in phases.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let totals: Vec<f64> = iterations.iter().map(|(d, _)| *d).collect();
    let total_median = median(&totals);
    let rows = names
        .iter()
        .map(|name| {
            let per: Vec<Option<f64>> = iterations
                .iter()
                .map(|(_, phases)| phases.get(name).copied())
                .collect();
            let present: Vec<f64> = per.iter().flatten().copied().collect();
            let med = median(&present);
            PhaseRow {
                phase: name.clone(),
                share_of_total: med
                    .zip(total_median)
                    .map(|(m, t)| if t > 0.0 { m / t } else { 0.0 }),
                median_ms: med,
                per_iteration_ms: per,
            }
        })
        .collect();
    (rows, total_median)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_modes_parse_and_unknown_ones_are_explained() {
        assert_eq!(parse_mode("503"), Ok(OutageMode::Status503));
        assert_eq!(parse_mode("close"), Ok(OutageMode::Close));
        assert!(parse_mode("drop").unwrap_err().contains("503 or close"));
    }

    #[test]
    fn harness_share_counts_overlapped_phases_once() {
        let phases = |up: f64, job: f64, down: f64| -> BTreeMap<String, f64> {
            [
                ("stack_up", up),
                ("job", job),
                ("verify", 100.0),
                ("teardown", down),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let (a, b) = (
            phases(1500.0, 20_000.0, 700.0),
            phases(1200.0, 20_000.0, 600.0),
        );
        let iterations = [(22_300.0, &a), (21_900.0, &b)];
        // Back to back: 1500 + 20000 + 100 + 700 + 1200 + 20000 + 100 + 600.
        assert_eq!(harness_share_ms(44_200.0, &iterations), Some(2100.0));
        // The second stack came up during the first teardown: 600 ms less wall time.
        assert_eq!(harness_share_ms(43_600.0, &iterations), Some(1800.0));
        assert_eq!(harness_share_ms(43_600.0, &[]), None);
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn drill_rows_order_phases_and_take_medians() {
        let phases = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let a = phases(&[
            ("teardown", 1000.0),
            ("stack_up", 2000.0),
            ("custom", 500.0),
        ]);
        let b = phases(&[("teardown", 3000.0), ("stack_up", 4000.0)]);
        let c = phases(&[("teardown", 2000.0), ("stack_up", 3000.0)]);
        let (rows, total) = drill_rows(&[(10_000.0, &a), (30_000.0, &b), (20_000.0, &c)]);
        assert_eq!(total, Some(20_000.0));
        let names: Vec<&str> = rows.iter().map(|r| r.phase.as_str()).collect();
        assert_eq!(names, ["stack_up", "teardown", "custom"]);
        assert_eq!(rows[0].median_ms, Some(3000.0));
        assert_eq!(rows[0].share_of_total, Some(0.15));
        assert_eq!(rows[2].per_iteration_ms, vec![Some(500.0), None, None]);
        assert_eq!(rows[2].median_ms, Some(500.0));
    }

    #[test]
    fn a_missing_report_is_a_clear_error() {
        let err = run_drill(DrillArgs {
            report: PathBuf::from("/nonexistent/report.json"),
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("cannot read a report"));
    }
}
