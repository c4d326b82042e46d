//! Writing the rendered formats into a report directory: `report.html`,
//! `report.md` with its chart files, `junit.xml`. Everything is rendered from
//! the [`Report`] (plus the run history and the kept audio beside it), so
//! `takeover report DIR` reproduces what `takeover run` wrote.

use std::path::{Path, PathBuf};

use super::chart::{self, Window};
use super::history::{self, HistorySummary};
use super::model::Report;
use super::{html, junit, markdown, seams};

/// Why a rendered report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The JUnit XML could not be produced.
    #[error(transparent)]
    Junit(#[from] junit::JunitError),
    /// The run history could not be read or appended to.
    #[error(transparent)]
    History(#[from] super::history::HistoryError),
}

/// A report format written next to report.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// `report.html`: the self-contained page with charts and waveforms.
    Html,
    /// `report.md` and the chart SVG files it links.
    Md,
    /// `junit.xml`.
    Junit,
}

impl Format {
    /// Every rendered format.
    pub const ALL: [Format; 3] = [Format::Html, Format::Md, Format::Junit];
}

fn write_file(path: &Path, contents: &str) -> Result<(), RenderError> {
    let io = |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes every rendered format (HTML, Markdown with its charts, JUnit) into
/// `dir` and returns the paths written. `history` holds earlier runs (for the
/// "last runs" tables); the audio kept in `dir` feeds the seam pictures.
pub fn write_all(
    dir: &Path,
    report: &Report,
    history: &[HistorySummary],
) -> Result<Vec<PathBuf>, RenderError> {
    write_formats(dir, report, history, &Format::ALL)
}

/// Writes the chosen formats into `dir`; returns the paths written.
pub fn write_formats(
    dir: &Path,
    report: &Report,
    history: &[HistorySummary],
    formats: &[Format],
) -> Result<Vec<PathBuf>, RenderError> {
    std::fs::create_dir_all(dir).map_err(|source| RenderError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for format in formats {
        match format {
            Format::Html => {
                let seams = seams::collect(dir, &report.iterations);
                let path = dir.join(html::FILE_NAME);
                write_file(&path, &html::render(report, history, &seams))?;
                written.push(path);
            }
            Format::Md => {
                for it in &report.iterations {
                    if let Some(window) = Window::outage(it) {
                        let path = dir.join(markdown::outage_chart_name(it.index));
                        let title = format!(
                            "{} iteration {}: around the fault",
                            report.scenario.name, it.index
                        );
                        write_file(&path, &chart::timeline_svg(it, window, &title))?;
                        written.push(path);
                    }
                    let path = dir.join(markdown::whole_chart_name(it.index));
                    let title =
                        format!("{} iteration {}: whole run", report.scenario.name, it.index);
                    write_file(&path, &chart::timeline_svg(it, Window::whole(it), &title))?;
                    written.push(path);
                }
                let path = dir.join(markdown::FILE_NAME);
                write_file(&path, &markdown::render(report, history, true))?;
                written.push(path);
            }
            Format::Junit => {
                let path = dir.join(junit::FILE_NAME);
                write_file(&path, &junit::render(&[report])?)?;
                written.push(path);
            }
        }
    }
    Ok(written)
}

/// What [`publish`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The rendered files.
    pub files: Vec<PathBuf>,
    /// The history file the run was appended to.
    pub history: PathBuf,
}

/// The end of a run, in one call: reads the run history beside `dir`
/// (`history.jsonl` in its parent, see [`history::path_for`]), writes every
/// rendered format into `dir` with the earlier runs beside this one, then
/// appends this run to the history. `dir` already holds report.json.
pub fn publish(dir: &Path, report: &Report) -> Result<Published, RenderError> {
    let history_path = history::path_for(dir);
    let earlier = history::read(&history_path)?;
    let files = write_all(dir, report, &earlier.entries)?;
    history::append(&history_path, report, dir)?;
    Ok(Published {
        files,
        history: history_path,
    })
}

/// Writes one JUnit XML file for several scenario runs (one suite each), as
/// `takeover run --junit FILE` does.
pub fn write_junit(path: &Path, reports: &[&Report]) -> Result<(), RenderError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| RenderError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_file(path, &junit::render(reports)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn write_all_produces_every_format_and_the_chart_files() {
        let dir = std::env::temp_dir().join(format!("takeover-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let report = testdata::report();
        let written = write_all(&dir, &report, &[]).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "report.html",
            "report.md",
            "junit.xml",
            "timeline-1.svg",
            "timeline-1-fault.svg",
            "timeline-3.svg",
        ] {
            assert!(
                names.contains(&name.to_string()),
                "{name} not written: {names:?}"
            );
            assert!(
                dir.join(name).metadata().unwrap().len() > 500,
                "{name} is nearly empty"
            );
        }
        // Only what was asked for.
        let only_junit = write_formats(&dir.join("j"), &report, &[], &[Format::Junit]).unwrap();
        assert_eq!(only_junit, vec![dir.join("j").join("junit.xml")]);
        assert!(!dir.join("j").join("report.html").exists());
        // No temporary file is left behind.
        assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn publish_renders_with_earlier_runs_then_appends_this_one() {
        let root = std::env::temp_dir().join(format!("takeover-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut report = testdata::report();
        report.run_id = "tk-first".into();
        let first = publish(&root.join("run-1"), &report).unwrap();
        assert_eq!(first.history, root.join("history.jsonl"));
        report.run_id = "tk-second".into();
        publish(&root.join("run-2"), &report).unwrap();
        let html = std::fs::read_to_string(root.join("run-2/report.html")).unwrap();
        assert!(html.contains("tk-first") && html.contains("tk-second (this run)"));
        let runs = history::read(&root.join("history.jsonl")).unwrap().entries;
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["tk-first", "tk-second"]);
        let both = root.join("ci/junit.xml");
        write_junit(&both, &[&report, &report]).unwrap();
        let parsed =
            quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&both).unwrap())
                .unwrap();
        assert_eq!(parsed.test_suites.len(), 2);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
