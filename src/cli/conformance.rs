//! `takeover conformance URL`: checks a running service against the worker
//! contract (`docs/worker-api.md`), one line per clause.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::conformance::{self, observe, Conformance};
use crate::exit::Outcome;

/// The long help of `takeover conformance` (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Check a running service against the worker contract \
(docs/worker-api.md, contract version 1.0) and list which clauses pass.\n\n\
It submits one short job to URL and follows it to the end, then asks for its audio and manifest, \
an unknown job and three bad requests. Each clause prints one line: PASS, FAIL or SKIP, its id, \
and the evidence (the status codes and values seen). Only URL is contacted: no redirect is \
followed and no proxy is used. The service needs a working store for the job (for synth-worker: \
Redis and the data directory).";

/// Arguments of `takeover conformance`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
takeover conformance http://127.0.0.1:8080\n  \
takeover conformance http://127.0.0.1:8080 --script my-script.yaml --timeout 2m\n  \
takeover conformance http://127.0.0.1:8080 --json > conformance.json\n\n\
Exit: 0 every clause passed (or was skipped), 1 a clause failed, 2 bad arguments or nothing \
answers at URL.")]
pub struct Args {
    /// The service's base URL, `http://HOST:PORT[/PREFIX]`: the contract's paths
    /// (`/health`, `/v1/jobs`, ...) are appended to it.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The dialogue to synthesize (YAML or JSON `{seed, turns}`, as
    /// `scenarios/scripts/`). Default: a built-in two-turn script of 5.2 s of
    /// audio. The job runs paced at 0.4 s a second of audio, so keep it short.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// The longest the job may take to finish, from its submission (e.g. `30s`, `2m`).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// The longest one request may take.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// One JSON object (url, versions, every clause with its verdict and
    /// evidence, summary) instead of lines, for CI.
    #[arg(long)]
    pub json: bool,
}

/// Runs `takeover conformance`: exit 0 when no clause failed, 1 when one did,
/// 2 when the arguments are wrong or nothing answers at URL.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let request = match &args.script {
        Some(path) => observe::request_for(
            crate::workload::script::read_script(path)
                .with_context(|| format!("cannot use --script {}", path.display()))?,
        ),
        None => observe::default_request(),
    };
    anyhow::ensure!(
        !args.timeout.is_zero() && !args.request_timeout.is_zero(),
        "--timeout and --request-timeout must be longer than zero"
    );
    let config = observe::Config {
        url: args.url.clone(),
        request,
        request_timeout: args.request_timeout,
        job_timeout: args.timeout,
        poll_interval: Duration::from_millis(100),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let observations = runtime.block_on(observe::observe(&config))?;
    let result = conformance::judge(&observations);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", render(&result));
    }
    Ok(if result.conforms() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

/// The lines a person reads: one per clause, then the summary.
pub fn render(result: &Conformance) -> String {
    let width = result.clauses.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "conformance of {} to the worker contract {} (docs/worker-api.md){}\n",
        result.url,
        result.contract_version,
        result
            .service_contract_version
            .as_deref()
            .map(|v| format!("; the service says {v}"))
            .unwrap_or_default()
    );
    for c in &result.clauses {
        out.push_str(&format!("{}  {:width$}  {}\n", c.verdict, c.id, c.evidence));
    }
    let s = &result.summary;
    out.push_str(&format!(
        "\n{} clauses: {} passed, {} failed, {} skipped: {}\n",
        result.clauses.len(),
        s.passed,
        s.failed,
        s.skipped,
        if result.conforms() {
            "the service keeps the contract"
        } else {
            "the service does not keep the contract"
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{ClauseResult, Summary, Verdict};

    #[test]
    fn the_help_names_the_contract_version_it_checks() {
        assert!(LONG_ABOUT.contains(&format!("contract version {}", contract::CONTRACT_VERSION)));
    }

    #[test]
    fn one_line_per_clause_then_the_summary() {
        let result = Conformance {
            url: "http://127.0.0.1:1".into(),
            contract_version: "1.0",
            service_contract_version: None,
            job_id: None,
            clauses: vec![
                ClauseResult {
                    id: "health",
                    title: "",
                    verdict: Verdict::Pass,
                    evidence: "200".into(),
                },
                ClauseResult {
                    id: "submit.repeat",
                    title: "",
                    verdict: Verdict::Fail,
                    evidence: "answered 500".into(),
                },
            ],
            summary: Summary {
                passed: 1,
                failed: 1,
                skipped: 0,
            },
        };
        let text = render(&result);
        assert!(text.contains("\nPASS  health         200\n"), "{text}");
        assert!(
            text.contains("\nFAIL  submit.repeat  answered 500\n"),
            "{text}"
        );
        assert!(
            text.ends_with("2 clauses: 1 passed, 1 failed, 0 skipped: the service does not keep the contract\n"),
            "{text}"
        );
    }
}
