//! What a sweep measured per setting (its cells), the setting that wins, and
//! the Markdown table: pure functions of the cells, tested on given data.

use std::fmt::Write as _;

use serde::Serialize;

use super::grid::{Knob, Setting};
use crate::report::model::{Iteration, Report};
use crate::run::failovers;

/// The figures of one fault drill under one setting, from its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultCell {
    /// The fault's short name (`kill`, `pause`, `partition`).
    pub fault: String,
    /// Iterations run.
    pub iterations: u32,
    /// Outage (first failed probe to the sustained good run) p50, in ms;
    /// `report.json`'s `summary.figures.outage_ms.p50`.
    pub outage_p50_ms: Option<f64>,
    /// Outage p99, in ms (nearest rank: the worst iteration below 100).
    pub outage_p99_ms: Option<f64>,
    /// Iterations with no outage figure (never recovered, or no verdict).
    pub outage_missing: u32,
    /// Failed probes, median over iterations.
    pub failed_probes_p50: Option<f64>,
    /// Failed probes, most in one iteration.
    pub failed_probes_max: Option<f64>,
    /// Iterations that passed their scenario's expectations.
    pub passed: u32,
    /// Where its report.json is.
    pub report: String,
}

impl FaultCell {
    /// The cell of `fault` from a finished run's report.
    pub fn from_report(fault: &str, report: &Report, path: &str) -> Self {
        let fig = |name: &str| {
            report
                .summary
                .figures
                .get(name)
                .cloned()
                .unwrap_or_default()
        };
        let outage = fig("outage_ms");
        let errors = fig("errors");
        FaultCell {
            fault: fault.to_string(),
            iterations: report.iterations.len() as u32,
            outage_p50_ms: outage.p50,
            outage_p99_ms: outage.p99,
            outage_missing: outage.missing,
            failed_probes_p50: errors.p50,
            failed_probes_max: errors.max,
            passed: report.summary.outcomes.get("passed").copied().unwrap_or(0),
            report: path.to_string(),
        }
    }
}

/// The false failovers of the no-fault drill under one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SteadyCell {
    /// Iterations run.
    pub iterations: u32,
    /// Times the front door marked the healthy primary down, over all
    /// iterations (`expect.markdowns` counts the same, per iteration).
    pub false_markdowns: u64,
    /// Lease takeovers of the healthy primary's job, over all iterations
    /// (`expect.takeovers`).
    pub false_takeovers: u64,
    /// Failed probes over all iterations.
    pub failed_probes: u64,
    /// Iterations that passed (`steady-state.yaml`'s expectations).
    pub passed: u32,
    /// Where its report.json is.
    pub report: String,
}

impl SteadyCell {
    /// The cell from a finished steady-state run's report.
    pub fn from_report(report: &Report, path: &str) -> Self {
        let sum = |f: fn(&Iteration) -> u64| report.iterations.iter().map(f).sum();
        SteadyCell {
            iterations: report.iterations.len() as u32,
            false_markdowns: sum(failovers::primary_markdowns),
            false_takeovers: sum(failovers::takeovers),
            failed_probes: sum(|it| it.figures.errors),
            passed: report.summary.outcomes.get("passed").copied().unwrap_or(0),
            report: path.to_string(),
        }
    }

    /// Mark-downs and takeovers together.
    pub fn false_failovers(&self) -> u64 {
        self.false_markdowns + self.false_takeovers
    }
}

/// Everything a sweep measured under one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The setting.
    pub setting: Setting,
    /// Whether it is the shipped default for every varied knob.
    pub shipped: bool,
    /// One per fault drilled, in the order run.
    pub faults: Vec<FaultCell>,
    /// The no-fault drill, when run.
    pub steady: Option<SteadyCell>,
}

impl Cell {
    /// The worst p99 outage over the faults; `None` when any fault lacks one
    /// (an iteration that never recovered makes the setting unfit).
    pub fn worst_p99_ms(&self) -> Option<f64> {
        if self.faults.is_empty() {
            return None;
        }
        self.faults.iter().try_fold(0.0f64, |worst, f| {
            if f.outage_missing > 0 {
                return None;
            }
            f.outage_p99_ms.map(|p| worst.max(p))
        })
    }

    /// Whether it can win: every fault measured, the no-fault drill run and
    /// free of false failovers.
    pub fn qualifies(&self) -> bool {
        self.worst_p99_ms().is_some()
            && self
                .steady
                .as_ref()
                .is_some_and(|s| s.iterations > 0 && s.false_failovers() == 0)
    }
}

/// The best setting and how far ahead it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Winner {
    /// Its index in the cells.
    pub index: usize,
    /// Its worst-case p99 outage, in ms.
    pub worst_p99_ms: f64,
    /// The next qualifying setting's worst-case p99 outage, in ms.
    pub runner_up_p99_ms: Option<f64>,
    /// The shipped default's worst-case p99 outage, in ms, when it was in the
    /// grid and is not the winner (whether it qualified or not).
    pub shipped_p99_ms: Option<f64>,
}

/// The qualifying setting with the lowest worst-case p99 outage (the first of
/// equals, in grid order); `None` when no setting qualifies.
pub fn winner(cells: &[Cell]) -> Option<Winner> {
    let mut ranked: Vec<(usize, f64)> = cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.qualifies())
        .filter_map(|(i, c)| c.worst_p99_ms().map(|p| (i, p)))
        .collect();
    // A stable sort keeps grid order among equals.
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let &(index, worst_p99_ms) = ranked.first()?;
    let shipped_p99_ms = cells
        .iter()
        .enumerate()
        .find(|(i, c)| c.shipped && *i != index)
        .and_then(|(_, c)| c.worst_p99_ms());
    Some(Winner {
        index,
        worst_p99_ms,
        runner_up_p99_ms: ranked.get(1).map(|r| r.1),
        shipped_p99_ms,
    })
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.0}"))
}

fn count(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.0}"))
}

/// The Markdown table: the varied knobs, then per fault the outage p50 / p99
/// (ms) and failed probes (p50 / max), then the no-fault drill's false
/// mark-downs and takeovers; the winner's row is marked `**best**`.
pub fn markdown(
    knobs: &[Knob],
    faults: &[String],
    cells: &[Cell],
    best: Option<&Winner>,
) -> String {
    let steady = cells.iter().any(|c| c.steady.is_some());
    let mut head: Vec<String> = knobs.iter().map(|k| k.to_string()).collect();
    for f in faults {
        head.push(format!("{f} outage p50 / p99 ms"));
        head.push(format!("{f} failed probes p50 / max"));
    }
    if steady {
        head.push("steady false mark-downs".into());
        head.push("steady false takeovers".into());
    }
    head.push("worst p99 ms".into());
    head.push("verdict".into());
    let mut t = String::new();
    let _ = writeln!(t, "| {} |", head.join(" | "));
    let align: Vec<&str> = head
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i < knobs.len() || i + 1 == head.len() {
                "---"
            } else {
                "---:"
            }
        })
        .collect();
    let _ = writeln!(t, "| {} |", align.join(" | "));
    for (i, c) in cells.iter().enumerate() {
        let mut row: Vec<String> = knobs
            .iter()
            .map(|k| c.setting.get(*k).map_or("-".into(), |v| v.to_string()))
            .collect();
        for f in faults {
            match c.faults.iter().find(|x| &x.fault == f) {
                Some(x) => {
                    let missing = if x.outage_missing > 0 {
                        format!(" ({} unrecovered)", x.outage_missing)
                    } else {
                        String::new()
                    };
                    row.push(format!(
                        "{} / {}{missing}",
                        ms(x.outage_p50_ms),
                        ms(x.outage_p99_ms)
                    ));
                    row.push(format!(
                        "{} / {}",
                        count(x.failed_probes_p50),
                        count(x.failed_probes_max)
                    ));
                }
                None => row.extend(["-".to_string(), "-".to_string()]),
            }
        }
        if steady {
            match &c.steady {
                Some(s) => {
                    row.push(s.false_markdowns.to_string());
                    row.push(s.false_takeovers.to_string());
                }
                None => row.extend(["-".to_string(), "-".to_string()]),
            }
        }
        row.push(ms(c.worst_p99_ms()));
        row.push(verdict(c, i, best));
        let _ = writeln!(t, "| {} |", row.join(" | "));
    }
    t
}

fn verdict(c: &Cell, index: usize, best: Option<&Winner>) -> String {
    let shipped = if c.shipped { " (shipped)" } else { "" };
    let word = if best.is_some_and(|b| b.index == index) {
        "**best**"
    } else if c.worst_p99_ms().is_none() {
        "unrecovered"
    } else if c.steady.as_ref().is_some_and(|s| s.false_failovers() > 0) {
        "false failovers"
    } else if c.steady.is_none() {
        "no steady run"
    } else {
        "ok"
    };
    format!("{word}{shipped}")
}

/// One sentence naming the winner and its margin, or why there is none.
pub fn winner_line(cells: &[Cell], best: Option<&Winner>) -> String {
    let Some(b) = best else {
        return if cells.iter().all(|c| c.steady.is_none()) {
            "no best setting: no steady-state iterations were run (--steady), so false failovers are unknown".into()
        } else {
            "no best setting: every setting had a fault that never recovered or a false failover"
                .into()
        };
    };
    let mut line = format!(
        "best: {} (worst-case p99 outage {:.0} ms, 0 false failovers)",
        cells[b.index].setting, b.worst_p99_ms
    );
    if let Some(r) = b.runner_up_p99_ms {
        let _ = write!(
            line,
            "; next best {r:.0} ms ({:+.0} ms)",
            r - b.worst_p99_ms
        );
    }
    if let Some(s) = b.shipped_p99_ms {
        let _ = write!(
            line,
            "; shipped default {s:.0} ms ({:+.0} ms)",
            s - b.worst_p99_ms
        );
    } else if cells[b.index].shipped {
        line.push_str("; it is the shipped default");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::super::grid::{Grid, Knob};
    use super::*;

    fn fault(name: &str, p50: f64, p99: f64, missing: u32) -> FaultCell {
        FaultCell {
            fault: name.into(),
            iterations: 5,
            outage_p50_ms: Some(p50),
            outage_p99_ms: if missing > 0 { None } else { Some(p99) },
            outage_missing: missing,
            failed_probes_p50: Some(1.0),
            failed_probes_max: Some(3.0),
            passed: 5,
            report: format!("{name}/report.json"),
        }
    }

    fn steady(markdowns: u64, takeovers: u64) -> SteadyCell {
        SteadyCell {
            iterations: 5,
            false_markdowns: markdowns,
            false_takeovers: takeovers,
            failed_probes: 0,
            passed: 5,
            report: "steady/report.json".into(),
        }
    }

    /// The default grid's four settings with the given worst p99 of pause and
    /// the given steady cells.
    fn cells(pause_p99: [f64; 4], steadies: [SteadyCell; 4]) -> Vec<Cell> {
        let settings = Grid::small_default().expand().unwrap();
        settings
            .into_iter()
            .zip(pause_p99)
            .zip(steadies)
            .map(|((setting, p99), s)| Cell {
                shipped: setting.is_shipped(),
                setting,
                faults: vec![
                    fault("kill", 0.0, 40.0, 0),
                    fault("pause", p99 - 50.0, p99, 0),
                ],
                steady: Some(s),
            })
            .collect()
    }

    #[test]
    fn the_winner_has_the_lowest_worst_p99_among_settings_without_false_failovers() {
        // Setting 0 is fastest but falsely marked the primary down: it cannot win.
        let c = cells(
            [300.0, 700.0, 1200.0, 1800.0],
            [steady(1, 0), steady(0, 0), steady(0, 0), steady(0, 0)],
        );
        let w = winner(&c).unwrap();
        assert_eq!(w.index, 1);
        assert_eq!(w.worst_p99_ms, 700.0);
        assert_eq!(w.runner_up_p99_ms, Some(1200.0));
        assert_eq!(
            w.shipped_p99_ms,
            Some(1200.0),
            "setting 2 is the shipped one"
        );
        let line = winner_line(&c, Some(&w));
        assert_eq!(
            line,
            "best: check_interval=50ms fall=3 (worst-case p99 outage 700 ms, 0 false failovers); \
             next best 1200 ms (+500 ms); shipped default 1200 ms (+500 ms)"
        );
    }

    #[test]
    fn a_takeover_or_an_unrecovered_fault_disqualifies() {
        let mut c = cells(
            [300.0, 700.0, 1200.0, 1800.0],
            [steady(0, 0), steady(0, 1), steady(0, 0), steady(0, 0)],
        );
        c[0].faults[0] = fault("kill", 0.0, 0.0, 1);
        assert_eq!(c[0].worst_p99_ms(), None);
        let w = winner(&c).unwrap();
        assert_eq!(w.index, 2);
        assert_eq!(w.shipped_p99_ms, None, "the winner is the shipped default");
        assert!(winner_line(&c, Some(&w)).ends_with("; it is the shipped default"));
    }

    #[test]
    fn equals_keep_grid_order_and_no_steady_run_means_no_winner() {
        let c = cells(
            [500.0, 500.0, 900.0, 900.0],
            [steady(0, 0), steady(0, 0), steady(0, 0), steady(0, 0)],
        );
        assert_eq!(winner(&c).unwrap().index, 0);
        let mut none = c.clone();
        for cell in &mut none {
            cell.steady = None;
        }
        assert_eq!(winner(&none), None);
        assert!(winner_line(&none, None).contains("--steady"));
    }

    #[test]
    fn the_table_has_a_row_per_setting_with_its_figures_and_the_best_marked() {
        let c = cells(
            [300.0, 700.0, 1200.0, 1800.0],
            [steady(2, 1), steady(0, 0), steady(0, 0), steady(0, 0)],
        );
        let w = winner(&c);
        let faults = vec!["kill".to_string(), "pause".to_string()];
        let t = markdown(&[Knob::CheckInterval, Knob::Fall], &faults, &c, w.as_ref());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + 4, "{t}");
        assert_eq!(
            lines[0],
            "| check_interval | fall | kill outage p50 / p99 ms | kill failed probes p50 / max \
             | pause outage p50 / p99 ms | pause failed probes p50 / max | steady false mark-downs \
             | steady false takeovers | worst p99 ms | verdict |"
        );
        assert_eq!(
            lines[1],
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        assert_eq!(
            lines[2],
            "| 50ms | 2 | 0 / 40 | 1 / 3 | 250 / 300 | 1 / 3 | 2 | 1 | 300 | false failovers |"
        );
        assert_eq!(
            lines[3],
            "| 50ms | 3 | 0 / 40 | 1 / 3 | 650 / 700 | 1 / 3 | 0 | 0 | 700 | **best** |"
        );
        assert!(
            lines[4].ends_with("| 1200 | ok (shipped) |"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn an_unrecovered_fault_shows_in_its_cell_and_verdict() {
        let mut c = cells(
            [300.0, 700.0, 1200.0, 1800.0],
            [steady(0, 0), steady(0, 0), steady(0, 0), steady(0, 0)],
        );
        c[3].faults[1] = fault("pause", 1000.0, 0.0, 2);
        c[3].steady = None;
        let faults = vec!["kill".to_string(), "pause".to_string()];
        let t = markdown(&[Knob::CheckInterval, Knob::Fall], &faults, &c, None);
        let last = t.lines().last().unwrap();
        assert!(last.contains("| 1000 / - (2 unrecovered) |"), "{last}");
        assert!(last.ends_with("| - | - | - | unrecovered |"), "{last}");
    }
}
