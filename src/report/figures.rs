//! The figures every renderer and `compare` show: the run's distributions from
//! report.json's summary, plus probe latency before, during and after the
//! outage across iterations (each iteration's p99, distributed).

use super::figure::{self, Figure};
use super::model::{Distribution, Report};

/// One figure across the iterations of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureRow {
    /// The figure's name as in report.json (`rto_ms`) or a derived name (`latency_during_p99_ms`).
    pub name: String,
    /// What it is, for people.
    pub label: String,
    /// Its distribution across iterations.
    pub distribution: Distribution,
}

/// Nearest-rank distribution of `values` (the same statistic report.json uses).
pub fn distribution(
    unit: &str,
    values: &[f64],
    missing: u32,
    error_bound: Option<f64>,
) -> Distribution {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| crate::timeline::nearest_rank(&sorted, p);
    Distribution {
        unit: unit.to_string(),
        count: sorted.len() as u32,
        missing,
        min: sorted.first().copied(),
        p50: rank(50.0),
        p95: rank(95.0),
        p99: rank(99.0),
        max: sorted.last().copied(),
        mean: (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64),
        error_bound,
    }
}

/// Every figure of the report: the summary's, in the documented order (then
/// any others it carries), then probe latency p99 before, during and after.
pub fn rows(report: &Report) -> Vec<FigureRow> {
    let mut names: Vec<&str> = Figure::SUMMARY.iter().map(|f| f.as_str()).collect();
    for name in report.summary.figures.keys() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut rows: Vec<FigureRow> = names
        .into_iter()
        .filter_map(|name| {
            let distribution = report.summary.figures.get(name)?;
            Some(FigureRow {
                name: name.to_string(),
                label: figure::label(name),
                distribution: distribution.clone(),
            })
        })
        .collect();
    for figure in Figure::ALL.into_iter().filter(|f| !f.in_summary()) {
        if let Some(distribution) = across_iterations(report, figure) {
            rows.push(FigureRow {
                name: figure.to_string(),
                label: figure.label().to_string(),
                distribution,
            });
        }
    }
    rows
}

/// The distribution of `figure` over every iteration of the report (not only
/// the judged ones); `None` when no iteration has a value.
fn across_iterations(report: &Report, figure: Figure) -> Option<Distribution> {
    let values: Vec<Option<f64>> = report
        .iterations
        .iter()
        .map(|it| figure.value(&it.figures))
        .collect();
    if values.iter().all(Option::is_none) {
        return None;
    }
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let missing = (values.len() - present.len()) as u32;
    Some(distribution(figure.unit(), &present, missing, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn nearest_rank_percentiles() {
        let d = distribution("ms", &[300.0, 100.0, 200.0, 400.0], 1, Some(20.0));
        assert_eq!(
            (d.min, d.p50, d.p95, d.max),
            (Some(100.0), Some(200.0), Some(400.0), Some(400.0))
        );
        assert_eq!(d.mean, Some(250.0));
        assert_eq!((d.count, d.missing), (4, 1));
        let empty = distribution("ms", &[], 3, None);
        assert_eq!((empty.p50, empty.mean, empty.missing), (None, None, 3));
    }

    #[test]
    fn rows_follow_the_documented_order_then_latency() {
        let report = testdata::report();
        let names: Vec<String> = rows(&report).into_iter().map(|r| r.name).collect();
        assert_eq!(names, Figure::names());
        let during = rows(&report)
            .into_iter()
            .find(|r| r.name == Figure::LatencyDuringP99.as_str())
            .unwrap();
        assert_eq!(during.distribution.p50, Some(250.0));
    }
}
