//! What the steps of a scenario leave in place as they follow each other, for
//! the order checks of validation (an `unpause` of something never paused, a
//! `heal` with nothing to heal). Each kind updates it in [`super::Fault::plan`].

use std::collections::BTreeSet;

use crate::stack::Role;

/// What earlier steps left in place and no later step has healed yet.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Containers with a network fault (rules, a qdisc, a disconnect).
    pub network: BTreeSet<Role>,
    /// Containers paused.
    pub paused: BTreeSet<Role>,
    /// The shared volume was filled.
    pub disk_filled: bool,
    /// Roles whose host a host fault cut, degraded or crashed.
    pub hosts: BTreeSet<Role>,
}
