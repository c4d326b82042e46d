//! Running one shipped scenario end to end and reading what it left.

use std::path::PathBuf;

use takeover::report::model::Report;

/// What one `takeover run` left: its exit code, output and report.
pub struct DrillRun {
    /// The exit code (0 passed, 1 failed, 2 error, 3 inconclusive).
    pub code: Option<i32>,
    /// Standard output and error together, for messages.
    pub output: String,
    /// report.json.
    pub report: Report,
    /// report.md, as text.
    pub markdown: String,
    /// The report directory (removed by [`DrillRun::clean`]).
    pub dir: PathBuf,
}

impl DrillRun {
    /// Removes the report directory after asserting the run left no Docker object.
    pub fn clean(self) {
        for it in &self.report.iterations {
            let left = super::objects_with_label(&format!("takeover.run={}", it.run_id));
            assert!(left.is_empty(), "run {} left {left:?}", it.run_id);
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Runs `scenarios/<name>.yaml` once with plain output into a fresh report directory.
pub fn run_scenario(name: &str) -> DrillRun {
    run_scenario_with(name, &[])
}

/// [`run_scenario`] with extra `takeover run` arguments (`--keep-artifacts`).
pub fn run_scenario_with(name: &str, extra: &[&str]) -> DrillRun {
    run_scenario_file(
        name,
        &PathBuf::from(format!("scenarios/{name}.yaml")),
        extra,
    )
}

/// Runs the scenario file at `path` (relative to the workspace, or absolute),
/// named `name` in messages, with extra `takeover run` arguments.
pub fn run_scenario_file(name: &str, path: &std::path::Path, extra: &[&str]) -> DrillRun {
    run_scenario_file_env(name, path, extra, &[])
}

/// [`run_scenario_file`] with extra environment variables for `takeover`
/// (`KUBECONFIG` of a test bed, ...).
pub fn run_scenario_file_env(
    name: &str,
    path: &std::path::Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> DrillRun {
    super::require_docker();
    let dir = super::temp_dir(name);
    let started = std::time::Instant::now();
    let out = super::takeover()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("run")
        .arg(path)
        .arg("--plain")
        .args(extra)
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .expect("takeover runs");
    // Seen with `--nocapture`: what each drill costs the test suite.
    eprintln!(
        "{name}: takeover run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{name}: no report.json ({e})\n{output}"));
    let report: Report = serde_json::from_str(&text).unwrap();
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    DrillRun {
        code: out.status.code(),
        output,
        report,
        markdown,
        dir,
    }
}
