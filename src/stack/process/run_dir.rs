//! The directory of one process run: the shared data directory, the logs,
//! HAProxy's configuration and an owner file that lets a later `takeover
//! clean` find the run's processes and remove them once the harness is dead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stack::cleanup::{pid_alive, Removed, RunOwner};
use crate::stack::{labels, Role, StackError};

/// Name of the owner file inside a run directory.
pub const OWNER_FILE: &str = "owner.json";

/// Where process runs keep their directories: `$TMPDIR/takeover-runs/`, private
/// to the user that made it (see [`ensure_private_dir`]).
pub fn runs_root() -> PathBuf {
    std::env::temp_dir().join("takeover-runs")
}

/// Makes `dir` (and its missing parents) if needed, then checks that it is
/// private: a real directory (not a symlink) owned by this user, mode 0700.
/// A directory someone else made or can write is refused, never used; one
/// of ours that others can only read is closed to 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StackError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(format!("creating {}", dir.display()))(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io(format!("checking {}", dir.display())))?;
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let why = if !meta.file_type().is_dir() {
        Some("is not a directory (a symlink?)".to_string())
    } else if meta.uid() != uid {
        Some(format!(
            "belongs to uid {}, not to this user ({uid})",
            meta.uid()
        ))
    } else if meta.permissions().mode() & 0o022 != 0 {
        Some(format!(
            "has mode {:o}; other users could plant runs in it",
            meta.permissions().mode() & 0o777
        ))
    } else if meta.permissions().mode() & 0o077 != 0 {
        // Ours and writable by no one else (an older takeover made it 0755):
        // nothing in it can be someone else's, so closing it is safe.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("making {} private", dir.display())))?;
        None
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(StackError::Io {
            context: format!(
                "the process runs' directory {} {why}; remove it or set TMPDIR elsewhere",
                dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        }),
    }
}

/// Who owns a process run and which processes it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerFile {
    /// The run id.
    pub run_id: String,
    /// The harness's process id.
    pub owner_pid: u32,
    /// The harness's host.
    pub owner_host: String,
    /// Every process started for the run (restarts add one).
    pub children: Vec<ChildRecord>,
}

/// One process a run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRecord {
    /// Its role.
    pub role: Role,
    /// Its pid (also its process group).
    pub pid: u32,
    /// The program, as passed to exec (the process's `argv[0]`).
    pub program: PathBuf,
}

/// A run's directory, created fresh for the run.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    owner: OwnerFile,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StackError {
    let context = context.into();
    move |source| StackError::Io { context, source }
}

impl RunDir {
    /// Creates `<root>/<run id>/` (mode 0700, fresh: an existing one is an
    /// error) with `data/` and `logs/` and the owner file; `root` must be
    /// private to this user (see [`ensure_private_dir`]).
    pub fn create(root: &Path, run_id: &str) -> Result<RunDir, StackError> {
        use std::os::unix::fs::DirBuilderExt;
        ensure_private_dir(root)?;
        let path = root.join(run_id);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io(format!("creating the run directory {}", path.display())))?;
        for dir in [path.join("data"), path.join("logs")] {
            std::fs::create_dir_all(&dir)
                .map_err(io(format!("creating the run directory {}", dir.display())))?;
        }
        let dir = RunDir {
            path,
            owner: OwnerFile {
                run_id: run_id.to_string(),
                owner_pid: std::process::id(),
                owner_host: labels::this_host(),
                children: Vec::new(),
            },
        };
        dir.write_owner()?;
        Ok(dir)
    }

    /// The run directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data directory both workers share.
    pub fn data(&self) -> PathBuf {
        self.path.join("data")
    }

    /// The log file of a role (stdout and stderr).
    pub fn log(&self, role: Role) -> PathBuf {
        self.path.join("logs").join(format!("{role}.log"))
    }

    /// Adds a started process to the owner file.
    pub fn record_child(&mut self, child: ChildRecord) -> Result<(), StackError> {
        self.owner.children.push(child);
        self.write_owner()
    }

    fn write_owner(&self) -> Result<(), StackError> {
        let file = self.path.join(OWNER_FILE);
        let tmp = self.path.join(format!("{OWNER_FILE}.tmp"));
        let text = serde_json::to_string_pretty(&self.owner).expect("owner file serializes");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(io(format!("writing {}", file.display())))
    }
}

/// Reads a run's owner file.
pub fn read_owner(run_dir: &Path) -> Option<OwnerFile> {
    let text = std::fs::read_to_string(run_dir.join(OWNER_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every process run under `root`, with its owner.
pub fn list_runs(root: &Path) -> Vec<RunOwner> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<RunOwner> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let owner = read_owner(&e.path())?;
            let live = owner.children.iter().filter(|c| is_our_child(c)).count();
            Some(RunOwner {
                run_id: owner.run_id,
                pid: Some(owner.owner_pid),
                host: Some(owner.owner_host),
                objects: live + 1,
            })
        })
        .collect();
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    runs
}

/// Whether the recorded process still runs the recorded program (so that a
/// pid reused by something else is never signalled). Judged by the kernel's
/// `/proc/PID/exe`, which a program cannot rewrite (Redis rewrites its
/// command line), or else by the command line starting with the program.
pub fn is_our_child(child: &ChildRecord) -> bool {
    if !pid_alive(child.pid) {
        return false;
    }
    let program = std::fs::canonicalize(&child.program).unwrap_or_else(|_| child.program.clone());
    if let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", child.pid)) {
        return exe == program;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", child.pid)) else {
        return false;
    };
    let recorded = child.program.as_os_str().as_encoded_bytes();
    cmdline.starts_with(recorded)
        && matches!(cmdline.get(recorded.len()), None | Some(0) | Some(b' '))
}

/// Removes one process run under `root`: SIGKILL to each of its live
/// processes' groups, then its directory. `None` when there is no such run.
pub fn remove_run(root: &Path, run_id: &str) -> Result<Option<Removed>, StackError> {
    if run_id.is_empty() || run_id.contains('/') || run_id.starts_with('.') {
        return Ok(None);
    }
    let dir = root.join(run_id);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut removed = Removed::default();
    if let Some(owner) = read_owner(&dir) {
        for child in owner.children.iter().filter(|c| is_our_child(c)) {
            // Each child leads its own process group.
            // SAFETY: plain kill(2) calls on a pid checked just above.
            unsafe {
                libc::kill(-(child.pid as libc::pid_t), libc::SIGKILL);
                libc::kill(child.pid as libc::pid_t, libc::SIGKILL);
            }
            removed.processes += 1;
        }
    }
    std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
    removed.directories += 1;
    Ok(Some(removed))
}

/// Removes the process runs under `root` whose owner ran on this host and is gone.
pub fn sweep_dead_owners(root: &Path) -> Result<Vec<(String, Removed)>, StackError> {
    let mut swept = Vec::new();
    for run in list_runs(root) {
        if run.is_dead_here() {
            if let Some(removed) = remove_run(root, &run.run_id)? {
                swept.push((run.run_id, removed));
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "takeover-run-dir-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_run_of_a_dead_owner_is_swept_with_its_process_and_a_live_one_is_kept() {
        let root = temp_root("sweep");
        // A run owned by us (alive): kept.
        let mine = RunDir::create(&root, "tk-mine").unwrap();
        // A run whose owner is dead, with a live child process.
        let mut dead = RunDir::create(&root, "tk-dead").unwrap();
        dead.owner.owner_pid = 4_194_305; // above pid_max: never alive
        let sleeper = std::process::Command::new("/bin/sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        dead.record_child(ChildRecord {
            role: Role::Primary,
            pid: sleeper.id(),
            program: "/bin/sleep".into(),
        })
        .unwrap();
        let runs = list_runs(&root);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0].objects, 2, "the live child counts: {runs:?}");

        let swept = sweep_dead_owners(&root).unwrap();
        assert_eq!(swept.len(), 1, "{swept:?}");
        assert_eq!(swept[0].0, "tk-dead");
        assert_eq!(swept[0].1.processes, 1);
        assert!(!root.join("tk-dead").exists());
        assert!(mine.path().is_dir());
        let mut sleeper = sleeper;
        let status = sleeper.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn run_folders_are_private_and_a_shared_root_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = temp_root("private");
        let run = RunDir::create(&root, "tk-private").unwrap();
        for dir in [&root, &run.path().to_path_buf()] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
        // The same run id again: refused, not reused.
        assert!(RunDir::create(&root, "tk-private").is_err());
        // A root others can write (as a planted one would be): refused.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = RunDir::create(&root, "tk-other").unwrap_err().to_string();
        assert!(err.contains("mode 777"), "{err}");
        // Ours and only readable by others (as older versions left it): closed.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        RunDir::create(&root, "tk-readable").unwrap();
        let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A symlink in its place: refused.
        let link = temp_root("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = RunDir::create(&link, "tk-link").unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
        std::fs::remove_file(&link).ok();
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn our_own_process_is_recognised_by_its_executable() {
        let me = ChildRecord {
            role: Role::Primary,
            pid: std::process::id(),
            program: std::env::current_exe().unwrap(),
        };
        assert!(is_our_child(&me));
    }

    #[test]
    fn a_reused_pid_running_another_program_is_not_ours() {
        let me = ChildRecord {
            role: Role::State,
            pid: std::process::id(),
            program: "/usr/bin/redis-server".into(),
        };
        assert!(!is_our_child(&me));
        assert_eq!(remove_run(&temp_root("none"), "../etc").unwrap(), None);
    }
}
