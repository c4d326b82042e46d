//! `takeover conformance URL`: does a running service keep the worker contract
//! (`docs/worker-api.md`)?
//!
//! [`observe`] is the only part that talks to the service: it sends one short
//! job and the requests the contract's clauses need, to the URL the user gave
//! and nowhere else (no redirects, no proxy), and records every answer as it
//! came. [`clauses`] is the table of clauses, each a pure function that reads
//! the recorded answers and gives a verdict with its evidence, so every clause
//! is tested on recorded data.

pub mod clauses;
pub mod observe;

use std::fmt;

use serde::Serialize;

pub use clauses::{Clause, CLAUSES};
pub use observe::{observe, Answer, Config, Observations, ObserveError, Polled, Seen};

/// A clause's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The service does what the clause says.
    Pass,
    /// It does not; the evidence says what it did instead.
    Fail,
    /// The clause could not be judged (what it needs did not happen, or the
    /// contract leaves it optional).
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        })
    }
}

/// One clause's verdict and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The verdict.
    pub verdict: Verdict,
    /// The evidence: the status codes and values seen, for a person.
    pub evidence: String,
}

impl Check {
    /// A pass with its evidence.
    pub fn pass(evidence: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Pass,
            evidence: evidence.into(),
        }
    }

    /// A failure with what was seen instead.
    pub fn fail(evidence: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Fail,
            evidence: evidence.into(),
        }
    }

    /// A skip with the reason.
    pub fn skip(evidence: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skip,
            evidence: evidence.into(),
        }
    }
}

/// One line of the result: the clause and its check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseResult {
    /// The clause's id, as `docs/worker-api.md` lists it.
    pub id: &'static str,
    /// What the clause asks, in a few words.
    pub title: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// What was seen.
    pub evidence: String,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Clauses that passed.
    pub passed: usize,
    /// Clauses that failed.
    pub failed: usize,
    /// Clauses skipped.
    pub skipped: usize,
}

/// The whole result for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conformance {
    /// The URL checked.
    pub url: String,
    /// The contract version the clauses come from.
    pub contract_version: &'static str,
    /// The version the service reported in `/health`, if any.
    pub service_contract_version: Option<String>,
    /// The job the run submitted, if the service gave it an id.
    pub job_id: Option<String>,
    /// One result per clause, in the table's order.
    pub clauses: Vec<ClauseResult>,
    /// The counts.
    pub summary: Summary,
}

impl Conformance {
    /// True when no clause failed.
    pub fn conforms(&self) -> bool {
        self.summary.failed == 0
    }
}

/// Judges every clause of [`CLAUSES`] on what was observed (pure).
pub fn judge(obs: &Observations) -> Conformance {
    let clauses: Vec<ClauseResult> = CLAUSES
        .iter()
        .map(|c| {
            let check = (c.check)(obs);
            ClauseResult {
                id: c.id,
                title: c.title,
                verdict: check.verdict,
                evidence: check.evidence,
            }
        })
        .collect();
    let mut summary = Summary::default();
    for c in &clauses {
        match c.verdict {
            Verdict::Pass => summary.passed += 1,
            Verdict::Fail => summary.failed += 1,
            Verdict::Skip => summary.skipped += 1,
        }
    }
    Conformance {
        url: obs.url.clone(),
        contract_version: contract::CONTRACT_VERSION,
        service_contract_version: obs.health_report().and_then(|h| h.contract_version),
        job_id: obs.job_id(),
        clauses,
        summary,
    }
}

#[cfg(test)]
mod tests;
