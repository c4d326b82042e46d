//! Faults as scenario steps write them, and what an injection reports back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::Kind;
use super::FaultSpec;
use crate::stack::Role;

impl FaultSpec {
    /// The static description of its kind.
    pub fn kind_info(&self) -> &'static Kind {
        self.as_fault().kind()
    }

    /// The kind as written in scenarios (`kill`, `oom-kill`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind_info().name
    }

    /// The container the fault is aimed at (`None` for a heal of everything).
    pub fn target(&self) -> Option<Role> {
        self.as_fault().target()
    }

    /// Checks what serde cannot: value ranges and combinations. The message says what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        self.as_fault().validate()
    }

    /// Whether it disrupts the stack (`heal` and `unpause` do not).
    pub fn is_disruptive(&self) -> bool {
        self.kind_info().disruptive
    }
}

impl JsonSchema for FaultSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        super::registry::fault_spec_schema(generator)
    }
}

/// Which packets a network fault hits, seen from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets arriving at the target.
    Inbound,
    /// Packets the target sends.
    Outbound,
    /// Both.
    #[default]
    Both,
}

/// What an injection did, with the proof that it took effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEffect {
    /// The fault kind (`kill`, `oom-kill`, ...).
    pub kind: String,
    /// The container it was aimed at.
    pub target: Role,
    /// When the harness asked for it (clock ms).
    pub requested_at_ms: f64,
    /// When it took effect, from the engine's event where there is one (clock ms);
    /// `None`: no witness within the deadline, so the iteration is inconclusive.
    pub in_effect_at_ms: Option<f64>,
    /// What proved it (`die event, exit 137`, `rule DROP counter 12 packets`, ...).
    pub witness: Option<String>,
    /// Raw facts behind the witness (exit code, counters, error class, ...).
    pub evidence: serde_json::Value,
    /// Set when the fault cannot be made here (kernel lacks netem, no GPU, ...): the step is skipped, not faked.
    pub unavailable: Option<String>,
}

impl FaultEffect {
    /// The delay from the request to the effect, when there is a witness.
    pub fn effect_delay_ms(&self) -> Option<f64> {
        self.in_effect_at_ms.map(|t| t - self.requested_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Kill, Latency, Loss, OomKill, Partition};

    #[test]
    fn faults_read_from_tagged_maps() {
        let f: FaultSpec =
            serde_json::from_str(r#"{"kind": "kill", "target": "primary"}"#).unwrap();
        assert_eq!(
            f,
            FaultSpec::Kill(Kill {
                target: Role::Primary,
                signal: "SIGKILL".into()
            })
        );
        let f: FaultSpec = serde_json::from_str(
            r#"{"kind": "partition", "target": "primary", "peers": ["frontdoor"], "direction": "inbound"}"#,
        )
        .unwrap();
        assert_eq!(f.kind(), "partition");
        assert!(f.validate().is_ok());
        let f: FaultSpec =
            serde_json::from_str(r#"{"kind": "latency", "target": "standby", "delay": "200ms"}"#)
                .unwrap();
        assert_eq!(
            f,
            FaultSpec::Latency(Latency {
                target: Role::Standby,
                delay: std::time::Duration::from_millis(200),
                jitter: None
            })
        );
    }

    #[test]
    fn unknown_kinds_and_keys_are_refused() {
        let err = serde_json::from_str::<FaultSpec>(r#"{"kind": "meteor", "target": "primary"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `meteor`"), "{err}");
        assert!(
            err.contains("oom-kill"),
            "the known kinds are listed: {err}"
        );
        let err = serde_json::from_str::<FaultSpec>(
            r#"{"kind": "pause", "target": "primary", "for": "1s"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `for`"), "{err}");
    }

    #[test]
    fn impossible_combinations_are_explained() {
        let bad = FaultSpec::Partition(Partition {
            target: Role::Primary,
            peers: vec![Role::Frontdoor],
            direction: Direction::Both,
            method: crate::fault::PartitionMethod::Disconnect,
        });
        assert!(bad.validate().unwrap_err().contains("method `iptables`"));
        let bad = FaultSpec::OomKill(OomKill {
            target: Role::State,
            headroom: None,
        });
        assert!(bad.validate().unwrap_err().contains("worker target"));
        let bad = FaultSpec::Loss(Loss {
            target: Role::Primary,
            percent: 0.0,
            direction: Direction::Both,
        });
        assert!(bad.validate().is_err());
        let bad = FaultSpec::Kill(Kill {
            target: Role::Primary,
            signal: "SIGBOGUS".into(),
        });
        assert!(bad.validate().unwrap_err().contains("unknown signal"));
        assert_eq!(crate::fault::signal_number("kill"), Some(9));
        assert_eq!(crate::fault::signal_number("SIGTERM"), Some(15));
    }
}
