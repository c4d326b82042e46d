//! Failovers an iteration saw, counted from what it recorded: lease takeovers
//! (new epochs in the job's status) and HAProxy marking the primary down. A
//! drill with no fault must see none of either; `expect.takeovers` and
//! `expect.markdowns` judge that (false failovers).

use crate::report::model::{ExpectationResult, Iteration, IterationOutcome, Verdict};

/// Lease takeovers the job's status polls showed: each distinct epoch after the first.
pub fn takeovers(it: &Iteration) -> u64 {
    let mut epochs: Vec<u64> = it
        .job
        .iter()
        .flat_map(|j| j.samples.iter())
        .map(|s| s.epoch)
        .filter(|e| *e > 1)
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs.len() as u64
}

/// Times HAProxy's view of the primary went from not down to `DOWN`.
pub fn primary_markdowns(it: &Iteration) -> u64 {
    let mut was_down = false;
    let mut count = 0;
    for s in it.frontdoor.iter().filter(|s| s.server == "primary") {
        let down = s.status.reads_down();
        if down && !was_down {
            count += 1;
        }
        was_down = down;
    }
    count
}

/// Judges "at most `limit` of `what` in any iteration", counting with `count`
/// over the iterations whose faults took effect (all of them in a drill with none).
pub fn judge_at_most(
    name: &str,
    what: &str,
    limit: u64,
    count: fn(&Iteration) -> u64,
    iterations: &[Iteration],
) -> ExpectationResult {
    let judged: Vec<&Iteration> = iterations
        .iter()
        .filter(|it| {
            matches!(
                it.outcome,
                IterationOutcome::Passed | IterationOutcome::Failed
            )
        })
        .collect();
    let worst = judged
        .iter()
        .map(|it| (it.index, count(it)))
        .max_by_key(|(_, n)| *n);
    let (verdict, measured, evidence) = match worst {
        None => (
            Verdict::Inconclusive,
            None,
            format!("no iteration could be judged, so no {what} were counted"),
        ),
        Some((_, n)) if n <= limit => (
            Verdict::Held,
            Some(n as f64),
            format!(
                "at most {n} {what} in {} iteration(s), within {limit}",
                judged.len()
            ),
        ),
        Some((index, n)) => (
            Verdict::Failed,
            Some(n as f64),
            format!("{n} {what} in iteration {index}, over the limit of {limit}"),
        ),
    };
    ExpectationResult {
        name: name.to_string(),
        figure: name.to_string(),
        statistic: "max".to_string(),
        threshold: limit as f64,
        measured,
        unit: "count".to_string(),
        verdict,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Figures, FrontdoorSample, JobRecord, JobSample, ProbeSeries};

    fn sample(at_ms: f64, epoch: u64, owner: &str) -> JobSample {
        JobSample {
            at_ms,
            frames_done: at_ms as u64,
            state: crate::report::state::JobSeen::Running,
            owner: Some(owner.into()),
            epoch,
            frames_lost: 0,
            frames_synthesized: 0,
        }
    }

    fn fd(at_ms: f64, status: &str) -> FrontdoorSample {
        FrontdoorSample {
            at_ms,
            server: "primary".into(),
            status: status.into(),
            backup: false,
        }
    }

    fn iteration(epochs: &[u64], primary: &[&str]) -> Iteration {
        let mut it = Iteration {
            index: 1,
            run_id: "tk-test".into(),
            started_at: chrono::Utc::now(),
            duration_ms: 1.0,
            outcome: IterationOutcome::Passed,
            reasons: vec![],
            events: vec![],
            figures: Figures::default(),
            faults: vec![],
            runbooks: vec![],
            probes: ProbeSeries::default(),
            job: None,
            frontdoor: vec![],
            frontdoor_accounts: vec![],
            audio: None,
            phases_ms: Default::default(),
        };
        it.job = Some(JobRecord {
            id: "j".into(),
            script: "s.yaml".into(),
            seed: 1,
            frames_total: 10,
            chunk_frames: 8,
            pace_rtf: None,
            final_state: crate::report::state::JobSeen::Done,
            error: None,
            samples: epochs
                .iter()
                .enumerate()
                .map(|(i, e)| sample(i as f64, *e, "primary"))
                .collect(),
        });
        it.frontdoor = primary
            .iter()
            .enumerate()
            .map(|(i, s)| fd(i as f64, s))
            .collect();
        it
    }

    #[test]
    fn a_steady_iteration_has_no_takeover_and_no_markdown() {
        let it = iteration(&[1, 1, 1], &["UP", "UP", "UP"]);
        assert_eq!((takeovers(&it), primary_markdowns(&it)), (0, 0));
        let r = judge_at_most("takeovers", "lease takeovers", 0, takeovers, &[it]);
        assert_eq!(r.verdict, Verdict::Held, "{r:?}");
    }

    #[test]
    fn a_false_failover_is_counted_and_fails_a_zero_limit() {
        let it = iteration(
            &[1, 2, 2, 3],
            &["UP", "UP 1/2", "DOWN", "DOWN 1/2", "UP", "DOWN"],
        );
        assert_eq!(takeovers(&it), 2);
        assert_eq!(primary_markdowns(&it), 2);
        let its = [it];
        let r = judge_at_most("markdowns", "mark-downs", 0, primary_markdowns, &its);
        assert_eq!((r.verdict, r.measured), (Verdict::Failed, Some(2.0)));
        let r = judge_at_most("takeovers", "lease takeovers", 2, takeovers, &its);
        assert_eq!(r.verdict, Verdict::Held);
    }
}
