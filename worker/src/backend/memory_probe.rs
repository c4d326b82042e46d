//! The CPU backend's `gpu-oom`: a short-lived helper process (the worker's own binary, hidden
//! subcommand `memory-probe`) caps its address space with `RLIMIT_AS`, then allocates and
//! touches blocks until an allocation really fails, and prints what it got as one JSON line.
//!
//! A separate process, because the cap is process-wide: in the worker it would starve every
//! other thread. It is started with exec (never a bare fork of the multi-threaded worker).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The hidden subcommand of the worker binary that runs [`run`].
pub const SUBCOMMAND: &str = "memory-probe";

/// What the helper did, as it prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// The cap on new address space, in bytes.
    pub cap_bytes: u64,
    /// Bytes allocated and touched before the failing allocation.
    pub allocated_bytes: u64,
    /// Size of each block.
    pub block_bytes: u64,
    /// The allocation that failed, in words; `None` when none failed (the cap did not hold).
    pub failure: Option<String>,
}

/// In the helper process: caps the address space at its current size plus `cap` bytes, then
/// allocates blocks of `block` bytes, writing every page, until one allocation fails. Stops
/// without a failure after twice the cap (the cap did not take), so it can never run away.
pub fn run(cap: u64, block: u64) -> Result<ProbeOutcome, String> {
    let block = block.max(4096);
    let now = address_space_bytes()?;
    let limit = libc::rlimit {
        rlim_cur: now + cap,
        rlim_max: now + cap,
    };
    // SAFETY: setrlimit reads the struct we pass; no memory is shared with other threads.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_AS) failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut allocated = 0u64;
    let failure = loop {
        if allocated >= cap.saturating_mul(2) {
            break None;
        }
        let mut b: Vec<u8> = Vec::new();
        if let Err(e) = b.try_reserve_exact(block as usize) {
            break Some(format!(
                "allocating block {} of {} bytes failed: {e}",
                held.len() + 1,
                block
            ));
        }
        // A non-zero fill writes every page, so the memory is really there.
        b.resize(block as usize, 0xA5);
        allocated += block;
        held.push(b);
    };
    drop(held);
    Ok(ProbeOutcome {
        cap_bytes: cap,
        allocated_bytes: allocated,
        block_bytes: block,
        failure,
    })
}

/// In the worker: runs `helper memory-probe --cap CAP --block BLOCK` and reads its outcome.
pub fn spawn(helper: &Path, cap: u64, block: u64) -> Result<ProbeOutcome, String> {
    let out = Command::new(helper)
        .args([
            SUBCOMMAND,
            "--cap",
            &cap.to_string(),
            "--block",
            &block.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot start {} {SUBCOMMAND}: {e}", helper.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} {SUBCOMMAND} ended with {}: {}",
            helper.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_str(stdout.trim())
        .map_err(|e| format!("the memory probe printed {stdout:?}, not its outcome: {e}"))
}

/// This process's address space size (`VmSize`), in bytes.
fn address_space_bytes() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmSize in /proc/self/status".to_string())
}
