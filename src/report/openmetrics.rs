//! Drill figures as OpenMetrics text, for node_exporter's textfile collector
//! and the Prometheus Pushgateway. Pure: a report in, text out.
//!
//! Every sample carries `scenario`; per figure of `summary.figures` one gauge
//! family `takeover_drill_<figure>` with a `stat` label (`min`, `p50`, `p95`,
//! `p99`, `max`, `mean`), plus the verdict, the iteration counts, the
//! expectations and the run's time.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::figure::Figure;
use super::model::{Report, RunOutcome, Verdict};

/// The prefix of every metric name.
pub const PREFIX: &str = "takeover_drill_";

/// What a figure means, for `# HELP` (a figure this build does not know by its name).
fn figure_help(name: &str) -> String {
    match Figure::from_name(name) {
        Some(figure) => figure.help().to_string(),
        None => format!("The drill figure {name} across iterations"),
    }
}

/// A metric family being built: its type line, help and samples in order.
struct Family {
    help: String,
    samples: Vec<String>,
}

/// Families keyed by name, in the order first seen.
#[derive(Default)]
struct Families {
    order: Vec<String>,
    by_name: BTreeMap<String, Family>,
}

impl Families {
    fn add(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let family = self.by_name.entry(name.to_string()).or_insert_with(|| {
            self.order.push(name.to_string());
            Family {
                help: help.to_string(),
                samples: Vec::new(),
            }
        });
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        family
            .samples
            .push(format!("{name}{{{labels}}} {}", number(value)));
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others as Rust prints them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A metric name made only of `[a-zA-Z0-9_]`.
fn metric_name(figure: &str) -> String {
    let mut s = String::from(PREFIX);
    s.extend(
        figure
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    s
}

fn add_report(f: &mut Families, r: &Report) {
    let scenario = r.scenario.name.as_str();
    let s = [("scenario", scenario)];
    for (figure, d) in &r.summary.figures {
        let name = metric_name(figure);
        let help = figure_help(figure);
        for (stat, value) in [
            ("min", d.min),
            ("p50", d.p50),
            ("p95", d.p95),
            ("p99", d.p99),
            ("max", d.max),
            ("mean", d.mean),
        ] {
            if let Some(v) = value {
                f.add(&name, &help, &[("scenario", scenario), ("stat", stat)], v);
            }
        }
    }
    f.add(
        &format!("{PREFIX}passed"),
        "1 when every expectation of the run held, else 0",
        &s,
        if r.outcome == RunOutcome::Passed {
            1.0
        } else {
            0.0
        },
    );
    for o in [
        RunOutcome::Passed,
        RunOutcome::Failed,
        RunOutcome::Inconclusive,
        RunOutcome::Error,
    ] {
        f.add(
            &format!("{PREFIX}outcome"),
            "The run's verdict: 1 for the one it got, 0 for the others",
            &[("scenario", scenario), ("outcome", o.as_str())],
            if r.outcome == o { 1.0 } else { 0.0 },
        );
    }
    f.add(
        &format!("{PREFIX}exit_code"),
        "The exit code of the run (0 passed, 1 failed, 2 error, 3 inconclusive)",
        &s,
        f64::from(r.exit_code),
    );
    f.add(
        &format!("{PREFIX}iterations"),
        "Iterations the run made",
        &s,
        f64::from(r.summary.iterations),
    );
    for (outcome, n) in &r.summary.outcomes {
        f.add(
            &format!("{PREFIX}iterations_by_outcome"),
            "Iterations per outcome",
            &[("scenario", scenario), ("outcome", outcome)],
            f64::from(*n),
        );
    }
    for e in &r.expectations {
        f.add(
            &format!("{PREFIX}expectation_held"),
            "1 when the expectation held, 0 when it failed or could not be judged",
            &[("scenario", scenario), ("expectation", &e.name)],
            if e.verdict == Verdict::Held { 1.0 } else { 0.0 },
        );
    }
    f.add(
        &format!("{PREFIX}started_timestamp_seconds"),
        "When the run started (Unix time)",
        &s,
        r.started_at.timestamp_millis() as f64 / 1000.0,
    );
    f.add(
        &format!("{PREFIX}ended_timestamp_seconds"),
        "When the run ended (Unix time)",
        &s,
        r.ended_at.timestamp_millis() as f64 / 1000.0,
    );
    f.add(
        &format!("{PREFIX}duration_seconds"),
        "How long the run took",
        &s,
        (r.ended_at - r.started_at).num_milliseconds() as f64 / 1000.0,
    );
}

/// The OpenMetrics text of one or more runs (one per scenario), ending in `# EOF`.
pub fn render(reports: &[&Report]) -> String {
    let mut families = Families::default();
    for r in reports {
        add_report(&mut families, r);
    }
    let mut out = String::new();
    for name in &families.order {
        let family = &families.by_name[name];
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} gauge");
        for s in &family.samples {
            out.push_str(s);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    /// The value of the sample whose name and labels are exactly `series`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.parse().unwrap())
    }

    #[test]
    fn the_summary_figures_become_gauges_per_scenario() {
        let r = testdata::report();
        let text = render(&[&r]);
        let rto = &r.summary.figures["rto_ms"];
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_rto_ms{scenario="oom-kill-primary",stat="p95"}"#
            ),
            rto.p95
        );
        let job = &r.summary.figures["job_rto_ms"];
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_job_rto_ms{scenario="oom-kill-primary",stat="max"}"#
            ),
            job.max
        );
        for figure in r.summary.figures.keys() {
            assert!(
                text.contains(&format!("# TYPE takeover_drill_{figure} gauge")),
                "{figure}"
            );
        }
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_passed{scenario="oom-kill-primary"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_outcome{scenario="oom-kill-primary",outcome="failed"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_iterations{scenario="oom-kill-primary"}"#
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_expectation_held{scenario="oom-kill-primary",expectation="rto.p95"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_ended_timestamp_seconds{scenario="oom-kill-primary"}"#
            ),
            Some(r.ended_at.timestamp() as f64)
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_failed_run_says_so_and_each_family_appears_once_over_several_scenarios() {
        let a = testdata::report();
        let mut b = testdata::report();
        b.scenario.name = "kill \"primary\"".into();
        b.outcome = RunOutcome::Failed;
        b.exit_code = 1;
        let text = render(&[&a, &b]);
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_passed{scenario="kill \"primary\""}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                r#"takeover_drill_outcome{scenario="kill \"primary\"",outcome="failed"}"#
            ),
            Some(1.0)
        );
        let types = text
            .lines()
            .filter(|l| l.starts_with("# TYPE takeover_drill_passed "))
            .count();
        assert_eq!(types, 1);
        // A family's samples are contiguous (OpenMetrics requires it).
        let lines: Vec<&str> = text.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.starts_with("takeover_drill_passed{"))
            .unwrap();
        assert!(lines[first + 1].starts_with("takeover_drill_passed{"));
    }

    #[test]
    fn the_shipped_alert_rules_and_dashboard_use_names_that_exist() {
        let text = render(&[&testdata::report()]);
        let examples = [
            include_str!("../../examples/prometheus/takeover-alerts.yml"),
            include_str!("../../examples/grafana/takeover-drills.json"),
        ];
        let mut used = 0;
        for example in examples {
            for (i, _) in example.match_indices(PREFIX) {
                let name: String = example[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    text.contains(&format!("# TYPE {name} gauge")),
                    "{name} is not a metric takeover writes"
                );
                used += 1;
            }
        }
        assert!(used >= 8, "the examples name the metrics ({used} uses)");
    }

    #[test]
    fn numbers_are_written_the_way_parsers_read_them() {
        assert_eq!(number(420.0), "420");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(metric_name("a.b-c"), "takeover_drill_a_b_c");
    }
}
