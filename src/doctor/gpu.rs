//! The CUDA driver: whether GPU scenarios can run on a real GPU here.

use std::path::PathBuf;

use super::{Check, Need, Status};

/// Where the NVIDIA kernel driver announces itself.
#[derive(Debug, Clone)]
pub struct DriverPaths {
    /// `/proc/driver/nvidia/version`.
    pub version_file: PathBuf,
}

impl DriverPaths {
    /// The machine this runs on.
    pub fn real() -> DriverPaths {
        DriverPaths {
            version_file: PathBuf::from("/proc/driver/nvidia/version"),
        }
    }
}

/// The loaded NVIDIA driver, from its version file.
pub fn cuda_driver(paths: &DriverPaths) -> Check {
    let affects = "gpu-* scenarios on a real GPU (`--worker-backend cuda`); the CPU backend runs them without it";
    match std::fs::read_to_string(&paths.version_file) {
        Ok(text) => {
            let first = text.lines().next().unwrap_or("").trim().to_string();
            Check::ok("cuda driver", Need::Optional, affects, first)
        }
        Err(_) => Check::not_ok(
            "cuda driver",
            Status::Degraded,
            Need::Optional,
            affects,
            format!("no NVIDIA driver loaded ({} absent)", paths.version_file.display()),
            "install the NVIDIA driver for the GPU (Debian: `sudo apt-get install -y nvidia-driver`, non-free)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_version_file_decides() {
        let dir = std::env::temp_dir().join(format!("takeover-doctor-gpu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = DriverPaths {
            version_file: dir.join("version"),
        };
        let c = cuda_driver(&paths);
        assert_eq!(c.status, Status::Degraded);
        assert!(c.detail.contains("no NVIDIA driver"));
        std::fs::write(
            &paths.version_file,
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54\nGCC\n",
        )
        .unwrap();
        let c = cuda_driver(&paths);
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("550.54"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
