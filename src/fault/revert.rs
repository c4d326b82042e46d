//! What a `heal` undoes, one [`Revert`] per thing a fault leaves in place
//! (a pause, iptables chains, a qdisc, a disconnect, a lowered memory limit,
//! the fill file). Kinds name theirs in [`super::Kind::reverts`]; a heal runs
//! every distinct one of the registry in [`Revert::order`].

use super::kind::BoxFuture;
use super::FaultError;
use crate::stack::{Role, Stack};

/// Undoes one thing on a Docker container; `Some(what it did)` when there was something.
pub type DockerRevert =
    for<'a> fn(&'a Stack, Role) -> BoxFuture<'a, Result<Option<String>, FaultError>>;

/// Undoes one thing on a local process; `Some(what it did)` when there was something.
pub type ProcessRevert = fn(&Stack, Role) -> Result<Option<String>, FaultError>;

/// Undoes one thing once for the run (a heal of `Some(target)` or of everything).
pub type RunRevert =
    for<'a> fn(&'a Stack, Option<Role>) -> BoxFuture<'a, Result<Option<String>, FaultError>>;

/// Whom a revert is run for.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Each container the heal covers, in turn.
    EachRole {
        /// On a Docker stack.
        docker: DockerRevert,
        /// On a process stack (`None`: nothing of this kind exists there).
        process: Option<ProcessRevert>,
    },
    /// Once, after every container's reverts (Docker only).
    Run(RunRevert),
}

/// One thing a heal undoes.
#[derive(Debug)]
pub struct Revert {
    /// What it undoes, in words (for docs; also tells shared reverts apart).
    pub what: &'static str,
    /// Its place within a container's heal, lowest first: a container is thawed
    /// before its namespace is entered, rules go before the qdisc, the network
    /// before the memory limit. The order is what the heal's witness lists.
    pub order: u8,
    /// Whom it runs for, and how.
    pub scope: Scope,
}
