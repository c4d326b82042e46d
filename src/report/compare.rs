//! Comparing two reports figure by figure: the change of each percentile, and
//! whether it regressed beyond a threshold. Every figure here is "lower is
//! better" (times, lost work, failed probes, latency).

use std::fmt::Write;

use super::display::number;
use super::figure::Figure;
use super::figures::{self, FigureRow};
use super::model::{Distribution, Report};

/// The statistics compared for each figure.
pub const STATISTICS: [&str; 4] = ["p50", "p95", "p99", "max"];

/// Why a threshold could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The text is not `FIGURE[.STAT]=LIMIT`.
    #[error("threshold `{text}`: {why} (write it as FIGURE[.STAT]=LIMIT, e.g. rto_ms=20%, job_rto_ms.p95=500ms, errors=2)")]
    BadThreshold {
        /// What was given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// The threshold names a figure neither report has nor any report can have.
    #[error("threshold for `{figure}`: no such figure; known figures: {}", known.join(", "))]
    UnknownFigure {
        /// The name given.
        figure: String,
        /// The names a threshold may use.
        known: Vec<String>,
    },
}

/// Refuses a threshold whose figure no report carries: a typo (`rto` for
/// `rto_ms`) would otherwise turn the gate off without a word.
pub fn check_figures(thresholds: &[Threshold], reports: &[&Report]) -> Result<(), CompareError> {
    let mut known: Vec<String> = Figure::names().into_iter().map(String::from).collect();
    for report in reports {
        for row in figures::rows(report) {
            if !known.contains(&row.name) {
                known.push(row.name);
            }
        }
    }
    match thresholds.iter().find(|t| !known.contains(&t.figure)) {
        Some(t) => Err(CompareError::UnknownFigure {
            figure: t.figure.clone(),
            known,
        }),
        None => Ok(()),
    }
}

/// How much a figure may grow before it counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Relative to the base value, in percent.
    Percent(f64),
    /// In the figure's unit (ms for durations written with `ms`/`s`).
    Absolute(f64),
}

/// A regression threshold for one figure (and optionally one statistic).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Figure name (`rto_ms`, `latency_during_p99_ms`, ...).
    pub figure: String,
    /// Statistic (`p50`, `p95`, `p99`, `max`); `None` means all of them.
    pub statistic: Option<String>,
    /// How much it may grow.
    pub limit: Limit,
    /// Where it came from (`command line`, `scenario`).
    pub source: &'static str,
}

impl Threshold {
    /// Reads `FIGURE[.STAT]=LIMIT` where LIMIT is `20%`, `500ms`, `2s` or a
    /// plain number in the figure's unit.
    pub fn parse(text: &str, source: &'static str) -> Result<Self, CompareError> {
        let bad = |why: &str| CompareError::BadThreshold {
            text: text.to_string(),
            why: why.to_string(),
        };
        let (key, limit) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
        Self::from_parts(key, limit, source).map_err(|why| bad(&why))
    }

    fn from_parts(key: &str, limit: &str, source: &'static str) -> Result<Self, String> {
        let key = key.trim();
        let (figure, statistic) = match key.rsplit_once('.') {
            Some((figure, stat)) => {
                if !STATISTICS.contains(&stat) {
                    return Err(format!(
                        "unknown statistic `{stat}` (use p50, p95, p99 or max)"
                    ));
                }
                (figure, Some(stat.to_string()))
            }
            None => (key, None),
        };
        if figure.is_empty() {
            return Err("no figure name".into());
        }
        Ok(Self {
            figure: figure.to_string(),
            statistic,
            limit: parse_limit(limit.trim())?,
            source,
        })
    }

    fn applies(&self, figure: &str, statistic: &str) -> bool {
        self.figure == figure && self.statistic.as_deref().is_none_or(|s| s == statistic)
    }

    /// The limit as written back for people (`+20%`, `+500`).
    pub fn describe(&self) -> String {
        match self.limit {
            Limit::Percent(p) => format!("+{}%", number(p)),
            Limit::Absolute(a) => format!("+{}", number(a)),
        }
    }
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    let number = |s: &str| -> Result<f64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number, a percentage or a duration"))?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("`{text}` must be zero or more"))
        }
    };
    if let Some(p) = text.strip_suffix('%') {
        return Ok(Limit::Percent(number(p)?));
    }
    if let Some(ms) = text.strip_suffix("ms") {
        return Ok(Limit::Absolute(number(ms)?));
    }
    if let Some(s) = text.strip_suffix('s') {
        return Ok(Limit::Absolute(number(s)? * 1000.0));
    }
    Ok(Limit::Absolute(number(text)?))
}

/// Thresholds the scenario carries: `expect.regression` in the scenario's
/// definition inside the report, a map of `FIGURE[.STAT]` to `LIMIT`
/// (`{rto_ms: 20%, job_rto_ms.p95: 500ms}`). None when it has no such section.
pub fn scenario_thresholds(report: &Report) -> Result<Vec<Threshold>, CompareError> {
    let Some(section) = report
        .scenario
        .definition
        .get("expect")
        .and_then(|e| e.get("regression"))
        .filter(|v| !v.is_null())
    else {
        return Ok(Vec::new());
    };
    let bad = |why: String| CompareError::BadThreshold {
        text: format!("expect.regression in {}", report.scenario.file),
        why,
    };
    let map = section
        .as_object()
        .ok_or_else(|| bad("it must map figure names to limits".into()))?;
    map.iter()
        .map(|(key, value)| {
            let limit = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => return Err(bad(format!("{key}: `{other}` is not a limit"))),
            };
            Threshold::from_parts(key, &limit, "scenario")
                .map_err(|why| bad(format!("{key}: {why}")))
        })
        .collect()
}

/// The change of one statistic of one figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Figure name.
    pub figure: String,
    /// Its unit.
    pub unit: String,
    /// Statistic.
    pub statistic: &'static str,
    /// Value in the base report.
    pub base: Option<f64>,
    /// Value in the current report.
    pub current: Option<f64>,
    /// The threshold that applied, if any.
    pub threshold: Option<Threshold>,
    /// Whether it grew beyond the threshold (or stopped being measured).
    pub regressed: bool,
}

impl Change {
    /// Current minus base, when both exist.
    pub fn delta(&self) -> Option<f64> {
        Some(self.current? - self.base?)
    }

    /// The change in percent of the base, when the base is not zero.
    pub fn percent(&self) -> Option<f64> {
        let base = self.base?;
        (base != 0.0).then(|| self.delta().map(|d| d / base * 100.0))?
    }
}

/// The comparison of two reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Scenario of the base report.
    pub base_scenario: String,
    /// Scenario of the current report.
    pub current_scenario: String,
    /// Run id of the base report.
    pub base_run: String,
    /// Run id of the current report.
    pub current_run: String,
    /// Every statistic of every figure either report has.
    pub changes: Vec<Change>,
}

impl Comparison {
    /// The changes that regressed.
    pub fn regressions(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.regressed).collect()
    }
}

fn statistic(d: &Distribution, name: &str) -> Option<f64> {
    match name {
        "p50" => d.p50,
        "p95" => d.p95,
        "p99" => d.p99,
        "max" => d.max,
        _ => None,
    }
}

fn regressed(base: Option<f64>, current: Option<f64>, limit: Limit) -> bool {
    match (base, current) {
        (Some(_), None) => true,
        (None, _) => false,
        (Some(b), Some(c)) => match limit {
            Limit::Percent(p) => {
                if b > 0.0 {
                    c > b * (1.0 + p / 100.0) + 1e-9
                } else {
                    c > b + 1e-9
                }
            }
            Limit::Absolute(a) => c > b + a + 1e-9,
        },
    }
}

/// Compares `current` against `base`. For each figure and statistic the first
/// matching threshold applies: command-line ones go first in `thresholds`.
pub fn compare(base: &Report, current: &Report, thresholds: &[Threshold]) -> Comparison {
    let base_rows = figures::rows(base);
    let current_rows = figures::rows(current);
    let mut names: Vec<&FigureRow> = base_rows.iter().collect();
    for row in &current_rows {
        if !names.iter().any(|r| r.name == row.name) {
            names.push(row);
        }
    }
    let find = |rows: &[FigureRow], name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.distribution.clone())
    };
    let mut changes = Vec::new();
    for row in names {
        let b = find(&base_rows, &row.name);
        let c = find(&current_rows, &row.name);
        for stat in STATISTICS {
            let base_value = b.as_ref().and_then(|d| statistic(d, stat));
            let current_value = c.as_ref().and_then(|d| statistic(d, stat));
            let threshold = thresholds
                .iter()
                .find(|t| t.applies(&row.name, stat))
                .cloned();
            let is_regression = threshold
                .as_ref()
                .is_some_and(|t| regressed(base_value, current_value, t.limit));
            changes.push(Change {
                figure: row.name.clone(),
                unit: row.distribution.unit.clone(),
                statistic: stat,
                base: base_value,
                current: current_value,
                threshold,
                regressed: is_regression,
            });
        }
    }
    Comparison {
        base_scenario: base.scenario.name.clone(),
        current_scenario: current.scenario.name.clone(),
        base_run: base.run_id.clone(),
        current_run: current.run_id.clone(),
        changes,
    }
}

/// The comparison as a text table, one row per figure and statistic.
pub fn table(comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "base {} ({})  →  current {} ({})",
        comparison.base_run,
        comparison.base_scenario,
        comparison.current_run,
        comparison.current_scenario
    );
    if comparison.base_scenario != comparison.current_scenario {
        let _ = writeln!(out, "note: the reports are of different scenarios");
    }
    let _ = writeln!(
        out,
        "{:<24} {:<4} {:>12} {:>12} {:>12} {:>9}  {:<10} verdict",
        "figure", "stat", "base", "current", "change", "change %", "threshold"
    );
    let value = |v: Option<f64>| v.map(number).unwrap_or_else(|| "—".into());
    for c in &comparison.changes {
        if c.base.is_none() && c.current.is_none() {
            continue;
        }
        let verdict = match (&c.threshold, c.regressed) {
            (_, true) if c.current.is_none() => "REGRESSED (no longer measured)",
            (_, true) => "REGRESSED",
            (Some(_), false) => "ok",
            (None, false) => "",
        };
        let _ = writeln!(
            out,
            "{:<24} {:<4} {:>12} {:>12} {:>12} {:>9}  {:<10} {verdict}",
            c.figure,
            c.statistic,
            value(c.base).to_string() + " " + &c.unit,
            value(c.current).to_string() + " " + &c.unit,
            c.delta()
                .map(|d| format!("{}{}", if d > 0.0 { "+" } else { "" }, number(d)))
                .unwrap_or_else(|| "—".into()),
            c.percent()
                .map(|p| format!("{}{}%", if p > 0.0 { "+" } else { "" }, number(p)))
                .unwrap_or_else(|| "—".into()),
            c.threshold
                .as_ref()
                .map(Threshold::describe)
                .unwrap_or_default(),
        );
    }
    let regressions = comparison.regressions();
    if regressions.is_empty() {
        let _ = writeln!(out, "no figure regressed beyond a threshold");
    } else {
        let _ = writeln!(
            out,
            "{} figure(s) regressed beyond a threshold",
            regressions.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn cli(text: &str) -> Threshold {
        Threshold::parse(text, "command line").unwrap()
    }

    #[test]
    fn thresholds_read_percent_durations_and_plain_numbers() {
        assert_eq!(cli("rto_ms=20%").limit, Limit::Percent(20.0));
        assert_eq!(cli("job_rto_ms=500ms").limit, Limit::Absolute(500.0));
        assert_eq!(cli("job_rto_ms.p95=1.5s").limit, Limit::Absolute(1500.0));
        assert_eq!(cli("job_rto_ms.p95=1.5s").statistic.as_deref(), Some("p95"));
        assert_eq!(cli("errors=2").limit, Limit::Absolute(2.0));
        for bad in ["rto_ms", "rto_ms=fast", "rto_ms.p42=1", "=5", "rto_ms=-3%"] {
            assert!(
                Threshold::parse(bad, "command line").is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn an_unchanged_copy_passes_and_a_planted_regression_is_caught() {
        let base = testdata::report();
        let thresholds = [cli("rto_ms=20%"), cli("job_rto_ms=500ms")];
        let same = compare(&base, &base.clone(), &thresholds);
        assert!(same.regressions().is_empty());
        assert!(same
            .changes
            .iter()
            .all(|c| c.delta() == Some(0.0) || c.base.is_none()));

        let mut worse = base.clone();
        let rto = worse.summary.figures.get_mut("rto_ms").unwrap();
        rto.p95 = Some(rto.p95.unwrap() * 1.3);
        let result = compare(&base, &worse, &thresholds);
        let regressions = result.regressions();
        assert_eq!(regressions.len(), 1);
        assert_eq!(
            (regressions[0].figure.as_str(), regressions[0].statistic),
            ("rto_ms", "p95")
        );
        assert!(table(&result).contains("REGRESSED"));

        // Within the threshold: 10% worse is not a regression at 20%.
        let mut slightly = base.clone();
        slightly.summary.figures.get_mut("rto_ms").unwrap().p50 = Some(380.0 * 1.1);
        assert!(compare(&base, &slightly, &thresholds)
            .regressions()
            .is_empty());
    }

    #[test]
    fn a_figure_that_stops_being_measured_regresses_and_command_line_goes_first() {
        let base = testdata::report();
        let mut current = base.clone();
        current.summary.figures.get_mut("job_rto_ms").unwrap().max = None;
        current.scenario.definition["expect"]["regression"] =
            serde_json::json!({"job_rto_ms": "10s", "errors.max": 0});
        let mut thresholds = vec![cli("job_rto_ms.max=100ms")];
        thresholds.extend(scenario_thresholds(&current).unwrap());
        assert_eq!(thresholds.len(), 3);
        let result = compare(&base, &current, &thresholds);
        let job_max = result
            .changes
            .iter()
            .find(|c| c.figure == "job_rto_ms" && c.statistic == "max")
            .unwrap();
        assert!(job_max.regressed);
        assert_eq!(job_max.threshold.as_ref().unwrap().source, "command line");
        let job_p50 = result
            .changes
            .iter()
            .find(|c| c.figure == "job_rto_ms" && c.statistic == "p50")
            .unwrap();
        assert_eq!(job_p50.threshold.as_ref().unwrap().source, "scenario");
        // errors.max = 0 from the scenario: one more failed probe regresses.
        let mut noisier = base.clone();
        *noisier
            .summary
            .figures
            .get_mut("errors")
            .unwrap()
            .max
            .as_mut()
            .unwrap() += 1.0;
        let from_scenario = scenario_thresholds(&current).unwrap();
        assert_eq!(
            compare(&base, &noisier, &from_scenario).regressions().len(),
            1
        );
    }

    #[test]
    fn a_threshold_on_an_unknown_figure_is_an_error_listing_the_known_ones() {
        let report = testdata::report();
        let typo = [cli("rto=20%")];
        let err = check_figures(&typo, &[&report, &report])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`rto`") && err.contains("rto_ms") && err.contains("job_rto_ms"),
            "{err}"
        );
        let fine = [cli("rto_ms=20%"), cli("latency_during_p99_ms.p95=5ms")];
        check_figures(&fine, &[&report]).unwrap();
    }

    #[test]
    fn a_malformed_regression_section_is_reported() {
        let mut report = testdata::report();
        report.scenario.definition["expect"]["regression"] = serde_json::json!(["rto_ms"]);
        assert!(scenario_thresholds(&report).is_err());
        report.scenario.definition["expect"]["regression"] = serde_json::json!({"rto_ms": "soon"});
        let err = scenario_thresholds(&report).unwrap_err().to_string();
        assert!(err.contains("rto_ms") && err.contains("soon"), "{err}");
    }
}
