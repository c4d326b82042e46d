//! What a person sees while a drill runs: indicatif bars on a terminal, plain
//! timestamped lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars (stderr is a terminal).
    Bars,
    /// One line per event.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

/// The display of one run.
pub struct Ui {
    mode: ProgressMode,
    multi: MultiProgress,
    phase: Option<ProgressBar>,
    job: Option<ProgressBar>,
    prefix: String,
}

impl Ui {
    /// A display in `mode`.
    pub fn new(mode: ProgressMode) -> Self {
        let multi = MultiProgress::with_draw_target(match mode {
            ProgressMode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Self {
            mode,
            multi,
            phase: None,
            job: None,
            prefix: String::new(),
        }
    }

    /// Starts showing iteration `index` of `total` of `scenario`.
    pub fn iteration(&mut self, scenario: &str, index: u32, total: u32) {
        self.finish_bars();
        self.prefix = format!("{scenario} {index}/{total}");
        if self.mode == ProgressMode::Bars {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(self.prefix.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            self.phase = Some(bar);
        }
    }

    /// A new phase of the iteration (stack start, fault, recovery, ...).
    pub fn phase(&self, message: &str) {
        match (&self.mode, &self.phase) {
            (ProgressMode::Bars, Some(bar)) => bar.set_message(message.to_string()),
            (ProgressMode::Lines, _) => eprintln!("[{}] {message}", self.prefix),
            _ => {}
        }
    }

    /// A notable event, kept above the bars.
    pub fn event(&self, at_ms: f64, message: &str) {
        let line = format!("[{}] {:>8.1}s {message}", self.prefix, at_ms / 1e3);
        match self.mode {
            ProgressMode::Bars => {
                let _ = self.multi.println(line);
            }
            ProgressMode::Lines => eprintln!("{line}"),
            ProgressMode::Quiet => {}
        }
    }

    /// Starts the job's progress bar (frames).
    pub fn job_started(&mut self, frames_total: u64) {
        if self.mode == ProgressMode::Bars {
            let bar = self.multi.add(ProgressBar::new(frames_total));
            bar.set_style(
                ProgressStyle::with_template("  job [{bar:40}] {pos}/{len} frames {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            self.job = Some(bar);
        }
    }

    /// The job's committed frames and who holds it.
    pub fn job_progress(&self, frames_done: u64, owner: &str) {
        if let Some(bar) = &self.job {
            bar.set_position(frames_done);
            bar.set_message(owner.to_string());
        }
    }

    /// A line printed whatever the mode but quiet (results).
    pub fn result(&self, line: &str) {
        match self.mode {
            ProgressMode::Bars => {
                let _ = self.multi.println(line);
            }
            ProgressMode::Lines => eprintln!("{line}"),
            ProgressMode::Quiet => {}
        }
    }

    fn finish_bars(&mut self) {
        if let Some(bar) = self.phase.take() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.job.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.finish_bars();
    }
}
