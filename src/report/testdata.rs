//! A realistic report for the renderers' tests: three iterations of an
//! OOM-kill of the primary with 20 ms probes, HAProxy's view, a paced job
//! taken over by the standby, and a structural audio verdict with one seam.

use super::model::*;
use super::state::JobSeen;

/// Deterministic jitter in [0, 1).
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn event(at_ms: f64, kind: EventKind, detail: &str) -> Event {
    Event {
        at_ms,
        kind,
        detail: detail.to_string(),
    }
}

/// One iteration whose outage lasts `outage_ms` and whose job resumes `job_rto_ms` after the fault.
pub fn iteration(index: u32, outage_ms: f64, job_rto_ms: f64) -> Iteration {
    let mut jitter = Jitter(index as u64 * 7919);
    let t0: chrono::DateTime<chrono::Utc> = "2026-11-25T23:00:00Z".parse().unwrap();
    let fault = 8_000.0;
    let in_effect = fault + 210.0;
    let recovered = in_effect + outage_ms;
    let resumed = in_effect + job_rto_ms;
    let end = 21_000.0;
    let mut probes = ProbeSeries {
        path: "/health".into(),
        interval_ms: 20.0,
        ..Default::default()
    };
    let mut t = 1_850.0;
    while t < end - 400.0 {
        let failed = t >= in_effect && t < recovered;
        probes.scheduled_ms.push(t);
        probes.sent_ms.push(t + 0.2);
        probes.latency_ms.push(if failed {
            if t < in_effect + 300.0 {
                250.0
            } else {
                2.0 + jitter.next() * 3.0
            }
        } else {
            0.9 + jitter.next() * 1.4 + if jitter.next() > 0.98 { 6.0 } else { 0.0 }
        });
        probes.status.push(if failed {
            if t < in_effect + 300.0 {
                0
            } else {
                503
            }
        } else {
            200
        });
        probes.ok.push(!failed);
        t += 20.0;
    }
    let first_failed = probes.ok.iter().position(|ok| !ok).unwrap();
    probes
        .errors
        .push((first_failed, "timed out after 250 ms".into()));
    let first_503 = probes
        .status
        .iter()
        .position(|s| *s == 503)
        .unwrap_or(first_failed);
    probes.errors.push((first_503, "HTTP 503".into()));
    let failed_count = probes.ok.iter().filter(|ok| !**ok).count() as u64;

    let mut frontdoor = Vec::new();
    let mut t = 1_900.0;
    while t < end - 400.0 {
        let primary = if t < in_effect + 100.0 {
            "UP"
        } else if t < in_effect + 320.0 {
            "DOWN 1/3"
        } else {
            "DOWN"
        };
        frontdoor.push(FrontdoorSample {
            at_ms: t,
            server: "primary".into(),
            status: primary.into(),
            backup: false,
        });
        frontdoor.push(FrontdoorSample {
            at_ms: t,
            server: "standby".into(),
            status: "UP".into(),
            backup: true,
        });
        t += 100.0;
    }

    // The job commits a chunk of 8 frames every 880 ms: 48 frames by the
    // fault, then nothing until the standby resumes it from the last chunk.
    let mut samples = Vec::new();
    let mut t = 2_100.0;
    let frames_total = 120;
    while t < end - 500.0 {
        let (state, owner, epoch, frames) = if t < in_effect {
            (
                JobSeen::Running,
                "primary",
                1,
                (((t - 2_100.0) / 880.0) as u64 * 8).min(48),
            )
        } else if t < resumed {
            let state = if t < in_effect + 400.0 {
                JobSeen::Unreachable
            } else {
                JobSeen::Running
            };
            (state, "primary", 1, 48)
        } else {
            (
                JobSeen::Running,
                "standby",
                2,
                (56 + ((t - resumed) / 880.0) as u64 * 8).min(frames_total),
            )
        };
        let state = if frames >= frames_total {
            JobSeen::Done
        } else {
            state
        };
        samples.push(JobSample {
            at_ms: t,
            frames_done: frames,
            state,
            owner: Some(owner.into()),
            epoch,
            frames_lost: if epoch == 2 { 4 } else { 0 },
            frames_synthesized: if epoch == 2 { frames - 44 } else { frames },
        });
        t += 250.0;
    }
    let done_at = samples
        .iter()
        .find(|s| s.state == JobSeen::Done)
        .map(|s| s.at_ms)
        .unwrap_or(end - 600.0);

    let events = vec![
        event(1_800.0, EventKind::StackUp, "4 containers ready"),
        event(1_850.0, EventKind::ProbesStarted, "GET /health every 20 ms"),
        event(2_000.0, EventKind::JobSubmitted, "job j-1 (120 frames)"),
        event(fault, EventKind::StepStarted, "step 0: oom-kill primary"),
        event(fault, EventKind::FaultRequested, "oom-kill primary"),
        event(
            in_effect,
            EventKind::FaultInEffect,
            "oom event, exit 137, OOMKilled=true",
        ),
        event(
            probes.scheduled_ms[first_failed],
            EventKind::FirstFailedProbe,
            "timed out after 250 ms",
        ),
        event(
            in_effect + 320.0,
            EventKind::FrontdoorMarkedPrimaryDown,
            "primary DOWN",
        ),
        event(
            in_effect + 320.0,
            EventKind::SwitchedToBackup,
            "standby serves",
        ),
        event(
            recovered,
            EventKind::FirstGoodProbeViaStandby,
            "HTTP 200 from standby",
        ),
        event(
            recovered,
            EventKind::SustainedGood,
            "5 good probes in a row",
        ),
        event(
            resumed - 300.0,
            EventKind::JobOwnerChanged,
            "standby, epoch 2",
        ),
        event(
            resumed,
            EventKind::JobProgressResumed,
            "frames_done moved past 48",
        ),
        event(done_at, EventKind::JobDone, "120 frames"),
        event(
            done_at + 200.0,
            EventKind::AudioVerdict,
            "intact (structural)",
        ),
        event(end - 300.0, EventKind::TeardownStarted, ""),
    ];
    let latency = |count: u64, p50: f64, p99: f64| LatencySummary {
        count,
        p50_ms: Some(p50),
        p90_ms: Some((p50 + p99) / 2.0),
        p99_ms: Some(p99),
        max_ms: Some(p99 * 1.2),
    };
    let seam_chunk = 6u64;
    let verdict = serde_json::json!({
        "mode": "structural",
        "intact": true,
        "summary": "intact (structural: 6 checks held)",
        "candidate_samples": 120 * 3200,
        "checks": [
            {"name": "manifest-complete", "ok": true, "detail": "15 chunks cover 120 frames", "evidence": {"chunks": 15}},
            {"name": "chunk-hashes", "ok": true, "detail": "every chunk's BLAKE3 matches its PCM", "evidence": {}},
            {"name": "contiguous", "ok": true, "detail": "no gap or overlap", "evidence": {}},
            {"name": "no-duplicates", "ok": true, "detail": "each chunk once", "evidence": {}},
            {"name": "length", "ok": true, "detail": "384000 samples as expected", "evidence": {}},
            {"name": "seams", "ok": true, "detail": "1 resume seam, none suspect", "evidence": {}}
        ],
        "seams": [{
            "chunk_index": seam_chunk,
            "sample": seam_chunk * 8 * 3200,
            "time_s": (seam_chunk * 8 * 3200) as f64 / 24_000.0,
            "resume": true,
            "before": {"writer": "primary", "epoch": 1},
            "after": {"writer": "standby", "epoch": 2},
            "score": 1.7,
            "threshold": 6.0,
            "peak_sample": seam_chunk * 8 * 3200 + 37,
            "suspect": false
        }],
        "mismatch": null
    });
    Iteration {
        index,
        run_id: format!("tk-20261125-230000-000{index}"),
        started_at: t0 + chrono::Duration::seconds(30 * index as i64),
        duration_ms: end,
        outcome: IterationOutcome::Passed,
        reasons: vec![],
        events,
        figures: Figures {
            rto_ms: Some(outage_ms),
            job_rto_ms: Some(job_rto_ms),
            work_lost_frames: Some(4),
            errors: failed_count,
            fault_effect_delay_ms: Some(210.0),
            detect_ms: Some(320.0),
            latency: LatencySplit {
                before: latency(300, 1.4, 7.5),
                during: latency(failed_count, 250.0, 250.0),
                after: latency(600, 1.5, 7.9),
            },
            probes: probes.ok.len() as u64,
            outage_ms: Some(outage_ms),
            witness_delay_ms: Some(210.0),
            onset_ms: Some(in_effect),
            onset: Some(crate::timeline::OnsetSource::Witness),
            error_bounds_ms: [
                ("rto_ms".to_string(), 20.0),
                ("outage_ms".to_string(), 20.0),
                ("job_rto_ms".to_string(), 250.0),
            ]
            .into_iter()
            .collect(),
        },
        faults: vec![FaultRecord {
            step: 0,
            kind: "oom-kill".into(),
            target: "primary".into(),
            requested_at_ms: fault,
            in_effect_at_ms: Some(in_effect),
            witness: Some("oom event, exit 137, OOMKilled=true".into()),
            evidence: serde_json::json!({"exit_code": 137, "oom_killed": true}),
            unavailable: None,
            error: None,
        }],
        runbooks: vec![],
        probes,
        job: Some(JobRecord {
            id: "j-1".into(),
            script: "scenarios/scripts/two-speakers.yaml".into(),
            seed: 7,
            frames_total,
            chunk_frames: 8,
            pace_rtf: Some(0.9),
            final_state: JobSeen::Done,
            error: None,
            samples,
        }),
        frontdoor,
        frontdoor_accounts: vec![],
        audio: Some(AudioRecord {
            mode: "structural".into(),
            intact: true,
            reference: None,
            verdict,
            artifacts: vec![
                format!("iteration-{index}/audio.wav"),
                format!("iteration-{index}/manifest.json"),
            ],
        }),
        phases_ms: [
            ("stack_up".to_string(), 1_800.0),
            ("teardown".to_string(), 900.0),
        ]
        .into_iter()
        .collect(),
    }
}

/// The whole report: three passed iterations, four expectations that held.
pub fn report() -> Report {
    let iterations = vec![
        iteration(1, 340.0, 1_900.0),
        iteration(2, 420.0, 2_300.0),
        iteration(3, 380.0, 2_050.0),
    ];
    // The summary the way a run makes it.
    let figures = crate::run::judge::summarize(&iterations).figures;
    let t0: chrono::DateTime<chrono::Utc> = "2026-11-25T23:00:00Z".parse().unwrap();
    let expectation =
        |name: &str, figure: &str, statistic: &str, threshold: f64, measured: f64, unit: &str| {
            ExpectationResult {
                name: name.into(),
                figure: figure.into(),
                statistic: statistic.into(),
                threshold,
                measured: Some(measured),
                unit: unit.into(),
                verdict: if measured <= threshold {
                    Verdict::Held
                } else {
                    Verdict::Failed
                },
                evidence: format!(
            "{statistic} {measured} {unit} against a limit of {threshold} {unit} over 3 iterations"
        ),
            }
        };
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        run_id: "tk-20261125-230000-0000".into(),
        scenario: ScenarioRecord {
            name: "oom-kill-primary".into(),
            description: "The primary is OOM-killed mid-job; the standby must take the job over."
                .into(),
            file: "scenarios/oom-kill-primary.yaml".into(),
            definition: serde_json::json!({
                "name": "oom-kill-primary",
                "iterations": 3,
                "expect": {"rto": {"p95": "2s"}, "job_resume": {"max": "5s"}, "work_lost": "8 frames", "audio": "structural"}
            }),
        },
        started_at: t0,
        ended_at: t0 + chrono::Duration::seconds(95),
        environment: Environment {
            docker_api_version: Some("1.41".into()),
            docker_version: Some("20.10.24".into()),
            backend: Some("cpu".into()),
            host: "drill-host".into(),
            os: "linux x86_64".into(),
            cpus: 2,
            worker_image: Some("sha256:4f2a".into()),
        },
        probe_interval_ms: 20.0,
        summary: Summary {
            iterations: 3,
            outcomes: [("passed".to_string(), 3)].into_iter().collect(),
            figures,
        },
        expectations: vec![
            expectation("rto.p95", "rto_ms", "p95", 2_000.0, 420.0, "ms"),
            expectation(
                "job_resume.max",
                "job_rto_ms",
                "max",
                5_000.0,
                2_300.0,
                "ms",
            ),
            expectation(
                "work_lost.max",
                "work_lost_frames",
                "max",
                8.0,
                4.0,
                "frames",
            ),
            ExpectationResult {
                name: "audio".into(),
                figure: "audio_intact".into(),
                statistic: "all".into(),
                threshold: 1.0,
                measured: Some(1.0),
                unit: "".into(),
                verdict: Verdict::Held,
                evidence: "3 of 3 iterations intact (structural)".into(),
            },
        ],
        outcome: RunOutcome::Passed,
        exit_code: 0,
        iterations,
        artifacts: vec![],
        not_applicable: vec![],
    }
}

/// A short tone-like audio with a seam at `seam` whose halves come from two writers.
pub fn audio(samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f64 / 24_000.0;
            ((t * 2.0 * std::f64::consts::PI * 140.0).sin() * 6000.0
                + (t * 2.0 * std::f64::consts::PI * 420.0).sin() * 2000.0) as i16
        })
        .collect()
}

/// Writes the recorded fixture the CLI and browser tests read. Run by hand
/// (`cargo test -p takeover --lib write_report_fixture -- --ignored`) after the model grows.
#[test]
#[ignore = "writes tests/fixtures/report-oom-kill/report.json"]
fn write_report_fixture() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-oom-kill");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string(&report()).unwrap();
    std::fs::write(dir.join(super::json::FILE_NAME), text + "\n").unwrap();
}
