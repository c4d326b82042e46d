//! `takeover run --metrics PATH` and `--pushgateway URL`: the run's figures as
//! OpenMetrics text, in a file and on a Prometheus Pushgateway.

use std::path::Path;

use reqwest::Url;

use crate::exit::Outcome;
use crate::report::model::Report;
use crate::report::{metrics_export, openmetrics};

/// Checks the Pushgateway address before a drill starts, so that a typo does
/// not surface only after minutes of drilling.
pub fn check_target(url: Option<&str>, allow_remote: bool) -> Result<Option<Url>, Outcome> {
    match url.map(|u| metrics_export::check_url(u, allow_remote)) {
        None => Ok(None),
        Some(Ok(u)) => Ok(Some(u)),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            Err(Outcome::BadInput)
        }
    }
}

/// Writes and pushes the metrics of the finished runs. A failure is printed
/// and makes the outcome at least `BadInput`: CI should see lost metrics.
pub async fn publish(file: Option<&Path>, gateway: Option<&Url>, reports: &[Report]) -> Outcome {
    let refs: Vec<&Report> = reports.iter().collect();
    let mut outcome = Outcome::Passed;
    if let Some(path) = file {
        match metrics_export::write_atomic(path, &openmetrics::render(&refs)) {
            Ok(()) => println!("metrics: {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                outcome = Outcome::BadInput;
            }
        }
    }
    if let Some(url) = gateway {
        match metrics_export::push(url, &refs).await {
            Ok(groups) => {
                for g in groups {
                    println!("metrics pushed: {g}");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                outcome = Outcome::BadInput;
            }
        }
    }
    outcome
}
