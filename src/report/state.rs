//! States report.json records as words, typed: the job's state as the
//! harness saw it, and a server's status as the front door words it. Each
//! serialises to exactly the word earlier reports hold.

use std::fmt;

use contract::JobState;
use serde::{Deserialize, Serialize};

/// The drill's job as one status poll (or the end of the drill) saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSeen {
    /// Accepted, not yet claimed by a worker.
    Queued,
    /// A worker holds its lease and is synthesizing.
    Running,
    /// Every chunk is committed.
    Done,
    /// Stopped for good.
    Failed,
    /// The poll got no answer (a sample only).
    Unreachable,
    /// No poll ever answered (a final state only).
    #[default]
    Unknown,
}

impl JobSeen {
    /// The word report.json uses (`done`, `unreachable`).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobSeen::Queued => "queued",
            JobSeen::Running => "running",
            JobSeen::Done => "done",
            JobSeen::Failed => "failed",
            JobSeen::Unreachable => "unreachable",
            JobSeen::Unknown => "unknown",
        }
    }

    /// Whether the poll was answered.
    pub fn answered(self) -> bool {
        !matches!(self, JobSeen::Unreachable | JobSeen::Unknown)
    }
}

impl From<JobState> for JobSeen {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => JobSeen::Queued,
            JobState::Running => JobSeen::Running,
            JobState::Done => JobSeen::Done,
            JobState::Failed => JobSeen::Failed,
        }
    }
}

impl fmt::Display for JobSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server's status as HAProxy words it (`UP`, `DOWN`, `UP 1/3` while its
/// checks move it down, `MAINT`, ...); stored as that word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ServerStatus {
    /// `UP`: the checks pass.
    Up,
    /// `DOWN`: the checks fail.
    Down,
    /// `UP n/m` or `DOWN n/m`: on its way to the other state.
    Changing(String),
    /// Any other word (`MAINT`, `NOLB`, ...).
    Other(String),
}

impl ServerStatus {
    /// `UP` or `DOWN`, from the poller's verdict.
    pub fn from_up(up: bool) -> Self {
        if up {
            ServerStatus::Up
        } else {
            ServerStatus::Down
        }
    }

    /// The word as HAProxy wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            ServerStatus::Up => "UP",
            ServerStatus::Down => "DOWN",
            ServerStatus::Changing(word) | ServerStatus::Other(word) => word,
        }
    }

    /// Whether the word starts with `DOWN` (down, or down and coming back).
    pub fn reads_down(&self) -> bool {
        match self {
            ServerStatus::Down => true,
            ServerStatus::Changing(word) => word.starts_with("DOWN"),
            _ => false,
        }
    }
}

impl From<String> for ServerStatus {
    fn from(word: String) -> Self {
        match word.as_str() {
            "UP" => ServerStatus::Up,
            "DOWN" => ServerStatus::Down,
            w if w.starts_with("UP ") || w.starts_with("DOWN ") => ServerStatus::Changing(word),
            _ => ServerStatus::Other(word),
        }
    }
}

impl From<ServerStatus> for String {
    fn from(status: ServerStatus) -> Self {
        status.as_str().to_string()
    }
}

impl From<&str> for ServerStatus {
    fn from(word: &str) -> Self {
        ServerStatus::from(word.to_string())
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_kept_as_written() {
        for word in ["UP", "DOWN", "UP 1/3", "DOWN 2/2", "MAINT", "no check"] {
            let status = ServerStatus::from(word);
            assert_eq!(status.as_str(), word);
            assert_eq!(serde_json::to_value(&status).unwrap(), word);
            let back: ServerStatus = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(back, status);
        }
        assert!(ServerStatus::from("DOWN 1/2").reads_down());
        assert!(!ServerStatus::from("UP 1/2").reads_down());
        for seen in [JobSeen::Done, JobSeen::Unreachable, JobSeen::Unknown] {
            assert_eq!(serde_json::to_value(seen).unwrap(), seen.as_str());
        }
        assert_eq!(JobSeen::from(JobState::Running), JobSeen::Running);
    }
}
