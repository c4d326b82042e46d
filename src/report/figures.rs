//! The figures every renderer and `compare` show: the run's distributions from
//! report.json's summary, plus probe latency before, during and after the
//! outage across iterations (each iteration's p99, distributed).

use super::model::{Distribution, LatencySummary, Report};

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

/// A label for a figure name.
pub fn label(name: &str) -> String {
    match name {
        "rto_ms" => "RTO (front door, from onset)".into(),
        "outage_ms" => "outage (first failed probe to recovery)".into(),
        "witness_delay_ms" => "witness delay (request to witness)".into(),
        "job_rto_ms" => "job RTO".into(),
        "work_lost_frames" => "work lost".into(),
        "errors" => "failed probes".into(),
        "fault_effect_delay_ms" => "fault effect delay".into(),
        "detect_ms" => "detection (onset to mark-down)".into(),
        "latency_before_p99_ms" => "latency p99 before".into(),
        "latency_during_p99_ms" => "latency p99 during".into(),
        "latency_after_p99_ms" => "latency p99 after".into(),
        other => other.replace('_', " "),
    }
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
    let mut rows = Vec::new();
    let mut names: Vec<String> = Report::FIGURES.iter().map(|(n, _)| n.to_string()).collect();
    for name in report.summary.figures.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    for name in names {
        if let Some(distribution) = report.summary.figures.get(&name) {
            rows.push(FigureRow {
                label: label(&name),
                name,
                distribution: distribution.clone(),
            });
        }
    }
    type Phase = fn(&super::model::LatencySplit) -> &LatencySummary;
    let phases: [(&str, Phase); 3] = [
        ("latency_before_p99_ms", |l| &l.before),
        ("latency_during_p99_ms", |l| &l.during),
        ("latency_after_p99_ms", |l| &l.after),
    ];
    for (name, phase) in phases {
        let values: Vec<Option<f64>> = report
            .iterations
            .iter()
            .map(|it| phase(&it.figures.latency).p99_ms)
            .collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let missing = (values.len() - present.len()) as u32;
        rows.push(FigureRow {
            name: name.to_string(),
            label: label(name),
            distribution: distribution("ms", &present, missing, None),
        });
    }
    rows
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
        assert_eq!(
            names,
            [
                "rto_ms",
                "outage_ms",
                "job_rto_ms",
                "work_lost_frames",
                "errors",
                "witness_delay_ms",
                "detect_ms",
                "latency_before_p99_ms",
                "latency_during_p99_ms",
                "latency_after_p99_ms"
            ]
        );
        let during = rows(&report)
            .into_iter()
            .find(|r| r.name == "latency_during_p99_ms")
            .unwrap();
        assert_eq!(during.distribution.p50, Some(250.0));
    }
}
