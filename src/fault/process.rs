//! Faults on a `runtime: process` stack: signals to the local processes
//! instead of Docker calls. `kill` (witness: the supervisor's `die` event
//! with the exit status), `pause`/`unpause` (SIGSTOP/SIGCONT; witness:
//! `/proc/PID/stat` state `T`, then back to running), `restart`, `heal`
//! (thaws what was paused), `gpu` (the worker's own endpoint, as on Docker)
//! and `corrupt-checkpoint` (the data directory is local). The rest work on a
//! container's cgroup or network namespace and need Docker: [`needs_docker`]
//! says why, and scenario validation refuses them up front.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{corrupt_checkpoint, gpu, Ctx, FaultEffect, FaultError, FaultSpec};
use crate::stack::process::supervise::{proc_state, Supervisor};
use crate::stack::{Role, Stack};

/// Why a fault cannot be made on the process runtime (`None`: it can).
pub fn needs_docker(fault: &FaultSpec) -> Option<&'static str> {
    match fault {
        FaultSpec::OomKill { .. } => {
            Some("it lowers the container's memory limit, a cgroup that Docker manages")
        }
        FaultSpec::Partition { .. } | FaultSpec::Loss { .. } => {
            Some("it works inside the container's network namespace")
        }
        FaultSpec::Bandwidth { .. } | FaultSpec::Latency { .. } => {
            Some("it shapes the container's own network interface with tc")
        }
        FaultSpec::DiskFill { .. } => {
            Some("it fills the size-limited (tmpfs) volume Docker mounts")
        }
        FaultSpec::Kill { .. }
        | FaultSpec::Pause { .. }
        | FaultSpec::Unpause { .. }
        | FaultSpec::Heal { .. }
        | FaultSpec::Restart { .. }
        | FaultSpec::Gpu { .. }
        | FaultSpec::CorruptCheckpoint { .. } => None,
    }
}

fn supervisor(stack: &Stack) -> Supervisor {
    stack
        .processes()
        .expect("fault::process is only called for process stacks")
        .supervisor()
        .clone()
}

/// Makes `fault` happen on a process stack.
pub(super) async fn inject(ctx: &Ctx<'_>, fault: &FaultSpec) -> Result<FaultEffect, FaultError> {
    if let Some(reason) = needs_docker(fault) {
        return Err(FaultError::NeedsDocker {
            kind: fault.kind().to_string(),
            reason: reason.to_string(),
        });
    }
    match fault {
        FaultSpec::Kill { target, signal } => kill(ctx, *target, signal).await,
        FaultSpec::Pause { target } => stop_or_continue(ctx, *target, true).await,
        FaultSpec::Unpause { target } => stop_or_continue(ctx, *target, false).await,
        FaultSpec::Restart { target } => restart(ctx, *target).await,
        FaultSpec::Heal { target } => {
            let requested = ctx.clock.now_ms();
            let reverted = heal(ctx.stack, *target)?;
            Ok(super::heal::effect(ctx, *target, requested, reverted))
        }
        FaultSpec::Gpu { target, fault, xid } => gpu::inject(ctx, *target, *fault, *xid).await,
        FaultSpec::CorruptCheckpoint { target } => corrupt_checkpoint_locally(ctx, *target).await,
        _ => unreachable!("needs_docker covers every other fault"),
    }
}

async fn kill(ctx: &Ctx<'_>, target: Role, signal: &str) -> Result<FaultEffect, FaultError> {
    let signo = super::signal_number(signal).ok_or_else(|| FaultError::Invalid {
        kind: "kill".into(),
        reason: format!("unknown signal `{signal}`"),
    })?;
    let sup = supervisor(ctx.stack);
    let events = ctx.stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    let pid = sup
        .signal(target, signo)
        .map_err(|detail| FaultError::Process {
            role: target,
            detail,
        })?;
    let Some(die) = events
        .wait_for_action(from, target, "die", ctx.deadline)
        .await
    else {
        let state = ctx.stack.state(target).await?;
        return Ok(ctx.unwitnessed(
            "kill",
            target,
            requested,
            json!({ "signal": signal, "pid": pid, "state_after_deadline": state.to_string() }),
        ));
    };
    let exit_code = die.attr("exitCode").unwrap_or("?").to_string();
    Ok(ctx.witnessed(
        "kill",
        target,
        requested,
        die.at_ms,
        format!("die event, exit code {exit_code} (pid {pid})"),
        json!({ "signal": signal, "pid": pid, "exit_code": exit_code, "event_unix_nanos": die.unix_nanos }),
    ))
}

/// Polls `/proc/PID/stat` until the state is (or is no longer) `T`, up to `deadline`.
async fn wait_for_stopped(pid: u32, stopped: bool, deadline: Duration) -> Option<char> {
    let until = Instant::now() + deadline;
    loop {
        let state = proc_state(pid);
        if matches!(state, Some('T') | Some('t')) == stopped && state.is_some() {
            return state;
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `pause` (SIGSTOP) or `unpause` (SIGCONT), witnessed by the process state in `/proc`.
async fn stop_or_continue(
    ctx: &Ctx<'_>,
    target: Role,
    pause: bool,
) -> Result<FaultEffect, FaultError> {
    let (action, signo) = if pause {
        ("pause", libc::SIGSTOP)
    } else {
        ("unpause", libc::SIGCONT)
    };
    let sup = supervisor(ctx.stack);
    let requested = ctx.clock.now_ms();
    let pid = sup
        .signal(target, signo)
        .map_err(|detail| FaultError::Process {
            role: target,
            detail,
        })?;
    {
        let mut ledger = ctx.stack.faults.lock().expect("fault ledger poisoned");
        if pause {
            ledger.paused.insert(target);
        } else {
            ledger.paused.remove(&target);
        }
    }
    match wait_for_stopped(pid, pause, ctx.deadline).await {
        Some(state) => {
            let at = ctx.clock.now_ms();
            sup.push_event(
                target,
                action,
                &[("pid", pid.to_string()), ("state", state.to_string())],
            );
            let status = ctx.stack.state(target).await?;
            Ok(ctx.witnessed(
                action,
                target,
                requested,
                at,
                format!(
                    "/proc/{pid}/stat state {state}, {} (signal {})",
                    status.status,
                    if pause { "SIGSTOP" } else { "SIGCONT" }
                ),
                json!({ "pid": pid, "proc_state": state.to_string(), "state": status.status }),
            ))
        }
        None => Ok(ctx.unwitnessed(
            action,
            target,
            requested,
            json!({ "pid": pid, "proc_state": proc_state(pid).map(|c| c.to_string()) }),
        )),
    }
}

async fn restart(ctx: &Ctx<'_>, target: Role) -> Result<FaultEffect, FaultError> {
    let sup = supervisor(ctx.stack);
    let events = ctx.stack.events();
    let from = events.len();
    let requested = ctx.clock.now_ms();
    let old_pid = sup.pid(target);
    let restarter = sup.clone();
    let new_pid = tokio::task::spawn_blocking(move || restarter.restart(target))
        .await
        .map_err(|e| FaultError::Process {
            role: target,
            detail: format!("the restart did not finish: {e}"),
        })??;
    ctx.stack
        .faults
        .lock()
        .expect("fault ledger poisoned")
        .paused
        .remove(&target);
    let event = events
        .wait_for_action(from, target, "restart", ctx.deadline)
        .await;
    let state = ctx.stack.state(target).await?;
    match event {
        Some(e) if state.status == "running" => Ok(ctx.witnessed(
            "restart",
            target,
            requested,
            e.at_ms,
            format!("restart event, new pid {new_pid}, state running"),
            json!({ "old_pid": old_pid, "pid": new_pid, "state": state.status }),
        )),
        _ => Ok(ctx.unwitnessed(
            "restart",
            target,
            requested,
            json!({ "old_pid": old_pid, "pid": new_pid, "state": state.to_string() }),
        )),
    }
}

/// Thaws what `pause` stopped on `target` (every role when `None`); returns what it reverted.
pub(super) fn heal(stack: &Stack, target: Option<Role>) -> Result<Vec<String>, FaultError> {
    let sup = supervisor(stack);
    let roles: Vec<Role> = match target {
        Some(r) => vec![r],
        None => Role::ALL.to_vec(),
    };
    let mut reverted = Vec::new();
    for role in roles {
        let paused = stack
            .faults
            .lock()
            .expect("fault ledger poisoned")
            .paused
            .remove(&role);
        if paused && sup.signal(role, libc::SIGCONT).is_ok() {
            sup.push_event(role, "unpause", &[]);
            reverted.push(format!("continued {role} (SIGCONT)"));
        }
    }
    Ok(reverted)
}

/// Every `*.ckpt` file under `dir`, with its modification time.
fn checkpoints(dir: &Path, out: &mut Vec<(std::time::SystemTime, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            checkpoints(&path, out);
        } else if path.extension().is_some_and(|e| e == "ckpt") {
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                out.push((modified, path));
            }
        }
    }
}

/// The newest checkpoint file under a data directory's `jobs/`.
pub fn newest_checkpoint(data_dir: &Path) -> Option<PathBuf> {
    let mut found = Vec::new();
    checkpoints(&data_dir.join("jobs"), &mut found);
    found
        .into_iter()
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, p)| p)
}

async fn corrupt_checkpoint_locally(
    ctx: &Ctx<'_>,
    target: Role,
) -> Result<FaultEffect, FaultError> {
    let requested = ctx.clock.now_ms();
    let data_dir = ctx.stack.processes().expect("a process stack").data_dir();
    let Some(path) = newest_checkpoint(&data_dir) else {
        return Ok(ctx.unwitnessed(
            "corrupt-checkpoint",
            target,
            requested,
            json!({ "why": "no checkpoint file in the data directory yet", "data_dir": data_dir }),
        ));
    };
    let io = |e: std::io::Error| FaultError::Process {
        role: target,
        detail: format!("{}: {e}", path.display()),
    };
    let mut data = std::fs::read(&path).map_err(io)?;
    let before = blake3::hash(&data).to_hex().to_string();
    let flipped = corrupt_checkpoint::flip_bytes(&mut data);
    std::fs::write(&path, &data).map_err(io)?;
    let after = blake3::hash(&std::fs::read(&path).map_err(io)?)
        .to_hex()
        .to_string();
    Ok(corrupt_checkpoint::judge(
        ctx,
        target,
        requested,
        &path.display().to_string(),
        &before,
        &after,
        &flipped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_memory_and_disk_faults_need_docker_and_signals_do_not() {
        let partition: FaultSpec =
            serde_json::from_str(r#"{"kind": "partition", "target": "primary"}"#).unwrap();
        assert!(needs_docker(&partition)
            .unwrap()
            .contains("network namespace"));
        let oom: FaultSpec =
            serde_json::from_str(r#"{"kind": "oom-kill", "target": "primary"}"#).unwrap();
        assert!(needs_docker(&oom).is_some());
        for ok in [
            r#"{"kind": "kill", "target": "primary"}"#,
            r#"{"kind": "pause", "target": "standby"}"#,
            r#"{"kind": "gpu", "target": "primary", "fault": "illegal-address"}"#,
            r#"{"kind": "corrupt-checkpoint", "target": "primary"}"#,
        ] {
            let f: FaultSpec = serde_json::from_str(ok).unwrap();
            assert_eq!(needs_docker(&f), None, "{ok}");
        }
    }

    #[test]
    fn the_newest_checkpoint_is_found_in_nested_job_folders() {
        let dir = std::env::temp_dir().join(format!("takeover-ckpt-{}", std::process::id()));
        let job = dir.join("jobs/j1");
        std::fs::create_dir_all(&job).unwrap();
        assert_eq!(newest_checkpoint(&dir), None);
        std::fs::write(job.join("a.ckpt"), b"old").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(job.join("b.ckpt"), b"new").unwrap();
        std::fs::write(job.join("c.pcm"), b"not a checkpoint").unwrap();
        assert_eq!(newest_checkpoint(&dir), Some(job.join("b.ckpt")));
        std::fs::remove_dir_all(&dir).ok();
    }
}
