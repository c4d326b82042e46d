//! `synth-worker`: serve synthesis jobs over HTTP with leases and fencing, run a
//! script offline, or benchmark the engine.

mod api;
mod faults;
mod leases;
mod metrics;
mod offline;
mod runner;
mod service;
mod store;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use synth_worker::engine::{BackendChoice, Engine, EngineConfig};

use crate::service::{Service, ServiceConfig};
use crate::store::{FileStore, JobStore};

#[derive(Parser)]
#[command(
    name = "synth-worker",
    version,
    about = "Reference speech-synthesis worker for takeover drills"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API: jobs, audio, manifest, health, metrics, faults.
    Serve(ServeArgs),
    /// Synthesize a script offline into a WAV (the uninterrupted reference run).
    Synth(SynthArgs),
    /// Print frames per second, real-time factor and chunk commit cost.
    Bench(BenchArgs),
    /// Internal: the CPU backend's `gpu-oom` helper (allocate under a cap until it fails).
    #[command(name = "memory-probe", hide = true)]
    MemoryProbe(MemoryProbeArgs),
}

#[derive(Args)]
struct MemoryProbeArgs {
    /// Cap on new address space, in bytes.
    #[arg(long)]
    cap: u64,
    /// Size of each allocation, in bytes.
    #[arg(long)]
    block: u64,
}

/// Environment variable holding the fault token (never the command line, which
/// `ps` and `/proc/*/cmdline` show to every local user).
const FAULT_TOKEN_ENV: &str = "SYNTH_WORKER_FAULT_TOKEN";
/// Environment variable holding Redis's password, if it has one.
const REDIS_PASSWORD_ENV: &str = "SYNTH_WORKER_REDIS_PASSWORD";

/// The device deadline with `--no-watchdog`: longer than any drill.
const NO_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Args)]
struct EngineArgs {
    /// Backend: auto (CUDA when a GPU is present), cpu or cuda.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Denoising steps per frame (must match between reference and served runs).
    #[arg(long, default_value_t = 8)]
    denoise_steps: u32,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Redis holding job state, leases and commits.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Shared data directory for chunk PCM and checkpoints.
    #[arg(long, default_value = "/data")]
    data_dir: PathBuf,
    /// This worker's id (in leases, chunk records, health).
    #[arg(long)]
    worker_id: String,
    #[command(flatten)]
    engine: EngineArgs,
    /// Lease time to live; renewed every third of it.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    lease_ttl: Duration,
    /// Longest a held job (or one chunk of device work) may go without progress.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    watchdog: Duration,
    /// Enable POST /v1/faults; the token it must carry (in x-takeover-fault-token)
    /// is read from $SYNTH_WORKER_FAULT_TOKEN and must not be empty.
    #[arg(long)]
    fault_injection: bool,
    /// Refused: a token on the command line is visible to every local user.
    #[arg(long, hide = true)]
    fault_token: Option<String>,
    /// UNSAFE, for split-brain drills: commit without checking the lease epoch.
    #[arg(long)]
    no_fencing: bool,
    /// Take over a dead worker's jobs only when their lease expires. By default each
    /// worker holds a named Redis connection while it lives, and a standby takes
    /// the jobs of a worker whose connection closed (its process died) at once.
    #[arg(long)]
    no_presence: bool,
    /// UNSAFE, for drills that must fail: no stall watchdog, so a hung device or a stalled
    /// job is never given up (and the CUDA backend waits on a kernel without a deadline).
    #[arg(long)]
    no_watchdog: bool,
}

#[derive(Args)]
struct SynthArgs {
    /// Script file (.json, .yaml): {turns, seed} or a whole job request {script, options}.
    #[arg(long)]
    script: PathBuf,
    /// Output WAV (24 kHz mono 16-bit).
    #[arg(long)]
    out: PathBuf,
    /// Also write the manifest (JSON) here.
    #[arg(long)]
    manifest: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// Length of the generated script, in minutes of audio.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Speakers in the generated script (1 to 4).
    #[arg(long, default_value_t = 4)]
    speakers: usize,
    /// Frames per chunk, each made durable on its own (drills use 1).
    #[arg(long, default_value_t = contract::DEFAULT_CHUNK_FRAMES, value_parser = clap::value_parser!(u32).range(1..=512))]
    chunk_frames: u32,
    /// Also give the commit's share of a chunk synthesized at this pace (wall
    /// seconds per second of audio, as a paced drill asks; 0.156 is a drill's
    /// 2-minute script in 20 s).
    #[arg(long)]
    pace_rtf: Option<f64>,
    #[command(flatten)]
    engine: EngineArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 250ms or 1s: {e}"))?;
    if d.is_zero() {
        return Err("the duration must be above zero".into());
    }
    Ok(d)
}

fn engine(args: &EngineArgs, watchdog: Duration) -> Result<Engine> {
    let cfg = EngineConfig {
        backend: args.backend,
        denoise_steps: args.denoise_steps,
        watchdog,
    };
    Engine::new(&cfg).context("cannot start the synthesis engine")
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Synth(a) => synth(a),
        Command::Bench(a) => bench(a),
        Command::MemoryProbe(a) => memory_probe(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synth-worker: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn serve(a: ServeArgs) -> Result<()> {
    if a.worker_id.is_empty() || a.worker_id.contains('|') {
        bail!("--worker-id must be non-empty and must not contain '|'");
    }
    // Off, device work gets no deadline either: nothing may end a hang.
    let device_deadline = if a.no_watchdog {
        NO_DEADLINE
    } else {
        a.watchdog
    };
    let fault_token = fault_token(&a, std::env::var_os(FAULT_TOKEN_ENV))?;
    let redis_password = std::env::var(REDIS_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    let engine = engine(&a.engine, device_deadline)?;
    let files = FileStore::open(&a.data_dir)
        .with_context(|| format!("cannot use data directory {}", a.data_dir.display()))?;
    let jobs = JobStore::with_password(&a.redis, redis_password.as_deref())
        .with_context(|| format!("bad --redis URL {}", a.redis))?;
    if !a.fencing_on() {
        eprintln!("synth-worker: WARNING: --no-fencing: commits skip the epoch check; a zombie worker can overwrite committed chunks");
    }
    if a.no_watchdog {
        eprintln!("synth-worker: WARNING: --no-watchdog: a hung device or a stalled job is never given up");
    }
    let cfg = ServiceConfig {
        worker_id: a.worker_id.clone(),
        lease_ttl: a.lease_ttl,
        watchdog: a.watchdog,
        stall_watchdog: !a.no_watchdog,
        fencing: a.fencing_on(),
        presence: !a.no_presence,
        fault_token,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        let backend = engine.backend_name();
        let svc = Arc::new(Service::new(cfg, engine, jobs, files));
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        if !a.no_presence {
            tokio::spawn(leases::presence_loop(svc.clone()));
        }
        tokio::spawn(leases::scan_loop(svc.clone()));
        if !a.no_watchdog {
            tokio::spawn(leases::watchdog_loop(svc.clone()));
        }
        eprintln!(
            "synth-worker: {} serving on {} (backend {backend}, redis {}, data {}, lease {:?}, presence {}, watchdog {}, fencing {}, faults {})",
            a.worker_id,
            listener.local_addr().map(|x| x.to_string()).unwrap_or_default(),
            a.redis,
            a.data_dir.display(),
            a.lease_ttl,
            if a.no_presence { "off" } else { "on" },
            if a.no_watchdog { "OFF".to_string() } else { format!("{:?}", a.watchdog) },
            if a.fencing_on() { "on" } else { "OFF" },
            if a.fault_injection { "on" } else { "off" },
        );
        let on_stop = svc.clone();
        axum::serve(listener, api::router(svc))
            .with_graceful_shutdown(async move {
                stop_signal().await;
                // Hand held jobs over at once instead of making the standby wait for the TTL.
                on_stop.release_all("the worker is shutting down").await;
            })
            .await
            .context("the HTTP server stopped")
    });
    // Do not wait long for synthesis still running on blocking threads.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The fault token when `--fault-injection` is on: from the environment
/// (`env_value`), never the command line, and never empty.
fn fault_token(a: &ServeArgs, env_value: Option<std::ffi::OsString>) -> Result<Option<String>> {
    if a.fault_token.is_some() {
        bail!("--fault-token is not accepted: a token on the command line is visible to every local user; pass it in ${FAULT_TOKEN_ENV}");
    }
    if !a.fault_injection {
        return Ok(None);
    }
    let token = match env_value {
        None => {
            bail!("--fault-injection needs the fault token in ${FAULT_TOKEN_ENV}, which is not set")
        }
        Some(v) => v
            .into_string()
            .map_err(|_| anyhow::anyhow!("${FAULT_TOKEN_ENV} is not valid UTF-8"))?,
    };
    if token.trim().is_empty() {
        bail!("--fault-injection needs a fault token, but ${FAULT_TOKEN_ENV} is empty: an empty token would let anyone inject faults");
    }
    Ok(Some(token))
}

/// Resolves on SIGINT or SIGTERM (what `docker stop` sends).
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("synth-worker: stop signal received; releasing leases and exiting");
}

impl ServeArgs {
    fn fencing_on(&self) -> bool {
        !self.no_fencing
    }
}

fn synth(a: SynthArgs) -> Result<()> {
    let req = offline::load_request(&a.script)?;
    let engine = engine(&a.engine, Duration::from_secs(30))?;
    let (pcm, manifest) = offline::synthesize(&engine, &req)?;
    contract::write_wav(&a.out, &pcm)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    if let Some(path) = &a.manifest {
        let json = serde_json::to_string_pretty(&manifest).context("manifest to JSON")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "synth-worker: wrote {} ({} frames, {:.1} s of audio, backend {})",
        a.out.display(),
        manifest.frames_total,
        manifest.frames_total as f64 / contract::FRAME_RATE_HZ,
        engine.backend_name()
    );
    Ok(())
}

fn memory_probe(a: MemoryProbeArgs) -> Result<()> {
    let outcome =
        synth_worker::backend::memory_probe::run(a.cap, a.block).map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    if !(1..=contract::MAX_SPEAKERS).contains(&a.speakers) {
        bail!("--speakers must be 1 to {}", contract::MAX_SPEAKERS);
    }
    if !(a.minutes > 0.0 && a.minutes.is_finite()) {
        bail!("--minutes must be a positive number");
    }
    let engine = engine(&a.engine, Duration::from_secs(60))?;
    let script = offline::bench_script(a.minutes, a.speakers);
    let dir = std::env::temp_dir().join(format!("synth-worker-bench-{}", std::process::id()));
    let figures = offline::bench(&engine, &script, &dir, a.chunk_frames);
    let _ = std::fs::remove_dir_all(&dir);
    let f = figures?;
    println!(
        "backend            {} ({})",
        engine.backend_name(),
        engine.device_description()
    );
    println!(
        "script             {:.1} min, {} speakers, {} frames",
        a.minutes, a.speakers, f.frames
    );
    println!("synthesis          {:.3} s", f.synth_seconds);
    println!(
        "frames per second  {:.1}",
        f.frames as f64 / f.synth_seconds
    );
    println!(
        "real-time factor   {:.5} (wall s per audio s; {:.0}x faster than real time)",
        f.synth_seconds / f.audio_seconds,
        f.audio_seconds / f.synth_seconds
    );
    println!(
        "chunk synthesis    {:.3} ms per {}-frame chunk",
        f.synth_seconds_per_chunk * 1e3,
        a.chunk_frames
    );
    println!(
        "chunk commit       {:.3} ms per chunk (PCM + checkpoint, fsync, rename, dir fsync)",
        f.commit_seconds_per_chunk * 1e3
    );
    println!(
        "commit share       {:.1}% of the chunk's synthesis time",
        100.0 * f.commit_seconds_per_chunk / f.synth_seconds_per_chunk
    );
    if let Some(rtf) = a.pace_rtf.filter(|r| *r > 0.0 && r.is_finite()) {
        let paced = f64::from(a.chunk_frames) / contract::FRAME_RATE_HZ * rtf;
        println!(
            "paced commit share {:.1}% of a chunk paced at RTF {rtf} ({:.1} ms)",
            100.0 * f.commit_seconds_per_chunk / paced,
            paced * 1e3
        );
    }
    Ok(())
}
