//! The grid of a sweep: which front-door and lease settings vary, the values
//! each takes, and their expansion into settings (every combination).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::HumanDuration;
use crate::stack::StackSpec;

/// A setting a sweep can vary, in the order the table shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knob {
    /// HAProxy `inter` (`stack.frontdoor.check_interval`).
    CheckInterval,
    /// HAProxy `fall` (`stack.frontdoor.fall`).
    Fall,
    /// HAProxy `rise` (`stack.frontdoor.rise`).
    Rise,
    /// HAProxy `timeout check` (`stack.frontdoor.timeout_check`).
    TimeoutCheck,
    /// HAProxy `timeout connect` (`stack.frontdoor.timeout_connect`).
    TimeoutConnect,
    /// How long a read waits before it is retried on the other server
    /// (`stack.frontdoor.timeout_read`; `0s` turns the retry off).
    TimeoutRead,
    /// The workers' job lease TTL (`stack.worker.lease_ttl`).
    LeaseTtl,
}

impl Knob {
    /// Every knob, in table order.
    pub const ALL: [Knob; 7] = [
        Knob::CheckInterval,
        Knob::Fall,
        Knob::Rise,
        Knob::TimeoutCheck,
        Knob::TimeoutConnect,
        Knob::TimeoutRead,
        Knob::LeaseTtl,
    ];

    /// Its name in a grid file, a column header and `report.json`'s scenario record.
    pub const fn as_str(self) -> &'static str {
        match self {
            Knob::CheckInterval => "check_interval",
            Knob::Fall => "fall",
            Knob::Rise => "rise",
            Knob::TimeoutCheck => "timeout_check",
            Knob::TimeoutConnect => "timeout_connect",
            Knob::TimeoutRead => "timeout_read",
            Knob::LeaseTtl => "lease_ttl",
        }
    }

    /// Its value in a stack spec (the shipped default when the spec is the default).
    pub fn get(self, stack: &StackSpec) -> Value {
        let fd = &stack.frontdoor;
        match self {
            Knob::CheckInterval => Value::Duration(fd.check_interval),
            Knob::Fall => Value::Count(fd.fall),
            Knob::Rise => Value::Count(fd.rise),
            Knob::TimeoutCheck => Value::Duration(fd.timeout_check),
            Knob::TimeoutConnect => Value::Duration(fd.timeout_connect),
            Knob::TimeoutRead => Value::Duration(fd.timeout_read),
            Knob::LeaseTtl => Value::Duration(stack.worker.lease_ttl),
        }
    }

    /// Sets it in a stack spec. A value of the wrong kind (a count for a
    /// duration) cannot come out of [`Grid`], whose constructors type each knob.
    fn set(self, stack: &mut StackSpec, value: Value) {
        let fd = &mut stack.frontdoor;
        match (self, value) {
            (Knob::CheckInterval, Value::Duration(d)) => fd.check_interval = d,
            (Knob::Fall, Value::Count(n)) => fd.fall = n,
            (Knob::Rise, Value::Count(n)) => fd.rise = n,
            (Knob::TimeoutCheck, Value::Duration(d)) => fd.timeout_check = d,
            (Knob::TimeoutConnect, Value::Duration(d)) => fd.timeout_connect = d,
            (Knob::TimeoutRead, Value::Duration(d)) => fd.timeout_read = d,
            (Knob::LeaseTtl, Value::Duration(d)) => stack.worker.lease_ttl = d,
            (knob, value) => unreachable!("{knob} cannot take {value}"),
        }
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A time (`100ms`).
    Duration(Duration),
    /// A count of checks.
    Count(u32),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Duration(d) => write!(f, "{}", HumanDuration::from(*d)),
            Value::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Duration(_) => s.collect_str(self),
            Value::Count(n) => s.serialize_u32(*n),
        }
    }
}

/// The values each varied knob takes; a knob not listed keeps the scenario's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    axes: Vec<(Knob, Vec<Value>)>,
}

/// Why a grid cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// A knob was given no values.
    #[error("`{0}` lists no values")]
    Empty(Knob),
    /// A value appears twice for one knob.
    #[error("`{knob}` lists {value} twice")]
    Duplicate {
        /// The knob.
        knob: Knob,
        /// The repeated value.
        value: Value,
    },
    /// The grid file is not valid YAML for a grid.
    #[error("{file}:{line}:{column}: {message} (a grid file maps knobs to lists: `check_interval: [50ms, 100ms]`, `fall: [2, 3]`; knobs: check_interval, fall, rise, timeout_check, timeout_connect, timeout_read, lease_ttl)")]
    File {
        /// The grid file.
        file: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// More settings than a sweep should run.
    #[error("the grid has {0} settings; at most {MAX_SETTINGS} are run at once (split the grid)")]
    TooLarge(usize),
}

/// The most settings one sweep runs: each costs several drill iterations.
pub const MAX_SETTINGS: usize = 256;

/// A grid file: each key a knob, each value a list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GridFile {
    #[serde(default)]
    check_interval: Vec<HumanDuration>,
    #[serde(default)]
    fall: Vec<u32>,
    #[serde(default)]
    rise: Vec<u32>,
    #[serde(default)]
    timeout_check: Vec<HumanDuration>,
    #[serde(default)]
    timeout_connect: Vec<HumanDuration>,
    #[serde(default)]
    timeout_read: Vec<HumanDuration>,
    #[serde(default)]
    lease_ttl: Vec<HumanDuration>,
}

impl Grid {
    /// The grid a sweep runs when none is given: check interval 50 ms and
    /// 100 ms by `fall` 2 and 3 (four settings around the shipped defaults).
    pub fn small_default() -> Self {
        let mut g = Grid::default();
        g.durations(
            Knob::CheckInterval,
            &[Duration::from_millis(50), Duration::from_millis(100)],
        );
        g.counts(Knob::Fall, &[2, 3]);
        g
    }

    /// Varies a duration knob over `values` (replacing any values it had;
    /// none leaves it out).
    pub fn durations(&mut self, knob: Knob, values: &[Duration]) {
        self.put(knob, values.iter().map(|d| Value::Duration(*d)).collect());
    }

    /// Varies a count knob over `values` (replacing any values it had; none
    /// leaves it out).
    pub fn counts(&mut self, knob: Knob, values: &[u32]) {
        self.put(knob, values.iter().map(|n| Value::Count(*n)).collect());
    }

    fn put(&mut self, knob: Knob, values: Vec<Value>) {
        self.axes.retain(|(k, _)| *k != knob);
        if !values.is_empty() {
            self.axes.push((knob, values));
            self.axes.sort_by_key(|(k, _)| *k);
        }
    }

    /// Parses a grid file's text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, GridError> {
        let raw: GridFile = serde_saphyr::from_str(text).map_err(|e| {
            let loc = e.location();
            GridError::File {
                file: file.to_string(),
                line: loc.map_or(0, |l| l.line()),
                column: loc.map_or(0, |l| l.column()),
                message: e.to_string(),
            }
        })?;
        let d = |v: &[HumanDuration]| v.iter().map(|h| h.get()).collect::<Vec<_>>();
        let mut g = Grid::default();
        g.durations(Knob::CheckInterval, &d(&raw.check_interval));
        g.counts(Knob::Fall, &raw.fall);
        g.counts(Knob::Rise, &raw.rise);
        g.durations(Knob::TimeoutCheck, &d(&raw.timeout_check));
        g.durations(Knob::TimeoutConnect, &d(&raw.timeout_connect));
        g.durations(Knob::TimeoutRead, &d(&raw.timeout_read));
        g.durations(Knob::LeaseTtl, &d(&raw.lease_ttl));
        Ok(g)
    }

    /// Knobs given on top of this grid replace this grid's values for them.
    pub fn overlay(mut self, other: Grid) -> Grid {
        for (knob, values) in other.axes {
            self.put(knob, values);
        }
        self
    }

    /// Whether no knob varies.
    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// The varied knobs, in table order.
    pub fn knobs(&self) -> Vec<Knob> {
        self.axes.iter().map(|(k, _)| *k).collect()
    }

    /// Every combination of the knobs' values, the last knob varying fastest.
    pub fn expand(&self) -> Result<Vec<Setting>, GridError> {
        for (knob, values) in &self.axes {
            if values.is_empty() {
                return Err(GridError::Empty(*knob));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(GridError::Duplicate {
                        knob: *knob,
                        value: *v,
                    });
                }
            }
        }
        let count = self
            .axes
            .iter()
            .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
            .unwrap_or(usize::MAX);
        if count > MAX_SETTINGS {
            return Err(GridError::TooLarge(count));
        }
        let mut settings = vec![Setting::default()];
        for (knob, values) in &self.axes {
            settings = settings
                .into_iter()
                .flat_map(|s| {
                    values.iter().map(move |v| {
                        let mut next = s.clone();
                        next.values.push((*knob, *v));
                        next
                    })
                })
                .collect();
        }
        Ok(settings)
    }
}

/// One point of the grid: a value for each varied knob.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Setting {
    /// The knobs and their values, in table order.
    pub values: Vec<(Knob, Value)>,
}

impl Setting {
    /// Applies the setting to a scenario's stack.
    pub fn apply(&self, stack: &mut StackSpec) {
        for (knob, value) in &self.values {
            knob.set(stack, *value);
        }
    }

    /// The value of `knob`, if this setting varies it.
    pub fn get(&self, knob: Knob) -> Option<Value> {
        self.values
            .iter()
            .find(|(k, _)| *k == knob)
            .map(|(_, v)| *v)
    }

    /// A name fit for a directory: `check_interval-50ms_fall-2`
    /// (`shipped` when nothing varies).
    pub fn slug(&self) -> String {
        if self.values.is_empty() {
            return "shipped".into();
        }
        self.values
            .iter()
            .map(|(k, v)| format!("{k}-{}", v.to_string().replace(' ', "")))
            .collect::<Vec<_>>()
            .join("_")
    }

    /// Whether every varied knob has the shipped default's value.
    pub fn is_shipped(&self) -> bool {
        let shipped = StackSpec::default();
        self.values.iter().all(|(k, v)| k.get(&shipped) == *v)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.values.is_empty() {
            return f.write_str("the scenarios' own settings");
        }
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

impl Serialize for Setting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in &self.values {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_default_grid_is_four_settings_around_the_shipped_values() {
        let settings = Grid::small_default().expand().unwrap();
        let names: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "check_interval=50ms fall=2",
                "check_interval=50ms fall=3",
                "check_interval=100ms fall=2",
                "check_interval=100ms fall=3",
            ]
        );
        assert_eq!(
            settings.iter().filter(|s| s.is_shipped()).count(),
            1,
            "exactly one is the shipped default"
        );
        assert!(settings[2].is_shipped());
    }

    #[test]
    fn expansion_is_the_cartesian_product_in_table_order() {
        let mut g = Grid::default();
        // Given out of order: the table order wins.
        g.durations(Knob::LeaseTtl, &[ms(300), ms(1000)]);
        g.counts(Knob::Rise, &[1, 2, 3]);
        assert_eq!(g.knobs(), [Knob::Rise, Knob::LeaseTtl]);
        let s = g.expand().unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].to_string(), "rise=1 lease_ttl=300ms");
        assert_eq!(s[1].to_string(), "rise=1 lease_ttl=1s");
        assert_eq!(s[5].slug(), "rise-3_lease_ttl-1s");
    }

    #[test]
    fn a_setting_changes_only_its_knobs_in_the_stack() {
        let mut g = Grid::default();
        g.durations(Knob::TimeoutCheck, &[ms(250)]);
        g.durations(Knob::LeaseTtl, &[ms(300)]);
        g.counts(Knob::Fall, &[3]);
        let s = &g.expand().unwrap()[0];
        let mut stack = StackSpec::default();
        s.apply(&mut stack);
        assert_eq!(stack.frontdoor.timeout_check, ms(250));
        assert_eq!(stack.frontdoor.fall, 3);
        assert_eq!(stack.worker.lease_ttl, ms(300));
        let mut expected = StackSpec::default();
        expected.frontdoor.timeout_check = ms(250);
        expected.frontdoor.fall = 3;
        expected.worker.lease_ttl = ms(300);
        assert_eq!(stack, expected);
        assert!(!s.is_shipped());
    }

    #[test]
    fn a_grid_file_parses_and_the_command_line_overrides_it() {
        let file =
            Grid::from_yaml("check_interval: [50ms, 100ms]\nlease_ttl: [1s]\n", "g.yaml").unwrap();
        let mut cli = Grid::default();
        cli.durations(Knob::CheckInterval, &[ms(20)]);
        cli.counts(Knob::Fall, &[2, 3]);
        let g = file.overlay(cli);
        let names: Vec<String> = g.expand().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "check_interval=20ms fall=2 lease_ttl=1s",
                "check_interval=20ms fall=3 lease_ttl=1s"
            ]
        );
    }

    #[test]
    fn bad_grid_files_say_where_and_what() {
        let err = Grid::from_yaml("fall: [2, 3]\ninterval: [50ms]\n", "g.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("g.yaml:2:"), "{text}");
        assert!(text.contains("interval"), "{text}");
        let err = Grid::from_yaml("check_interval: [fast]\n", "g.yaml").unwrap_err();
        assert!(err.to_string().starts_with("g.yaml:1:"), "{err}");
    }

    #[test]
    fn duplicates_and_huge_grids_are_refused() {
        let mut g = Grid::default();
        g.counts(Knob::Fall, &[2, 2]);
        assert_eq!(g.expand().unwrap_err().to_string(), "`fall` lists 2 twice");
        let mut g = Grid::default();
        let many: Vec<u32> = (1..=20).collect();
        g.counts(Knob::Fall, &many);
        g.counts(Knob::Rise, &many);
        assert!(matches!(g.expand(), Err(GridError::TooLarge(400))));
    }

    #[test]
    fn an_empty_grid_is_one_setting_the_scenarios_own() {
        let s = Grid::default().expand().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].slug(), "shipped");
        assert!(s[0].is_shipped());
    }

    #[test]
    fn settings_serialize_as_a_map_of_knob_to_value() {
        let mut g = Grid::default();
        g.durations(Knob::CheckInterval, &[ms(50)]);
        g.counts(Knob::Fall, &[3]);
        let s = &g.expand().unwrap()[0];
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"check_interval": "50ms", "fall": 3})
        );
    }
}
