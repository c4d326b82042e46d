//! Verdicts, pure: from the iterations' figures to the summary, each
//! expectation's verdict and the run's outcome. Tested on recorded data.

use std::collections::BTreeMap;

use crate::report::figure::Figure;
use crate::report::model::{
    Distribution, ExpectationResult, Iteration, IterationOutcome, NotApplicable, RunOutcome,
    Summary, Verdict,
};
use crate::report::state::JobSeen;
use crate::scenario::model::{
    AudioExpectation, Bound, Expectations, JobEndState, JobExpectation, Scenario, Statistic,
};

pub use crate::report::figures::distribution;
pub use crate::timeline::nearest_rank;

/// Iterations whose figures count: those where the faults were proven to take effect.
fn judged(iterations: &[Iteration]) -> impl Iterator<Item = &Iteration> {
    iterations.iter().filter(|it| {
        matches!(
            it.outcome,
            IterationOutcome::Passed | IterationOutcome::Failed
        )
    })
}

/// Fault steps that could not be made on this machine and were skipped
/// (`kind on target: why`), once each across the iterations.
pub fn skipped_faults(iterations: &[Iteration]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for it in iterations {
        for f in &it.faults {
            if let Some(why) = &f.unavailable {
                let line = format!("{} on {}: {why}", f.kind, f.target);
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    out
}

/// Why no iteration could be judged, in words: a skipped fault says what it
/// was and why, rather than only that no witness came.
fn unjudged_reason(iterations: &[Iteration]) -> String {
    let skipped = skipped_faults(iterations);
    if skipped.is_empty() {
        "every fault lacked a witness".to_string()
    } else {
        format!(
            "the fault step was skipped, it cannot be made on this machine ({})",
            skipped.join("; ")
        )
    }
}

fn figure_values(iterations: &[Iteration], figure: Figure) -> (Vec<f64>, u32) {
    let mut values = Vec::new();
    let mut missing = 0;
    for it in judged(iterations) {
        match figure.value(&it.figures) {
            Some(v) => values.push(v),
            None => missing += 1,
        }
    }
    (values, missing)
}

/// A figure's error bound across iterations: the largest of the judged
/// iterations' measured bounds (`None` when no iteration measured one).
fn figure_bound(iterations: &[Iteration], figure: Figure) -> Option<f64> {
    judged(iterations)
        .filter_map(|it| figure.error_bound(&it.figures))
        .max_by(f64::total_cmp)
}

/// The checks a scenario leaves out, each with why: a front-door drill (no
/// `workload`) has no job, so nothing that is read from a job applies.
pub fn not_applicable(scenario: &Scenario) -> Vec<NotApplicable> {
    if scenario.workload.is_some() {
        return Vec::new();
    }
    let no_job = "front-door drill: the scenario has no `workload`, so no job ran";
    [
        (
            Figure::JobRto.as_str(),
            "there is no job whose progress could resume",
        ),
        (
            Figure::WorkLost.as_str(),
            "there is no job whose work could be lost",
        ),
        ("audio", "there is no job audio to check"),
        ("job", "there is no job whose end state could be judged"),
        (
            "takeovers",
            "lease takeovers are read from the job's status",
        ),
    ]
    .into_iter()
    .map(|(check, why)| NotApplicable {
        check: check.to_string(),
        reason: format!("{no_job}: {why}"),
    })
    .collect()
}

/// The summary across iterations, without the figures that did not apply
/// (which would otherwise read as "missing" in every iteration).
pub fn summarize_applicable(iterations: &[Iteration], not_applicable: &[NotApplicable]) -> Summary {
    let mut summary = summarize(iterations);
    summary
        .figures
        .retain(|name, _| !not_applicable.iter().any(|n| n.check == *name));
    summary
}

/// The summary across iterations. Each time figure's error bound is the
/// largest of its iterations' measured bounds.
pub fn summarize(iterations: &[Iteration]) -> Summary {
    let mut outcomes = BTreeMap::new();
    for it in iterations {
        *outcomes.entry(it.outcome.to_string()).or_insert(0) += 1;
    }
    let figures = Figure::SUMMARY
        .iter()
        .copied()
        .map(|figure| {
            let (values, missing) = figure_values(iterations, figure);
            let bound = figure_bound(iterations, figure);
            (
                figure.to_string(),
                distribution(figure.unit(), &values, missing, bound),
            )
        })
        .collect();
    Summary {
        iterations: iterations.len() as u32,
        outcomes,
        figures,
    }
}

fn stat_of(d: &Distribution, s: Statistic) -> Option<f64> {
    match s {
        Statistic::P50 => d.p50,
        Statistic::P95 => d.p95,
        Statistic::P99 => d.p99,
        Statistic::Max => d.max,
    }
}

fn judge_bound(
    key: &str,
    figure: Figure,
    bound: &Bound,
    summary: &Summary,
    what: &str,
    out: &mut Vec<ExpectationResult>,
) {
    let d = summary.figure(figure).cloned().unwrap_or_default();
    for (stat, limit) in bound.limits() {
        let threshold = limit.as_millis_f64();
        let measured = stat_of(&d, stat);
        let bound_text = d
            .error_bound
            .map(|b| format!(" (±{b:.0} ms)"))
            .unwrap_or_default();
        let (verdict, evidence) = if d.missing > 0 {
            (
                Verdict::Failed,
                format!(
                    "{} of {} judged iterations never measured a {what} (no recovery within the deadline); limit {} of {threshold:.0} ms",
                    d.missing,
                    d.count + d.missing,
                    stat.name()
                ),
            )
        } else {
            match measured {
                None => (
                    Verdict::Inconclusive,
                    format!("no iteration produced a {what}"),
                ),
                Some(m) if m <= threshold => (
                    Verdict::Held,
                    format!(
                        "{} {what} over {} iteration(s) is {m:.0} ms{bound_text}, within {threshold:.0} ms",
                        stat.name(),
                        d.count
                    ),
                ),
                Some(m) => (
                    Verdict::Failed,
                    format!(
                        "{} {what} over {} iteration(s) is {m:.0} ms{bound_text}, over the limit of {threshold:.0} ms",
                        stat.name(),
                        d.count
                    ),
                ),
            }
        };
        out.push(ExpectationResult {
            name: format!("{key}.{}", stat.name()),
            figure: figure.to_string(),
            statistic: stat.name().to_string(),
            threshold,
            measured,
            unit: figure.unit().to_string(),
            verdict,
            evidence,
        });
    }
}

fn judge_max_count(
    name: &str,
    figure: Figure,
    threshold: f64,
    summary: &Summary,
    what: &str,
    out: &mut Vec<ExpectationResult>,
) {
    let unit = figure.unit();
    let d = summary.figure(figure).cloned().unwrap_or_default();
    let (verdict, evidence) = if d.missing > 0 {
        (
            Verdict::Failed,
            format!(
                "{} of {} judged iterations could not count the {what}",
                d.missing,
                d.count + d.missing
            ),
        )
    } else {
        match d.max {
            None => (
                Verdict::Inconclusive,
                format!("no iteration could be judged, so no {what} was counted"),
            ),
            Some(m) if m <= threshold => (
                Verdict::Held,
                format!(
                    "at most {m:.0} {unit} of {what} in {} iteration(s), within {threshold:.0}",
                    d.count
                ),
            ),
            Some(m) => (
                Verdict::Failed,
                format!(
                    "{m:.0} {unit} of {what} in the worst of {} iteration(s), over the limit of {threshold:.0}",
                    d.count
                ),
            ),
        }
    };
    out.push(ExpectationResult {
        name: name.to_string(),
        figure: figure.to_string(),
        statistic: "max".to_string(),
        threshold,
        measured: d.max,
        unit: unit.to_string(),
        verdict,
        evidence,
    });
}

fn judge_audio(mode: AudioExpectation, iterations: &[Iteration], out: &mut Vec<ExpectationResult>) {
    let mode_name = match mode {
        AudioExpectation::Exact => "exact",
        AudioExpectation::Structural => "structural",
    };
    let mut checked = 0;
    let mut broken = Vec::new();
    let mut unchecked = Vec::new();
    for it in judged(iterations) {
        match &it.audio {
            Some(a) if a.intact => checked += 1,
            Some(_) => {
                checked += 1;
                broken.push(it.index);
            }
            None => unchecked.push(it.index),
        }
    }
    let (verdict, measured, evidence) = if !broken.is_empty() {
        (
            Verdict::Failed,
            Some(0.0),
            format!(
                "the {mode_name} audio check failed in iteration(s) {broken:?}; see each iteration's audio verdict"
            ),
        )
    } else if !unchecked.is_empty() {
        (
            Verdict::Failed,
            None,
            format!("no audio could be checked in iteration(s) {unchecked:?} (the job did not finish or its audio could not be fetched)"),
        )
    } else if checked == 0 {
        (
            Verdict::Inconclusive,
            None,
            "no iteration could be judged, so no audio was checked".to_string(),
        )
    } else {
        (
            Verdict::Held,
            Some(1.0),
            format!("the audio passed the {mode_name} check in all {checked} iteration(s)"),
        )
    };
    out.push(ExpectationResult {
        name: "audio".to_string(),
        figure: "audio_intact".to_string(),
        statistic: "all".to_string(),
        threshold: 1.0,
        measured,
        unit: "bool".to_string(),
        verdict,
        evidence,
    });
}

/// Why one iteration's job did not end as `expect.job` says; `None` when it did.
fn job_mismatch(expect: &JobExpectation, it: &Iteration) -> Option<String> {
    let Some(job) = &it.job else {
        return Some("no job was submitted".to_string());
    };
    let want = match expect.0.state {
        JobEndState::Done => JobSeen::Done,
        JobEndState::Failed => JobSeen::Failed,
    };
    if job.final_state != want {
        let error = job
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Some(format!(
            "the job ended {}{error}, expected {want}",
            job.final_state
        ));
    }
    if expect.0.state == JobEndState::Failed {
        let error = job.error.as_deref().unwrap_or("");
        if let Some(words) = &expect.0.error_contains {
            if !error.to_lowercase().contains(&words.to_lowercase()) {
                return Some(format!(
                    "the job failed with \"{error}\", which does not mention \"{words}\""
                ));
            }
        }
        let frames_done = job
            .samples
            .iter()
            .rev()
            .find(|s| s.state.answered())
            .map_or(0, |s| s.frames_done);
        if frames_done >= job.frames_total {
            return Some(format!(
                "the job is marked failed but claims all {} frames: its audio would pass for complete",
                job.frames_total
            ));
        }
    }
    None
}

fn judge_job(expect: &JobExpectation, iterations: &[Iteration], out: &mut Vec<ExpectationResult>) {
    let mut judged_count = 0;
    let mut wrong = Vec::new();
    let mut errors = Vec::new();
    for it in judged(iterations) {
        judged_count += 1;
        match job_mismatch(expect, it) {
            Some(why) => wrong.push(format!("iteration {}: {why}", it.index)),
            None => {
                if let Some(e) = it.job.as_ref().and_then(|j| j.error.clone()) {
                    errors.push(e);
                }
            }
        }
    }
    let state = match expect.0.state {
        JobEndState::Done => "done",
        JobEndState::Failed => "failed",
    };
    let (verdict, measured, evidence) = if !wrong.is_empty() {
        (Verdict::Failed, Some(0.0), wrong.join("; "))
    } else if judged_count == 0 {
        (
            Verdict::Inconclusive,
            None,
            "no iteration could be judged, so no job end was seen".to_string(),
        )
    } else if expect.0.state == JobEndState::Failed {
        errors.dedup();
        (
            Verdict::Held,
            Some(1.0),
            format!(
                "the job failed safe in all {judged_count} iteration(s), short of its last frame: {}",
                errors.join("; ")
            ),
        )
    } else {
        (
            Verdict::Held,
            Some(1.0),
            format!("the job ended {state} in all {judged_count} iteration(s)"),
        )
    };
    out.push(ExpectationResult {
        name: "job".to_string(),
        figure: format!("job_{state}"),
        statistic: "all".to_string(),
        threshold: 1.0,
        measured,
        unit: "bool".to_string(),
        verdict,
        evidence,
    });
}

/// Each expectation of a scenario, judged against the iterations and their summary.
pub fn judge(
    expect: &Expectations,
    chunk_frames: u32,
    iterations: &[Iteration],
    summary: &Summary,
) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    if let Some(b) = &expect.rto {
        judge_bound("rto", Figure::Rto, b, summary, "front-door RTO", &mut out);
    }
    if let Some(b) = &expect.outage {
        judge_bound("outage", Figure::Outage, b, summary, "outage", &mut out);
    }
    if let Some(b) = &expect.job_resume {
        judge_bound(
            "job_resume",
            Figure::JobRto,
            b,
            summary,
            "job RTO",
            &mut out,
        );
    }
    if let Some(w) = &expect.work_lost {
        let limit = w.frames(chunk_frames) as f64;
        judge_max_count(
            "work_lost",
            Figure::WorkLost,
            limit,
            summary,
            "work lost",
            &mut out,
        );
    }
    if let Some(e) = expect.errors {
        judge_max_count(
            "errors",
            Figure::Errors,
            e as f64,
            summary,
            "failed probes",
            &mut out,
        );
    }
    if let Some(mode) = expect.audio {
        judge_audio(mode, iterations, &mut out);
    }
    if let Some(job) = &expect.job {
        judge_job(job, iterations, &mut out);
    }
    if let Some(n) = expect.takeovers {
        use super::failovers::{judge_at_most, takeovers};
        out.push(judge_at_most(
            "takeovers",
            "lease takeovers",
            n,
            takeovers,
            iterations,
        ));
    }
    if let Some(n) = expect.markdowns {
        use super::failovers::{judge_at_most, primary_markdowns};
        let what = "mark-downs of the primary";
        out.push(judge_at_most(
            "markdowns",
            what,
            n,
            primary_markdowns,
            iterations,
        ));
    }
    let why = unjudged_reason(iterations);
    for e in out
        .iter_mut()
        .filter(|e| e.verdict == Verdict::Inconclusive)
    {
        e.evidence = format!("{}: {why}", e.evidence);
    }
    out
}

/// The run's outcome: any failure (of an iteration or an expectation) fails it;
/// otherwise an iteration the harness could not carry out makes it an error;
/// otherwise an unproven fault makes it inconclusive; otherwise it passed.
pub fn outcome(iterations: &[Iteration], expectations: &[ExpectationResult]) -> RunOutcome {
    let any = |o: IterationOutcome| iterations.iter().any(|it| it.outcome == o);
    if any(IterationOutcome::Failed) || expectations.iter().any(|e| e.verdict == Verdict::Failed) {
        RunOutcome::Failed
    } else if iterations.is_empty() || any(IterationOutcome::Error) {
        RunOutcome::Error
    } else if any(IterationOutcome::Inconclusive)
        || expectations
            .iter()
            .any(|e| e.verdict == Verdict::Inconclusive)
    {
        RunOutcome::Inconclusive
    } else {
        RunOutcome::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{AudioRecord, Figures, ProbeSeries};
    use crate::scenario::duration::HumanDuration;
    use crate::scenario::model::{BoundSpec, WorkAmount, WorkUnit};

    fn iteration(
        index: u32,
        outcome: IterationOutcome,
        rto: Option<f64>,
        lost: u64,
        errors: u64,
    ) -> Iteration {
        Iteration {
            index,
            run_id: format!("tk-test-{index}"),
            started_at: chrono::Utc::now(),
            duration_ms: 20_000.0,
            outcome,
            reasons: vec![],
            events: vec![],
            figures: Figures {
                rto_ms: rto,
                job_rto_ms: rto.map(|r| r + 900.0),
                work_lost_frames: Some(lost),
                errors,
                // A measured bound that grows with the RTO: the summary must take the largest.
                error_bounds_ms: rto
                    .map(|r| [(Figure::Rto.to_string(), r / 20.0)].into_iter().collect())
                    .unwrap_or_default(),
                ..Figures::default()
            },
            faults: vec![],
            runbooks: vec![],
            probes: ProbeSeries::default(),
            job: None,
            frontdoor: vec![],
            frontdoor_accounts: vec![],
            audio: Some(AudioRecord {
                mode: "exact".into(),
                intact: true,
                reference: None,
                verdict: serde_json::Value::Null,
                artifacts: vec![],
            }),
            phases_ms: BTreeMap::new(),
        }
    }

    fn p95(ms: u64) -> Bound {
        Bound(BoundSpec {
            p95: Some(HumanDuration::from_millis(ms)),
            ..BoundSpec::default()
        })
    }

    #[test]
    fn a_skipped_fault_is_named_in_the_inconclusive_verdicts() {
        let mut it = iteration(1, IterationOutcome::Inconclusive, None, 0, 0);
        it.faults.push(crate::report::model::FaultRecord {
            step: 0,
            kind: "latency".into(),
            target: "primary".into(),
            requested_at_ms: 1.0,
            in_effect_at_ms: None,
            witness: None,
            evidence: serde_json::Value::Null,
            unavailable: Some("this kernel has no netem queueing discipline".into()),
            error: None,
        });
        let its = vec![it];
        let summary = summarize(&its);
        let expect = Expectations {
            rto: Some(p95(1000)),
            errors: Some(10),
            audio: Some(AudioExpectation::Exact),
            ..Expectations::default()
        };
        let results = judge(&expect, 8, &its, &summary);
        assert_eq!(results.len(), 3);
        for r in &results {
            assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
            assert!(
                r.evidence.contains("skipped")
                    && r.evidence
                        .contains("latency on primary: this kernel has no netem"),
                "{}",
                r.evidence
            );
        }
        assert_eq!(skipped_faults(&its).len(), 1);
        assert_eq!(outcome(&its, &results), RunOutcome::Inconclusive);
    }

    #[test]
    fn a_frontdoor_drill_leaves_the_job_checks_out_and_says_why() {
        let text = "name: t\nsteps:\n  - at: 1s\n    fault: {kind: kill, target: primary}\n";
        let scenario = crate::scenario::parse_str(text, "t.yaml").unwrap();
        let na = not_applicable(&scenario);
        let checks: Vec<&str> = na.iter().map(|n| n.check.as_str()).collect();
        assert_eq!(
            checks,
            [
                "job_rto_ms",
                "work_lost_frames",
                "audio",
                "job",
                "takeovers"
            ]
        );
        assert!(
            na.iter().all(|n| n.reason.contains("no `workload`")),
            "{na:?}"
        );
        let mut it = iteration(1, IterationOutcome::Passed, Some(300.0), 0, 2);
        it.figures.job_rto_ms = None;
        it.figures.work_lost_frames = None;
        it.audio = None;
        let its = vec![it];
        let summary = summarize_applicable(&its, &na);
        assert!(summary.figure(Figure::Rto).is_some());
        assert!(summary.figure(Figure::JobRto).is_none());
        assert!(summary.figure(Figure::WorkLost).is_none());
        // Passing on the front-door figures only.
        let expect = Expectations {
            rto: Some(p95(1000)),
            errors: Some(10),
            ..Expectations::default()
        };
        let r = judge(&expect, 0, &its, &summary);
        assert!(r.iter().all(|e| e.verdict == Verdict::Held), "{r:?}");
        assert_eq!(outcome(&its, &r), RunOutcome::Passed);
        // A scenario with a job has every check.
        let with_job = "name: t\nworkload:\n  script: s.yaml\n";
        let scenario = crate::scenario::parse_str(with_job, "t.yaml").unwrap();
        assert!(not_applicable(&scenario).is_empty());
    }

    #[test]
    fn nearest_rank_picks_real_samples() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 50.0), Some(10.0));
        assert_eq!(nearest_rank(&v, 95.0), Some(19.0));
        assert_eq!(nearest_rank(&v, 99.0), Some(20.0));
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&[7.0], 0.0), Some(7.0));
    }

    #[test]
    fn rto_within_limit_holds_and_beyond_fails() {
        let its: Vec<_> = [400.0, 620.0, 980.0]
            .iter()
            .enumerate()
            .map(|(i, r)| iteration(i as u32 + 1, IterationOutcome::Passed, Some(*r), 8, 3))
            .collect();
        let summary = summarize(&its);
        assert_eq!(summary.figure(Figure::Rto).unwrap().p95, Some(980.0));
        // The bound is the largest measured one (980 / 20), not the probe interval.
        assert_eq!(summary.figure(Figure::Rto).unwrap().error_bound, Some(49.0));
        let expect = Expectations {
            rto: Some(p95(1000)),
            ..Expectations::default()
        };
        let r = judge(&expect, 8, &its, &summary);
        assert_eq!(r[0].name, "rto.p95");
        assert_eq!(r[0].verdict, Verdict::Held, "{}", r[0].evidence);
        let strict = Expectations {
            rto: Some(p95(900)),
            ..Expectations::default()
        };
        let r = judge(&strict, 8, &its, &summary);
        assert_eq!(r[0].verdict, Verdict::Failed);
        assert!(
            r[0].evidence.contains("980 ms (±49 ms)"),
            "{}",
            r[0].evidence
        );
        assert_eq!(outcome(&its, &r), RunOutcome::Failed);
    }

    #[test]
    fn an_iteration_that_never_recovered_fails_the_rto_expectation() {
        let its = vec![
            iteration(1, IterationOutcome::Passed, Some(300.0), 0, 1),
            iteration(2, IterationOutcome::Failed, None, 0, 900),
        ];
        let summary = summarize(&its);
        let expect = Expectations {
            rto: Some(p95(1000)),
            ..Expectations::default()
        };
        let r = judge(&expect, 8, &its, &summary);
        assert_eq!(r[0].verdict, Verdict::Failed);
        assert!(
            r[0].evidence.contains("never measured"),
            "{}",
            r[0].evidence
        );
    }

    #[test]
    fn unwitnessed_faults_are_inconclusive_never_passed() {
        let its = vec![iteration(1, IterationOutcome::Inconclusive, None, 0, 0)];
        let summary = summarize(&its);
        let expect = Expectations {
            rto: Some(p95(1000)),
            errors: Some(10),
            ..Expectations::default()
        };
        let r = judge(&expect, 8, &its, &summary);
        assert!(
            r.iter().all(|e| e.verdict == Verdict::Inconclusive),
            "{r:?}"
        );
        assert_eq!(outcome(&its, &r), RunOutcome::Inconclusive);
        assert_eq!(outcome(&its, &r).exit_code(), crate::exit::INCONCLUSIVE);
    }

    #[test]
    fn work_lost_is_judged_in_frames_and_errors_by_the_worst_iteration() {
        let its = vec![
            iteration(1, IterationOutcome::Passed, Some(300.0), 8, 4),
            iteration(2, IterationOutcome::Passed, Some(310.0), 9, 12),
        ];
        let summary = summarize(&its);
        let expect = Expectations {
            work_lost: Some(WorkAmount {
                count: 1,
                unit: WorkUnit::Chunks,
            }),
            errors: Some(10),
            audio: Some(AudioExpectation::Exact),
            ..Expectations::default()
        };
        let r = judge(&expect, 8, &its, &summary);
        let by = |n: &str| r.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by("work_lost").threshold, 8.0);
        assert_eq!(by("work_lost").verdict, Verdict::Failed);
        assert_eq!(by("errors").measured, Some(12.0));
        assert_eq!(by("errors").verdict, Verdict::Failed);
        assert_eq!(by("audio").verdict, Verdict::Held);
        assert_eq!(outcome(&its, &r), RunOutcome::Failed);
    }

    #[test]
    fn broken_audio_fails_and_all_good_passes() {
        let mut its = vec![iteration(1, IterationOutcome::Passed, Some(300.0), 8, 4)];
        let expect = Expectations {
            audio: Some(AudioExpectation::Structural),
            ..Expectations::default()
        };
        let summary = summarize(&its);
        let r = judge(&expect, 8, &its, &summary);
        assert_eq!(outcome(&its, &r), RunOutcome::Passed);
        its[0].audio.as_mut().unwrap().intact = false;
        let r = judge(&expect, 8, &its, &summary);
        assert_eq!(r[0].verdict, Verdict::Failed);
        assert_eq!(outcome(&its, &r), RunOutcome::Failed);
    }
    fn with_job(state: JobSeen, error: Option<&str>, frames_done: u64) -> Iteration {
        let mut it = iteration(1, IterationOutcome::Passed, Some(300.0), 0, 0);
        it.job = Some(crate::report::model::JobRecord {
            id: "j".into(),
            script: "s.yaml".into(),
            seed: 1,
            frames_total: 960,
            chunk_frames: 8,
            pace_rtf: None,
            final_state: state,
            error: error.map(str::to_string),
            samples: vec![
                crate::report::model::JobSample {
                    at_ms: 1.0,
                    frames_done,
                    state,
                    owner: None,
                    epoch: 2,
                    frames_lost: 0,
                    frames_synthesized: 0,
                },
                crate::report::model::JobSample {
                    at_ms: 2.0,
                    frames_done: 0,
                    state: JobSeen::Unreachable,
                    owner: None,
                    epoch: 0,
                    frames_lost: 0,
                    frames_synthesized: 0,
                },
            ],
        });
        it
    }

    fn job_expect(yaml: &str) -> Expectations {
        let text = format!("name: t\nworkload:\n  script: s.yaml\nexpect:\n  job: {yaml}\n");
        crate::scenario::parse_str(&text, "t.yaml").unwrap().expect
    }

    #[test]
    fn a_job_expected_to_fail_safe_is_judged_by_state_error_and_frames() {
        let expect = job_expect("{state: failed, error_contains: Checkpoint}");
        let judge_one = |it: Iteration| {
            let its = vec![it];
            let summary = summarize(&its);
            judge(&expect, 8, &its, &summary).remove(0)
        };
        let safe = judge_one(with_job(
            JobSeen::Failed,
            Some(
                "cannot resume from chunk 3: checkpoint /data/jobs/j/00000003.e1.ckpt is corrupted",
            ),
            32,
        ));
        assert_eq!(safe.name, "job");
        assert_eq!(safe.verdict, Verdict::Held, "{}", safe.evidence);
        assert!(safe.evidence.contains("corrupted"), "{}", safe.evidence);

        let finished = judge_one(with_job(JobSeen::Done, None, 960));
        assert_eq!(finished.verdict, Verdict::Failed);
        assert!(
            finished.evidence.contains("ended done"),
            "{}",
            finished.evidence
        );

        let other_error = judge_one(with_job(JobSeen::Failed, Some("synthesis failed"), 32));
        assert_eq!(other_error.verdict, Verdict::Failed);
        assert!(
            other_error.evidence.contains("does not mention"),
            "{}",
            other_error.evidence
        );

        let claims_all = judge_one(with_job(JobSeen::Failed, Some("checkpoint bad"), 960));
        assert_eq!(claims_all.verdict, Verdict::Failed);
        assert!(
            claims_all.evidence.contains("complete"),
            "{}",
            claims_all.evidence
        );
    }

    #[test]
    fn a_job_expected_done_fails_when_it_failed() {
        let expect = job_expect("done");
        let its = vec![with_job(
            JobSeen::Failed,
            Some("No space left on device"),
            40,
        )];
        let summary = summarize(&its);
        let r = judge(&expect, 8, &its, &summary);
        assert_eq!(r[0].verdict, Verdict::Failed);
        assert!(r[0].evidence.contains("No space left"), "{}", r[0].evidence);
        let its = vec![with_job(JobSeen::Done, None, 960)];
        let r = judge(&expect, 8, &its, &summarize(&its));
        assert_eq!(r[0].verdict, Verdict::Held, "{}", r[0].evidence);
    }
}
