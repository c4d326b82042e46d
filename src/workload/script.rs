//! Dialogue script files (`scenarios/scripts/*.yaml`): the worker's own
//! [`contract::Script`] in YAML or JSON.

use std::path::{Path, PathBuf};

use contract::Script;

/// Why a script file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// It could not be read (missing, not a regular file, too large, not text).
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause, naming the file.
        source: crate::input::InputError,
    },
    /// It is not a script.
    #[error("the script {path} is malformed: {message} (expected `seed:` and `turns:` with `speaker` and `text` each)")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        message: String,
    },
    /// It breaks the worker's limits.
    #[error("the script {path} {why}")]
    Limits {
        /// The file.
        path: PathBuf,
        /// Which limit.
        why: String,
    },
}

/// Reads a script file (`.json` as JSON, anything else as YAML) and checks the worker's limits.
pub fn read_script(path: &Path) -> Result<Script, ScriptError> {
    let text =
        crate::input::read_text(path, "script", crate::input::SCRIPT_LIMIT).map_err(|source| {
            ScriptError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let format = |message: String| ScriptError::Format {
        path: path.to_path_buf(),
        message,
    };
    let script: Script = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format(e.to_string()))?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| format(e.to_string()))?
    };
    let limits = |why: String| ScriptError::Limits {
        path: path.to_path_buf(),
        why,
    };
    if script.turns.len() > contract::MAX_TURNS {
        return Err(limits(format!(
            "has {} turns; the worker takes at most {}",
            script.turns.len(),
            contract::MAX_TURNS
        )));
    }
    let speakers: std::collections::BTreeSet<&str> =
        script.turns.iter().map(|t| t.speaker.as_str()).collect();
    if speakers.len() > contract::MAX_SPEAKERS {
        return Err(limits(format!(
            "has {} speakers; the worker takes at most {}",
            speakers.len(),
            contract::MAX_SPEAKERS
        )));
    }
    if let Some(t) = script
        .turns
        .iter()
        .find(|t| t.text.len() > contract::MAX_TURN_BYTES)
    {
        return Err(limits(format!(
            "has a turn of {} bytes by {}; the worker takes at most {}",
            t.text.len(),
            t.speaker,
            contract::MAX_TURN_BYTES
        )));
    }
    Ok(script)
}

/// The pace (wall seconds per second of audio) that makes a job of `frames`
/// frames take about `wall` seconds.
pub fn pace_rtf(frames: u64, wall: std::time::Duration) -> f64 {
    let audio_s = frames as f64 / contract::FRAME_RATE_HZ;
    if audio_s <= 0.0 {
        return 0.0;
    }
    wall.as_secs_f64() / audio_s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_turns_a_ten_minute_script_into_twenty_seconds() {
        let frames = 10 * 60 * 15 / 2; // 10 minutes at 7.5 Hz
        let rtf = pace_rtf(frames, std::time::Duration::from_secs(20));
        assert!((rtf - 20.0 / 600.0).abs() < 1e-9);
    }

    #[test]
    fn shipped_scripts_read_and_a_bad_one_is_refused() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scripts");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let script = read_script(&path).unwrap();
            assert!(contract::script_frames(&script) > 100, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 1);
        let bad =
            std::env::temp_dir().join(format!("takeover-bad-script-{}.yaml", std::process::id()));
        std::fs::write(&bad, "seed: 1\nturns:\n  - speaker: a\n    txt: hello\n").unwrap();
        let err = read_script(&bad).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
        std::fs::remove_file(&bad).unwrap();
    }
}
