//! Hostile input: the cases a hostile user found (each as the binary runs
//! it), and a mutation test that feeds thousands of damaged scenarios,
//! manifests, WAVs and reports to `validate`, `verify`, `report` and
//! `compare`. Nothing may panic, hang, or fail without naming the file.
//!
//! `TAKEOVER_MUTATIONS=N` runs N mutations per input kind instead of the
//! default (a longer mode for a nightly job).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use takeover::exit::Outcome;
use takeover::verify::synthetic::{manifest_for, speech_like};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("takeover-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn report_fixture() -> PathBuf {
    root().join("tests/fixtures/report-oom-kill/report.json")
}

/// Runs the binary with a deadline: a hang is a failure, not a stuck test.
fn takeover(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_takeover"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the takeover binary runs");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: a plain signal to the child this test started.
            unsafe { libc::kill(id as i32, libc::SIGKILL) };
            panic!("takeover {args:?} did not end within 60 s");
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Audio of `frames` frames with a takeover at chunk 2, its manifest and their files.
fn job_files(dir: &Dir, frames: u64) -> (PathBuf, PathBuf, contract::Manifest) {
    let samples = speech_like(frames, 3);
    let manifest = manifest_for(&samples, 8, &[(2, "standby", 2)]);
    let (wav, m) = (dir.path("out.wav"), dir.path("m.json"));
    contract::write_wav(&wav, &samples).unwrap();
    std::fs::write(&m, serde_json::to_vec(&manifest).unwrap()).unwrap();
    (wav, m, manifest)
}

#[test]
fn an_expected_length_that_wraps_is_not_intact() {
    let dir = Dir::new("wrap");
    let (wav, m, manifest) = job_files(&dir, 40);
    let frames = (manifest.frames_total + (1 << 57)).to_string();
    let out = takeover(&[
        "verify",
        "--candidate",
        wav.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--expected-frames",
        &frames,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn devices_and_fifos_are_refused_at_once_naming_the_file() {
    let dir = Dir::new("fifo");
    std::fs::create_dir_all(dir.path("scripts")).unwrap();
    let zero = dir.path("zero.yaml");
    std::fs::write(&zero, "name: z\nworkload:\n  script: /dev/zero\n").unwrap();
    let out = takeover(&["validate", zero.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("zero.yaml:3:11: the script /dev/zero is a character device"),
        "{}",
        stderr(&out)
    );
    let fifo = dir.path("fifo.yaml");
    mkfifo(&fifo);
    let out = takeover(&["validate", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("fifo.yaml is a FIFO"),
        "{}",
        stderr(&out)
    );
    let (wav, _, _) = job_files(&dir, 16);
    let manifest_fifo = dir.path("m.fifo");
    mkfifo(&manifest_fifo);
    let out = takeover(&[
        "verify",
        "--candidate",
        wav.to_str().unwrap(),
        "--manifest",
        manifest_fifo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the manifest") && stderr(&out).contains("m.fifo is a FIFO"),
        "{}",
        stderr(&out)
    );
    // A directory: its cause once, not twice.
    let out = takeover(&[
        "verify",
        "--candidate",
        dir.0.to_str().unwrap(),
        "--manifest",
        wav.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).matches("directory").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_absurd_time_in_report_json_is_refused_naming_the_field() {
    let dir = Dir::new("absurd");
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_fixture()).unwrap()).unwrap();
    report["iterations"][0]["events"][0]["at_ms"] = serde_json::json!(1e308);
    std::fs::write(dir.path("report.json"), report.to_string()).unwrap();
    let out = takeover(&["report", dir.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("iterations[0].events[0].at_ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn markup_and_control_characters_in_a_report_never_reach_the_pages() {
    let dir = Dir::new("markup");
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_fixture()).unwrap()).unwrap();
    report["scenario"]["name"] = serde_json::json!("evil\u{0}\u{1b}<b>");
    report["scenario"]["description"] = serde_json::json!("<script>alert(1)</script>");
    report["expectations"][0]["evidence"] = serde_json::json!("a\u{0}<script>");
    std::fs::write(dir.path("report.json"), report.to_string()).unwrap();
    let out = takeover(&["report", dir.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in ["report.md", "report.html", "junit.xml", "timeline-1.svg"] {
        let text = std::fs::read_to_string(dir.path(file)).unwrap();
        assert!(!text.contains("<script>"), "{file} holds raw markup");
        assert!(
            !text.contains('\u{0}') && !text.contains('\u{1b}'),
            "{file} holds a control character"
        );
    }
}

#[test]
fn a_threshold_on_a_misspelt_figure_fails_the_gate_with_the_known_names() {
    let fixture = report_fixture();
    let f = fixture.to_str().unwrap();
    let out = takeover(&["compare", f, f, "--threshold", "rto=20%"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`rto`") && stderr(&out).contains("rto_ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_history_line_that_is_not_utf8_is_skipped_and_named() {
    let dir = Dir::new("history");
    let report = dir.path("run");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::copy(report_fixture(), report.join("report.json")).unwrap();
    std::fs::write(dir.path("history.jsonl"), b"{\"scenario\": \"caf\xe9\"}\n").unwrap();
    let out = takeover(&["report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left out: line 1"),
        "{}",
        stderr(&out)
    );
    let history = dir.path("history.jsonl");
    let out = takeover(&["history", "--file", history.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_8_bit_wav_is_called_8_bit_not_damaged() {
    let dir = Dir::new("8bit");
    let (_, m, _) = job_files(&dir, 16);
    // A plain 8-bit PCM WAV: RIFF header, fmt chunk, data chunk.
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 200) as u8).collect();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&24_000u32.to_le_bytes());
    bytes.extend_from_slice(&24_000u32.to_le_bytes()); // bytes a second
    bytes.extend_from_slice(&1u16.to_le_bytes()); // block align
    bytes.extend_from_slice(&8u16.to_le_bytes()); // bits
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    let path = dir.path("8bit.wav");
    std::fs::write(&path, bytes).unwrap();
    let out = takeover(&[
        "verify",
        "--candidate",
        path.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("8-bit int") && !stderr(&out).contains("damaged"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------
// The mutation test.

/// xorshift64*: a small deterministic generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens a hostile edit likes to plant.
const PLANTS: [&[u8]; 22] = [
    b"-1",
    b"0",
    b"1e308",
    b"-1e308",
    b"18446744073709551615",
    b"144115188075855872",
    b"4294967296",
    b"\0",
    b"\xff\xfe",
    b"../../",
    b"/dev/zero",
    b"<script>",
    b"\n",
    b"{",
    b"[",
    b"\"",
    b"0s",
    b"50us",
    b"&a [*a, *a]",
    b"null",
    b"NaN",
    b"      ",
];

/// One random edit of `input`: flip, drop, repeat or plant.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = out.len().max(1);
        let at = rng.below(len).min(out.len());
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            3 => out.truncate(at),
            _ => {
                let plant = PLANTS[rng.below(PLANTS.len())];
                // Over a digit run when there is one nearby: numbers are what breaks arithmetic.
                let end = out[at..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(out.len(), |p| at + p);
                out.splice(at..end, plant.iter().copied());
            }
        }
    }
    out
}

/// Runs `f` on its own thread: a panic or a run past the deadline is a failure.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => panic!("{what}: panicked"),
        Err(_) => panic!("{what}: still running after 10 s"),
    }
}

/// Runs a subcommand in process; an error must name `file`.
fn cli(args: Vec<String>, file: &Path, what: &str) -> Outcome {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let result = bounded(what, move || {
        let parsed = takeover::cli::Cli::try_parse_from(&args).expect("arguments parse");
        takeover::cli::execute(parsed).map_err(|e| takeover::cli::error_message(&e))
    });
    match result {
        Ok(outcome) => outcome,
        Err(message) => {
            assert!(
                message.contains(&name),
                "{what}: the error does not name {name}: {message}"
            );
            Outcome::BadInput
        }
    }
}

fn mutations() -> usize {
    std::env::var("TAKEOVER_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn mutated_scenarios_validate_or_fail_naming_the_file() {
    let dir = Dir::new("mut-scenario");
    std::fs::create_dir_all(dir.path("scripts")).unwrap();
    std::fs::create_dir_all(dir.path("runbooks")).unwrap();
    for entry in std::fs::read_dir(root().join("scenarios/scripts")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path("scripts").join(entry.file_name())).unwrap();
    }
    let shipped: Vec<Vec<u8>> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let rounds = mutations().max(1500);
    let mut rng = Rng(0x5eed_0001);
    let mut refused = 0;
    for round in 0..rounds {
        let input = mutate(&shipped[round % shipped.len()], &mut rng);
        let path = dir.path(&format!("m{}.yaml", round % 8));
        std::fs::write(&path, &input).unwrap();
        let what = format!("validate round {round}");
        let file = path.display().to_string();
        let loaded = bounded(&what, move || {
            takeover::scenario::load(Path::new(&file)).map_err(|e| (e.to_string(), e.render()))
        });
        if let Err((text, rendered)) = loaded {
            refused += 1;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(text.contains(&name), "{what}: {text}");
            assert!(rendered.contains(&name), "{what}: {rendered}");
        }
    }
    assert!(
        refused > rounds / 4,
        "only {refused} of {rounds} mutations were refused"
    );
}

#[test]
fn mutated_manifests_and_wavs_verify_or_fail_naming_the_file() {
    let dir = Dir::new("mut-verify");
    let (wav, m, _) = job_files(&dir, 24);
    let wav_bytes = std::fs::read(&wav).unwrap();
    let manifest_bytes = std::fs::read(&m).unwrap();
    let rounds = mutations().max(600);
    let mut rng = Rng(0x5eed_0002);
    for round in 0..rounds {
        let (cand, man) = (dir.path("c.wav"), dir.path("c.json"));
        if round % 2 == 0 {
            std::fs::write(&cand, &wav_bytes).unwrap();
            std::fs::write(&man, mutate(&manifest_bytes, &mut rng)).unwrap();
        } else {
            // Keep the RIFF header most of the time so the WAV decoder itself is reached.
            let mut bytes = mutate(&wav_bytes[12..], &mut rng);
            bytes.splice(0..0, wav_bytes[..12].iter().copied());
            std::fs::write(&cand, bytes).unwrap();
            std::fs::write(&man, &manifest_bytes).unwrap();
        }
        let file = if round % 2 == 0 { &man } else { &cand };
        let args = [
            "takeover",
            "verify",
            "--candidate",
            cand.to_str().unwrap(),
            "--manifest",
            man.to_str().unwrap(),
            "--json",
        ];
        let outcome = cli(
            args.iter().map(|s| s.to_string()).collect(),
            file,
            &format!("verify round {round}"),
        );
        assert_ne!(outcome, Outcome::Inconclusive, "verify round {round}");
    }
}

#[test]
fn mutated_reports_render_and_compare_or_fail_naming_the_file() {
    let dir = Dir::new("mut-report");
    let fixture = std::fs::read(report_fixture()).unwrap();
    let rounds = mutations().max(120);
    let mut rng = Rng(0x5eed_0003);
    let base = report_fixture();
    for round in 0..rounds {
        let run = dir.path(&format!("run-{}", round % 4));
        std::fs::create_dir_all(&run).unwrap();
        let report = run.join("report.json");
        std::fs::write(&report, mutate(&fixture, &mut rng)).unwrap();
        let args = [
            "takeover",
            "report",
            run.to_str().unwrap(),
            "--format",
            "html,md,junit",
        ];
        let outcome = cli(
            args.iter().map(|s| s.to_string()).collect(),
            &report,
            &format!("report round {round}"),
        );
        assert!(
            matches!(outcome, Outcome::Passed | Outcome::BadInput),
            "report round {round}: {outcome:?}"
        );
        let args = [
            "takeover",
            "compare",
            base.to_str().unwrap(),
            report.to_str().unwrap(),
            "--threshold",
            "rto_ms=20%",
        ];
        let outcome = cli(
            args.iter().map(|s| s.to_string()).collect(),
            &report,
            &format!("compare round {round}"),
        );
        assert_ne!(outcome, Outcome::Inconclusive, "compare round {round}");
    }
}
