//! The multi-host test bed's script (`scripts/testbed-hosts.sh`, see
//! `docs/hosts.md`), built into the binary so that `takeover clean --hosts`
//! can take down a test bed that a killed drill left up, wherever the binary
//! runs from.

use std::process::Command;

use super::StackError;

/// The script's text, as in `scripts/testbed-hosts.sh`.
pub const SCRIPT: &str = include_str!("../../scripts/testbed-hosts.sh");

/// The folder where an up test bed records what it made.
pub const STATE_DIR: &str = "/run/takeover-tb";

/// Takes the test bed down (`testbed-hosts.sh down`): every namespace, veth,
/// engine, rule, mount and folder it made, also what a killed run left. Safe
/// when none is up. Returns what the script printed.
pub fn down() -> Result<String, StackError> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT)
        .args(["testbed-hosts.sh", "down"])
        .output()
        .map_err(|e| StackError::Io {
            context: "running bash for the test bed's `down`".into(),
            source: e,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(StackError::Unsupported(format!(
            "the test bed's `down` failed ({}): {}",
            out.status,
            text.trim()
        )))
    }
}
