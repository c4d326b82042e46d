//! Running an operator's runbook script as a drill step: with the stack's
//! addresses in its environment, a timeout, and its output kept.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// Output kept per stream: the last 64 KiB.
const KEEP_BYTES: usize = 64 * 1024;

/// What a runbook did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunbookOutput {
    /// Exit code; `None` when it was killed (timeout, signal).
    pub exit_code: Option<i32>,
    /// It ran past its timeout and was killed.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
    /// The end of its standard output.
    pub stdout: String,
    /// The end of its standard error.
    pub stderr: String,
}

impl RunbookOutput {
    /// It ran to the end and exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Why a runbook could not even start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start runbook {path}: {source}")]
pub struct RunbookError {
    path: String,
    source: std::io::Error,
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(KEEP_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The harness's variables a runbook gets: `PATH` and `HOME` (so that it finds
/// its tools), and those the scenario names in `pass_env`. Nothing else of the
/// harness's environment (tokens, `LD_PRELOAD`, CI secrets) reaches it.
pub fn inherited_env(pass_env: &[String]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string()),
    );
    for name in std::iter::once("HOME").chain(pass_env.iter().map(String::as_str)) {
        if let Ok(value) = std::env::var(name) {
            env.insert(name.to_string(), value);
        }
    }
    env
}

/// Runs `script` (with `sh` unless it is executable) in `workdir` with only
/// `env` as its environment (see [`inherited_env`]); kills its whole process
/// group after `timeout`.
pub async fn run_runbook(
    script: &Path,
    workdir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<RunbookOutput, RunbookError> {
    use std::os::unix::fs::PermissionsExt;
    let executable = std::fs::metadata(script)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    let script_abs = std::fs::canonicalize(script).unwrap_or_else(|_| script.to_path_buf());
    let mut cmd = if executable {
        tokio::process::Command::new(&script_abs)
    } else {
        let mut c = tokio::process::Command::new("sh");
        c.arg(&script_abs);
        c
    };
    cmd.current_dir(workdir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so that a timeout ends the children it started too.
    cmd.as_std_mut().process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| RunbookError {
        path: script.display().to_string(),
        source,
    })?;
    let pid = child.id();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = async move {
        let mut buf = Vec::new();
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = async move {
        let mut buf = Vec::new();
        if let Some(s) = err.as_mut() {
            let _ = s.read_to_end(&mut buf).await;
        }
        buf
    };
    let readers = tokio::spawn(async move { tokio::join!(read_out, read_err) });
    let (exit_code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(_)) => (None, false),
        Err(_) => {
            if let Some(pid) = pid {
                // SAFETY: plain syscall on the group this function created.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            (None, true)
        }
    };
    let (stdout, stderr) = match tokio::time::timeout(Duration::from_secs(2), readers).await {
        Ok(Ok((o, e))) => (tail(&o), tail(&e)),
        _ => (String::new(), String::new()),
    };
    Ok(RunbookOutput {
        exit_code,
        timed_out,
        elapsed: started.elapsed(),
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("takeover-runbook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    #[tokio::test]
    async fn output_exit_code_and_environment_are_kept() {
        let path = script(
            "ok.sh",
            "echo front=$TAKEOVER_FRONTDOOR_URL\necho oops >&2\nexit 3\n",
        );
        let env: BTreeMap<_, _> = [(
            "TAKEOVER_FRONTDOOR_URL".to_string(),
            "http://127.0.0.1:1".to_string(),
        )]
        .into();
        let out = run_runbook(&path, Path::new("."), &env, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(!out.timed_out);
        assert!(!out.succeeded());
        assert_eq!(out.stdout.trim(), "front=http://127.0.0.1:1");
        assert_eq!(out.stderr.trim(), "oops");
    }

    #[tokio::test]
    async fn a_runbook_gets_a_clean_environment() {
        let path = script("env.sh", "env\n");
        // A name only this test uses: no other test reads or sets it.
        std::env::set_var("TAKEOVER_TEST_SECRET_4711", "hunter2");
        let mut env = inherited_env(&[]);
        env.insert("TAKEOVER_RUN_ID".into(), "tk-1".into());
        let out = run_runbook(&path, Path::new("."), &env, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
        assert!(
            out.stdout.contains("TAKEOVER_RUN_ID=tk-1"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("PATH="), "{}", out.stdout);
        let env = inherited_env(&["TAKEOVER_TEST_SECRET_4711".to_string()]);
        let out = run_runbook(&path, Path::new("."), &env, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            out.stdout.contains("TAKEOVER_TEST_SECRET_4711=hunter2"),
            "{}",
            out.stdout
        );
    }

    #[tokio::test]
    async fn a_runbook_that_hangs_is_killed_at_its_timeout() {
        let path = script("hang.sh", "echo checking\nsleep 30 &\nwait\n");
        let out = run_runbook(
            &path,
            Path::new("."),
            &BTreeMap::new(),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, None);
        assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
        assert_eq!(out.stdout.trim(), "checking");
    }
}
