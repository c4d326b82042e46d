//! What faults added to a run, so that `heal` and `heal_all` can revert exactly
//! that. It lives with the stack it describes (written by `fault`, read by
//! [`super::Stack::faults_in_place`]), so neither module needs the other's types.

use std::collections::{BTreeMap, BTreeSet};

use super::Role;

/// The faults in place on a run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FaultLedger {
    /// Containers disconnected from the run network.
    pub disconnected: BTreeSet<Role>,
    /// Containers paused.
    pub paused: BTreeSet<Role>,
    /// iptables chains added, per container.
    pub chains: BTreeMap<Role, Vec<String>>,
    /// Containers with a root qdisc added on eth0.
    pub qdiscs: BTreeSet<Role>,
    /// Memory limits lowered: the original (memory, memory-swap) in bytes, 0 = unlimited.
    pub memory: BTreeMap<Role, (i64, i64)>,
    /// NetworkPolicies made by partitions on Kubernetes, per pod role.
    pub policies: BTreeMap<Role, Vec<String>>,
    /// The fill file on the shared volume exists.
    pub disk_filled: bool,
    /// Number of chains made so far (for unique chain names).
    pub chain_counter: u32,
    /// Host faults' iptables rules in the test bed's root chain, by host:
    /// the comment each pair of rules carries.
    pub host_rules: BTreeMap<String, Vec<String>>,
    /// Host faults' root qdiscs, by host: the links they were added on
    /// (`tkb-hK`, or `netns:<namespace path>` for `eth0` in the host's namespace).
    pub host_qdiscs: BTreeMap<String, Vec<String>>,
    /// Crashed hosts: the roles whose containers died with them.
    pub hosts_crashed: BTreeMap<String, Vec<Role>>,
}

impl FaultLedger {
    /// Whether nothing is in place.
    pub fn is_clean(&self) -> bool {
        self.disconnected.is_empty()
            && self.paused.is_empty()
            && self.chains.values().all(Vec::is_empty)
            && self.qdiscs.is_empty()
            && self.memory.is_empty()
            && self.policies.values().all(Vec::is_empty)
            && !self.disk_filled
            && self.host_rules.values().all(Vec::is_empty)
            && self.host_qdiscs.values().all(Vec::is_empty)
            && self.hosts_crashed.is_empty()
    }

    /// Forgets what a container restart undid: its network namespace (rules,
    /// qdiscs) is new and it is no longer paused.
    pub fn forget_restarted(&mut self, role: Role) {
        self.chains.remove(&role);
        self.qdiscs.remove(&role);
        self.paused.remove(&role);
    }
}
