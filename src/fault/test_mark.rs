//! `test-mark`: a fault kind that exists only in the harness's own tests. It
//! is added exactly as ARCHITECTURE.md's recipe says (this file and its line
//! in the `fault_kinds!` list of `fault/mod.rs`), so the tests below prove that a
//! kind added so is parsed, checked, planned, put in the schema and injected
//! without Docker. It changes nothing: its witness is the target's state.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kind::{Fault, Injection, Kind, Runtimes};
use super::{Ctx, FaultEffect, FaultError, Leftovers};
use crate::stack::Role;

/// The kind's description, for the registry.
pub static KIND: Kind = Kind {
    name: "test-mark",
    about: "Mark the target in the harness's own tests. Witness: the target's state.",
    schema: TestMark::json_schema,
    runtimes: Runtimes::Both,
    kubernetes: false,
    disruptive: true,
    reverts: &[],
};

/// `kind: test-mark`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMark {
    /// The container.
    pub target: Role,
    /// What the mark says (not empty).
    pub note: String,
}

impl Fault for TestMark {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn target(&self) -> Option<Role> {
        Some(self.target)
    }

    fn validate(&self) -> Result<(), String> {
        if self.note.trim().is_empty() {
            Err("test-mark `note` must say something".into())
        } else {
            Ok(())
        }
    }

    fn plan(&self, left: &mut Leftovers) -> Result<(), String> {
        if left.paused.contains(&self.target) {
            Err(format!("`test-mark` of paused {}", self.target))
        } else {
            Ok(())
        }
    }

    fn inject_docker<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self))
    }

    fn inject_process<'a>(&'a self, ctx: &'a Ctx<'a>) -> Injection<'a> {
        Box::pin(inject(ctx, self))
    }
}

/// Reads the target's state: any runtime can, so the mark is witnessed by it.
async fn inject(ctx: &Ctx<'_>, mark: &TestMark) -> Result<FaultEffect, FaultError> {
    let requested = ctx.clock.now_ms();
    let state = ctx.stack.state(mark.target).await?;
    let evidence = json!({ "note": mark.note, "state": state.status });
    if state.status == "running" {
        Ok(ctx.witnessed(
            KIND.name,
            mark.target,
            requested,
            ctx.clock.now_ms(),
            format!("marked `{}`, state {}", mark.note, state.status),
            evidence,
        ))
    } else {
        Ok(ctx.unwitnessed(KIND.name, mark.target, requested, evidence))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::fault::{registry, FaultSpec};
    use crate::scenario::ScenarioError;
    use crate::stack::{new_run_id, Backend, RuntimeKind, Stack, StackSpec};

    /// A process-runtime scenario with `steps`, beside a copy of a shipped script.
    fn scenario(name: &str, steps: &str) -> PathBuf {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let dir = std::env::temp_dir().join(format!("takeover-test-mark-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let script = dir.join("scripts/night-shift.yaml");
        std::fs::copy(shipped.join("scripts/night-shift.yaml"), &script).unwrap();
        let path = dir.join(name);
        let text = format!(
            "name: m\nstack: {{runtime: process}}\nworkload:\n  script: night-shift.yaml\nsteps:\n{steps}"
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_kind_added_by_the_recipe_is_parsed_checked_and_in_the_schema() {
        let f: FaultSpec =
            serde_json::from_str(r#"{"kind": "test-mark", "target": "primary", "note": "hi"}"#)
                .unwrap();
        assert_eq!((f.kind(), f.target()), ("test-mark", Some(Role::Primary)));
        assert!(f.validate().is_ok());
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({ "kind": "test-mark", "target": "primary", "note": "hi" })
        );
        let err = serde_json::from_str::<FaultSpec>(
            r#"{"kind": "test-mark", "target": "primary", "note": "x", "extra": 1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
        assert!(std::ptr::eq(registry::find("test-mark").unwrap(), &KIND));
        assert!(registry::shipped().all(|k| k.name != "test-mark"));
        assert!(!registry::markdown_table().contains("test-mark"));
        let schema = crate::cli::schema::scenario_schema().to_string();
        assert!(schema.contains(r#""const":"test-mark""#), "{schema}");
    }

    #[test]
    fn scenario_validation_runs_the_kinds_own_checks_in_place() {
        let ok = scenario(
            "ok.yaml",
            "  - at: 1s\n    fault: {kind: test-mark, target: primary, note: hello}\n",
        );
        crate::scenario::load(&ok).expect("a valid test-mark step");
        let bad = scenario(
            "bad.yaml",
            "  - at: 1s\n    fault: {kind: pause, target: primary}\n  - after: 1s\n    fault: {kind: test-mark, target: primary, note: ' '}\n",
        );
        let problems = match crate::scenario::load(&bad) {
            Err(ScenarioError::Invalid { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        };
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "step 2: test-mark `note` must say something",
                "step 2: `test-mark` of paused primary"
            ]
        );
        assert!(
            problems.iter().all(|p| p.line.is_some()),
            "located: {problems:?}"
        );
    }

    /// Injected through `fault::inject` on a real process stack (no Docker):
    /// needs `redis-server`, `haproxy` and a built `synth-worker`, as the
    /// process drills do.
    #[test]
    fn a_kind_added_by_the_recipe_is_injected_on_the_process_runtime() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut spec = StackSpec {
            runtime: RuntimeKind::Process,
            ..Default::default()
        };
        spec.worker.backend = Backend::Cpu;
        spec.ready_timeout = Duration::from_secs(60);
        let clock = Clock::start();
        let fault = FaultSpec::TestMark(TestMark {
            target: Role::Standby,
            note: "recipe".into(),
        });
        let effect = rt.block_on(async {
            let stack = Stack::up(&spec, &new_run_id(), &clock)
                .await
                .expect("a process stack (redis-server, haproxy, synth-worker)");
            let effect = crate::fault::inject(&stack, &fault, &clock, Duration::from_secs(5)).await;
            stack.down().await.unwrap();
            effect.unwrap()
        });
        assert_eq!(
            (effect.kind.as_str(), effect.target),
            ("test-mark", Role::Standby)
        );
        assert_eq!(
            effect.witness.as_deref(),
            Some("marked `recipe`, state running")
        );
        assert!(effect.in_effect_at_ms.is_some());
    }
}
