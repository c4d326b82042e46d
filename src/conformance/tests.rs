//! The clauses on recorded answers: a conforming run, then each way a server
//! can break a clause.

use std::time::Duration;

use contract::{ChunkRecord, HealthCheck, HealthReport, JobState, JobStatus, Manifest};

use super::observe::{default_request, Answer, Observations, Polled, Seen};
use super::{judge, Verdict, CLAUSES};

const ID: &str = "job-1";

fn json(status: u16, body: serde_json::Value) -> Seen {
    Seen::Answer(Answer {
        status,
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
    })
}

fn status(state: JobState, chunks: u64) -> JobStatus {
    let frames = (chunks * 8).min(39);
    JobStatus {
        id: ID.into(),
        state,
        frames_done: frames,
        frames_total: 39,
        chunks_committed: chunks,
        chunks_total: 5,
        owner: Some("primary".into()),
        epoch: 1,
        frames_synthesized: frames,
        frames_lost: 0,
        error: None,
    }
}

fn status_seen(s: &JobStatus, code: u16) -> Seen {
    json(code, serde_json::to_value(s).unwrap())
}

/// The audio of the default job: a ramp, so that each chunk hashes differently.
fn samples() -> Vec<i16> {
    (0..39 * 3200).map(|i| (i % 2000) as i16).collect()
}

fn manifest(samples: &[i16]) -> Manifest {
    let mut chunks = Vec::new();
    let mut frame = 0u64;
    for index in 0..5u64 {
        let frames = (39 - frame).min(8);
        let (from, to) = (frame * 3200, (frame + frames) * 3200);
        chunks.push(ChunkRecord {
            index,
            first_frame: frame,
            frames,
            first_sample: from,
            sample_count: to - from,
            blake3: contract::chunk_hash(&samples[from as usize..to as usize]),
            epoch: 1,
            writer: "primary".into(),
        });
        frame += frames;
    }
    Manifest {
        job_id: ID.into(),
        sample_rate: 24_000,
        samples_per_frame: 3200,
        chunk_frames: 8,
        frames_total: 39,
        total_samples: 39 * 3200,
        chunks,
    }
}

fn error(code: u16) -> Seen {
    json(code, serde_json::json!({"error": "what is wrong"}))
}

/// What the reference worker answers.
fn conforming() -> Observations {
    let health = HealthReport {
        ok: true,
        worker: "primary".into(),
        backend: "cpu".into(),
        checks: vec![HealthCheck {
            name: "redis".into(),
            ok: true,
            detail: "answers".into(),
        }],
        contract_version: Some("1.0".into()),
    };
    let audio = samples();
    let mut second = status(JobState::Running, 0);
    second.id = "job-2".into();
    Observations {
        url: "http://127.0.0.1:1".into(),
        request: default_request(),
        health: json(200, serde_json::to_value(&health).unwrap()),
        submit: status_seen(&status(JobState::Running, 0), 201),
        repeat: Some(status_seen(&second, 201)),
        polls: (1..=5)
            .map(|c| Polled {
                at_ms: c * 400,
                seen: status_seen(
                    &status(
                        if c == 5 {
                            JobState::Done
                        } else {
                            JobState::Running
                        },
                        c,
                    ),
                    200,
                ),
            })
            .collect(),
        job_timeout: Duration::from_secs(60),
        audio: Some(Seen::Answer(Answer {
            status: 200,
            content_type: Some("audio/wav".into()),
            body: contract::write_wav_bytes(&audio),
        })),
        manifest: Some(json(200, serde_json::to_value(manifest(&audio)).unwrap())),
        unknown_job: error(404),
        not_json: error(400),
        unknown_field: error(400),
        no_turns: error(422),
    }
}

fn verdict(obs: &Observations, id: &str) -> (Verdict, String) {
    let c = judge(obs).clauses.into_iter().find(|c| c.id == id).unwrap();
    (c.verdict, c.evidence)
}

fn fails(obs: &Observations, id: &str, evidence: &str) {
    let (v, e) = verdict(obs, id);
    assert_eq!(v, Verdict::Fail, "{id}: {e}");
    assert!(
        e.contains(evidence),
        "{id}: {e:?} does not say {evidence:?}"
    );
}

#[test]
fn the_reference_answers_pass_every_clause() {
    let result = judge(&conforming());
    for c in &result.clauses {
        assert_eq!(c.verdict, Verdict::Pass, "{}: {}", c.id, c.evidence);
    }
    assert!(result.conforms());
    assert_eq!(result.summary.passed, CLAUSES.len());
    assert_eq!(result.job_id.as_deref(), Some(ID));
}

#[test]
fn health_must_agree_with_its_status_code() {
    let mut obs = conforming();
    obs.health = json(
        503,
        serde_json::json!({"ok": true, "worker": "w", "backend": "cpu", "checks": [{"name": "x", "ok": true, "detail": ""}]}),
    );
    fails(&obs, "health", "answered 503 but its report says ok: true");
    obs.health = Seen::Answer(Answer {
        status: 200,
        content_type: Some("text/plain".into()),
        body: b"OK".to_vec(),
    });
    fails(&obs, "health", "not a HealthReport");
    assert_eq!(verdict(&obs, "health.version").0, Verdict::Skip);
}

#[test]
fn a_missing_version_is_skipped_and_another_major_fails() {
    let mut obs = conforming();
    let mut report = obs.health_report().unwrap();
    report.contract_version = None;
    obs.health = json(200, serde_json::to_value(&report).unwrap());
    assert_eq!(verdict(&obs, "health.version").0, Verdict::Skip);
    report.contract_version = Some("2.0".into());
    obs.health = json(200, serde_json::to_value(&report).unwrap());
    fails(&obs, "health.version", "another major version");
}

#[test]
fn submit_wants_201_and_the_scripts_size() {
    let mut obs = conforming();
    obs.submit = status_seen(&status(JobState::Running, 0), 200);
    fails(&obs, "submit", "answered 200 (expected 201)");
    // Without an accepted job, the job's clauses are skipped, not failed.
    obs.submit = error(503);
    for id in [
        "submit.repeat",
        "status.states",
        "status.lease",
        "audio",
        "manifest",
    ] {
        assert_eq!(verdict(&obs, id).0, Verdict::Skip, "{id}");
    }
    let mut wrong = status(JobState::Running, 0);
    wrong.frames_total = 40;
    obs.submit = status_seen(&wrong, 201);
    fails(&obs, "submit", "frames_total 40 (the script has 39)");
}

#[test]
fn a_repeat_may_be_a_new_job_or_the_first_but_200_means_the_first() {
    let mut obs = conforming();
    obs.repeat = Some(status_seen(&status(JobState::Running, 1), 200));
    assert_eq!(verdict(&obs, "submit.repeat").0, Verdict::Pass);
    let mut other = status(JobState::Running, 0);
    other.id = "job-3".into();
    obs.repeat = Some(status_seen(&other, 200));
    fails(&obs, "submit.repeat", "200 must mean the first job");
    obs.repeat = Some(error(409));
    fails(&obs, "submit.repeat", "answered 409");
}

#[test]
fn status_must_move_forward_and_end_complete() {
    let mut obs = conforming();
    obs.polls[2].seen = status_seen(&status(JobState::Queued, 3), 200);
    fails(
        &obs,
        "status.states",
        "the state went back from running to queued",
    );
    let mut obs = conforming();
    obs.polls[2].seen = status_seen(&status(JobState::Running, 1), 200);
    fails(&obs, "status.states", "progress went back");
    let mut obs = conforming();
    obs.polls.pop();
    fails(
        &obs,
        "status.states",
        "had not ended 60 s after its submission",
    );
    obs.audio = None;
    obs.manifest = None;
    assert_eq!(verdict(&obs, "audio").0, Verdict::Skip);
    assert_eq!(verdict(&obs, "manifest.audio").0, Verdict::Skip);
    let mut obs = conforming();
    obs.polls[1].seen = Seen::NoAnswer("connection reset".into());
    fails(&obs, "status.states", "no answer: connection reset");
}

#[test]
fn a_running_status_must_show_its_lease() {
    let mut obs = conforming();
    let mut s = status(JobState::Running, 2);
    s.owner = None;
    obs.polls[1].seen = status_seen(&s, 200);
    fails(&obs, "status.lease", "owner null");
    let mut obs = conforming();
    let mut s = status(JobState::Running, 1);
    s.epoch = 2;
    obs.polls[0].seen = status_seen(&s, 200);
    fails(&obs, "status.lease", "the epoch went back");
    // A job seen only once it was done cannot show its lease: skipped.
    let mut obs = conforming();
    obs.submit = status_seen(&status(JobState::Done, 5), 201);
    obs.polls.retain(|p| p.at_ms == 2000);
    assert_eq!(verdict(&obs, "status.lease").0, Verdict::Skip);
}

#[test]
fn audio_needs_its_format_header_and_the_whole_job() {
    let mut obs = conforming();
    let Some(Seen::Answer(a)) = obs.audio.as_mut() else {
        unreachable!()
    };
    a.content_type = Some("application/octet-stream".into());
    fails(&obs, "audio", "Content-Type \"application/octet-stream\"");
    let mut obs = conforming();
    obs.audio = Some(Seen::Answer(Answer {
        status: 200,
        content_type: Some("audio/wav".into()),
        body: contract::write_wav_bytes(&samples()[..3200 * 32]),
    }));
    fails(&obs, "audio", "102400 samples for a done job of 39 frames");
    fails(&obs, "manifest.audio", "the audio has 102400");
}

#[test]
fn the_manifest_must_be_contiguous_and_hash_its_audio() {
    let audio = samples();
    let mut obs = conforming();
    let mut m = manifest(&audio);
    m.chunks.swap(1, 2);
    obs.manifest = Some(json(200, serde_json::to_value(&m).unwrap()));
    fails(&obs, "manifest", "chunk 1 is index 2");
    let mut m = manifest(&audio);
    m.chunks[3].blake3 = "0".repeat(64);
    obs.manifest = Some(json(200, serde_json::to_value(&m).unwrap()));
    assert_eq!(verdict(&obs, "manifest").0, Verdict::Pass);
    fails(&obs, "manifest.audio", "chunk 3 (samples 76800..102400)");
    let mut m = manifest(&audio);
    m.chunks.pop();
    obs.manifest = Some(json(200, serde_json::to_value(&m).unwrap()));
    fails(&obs, "manifest", "4 chunks for a done job of 5");
}

#[test]
fn errors_need_their_status_and_a_json_error() {
    let mut obs = conforming();
    obs.unknown_job = error(500);
    fails(&obs, "error.unknown_job", "answered 500 (expected 404)");
    obs.unknown_job = json(404, serde_json::json!({"message": "no"}));
    fails(&obs, "error.unknown_job", "no non-empty \"error\" string");
    obs.unknown_field = status_seen(&status(JobState::Running, 0), 201);
    fails(
        &obs,
        "error.bad_request",
        "an unknown field answered 201 (expected 400)",
    );
    obs.no_turns = error(400);
    fails(&obs, "error.invalid_request", "answered 400 (expected 422)");
}

#[test]
fn every_clause_is_listed_in_the_contract_document() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/worker-api.md"),
    )
    .unwrap();
    for c in CLAUSES {
        assert!(
            doc.contains(&format!("| `{}` |", c.id)),
            "docs/worker-api.md does not list the clause `{}`",
            c.id
        );
    }
    assert!(
        doc.contains(&format!(
            "Contract version: **{}**",
            contract::CONTRACT_VERSION
        )),
        "docs/worker-api.md does not state the contract version {}",
        contract::CONTRACT_VERSION
    );
}
