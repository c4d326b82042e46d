//! `takeover verify` from files: exit codes and the messages for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use takeover::verify::synthetic::{manifest_for, speech_like};
use takeover::verify::tamper;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("takeover-verify-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn verify(args: &[&Path], flags: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_takeover"));
    cmd.arg("verify");
    for (flag, path) in ["--reference", "--candidate", "--manifest"]
        .iter()
        .zip(args)
    {
        if !path.as_os_str().is_empty() {
            cmd.arg(flag).arg(path);
        }
    }
    cmd.args(flags).output().expect("run takeover verify")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A job of 80 frames with a takeover at chunk 4, written as reference, candidate and manifest.
fn files(dir: &Dir) -> (PathBuf, PathBuf, PathBuf, Vec<i16>, contract::Manifest) {
    let samples = speech_like(80, 5);
    let manifest = manifest_for(&samples, 8, &[(4, "standby", 2)]);
    let (r, c, m) = (dir.path("ref.wav"), dir.path("out.wav"), dir.path("m.json"));
    contract::write_wav(&r, &samples).unwrap();
    contract::write_wav(&c, &samples).unwrap();
    std::fs::write(&m, serde_json::to_string(&manifest).unwrap()).unwrap();
    (r, c, m, samples, manifest)
}

#[test]
fn intact_audio_exits_zero_in_both_modes() {
    let dir = Dir::new("intact");
    let (r, c, m, _, _) = files(&dir);
    let out = verify(&[&r, &c, &m], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("intact (exact"));
    let out = verify(
        &[Path::new(""), &c, &m],
        &["--mode", "structural", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["mode"], "structural");
    assert_eq!(verdict["intact"], true);
    assert_eq!(verdict["seams"][0]["sample"], 4 * 25_600);
}

#[test]
fn damaged_audio_exits_one_with_the_place() {
    let dir = Dir::new("damaged");
    let (r, c, m, samples, manifest) = files(&dir);
    let damaged = tamper::drop_chunk(&samples, &manifest, 4).unwrap();
    contract::write_wav(&c, &damaged.samples).unwrap();
    let out = verify(&[&r, &c, &m], &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["intact"], false);
    assert_eq!(verdict["mismatch"]["chunk_index"], 4);
    assert_eq!(verdict["mismatch"]["at_seam"], true);
    assert_eq!(verdict["mismatch"]["length_difference"], -25_600);

    // Structural with the reference setting the expected length.
    std::fs::write(&m, serde_json::to_string(&damaged.manifest).unwrap()).unwrap();
    let out = verify(&[&r, &c, &m], &["--mode", "structural"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL length"), "{text}");
}

#[test]
fn unreadable_input_exits_two_naming_the_file() {
    let dir = Dir::new("bad");
    let (r, c, m, samples, _) = files(&dir);

    let truncated = dir.path("truncated.wav");
    let bytes = std::fs::read(&c).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let out = verify(&[&r, &truncated, &m], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("truncated.wav") && stderr(&out).contains("truncated"),
        "{}",
        stderr(&out)
    );

    let not_wav = dir.path("notes.wav");
    std::fs::write(&not_wav, "these are not samples").unwrap();
    let out = verify(&[&r, &not_wav, &m], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("notes.wav") && stderr(&out).contains("not a WAV file"),
        "{}",
        stderr(&out)
    );

    // A 16 kHz file: patch the rate (and byte rate) in a valid header.
    let mut bytes = contract::write_wav_bytes(&samples);
    bytes[24..28].copy_from_slice(&16_000u32.to_le_bytes());
    bytes[28..32].copy_from_slice(&32_000u32.to_le_bytes());
    let slow = dir.path("slow.wav");
    std::fs::write(&slow, bytes).unwrap();
    let out = verify(&[&slow, &c, &m], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("slow.wav") && stderr(&out).contains("16000 Hz"),
        "{}",
        stderr(&out)
    );

    let out = verify(&[&r, &dir.path("missing.wav"), &m], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.wav"), "{}", stderr(&out));

    let bad_manifest = dir.path("m-bad.json");
    std::fs::write(&bad_manifest, "{\"job_id\": 3}").unwrap();
    let out = verify(&[&r, &c, &bad_manifest], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("m-bad.json"), "{}", stderr(&out));

    let out = verify(
        &[Path::new(""), &c, Path::new("")],
        &["--mode", "structural"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--manifest"), "{}", stderr(&out));
}
