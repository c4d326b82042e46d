//! The verifier on real worker audio: `synth-worker synth` renders the
//! shipped two-minute dialogue; the job is labelled as if the standby took
//! over at one chunk (a resumed job is bit-identical to an uninterrupted
//! one), then damaged in each way a faulty takeover could.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use contract::{Manifest, Wav};
use takeover::verify::calibration::{calibrate, TamperKind};
use takeover::verify::tamper::{self, Tampered};
use takeover::verify::{verify_exact, verify_structural, AudioVerdict, DetectorConfig, Mismatch};

/// The drilled job: audio, its manifest with a takeover at `seam`, the frames the script implies.
struct Job {
    samples: Vec<i16>,
    manifest: Manifest,
    seam: usize,
    frames: u64,
}

const CHUNK: u64 = 8 * 3200;

impl Job {
    /// The first sample of the chunk the standby took over at.
    fn seam_sample(&self) -> u64 {
        self.seam as u64 * CHUNK
    }

    /// The structural verdict on damaged audio under the manifest that describes it.
    fn structural(&self, damaged: &Tampered) -> AudioVerdict {
        verify_structural(&wav(&damaged.samples), &damaged.manifest, self.frames)
    }

    /// The exact comparison's first mismatch for damaged audio, which must lie
    /// within 64 samples after the seam.
    fn mismatch_at_seam(&self, damaged: &Tampered) -> Mismatch {
        let at = self.seam_sample();
        let exact = verify_exact(&self.samples, &damaged.samples, Some(&damaged.manifest));
        let m = exact.mismatch.clone().expect("a mismatch");
        assert!(m.first_sample >= at && m.first_sample < at + 64, "{m:?}");
        m
    }
}

/// The worker binary next to this test's profile directory, built if missing.
fn synth_worker() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("synth-worker{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "synth-worker"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p synth-worker");
        assert!(status.success(), "cargo build -p synth-worker failed");
    }
    assert!(bin.exists(), "no synth-worker binary at {}", bin.display());
    bin
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

fn job() -> &'static Job {
    static JOB: OnceLock<Job> = OnceLock::new();
    JOB.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("takeover-verify-worker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scripts/night-shift.yaml");
        let (wav, json) = (dir.join("ref.wav"), dir.join("ref.json"));
        let out = Command::new(synth_worker())
            .arg("synth")
            .arg("--script")
            .arg(&script)
            .arg("--out")
            .arg(&wav)
            .arg("--manifest")
            .arg(&json)
            .args(["--backend", "cpu"])
            .output()
            .expect("run synth-worker synth");
        assert!(
            out.status.success(),
            "synth-worker synth failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let samples = contract::read_wav(&wav).unwrap().samples;
        let mut manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        // The takeover: the first chunk from the middle on where the voice is
        // clearly audible on both sides, so a click there is a click in speech.
        let seam = (manifest.chunks.len() / 3..manifest.chunks.len() - 2)
            .find(|&i| {
                let at = (i as u64 * CHUNK) as usize;
                rms(&samples[at - 512..at]) > 1000.0 && rms(&samples[at..at + 512]) > 1000.0
            })
            .expect("an audible chunk boundary");
        for chunk in &mut manifest.chunks[seam..] {
            chunk.writer = "standby".into();
            chunk.epoch = 2;
        }
        let frames = manifest.frames_total;
        Job {
            samples,
            manifest,
            seam,
            frames,
        }
    })
}

fn wav(samples: &[i16]) -> Wav {
    Wav {
        sample_rate: 24_000,
        channels: 1,
        bits_per_sample: 16,
        samples: samples.to_vec(),
    }
}

fn failed(verdict: &AudioVerdict) -> Vec<&str> {
    verdict.failed_checks()
}

#[test]
fn untouched_worker_audio_passes_both_modes() {
    let job = job();
    let exact = verify_exact(&job.samples, &job.samples, Some(&job.manifest));
    assert!(exact.intact, "{}", exact.summary);
    assert_eq!(exact.seams.len(), 1);
    assert_eq!(exact.seams[0].sample, job.seam_sample());

    let structural = verify_structural(&wav(&job.samples), &job.manifest, job.frames);
    assert!(structural.intact, "{:#?}", structural.checks);
    let seams = structural.check("seams").unwrap();
    assert_eq!(
        seams.evidence["scanned"],
        job.manifest.chunks.len() - 1,
        "every boundary scanned"
    );
    assert_eq!(seams.evidence["resume_seams"], 1);
    assert_eq!(structural.seams.len(), 1);
    assert!(structural.seams[0].resume && !structural.seams[0].suspect);
}

#[test]
fn detector_raises_no_false_alarm_on_real_seams_and_keeps_a_margin() {
    let job = job();
    let detector = DetectorConfig::default();
    let calibration = calibrate(&job.samples, &job.manifest, &detector, 8000);
    println!("{calibration}");
    let clean = calibration.clean.expect("scored boundaries");
    assert_eq!(clean.count, job.manifest.chunks.len() - 1);
    assert_eq!(
        calibration.false_alarms, 0,
        "false alarms at {:?}",
        calibration.false_alarm_samples
    );
    assert!(
        clean.max < 0.75 * detector.threshold,
        "clean max {} too close to the threshold",
        clean.max
    );

    let kind = |k: TamperKind| calibration.tampered.iter().find(|c| c.kind == k).unwrap();
    let click = kind(TamperKind::Click);
    assert!(
        click.audible_detected * 100 >= click.audible_tried * 95,
        "clicks caught at {}/{} audible boundaries",
        click.audible_detected,
        click.audible_tried
    );
    for k in [TamperKind::RepeatChunk, TamperKind::DropChunk] {
        let c = kind(k);
        assert!(
            c.detected * 5 >= c.tried,
            "{k:?}: only {}/{} caught by the detector",
            c.detected,
            c.tried
        );
    }
}

#[test]
fn a_repeated_chunk_is_caught_with_its_place() {
    let job = job();
    let at = job.seam_sample();
    let damaged = tamper::repeat_chunk(&job.samples, &job.manifest, job.seam).unwrap();
    let verdict = job.structural(&damaged);
    assert!(!verdict.intact);
    let failed = failed(&verdict);
    assert!(
        failed.contains(&"length") && failed.contains(&"no-repeated-audio"),
        "{failed:?}"
    );
    assert_eq!(
        verdict.check("length").unwrap().evidence["difference_samples"],
        CHUNK as i64
    );
    let repeat = &verdict.check("no-repeated-audio").unwrap().evidence["repeats"][0];
    assert_eq!(repeat["index"], job.seam as u64);
    assert_eq!(repeat["first_sample"], at);
    assert_eq!(repeat["same_audio_as_index"], job.seam as u64 - 1);

    let m = job.mismatch_at_seam(&damaged);
    assert_eq!(m.chunk_index, Some(job.seam as u64));
    assert!(m.at_seam);
    assert_eq!(m.length_difference, CHUNK as i64);
}

#[test]
fn a_dropped_chunk_is_caught_with_its_place() {
    let job = job();
    let damaged = tamper::drop_chunk(&job.samples, &job.manifest, job.seam).unwrap();
    let verdict = job.structural(&damaged);
    let failed = failed(&verdict);
    assert!(
        failed.contains(&"length") && failed.contains(&"manifest-contiguous"),
        "{failed:?}"
    );
    assert_eq!(
        verdict.check("length").unwrap().evidence["difference_samples"],
        -(CHUNK as i64)
    );
    let contiguity = &verdict.check("manifest-contiguous").unwrap().evidence;
    assert_eq!(contiguity["frames_in_chunks"], job.frames - 8);

    let m = job.mismatch_at_seam(&damaged);
    assert!(m.at_seam);
    assert_eq!(m.length_difference, -(CHUNK as i64));
}

#[test]
fn a_one_sample_shift_is_caught_with_its_place() {
    let job = job();
    let damaged = tamper::shift_one_sample(&job.samples, &job.manifest, job.seam).unwrap();
    let verdict = job.structural(&damaged);
    let failed = failed(&verdict);
    assert!(
        failed.contains(&"length") && failed.contains(&"manifest-contiguous"),
        "{failed:?}"
    );
    assert_eq!(
        verdict.check("length").unwrap().evidence["difference_samples"],
        -1
    );
    let problem = &verdict.check("manifest-contiguous").unwrap().evidence["problems"][0];
    assert_eq!(problem["problem"], "sample_count");
    assert_eq!(problem["index"], job.seam as u64);

    let m = job.mismatch_at_seam(&damaged);
    assert_eq!(m.chunk_index, Some(job.seam as u64));
    assert!(m.at_seam);
    assert!(
        m.differing_samples > 1000,
        "everything after the seam moved: {m:?}"
    );
}

#[test]
fn a_click_at_the_seam_is_caught_by_the_detector_alone() {
    let job = job();
    let at = job.seam_sample();
    let damaged = tamper::splice_click(&job.samples, &job.manifest, job.seam, 8000).unwrap();
    let verdict = job.structural(&damaged);
    assert_eq!(failed(&verdict), vec!["seams"], "{:#?}", verdict.checks);
    let seam = verdict
        .seams
        .iter()
        .find(|s| s.suspect)
        .expect("a suspect seam");
    assert_eq!(seam.sample, at);
    assert!(seam.resume);
    assert!(seam.score.unwrap() > seam.threshold);
    assert!(seam.peak_sample.unwrap().abs_diff(at) <= 4, "{seam:?}");
    assert_eq!(verdict.check("seams").unwrap().evidence["suspect"], 1);
}

#[test]
fn damaged_audio_under_the_honest_manifest_fails_the_hashes() {
    let job = job();
    for damaged in [
        tamper::repeat_chunk(&job.samples, &job.manifest, job.seam).unwrap(),
        tamper::splice_click(&job.samples, &job.manifest, job.seam, 8000).unwrap(),
    ] {
        let verdict = verify_structural(&wav(&damaged.samples), &job.manifest, job.frames);
        let hashes = verdict.check("chunk-hashes").unwrap();
        assert!(!hashes.ok, "{}", damaged.what);
        assert_eq!(
            hashes.evidence["mismatches"][0]["index"], job.seam as u64,
            "{}",
            damaged.what
        );
    }
}

#[test]
fn a_chunk_from_a_fenced_off_writer_is_flagged() {
    let job = job();
    let mut manifest = job.manifest.clone();
    let zombie = job.seam + 3;
    manifest.chunks[zombie].writer = "primary".into();
    manifest.chunks[zombie].epoch = 1;
    let verdict = verify_structural(&wav(&job.samples), &manifest, job.frames);
    assert_eq!(failed(&verdict), vec!["epochs"]);
    let stale = &verdict.check("epochs").unwrap().evidence["stale"][0];
    assert_eq!(stale["index"], zombie as u64);
    assert_eq!(stale["newer_epoch_seen"], 2);
}
