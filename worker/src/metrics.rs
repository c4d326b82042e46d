//! Counters the worker exposes on `GET /metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the job-duration histogram buckets.
const JOB_SECONDS_BUCKETS: [f64; 9] = [1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// All of the worker's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Frames synthesized (committed or not).
    pub frames_synthesized: AtomicU64,
    /// Chunks committed in Redis.
    pub chunks_committed: AtomicU64,
    /// Times the worker found its epoch stale (renewal, mark or commit refused) and stopped.
    pub fenced: AtomicU64,
    /// Jobs created by this worker.
    pub jobs_created: AtomicU64,
    /// Jobs this worker claimed after another's lease expired.
    pub jobs_claimed: AtomicU64,
    /// Of those, jobs claimed before the lease expired because the holder's process was gone.
    pub jobs_claimed_from_dead: AtomicU64,
    /// Jobs this worker finished.
    pub jobs_done: AtomicU64,
    /// Jobs this worker failed.
    pub jobs_failed: AtomicU64,
    /// Leases given up early (watchdog, sticky error, bad device).
    pub leases_released: AtomicU64,
    /// Microseconds spent synthesizing chunks.
    pub synth_micros: AtomicU64,
    /// Microseconds spent making chunks durable and committing them.
    pub commit_micros: AtomicU64,
    /// Chunks timed in `synth_micros` / `commit_micros`.
    pub chunks_timed: AtomicU64,
    histogram: Mutex<Histogram>,
    faults: Mutex<BTreeMap<String, u64>>,
    engine_errors: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; JOB_SECONDS_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Records the wall time of a finished job (from creation to the last commit).
    pub fn observe_job_seconds(&self, seconds: f64) {
        let mut h = self.histogram.lock().expect("metrics lock");
        for (i, bound) in JOB_SECONDS_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Counts an injected fault.
    pub fn count_fault(&self, kind: &str) {
        *self
            .faults
            .lock()
            .expect("metrics lock")
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Counts an engine error by class.
    pub fn count_engine_error(&self, class: &str) {
        *self
            .engine_errors
            .lock()
            .expect("metrics lock")
            .entry(class.to_string())
            .or_default() += 1;
    }

    /// Renders every metric as Prometheus text.
    pub fn render(
        &self,
        worker: &str,
        backend: &str,
        healthy: bool,
        jobs_running: usize,
    ) -> String {
        let mut out = String::new();
        let l = format!("worker=\"{}\"", escape(worker));
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{l}}} {value}"
            );
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        line(
            "synth_frames_synthesized_total",
            "counter",
            "Frames synthesized, committed or not.",
            get(&self.frames_synthesized),
        );
        line(
            "synth_chunks_committed_total",
            "counter",
            "Chunks committed in Redis.",
            get(&self.chunks_committed),
        );
        line(
            "synth_fenced_total",
            "counter",
            "Times this worker found its lease epoch stale (renewal, progress mark or commit refused) and stopped writing.",
            get(&self.fenced),
        );
        line(
            "synth_jobs_created_total",
            "counter",
            "Jobs created through POST /v1/jobs on this worker.",
            get(&self.jobs_created),
        );
        line(
            "synth_jobs_claimed_total",
            "counter",
            "Jobs taken over after another worker's lease expired.",
            get(&self.jobs_claimed),
        );
        line(
            "synth_jobs_claimed_from_dead_total",
            "counter",
            "Of the jobs taken over, those taken before the lease expired because the holder's Redis presence connection had closed.",
            get(&self.jobs_claimed_from_dead),
        );
        line(
            "synth_jobs_done_total",
            "counter",
            "Jobs this worker completed.",
            get(&self.jobs_done),
        );
        line(
            "synth_jobs_failed_total",
            "counter",
            "Jobs this worker marked failed.",
            get(&self.jobs_failed),
        );
        line(
            "synth_leases_released_total",
            "counter",
            "Leases given up early so another worker can take the job.",
            get(&self.leases_released),
        );
        line(
            "synth_chunk_synth_seconds_total",
            "counter",
            "Seconds spent synthesizing chunks.",
            secs(&self.synth_micros),
        );
        line(
            "synth_chunk_commit_seconds_total",
            "counter",
            "Seconds spent writing and committing chunks.",
            secs(&self.commit_micros),
        );
        line(
            "synth_chunks_timed_total",
            "counter",
            "Chunks counted in the two timing counters.",
            get(&self.chunks_timed),
        );
        line(
            "synth_jobs_running",
            "gauge",
            "Jobs this worker holds the lease of.",
            jobs_running.to_string(),
        );
        line(
            "synth_healthy",
            "gauge",
            "1 when /health answers 200.",
            u8::from(healthy).to_string(),
        );
        let _ = writeln!(out, "# HELP synth_backend_info Backend in use.\n# TYPE synth_backend_info gauge\nsynth_backend_info{{{l},backend=\"{}\"}} 1", escape(backend));
        let h = self.histogram.lock().expect("metrics lock");
        let _ = writeln!(out, "# HELP synth_job_duration_seconds Wall time of jobs this worker finished, from creation to the last commit.\n# TYPE synth_job_duration_seconds histogram");
        for (bound, n) in JOB_SECONDS_BUCKETS.iter().zip(h.buckets.iter()) {
            let _ = writeln!(
                out,
                "synth_job_duration_seconds_bucket{{{l},le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "synth_job_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "synth_job_duration_seconds_sum{{{l}}} {}", h.sum);
        let _ = writeln!(out, "synth_job_duration_seconds_count{{{l}}} {}", h.count);
        drop(h);
        labelled(
            &mut out,
            &l,
            "synth_faults_injected_total",
            "Faults injected through POST /v1/faults, by kind.",
            "kind",
            &self.faults,
        );
        labelled(
            &mut out,
            &l,
            "synth_engine_errors_total",
            "Engine errors seen, by class.",
            "class",
            &self.engine_errors,
        );
        out
    }
}

fn labelled(
    out: &mut String,
    l: &str,
    name: &str,
    help: &str,
    key: &str,
    map: &Mutex<BTreeMap<String, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (k, v) in map.lock().expect("metrics lock").iter() {
        let _ = writeln!(out, "{name}{{{l},{key}=\"{}\"}} {v}", escape(k));
    }
}

fn secs(c: &AtomicU64) -> String {
    format!("{:.6}", c.load(Ordering::Relaxed) as f64 / 1e6)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_labels() {
        let m = Metrics::default();
        m.frames_synthesized.fetch_add(16, Ordering::Relaxed);
        m.observe_job_seconds(7.0);
        m.count_fault("stall");
        m.count_engine_error("XID_79");
        let text = m.render("prim\"ary", "cpu", true, 1);
        assert!(
            text.contains("synth_frames_synthesized_total{worker=\"prim\\\"ary\"} 16"),
            "{text}"
        );
        assert!(text.contains("le=\"5\"} 0"));
        assert!(text.contains("le=\"10\"} 1"));
        assert!(
            text.contains("synth_faults_injected_total{worker=\"prim\\\"ary\",kind=\"stall\"} 1")
        );
        assert!(text.contains("class=\"XID_79\"} 1"));
        assert!(text.contains("backend=\"cpu\"} 1"));
        assert!(text.contains("synth_healthy{worker=\"prim\\\"ary\"} 1"));
    }
}
