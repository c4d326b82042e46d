//! `junit.xml`: drills as tests, so CI systems list them beside unit tests.
//! One test suite per scenario; one test case per expectation, plus one per
//! fault of each iteration checking that its witness appeared. A failed
//! expectation is a `<failure>` carrying the evidence; an inconclusive one (or
//! a fault without a witness) is an `<error>`, never a pass; a fault that
//! cannot be made on this machine is `<skipped>` with the reason.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::display::with_unit;
use super::model::{ExpectationResult, FaultRecord, Iteration, Report, Verdict};

/// File name of the JUnit report inside a report directory.
pub const FILE_NAME: &str = "junit.xml";

/// Why the JUnit XML could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    /// quick-junit could not serialize the report.
    #[error("cannot write the JUnit XML: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64((ms.max(0.0)) / 1000.0)
}

fn expectation_case(scenario: &str, e: &ExpectationResult) -> TestCase {
    let figures = format!(
        "{}: measured {}, limit {} ({} over the iterations)",
        e.figure,
        with_unit(e.measured, &e.unit),
        with_unit(Some(e.threshold), &e.unit),
        e.statistic
    );
    let status = match e.verdict {
        Verdict::Held => TestCaseStatus::success(),
        Verdict::Failed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(e.evidence.clone())
                .set_type("expectation-failed")
                .set_description(figures.clone());
            status
        }
        Verdict::Inconclusive => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!("inconclusive: {}", e.evidence))
                .set_type("inconclusive")
                .set_description(figures.clone());
            status
        }
    };
    let mut case = TestCase::new(format!("expect {}", e.name), status);
    case.set_classname(format!("takeover.{scenario}"));
    if e.verdict == Verdict::Held {
        case.set_system_out(format!("{}\n{figures}", e.evidence));
    }
    case
}

fn witness_case(scenario: &str, it: &Iteration, fault: &FaultRecord) -> TestCase {
    let name = format!(
        "iteration {} step {}: {} {} took effect",
        it.index, fault.step, fault.kind, fault.target
    );
    let evidence = serde_json::to_string(&fault.evidence).unwrap_or_default();
    let status = match (&fault.unavailable, &fault.error, fault.in_effect_at_ms) {
        (Some(why), _, _) => {
            let mut status = TestCaseStatus::skipped();
            status
                .set_message(format!("the fault cannot be made here: {why}"))
                .set_type("fault-unavailable");
            status
        }
        (None, Some(error), _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!("the fault could not be injected: {error}"))
                .set_type("fault-injection-failed")
                .set_description(evidence.clone());
            status
        }
        (None, None, None) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!(
                    "inconclusive: no witness that the {} of {} took effect within the deadline",
                    fault.kind, fault.target
                ))
                .set_type("no-witness")
                .set_description(evidence.clone());
            status
        }
        (None, None, Some(_)) => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(format!("takeover.{scenario}.iteration-{}", it.index));
    if let Some(at) = fault.in_effect_at_ms {
        case.set_time(millis(at - fault.requested_at_ms));
        case.set_system_out(format!(
            "witness: {}\nevidence: {evidence}",
            fault.witness.as_deref().unwrap_or("in effect")
        ));
    }
    case
}

/// The test suite of one report (one scenario run).
pub fn suite(report: &Report) -> TestSuite {
    let scenario = &report.scenario.name;
    let mut suite = TestSuite::new(scenario.clone());
    suite.set_timestamp(report.started_at.fixed_offset());
    suite.set_time(millis(
        (report.ended_at - report.started_at).num_milliseconds() as f64,
    ));
    suite.add_property(("run_id", report.run_id.as_str()));
    suite.add_property(("scenario_file", report.scenario.file.as_str()));
    suite.add_property(("outcome", report.outcome.as_str()));
    for e in &report.expectations {
        suite.add_test_case(expectation_case(scenario, e));
    }
    for it in &report.iterations {
        for fault in &it.faults {
            suite.add_test_case(witness_case(scenario, it, fault));
        }
    }
    let mut out = String::new();
    for row in super::figures::rows(report) {
        let d = &row.distribution;
        out.push_str(&format!(
            "{}: p50 {} p95 {} p99 {} max {} ({} iterations)\n",
            row.name,
            with_unit(d.p50, &d.unit),
            with_unit(d.p95, &d.unit),
            with_unit(d.p99, &d.unit),
            with_unit(d.max, &d.unit),
            d.count
        ));
    }
    suite.set_system_out(out);
    suite
}

/// The JUnit XML of one or more reports (one suite each).
pub fn render(reports: &[&Report]) -> Result<String, JunitError> {
    let mut junit = quick_junit::Report::new("takeover");
    for report in reports {
        junit.add_test_suite(suite(report));
    }
    Ok(junit.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use quick_junit::TestCaseStatus as S;

    fn parse(xml: &str) -> quick_junit::Report {
        quick_junit::Report::deserialize_from_str(xml).expect("the JUnit XML parses")
    }

    #[test]
    fn a_passing_run_is_all_green_with_one_case_per_expectation_and_witness() {
        let report = testdata::report();
        let parsed = parse(&render(&[&report]).unwrap());
        assert_eq!(parsed.test_suites.len(), 1);
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.name.as_str(), "oom-kill-primary");
        // 4 expectations + 3 iterations x 1 fault.
        assert_eq!(suite.test_cases.len(), 7);
        assert_eq!((parsed.failures, parsed.errors), (0, 0));
        assert!(suite
            .test_cases
            .iter()
            .any(|c| c.name.as_str() == "iteration 2 step 0: oom-kill primary took effect"));
    }

    #[test]
    fn a_failed_expectation_carries_its_evidence_and_inconclusive_is_an_error() {
        let mut report = testdata::report();
        report.expectations[0].verdict = Verdict::Failed;
        report.expectations[0].measured = Some(2_400.0);
        report.expectations[0].evidence = "p95 2400 ms is over the limit of 2000 ms".into();
        report.expectations[1].verdict = Verdict::Inconclusive;
        report.expectations[1].measured = None;
        report.iterations[2].faults[0].in_effect_at_ms = None;
        report.iterations[2].faults[0].witness = None;
        report.iterations[1].faults[0].unavailable = Some("the kernel lacks netem".into());
        let parsed = parse(&render(&[&report]).unwrap());
        assert_eq!(
            (parsed.tests, parsed.failures, parsed.errors, parsed.skipped),
            (7, 1, 2, 1)
        );
        let case = |name: &str| {
            parsed.test_suites[0]
                .test_cases
                .iter()
                .find(|c| c.name.as_str() == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        match &case("expect rto.p95").status {
            S::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "p95 2400 ms is over the limit of 2000 ms"
                );
                assert!(description
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .contains("measured 2400 ms, limit 2000 ms"));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(
            &case("expect job_resume.max").status,
            S::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            }
        ));
        match &case("iteration 3 step 0: oom-kill primary took effect").status {
            S::NonSuccess {
                kind: NonSuccessKind::Error,
                message,
                ..
            } => {
                assert!(message.as_ref().unwrap().as_str().contains("no witness"));
            }
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(matches!(
            &case("iteration 2 step 0: oom-kill primary took effect").status,
            S::Skipped { .. }
        ));
    }
}
