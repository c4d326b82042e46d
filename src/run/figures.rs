//! From what an iteration recorded (probes, status polls, HAProxy's view, fault
//! effects) to its figures and timeline, using the measure part's pure
//! functions. Pure itself: tested on recorded data.

use contract::JobStatus;

use crate::probe::ProbeSample;
use crate::report::figure::Figure;
use crate::report::model::{
    Event, EventKind, FaultRecord, Figures, Iteration, JobRecord, JobSample, LatencySplit,
    LatencySummary, ProbeSeries,
};
use crate::report::state::JobSeen;
use crate::timeline;
use crate::workload::StatusPoll;

/// The measure part's job samples from the follower's polls (failed polls left out).
pub fn timeline_job_samples(polls: &[StatusPoll]) -> Vec<timeline::JobSample> {
    polls
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()
                .map(|s| timeline::JobSample::from_status(p.at_ms, s))
        })
        .collect()
}

/// The report's job samples: every poll, failed ones as `unreachable`.
pub fn report_job_samples(polls: &[StatusPoll]) -> Vec<JobSample> {
    let mut out: Vec<JobSample> = Vec::with_capacity(polls.len());
    for p in polls {
        let sample = match &p.status {
            Some(s) => sample_of(p.at_ms, s),
            None => {
                let prev = out.last();
                JobSample {
                    at_ms: p.at_ms,
                    frames_done: prev.map_or(0, |x| x.frames_done),
                    state: JobSeen::Unreachable,
                    owner: None,
                    epoch: prev.map_or(0, |x| x.epoch),
                    frames_lost: prev.map_or(0, |x| x.frames_lost),
                    frames_synthesized: 0,
                }
            }
        };
        out.push(sample);
    }
    out
}

fn sample_of(at_ms: f64, s: &JobStatus) -> JobSample {
    JobSample {
        at_ms,
        frames_done: s.frames_done,
        state: JobSeen::from(s.state),
        owner: s.owner.clone(),
        epoch: s.epoch,
        frames_lost: s.frames_lost,
        frames_synthesized: s.frames_synthesized,
    }
}

/// Takeovers the status polls show: each epoch after the first, its owner, and
/// the chunks committed when it was first seen (for the audio's fencing check).
pub fn takeovers(polls: &[StatusPoll]) -> Vec<crate::verify::Takeover> {
    let mut out: Vec<crate::verify::Takeover> = Vec::new();
    for s in polls.iter().filter_map(|p| p.status.as_ref()) {
        if s.epoch <= 1 || out.iter().any(|t| t.epoch == s.epoch) {
            continue;
        }
        out.push(crate::verify::Takeover {
            epoch: s.epoch,
            owner: s.owner.clone().unwrap_or_else(|| "unknown".into()),
            first_chunk: s.chunks_committed,
        });
    }
    out
}

/// The sum of a Prometheus counter's samples in a `/metrics` text, if present.
pub fn metric_total(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            total = Some(total.unwrap_or(0.0) + v);
        }
    }
    total
}

/// Events the status polls show: owner changes, progress resuming, done or failed.
pub fn job_events(polls: &[StatusPoll], fault_at_ms: Option<f64>) -> Vec<Event> {
    let mut events = Vec::new();
    let mut last_owner: Option<(Option<String>, u64)> = None;
    for p in polls {
        let Some(s) = &p.status else { continue };
        let key = (s.owner.clone(), s.epoch);
        if let Some(prev) = &last_owner {
            if s.owner.is_some() && (prev.0 != key.0 || prev.1 != key.1) {
                events.push(Event {
                    at_ms: p.at_ms,
                    kind: EventKind::JobOwnerChanged,
                    detail: format!(
                        "owner {} at epoch {}, {} of {} frames committed",
                        s.owner.as_deref().unwrap_or("-"),
                        s.epoch,
                        s.frames_done,
                        s.frames_total
                    ),
                });
            }
        }
        if s.owner.is_some() {
            last_owner = Some(key);
        }
    }
    if let Some(fault) = fault_at_ms {
        if let Some(r) = timeline::job_recovery(&timeline_job_samples(polls), fault) {
            events.push(Event {
                at_ms: r.resumed_ms,
                kind: EventKind::JobProgressResumed,
                detail: format!(
                    "committed frames passed {} again; job RTO {:.0} ms",
                    r.frames_at_fault, r.job_rto_ms
                ),
            });
        }
    }
    if let Some((p, s)) = polls.iter().find_map(|p| {
        p.status.as_ref().map(|s| (p, s)).filter(|(_, s)| {
            matches!(
                s.state,
                contract::JobState::Done | contract::JobState::Failed
            )
        })
    }) {
        let done = s.state == contract::JobState::Done;
        events.push(Event {
            at_ms: p.at_ms,
            kind: if done {
                EventKind::JobDone
            } else {
                EventKind::JobFailed
            },
            detail: if done {
                format!(
                    "{} frames in {} chunks, epoch {}",
                    s.frames_done, s.chunks_committed, s.epoch
                )
            } else {
                s.error.clone().unwrap_or_else(|| "failed".to_string())
            },
        });
    }
    events
}

/// The probes, column by column; an error message is kept once per run of equal ones.
pub fn probe_series(samples: &[ProbeSample], path: &str, interval_ms: f64) -> ProbeSeries {
    let mut series = ProbeSeries {
        path: path.to_string(),
        interval_ms,
        ..ProbeSeries::default()
    };
    let mut last_error: Option<&str> = None;
    for (i, s) in samples.iter().enumerate() {
        series.scheduled_ms.push(round3(s.scheduled_ms));
        series.sent_ms.push(round3(s.sent_ms));
        series.latency_ms.push(round3(s.latency_ms));
        series.status.push(s.status.unwrap_or(0));
        series.ok.push(s.ok);
        match s.error.as_deref() {
            Some(e) if last_error != Some(e) => {
                series.errors.push((i, e.to_string()));
                last_error = Some(e);
            }
            Some(_) => {}
            None => last_error = None,
        }
    }
    series
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn latency_summary(l: &timeline::LatencySummary) -> LatencySummary {
    let some = |v: f64| (l.count > 0).then_some(v);
    LatencySummary {
        count: l.count,
        p50_ms: some(l.p50_ms),
        p90_ms: some(l.p90_ms),
        p99_ms: some(l.p99_ms),
        max_ms: some(l.max_ms),
    }
}

/// The fault the figures are measured from: the first disruptive one (see
/// [`crate::fault::Kind::disruptive`]; a kind this build does not know counts)
/// with a witness.
pub fn measured_fault(faults: &[FaultRecord]) -> Option<&FaultRecord> {
    faults.iter().find(|f| {
        let disruptive = crate::fault::registry::find(&f.kind).is_none_or(|k| k.disruptive);
        disruptive && f.in_effect_at_ms.is_some()
    })
}

/// Everything an iteration measured, ready for its figures.
pub struct Recorded<'a> {
    /// The probes, as stored in the report (see [`samples_of`]).
    pub probes: &'a [ProbeSample],
    /// Consecutive good probes that end an outage.
    pub sustain: usize,
    /// The job's status polls that answered.
    pub job: &'a [timeline::JobSample],
    /// Fault steps and their effects.
    pub faults: &'a [FaultRecord],
    /// Events already on the timeline (HAProxy's view among them).
    pub events: &'a [Event],
    /// The server that answered each probe by the front door's log (empty: unknown).
    pub served_by: &'a [String],
}

/// The fault's times as the outage measure needs them. The effect happened
/// after the request and no later than its witness, so the witness's own
/// uncertainty is the request-to-witness delay.
fn fault_times(fault: &FaultRecord) -> Option<timeline::FaultTimes> {
    let witness_ms = fault.in_effect_at_ms?;
    Some(timeline::FaultTimes {
        requested_ms: fault.requested_at_ms,
        witness_ms,
        witness_uncertainty_ms: (witness_ms - fault.requested_at_ms).max(0.0),
    })
}

/// The outage's onset for `fault` given the probes so far (the witness when
/// the fault has no usable times).
pub fn onset_ms(fault: &FaultRecord, probes: &[ProbeSample]) -> f64 {
    match fault_times(fault) {
        Some(times) => timeline::outage(probes, times, 1).onset_ms,
        None => fault.requested_at_ms,
    }
}

/// The iteration's figures and the events the probes show.
pub fn figures(r: &Recorded) -> (Figures, Vec<Event>) {
    let mut fig = Figures {
        errors: timeline::errors(r.probes) as u64,
        probes: r.probes.len() as u64,
        ..Figures::default()
    };
    let mut events = Vec::new();
    let Some((fault, times)) = measured_fault(r.faults).and_then(|f| Some((f, fault_times(f)?)))
    else {
        let lat = timeline::latency_by_phase(r.probes, f64::INFINITY, None);
        fig.latency.before = latency_summary(&lat.before);
        return (fig, events);
    };
    let witness_delay = times.witness_ms - fault.requested_at_ms;
    fig.fault_effect_delay_ms = Some(witness_delay);
    fig.witness_delay_ms = Some(witness_delay);
    let outage = timeline::outage(r.probes, times, r.sustain);
    let at = outage.onset_ms;
    let onset_uncertainty = match outage.onset_source {
        timeline::OnsetSource::Witness => times.witness_uncertainty_ms,
        timeline::OnsetSource::FailedProbe => 0.0,
    };
    fig.onset_ms = Some(at);
    fig.onset = Some(outage.onset_source);
    fig.rto_ms = outage.rto_ms;
    fig.outage_ms = outage.outage_ms;
    if let Some(bound) = outage.error_bound_ms {
        fig.set_error_bound(Figure::Rto, bound);
        fig.set_error_bound(Figure::Outage, bound);
    }
    let recovered_ms = match outage.recovery {
        timeline::Recovery::Recovered { recovered_ms, .. } => Some(recovered_ms),
        timeline::Recovery::NoOutageSeen => Some(at),
        _ => None,
    };
    if outage.onset_source == timeline::OnsetSource::FailedProbe {
        events.push(Event {
            at_ms: at,
            kind: EventKind::Note,
            detail: format!(
                "outage onset: a probe failed {:.0} ms before the fault's witness; figures count from here",
                times.witness_ms - at
            ),
        });
    }
    events.extend(timeline::probe_events(r.probes, at, r.sustain));
    if let Some(job) = timeline::job_recovery(r.job, at) {
        fig.job_rto_ms = Some(job.job_rto_ms);
        let previous_poll = r
            .job
            .iter()
            .map(|s| s.at_ms)
            .filter(|t| *t < job.resumed_ms)
            .max_by(f64::total_cmp);
        if let Some(previous) = previous_poll {
            fig.set_error_bound(
                Figure::JobRto,
                job.resumed_ms - previous + onset_uncertainty,
            );
        }
    }
    fig.work_lost_frames = timeline::work_lost(r.job, at).map(|w| w.frames);
    let down = r.events.iter().find(|e| {
        e.kind == EventKind::FrontdoorMarkedPrimaryDown && e.at_ms >= fault.requested_at_ms
    });
    fig.detect_ms = down.map(|e| (e.at_ms - at).max(0.0));
    if let Some(down) = down {
        if let Some(p) = r
            .probes
            .iter()
            .find(|p| p.ok && p.scheduled_ms >= down.at_ms)
        {
            // The front door's log says which server answered; without it,
            // HAProxy sends to the primary again once it marks it up: then the
            // primary itself recovered (a healed fault) and served the probe.
            let logged = r
                .served_by
                .get(p.seq as usize)
                .filter(|server| !server.is_empty());
            let primary_back = match logged {
                Some(server) => server == "primary",
                None => r.events.iter().any(|e| {
                    e.kind == EventKind::FrontdoorMarkedPrimaryUp
                        && e.at_ms > down.at_ms
                        && e.at_ms <= p.scheduled_ms
                }),
            };
            let (kind, since) = if primary_back {
                (
                    EventKind::FirstGoodProbeViaPrimary,
                    "HAProxy marked the primary down and up again",
                )
            } else {
                (
                    EventKind::FirstGoodProbeViaStandby,
                    "HAProxy marked the primary down",
                )
            };
            events.push(Event {
                at_ms: p.scheduled_ms,
                kind,
                detail: format!(
                    "probe #{} answered {} after {since}",
                    p.seq,
                    p.status.unwrap_or(0)
                ),
            });
        }
    }
    let lat = timeline::latency_by_phase(r.probes, at, recovered_ms);
    fig.latency = LatencySplit {
        before: latency_summary(&lat.before),
        during: latency_summary(&lat.during),
        after: latency_summary(&lat.after),
    };
    (fig, events)
}

/// The probes back from their stored columns: the figures are computed from
/// exactly these, so that a reader of report.json gets the same numbers.
/// Reports written before the `sent_ms` column take the schedule as the send time.
pub fn samples_of(series: &ProbeSeries) -> Vec<ProbeSample> {
    let mut error: Option<&str> = None;
    let mut next_error = series.errors.iter().peekable();
    (0..series.ok.len())
        .map(|i| {
            while let Some((_, message)) = next_error.next_if(|(at, _)| *at <= i) {
                error = Some(message);
            }
            let ok = series.ok[i];
            let scheduled_ms = series.scheduled_ms.get(i).copied().unwrap_or_default();
            ProbeSample {
                seq: i as u64,
                scheduled_ms,
                sent_ms: series.sent_ms.get(i).copied().unwrap_or(scheduled_ms),
                latency_ms: series.latency_ms.get(i).copied().unwrap_or_default(),
                status: series.status.get(i).copied().filter(|s| *s != 0),
                ok,
                error: (!ok).then(|| error.unwrap_or("failed").to_string()),
            }
        })
        .collect()
}

/// The job's answered polls back from the report's job record.
pub fn job_samples_of(job: &JobRecord) -> Vec<timeline::JobSample> {
    job.samples
        .iter()
        .filter(|s| s.state.answered())
        .map(|s| timeline::JobSample {
            at_ms: s.at_ms,
            frames_done: s.frames_done,
            frames_total: job.frames_total,
            epoch: s.epoch,
            frames_synthesized: s.frames_synthesized,
            frames_lost: s.frames_lost,
        })
        .collect()
}

/// An iteration's figures computed again from its stored record alone (probe
/// columns, job polls, fault records, front-door events): what `takeover
/// report` checks the printed figures against.
pub fn recompute(it: &Iteration, sustain: usize) -> Figures {
    let probes = samples_of(&it.probes);
    let job = it.job.as_ref().map(job_samples_of).unwrap_or_default();
    let (fig, _) = figures(&Recorded {
        probes: &probes,
        sustain,
        job: &job,
        faults: &it.faults,
        events: &it.events,
        served_by: &it.probes.served_by,
    });
    fig
}

/// Where a recomputed figure differs from the stored one: `(figure, stored, recomputed)`.
pub fn disagreements(stored: &Figures, recomputed: &Figures) -> Vec<(String, String, String)> {
    let show = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v}"));
    let mut out: Vec<(String, String, String)> = Figure::SUMMARY
        .iter()
        .copied()
        .map(|figure| (figure, figure.value(stored), figure.value(recomputed)))
        .filter(|(_, a, b)| a != b)
        .map(|(figure, a, b)| (figure.to_string(), show(a), show(b)))
        .collect();
    if stored.error_bounds_ms != recomputed.error_bounds_ms {
        out.push((
            "error_bounds_ms".into(),
            format!("{:?}", stored.error_bounds_ms),
            format!("{:?}", recomputed.error_bounds_ms),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_from_the_first_witnessed_disruptive_fault() {
        let record = |step: usize, kind: &str, at: Option<f64>| FaultRecord {
            step,
            kind: kind.into(),
            target: "primary".into(),
            requested_at_ms: 100.0 * step as f64,
            in_effect_at_ms: at,
            witness: at.map(|_| "seen".into()),
            evidence: serde_json::Value::Null,
            unavailable: None,
            error: None,
        };
        let faults = [
            record(0, "unpause", Some(10.0)),
            record(1, "heal", Some(110.0)),
            record(2, "kill", None),
            record(3, "oom-kill", Some(320.0)),
        ];
        assert_eq!(measured_fault(&faults).map(|f| f.step), Some(3));
        // A kind a newer build wrote is taken as disruptive.
        let unknown = [record(0, "from-the-future", Some(5.0))];
        assert_eq!(measured_fault(&unknown).map(|f| f.step), Some(0));
    }

    #[test]
    fn a_counter_is_read_from_metrics_text() {
        let text = "# TYPE synth_fenced_total counter\nsynth_fenced_total{worker=\"primary\"} 2\nsynth_fenced_totals 9\n";
        assert_eq!(metric_total(text, "synth_fenced_total"), Some(2.0));
        assert_eq!(metric_total("", "synth_fenced_total"), None);
    }

    #[test]
    fn takeovers_are_the_epochs_after_the_first_with_their_first_chunk() {
        let status = |epoch: u64, owner: &str, chunks: u64| StatusPoll {
            at_ms: 0.0,
            status: Some(JobStatus {
                id: "j".into(),
                state: JobState::Running,
                frames_done: chunks * 8,
                frames_total: 800,
                chunks_committed: chunks,
                chunks_total: 100,
                owner: Some(owner.into()),
                epoch,
                frames_synthesized: 0,
                frames_lost: 0,
                error: None,
            }),
        };
        let polls = vec![
            status(1, "primary", 3),
            StatusPoll {
                at_ms: 0.0,
                status: None,
            },
            status(2, "standby", 40),
            status(2, "standby", 41),
            status(3, "primary", 50),
        ];
        let t = takeovers(&polls);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].epoch, t[0].owner.as_str(), t[0].first_chunk),
            (2, "standby", 40)
        );
        assert_eq!((t[1].epoch, t[1].first_chunk), (3, 50));
    }
    use contract::JobState;

    fn probe(seq: u64, ok: bool) -> ProbeSample {
        let scheduled_ms = seq as f64 * 20.0;
        ProbeSample {
            seq,
            scheduled_ms,
            sent_ms: scheduled_ms,
            latency_ms: if ok { 2.0 } else { 1000.0 },
            status: ok.then_some(200),
            ok,
            error: (!ok).then(|| "connection refused".to_string()),
        }
    }

    fn status(frames_done: u64, epoch: u64, owner: &str, state: JobState) -> JobStatus {
        JobStatus {
            id: "j".into(),
            state,
            frames_done,
            frames_total: 96,
            chunks_committed: frames_done / 8,
            chunks_total: 12,
            owner: Some(owner.into()),
            epoch,
            frames_synthesized: frames_done,
            frames_lost: 0,
            error: None,
        }
    }

    /// A recorded outage: the fault lands at 1000 ms, probes fail from 1000 to
    /// 1400 ms, the job stalls at 40 frames and resumes under a new owner.
    #[test]
    fn figures_from_a_recorded_takeover() {
        let probes: Vec<ProbeSample> = (0..150).map(|i| probe(i, !(50..70).contains(&i))).collect();
        let polls: Vec<StatusPoll> = [
            (900.0, status(40, 1, "primary", JobState::Running)),
            (1100.0, status(40, 1, "primary", JobState::Running)),
            (2100.0, status(40, 2, "standby", JobState::Running)),
            (2600.0, status(48, 2, "standby", JobState::Running)),
            (2900.0, status(96, 2, "standby", JobState::Done)),
        ]
        .into_iter()
        .map(|(at_ms, s)| StatusPoll {
            at_ms,
            status: Some(s),
        })
        .collect();
        let faults = vec![FaultRecord {
            step: 0,
            kind: "kill".into(),
            target: "primary".into(),
            requested_at_ms: 995.0,
            in_effect_at_ms: Some(1000.0),
            witness: Some("die".into()),
            evidence: serde_json::Value::Null,
            unavailable: None,
            error: None,
        }];
        let frontdoor = vec![Event {
            at_ms: 1250.0,
            kind: EventKind::FrontdoorMarkedPrimaryDown,
            detail: String::new(),
        }];
        let (fig, events) = figures(&Recorded {
            probes: &probes,
            sustain: 5,
            job: &timeline_job_samples(&polls),
            faults: &faults,
            events: &frontdoor,
            served_by: &[],
        });
        assert_eq!(fig.rto_ms, Some(400.0));
        assert_eq!(fig.errors, 20);
        assert_eq!(fig.fault_effect_delay_ms, Some(5.0));
        assert_eq!(fig.job_rto_ms, Some(1600.0));
        assert_eq!(fig.detect_ms, Some(250.0));
        assert_eq!(fig.latency.during.count, 20);
        assert!(events
            .iter()
            .any(|e| e.kind == EventKind::SustainedGood && e.at_ms == 1400.0));
        let via = events
            .iter()
            .find(|e| e.kind == EventKind::FirstGoodProbeViaStandby)
            .unwrap();
        assert_eq!(via.at_ms, 1400.0);
        let job = job_events(&polls, Some(1000.0));
        assert!(job
            .iter()
            .any(|e| e.kind == EventKind::JobOwnerChanged && e.at_ms == 2100.0));
        assert!(job
            .iter()
            .any(|e| e.kind == EventKind::JobProgressResumed && e.at_ms == 2600.0));
        assert!(job.iter().any(|e| e.kind == EventKind::JobDone));
    }

    /// A healed fault: HAProxy marks the primary down at 1250 ms and up again
    /// at 1350 ms, before the first good probe at 1400 ms; that probe reached
    /// the primary, not the standby.
    #[test]
    fn a_good_probe_after_the_primary_is_back_is_not_credited_to_the_standby() {
        let probes: Vec<ProbeSample> = (0..150).map(|i| probe(i, !(50..70).contains(&i))).collect();
        let faults = vec![FaultRecord {
            step: 0,
            kind: "disk-fill".into(),
            target: "primary".into(),
            requested_at_ms: 995.0,
            in_effect_at_ms: Some(1000.0),
            witness: Some("df".into()),
            evidence: serde_json::Value::Null,
            unavailable: None,
            error: None,
        }];
        let frontdoor = [
            (1250.0, EventKind::FrontdoorMarkedPrimaryDown),
            (1350.0, EventKind::FrontdoorMarkedPrimaryUp),
        ]
        .map(|(at_ms, kind)| Event {
            at_ms,
            kind,
            detail: String::new(),
        });
        let (_, events) = figures(&Recorded {
            probes: &probes,
            sustain: 5,
            job: &[],
            faults: &faults,
            events: &frontdoor,
            served_by: &[],
        });
        assert!(
            !events
                .iter()
                .any(|e| e.kind == EventKind::FirstGoodProbeViaStandby),
            "{events:?}"
        );
        let via = events
            .iter()
            .find(|e| e.kind == EventKind::FirstGoodProbeViaPrimary)
            .unwrap();
        assert_eq!(via.at_ms, 1400.0);
        assert!(via.detail.contains("up again"), "{}", via.detail);
    }

    #[test]
    fn without_a_witnessed_fault_nothing_is_measured_from_it() {
        let probes: Vec<ProbeSample> = (0..20).map(|i| probe(i, true)).collect();
        let faults = vec![FaultRecord {
            step: 0,
            kind: "pause".into(),
            target: "primary".into(),
            requested_at_ms: 100.0,
            in_effect_at_ms: None,
            witness: None,
            evidence: serde_json::Value::Null,
            unavailable: None,
            error: None,
        }];
        let (fig, _) = figures(&Recorded {
            probes: &probes,
            sustain: 5,
            job: &[],
            faults: &faults,
            events: &[],
            served_by: &[],
        });
        assert_eq!(fig.rto_ms, None);
        assert_eq!(fig.fault_effect_delay_ms, None);
        assert_eq!(fig.latency.before.count, 20);
    }

    #[test]
    fn probe_series_keeps_one_message_per_run_of_errors() {
        let probes: Vec<ProbeSample> = (0..10).map(|i| probe(i, !(3..6).contains(&i))).collect();
        let s = probe_series(&probes, "/health", 20.0);
        assert_eq!(s.ok.iter().filter(|o| !**o).count(), 3);
        assert_eq!(s.errors, vec![(3, "connection refused".to_string())]);
        assert_eq!(s.status[3], 0);
    }
}
