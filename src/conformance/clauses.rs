//! The contract's clauses: one pure function each, over what a run observed.
//! `docs/worker-api.md` ("Proving your server conforms") lists them by id;
//! a test keeps the two equal.

use contract::{HealthReport, JobState, JobStatus, Manifest, SAMPLES_PER_FRAME, SAMPLE_RATE};

use super::observe::{Answer, Observations, Seen};
use super::Check;

/// One clause of the contract.
#[derive(Debug)]
pub struct Clause {
    /// Stable id, as the document lists it.
    pub id: &'static str,
    /// What it asks, in a few words.
    pub title: &'static str,
    /// The check.
    pub check: fn(&Observations) -> Check,
}

/// Every clause, in the order a run reports them.
pub static CLAUSES: &[Clause] = &[
    Clause {
        id: "health",
        title: "GET /health answers 200 or 503 with a HealthReport that agrees",
        check: health,
    },
    Clause {
        id: "health.version",
        title: "the health report names a contract version of the same major",
        check: health_version,
    },
    Clause {
        id: "submit",
        title: "POST /v1/jobs answers 201 with the new job's JobStatus",
        check: submit,
    },
    Clause {
        id: "submit.repeat",
        title: "the same POST with the same Idempotency-Key: a new job, or the first one",
        check: submit_repeat,
    },
    Clause {
        id: "status.states",
        title: "GET /v1/jobs/{id} moves running -> done, progress never going back",
        check: status_states,
    },
    Clause {
        id: "status.lease",
        title: "while running, the status shows the lease: owner and epoch",
        check: status_lease,
    },
    Clause {
        id: "audio",
        title: "GET /v1/jobs/{id}/audio: audio/wav, 24 kHz mono 16-bit, the whole job",
        check: audio,
    },
    Clause {
        id: "manifest",
        title: "GET /v1/jobs/{id}/manifest: every chunk, contiguous, in order",
        check: manifest,
    },
    Clause {
        id: "manifest.audio",
        title: "the manifest's chunks are the audio: lengths and blake3 hashes",
        check: manifest_audio,
    },
    Clause {
        id: "error.unknown_job",
        title: "GET /v1/jobs/{unknown id} answers 404 with {\"error\": ...}",
        check: error_unknown_job,
    },
    Clause {
        id: "error.bad_request",
        title: "a body that is not JSON or has an unknown field answers 400 with {\"error\": ...}",
        check: error_bad_request,
    },
    Clause {
        id: "error.invalid_request",
        title: "a well-formed request with no turns answers 422 with {\"error\": ...}",
        check: error_invalid_request,
    },
];

/// "no answer: ..." or "answered N", for evidence.
fn seen_text(seen: &Seen) -> String {
    match seen {
        Seen::NoAnswer(e) => format!("no answer: {e}"),
        Seen::Answer(a) => format!("answered {}", a.status),
    }
}

/// The answer of `seen` when it has status `want`; else a failure saying what came instead.
fn expect_status<'a>(what: &str, seen: &'a Seen, want: &[u16]) -> Result<&'a Answer, Check> {
    match seen {
        Seen::Answer(a) if want.contains(&a.status) => Ok(a),
        Seen::Answer(a) => Err(Check::fail(format!(
            "{what} answered {} (expected {}): {}",
            a.status,
            want.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            a.snippet()
        ))),
        Seen::NoAnswer(e) => Err(Check::fail(format!("{what}: no answer: {e}"))),
    }
}

/// An error answer as documented: `want`, and a JSON body `{"error": "<non-empty>"}`.
fn error_answer(what: &str, seen: &Seen, want: u16) -> Result<String, Check> {
    let a = expect_status(what, seen, &[want])?;
    let body: serde_json::Value = a.json().map_err(|e| {
        Check::fail(format!(
            "{what} answered {want} without a JSON body ({e}): {}",
            a.snippet()
        ))
    })?;
    match body.get("error").and_then(|e| e.as_str()) {
        Some(text) if !text.trim().is_empty() => Ok(format!("{what}: {want}, error {text:?}")),
        _ => Err(Check::fail(format!(
            "{what} answered {want} but its body has no non-empty \"error\" string: {}",
            a.snippet()
        ))),
    }
}

fn skip_no_job(obs: &Observations) -> Check {
    Check::skip(format!(
        "no job to look at: the submission {}",
        seen_text(&obs.submit)
    ))
}

/// The answer's body read as `T` (named `type_name`), or the failed check
/// that says which request answered what instead.
fn body_as<T: serde::de::DeserializeOwned>(
    a: &Answer,
    request: &str,
    type_name: &str,
) -> Result<T, Check> {
    a.json().map_err(|e| {
        Check::fail(format!(
            "{request} answered {} with a body that is not a {type_name} ({e}): {}",
            a.status,
            a.snippet()
        ))
    })
}

/// `health`.
pub fn health(obs: &Observations) -> Check {
    let a = match expect_status("GET /health", &obs.health, &[200, 503]) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let report: HealthReport = match body_as(a, "GET /health", "HealthReport") {
        Ok(r) => r,
        Err(c) => return c,
    };
    if report.ok != (a.status == 200) {
        return Check::fail(format!(
            "GET /health answered {} but its report says ok: {}",
            a.status, report.ok
        ));
    }
    if report.checks.is_empty() || report.checks.iter().any(|c| c.name.trim().is_empty()) {
        return Check::fail(format!(
            "GET /health answered {} with {} check(s), at least one expected and each named",
            a.status,
            report.checks.len()
        ));
    }
    if report.ok != report.checks.iter().all(|c| c.ok) {
        return Check::fail(format!(
            "GET /health says ok: {} but its checks disagree",
            report.ok
        ));
    }
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    Check::pass(format!(
        "{}, ok: {}, {} checks{} (worker {}, backend {})",
        a.status,
        report.ok,
        report.checks.len(),
        if failing.is_empty() {
            String::new()
        } else {
            format!(", failing: {}", failing.join(", "))
        },
        report.worker,
        report.backend
    ))
}

/// `health.version`.
pub fn health_version(obs: &Observations) -> Check {
    let Some(report) = obs.health_report() else {
        return Check::skip("no health report to read");
    };
    let ours = contract::CONTRACT_VERSION;
    let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
    match report.contract_version {
        None => Check::skip(format!(
            "the report has no contract_version (optional; this takeover checks {ours})"
        )),
        Some(v) if major(&v) == major(ours) && !v.is_empty() => Check::pass(format!(
            "contract_version {v} (this takeover checks {ours})"
        )),
        Some(v) => Check::fail(format!(
            "contract_version {v:?}: another major version than {ours}, or not MAJOR.MINOR"
        )),
    }
}

/// Ids as the contract allows them: `[A-Za-z0-9_-]{1,64}`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the contract says the submitted job needs: frames and chunks.
fn expected_size(obs: &Observations) -> (u64, u64) {
    let frames = contract::script_frames(&obs.request.script);
    let per = u64::from(obs.request.options.chunk_frames.max(1));
    (frames, frames.div_ceil(per))
}

/// `submit`.
pub fn submit(obs: &Observations) -> Check {
    let a = match expect_status("POST /v1/jobs", &obs.submit, &[201]) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let s: JobStatus = match body_as(a, "POST /v1/jobs", "JobStatus") {
        Ok(s) => s,
        Err(c) => return c,
    };
    let (frames, chunks) = expected_size(obs);
    let mut wrong = Vec::new();
    if !valid_id(&s.id) {
        wrong.push(format!("id {:?} is not [A-Za-z0-9_-]{{1,64}}", s.id));
    }
    if s.state == JobState::Failed {
        wrong.push(format!("state failed ({:?})", s.error));
    }
    if s.frames_total != frames {
        wrong.push(format!(
            "frames_total {} (the script has {frames})",
            s.frames_total
        ));
    }
    if s.chunks_total != chunks {
        wrong.push(format!(
            "chunks_total {} (expected {chunks})",
            s.chunks_total
        ));
    }
    if s.frames_done > s.frames_total || s.chunks_committed > s.chunks_total {
        wrong.push(format!(
            "progress {}/{} frames, {}/{} chunks",
            s.frames_done, s.frames_total, s.chunks_committed, s.chunks_total
        ));
    }
    if wrong.is_empty() {
        Check::pass(format!(
            "201, job {} {}, {} frames in {} chunks",
            s.id,
            state_word(s.state),
            s.frames_total,
            s.chunks_total
        ))
    } else {
        Check::fail(format!("201, but {}", wrong.join("; ")))
    }
}

/// `submit.repeat`.
pub fn submit_repeat(obs: &Observations) -> Check {
    let (Some(first), Some(repeat)) = (obs.submitted(), obs.repeat.as_ref()) else {
        return skip_no_job(obs);
    };
    let a = match expect_status("the repeated POST /v1/jobs", repeat, &[200, 201]) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let s: JobStatus = match body_as(a, "the repeated POST", "JobStatus") {
        Ok(s) => s,
        Err(c) => return c,
    };
    match (a.status, s.id == first.id) {
        (201, false) => Check::pass(format!(
            "201, a second job {} (the key is not honoured, as the contract allows)",
            s.id
        )),
        (_, true) => Check::pass(format!(
            "{}, the first job {} again (the key is honoured)",
            a.status, s.id
        )),
        (status, false) => Check::fail(format!(
            "{status} with another job {} than the first {}: 200 must mean the first job",
            s.id, first.id
        )),
    }
}

fn state_word(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    }
}

/// `status.states`.
pub fn status_states(obs: &Observations) -> Check {
    let Some(first) = obs.submitted() else {
        return skip_no_job(obs);
    };
    for p in &obs.polls {
        if let Err(c) = expect_status(&format!("GET /v1/jobs/{}", first.id), &p.seen, &[200]) {
            return Check::fail(format!("at {} ms: {}", p.at_ms, c.evidence));
        }
    }
    let statuses = obs.statuses();
    if statuses.len() != obs.polls.len() {
        return Check::fail(format!(
            "{} of {} status answers are not a JobStatus",
            obs.polls.len() - statuses.len(),
            obs.polls.len()
        ));
    }
    let rank = |s: JobState| match s {
        JobState::Queued => 0,
        JobState::Running => 1,
        JobState::Done | JobState::Failed => 2,
    };
    let mut path: Vec<&'static str> = vec![state_word(first.state)];
    let mut prev = first.clone();
    for s in &statuses {
        if s.id != first.id {
            return Check::fail(format!("a status of job {} for job {}", s.id, first.id));
        }
        if rank(s.state) < rank(prev.state) {
            return Check::fail(format!(
                "the state went back from {} to {}",
                state_word(prev.state),
                state_word(s.state)
            ));
        }
        if s.frames_done < prev.frames_done || s.chunks_committed < prev.chunks_committed {
            return Check::fail(format!(
                "progress went back: {} -> {} frames, {} -> {} chunks",
                prev.frames_done, s.frames_done, prev.chunks_committed, s.chunks_committed
            ));
        }
        if s.frames_done > s.frames_total || s.chunks_committed > s.chunks_total {
            return Check::fail(format!(
                "progress past the end: {}/{} frames, {}/{} chunks",
                s.frames_done, s.frames_total, s.chunks_committed, s.chunks_total
            ));
        }
        if path.last() != Some(&state_word(s.state)) {
            path.push(state_word(s.state));
        }
        prev = s.clone();
    }
    let Some(last) = obs.final_status() else {
        return Check::fail(format!(
            "the job had not ended {} s after its submission ({} polls, last state {}, {}/{} frames); a longer --timeout or a shorter --script?",
            obs.job_timeout.as_secs_f64(),
            obs.polls.len(),
            state_word(prev.state),
            prev.frames_done,
            prev.frames_total
        ));
    };
    if last.state == JobState::Failed {
        return Check::fail(format!(
            "the job failed: {}",
            last.error.unwrap_or_default()
        ));
    }
    if last.frames_done != last.frames_total || last.chunks_committed != last.chunks_total {
        return Check::fail(format!(
            "done with {}/{} frames and {}/{} chunks committed",
            last.frames_done, last.frames_total, last.chunks_committed, last.chunks_total
        ));
    }
    if last.error.is_some() {
        return Check::fail(format!("done, but error is set: {:?}", last.error));
    }
    Check::pass(format!(
        "200 x {}, {} ({} frames, {} chunks)",
        statuses.len(),
        path.join(" -> "),
        last.frames_done,
        last.chunks_committed
    ))
}

/// `status.lease`.
pub fn status_lease(obs: &Observations) -> Check {
    let Some(first) = obs.submitted() else {
        return skip_no_job(obs);
    };
    let statuses = obs.statuses();
    let running: Vec<&JobStatus> = std::iter::once(&first)
        .chain(statuses.iter())
        .filter(|s| s.state == JobState::Running)
        .collect();
    if running.is_empty() {
        return Check::skip(
            "the job was never seen running (it ended before the first poll); a longer --script lets the lease be seen",
        );
    }
    let mut epochs = Vec::new();
    for s in &running {
        match s.owner.as_deref() {
            Some(o) if !o.trim().is_empty() && s.epoch >= 1 => {}
            _ => {
                return Check::fail(format!(
                    "a running status without its lease: owner {}, epoch {}",
                    serde_json::to_string(&s.owner).unwrap_or_default(),
                    s.epoch
                ))
            }
        }
        epochs.push(s.epoch);
    }
    if epochs.windows(2).any(|w| w[1] < w[0]) {
        return Check::fail(format!("the epoch went back: {epochs:?}"));
    }
    let holders: Vec<String> = {
        let mut h: Vec<String> = Vec::new();
        for s in &running {
            let label = format!("{} at epoch {}", s.owner.as_deref().unwrap_or(""), s.epoch);
            if h.last() != Some(&label) {
                h.push(label);
            }
        }
        h
    };
    Check::pass(format!(
        "{} running status(es), lease held by {}",
        running.len(),
        holders.join(", then ")
    ))
}

/// `audio`.
pub fn audio(obs: &Observations) -> Check {
    let Some(seen) = obs.audio.as_ref().filter(|_| obs.submitted().is_some()) else {
        return skip_unended(obs);
    };
    let a = match expect_status("GET audio", seen, &[200]) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let ct = a.content_type.as_deref().unwrap_or("");
    if !ct.starts_with("audio/wav") {
        return Check::fail(format!("200, but Content-Type {ct:?} (expected audio/wav)"));
    }
    let wav = match contract::read_wav_bytes(&a.body) {
        Ok(w) => w,
        Err(e) => {
            return Check::fail(format!(
                "200 audio/wav, but not a WAV this contract reads: {e}"
            ))
        }
    };
    if wav.sample_rate != SAMPLE_RATE || wav.channels != 1 || wav.bits_per_sample != 16 {
        return Check::fail(format!(
            "a WAV of {} Hz, {} channel(s), {} bits (expected {SAMPLE_RATE} Hz mono 16-bit)",
            wav.sample_rate, wav.channels, wav.bits_per_sample
        ));
    }
    let (frames, _) = expected_size(obs);
    let want = frames * SAMPLES_PER_FRAME as u64;
    if wav.samples.len() as u64 != want {
        return Check::fail(format!(
            "{} samples for a done job of {frames} frames (expected {want})",
            wav.samples.len()
        ));
    }
    Check::pass(format!(
        "200, {ct}, {SAMPLE_RATE} Hz mono 16-bit, {} samples ({frames} frames)",
        wav.samples.len()
    ))
}

fn skip_unended(obs: &Observations) -> Check {
    if obs.submitted().is_none() {
        return skip_no_job(obs);
    }
    Check::skip("the job did not end in time, so its whole audio and manifest were not asked for")
}

/// The manifest the run fetched, or the check to report instead.
fn fetched_manifest(obs: &Observations) -> Result<Manifest, Check> {
    let Some(seen) = obs.manifest.as_ref().filter(|_| obs.submitted().is_some()) else {
        return Err(skip_unended(obs));
    };
    let a = expect_status("GET manifest", seen, &[200])?;
    a.json().map_err(|e| {
        Check::fail(format!(
            "200, but the body is not a Manifest ({e}): {}",
            a.snippet()
        ))
    })
}

/// `manifest`.
pub fn manifest(obs: &Observations) -> Check {
    let m = match fetched_manifest(obs) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let id = obs.job_id().unwrap_or_default();
    let (frames, chunks) = expected_size(obs);
    let spf = SAMPLES_PER_FRAME as u64;
    let mut wrong = Vec::new();
    if m.job_id != id {
        wrong.push(format!("job_id {:?} (asked for {id:?})", m.job_id));
    }
    if m.sample_rate != SAMPLE_RATE || m.samples_per_frame != spf {
        wrong.push(format!(
            "sample_rate {} and samples_per_frame {} (expected {SAMPLE_RATE} and {spf})",
            m.sample_rate, m.samples_per_frame
        ));
    }
    if m.chunk_frames != u64::from(obs.request.options.chunk_frames) {
        wrong.push(format!(
            "chunk_frames {} (the job asked for {})",
            m.chunk_frames, obs.request.options.chunk_frames
        ));
    }
    if m.frames_total != frames || m.total_samples != frames * spf {
        wrong.push(format!(
            "frames_total {} and total_samples {} (expected {frames} and {})",
            m.frames_total,
            m.total_samples,
            frames * spf
        ));
    }
    if m.chunks.len() as u64 != chunks {
        wrong.push(format!(
            "{} chunks for a done job of {chunks}",
            m.chunks.len()
        ));
    }
    let (mut frame, mut sample) = (0u64, 0u64);
    for (i, c) in m.chunks.iter().enumerate() {
        let fits = c.index == i as u64
            && c.first_frame == frame
            && c.first_sample == sample
            && c.frames >= 1
            && c.frames <= m.chunk_frames
            && c.sample_count == c.frames * spf;
        if !fits {
            wrong.push(format!(
                "chunk {i} is index {}, frames {}+{}, samples {}+{} (expected index {i} at frame {frame}, sample {sample}, {spf} samples a frame, at most {} frames)",
                c.index, c.first_frame, c.frames, c.first_sample, c.sample_count, m.chunk_frames
            ));
            break;
        }
        if c.epoch < 1 || c.writer.trim().is_empty() || c.blake3.len() != 64 {
            wrong.push(format!(
                "chunk {i} has epoch {}, writer {:?}, blake3 {:?} (expected an epoch from 1, a writer and a 64-digit hash)",
                c.epoch, c.writer, c.blake3
            ));
            break;
        }
        frame += c.frames;
        sample += c.sample_count;
    }
    if wrong.is_empty() && sample != m.total_samples {
        wrong.push(format!(
            "the chunks hold {sample} samples, total_samples says {}",
            m.total_samples
        ));
    }
    if !wrong.is_empty() {
        return Check::fail(format!("200, but {}", wrong.join("; ")));
    }
    let mut writers: Vec<String> = Vec::new();
    for c in &m.chunks {
        let w = format!("{}@{}", c.writer, c.epoch);
        if writers.last() != Some(&w) {
            writers.push(w);
        }
    }
    Check::pass(format!(
        "200, {} contiguous chunks, {} frames, {} samples, written by {}",
        m.chunks.len(),
        m.frames_total,
        m.total_samples,
        writers.join(", ")
    ))
}

/// `manifest.audio`.
pub fn manifest_audio(obs: &Observations) -> Check {
    let m = match fetched_manifest(obs) {
        Ok(m) => m,
        Err(c) if c.verdict == super::Verdict::Skip => return c,
        Err(_) => return Check::skip("no manifest to compare (see the manifest clause)"),
    };
    let wav = obs
        .audio
        .as_ref()
        .and_then(Seen::answer)
        .filter(|a| a.status == 200)
        .and_then(|a| contract::read_wav_bytes(&a.body).ok());
    let Some(wav) = wav else {
        return Check::skip("no audio to compare (see the audio clause)");
    };
    let held: u64 = m.chunks.iter().map(|c| c.sample_count).sum();
    if held != wav.samples.len() as u64 {
        return Check::fail(format!(
            "the manifest's chunks hold {held} samples, the audio has {}",
            wav.samples.len()
        ));
    }
    for c in &m.chunks {
        let (from, to) = (
            c.first_sample as usize,
            (c.first_sample + c.sample_count) as usize,
        );
        let Some(pcm) = wav.samples.get(from..to) else {
            return Check::fail(format!(
                "chunk {} spans samples {from}..{to}, past the audio's {}",
                c.index,
                wav.samples.len()
            ));
        };
        let hash = contract::chunk_hash(pcm);
        if hash != c.blake3 {
            return Check::fail(format!(
                "chunk {} (samples {from}..{to}): the audio hashes to {hash}, the manifest says {}",
                c.index, c.blake3
            ));
        }
    }
    Check::pass(format!(
        "{} chunks, {held} samples: every chunk's blake3 matches its audio",
        m.chunks.len()
    ))
}

/// `error.unknown_job`.
pub fn error_unknown_job(obs: &Observations) -> Check {
    match error_answer("GET /v1/jobs/{unknown id}", &obs.unknown_job, 404) {
        Ok(e) => Check::pass(e),
        Err(c) => c,
    }
}

/// `error.bad_request`.
pub fn error_bad_request(obs: &Observations) -> Check {
    let mut seen = Vec::new();
    for (what, s) in [
        ("a body that is not JSON", &obs.not_json),
        ("an unknown field", &obs.unknown_field),
    ] {
        match error_answer(what, s, 400) {
            Ok(e) => seen.push(e),
            Err(c) => return c,
        }
    }
    Check::pass(seen.join("; "))
}

/// `error.invalid_request`.
pub fn error_invalid_request(obs: &Observations) -> Check {
    match error_answer("a request with no turns", &obs.no_turns, 422) {
        Ok(e) => Check::pass(e),
        Err(c) => c,
    }
}
