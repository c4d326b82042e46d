//! The run history: one JSON line per run in `reports/history.jsonl`, so that
//! trends (RTO creeping up over weeks of nightly drills) are visible without
//! keeping every report directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::display::{number, sparkline};
use super::figure::Figure;
use super::model::{Report, RunOutcome};

/// File name of the history inside the reports directory.
pub const FILE_NAME: &str = "history.jsonl";

/// Why the history could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be read (not a regular file, too large).
    #[error("{source}")]
    Read {
        /// The history file.
        path: PathBuf,
        /// The cause, naming the file.
        source: crate::input::InputError,
    },
    /// The file could not be written.
    #[error("cannot access the run history {path}: {source}")]
    Io {
        /// The history file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The summary of one run as kept in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySummary {
    /// Scenario name.
    pub scenario: String,
    /// Wall time the run started.
    pub started_at: DateTime<Utc>,
    /// The run's verdict.
    pub outcome: RunOutcome,
    /// Iterations run.
    #[serde(default)]
    pub iterations: u32,
    /// Median front-door RTO across iterations, in ms.
    pub rto_p50_ms: Option<f64>,
    /// 95th percentile front-door RTO, in ms.
    pub rto_p95_ms: Option<f64>,
    /// Median job RTO, in ms.
    pub job_rto_p50_ms: Option<f64>,
    /// 95th percentile job RTO, in ms.
    #[serde(default)]
    pub job_rto_p95_ms: Option<f64>,
    /// 95th percentile outage (first failed probe to recovery), in ms.
    #[serde(default)]
    pub outage_p95_ms: Option<f64>,
    /// Median delay from the fault's request to its witness, in ms.
    #[serde(default)]
    pub witness_delay_p50_ms: Option<f64>,
    /// Median detection time (onset to the front door marking the primary down), in ms.
    #[serde(default)]
    pub detect_p50_ms: Option<f64>,
    /// Most frames lost in any iteration.
    pub work_lost_frames_max: Option<f64>,
    /// Most failed probes in any iteration.
    #[serde(default)]
    pub errors_max: Option<f64>,
    /// The run id.
    pub run_id: String,
    /// Where the run's reports are.
    pub report_dir: String,
}

impl HistorySummary {
    /// The summary of `report`, whose files are in `report_dir`.
    pub fn of(report: &Report, report_dir: &Path) -> Self {
        let figure = |figure: Figure| report.summary.figure(figure);
        Self {
            scenario: report.scenario.name.clone(),
            started_at: report.started_at,
            outcome: report.outcome,
            iterations: report.summary.iterations,
            rto_p50_ms: figure(Figure::Rto).and_then(|d| d.p50),
            rto_p95_ms: figure(Figure::Rto).and_then(|d| d.p95),
            job_rto_p50_ms: figure(Figure::JobRto).and_then(|d| d.p50),
            job_rto_p95_ms: figure(Figure::JobRto).and_then(|d| d.p95),
            outage_p95_ms: figure(Figure::Outage).and_then(|d| d.p95),
            witness_delay_p50_ms: figure(Figure::WitnessDelay).and_then(|d| d.p50),
            detect_p50_ms: figure(Figure::Detect).and_then(|d| d.p50),
            work_lost_frames_max: figure(Figure::WorkLost).and_then(|d| d.max),
            errors_max: figure(Figure::Errors).and_then(|d| d.max),
            run_id: report.run_id.clone(),
            report_dir: report_dir.display().to_string(),
        }
    }
}

/// The history file that goes with a report directory: `history.jsonl` in
/// the directory above it (`reports/history.jsonl` for `reports/<run>`).
pub fn path_for(report_dir: &Path) -> PathBuf {
    report_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(FILE_NAME)
}

/// Appends the summary of `report` (written to `report_dir`) to the history
/// file at `path`, creating it and its directory when missing.
pub fn append(
    path: &Path,
    report: &Report,
    report_dir: &Path,
) -> Result<HistorySummary, HistoryError> {
    let io = |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let summary = HistorySummary::of(report, report_dir);
    let mut line = serde_json::to_string(&summary).expect("a history summary always serializes");
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    // One write of the whole line: appends from concurrent runs do not interleave.
    file.write_all(line.as_bytes()).map_err(io)?;
    Ok(summary)
}

/// The runs read from a history file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Every readable entry, in file order (oldest first).
    pub entries: Vec<HistorySummary>,
    /// 1-based numbers of lines that could not be read (hand edits, a cut-off write).
    pub unreadable_lines: Vec<usize>,
}

/// Reads a history file; a missing file is an empty history. A line that is
/// not a summary (not JSON, not UTF-8, cut off) is left out and its number kept.
pub fn read(path: &Path) -> Result<History, HistoryError> {
    let bytes = match crate::input::read_bytes(path, "run history", crate::input::HISTORY_LIMIT) {
        Ok(bytes) => bytes,
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(History::default())
        }
        Err(source) => {
            return Err(HistoryError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut history = History::default();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(entry) => history.entries.push(entry),
            Err(_) => history.unreadable_lines.push(number + 1),
        }
    }
    Ok(history)
}

/// Line numbers as a short list for a warning: the first few, then a count.
pub fn line_list(lines: &[usize]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = lines.iter().take(SHOWN).map(|n| n.to_string()).collect();
    match lines.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The last `n` runs of `scenario` before the run `except_run` (which is left
/// out, so a report does not list itself), oldest first.
pub fn last_runs<'a>(
    entries: &'a [HistorySummary],
    scenario: &str,
    n: usize,
    except_run: Option<&str>,
) -> Vec<&'a HistorySummary> {
    let matching: Vec<&HistorySummary> = entries
        .iter()
        .filter(|e| e.scenario == scenario && Some(e.run_id.as_str()) != except_run)
        .collect();
    let skip = matching.len().saturating_sub(n);
    matching.into_iter().skip(skip).collect()
}

/// The RTO trend per scenario as a text table: one block per scenario with
/// a sparkline of p95 RTO and one row per run (the last `last` runs).
pub fn trend_table(entries: &[HistorySummary], scenario: Option<&str>, last: usize) -> String {
    // One pass: the runs of each scenario, scenarios in order of first appearance.
    let mut groups: Vec<(&str, Vec<&HistorySummary>)> = Vec::new();
    let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for entry in entries {
        if scenario.is_some_and(|s| s != entry.scenario) {
            continue;
        }
        let index = *group_of.entry(&entry.scenario).or_insert_with(|| {
            groups.push((&entry.scenario, Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(entry);
    }
    let mut out = String::new();
    for (name, all_runs) in groups {
        let runs = &all_runs[all_runs.len().saturating_sub(last)..];
        let p95: Vec<Option<f64>> = runs.iter().map(|r| r.rto_p95_ms).collect();
        out.push_str(&format!(
            "{name}  ({} runs)  rto p95 trend: {}\n",
            runs.len(),
            sparkline(&p95)
        ));
        out.push_str(&format!(
            "  {:<20} {:<12} {:>10} {:>10} {:>11} {:>11} {:>11} {:>12} {:>10}  {}\n",
            "started (UTC)",
            "outcome",
            "rto p50",
            "rto p95",
            "outage p95",
            "witness p50",
            "detect p50",
            "job rto p50",
            "lost max",
            "run id"
        ));
        for run in runs.iter().copied() {
            let ms = |v: Option<f64>| {
                v.map(|v| format!("{} ms", number(v)))
                    .unwrap_or_else(|| "—".into())
            };
            out.push_str(&format!(
                "  {:<20} {:<12} {:>10} {:>10} {:>11} {:>11} {:>11} {:>12} {:>10}  {}\n",
                run.started_at.format("%Y-%m-%d %H:%M:%S"),
                run.outcome.as_str(),
                ms(run.rto_p50_ms),
                ms(run.rto_p95_ms),
                ms(run.outage_p95_ms),
                ms(run.witness_delay_p50_ms),
                ms(run.detect_p50_ms),
                ms(run.job_rto_p50_ms),
                run.work_lost_frames_max
                    .map(number)
                    .unwrap_or_else(|| "—".into()),
                run.run_id
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("takeover-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn append_then_read_keeps_each_run_in_order() {
        let dir = temp_dir("append");
        let path = dir.join(FILE_NAME);
        let mut report = testdata::report();
        let first = append(&path, &report, &dir.join("run-1")).unwrap();
        assert_eq!(first.rto_p95_ms, Some(420.0));
        assert_eq!(first.rto_p50_ms, Some(380.0));
        report.run_id = "tk-second".into();
        report.outcome = RunOutcome::Failed;
        report.summary.figures.get_mut("rto_ms").unwrap().p95 = Some(900.0);
        append(&path, &report, &dir.join("run-2")).unwrap();
        let history = read(&path).unwrap();
        assert_eq!(history.entries.len(), 2);
        assert_eq!(history.entries[0], first);
        assert_eq!(history.entries[1].run_id, "tk-second");
        assert_eq!(history.entries[1].outcome, RunOutcome::Failed);
        assert_eq!(
            history.entries[1].report_dir,
            dir.join("run-2").display().to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_lines_are_counted_and_a_missing_file_is_empty() {
        let dir = temp_dir("broken");
        let path = dir.join(FILE_NAME);
        assert_eq!(read(&path).unwrap(), History::default());
        append(&path, &testdata::report(), &dir).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"scenario\": \"cut off\n").unwrap();
        let history = read(&path).unwrap();
        assert_eq!(history.entries.len(), 1);
        assert_eq!(history.unreadable_lines, vec![2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_that_is_not_utf8_is_left_out_by_number_not_the_whole_file() {
        let dir = temp_dir("latin1");
        let path = dir.join(FILE_NAME);
        append(&path, &testdata::report(), &dir).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"scenario\": \"caf\xe9\"}\n").unwrap();
        drop(file);
        append(&path, &testdata::report(), &dir).unwrap();
        let history = read(&path).unwrap();
        assert_eq!(history.entries.len(), 2);
        assert_eq!(history.unreadable_lines, vec![2]);
        assert_eq!(line_list(&[2]), "2");
        assert_eq!(
            line_list(&(1..=12).collect::<Vec<_>>()),
            "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_history_that_is_a_fifo_is_refused_not_waited_on() {
        let dir = temp_dir("fifo");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("FIFO") && err.contains(FILE_NAME), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn many_scenario_names_each_get_their_block_in_first_seen_order() {
        let base = HistorySummary::of(&testdata::report(), Path::new("r"));
        let names = 20_000;
        let entries: Vec<HistorySummary> = (0..names * 2)
            .map(|i| {
                let mut e = base.clone();
                e.scenario = format!("s{}", i % names);
                e.run_id = format!("run-{i}");
                e
            })
            .collect();
        let table = trend_table(&entries, None, 1);
        assert_eq!(table.matches("(1 runs)").count(), names);
        let first = table.find("s0  (").unwrap();
        let second = table.find("s1  (").unwrap();
        assert!(first < second);
        // Only the last run of each scenario is shown.
        assert!(table.contains(&format!("run-{}", names)) && !table.contains("run-0\n"));
    }

    #[test]
    fn last_runs_filters_by_scenario_and_leaves_out_the_current_run() {
        let base = HistorySummary::of(&testdata::report(), Path::new("r"));
        let mut entries = Vec::new();
        for i in 0..6 {
            let mut e = base.clone();
            e.run_id = format!("run-{i}");
            e.scenario = if i % 2 == 0 { "a" } else { "b" }.into();
            e.rto_p95_ms = Some(100.0 * i as f64);
            entries.push(e);
        }
        let runs = last_runs(&entries, "a", 2, Some("run-4"));
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["run-0", "run-2"]);
        let table = trend_table(&entries, Some("b"), 10);
        assert!(
            table.starts_with("b  (3 runs)  rto p95 trend: ▁▅█"),
            "{table}"
        );
        assert!(!table.contains("run-0"));
        assert_eq!(
            path_for(Path::new("reports/tk-1")),
            Path::new("reports/history.jsonl")
        );
        assert_eq!(path_for(Path::new("tk-1")), Path::new("./history.jsonl"));
    }
}
