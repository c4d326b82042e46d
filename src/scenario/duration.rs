//! Durations as people write them in scenario files: `100ms`, `5s`, `1.5s`, `2m`.
//!
//! A bare number is refused on purpose: `interval: 20` could mean milliseconds
//! or seconds, and guessing wrong makes a drill measure the wrong thing.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A [`Duration`] read from and written as text with a unit (`ms`, `s`, `m`, `h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration: {why} (write a number and a unit, like `100ms`, `5s`, `1.5s` or `2m`)")]
pub struct DurationError {
    text: String,
    why: &'static str,
}

impl HumanDuration {
    /// Wraps a duration.
    pub const fn new(d: Duration) -> Self {
        Self(d)
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// The duration in milliseconds, with fractions.
    pub fn as_millis_f64(self) -> f64 {
        self.0.as_secs_f64() * 1e3
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Self {
        d.0
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |why| DurationError {
            text: text.to_string(),
            why,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| fail("it has no unit"))?;
        let (number, unit) = trimmed.split_at(split);
        if number.is_empty() {
            return Err(fail("it does not start with a number"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| fail("the number is malformed"))?;
        let scale_ms = match unit.trim() {
            "ms" => 1.0,
            "s" | "sec" => 1e3,
            "m" | "min" => 60e3,
            "h" => 3600e3,
            "us" | "µs" => 1e-3,
            _ => return Err(fail("the unit is not one of ms, s, m, h")),
        };
        let ms = value * scale_ms;
        if !ms.is_finite() || ms > 1e12 {
            return Err(fail("it is too long"));
        }
        Ok(Self(Duration::from_secs_f64(ms / 1e3)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            write!(f, "0s")
        } else if nanos % 1_000_000_000 == 0 {
            write!(f, "{}s", d.as_secs())
        } else if nanos % 1_000_000 == 0 {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}ms", d.as_secs_f64() * 1e3)
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, like `100ms`, `5s` or `2m`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    return Ok(HumanDuration::default());
                }
                Err(E::custom(format!(
                    "`{v}` has no unit: write `{v}ms` or `{v}s`"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit: write `{v}ms` or `{v}s`"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit: write `{v}s` or `{v}ms`"
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|sec|m|min|h|us)\s*$",
            "description": "A duration with a unit: `100ms`, `5s`, `1.5s`, `2m`.",
            "examples": ["100ms", "5s"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_units_people_write() {
        let ms = |t: &str| t.parse::<HumanDuration>().unwrap().as_millis_f64();
        assert_eq!(ms("100ms"), 100.0);
        assert_eq!(ms("5s"), 5000.0);
        assert_eq!(ms("1.5s"), 1500.0);
        assert_eq!(ms("2m"), 120_000.0);
        assert_eq!(ms(" 20 ms "), 20.0);
    }

    #[test]
    fn refuses_numbers_without_units_and_unknown_units() {
        assert!("20".parse::<HumanDuration>().is_err());
        assert!("5 parsecs".parse::<HumanDuration>().is_err());
        assert!("ms".parse::<HumanDuration>().is_err());
        assert!("1.2.3s".parse::<HumanDuration>().is_err());
        let err = "5x".parse::<HumanDuration>().unwrap_err().to_string();
        assert!(err.contains("`5x`") && err.contains("100ms"), "{err}");
    }

    #[test]
    fn writes_back_what_it_reads() {
        for text in ["100ms", "5s", "1500ms", "0s"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
    }
}
