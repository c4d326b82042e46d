//! Starting the processes of a stack and watching them: each child runs in
//! its own process group with `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with
//! the harness even when the harness is killed; a waiter thread per child
//! turns its exit into a `die` event (exit code, or 128 + signal number) on
//! the run's clock, the way Docker reports a container's death.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::run_dir::{ChildRecord, RunDir};
use crate::clock::Clock;
use crate::stack::{DockerEvent, EventLog, Role, StackError};

/// How to start one process of the stack.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The program (also its `argv[0]`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go (appended).
    pub log: PathBuf,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    /// The exit code as a shell reports it: the code, or 128 + the signal number.
    pub code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// When the supervisor saw it end, clock ms.
    pub at_ms: f64,
}

struct Slot {
    spec: ChildSpec,
    pid: u32,
    generation: u64,
    exit: Option<Exit>,
}

struct Inner {
    clock: Clock,
    events: EventLog,
    dir: Mutex<RunDir>,
    slots: Mutex<BTreeMap<Role, Slot>>,
    stopping: AtomicBool,
}

/// The processes of one run. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Children are forked from one thread that lives as long as the harness:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked a child ends, so
/// forking from a short-lived (or runtime worker) thread would kill children early.
fn spawn_on_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("takeover-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread did not answer"))?
}

fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The name of a signal number (`SIGKILL`), or its number.
pub fn signal_name(signo: i32) -> String {
    match signo {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        other => format!("signal {other}"),
    }
}

/// The state letter of a process from `/proc/PID/stat` (`R`, `S`, `T` stopped, `Z` zombie...).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_state(&stat)
}

/// The state letter in a `/proc/PID/stat` line (after the `(comm)` field, which may hold spaces).
pub fn parse_stat_state(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

impl Supervisor {
    /// A supervisor that records into `events` on `clock` and notes its children in `dir`.
    pub fn new(clock: Clock, events: EventLog, dir: RunDir) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                events,
                dir: Mutex::new(dir),
                slots: Mutex::new(BTreeMap::new()),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<Role, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event of `role` now, with attributes.
    pub fn push_event(&self, role: Role, action: &str, attributes: &[(&str, String)]) {
        let inner = &self.inner;
        let unix_nanos = unix_nanos_now();
        inner.events.push(DockerEvent {
            at_ms: inner.clock.now_ms(),
            unix_nanos,
            kind: "process".into(),
            action: action.into(),
            role: Some(role),
            actor: self.pid(role).map(|p| p.to_string()).unwrap_or_default(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        });
    }

    /// Starts `spec` as `role` (replacing an ended process of that role) and
    /// begins watching it. Returns its pid.
    pub fn spawn(&self, role: Role, spec: ChildSpec) -> Result<u32, StackError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(|source| StackError::Io {
                context: format!("opening {}", spec.log.display()),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| StackError::Io {
            context: format!("opening {}", spec.log.display()),
            source,
        })?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The harness died between fork and prctl: do not outlive it.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the harness is gone"));
                }
                Ok(())
            });
        }
        let mut child = spawn_on_long_lived_thread(cmd).map_err(|source| StackError::Io {
            context: format!("starting {} ({role})", spec.program.display()),
            source,
        })?;
        let pid = child.id();
        self.inner
            .dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_child(ChildRecord {
                role,
                pid,
                program: spec.program.clone(),
            })?;
        let generation = {
            let mut slots = self.slots();
            let generation = slots.get(&role).map_or(0, |s| s.generation + 1);
            slots.insert(
                role,
                Slot {
                    spec,
                    pid,
                    generation,
                    exit: None,
                },
            );
            generation
        };
        self.push_event(role, "start", &[("pid", pid.to_string())]);
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("takeover-wait-{role}"))
            .spawn(move || {
                let status = child.wait();
                let at_ms = me.inner.clock.now_ms();
                let (code, signal) = match status {
                    Ok(s) => match (s.code(), s.signal()) {
                        (Some(c), _) => (c, None),
                        (None, Some(sig)) => (128 + sig, Some(sig)),
                        (None, None) => (-1, None),
                    },
                    Err(_) => (-1, None),
                };
                let current = {
                    let mut slots = me.slots();
                    match slots.get_mut(&role) {
                        Some(slot) if slot.generation == generation => {
                            slot.exit = Some(Exit {
                                code,
                                signal,
                                at_ms,
                            });
                            true
                        }
                        _ => false,
                    }
                };
                if current && !me.inner.stopping.load(Ordering::SeqCst) {
                    let mut attrs = vec![("exitCode", code.to_string()), ("pid", pid.to_string())];
                    if let Some(sig) = signal {
                        attrs.push(("signal", signal_name(sig)));
                    }
                    me.push_event(role, "die", &attrs);
                }
            })
            .map_err(|source| StackError::Io {
                context: format!("watching {role}"),
                source,
            })?;
        Ok(pid)
    }

    /// The pid of a role's current process.
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.slots().get(&role).map(|s| s.pid)
    }

    /// How a role's current process ended, if it did.
    pub fn exit(&self, role: Role) -> Option<Exit> {
        self.slots().get(&role).and_then(|s| s.exit)
    }

    /// How a role was started.
    pub fn spec(&self, role: Role) -> Option<ChildSpec> {
        self.slots().get(&role).map(|s| s.spec.clone())
    }

    /// Sends `signo` to a role's running process. An ended process is an error
    /// (its pid may already belong to someone else).
    pub fn signal(&self, role: Role, signo: i32) -> Result<u32, String> {
        let slots = self.slots();
        let slot = slots
            .get(&role)
            .ok_or_else(|| format!("{role} has no process"))?;
        if let Some(exit) = slot.exit {
            return Err(format!(
                "{role} (pid {}) is not running: it exited with code {}",
                slot.pid, exit.code
            ));
        }
        // SAFETY: kill(2) on a child we have not reaped yet (the slot lock is held).
        let rc = unsafe { libc::kill(slot.pid as libc::pid_t, signo) };
        if rc != 0 {
            return Err(format!(
                "kill({}, {}): {}",
                slot.pid,
                signal_name(signo),
                std::io::Error::last_os_error()
            ));
        }
        Ok(slot.pid)
    }

    /// Waits up to `timeout` for a role's current process to end.
    pub fn wait_exit(&self, role: Role, timeout: Duration) -> Option<Exit> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exit(role) {
                return Some(exit);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops a role's process (SIGTERM, SIGKILL after 1 s, as `docker restart
    /// -t 1`) and starts it again with the same arguments; records a
    /// `restart` event. Blocks up to a few seconds. Returns the new pid.
    pub fn restart(&self, role: Role) -> Result<u32, StackError> {
        let spec = self
            .spec(role)
            .ok_or_else(|| StackError::Unsupported(format!("{role} has no process")))?;
        if self.exit(role).is_none() {
            // A stopped process must run again to handle SIGTERM.
            let _ = self.signal(role, libc::SIGCONT);
            let _ = self.signal(role, libc::SIGTERM);
            if self.wait_exit(role, Duration::from_secs(1)).is_none() {
                let _ = self.signal(role, libc::SIGKILL);
                self.wait_exit(role, Duration::from_secs(5));
            }
        }
        let pid = self.spawn(role, spec)?;
        self.push_event(role, "restart", &[("pid", pid.to_string())]);
        Ok(pid)
    }

    /// SIGKILL to every running process's group (stopped ones too), then waits
    /// (up to 5 s) until each has been reaped. No `die` events from here on.
    pub fn stop_all(&self) -> Vec<Role> {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let running: HashMap<Role, u32> = self
            .slots()
            .iter()
            .filter(|(_, s)| s.exit.is_none())
            .map(|(r, s)| (*r, s.pid))
            .collect();
        for pid in running.values() {
            // SAFETY: kill(2) on our own children's groups; they are not reaped yet.
            unsafe {
                libc::kill(-(*pid as libc::pid_t), libc::SIGKILL);
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let mut left = Vec::new();
        for role in running.keys() {
            if self.wait_exit(*role, Duration::from_secs(5)).is_none() {
                left.push(*role);
            }
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_is_read_after_the_command_name() {
        assert_eq!(
            parse_stat_state("1234 (synth worker) T 1 1234 1234 0 -1"),
            Some('T')
        );
        assert_eq!(parse_stat_state("1 (a) b) S 0"), Some('S'));
        assert_eq!(parse_stat_state("garbage"), None);
        assert!(proc_state(std::process::id()).is_some());
    }

    #[test]
    fn a_killed_child_becomes_a_die_event_with_128_plus_the_signal() {
        let root = std::env::temp_dir().join(format!("takeover-supervise-{}", std::process::id()));
        let dir = RunDir::create(&root, "tk-sup").unwrap();
        let events = EventLog::new();
        let sup = Supervisor::new(Clock::start(), events.clone(), dir.clone());
        let pid = sup
            .spawn(
                Role::Primary,
                ChildSpec {
                    program: "/bin/sleep".into(),
                    args: vec!["30".into()],
                    env: vec![],
                    log: dir.log(Role::Primary),
                },
            )
            .unwrap();
        assert_eq!(sup.pid(Role::Primary), Some(pid));
        // Its own process group.
        assert_eq!(
            unsafe { libc::getpgid(pid as libc::pid_t) },
            pid as libc::pid_t
        );
        sup.signal(Role::Primary, libc::SIGSTOP).unwrap();
        let until = Instant::now() + Duration::from_secs(2);
        while proc_state(pid) != Some('T') && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proc_state(pid), Some('T'));
        sup.signal(Role::Primary, libc::SIGKILL).unwrap();
        let exit = sup
            .wait_exit(Role::Primary, Duration::from_secs(5))
            .unwrap();
        assert_eq!(exit.code, 137);
        assert_eq!(exit.signal, Some(libc::SIGKILL));
        let snapshot = events.snapshot();
        let actions: Vec<_> = snapshot.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["start", "die"]);
        assert_eq!(snapshot[1].attr("exitCode"), Some("137"));
        assert_eq!(snapshot[1].attr("signal"), Some("SIGKILL"));
        assert!(sup.signal(Role::Primary, libc::SIGCONT).is_err());
        std::fs::remove_dir_all(&root).ok();
    }
}
