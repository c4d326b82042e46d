//! What the kinds that work on `runtime: process` share: the stack's
//! supervisor, SIGSTOP/SIGCONT witnessed in `/proc/PID/stat` (`pause`,
//! `unpause`), and the newest checkpoint in the local data directory
//! (`corrupt-checkpoint`). Each kind's own process injection is in its file;
//! which kinds need Docker is each [`super::Kind`]'s `runtimes`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, FaultEffect, FaultError};
use crate::stack::process::supervise::{proc_state, Supervisor};
use crate::stack::{Role, Stack};

/// The supervisor of a process stack's processes.
pub(super) fn supervisor(stack: &Stack) -> Supervisor {
    stack
        .processes()
        .expect("fault::process is only called for process stacks")
        .supervisor()
        .clone()
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
pub(super) async fn stop_or_continue(
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
        let mut ledger = ctx.stack.fault_ledger();
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

#[cfg(test)]
mod tests {
    use super::*;

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
