//! Faults as scenario steps write them, and what an injection reports back.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stack::units::serde_duration;
use crate::stack::Role;

/// One fault, as a scenario step writes it (`kind: kill`, `target: primary`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Send a signal to the container's main process (Docker kill). Witness: `die` event and exit code.
    Kill {
        /// The container.
        target: Role,
        /// Signal name, `SIGKILL` unless given (`SIGTERM`, `SIGINT`, ...).
        #[serde(default = "default_signal")]
        signal: String,
    },
    /// Lower the worker's live memory limit and make it grow until the kernel's
    /// OOM killer ends it. Witness: `oom` event, `OOMKilled: true`, exit 137.
    OomKill {
        /// The worker.
        target: Role,
        /// Headroom above the worker's current memory use given as the new limit (default `64MiB`).
        #[serde(default)]
        #[schemars(with = "Option<String>")]
        headroom: Option<crate::stack::ByteSize>,
    },
    /// Freeze every process of the container (cgroup freezer). Witness: state `paused` and `pause` event.
    Pause {
        /// The container.
        target: Role,
    },
    /// Thaw a paused container. Witness: state `running` and `unpause` event.
    Unpause {
        /// The container.
        target: Role,
    },
    /// Cut the target off from peers: leave the run network (`disconnect`) or drop
    /// packets with iptables in its network namespace (`iptables`, per peer and direction).
    Partition {
        /// The container cut off.
        target: Role,
        /// Peers it can no longer reach or be reached from (empty: every peer).
        #[serde(default)]
        peers: Vec<Role>,
        /// Which traffic is dropped, seen from the target.
        #[serde(default)]
        direction: Direction,
        /// How: `auto` picks `disconnect` for a full two-way cut from everyone, else `iptables`.
        #[serde(default)]
        method: PartitionMethod,
    },
    /// Drop a share of the target's packets at random (iptables `statistic`). Witness: the rule's counter moves.
    Loss {
        /// The container.
        target: Role,
        /// Share of packets dropped, 0 to 100.
        percent: f64,
        /// Which traffic is dropped, seen from the target.
        #[serde(default)]
        direction: Direction,
    },
    /// Limit the target's outbound bandwidth (`tc tbf`). Witness: the qdisc is listed and its counters move.
    Bandwidth {
        /// The container.
        target: Role,
        /// Rate as `tc` writes it: `1mbit`, `500kbit`.
        rate: String,
    },
    /// Delay the target's outbound packets (`tc netem`); reported unavailable where the kernel lacks netem.
    Latency {
        /// The container.
        target: Role,
        /// Added delay, e.g. `200ms`.
        #[serde(with = "serde_duration")]
        #[schemars(with = "String")]
        delay: Duration,
        /// Random variation of the delay, e.g. `20ms`.
        #[serde(default, with = "opt_duration")]
        #[schemars(with = "Option<String>")]
        jitter: Option<Duration>,
    },
    /// Revert what earlier faults did to the target (rules, qdiscs, disconnects, pauses);
    /// without a target, to every container.
    Heal {
        /// The container, or every one when left out.
        #[serde(default)]
        target: Option<Role>,
    },
    /// Restart the container (Docker restart). Witness: `restart` event, then running.
    Restart {
        /// The container.
        target: Role,
    },
    /// Ask the worker to inflict a GPU fault on itself through its fault endpoint.
    /// Witness: the error class the worker reports, and its reaction (e.g. it exits).
    Gpu {
        /// The worker.
        target: Role,
        /// Which GPU fault.
        fault: GpuFault,
        /// Xid number for `fault: xid` (e.g. 13, 48, 79).
        #[serde(default)]
        xid: Option<u32>,
    },
    /// Fill the shared `/data` volume until no byte is free (needs `stack.data_volume_size`).
    /// Witness: free space reaches zero.
    DiskFill {
        /// The worker whose writes are expected to fail (for the report).
        #[serde(default = "default_primary")]
        target: Role,
    },
    /// Flip bytes in the newest checkpoint file on the shared volume. Witness: its checksum changed.
    CorruptCheckpoint {
        /// The worker expected to read the checkpoint (for the report).
        #[serde(default = "default_standby")]
        target: Role,
    },
}

fn default_signal() -> String {
    "SIGKILL".to_string()
}

fn default_primary() -> Role {
    Role::Primary
}

fn default_standby() -> Role {
    Role::Standby
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => crate::stack::units::serde_duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "crate::stack::units::serde_duration")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
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

/// How a partition is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartitionMethod {
    /// `disconnect` for a two-way cut from every peer, else `iptables`.
    #[default]
    Auto,
    /// Disconnect the container from the run network.
    Disconnect,
    /// DROP rules in the container's network namespace, from the sidecar.
    Iptables,
}

/// GPU faults the worker can inflict on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GpuFault {
    /// An out-of-bounds kernel: sticky `CUDA_ERROR_ILLEGAL_ADDRESS`.
    IllegalAddress,
    /// A kernel that never finishes: the worker's watchdog must notice.
    Hang,
    /// Device memory exhausted (not sticky).
    Oom,
    /// A device error with an Xid number.
    Xid,
}

impl GpuFault {
    /// The matching fault kind of the worker's fault endpoint.
    pub fn worker_kind(self) -> contract::FaultKind {
        match self {
            GpuFault::IllegalAddress => contract::FaultKind::GpuIllegalAddress,
            GpuFault::Hang => contract::FaultKind::GpuHang,
            GpuFault::Oom => contract::FaultKind::GpuOom,
            GpuFault::Xid => contract::FaultKind::GpuXid,
        }
    }
}

impl FaultSpec {
    /// The kind as written in scenarios (`kill`, `oom-kill`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::Kill { .. } => "kill",
            FaultSpec::OomKill { .. } => "oom-kill",
            FaultSpec::Pause { .. } => "pause",
            FaultSpec::Unpause { .. } => "unpause",
            FaultSpec::Partition { .. } => "partition",
            FaultSpec::Loss { .. } => "loss",
            FaultSpec::Bandwidth { .. } => "bandwidth",
            FaultSpec::Latency { .. } => "latency",
            FaultSpec::Heal { .. } => "heal",
            FaultSpec::Restart { .. } => "restart",
            FaultSpec::Gpu { .. } => "gpu",
            FaultSpec::DiskFill { .. } => "disk-fill",
            FaultSpec::CorruptCheckpoint { .. } => "corrupt-checkpoint",
        }
    }

    /// Every kind a scenario may name, for error messages that list them.
    pub const KINDS: [&'static str; 13] = [
        "kill",
        "oom-kill",
        "pause",
        "unpause",
        "partition",
        "loss",
        "bandwidth",
        "latency",
        "heal",
        "restart",
        "gpu",
        "disk-fill",
        "corrupt-checkpoint",
    ];

    /// The container the fault is aimed at (`None` for a heal of everything).
    pub fn target(&self) -> Option<Role> {
        match self {
            FaultSpec::Kill { target, .. }
            | FaultSpec::OomKill { target, .. }
            | FaultSpec::Pause { target }
            | FaultSpec::Unpause { target }
            | FaultSpec::Partition { target, .. }
            | FaultSpec::Loss { target, .. }
            | FaultSpec::Bandwidth { target, .. }
            | FaultSpec::Latency { target, .. }
            | FaultSpec::Restart { target }
            | FaultSpec::Gpu { target, .. }
            | FaultSpec::DiskFill { target }
            | FaultSpec::CorruptCheckpoint { target } => Some(*target),
            FaultSpec::Heal { target } => *target,
        }
    }

    /// Checks what serde cannot: value ranges and combinations. The message says what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            FaultSpec::OomKill { target, .. } | FaultSpec::Gpu { target, .. } if !target.is_worker() => {
                Err(format!(
                    "`{}` needs a worker target (primary or standby), not `{target}`",
                    self.kind()
                ))
            }
            FaultSpec::Loss { percent, .. } if !(*percent > 0.0 && *percent <= 100.0) => Err(format!(
                "loss `percent` must be above 0 and at most 100, not {percent}"
            )),
            FaultSpec::Partition {
                target,
                peers,
                direction,
                method: PartitionMethod::Disconnect,
            } if !peers.is_empty() || *direction != Direction::Both => Err(format!(
                "partition of `{target}` with method `disconnect` cuts every peer both ways; \
                 use method `iptables` for chosen peers or one direction"
            )),
            FaultSpec::Partition { target, peers, .. } if peers.contains(target) => {
                Err(format!("partition of `{target}` lists itself among its peers"))
            }
            FaultSpec::Gpu {
                fault: GpuFault::Xid,
                xid: None,
                ..
            } => Err("a `gpu` fault with `fault: xid` needs an `xid` number (e.g. 13, 48, 79)".into()),
            FaultSpec::Bandwidth { rate, .. } if !is_tc_rate(rate) => Err(format!(
                "bandwidth `rate` `{}` is not a tc rate; write a number and a unit like `1mbit`, `500kbit` or `2mbps`",
                rate.escape_debug()
            )),
            FaultSpec::Latency { delay, jitter, .. }
                if delay.is_zero() || jitter.is_some_and(|j| j > *delay) =>
            {
                Err("latency `delay` must be longer than 0s, and `jitter` at most the delay".into())
            }
            FaultSpec::Kill { signal, .. } if signal_number(signal).is_none() => Err(format!(
                "unknown signal `{signal}`; use a name like SIGKILL, SIGTERM, SIGINT, SIGQUIT, SIGSEGV"
            )),
            _ => Ok(()),
        }
    }
}

/// A rate as `tc` reads it: a positive number and a known unit (`1mbit`, `500kbit`, `2mbps`).
pub fn is_tc_rate(rate: &str) -> bool {
    const UNITS: [&str; 12] = [
        "bit", "kbit", "mbit", "gbit", "tbit", "bps", "kbps", "mbps", "gbps", "tbps", "kibit",
        "mibit",
    ];
    let split = rate
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rate.len());
    let (number, unit) = rate.split_at(split);
    let positive = number
        .parse::<f64>()
        .is_ok_and(|n| n.is_finite() && n > 0.0);
    positive && UNITS.contains(&unit.to_ascii_lowercase().as_str())
}

/// The number of a signal named `SIGKILL` or `KILL` (the ones that make sense to send to a service).
pub fn signal_number(name: &str) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match bare {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "TERM" => 15,
        "STOP" => 19,
        _ => return None,
    })
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

    #[test]
    fn faults_read_from_tagged_maps() {
        let f: FaultSpec =
            serde_json::from_str(r#"{"kind": "kill", "target": "primary"}"#).unwrap();
        assert_eq!(
            f,
            FaultSpec::Kill {
                target: Role::Primary,
                signal: "SIGKILL".into()
            }
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
            FaultSpec::Latency {
                target: Role::Standby,
                delay: Duration::from_millis(200),
                jitter: None
            }
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
        let bad = FaultSpec::Partition {
            target: Role::Primary,
            peers: vec![Role::Frontdoor],
            direction: Direction::Both,
            method: PartitionMethod::Disconnect,
        };
        assert!(bad.validate().unwrap_err().contains("method `iptables`"));
        let bad = FaultSpec::OomKill {
            target: Role::State,
            headroom: None,
        };
        assert!(bad.validate().unwrap_err().contains("worker target"));
        let bad = FaultSpec::Loss {
            target: Role::Primary,
            percent: 0.0,
            direction: Direction::Both,
        };
        assert!(bad.validate().is_err());
        let bad = FaultSpec::Kill {
            target: Role::Primary,
            signal: "SIGBOGUS".into(),
        };
        assert!(bad.validate().unwrap_err().contains("unknown signal"));
        assert_eq!(signal_number("kill"), Some(9));
        assert_eq!(signal_number("SIGTERM"), Some(15));
    }
}
