//! Writing and reading `report.json`.

use std::path::{Path, PathBuf};

use super::model::{Report, SCHEMA_VERSION};

/// File name of the JSON report inside a report directory.
pub const FILE_NAME: &str = "report.json";

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportJsonError {
    /// The file could not be read (missing, not a regular file, too large).
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause, naming the file.
        source: crate::input::InputError,
    },
    /// The file could not be written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a report this build understands.
    #[error("{path} is not a takeover report: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A field holds a value of the wrong type or out of range.
    #[error("{path} is not a takeover report: `{field}`: {message}")]
    Field {
        /// The file.
        path: PathBuf,
        /// Where in the JSON (`iterations[0].events[3].at_ms`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The report was written by a newer layout.
    #[error("{path} has report layout {found}, newer than this build's {SCHEMA_VERSION}: use a newer takeover")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
    },
}

/// Writes `report.json` into `dir` (created if missing), atomically; returns its path.
pub fn write(report: &Report, dir: &Path) -> Result<PathBuf, ReportJsonError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportJsonError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let text = serde_json::to_vec_pretty(report).map_err(|source| ReportJsonError::Format {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// Reads a report from a `report.json` file or from a directory holding one.
pub fn read(path: &Path) -> Result<Report, ReportJsonError> {
    let file = if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    };
    let text = crate::input::read_bytes(&file, "report", crate::input::REPORT_LIMIT).map_err(
        |source| ReportJsonError::Read {
            path: file.clone(),
            source,
        },
    )?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| ReportJsonError::Format {
            path: file.clone(),
            source,
        })?;
    let found = value
        .get("schema_version")
        .and_then(|v| v.as_u64())
        .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX));
    if found > SCHEMA_VERSION {
        return Err(ReportJsonError::TooNew { path: file, found });
    }
    if let Some((field, t)) = absurd_time(&value, &mut String::new()) {
        return Err(ReportJsonError::Field {
            path: file,
            field,
            message: format!(
                "{t} ms is not a time of a drill (times lie within ±{MAX_TIME_MS:e} ms, about 116 days)"
            ),
        });
    }
    serde_path_to_error::deserialize(&value).map_err(|err| ReportJsonError::Field {
        path: file,
        field: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

/// Largest time, in ms from an iteration's start, that report.json may hold.
/// Charts and tables are drawn over the times, so an absurd one is refused.
pub const MAX_TIME_MS: f64 = 1e10;

/// The first time field (a number under a key ending in `_ms`, or in an
/// array under one) beyond [`MAX_TIME_MS`], with its place in the JSON.
fn absurd_time(value: &serde_json::Value, at: &mut String) -> Option<(String, f64)> {
    use serde_json::Value;
    let timed = at.ends_with("_ms") || at.ends_with("_ms]") || at.contains("_ms[");
    match value {
        Value::Number(n) if timed => n
            .as_f64()
            .filter(|t| t.abs() > MAX_TIME_MS)
            .map(|t| (at.clone(), t)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            let found = absurd_time(item, at);
            at.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = at.len();
            if !at.is_empty() {
                at.push('.');
            }
            at.push_str(key);
            let found = absurd_time(item, at);
            at.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::*;

    fn sample() -> Report {
        let t0: chrono::DateTime<chrono::Utc> = "2026-11-25T23:00:00Z".parse().unwrap();
        let iteration = Iteration {
            index: 1,
            run_id: "tk-20261125-230000-abcd".into(),
            started_at: t0,
            duration_ms: 21_500.0,
            outcome: IterationOutcome::Passed,
            reasons: vec![],
            events: vec![
                Event {
                    at_ms: 5_000.0,
                    kind: EventKind::FaultRequested,
                    detail: "oom-kill primary".into(),
                },
                Event {
                    at_ms: 5_210.5,
                    kind: EventKind::FaultInEffect,
                    detail: "oom event, exit 137".into(),
                },
            ],
            figures: Figures {
                rto_ms: Some(640.0),
                job_rto_ms: Some(1_800.0),
                work_lost_frames: Some(8),
                errors: 3,
                fault_effect_delay_ms: Some(210.5),
                detect_ms: Some(300.0),
                latency: LatencySplit::default(),
                probes: 1000,
                ..Figures::default()
            },
            faults: vec![FaultRecord {
                step: 0,
                kind: "oom-kill".into(),
                target: "primary".into(),
                requested_at_ms: 5_000.0,
                in_effect_at_ms: Some(5_210.5),
                witness: Some("OOMKilled=true".into()),
                evidence: serde_json::json!({"exit_code": 137}),
                unavailable: None,
                error: None,
            }],
            runbooks: vec![],
            probes: ProbeSeries {
                path: "/health".into(),
                interval_ms: 20.0,
                scheduled_ms: vec![0.0, 20.0],
                sent_ms: vec![0.1, 20.2],
                latency_ms: vec![1.5, 1000.0],
                status: vec![200, 0],
                ok: vec![true, false],
                served_by: vec!["primary".into(), String::new()],
                errors: vec![(1, "timed out".into())],
            },
            job: None,
            frontdoor: vec![],
            frontdoor_accounts: vec![],
            audio: None,
            phases_ms: [("stack_up".to_string(), 1500.0)].into_iter().collect(),
        };
        Report {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::current(),
            run_id: "tk-20261125-230000-abcd".into(),
            scenario: ScenarioRecord {
                name: "oom-kill-primary".into(),
                description: "d".into(),
                file: "scenarios/oom-kill-primary.yaml".into(),
                definition: serde_json::json!({"name": "oom-kill-primary"}),
            },
            started_at: t0,
            ended_at: t0 + chrono::Duration::seconds(22),
            environment: Environment::default(),
            probe_interval_ms: 20.0,
            iterations: vec![iteration],
            summary: Summary::default(),
            expectations: vec![ExpectationResult {
                name: "rto.p95".into(),
                figure: "rto_ms".into(),
                statistic: "p95".into(),
                threshold: 1000.0,
                measured: Some(640.0),
                unit: "ms".into(),
                verdict: Verdict::Held,
                evidence: "p95 640 ms <= 1000 ms".into(),
            }],
            outcome: RunOutcome::Passed,
            exit_code: 0,
            artifacts: vec![],
            not_applicable: vec![],
        }
    }

    #[test]
    fn a_report_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("takeover-json-{}", std::process::id()));
        let report = sample();
        let path = write(&report, &dir).unwrap();
        assert_eq!(path.file_name().unwrap(), FILE_NAME);
        let back = read(&dir).unwrap();
        assert_eq!(back, report);
        let text = std::fs::read_to_string(&path).unwrap();
        // Field names are the documented interface.
        for field in [
            "\"rto_ms\"",
            "\"job_rto_ms\"",
            "\"work_lost_frames\"",
            "\"fault_in_effect\"",
        ] {
            assert!(text.contains(field), "{field} missing");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Where each stored report's bytes as this build writes them are kept:
    /// written once by the build before the model became typed, so a change
    /// of layout shows as a difference. `TAKEOVER_BLESS=1` writes them anew.
    fn golden(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/written/{name}"))
    }

    fn same_bytes(what: &str, written: &[u8], golden: &Path) {
        if std::env::var_os("TAKEOVER_BLESS").is_some() {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(golden, written).unwrap();
        }
        let stored = std::fs::read(golden).unwrap();
        if written != stored {
            let at = written
                .iter()
                .zip(&stored)
                .take_while(|(a, b)| a == b)
                .count();
            let show = |b: &[u8]| {
                String::from_utf8_lossy(&b[at.saturating_sub(80)..(at + 80).min(b.len())])
                    .to_string()
            };
            panic!(
                "{what} is written differently from byte {at}:\nnow    {}\nbefore {}",
                show(written),
                show(&stored)
            );
        }
    }

    /// Every stored report, and a report with every field set, is written
    /// byte for byte as before: the typed model keeps report.json's layout.
    #[test]
    fn stored_reports_are_written_byte_identical() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (file, name) in [
            (
                "tests/fixtures/report-oom-kill/report.json",
                "report-oom-kill.json",
            ),
            ("reports/example/report.json", "example.json"),
        ] {
            let report = read(&root.join(file)).unwrap();
            let written = serde_json::to_vec(&report).unwrap();
            same_bytes(file, &written, &golden(name));
        }
        let full = serde_json::to_vec(&crate::report::testdata::report()).unwrap();
        same_bytes("the test report", &full, &golden("testdata.json"));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_an_absurd_time_is_refused() {
        let dir = std::env::temp_dir().join(format!("takeover-json-field-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();
        value["iterations"][0]["figures"]["errors"] = serde_json::json!("many");
        std::fs::write(dir.join(FILE_NAME), value.to_string()).unwrap();
        let err = read(&dir).unwrap_err().to_string();
        assert!(err.contains("iterations[0].figures.errors"), "{err}");
        for (place, field) in [
            (
                "/iterations/0/events/1/at_ms",
                "iterations[0].events[1].at_ms",
            ),
            (
                "/iterations/0/probes/scheduled_ms/1",
                "iterations[0].probes.scheduled_ms[1]",
            ),
            ("/iterations/0/duration_ms", "iterations[0].duration_ms"),
        ] {
            let mut value = serde_json::to_value(sample()).unwrap();
            *value.pointer_mut(place).unwrap() = serde_json::json!(1e308);
            std::fs::write(dir.join(FILE_NAME), value.to_string()).unwrap();
            let err = read(&dir).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("not a time"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_layout_or_a_stranger_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("takeover-json-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();
        value["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        std::fs::write(dir.join(FILE_NAME), value.to_string()).unwrap();
        assert!(matches!(read(&dir), Err(ReportJsonError::TooNew { .. })));
        std::fs::write(dir.join(FILE_NAME), "{\"hello\": 1}").unwrap();
        assert!(matches!(read(&dir), Err(ReportJsonError::Field { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
