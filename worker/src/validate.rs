//! Checks a job request before anything is written for it.

use std::collections::BTreeSet;

use contract::{JobRequest, MAX_SPEAKERS, MAX_TURNS, MAX_TURN_BYTES};
use thiserror::Error;

/// Largest chunk a job may ask for, in frames (about 68 s of audio).
pub const MAX_CHUNK_FRAMES: u32 = 512;

/// What is wrong with a job request.
#[derive(Debug, Error, PartialEq)]
pub enum InvalidRequest {
    /// No turns at all.
    #[error("the script has no turns; give at least one {{\"speaker\", \"text\"}} turn")]
    NoTurns,
    /// Too many turns.
    #[error("the script has {0} turns; at most {MAX_TURNS} are accepted")]
    TooManyTurns(usize),
    /// A turn without a speaker name.
    #[error("turn {0} has an empty speaker name")]
    EmptySpeaker(usize),
    /// More distinct speakers than voices.
    #[error("the script uses {count} speakers ({names}); at most {MAX_SPEAKERS} are allowed")]
    TooManySpeakers {
        /// Distinct speakers found.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// A turn's text over the limit.
    #[error("turn {index} has {bytes} bytes of text; a turn may have at most {MAX_TURN_BYTES} bytes (split it into several turns)")]
    TurnTooLong {
        /// Turn index.
        index: usize,
        /// Its size.
        bytes: usize,
    },
    /// Chunk size out of range.
    #[error("options.chunk_frames is {0}; it must be between 1 and {MAX_CHUNK_FRAMES}")]
    ChunkFrames(u32),
    /// Pace not a finite non-negative number.
    #[error("options.pace_rtf is {0}; it must be a finite number >= 0 (wall seconds per second of audio)")]
    Pace(f64),
}

/// Checks limits that do not need the engine.
pub fn validate(req: &JobRequest) -> Result<(), InvalidRequest> {
    let turns = &req.script.turns;
    if turns.is_empty() {
        return Err(InvalidRequest::NoTurns);
    }
    if turns.len() > MAX_TURNS {
        return Err(InvalidRequest::TooManyTurns(turns.len()));
    }
    let mut speakers = BTreeSet::new();
    for (index, turn) in turns.iter().enumerate() {
        if turn.speaker.trim().is_empty() {
            return Err(InvalidRequest::EmptySpeaker(index));
        }
        if turn.text.len() > MAX_TURN_BYTES {
            return Err(InvalidRequest::TurnTooLong {
                index,
                bytes: turn.text.len(),
            });
        }
        speakers.insert(turn.speaker.as_str());
    }
    if speakers.len() > MAX_SPEAKERS {
        return Err(InvalidRequest::TooManySpeakers {
            count: speakers.len(),
            names: speakers.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    let chunk = req.options.chunk_frames;
    if chunk == 0 || chunk > MAX_CHUNK_FRAMES {
        return Err(InvalidRequest::ChunkFrames(chunk));
    }
    if let Some(p) = req.options.pace_rtf {
        if !p.is_finite() || p < 0.0 {
            return Err(InvalidRequest::Pace(p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::{JobOptions, Script, Turn};

    fn req(turns: &[(&str, &str)]) -> JobRequest {
        JobRequest {
            script: Script {
                turns: turns
                    .iter()
                    .map(|(s, t)| Turn {
                        speaker: s.to_string(),
                        text: t.to_string(),
                    })
                    .collect(),
                seed: 0,
            },
            options: JobOptions::default(),
        }
    }

    #[test]
    fn accepts_a_normal_script() {
        assert_eq!(validate(&req(&[("a", "hi there"), ("b", "hello")])), Ok(()));
    }

    #[test]
    fn rejects_each_broken_limit() {
        assert_eq!(validate(&req(&[])), Err(InvalidRequest::NoTurns));
        assert_eq!(
            validate(&req(&[(" ", "x")])),
            Err(InvalidRequest::EmptySpeaker(0))
        );
        let five = req(&[("a", "x"), ("b", "x"), ("c", "x"), ("d", "x"), ("e", "x")]);
        let err = validate(&five).unwrap_err();
        assert!(
            err.to_string().contains("5 speakers (a, b, c, d, e)"),
            "{err}"
        );
        let long = "w ".repeat(MAX_TURN_BYTES);
        assert!(matches!(
            validate(&req(&[("a", &long)])),
            Err(InvalidRequest::TurnTooLong { index: 0, .. })
        ));
        let mut r = req(&[("a", "x")]);
        r.options.chunk_frames = 0;
        assert_eq!(validate(&r), Err(InvalidRequest::ChunkFrames(0)));
        r.options.chunk_frames = 8;
        r.options.pace_rtf = Some(-1.0);
        assert!(validate(&r).is_err());
    }
}
