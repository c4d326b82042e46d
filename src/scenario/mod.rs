//! Scenario files: the model, the parser with located errors, semantic checks.
//!
//! [`load`] reads a file, parses it with every mistake located (file, line,
//! column, what was expected), then runs the semantic checks of [`validate`].

pub mod duration;
pub mod model;
pub mod parse;
pub mod validate;

pub use duration::HumanDuration;
pub use model::{
    Action, AudioExpectation, Bound, Condition, Expectations, JobExpectation, ProbeSpec,
    RunbookSpec, Scenario, Step, Timing, WorkloadSpec,
};
pub use parse::{load, parse_str, LoadedScenario, Problem, ScenarioError};
