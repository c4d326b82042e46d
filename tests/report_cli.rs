//! `takeover report`, `compare` and `history` run as a user runs them, on the
//! recorded report in tests/fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-oom-kill/report.json")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("takeover-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_report(dir: &Path) -> serde_json::Value {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(fixture(), dir.join("report.json")).unwrap();
    serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap()
}

fn takeover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_takeover"))
        .args(args)
        .output()
        .expect("the takeover binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn report_rerenders_every_format_from_report_json() {
    let dir = scratch("report");
    copy_report(&dir);
    let out = takeover(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in [
        "report.html",
        "report.md",
        "junit.xml",
        "timeline-1.svg",
        "timeline-1-fault.svg",
    ] {
        assert!(dir.join(name).is_file(), "{name} missing");
        assert!(text(&out.stdout).contains(name), "{name} not listed");
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("oom-kill-primary: PASSED"));

    let only = scratch("report-junit");
    copy_report(&only);
    let out = takeover(&["report", only.to_str().unwrap(), "--format", "junit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(only.join("junit.xml").is_file());
    assert!(!only.join("report.html").exists());

    let missing = takeover(&["report", dir.join("nothing-here").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("report.json"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&only).unwrap();
}

#[test]
fn compare_catches_a_planted_regression_and_passes_an_unchanged_copy() {
    let root = scratch("compare");
    let base = root.join("base");
    let same = root.join("same");
    let worse = root.join("worse");
    copy_report(&base);
    copy_report(&same);
    let mut planted = copy_report(&worse);
    let p95 = planted["summary"]["figures"]["rto_ms"]["p95"]
        .as_f64()
        .unwrap();
    planted["summary"]["figures"]["rto_ms"]["p95"] = serde_json::json!(p95 * 1.5);
    std::fs::write(worse.join("report.json"), planted.to_string()).unwrap();
    let (b, s, w) = (
        base.to_str().unwrap(),
        same.to_str().unwrap(),
        worse.to_str().unwrap(),
    );

    let unchanged = takeover(&[
        "compare",
        b,
        s,
        "--threshold",
        "rto_ms=20%",
        "--threshold",
        "job_rto_ms=500ms",
    ]);
    assert_eq!(
        unchanged.status.code(),
        Some(0),
        "{}",
        text(&unchanged.stdout)
    );
    assert!(text(&unchanged.stdout).contains("no figure regressed"));

    let regressed = takeover(&["compare", b, w, "--threshold", "rto_ms=20%"]);
    assert_eq!(
        regressed.status.code(),
        Some(1),
        "{}",
        text(&regressed.stdout)
    );
    let table = text(&regressed.stdout);
    let line = table
        .lines()
        .find(|l| l.contains("REGRESSED"))
        .expect("a regressed row");
    assert!(
        line.starts_with("rto_ms") && line.contains("p95") && line.contains("+50%"),
        "{line}"
    );

    // A looser threshold lets the same change through.
    let loose = takeover(&["compare", b, w, "--threshold", "rto_ms.p95=60%"]);
    assert_eq!(loose.status.code(), Some(0), "{}", text(&loose.stdout));

    // The scenario's own regression section counts when the command line is silent.
    planted["scenario"]["definition"]["expect"]["regression"] =
        serde_json::json!({"rto_ms.p95": "100ms"});
    std::fs::write(worse.join("report.json"), planted.to_string()).unwrap();
    let from_scenario = takeover(&["compare", b, w]);
    assert_eq!(
        from_scenario.status.code(),
        Some(1),
        "{}",
        text(&from_scenario.stdout)
    );

    // Unreadable input and a malformed threshold: exit 2 with a reason.
    std::fs::write(same.join("report.json"), "not json").unwrap();
    let unreadable = takeover(&["compare", b, s]);
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(text(&unreadable.stderr).contains("cannot read the current report"));
    let bad = takeover(&["compare", b, w, "--threshold", "rto_ms=quick"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("FIGURE[.STAT]=LIMIT"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn history_shows_the_rto_trend_per_scenario() {
    let dir = scratch("history");
    let file = dir.join("history.jsonl");
    let mut lines = String::new();
    for (i, (scenario, p95)) in [
        ("kill", 300.0),
        ("kill", 600.0),
        ("pause", 900.0),
        ("kill", 450.0),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push_str(
            &serde_json::json!({
                "scenario": scenario, "started_at": format!("2026-11-2{}T01:00:00Z", i + 1),
                "outcome": "passed", "iterations": 3, "rto_p50_ms": p95 - 50.0, "rto_p95_ms": p95,
                "job_rto_p50_ms": 1500.0, "job_rto_p95_ms": 1800.0, "work_lost_frames_max": 8.0,
                "errors_max": 3.0, "run_id": format!("tk-{i}"), "report_dir": format!("reports/tk-{i}")
            })
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();
    let out = takeover(&[
        "history",
        "--file",
        file.to_str().unwrap(),
        "--scenario",
        "kill",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("kill  (3 runs)  rto p95 trend: ▁█▅"),
        "{shown}"
    );
    assert!(!shown.contains("pause"));
    let last = takeover(&["history", "--file", file.to_str().unwrap(), "--last", "1"]);
    let shown = text(&last.stdout);
    assert!(
        shown.contains("tk-3") && !shown.contains("tk-1 ") && shown.contains("tk-2"),
        "{shown}"
    );
    let empty = takeover(&[
        "history",
        "--file",
        dir.join("none.jsonl").to_str().unwrap(),
    ]);
    assert!(empty.status.success());
    assert!(text(&empty.stdout).contains("no runs recorded yet"));
    std::fs::remove_dir_all(&dir).unwrap();
}
