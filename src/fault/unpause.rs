//! `unpause`: thaw a paused container (SIGCONT for a process). Witness: the
//! `unpause` event and the state `running` (on processes, `/proc/PID/stat`
//! no longer `T`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{pause, process, Ctx, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "unpause",
    about: "Thaw a paused container. Witness: state `running` and `unpause` event.",
    schema: Unpause::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: false,
    reverts: &[],
};

/// `kind: unpause`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unpause {
    /// The container.
    pub target: Role,
}

impl Fault for Unpause {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        if left.paused.remove(&self.target) {
            Ok(())
        } else {
            Err(format!(
                "`unpause` of {} but no earlier step pauses it",
                self.target.as_str()
            ))
        }
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(pause::on_docker(ctx, self.target, false))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(process::stop_or_continue(ctx, self.target, false))
    }
}
