//! The rendered reports, pinned by snapshots (insta): report.md, junit.xml and
//! the outage chart, as `takeover report` writes them from the recorded report
//! in tests/fixtures. Everything in them comes from report.json (its times,
//! ids and host included), so they are the same on every machine.
//!
//! A change to a renderer shows here as a diff. When the change is meant,
//! review and accept it: `cargo insta review` (cargo-insta), or run the tests
//! with `INSTA_UPDATE=always` and check the rewritten `.snap` files with
//! `git diff tests/snapshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The fixture rendered once into a fresh directory, with no run history
/// beside it (the "last runs" table would depend on what else ran).
fn rendered() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("takeover-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/report-oom-kill/report.json"),
            dir.join("report.json"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_takeover"))
            .arg("report")
            .arg(&dir)
            .arg("--history")
            .arg(dir.join("no-history.jsonl"))
            .output()
            .expect("the takeover binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A rendered file, which must not name the directory it was written to.
fn file(name: &str) -> String {
    let dir = rendered();
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(
        !text.contains(dir.to_str().unwrap()),
        "{name} names its directory, which differs on every run"
    );
    text
}

#[test]
fn report_md() {
    insta::assert_snapshot!(file("report.md"));
}

#[test]
fn junit_xml() {
    insta::assert_snapshot!(file("junit.xml"));
}

#[test]
fn outage_chart_svg() {
    insta::assert_snapshot!(file("timeline-1-fault.svg"));
}
