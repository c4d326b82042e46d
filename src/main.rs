use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = takeover::cli::Cli::parse();
    match takeover::cli::execute(cli) {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            eprintln!("error: {}", takeover::cli::error_message(&err));
            ExitCode::from(takeover::exit::BAD_INPUT)
        }
    }
}
