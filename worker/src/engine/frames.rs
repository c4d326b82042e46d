//! From a script to per-frame conditioning at 7.5 Hz: who speaks, where in the turn, and the
//! syllable pattern of the words (voiced syllables, word gaps, pauses at turn boundaries).
//!
//! Each turn is laid out as a row of equal-length *units*: a voiced unit per syllable (with the
//! vowel it carries) and silent units for the lead-in, the gaps between words, punctuation and the
//! pause at the end of the turn. The turn's frames (as `contract::turn_frames` counts them) are
//! spread evenly over its units, so the syllable rate follows the text.

use contract::{Script, Turn, MAX_SPEAKERS, MAX_TURNS, MAX_TURN_BYTES};

use super::EngineError;

/// Width of the conditioning vector of one frame.
pub const COND_DIM: usize = 16;
/// Vowel classes: a, e, i, o, u, neutral.
pub const VOWELS: usize = 6;
const NEUTRAL_VOWEL: u8 = 5;

/// One unit of a turn's layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// A syllable (sounding) rather than a gap.
    pub voiced: bool,
    /// Vowel class of the syllable (neutral for gaps).
    pub vowel: u8,
    /// First syllable of a word (carries the pitch accent).
    pub stressed: bool,
}

/// Conditioning of one latent frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameInfo {
    /// Speaker slot, 0..MAX_SPEAKERS, in order of first appearance.
    pub speaker: u8,
    /// Index of the turn this frame belongs to.
    pub turn: u32,
    /// Position in the turn (0..1) at the frame's start.
    pub turn_pos: f32,
    /// Unit position (within the turn) at the frame's start.
    pub unit_start: f64,
    /// Unit position at the frame's end.
    pub unit_end: f64,
    /// Bit k set: unit `floor(unit_start) + k` is voiced.
    pub voiced_mask: u32,
    /// Vowel class heard at (or next after) the frame's start.
    pub vowel: u8,
    /// The syllable at the frame's start is a word's first.
    pub stressed: bool,
    /// The turn ends with a question mark (final pitch rise).
    pub question: bool,
    /// Network conditioning vector.
    pub cond: [f32; COND_DIM],
}

/// Speaker names in slot order and the per-frame conditioning of a whole script.
#[derive(Debug, Clone)]
pub struct FrameLayout {
    /// Speaker names; index = slot.
    pub speakers: Vec<String>,
    /// One entry per latent frame.
    pub frames: Vec<FrameInfo>,
}

/// Checks a script against the contract's limits and lays out its frames.
pub fn layout(script: &Script) -> Result<FrameLayout, EngineError> {
    if script.turns.is_empty() {
        return Err(EngineError::InvalidScript(
            "the script has no turns; give at least one {speaker, text}".into(),
        ));
    }
    if script.turns.len() > MAX_TURNS {
        return Err(EngineError::InvalidScript(format!(
            "the script has {} turns; at most {MAX_TURNS} are allowed",
            script.turns.len()
        )));
    }
    let mut speakers: Vec<String> = Vec::new();
    let mut frames = Vec::new();
    for (turn_index, turn) in script.turns.iter().enumerate() {
        if turn.speaker.trim().is_empty() {
            return Err(EngineError::InvalidScript(format!(
                "turn {turn_index} has an empty speaker name"
            )));
        }
        if turn.text.len() > MAX_TURN_BYTES {
            return Err(EngineError::InvalidScript(format!(
                "turn {turn_index} has {} bytes of text; at most {MAX_TURN_BYTES} are allowed",
                turn.text.len()
            )));
        }
        let slot = match speakers.iter().position(|s| *s == turn.speaker) {
            Some(slot) => slot,
            None => {
                if speakers.len() == MAX_SPEAKERS {
                    return Err(EngineError::InvalidScript(format!(
                        "turn {turn_index} brings a fifth speaker {:?}; at most {MAX_SPEAKERS} \
                         distinct speakers are allowed ({})",
                        turn.speaker,
                        speakers.join(", ")
                    )));
                }
                speakers.push(turn.speaker.clone());
                speakers.len() - 1
            }
        };
        layout_turn(turn, turn_index as u32, slot as u8, &mut frames);
    }
    Ok(FrameLayout { speakers, frames })
}

fn layout_turn(turn: &Turn, turn_index: u32, slot: u8, out: &mut Vec<FrameInfo>) {
    let units = turn_units(&turn.text);
    let question = turn.text.trim_end().ends_with('?');
    let frames = contract::job::turn_frames(turn);
    let rate = units.len() as f64 / frames as f64;
    for i in 0..frames {
        let unit_start = i as f64 * rate;
        let unit_end = (i + 1) as f64 * rate;
        let base = unit_start.floor() as usize;
        let mut voiced_mask = 0u32;
        for k in 0..32 {
            if units.get(base + k).is_some_and(|u| u.voiced) {
                voiced_mask |= 1 << k;
            }
        }
        let here = units.get(base).copied().unwrap_or(Unit {
            voiced: false,
            vowel: NEUTRAL_VOWEL,
            stressed: false,
        });
        let vowel = if here.voiced {
            here.vowel
        } else {
            units[base.min(units.len())..]
                .iter()
                .find(|u| u.voiced)
                .map_or(NEUTRAL_VOWEL, |u| u.vowel)
        };
        let turn_pos = (i as f64 / frames as f64) as f32;
        let mid_pos = ((i as f64 + 0.5) / frames as f64) as f32;
        let mut cond = [0.0f32; COND_DIM];
        cond[slot as usize] = 1.0;
        cond[4] = mid_pos;
        cond[5] = 1.0 - mid_pos;
        cond[6] = (voiced_mask & 1) as f32;
        cond[7 + vowel as usize] = 1.0;
        cond[13] = if here.stressed { 1.0 } else { 0.0 };
        cond[14] = if question { 1.0 } else { 0.0 };
        cond[15] = 1.0;
        out.push(FrameInfo {
            speaker: slot,
            turn: turn_index,
            turn_pos,
            unit_start,
            unit_end,
            voiced_mask,
            vowel,
            stressed: here.stressed,
            question,
            cond,
        });
    }
}

/// The unit row of one turn's text: a lead-in gap, then each word's syllables followed by its
/// gap (longer after punctuation), and at least two gap units of pause at the end.
pub fn turn_units(text: &str) -> Vec<Unit> {
    let gap = Unit {
        voiced: false,
        vowel: NEUTRAL_VOWEL,
        stressed: false,
    };
    let mut units = vec![gap];
    let words: Vec<&str> = text.split_whitespace().collect();
    for (w, word) in words.iter().enumerate() {
        for (s, vowel) in syllable_vowels(word).into_iter().enumerate() {
            units.push(Unit {
                voiced: true,
                vowel,
                stressed: s == 0,
            });
        }
        let gaps = match word.chars().last() {
            Some('.' | '!' | '?') => 3,
            Some(',' | ';' | ':') => 2,
            _ => 1,
        };
        let gaps = if w + 1 == words.len() {
            gaps.max(2)
        } else {
            gaps
        };
        units.extend(std::iter::repeat_n(gap, gaps));
    }
    if words.is_empty() {
        units.push(gap);
    }
    units
}

/// Vowel class of each syllable of a word: one syllable per group of vowel letters (a silent
/// final `e` does not count), at least one and at most six.
pub fn syllable_vowels(word: &str) -> Vec<u8> {
    let letters: Vec<char> = word
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    let class = |c: char| -> Option<u8> {
        match c {
            'a' => Some(0),
            'e' => Some(1),
            'i' | 'y' => Some(2),
            'o' => Some(3),
            'u' => Some(4),
            c if !c.is_ascii() => Some(NEUTRAL_VOWEL),
            _ => None,
        }
    };
    let mut vowels = Vec::new();
    let mut in_group = false;
    for (i, &c) in letters.iter().enumerate() {
        match class(c) {
            Some(v) if !in_group => {
                let silent_e = c == 'e' && i + 1 == letters.len() && i >= 2 && !vowels.is_empty();
                if !silent_e {
                    vowels.push(v);
                }
                in_group = true;
            }
            Some(_) => {}
            None => in_group = false,
        }
    }
    if vowels.is_empty() {
        vowels.push(NEUTRAL_VOWEL);
    }
    vowels.truncate(6);
    vowels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: &str, text: &str) -> Turn {
        Turn {
            speaker: speaker.into(),
            text: text.into(),
        }
    }

    #[test]
    fn syllables_follow_vowel_groups() {
        assert_eq!(syllable_vowels("banana"), vec![0, 0, 0]);
        assert_eq!(syllable_vowels("make"), vec![0]);
        assert_eq!(syllable_vowels("rhythm"), vec![2]);
        assert_eq!(syllable_vowels("tsk"), vec![NEUTRAL_VOWEL]);
        assert_eq!(syllable_vowels("Queue,"), vec![4]);
    }

    #[test]
    fn turns_start_and_end_silent_with_gaps_between_words() {
        let units = turn_units("hello there.");
        let voiced: Vec<bool> = units.iter().map(|u| u.voiced).collect();
        assert_eq!(
            voiced,
            vec![false, true, true, false, true, false, false, false]
        );
        assert!(units[1].stressed && !units[2].stressed);
    }

    #[test]
    fn frames_match_the_contract_count_and_speakers_get_slots() {
        let script = Script {
            turns: vec![
                turn("ann", "one two three four five"),
                turn("bob", "six seven"),
                turn("ann", "eight?"),
            ],
            seed: 1,
        };
        let layout = layout(&script).unwrap();
        assert_eq!(layout.frames.len() as u64, contract::script_frames(&script));
        assert_eq!(layout.speakers, vec!["ann", "bob"]);
        assert_eq!(layout.frames[0].speaker, 0);
        assert_eq!(layout.frames[15].speaker, 1);
        assert!(layout.frames.last().unwrap().question);
        assert!(!layout.frames[0].question);
        // the first frame starts in the lead-in gap
        assert_eq!(layout.frames[0].voiced_mask & 1, 0);
    }

    #[test]
    fn bad_scripts_are_refused_with_a_reason() {
        let empty = Script {
            turns: vec![],
            seed: 0,
        };
        assert!(layout(&empty).unwrap_err().to_string().contains("no turns"));
        let five = Script {
            turns: ["a", "b", "c", "d", "e"]
                .iter()
                .map(|s| turn(s, "hi"))
                .collect(),
            seed: 0,
        };
        assert!(layout(&five)
            .unwrap_err()
            .to_string()
            .contains("fifth speaker"));
        let big = Script {
            turns: vec![turn("a", &"x ".repeat(MAX_TURN_BYTES))],
            seed: 0,
        };
        assert!(layout(&big).unwrap_err().to_string().contains("bytes"));
    }
}
