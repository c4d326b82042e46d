//! `report.md`: the verdicts and figures as short tables for a pull request
//! or a ticket, with each iteration's timeline chart as an SVG file beside it.

use std::fmt::Write;

use super::display::{md_cell, md_text, number, with_unit, witness_text};
use super::figure::Figure;
use super::figures;
use super::history::HistorySummary;
use super::model::{Iteration, Report, Verdict};
use super::seams::VerdictView;

/// File name of the Markdown report inside a report directory.
pub const FILE_NAME: &str = "report.md";

/// File name of an iteration's chart around the fault.
pub fn outage_chart_name(iteration: u32) -> String {
    format!("timeline-{iteration}-fault.svg")
}

/// File name of an iteration's chart over the whole run.
pub fn whole_chart_name(iteration: u32) -> String {
    format!("timeline-{iteration}.svg")
}

fn verdict_mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Held => "✅ held",
        Verdict::Failed => "❌ FAILED",
        Verdict::Inconclusive => "⚠️ inconclusive",
    }
}

/// Renders the Markdown report; `charts` tells whether the chart files
/// (named by [`outage_chart_name`] and [`whole_chart_name`]) are written beside it.
pub fn render(report: &Report, history: &[HistorySummary], charts: bool) -> String {
    let mut md = String::new();
    let outcome = report.outcome.as_str().to_uppercase();
    let mark = match report.outcome {
        super::model::RunOutcome::Passed => "✅",
        super::model::RunOutcome::Failed => "❌",
        super::model::RunOutcome::Inconclusive => "⚠️",
        super::model::RunOutcome::Error => "⛔",
    };
    let _ = writeln!(
        md,
        "# {mark} {}: {outcome}\n",
        md_text(&report.scenario.name)
    );
    if !report.scenario.description.is_empty() {
        let _ = writeln!(md, "{}\n", md_text(&report.scenario.description));
    }
    let counts: Vec<String> = report
        .summary
        .outcomes
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let _ = writeln!(
        md,
        "Run `{}` started {} · {} iteration(s): {} · exit code {} · {}{}\n",
        report.run_id,
        report.started_at.format("%Y-%m-%d %H:%M UTC"),
        report.summary.iterations,
        counts.join(", "),
        report.exit_code,
        report.environment.host,
        report
            .environment
            .backend
            .as_deref()
            .map(|b| format!(", backend {b}"))
            .unwrap_or_default()
    );

    md.push_str("## Expectations\n\n");
    if report.expectations.is_empty() {
        md.push_str("The scenario sets no expectations.\n\n");
    } else {
        md.push_str(
            "| verdict | expectation | measured | limit | evidence |\n|---|---|---:|---:|---|\n",
        );
        for e in &report.expectations {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                verdict_mark(e.verdict),
                md_cell(&e.name),
                with_unit(e.measured, &e.unit),
                with_unit(Some(e.threshold), &e.unit),
                md_cell(&e.evidence)
            );
        }
        md.push('\n');
    }

    if report.is_frontdoor_only() {
        md.push_str("## Checks that did not apply\n\n");
        let _ = writeln!(md, "{}\n", super::model::FRONTDOOR_ONLY_VERDICT);
        md.push_str("| check | why it did not apply |\n|---|---|\n");
        for na in &report.not_applicable {
            let _ = writeln!(md, "| {} | {} |", md_cell(&na.check), md_cell(&na.reason));
        }
        md.push('\n');
    }

    md.push_str("## Figures across iterations\n\n| figure | p50 | p95 | p99 | max | error bound |\n|---|---:|---:|---:|---:|---:|\n");
    for row in figures::rows(report) {
        let d = &row.distribution;
        let _ = writeln!(
            md,
            "| {} ({}) | {} | {} | {} | {} | {} |",
            row.label,
            d.unit,
            with_unit(d.p50, ""),
            with_unit(d.p95, ""),
            with_unit(d.p99, ""),
            with_unit(d.max, ""),
            d.error_bound
                .map(|b| format!("± {}", number(b)))
                .unwrap_or_else(|| "—".into())
        );
    }
    md.push('\n');

    md.push_str("## Iterations\n\n| # | outcome | RTO | outage | onset | witness delay | detection | job RTO | work lost | failed probes | fault witness | audio |\n|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|\n");
    for it in &report.iterations {
        let f = &it.figures;
        let bounded = |figure: Figure| match (figure.value(f), figure.error_bound(f)) {
            (Some(v), Some(b)) => format!("{} ± {}", with_unit(Some(v), figure.unit()), number(b)),
            (v, _) => with_unit(v, figure.unit()),
        };
        let plain = |figure: Figure| with_unit(figure.value(f), figure.unit());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            it.index,
            it.outcome,
            bounded(Figure::Rto),
            bounded(Figure::Outage),
            onset_cell(f),
            plain(Figure::WitnessDelay),
            plain(Figure::Detect),
            bounded(Figure::JobRto),
            plain(Figure::WorkLost),
            f.errors,
            md_cell(&witnesses(it)),
            md_cell(&audio_line(it)),
        );
    }
    md.push('\n');
    for it in &report.iterations {
        for reason in &it.reasons {
            let _ = writeln!(md, "- iteration {}: {}", it.index, md_cell(reason));
        }
    }
    if report.iterations.iter().any(|it| !it.reasons.is_empty()) {
        md.push('\n');
    }

    runbooks_section(&mut md, report);

    if charts && !report.iterations.is_empty() {
        md.push_str("## Timelines\n\n");
        for it in &report.iterations {
            let has_fault = super::chart::Window::outage(it).is_some();
            if has_fault {
                let _ = writeln!(
                    md,
                    "![iteration {n}: around the fault]({}) \n[whole run]({})\n",
                    outage_chart_name(it.index),
                    whole_chart_name(it.index),
                    n = it.index
                );
            } else {
                let _ = writeln!(
                    md,
                    "![iteration {n}: whole run]({})\n",
                    whole_chart_name(it.index),
                    n = it.index
                );
            }
        }
    }

    let earlier =
        super::history::last_runs(history, &report.scenario.name, 5, Some(&report.run_id));
    if !earlier.is_empty() {
        md.push_str("## Last runs of this scenario\n\n| started (UTC) | outcome | RTO p50 | RTO p95 | job RTO p50 | run |\n|---|---|---:|---:|---:|---|\n");
        let current = HistorySummary::of(report, std::path::Path::new(""));
        for run in earlier.into_iter().chain(std::iter::once(&current)) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | `{}`{} |",
                run.started_at.format("%Y-%m-%d %H:%M"),
                run.outcome.as_str(),
                with_unit(run.rto_p50_ms, "ms"),
                with_unit(run.rto_p95_ms, "ms"),
                with_unit(run.job_rto_p50_ms, "ms"),
                run.run_id,
                if run.run_id == report.run_id {
                    " (this run)"
                } else {
                    ""
                }
            );
        }
        md.push('\n');
    }
    md.push_str("The full report with charts and waveforms is `report.html` beside this file; every figure is in `report.json`.\n");
    md
}

/// Lines of a runbook's output kept in the Markdown report (all of it is in report.json).
const RUNBOOK_TAIL_LINES: usize = 30;

/// Each runbook step: how it ended and the end of its output.
fn runbooks_section(md: &mut String, report: &Report) {
    if report.iterations.iter().all(|it| it.runbooks.is_empty()) {
        return;
    }
    md.push_str("## Runbooks\n\n");
    for it in &report.iterations {
        for rb in &it.runbooks {
            let _ = writeln!(
                md,
                "Iteration {}, step {}: `{}`: {}\n",
                it.index,
                rb.step + 1,
                rb.script,
                rb.ending()
            );
            let output = format!("{}{}", rb.stdout, rb.stderr);
            let lines: Vec<&str> = output.lines().collect();
            let start = lines.len().saturating_sub(RUNBOOK_TAIL_LINES);
            md.push_str("```text\n");
            if start > 0 {
                let _ = writeln!(md, "[{start} earlier line(s) in report.json]");
            }
            for line in &lines[start..] {
                // A fence inside the output would end the block early.
                let _ = writeln!(md, "{}", line.replace("```", "'''"));
            }
            if lines.is_empty() {
                md.push_str("(no output)\n");
            }
            md.push_str("```\n\n");
        }
    }
}

fn witnesses(it: &Iteration) -> String {
    if it.faults.is_empty() {
        return "no fault".into();
    }
    it.faults
        .iter()
        .map(|f| {
            let witness = witness_text(f);
            let what = match (&f.unavailable, &f.error, &f.in_effect_at_ms, witness) {
                (Some(why), _, _, _) => format!("not made here ({why})"),
                (_, Some(err), _, _) => format!("injection failed ({err})"),
                (_, _, Some(t), w) => format!(
                    "{} after {} ms",
                    w.as_deref().unwrap_or("in effect"),
                    number(t - f.requested_at_ms)
                ),
                (_, _, None, Some(note)) => note,
                _ => "NO WITNESS".into(),
            };
            format!("{} {}: {what}", f.kind, f.target)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn audio_line(it: &Iteration) -> String {
    let Some(audio) = &it.audio else {
        return "not checked".into();
    };
    let view = VerdictView::of(&audio.verdict);
    let resumes = view.seams.iter().filter(|s| s.resume).count();
    let suspect = view.seams.iter().filter(|s| s.suspect).count();
    format!(
        "{} ({}; {resumes} resume seam(s), {suspect} suspect)",
        if audio.intact { "intact" } else { "NOT intact" },
        audio.mode
    )
}

/// What started the outage and when: `failed probe @ 9394 ms`.
fn onset_cell(f: &super::model::Figures) -> String {
    match (f.onset, f.onset_ms) {
        (Some(source), Some(at)) => {
            format!("{} @ {} ms", source.as_str().replace('_', " "), number(at))
        }
        _ => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::RunOutcome;
    use crate::report::testdata;

    #[test]
    fn the_markdown_has_the_verdicts_figures_and_chart_links() {
        let report = testdata::report();
        let md = render(&report, &[], true);
        assert!(md.starts_with("# ✅ oom-kill-primary: PASSED\n"));
        assert!(md.contains("| ✅ held | rto.p95 | 420 ms | 2000 ms |"));
        assert!(
            md.contains("| RTO (front door, from onset) (ms) | 380 | 420 | 420 | 420 | ± 20 |"),
            "{md}"
        );
        assert!(md.contains("![iteration 2: around the fault](timeline-2-fault.svg)"));
        assert!(md.contains("[whole run](timeline-3.svg)"));
        assert!(md.contains("oom-kill primary: oom event, exit 137, OOMKilled=true after 210 ms"));
        assert!(md.contains("intact (structural; 1 resume seam(s), 0 suspect)"));
        assert!(!md.contains("## Last runs"));
        let no_charts = render(&report, &[], false);
        assert!(!no_charts.contains(".svg"));
    }

    #[test]
    fn a_frontdoor_drill_says_which_checks_did_not_apply_and_why() {
        let mut report = testdata::report();
        assert!(!render(&report, &[], false).contains("did not apply"));
        report.not_applicable = vec![crate::report::model::NotApplicable {
            check: "job_rto_ms".into(),
            reason: "front-door drill: no job ran".into(),
        }];
        let md = render(&report, &[], false);
        assert!(md.contains("## Checks that did not apply"), "{md}");
        assert!(md.contains("front-door figures only"), "{md}");
        assert!(
            md.contains("| job_rto_ms | front-door drill: no job ran |"),
            "{md}"
        );
    }

    #[test]
    fn an_emulated_gpu_fault_says_so_on_its_witness_line() {
        let mut report = testdata::report();
        let fault = &mut report.iterations[0].faults[0];
        fault.kind = "gpu".into();
        fault.witness = Some("worker hit KERNEL_HUNG and reacted `watchdog`".into());
        fault.evidence = serde_json::json!({"emulated": true});
        let md = render(&report, &[], false);
        assert!(
            md.contains("gpu primary: worker hit KERNEL_HUNG and reacted `watchdog` (emulated on the CPU backend) after"),
            "{md}"
        );
        report.iterations[0].faults[0].evidence = serde_json::json!({"emulated": false});
        let md = render(&report, &[], false);
        assert!(!md.contains("emulated on the CPU backend"), "{md}");
    }

    #[test]
    fn a_heal_with_nothing_to_revert_is_shown_as_such() {
        let mut report = testdata::report();
        let fault = &mut report.iterations[0].faults[0];
        fault.kind = "heal".into();
        fault.in_effect_at_ms = None;
        fault.witness = None;
        fault.evidence = serde_json::json!({"note": "nothing to revert", "reverted": []});
        let md = render(&report, &[], false);
        assert!(
            md.contains("heal primary: nothing to revert (no witness)"),
            "{md}"
        );
    }

    #[test]
    fn a_failure_is_visible_in_the_title_and_the_table() {
        let mut report = testdata::report();
        report.outcome = RunOutcome::Failed;
        report.expectations[1].verdict = Verdict::Failed;
        report.expectations[1].evidence = "max 6100 ms | over 5000 ms".into();
        report.iterations[0]
            .reasons
            .push("job resumed after the deadline".into());
        let md = render(&report, &[], true);
        assert!(md.starts_with("# ❌ oom-kill-primary: FAILED"));
        assert!(md.contains("| ❌ FAILED | job_resume.max |"));
        assert!(md.contains("max 6100 ms \\| over 5000 ms"));
        assert!(md.contains("- iteration 1: job resumed after the deadline"));
    }
    #[test]
    fn a_runbook_shows_how_it_ended_and_its_output() {
        let mut report = testdata::report();
        assert!(!render(&report, &[], false).contains("## Runbooks"));
        report.iterations[0]
            .runbooks
            .push(crate::report::model::RunbookRecord {
                step: 1,
                script: "runbooks/restart-primary.sh".into(),
                started_at_ms: 6_000.0,
                ended_at_ms: 26_010.0,
                exit_code: None,
                timed_out: true,
                timeout_ms: Some(20_000.0),
                stdout: "waiting for the primary to come back (attempt 19)\n".into(),
                stderr: String::new(),
            });
        let md = render(&report, &[], false);
        assert!(
            md.contains("step 2: `runbooks/restart-primary.sh`: timed out after 20s and was killed (no exit code)"),
            "{md}"
        );
        assert!(md.contains("waiting for the primary to come back (attempt 19)"));
    }
}
