//! The figures a drill measures, as one type: each knows its report.json
//! name, its unit, its label for people, and how to read its value and its
//! error bound from an iteration's figures. Judging, comparing, the history
//! and every renderer go through it instead of spelling names.

use std::fmt;
use std::str::FromStr;

use super::model::Figures;

/// One figure of a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Figure {
    /// Front-door RTO: onset to the first probe of the sustained good run.
    Rto,
    /// First failed probe to the sustained good run: the outage clients saw.
    Outage,
    /// Onset to the job's committed progress moving again.
    JobRto,
    /// Frames synthesized more than once.
    WorkLost,
    /// Failed probes.
    Errors,
    /// Fault requested to its witness.
    WitnessDelay,
    /// Onset to the front door marking the primary down.
    Detect,
    /// Each iteration's p99 probe latency before the outage.
    LatencyBeforeP99,
    /// Each iteration's p99 probe latency during the outage.
    LatencyDuringP99,
    /// Each iteration's p99 probe latency after the recovery.
    LatencyAfterP99,
}

/// A figure name no build knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no figure `{name}`; known figures: {}", Figure::names().join(", "))]
pub struct UnknownFigure {
    /// The name given.
    pub name: String,
}

impl Figure {
    /// Every figure: the summary's, then probe latency before, during and after.
    pub const ALL: [Figure; 10] = [
        Figure::Rto,
        Figure::Outage,
        Figure::JobRto,
        Figure::WorkLost,
        Figure::Errors,
        Figure::WitnessDelay,
        Figure::Detect,
        Figure::LatencyBeforeP99,
        Figure::LatencyDuringP99,
        Figure::LatencyAfterP99,
    ];

    /// The figures of report.json's `summary.figures`, in the documented
    /// order: every figure but the latency rows.
    pub const SUMMARY: &'static [Figure] = Figure::ALL.split_at(7).0;

    /// Its name: the key in report.json (`rto_ms`), ending with its unit.
    pub const fn as_str(self) -> &'static str {
        match self {
            Figure::Rto => "rto_ms",
            Figure::Outage => "outage_ms",
            Figure::JobRto => "job_rto_ms",
            Figure::WorkLost => "work_lost_frames",
            Figure::Errors => "errors",
            Figure::WitnessDelay => "witness_delay_ms",
            Figure::Detect => "detect_ms",
            Figure::LatencyBeforeP99 => "latency_before_p99_ms",
            Figure::LatencyDuringP99 => "latency_during_p99_ms",
            Figure::LatencyAfterP99 => "latency_after_p99_ms",
        }
    }

    /// Its unit (`ms`, `frames`, `probes`).
    pub const fn unit(self) -> &'static str {
        match self {
            Figure::WorkLost => "frames",
            Figure::Errors => "probes",
            _ => "ms",
        }
    }

    /// What it is, for people (a table's row).
    pub const fn label(self) -> &'static str {
        match self {
            Figure::Rto => "RTO (front door, from onset)",
            Figure::Outage => "outage (first failed probe to recovery)",
            Figure::JobRto => "job RTO",
            Figure::WorkLost => "work lost",
            Figure::Errors => "failed probes",
            Figure::WitnessDelay => "witness delay (request to witness)",
            Figure::Detect => "detection (onset to mark-down)",
            Figure::LatencyBeforeP99 => "latency p99 before",
            Figure::LatencyDuringP99 => "latency p99 during",
            Figure::LatencyAfterP99 => "latency p99 after",
        }
    }

    /// A sentence saying what it measures (OpenMetrics `# HELP`).
    pub const fn help(self) -> &'static str {
        match self {
            Figure::Rto => "Front-door RTO: from the outage's onset to sustained good probes (ms)",
            Figure::Outage => "Outage seen at the front door: first to last failed probe (ms)",
            Figure::JobRto => {
                "Job RTO: from the onset until the job's committed progress moved again (ms)"
            }
            Figure::WorkLost => "Frames computed twice after the takeover",
            Figure::Errors => "Failed probes per iteration",
            Figure::WitnessDelay => "From the fault's request to its witness (ms)",
            Figure::Detect => "From the onset until the front door marked the primary down (ms)",
            Figure::LatencyBeforeP99 => "Each iteration's p99 probe latency before the outage (ms)",
            Figure::LatencyDuringP99 => "Each iteration's p99 probe latency during the outage (ms)",
            Figure::LatencyAfterP99 => "Each iteration's p99 probe latency after recovery (ms)",
        }
    }

    /// Whether report.json's summary carries it (the latency rows are
    /// distributed from the iterations when shown).
    pub fn in_summary(self) -> bool {
        Figure::SUMMARY.contains(&self)
    }

    /// Its value in one iteration's figures; `None` when not measured.
    /// Reports written before `witness_delay_ms` give it as `fault_effect_delay_ms`.
    pub fn value(self, f: &Figures) -> Option<f64> {
        match self {
            Figure::Rto => f.rto_ms,
            Figure::Outage => f.outage_ms,
            Figure::JobRto => f.job_rto_ms,
            Figure::WorkLost => f.work_lost_frames.map(|v| v as f64),
            Figure::Errors => Some(f.errors as f64),
            Figure::WitnessDelay => f.witness_delay_ms.or(f.fault_effect_delay_ms),
            Figure::Detect => f.detect_ms,
            Figure::LatencyBeforeP99 => f.latency.before.p99_ms,
            Figure::LatencyDuringP99 => f.latency.during.p99_ms,
            Figure::LatencyAfterP99 => f.latency.after.p99_ms,
        }
    }

    /// Its measured error bound in one iteration's figures, when it has one.
    pub fn error_bound(self, f: &Figures) -> Option<f64> {
        f.error_bounds_ms.get(self.as_str()).copied()
    }

    /// The figure of a report.json name, if any.
    pub fn from_name(name: &str) -> Option<Figure> {
        Figure::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Every figure's name, in order.
    pub fn names() -> Vec<&'static str> {
        Figure::ALL.iter().map(|f| f.as_str()).collect()
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Figure {
    type Err = UnknownFigure;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Figure::from_name(name).ok_or_else(|| UnknownFigure {
            name: name.to_string(),
        })
    }
}

/// A label for a figure name, known or not (a newer report's figure shows
/// its name with spaces).
pub fn label(name: &str) -> String {
    /// Names earlier reports used, with their labels.
    const FORMER: [(&str, &str); 1] = [("fault_effect_delay_ms", "fault effect delay")];
    match Figure::from_name(name) {
        Some(figure) => figure.label().to_string(),
        None => FORMER
            .iter()
            .find(|(former, _)| *former == name)
            .map_or_else(|| name.replace('_', " "), |(_, label)| label.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_end_with_the_unit() {
        for figure in Figure::ALL {
            assert_eq!(figure.as_str().parse::<Figure>(), Ok(figure));
            assert_eq!(figure.to_string(), figure.as_str());
            if figure.unit() == "ms" {
                assert!(figure.as_str().ends_with("_ms"), "{figure}");
            }
        }
        assert_eq!(Figure::SUMMARY.len(), 7);
        assert!(Figure::SUMMARY
            .iter()
            .all(|f| !f.as_str().starts_with("latency_")));
        let err = "rto".parse::<Figure>().unwrap_err().to_string();
        assert!(
            err.contains("`rto`") && err.contains("rto_ms, outage_ms"),
            "{err}"
        );
        assert_eq!(label("fault_effect_delay_ms"), "fault effect delay");
        assert_eq!(label("queue_depth_jobs"), "queue depth jobs");
    }

    #[test]
    fn values_come_from_the_iteration_figures() {
        let mut f = Figures {
            rto_ms: Some(420.0),
            work_lost_frames: Some(8),
            errors: 3,
            fault_effect_delay_ms: Some(210.0),
            ..Figures::default()
        };
        f.error_bounds_ms.insert("rto_ms".into(), 20.0);
        assert_eq!(Figure::Rto.value(&f), Some(420.0));
        assert_eq!(Figure::WorkLost.value(&f), Some(8.0));
        assert_eq!(Figure::Errors.value(&f), Some(3.0));
        assert_eq!(Figure::WitnessDelay.value(&f), Some(210.0));
        assert_eq!(Figure::Detect.value(&f), None);
        assert_eq!(Figure::Rto.error_bound(&f), Some(20.0));
        assert_eq!(Figure::Outage.error_bound(&f), None);
    }
}
