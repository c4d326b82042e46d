//! `takeover schema`: print the JSON Schema of scenario files, for editors.

use crate::exit::Outcome;

/// `println!` that stops quietly when stdout is closed (`takeover list | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            return Ok(Outcome::Passed);
        }
    }};
}

/// Arguments of `takeover schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The JSON Schema of a scenario file.
pub fn scenario_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(crate::scenario::Scenario);
    serde_json::to_value(&schema).unwrap_or_default()
}

/// Runs `takeover schema`.
pub fn execute(_args: Args) -> anyhow::Result<Outcome> {
    out!("{}", serde_json::to_string_pretty(&scenario_schema())?);
    Ok(Outcome::Passed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_describes_steps_faults_and_expectations() {
        let text = super::scenario_schema().to_string();
        for needle in [
            "\"workload\"",
            "\"oom-kill\"",
            "\"job_resume\"",
            "\"runbook\"",
            "\"progress\"",
            "\"health\"",
            "\"command\"",
            "\"additionalProperties\":false",
        ] {
            assert!(text.contains(needle), "{needle} missing from the schema");
        }
        let schema = super::scenario_schema();
        let name = &schema["properties"]["name"];
        assert_eq!(name["pattern"], "^[A-Za-z0-9._-]{1,100}$", "{name}");
        assert_eq!(name["maxLength"], 100, "{name}");
        // A front-door drill leaves the job out.
        let required = schema["required"].as_array().unwrap();
        assert!(!required.iter().any(|r| r == "workload"), "{required:?}");
    }
}
