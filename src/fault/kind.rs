//! What a fault kind is: [`Kind`], its static description (name, what it does,
//! where it can be made, what a heal undoes of it), and [`Fault`], the
//! behaviour of one fault as a scenario writes it. Each kind is one struct in
//! its own file implementing [`Fault`]; the registry lists their [`Kind`]s.

use std::future::Future;
use std::pin::Pin;

use super::revert::Revert;
use super::{Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::Role;

/// A boxed future that can cross threads, as trait objects return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an injection returns: the effect with its witness, or why it could not be made.
pub type Injection<'a> = BoxFuture<'a, Result<FaultEffect, FaultError>>;

/// The runtimes that can make a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtimes {
    /// Docker and `runtime: process`.
    Both,
    /// Docker only, with why the process runtime cannot make it (shown to the user).
    DockerOnly(&'static str),
    /// Neither Docker nor processes (a Kubernetes-only kind), with why.
    KubernetesOnly(&'static str),
}

/// The static description of a fault kind: one per kind, listed in the registry.
#[derive(Debug)]
pub struct Kind {
    /// The name scenarios write as `kind:` (`kill`, `oom-kill`, ...).
    pub name: &'static str,
    /// What it does and what witnesses it, in one or two sentences (the JSON
    /// Schema's description, the docs table, `takeover list --faults`).
    pub about: &'static str,
    /// The JSON Schema of its fields (its struct's `JsonSchema::json_schema`);
    /// the registry adds `kind` and [`Kind::about`].
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Where it can be made.
    pub runtimes: Runtimes,
    /// Whether `runtime: kubernetes` can make it too ([`Fault::inject_kubernetes`]).
    pub kubernetes: bool,
    /// Whether it disrupts the stack: `heal` and `unpause` do not (they may
    /// come after the job ended, and they are not what recovery is measured from).
    pub disruptive: bool,
    /// What it leaves in place that a `heal` undoes (empty: nothing).
    pub reverts: &'static [&'static Revert],
}

impl Kind {
    /// Why `runtime: process` cannot make this kind (`None`: it can).
    pub fn needs_docker(&self) -> Option<&'static str> {
        match self.runtimes {
            Runtimes::Both => None,
            Runtimes::DockerOnly(why) | Runtimes::KubernetesOnly(why) => Some(why),
        }
    }

    /// Whether Docker can make this kind.
    pub fn on_docker(&self) -> bool {
        !matches!(self.runtimes, Runtimes::KubernetesOnly(_))
    }
}

/// One fault as a scenario writes it: checks itself and makes itself happen.
pub trait Fault: Send + Sync {
    /// The static description of its kind.
    fn kind(&self) -> &'static Kind;

    /// The container it is aimed at (`None` for a heal of everything).
    fn target(&self) -> Option<Role>;

    /// Checks what serde cannot: value ranges and combinations. The message
    /// says what to write instead. Runs at validation and again at injection.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Checks this step against what earlier steps left in place, and records
    /// what it leaves itself (`unpause` needs an earlier `pause`, ...). The
    /// message is shown after `step N: `.
    fn plan(&self, _left: &mut Leftovers) -> Result<(), String> {
        Ok(())
    }

    /// Makes the fault on a Docker stack and waits for its witness.
    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a>;

    /// Makes the fault on a Kubernetes stack. Called only when
    /// [`Kind::kubernetes`] is set.
    fn inject_kubernetes<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        let kind = self.kind();
        Box::pin(async move {
            let _ = ctx;
            Err(FaultError::NotOnKubernetes {
                kind: kind.name.to_string(),
            })
        })
    }

    /// Makes the fault on a process stack. Called only when
    /// [`Kind::runtimes`] is [`Runtimes::Both`].
    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        let kind = self.kind();
        Box::pin(async move {
            let _ = ctx;
            Err(FaultError::NeedsDocker {
                kind: kind.name.to_string(),
                reason: kind.needs_docker().unwrap_or("no process injection").into(),
            })
        })
    }
}
