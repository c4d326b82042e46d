//! The exit codes CI gates on.

use std::process::ExitCode;

/// Every expectation held.
pub const PASSED: u8 = 0;
/// At least one expectation failed (or the audio is not intact).
pub const FAILED: u8 = 1;
/// The scenario, the input files or the environment are wrong.
pub const BAD_INPUT: u8 = 2;
/// A fault could not be proven to have taken effect: no verdict is possible.
pub const INCONCLUSIVE: u8 = 3;

/// The outcome of a command, ordered so that the worst one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Exit 0.
    Passed,
    /// Exit 1.
    Failed,
    /// Exit 3.
    Inconclusive,
    /// Exit 2.
    BadInput,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Passed => PASSED,
            Outcome::Failed => FAILED,
            Outcome::BadInput => BAD_INPUT,
            Outcome::Inconclusive => INCONCLUSIVE,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(o.code())
    }
}
