//! Real-time scheduling for the prober's own threads.
//!
//! On a loaded machine an ordinary thread that wakes for a due probe may wait
//! tens of milliseconds for a core: calibration at a 5 ms interval beside a
//! release build saw sends leave 20 ms late, and raising the whole process's
//! `nice` did not help. A thread in `SCHED_FIFO` runs as soon as it wakes. The
//! prober's threads (the schedule thread and the runtime that sends) only
//! wake, send and sleep again, so a real-time class costs the machine almost
//! nothing, and the kernel's real-time throttling still bounds them.
//! Where the class is refused (no privilege, a container without real-time
//! budget) the prober runs at normal priority and says so.

use std::sync::{Arc, Mutex};

/// The `SCHED_FIFO` priority of the prober's threads: low among real-time
/// priorities, above every ordinary thread.
pub const PROBE_PRIORITY: i32 = 10;

/// How the prober's threads were scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduling {
    /// Every thread is in `SCHED_FIFO` at [`PROBE_PRIORITY`].
    Realtime,
    /// Normal priority: asked for (`realtime: false`), or refused, with why.
    Normal(String),
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduling::Realtime => write!(f, "SCHED_FIFO {PROBE_PRIORITY}"),
            Scheduling::Normal(why) => write!(f, "normal priority ({why})"),
        }
    }
}

/// Puts the calling thread in `SCHED_FIFO` at [`PROBE_PRIORITY`].
pub fn raise_this_thread() -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: PROBE_PRIORITY,
    };
    // SAFETY: pthread_self() is the calling thread; `param` is a valid,
    // initialised sched_param that outlives the call.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// The outcome for a set of threads: real-time only if every thread that
/// tried was raised. Cheap to clone into each thread's start hook.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    refused: Arc<Mutex<Option<String>>>,
}

impl Outcome {
    /// Raises the calling thread and remembers a refusal.
    pub fn raise_this_thread(&self) {
        if let Err(e) = raise_this_thread() {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            refused.get_or_insert_with(|| format!("SCHED_FIFO refused: {e}"));
        }
    }

    /// How the threads that tried were scheduled.
    pub fn scheduling(&self) -> Scheduling {
        match &*self.refused.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Scheduling::Normal(why.clone()),
            None => Scheduling::Realtime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class is real or refused, never pretended: what the thread reports
    /// afterwards is what the outcome says.
    #[test]
    fn the_outcome_says_what_the_kernel_did() {
        let outcome = Outcome::default();
        let seen = std::thread::spawn({
            let outcome = outcome.clone();
            move || {
                outcome.raise_this_thread();
                let mut policy = 0;
                let mut param = libc::sched_param { sched_priority: 0 };
                // SAFETY: reads the calling thread's own policy into locals.
                let rc = unsafe {
                    libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param)
                };
                assert_eq!(rc, 0);
                (policy, param.sched_priority)
            }
        })
        .join()
        .unwrap();
        match outcome.scheduling() {
            Scheduling::Realtime => assert_eq!(seen, (libc::SCHED_FIFO, PROBE_PRIORITY)),
            Scheduling::Normal(why) => {
                assert_eq!(seen.0, libc::SCHED_OTHER);
                assert!(why.contains("refused"), "{why}");
            }
        }
    }
}
