//! Scenario files: the model, the parser with located errors, semantic checks.

pub mod duration;
