//! Hand-checked recordings for every timeline figure.

use super::ProbeSample;
use super::*;
use super::{FrontdoorSnapshot, ServerView};

/// Probes due every 20 ms from `start_ms`, each sent 0.5 ms late: `+` answered 200 in
/// 1 ms, `-` failed after 5 ms.
fn probes(start_ms: f64, pattern: &str) -> Vec<ProbeSample> {
    pattern
        .chars()
        .filter(|c| !c.is_whitespace())
        .enumerate()
        .map(|(i, c)| {
            let ok = c == '+';
            let scheduled_ms = start_ms + 20.0 * i as f64;
            ProbeSample {
                seq: i as u64,
                scheduled_ms,
                sent_ms: scheduled_ms + 0.5,
                latency_ms: if ok { 1.0 } else { 5.0 },
                status: ok.then_some(200),
                ok,
                error: (!ok).then(|| "connect: refused".to_string()),
            }
        })
        .collect()
}

#[test]
fn rto_runs_from_fault_to_first_probe_of_the_sustained_good_run() {
    // seq 0-4 good (0..80 ms), 5-9 fail (100..180), 10-14 good (200..280).
    let s = probes(0.0, "+++++ ----- +++++");
    assert_eq!(
        recovery(&s, 95.0, 3),
        Recovery::Recovered {
            first_failed_ms: 100.5,
            last_failed_ms: 180.5,
            recovered_ms: 200.5,
            rto_ms: 105.5,
            error_bound_ms: 20.0,
        }
    );
    assert_eq!(rto(&s, 95.0, 3), Some(105.5));
    assert_eq!(rto(&s, 95.0, 5), Some(105.5));
    // Six good probes are needed but only five follow: not recovered yet.
    assert_eq!(rto(&s, 95.0, 6), None);
    assert_eq!(first_failed_probe(&s, 95.0).map(|p| p.seq), Some(5));
}

#[test]
fn a_flapping_recovery_restarts_the_sustain_run() {
    // fail 80,100; good 120; fail 140,160; good 180,200,220.
    let s = probes(0.0, "++++ --+-- +++");
    assert_eq!(rto(&s, 80.0, 3), Some(100.5)); // recovered at 180.5
    assert_eq!(rto(&s, 80.0, 1), Some(40.5)); // the lone good probe at 120.5 counts
    assert_eq!(rto(&s, 80.0, 2), Some(100.5));
}

#[test]
fn no_recovery_is_none_with_the_first_failure_kept() {
    let s = probes(0.0, "++---");
    assert_eq!(
        recovery(&s, 30.0, 1),
        Recovery::NotRecovered {
            first_failed_ms: 40.5
        }
    );
    assert_eq!(rto(&s, 30.0, 1), None);
}

#[test]
fn a_fault_before_the_first_probe_counts_from_the_fault() {
    let s = probes(0.0, "--+++");
    assert_eq!(rto(&s, -50.0, 3), Some(90.5));
}

#[test]
fn failures_due_before_the_fault_are_not_evidence() {
    let s = probes(0.0, "--+++");
    assert_eq!(recovery(&s, 40.0, 3), Recovery::NoOutageSeen);
    assert_eq!(rto(&s, 40.0, 3), Some(0.0));
    // Only two probes after the fault: too few for a sustain of 3.
    assert_eq!(recovery(&s, 60.0, 3), Recovery::NoEvidence);
    assert_eq!(rto(&s, 60.0, 3), None);
    // A fault after the last probe: nothing to say.
    assert_eq!(rto(&s, 1000.0, 1), None);
}

#[test]
fn delayed_effect_then_outage_is_still_measured() {
    // The first probes after the fault still pass (in flight, or the fault needs time to
    // show), then the outage: the outage is what counts, not the early good probes.
    let s = probes(0.0, "+++ ---- +++");
    assert_eq!(rto(&s, 10.0, 3), Some(130.5)); // recovered at 140.5
}

#[test]
fn sample_order_does_not_matter() {
    let mut s = probes(0.0, "+++++ ----- +++++");
    s.reverse();
    s.swap(3, 9);
    assert_eq!(rto(&s, 95.0, 3), Some(105.5));
    assert_eq!(first_failed_probe(&s, 95.0).map(|p| p.seq), Some(5));
}

#[test]
fn a_late_send_counts_from_when_the_probe_left() {
    // The recovering probe (seq 10, due at 200) left 30 ms late: the service was
    // only shown healthy at 230.5, and the window back to the last failure widens.
    let mut s = probes(0.0, "+++++ ----- +++++");
    s[10].sent_ms = 230.5;
    match recovery(&s, 95.0, 3) {
        Recovery::Recovered {
            recovered_ms,
            rto_ms,
            error_bound_ms,
            ..
        } => {
            assert_eq!(recovered_ms, 230.5);
            assert_eq!(rto_ms, 135.5);
            assert_eq!(error_bound_ms, 50.0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_counts() {
    let s = probes(0.0, "+-+-- ++ -");
    assert_eq!(errors(&s), 4);
    assert_eq!(errors_between(&s, 20.0, 80.0), 2); // seq 1 and 3
    assert_eq!(errors_between(&s, 0.0, 1e9), 4);
}

#[test]
fn probe_events_mark_first_failure_and_recovery() {
    let s = probes(0.0, "+++++ ----- +++++");
    let ev = probe_events(&s, 95.0, 3);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].kind, EventKind::FirstFailedProbe);
    assert_eq!(ev[0].at_ms, 100.5);
    assert!(ev[0].detail.contains("#5"));
    assert_eq!(ev[1].kind, EventKind::SustainedGood);
    assert_eq!(ev[1].at_ms, 200.5);
    assert!(ev[1].detail.contains("#10"), "{}", ev[1].detail);
}

#[test]
fn latency_is_split_at_fault_and_recovery() {
    let s = probes(0.0, "+++++ ----- +++++");
    let p = latency_by_phase(&s, 95.0, Some(200.0));
    assert_eq!((p.before.count, p.before.failed), (5, 0));
    assert_eq!((p.during.count, p.during.failed), (5, 5));
    assert_eq!((p.after.count, p.after.failed), (5, 0));
    assert!((p.before.p99_ms - 1.0).abs() < 0.01);
    assert!((p.during.p50_ms - 5.0).abs() < 0.01);
    assert!((p.during.max_ms - 5.0).abs() < 0.01);
    // No recovery: everything from the fault on is "during".
    let p = latency_by_phase(&s, 95.0, None);
    assert_eq!((p.during.count, p.after.count), (10, 0));
    // An empty phase is all zeros, not a panic.
    let p = latency_by_phase(&s, -1.0, None);
    assert_eq!(p.before, LatencySummary::default());
}

#[test]
fn latency_percentiles_come_from_the_histogram() {
    let mut s = probes(0.0, &"+".repeat(100));
    for (i, x) in s.iter_mut().enumerate() {
        x.latency_ms = (i + 1) as f64; // 1..=100 ms
    }
    let h = latency_histogram(&s);
    let sum = LatencySummary::from_histogram(&h, 0);
    assert_eq!(sum.count, 100);
    assert!((sum.p50_ms - 50.0).abs() < 0.1, "{}", sum.p50_ms);
    assert!((sum.p99_ms - 99.0).abs() < 0.1, "{}", sum.p99_ms);
    assert!((sum.max_ms - 100.0).abs() < 0.1, "{}", sum.max_ms);
    assert!((sum.mean_ms - 50.5).abs() < 0.1, "{}", sum.mean_ms);
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<f64> = (1..=20).map(f64::from).collect();
    let p = percentiles(&v, 20.0).unwrap();
    assert_eq!(
        (p.n, p.min, p.p50, p.p95, p.p99, p.max),
        (20, 1.0, 10.0, 19.0, 20.0, 20.0)
    );
    assert_eq!(p.mean, 10.5);
    assert_eq!(p.error_bound, 20.0);
    let one = percentiles(&[42.0], 5.0).unwrap();
    assert_eq!(
        (one.n, one.p50, one.p95, one.p99, one.max),
        (1, 42.0, 42.0, 42.0, 42.0)
    );
    assert!(percentiles(&[], 5.0).is_none());
    assert!(percentiles(&[f64::NAN], 5.0).is_none());
    let p = percentiles(&[3.0, f64::NAN, 1.0, 2.0], 1.0).unwrap();
    assert_eq!((p.n, p.p50, p.max), (3, 2.0, 3.0));
}

fn job(at_ms: f64, done: u64, epoch: u64, synthesized: u64, lost: u64) -> JobSample {
    JobSample {
        at_ms,
        frames_done: done,
        frames_total: 80,
        epoch,
        frames_synthesized: synthesized,
        frames_lost: lost,
    }
}

/// Primary (epoch 1) commits 8 frames per poll, is killed at 250 ms with 24
/// frames synthesized and 16 committed; the standby claims at epoch 2 and
/// commits again at 1400 ms.
fn takeover_recording() -> Vec<JobSample> {
    vec![
        job(0.0, 0, 1, 0, 0),
        job(100.0, 8, 1, 8, 0),
        job(200.0, 16, 1, 24, 0),
        job(300.0, 16, 1, 24, 0),
        job(1300.0, 16, 2, 0, 0),
        job(1400.0, 24, 2, 8, 0),
        job(1500.0, 32, 2, 16, 0),
    ]
}

#[test]
fn job_rto_runs_to_the_first_new_commit() {
    let s = takeover_recording();
    assert_eq!(
        job_recovery(&s, 250.0),
        Some(JobRecovery {
            frames_at_fault: 16,
            resumed_ms: 1400.0,
            job_rto_ms: 1150.0
        })
    );
    assert_eq!(job_rto(&s, 250.0), Some(1150.0));
}

#[test]
fn a_commit_just_before_the_fault_is_not_a_resumption() {
    // Polled at 200 ms (16 frames); the primary committed 24 before the fault at 250 ms.
    let s = vec![
        job(200.0, 16, 1, 16, 0),
        job(300.0, 24, 1, 24, 0),
        job(900.0, 24, 2, 0, 0),
        job(1000.0, 32, 2, 8, 0),
    ];
    assert_eq!(job_rto(&s, 250.0), Some(750.0));
}

#[test]
fn job_that_never_resumes_or_was_done_has_no_job_rto() {
    let stuck = vec![
        job(0.0, 8, 1, 8, 0),
        job(300.0, 16, 1, 16, 0),
        job(900.0, 16, 1, 16, 0),
    ];
    assert_eq!(job_rto(&stuck, 250.0), None);
    let done = vec![job(300.0, 80, 1, 80, 0), job(900.0, 80, 1, 80, 0)];
    assert_eq!(job_rto(&done, 250.0), None);
    assert_eq!(job_rto(&[], 250.0), None);
}

#[test]
fn work_lost_is_estimated_when_the_dead_owner_could_not_say() {
    let s = takeover_recording();
    // Frontier 0 + 24, the standby resumed from 16: one chunk of 8 lost.
    assert_eq!(
        work_lost(&s, 250.0),
        Some(WorkLost {
            frames: 8,
            source: WorkLostSource::Estimate
        })
    );
}

#[test]
fn work_lost_prefers_the_workers_own_count_when_it_is_larger_or_equal() {
    let mut s = takeover_recording();
    s.last_mut().unwrap().frames_lost = 8;
    assert_eq!(
        work_lost(&s, 250.0),
        Some(WorkLost {
            frames: 8,
            source: WorkLostSource::Worker
        })
    );
    s.last_mut().unwrap().frames_lost = 16;
    assert_eq!(work_lost(&s, 250.0).map(|w| w.frames), Some(16));
}

#[test]
fn work_lost_without_takeover_or_samples() {
    // Same owner throughout, nothing published: nothing lost.
    let s = vec![job(0.0, 8, 1, 8, 0), job(300.0, 16, 1, 16, 0)];
    assert_eq!(
        work_lost(&s, 250.0),
        Some(WorkLost {
            frames: 0,
            source: WorkLostSource::Worker
        })
    );
    // A later epoch's start frame comes from its samples: epoch 3 starts at 40.
    let s = vec![
        job(0.0, 40, 2, 8, 0),
        job(300.0, 40, 3, 0, 0),
        job(400.0, 48, 3, 8, 0),
    ];
    // Epoch 2 started at 40 - 8 = 32, frontier 40; epoch 3 resumed at 40: nothing lost.
    assert_eq!(work_lost(&s, 250.0).map(|w| w.frames), Some(0));
    assert_eq!(work_lost(&[job(300.0, 8, 1, 8, 0)], 250.0), None);
    assert_eq!(work_lost(&[job(0.0, 8, 1, 8, 0)], 250.0), None);
}

fn snap(at: f64, primary_up: bool, backup_sessions: Option<u64>) -> FrontdoorSnapshot {
    FrontdoorSnapshot {
        asked_ms: at - 1.0,
        answered_ms: at,
        servers: vec![
            ServerView {
                name: "primary".into(),
                backup: false,
                up: primary_up,
                sessions_total: backup_sessions.map(|_| 100),
            },
            ServerView {
                name: "standby".into(),
                backup: true,
                up: true,
                sessions_total: backup_sessions,
            },
        ],
    }
}

#[test]
fn frontdoor_down_switch_and_up_are_found() {
    let snaps = vec![
        snap(0.0, true, Some(0)),
        snap(100.0, true, Some(0)),
        snap(200.0, false, Some(0)),
        snap(300.0, false, Some(5)),
        snap(400.0, false, Some(9)),
        snap(500.0, true, Some(9)),
    ];
    let ev = frontdoor_events(&snaps);
    let kinds: Vec<(EventKind, f64)> = ev.iter().map(|e| (e.kind, e.at_ms)).collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::FrontdoorMarkedPrimaryDown, 200.0),
            (EventKind::SwitchedToBackup, 300.0),
            (EventKind::FrontdoorMarkedPrimaryUp, 500.0),
        ]
    );
    assert!(ev[0].detail.contains("primary") && ev[0].detail.contains("99.0"));
}

#[test]
fn frontdoor_switch_without_session_counts_uses_state() {
    let snaps = vec![snap(0.0, true, None), snap(100.0, false, None)];
    let ev = frontdoor_events(&snaps);
    let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::FrontdoorMarkedPrimaryDown,
            EventKind::SwitchedToBackup
        ]
    );
    // A primary down from the first snapshot on never "went" down.
    assert!(frontdoor_events(&[snap(0.0, false, None)]).is_empty());
}

#[test]
fn events_serialize_with_snake_case_kinds_and_sort_by_time() {
    let mut ev = vec![
        Event::new(5.0, EventKind::SustainedGood, "b"),
        Event::new(1.0, EventKind::FaultInEffect, "a"),
    ];
    Event::sort(&mut ev);
    assert_eq!(ev[0].kind, EventKind::FaultInEffect);
    let json = serde_json::to_string(&ev[0]).unwrap();
    assert_eq!(
        json,
        r#"{"at_ms":1.0,"kind":"fault_in_effect","detail":"a"}"#
    );
}

#[test]
fn error_summary_reports_bias_spread_and_the_bound() {
    let e = error_summary(&[1.0, 3.0, -1.0, 5.0], 5.0).unwrap();
    assert_eq!(e.n, 4);
    assert_eq!(e.bias_ms, 2.0);
    assert!((e.spread_ms - 5.0f64.sqrt()).abs() < 1e-12); // deviations -1, 1, -3, 3
    assert_eq!((e.min_ms, e.max_ms), (-1.0, 5.0));
    assert_eq!((e.p50_abs_ms, e.p95_abs_ms, e.max_abs_ms), (1.0, 5.0, 5.0));
    // |5.0| is not strictly inside a 5 ms bound.
    assert!(!e.within_bound);
    assert!(
        error_summary(&[1.0, 3.0, -1.0, 4.9], 5.0)
            .unwrap()
            .within_bound
    );
    assert!(error_summary(&[], 5.0).is_none());
    assert!(error_summary(&[f64::INFINITY], 5.0).is_none());
}
