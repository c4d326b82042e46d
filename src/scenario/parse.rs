//! Reading scenario files: YAML into [`Scenario`], with every mistake located.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Scenario;
use super::validate;

/// A scenario read from a file, with what is needed to resolve its relative paths.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The parsed scenario.
    pub scenario: Scenario,
    /// The file, as given.
    pub path: PathBuf,
    /// Its text (for locating problems found later).
    pub source: String,
}

impl LoadedScenario {
    /// The directory relative paths in the scenario are resolved against.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// Where the workload's script file is (`None` in a front-door drill, which has no job).
    pub fn script_path(&self) -> Option<PathBuf> {
        let workload = self.scenario.workload.as_ref()?;
        Some(resolve_script(self.dir(), &workload.script))
    }

    /// Where a runbook script named in a step is.
    pub fn runbook_path(&self, script: &str) -> PathBuf {
        self.dir().join(script)
    }
}

/// Resolves a workload script name: a bare file name is looked up in `scripts/`
/// beside the scenario; anything with a directory part is relative to the scenario.
pub fn resolve_script(scenario_dir: &Path, script: &str) -> PathBuf {
    let p = Path::new(script);
    if p.is_absolute() {
        p.to_path_buf()
    } else if p.components().count() == 1 {
        scenario_dir.join("scripts").join(p)
    } else {
        scenario_dir.join(p)
    }
}

/// One problem in a scenario file, at a place in it when the place is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read (missing, not a regular file, too large, not text).
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause, naming the file.
        source: crate::input::InputError,
    },
    /// The YAML does not match the scenario format.
    #[error("{problem}")]
    Syntax {
        /// Where and what.
        problem: Problem,
        /// A rendering with the offending lines (miette), for terminals.
        rendered: String,
    },
    /// The YAML is well formed but does not make sense as a drill.
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

impl ScenarioError {
    /// Every problem, located.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ScenarioError::Read { path, source } => vec![Problem {
                file: path.display().to_string(),
                line: None,
                column: None,
                message: source.to_string(),
            }],
            ScenarioError::Syntax { problem, .. } => vec![problem.clone()],
            ScenarioError::Invalid { problems } => problems.clone(),
        }
    }

    /// What to show a person: the miette rendering for syntax errors, else the list.
    pub fn render(&self) -> String {
        match self {
            ScenarioError::Syntax { rendered, .. } if !rendered.is_empty() => rendered.clone(),
            other => other.to_string(),
        }
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// Parses scenario text; `file` names it in errors. No file-system checks.
pub fn parse_str(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    serde_saphyr::from_str_with_options::<Scenario>(text, options())
        .map_err(|err| syntax_error(&err, text, file))
}

fn syntax_error(err: &serde_saphyr::Error, text: &str, file: &str) -> ScenarioError {
    let location = err.location();
    let message = err.to_string();
    // The library's message may end with its own " at line X column Y"; the
    // location is shown in front instead, the way compilers do.
    let message = strip_location_suffix(&message);
    let line = location.map(|l| l.line()).filter(|&l| l > 0);
    let column = location.map(|l| l.column()).filter(|&c| c > 0);
    let (message, rendered) = match plain_words(&message) {
        // The library's words name its own internals: say it in the scenario's terms.
        Some(plain) => {
            let rendered = render_at(text, file, line, column, &plain);
            (plain, rendered)
        }
        None => {
            let report = serde_saphyr::miette::to_miette_report(err, text, file);
            (message, format!("{report:?}"))
        }
    };
    ScenarioError::Syntax {
        problem: Problem {
            file: file.to_string(),
            line,
            column,
            message,
        },
        rendered,
    }
}

/// The parser's messages that name its internals, said for a scenario's author.
fn plain_words(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return Some(format!(
            "the key `{key}` appears twice in the same mapping; keep one"
        ));
    }
    if message.contains("budget breached") {
        return Some(
            "the document is too large for a scenario (too many nodes, too deep or too many aliases)"
                .to_string(),
        );
    }
    let kind = message
        .strip_prefix("invalid ")?
        .split_whitespace()
        .next()?;
    let range = match kind {
        "u8" => "0 to 255",
        "u16" => "0 to 65535",
        "u32" => "0 to 4294967295",
        "u64" | "usize" => "0 to 18446744073709551615",
        "i32" => "-2147483648 to 2147483647",
        "i64" | "isize" => "-9223372036854775808 to 9223372036854775807",
        _ => return None,
    };
    Some(format!("not a whole number from {range}"))
}

/// A miette rendering of `message` at a line and column of `text`.
fn render_at(
    text: &str,
    file: &str,
    line: Option<u64>,
    column: Option<u64>,
    message: &str,
) -> String {
    let mut diagnostic = miette::MietteDiagnostic::new(message.to_string());
    if let Some(line) = line {
        let start_of_line: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1) as usize)
            .map(str::len)
            .sum();
        let rest = &text[start_of_line.min(text.len())..];
        let col = column.unwrap_or(1).saturating_sub(1) as usize;
        let at = rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
        let token = rest[at..]
            .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
            .unwrap_or(rest.len() - at)
            .clamp(1, 80);
        let offset = (start_of_line + at).min(text.len());
        let len = token.min(text.len() - offset);
        diagnostic = diagnostic.with_label(miette::LabeledSpan::at(offset..offset + len, message));
    }
    let report = miette::Report::new(diagnostic)
        .with_source_code(miette::NamedSource::new(file, text.to_string()));
    format!("{report:?}")
}

fn strip_location_suffix(message: &str) -> String {
    let trimmed = message.trim();
    match trimmed.rfind(" at line ") {
        Some(i)
            if trimmed[i..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_alphabetic() || c == ' ' || c == ',') =>
        {
            trimmed[..i].to_string()
        }
        _ => trimmed.to_string(),
    }
}

/// Reads, parses and checks a scenario file (including the files it names).
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let source = crate::input::read_text(path, "scenario", crate::input::SCENARIO_LIMIT).map_err(
        |source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        },
    )?;
    let file = path.display().to_string();
    let scenario = parse_str(&source, &file)?;
    let mut loaded = LoadedScenario {
        scenario,
        path: path.to_path_buf(),
        source,
    };
    // The TLS files of `stack.hosts` are relative to the scenario, like its
    // other files; from here on they are used (and named) resolved.
    let dir = loaded.dir().to_path_buf();
    for host in loaded.scenario.stack.hosts.values_mut() {
        if let Some(tls) = &mut host.tls {
            *tls = tls.resolved(&dir);
        }
    }
    let problems = validate::check(&loaded);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ScenarioError::Invalid { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: t
workload:
  script: night-shift.yaml
steps:
  - at: 5s
    fault:
      kind: kill
      target: primary
expect:
  rto: {p95: 1s}
";

    fn problem(text: &str) -> Problem {
        match parse_str(text, "t.yaml") {
            Err(ScenarioError::Syntax { problem, .. }) => problem,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_scenario_parses_with_defaults() {
        let s = parse_str(GOOD, "t.yaml").unwrap();
        assert_eq!(s.iterations, 1);
        assert_eq!(s.probe.interval.as_millis_f64(), 20.0);
        assert_eq!(s.steps.len(), 1);
        assert!(
            matches!(s.steps[0].timing, crate::scenario::Timing::At(d) if d.as_millis_f64() == 5000.0)
        );
    }

    #[test]
    fn the_probes_follow_the_workers_health_path_unless_told_otherwise() {
        let s = parse_str(GOOD, "t.yaml").unwrap();
        assert_eq!(s.probe_path(), "/health");
        let own =
            format!("{GOOD}stack:\n  worker:\n    image: mine:1\n    health: {{path: /healthz}}\n");
        let s = parse_str(&own, "t.yaml").unwrap();
        assert_eq!(s.probe_path(), "/healthz");
        let told = format!("{own}probe: {{path: /ready}}\n");
        let s = parse_str(&told, "t.yaml").unwrap();
        assert_eq!(s.probe_path(), "/ready");
    }

    #[test]
    fn an_unknown_key_is_an_error_at_its_line_and_column() {
        let text = GOOD.replace(
            "  script: night-shift.yaml",
            "  script: night-shift.yaml\n  sead: 4",
        );
        let p = problem(&text);
        assert_eq!(p.line, Some(4), "{p}");
        assert_eq!(p.column, Some(3), "{p}");
        assert!(p.message.contains("sead"), "{p}");
        assert!(p.message.contains("seed"), "the known keys are listed: {p}");
        assert!(p.to_string().starts_with("t.yaml:4:3: "), "{p}");
    }

    #[test]
    fn a_bad_duration_is_an_error_that_says_how_to_write_one() {
        let p = problem(&GOOD.replace("at: 5s", "at: 5 parsecs"));
        assert_eq!(p.line, Some(5), "{p}");
        assert!(p.column.is_some(), "{p}");
        assert!(
            p.message.contains("5 parsecs") && p.message.contains("100ms"),
            "{p}"
        );
        let p = problem(&GOOD.replace("at: 5s", "at: 5"));
        assert_eq!(p.line, Some(5), "{p}");
        assert!(p.message.contains("no unit"), "{p}");
    }

    #[test]
    fn an_unknown_fault_kind_lists_the_known_ones() {
        let p = problem(&GOOD.replace("kind: kill", "kind: explode"));
        assert!(p.line.is_some_and(|l| (6..=8).contains(&l)), "{p}");
        assert!(p.message.contains("explode"), "{p}");
        for known in ["kill", "oom-kill", "pause", "partition", "heal"] {
            assert!(p.message.contains(known), "{known} not listed: {p}");
        }
    }

    #[test]
    fn a_step_with_two_actions_or_none_is_refused() {
        let p = problem(&GOOD.replace("  - at: 5s\n", "  - at: 5s\n    wait: 2s\n"));
        assert!(p.message.contains("exactly one action"), "{p}");
        assert!(p.line.is_some(), "{p}");
        let p = problem(&GOOD.replace(
            "  - at: 5s\n    fault:\n      kind: kill\n      target: primary\n",
            "  - at: 5s\n",
        ));
        assert!(p.message.contains("needs an action"), "{p}");
    }

    #[test]
    fn the_parsers_internal_words_are_not_shown() {
        let p = problem(&format!("name: u\n{GOOD}"));
        assert!(p.message.contains("`name` appears twice"), "{p}");
        assert!(!p.message.contains("DuplicateKeyPolicy"), "{p}");
        let p = problem(&GOOD.replace("expect:", "iterations: -1\nexpect:"));
        assert!(
            p.message.contains("whole number from 0 to 4294967295"),
            "{p}"
        );
        let err = parse_str(&format!("name: u\n{GOOD}"), "t.yaml").unwrap_err();
        let rendered = err.render();
        assert!(
            rendered.contains("appears twice") && !rendered.contains("DuplicateKeyPolicy"),
            "{rendered}"
        );
    }

    #[test]
    fn malformed_yaml_is_located() {
        let p = problem("name: t\nworkload: [unclosed\n");
        assert!(p.line.is_some(), "{p}");
    }
}
