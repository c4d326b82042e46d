//! Chunk PCM files and checkpoints on the shared data directory, written atomically.
//!
//! Layout: `<data>/jobs/<job id>/<index:08>.e<epoch>.pcm` (little-endian i16 samples) and
//! `<data>/jobs/<job id>/<index:08>.e<epoch>.ckpt` (see [`super::checkpoint`]). The epoch in
//! the name keeps two writers of the same chunk (a fenced zombie and the new owner) from
//! replacing each other's files; Redis says which epoch's files were committed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

use super::checkpoint::{Checkpoint, CheckpointError};

/// Environment variable (test-only) that makes the worker sleep this many
/// milliseconds between writing a chunk's PCM temp file and renaming it into
/// place, so a test can kill it inside a chunk write deterministically.
pub const PAUSE_BEFORE_RENAME_ENV: &str = "SYNTH_WORKER_TEST_PAUSE_BEFORE_RENAME_MS";

/// Why a chunk could not be written or read.
#[derive(Debug, Error)]
pub enum FileStoreError {
    /// A file system call failed (disk full, volume gone, permissions).
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The checkpoint file is torn or altered.
    #[error("checkpoint {path} is corrupted: {source}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: CheckpointError,
    },
    /// The PCM file does not hold what was committed for it.
    #[error("chunk file {path} is corrupted: {detail}")]
    CorruptChunk {
        /// The file.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> FileStoreError + 'a {
    move |source| FileStoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The data directory shared by every worker.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    pause_before_rename: Option<Duration>,
}

impl FileStore {
    /// Opens the data directory, creating `jobs/` under it when missing.
    pub fn open(root: &Path) -> Result<Self, FileStoreError> {
        let jobs = root.join("jobs");
        fs::create_dir_all(&jobs).map_err(io("create directory", &jobs))?;
        let pause_before_rename = std::env::var(PAUSE_BEFORE_RENAME_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        Ok(Self {
            root: root.to_path_buf(),
            pause_before_rename,
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding one job's chunks.
    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.root.join("jobs").join(job_id)
    }

    /// Path of a chunk's PCM file written at `epoch`.
    pub fn pcm_path(&self, job_id: &str, index: u64, epoch: u64) -> PathBuf {
        self.job_dir(job_id)
            .join(format!("{index:08}.e{epoch}.pcm"))
    }

    /// Path of a chunk's checkpoint written at `epoch`.
    pub fn checkpoint_path(&self, job_id: &str, index: u64, epoch: u64) -> PathBuf {
        self.job_dir(job_id)
            .join(format!("{index:08}.e{epoch}.ckpt"))
    }

    /// Writes a chunk's PCM and checkpoint durably: each to a temp file, fsync,
    /// rename into place, then fsync the directory. Only after this returns may
    /// the chunk be committed in Redis.
    pub fn write_chunk<S: Serialize>(
        &self,
        pcm: &[i16],
        checkpoint: &Checkpoint<S>,
    ) -> Result<(), FileStoreError> {
        let dir = self.job_dir(&checkpoint.job_id);
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
            sync_dir(&self.root.join("jobs"))?;
        }
        let mut bytes = Vec::with_capacity(pcm.len() * 2);
        for s in pcm {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        let (index, epoch) = (checkpoint.chunk_index, checkpoint.epoch);
        write_atomic(
            &self.pcm_path(&checkpoint.job_id, index, epoch),
            &bytes,
            self.pause_before_rename,
        )?;
        write_atomic(
            &self.checkpoint_path(&checkpoint.job_id, index, epoch),
            &checkpoint.encode(),
            None,
        )?;
        sync_dir(&dir)
    }

    /// Reads a chunk's PCM and checks it against the committed hash and length.
    pub fn read_chunk(
        &self,
        job_id: &str,
        index: u64,
        epoch: u64,
        expect_samples: u64,
        expect_blake3: &str,
    ) -> Result<Vec<i16>, FileStoreError> {
        let path = self.pcm_path(job_id, index, epoch);
        let bytes = fs::read(&path).map_err(io("read", &path))?;
        if bytes.len() as u64 != expect_samples * 2 {
            return Err(FileStoreError::CorruptChunk {
                path,
                detail: format!(
                    "{} bytes, the commit says {} samples ({} bytes)",
                    bytes.len(),
                    expect_samples,
                    expect_samples * 2
                ),
            });
        }
        let samples: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let hash = contract::chunk_hash(&samples);
        if hash != expect_blake3 {
            return Err(FileStoreError::CorruptChunk {
                path,
                detail: format!("PCM hashes to {hash}, the commit says {expect_blake3}"),
            });
        }
        Ok(samples)
    }

    /// Reads and verifies a chunk's checkpoint.
    pub fn read_checkpoint<S: DeserializeOwned>(
        &self,
        job_id: &str,
        index: u64,
        epoch: u64,
    ) -> Result<Checkpoint<S>, FileStoreError> {
        let path = self.checkpoint_path(job_id, index, epoch);
        let bytes = fs::read(&path).map_err(io("read", &path))?;
        Checkpoint::decode(&bytes)
            .map_err(|source| FileStoreError::CorruptCheckpoint { path, source })
    }

    /// Proves the data directory is writable: write, fsync and remove a probe file.
    ///
    /// Each call uses its own file name: health checks overlap (HAProxy's and a
    /// person's curl), and a shared name let one call remove the other's file.
    pub fn probe(&self, worker_id: &str) -> Result<(), FileStoreError> {
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .root
            .join(format!(".probe-{worker_id}-{}-{n}", std::process::id()));
        let mut f = File::create(&path).map_err(io("create", &path))?;
        f.write_all(b"ok").map_err(io("write", &path))?;
        f.sync_all().map_err(io("fsync", &path))?;
        fs::remove_file(&path).map_err(io("remove", &path))
    }
}

/// Writes `bytes` to `path` through a temp file; on failure the temp file is
/// removed, so a write refused by a full disk leaves no partial file taking space.
fn write_atomic(path: &Path, bytes: &[u8], pause: Option<Duration>) -> Result<(), FileStoreError> {
    let name = path.file_name().expect("chunk paths have a file name");
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let written = write_then_rename(&tmp, path, bytes, pause);
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn write_then_rename(
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    pause: Option<Duration>,
) -> Result<(), FileStoreError> {
    let mut f = File::create(tmp).map_err(io("create", tmp))?;
    f.write_all(bytes).map_err(io("write", tmp))?;
    f.sync_all().map_err(io("fsync", tmp))?;
    drop(f);
    if let Some(pause) = pause {
        std::thread::sleep(pause);
    }
    fs::rename(tmp, path).map_err(io("rename into", path))
}

fn sync_dir(dir: &Path) -> Result<(), FileStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("synth-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn overlapping_probes_do_not_trip_each_other() {
        let root = temp_root("probe");
        let store = std::sync::Arc::new(FileStore::open(&root).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|_| store.probe("standby"))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().expect("every probe succeeds");
        }
        let left = fs::read_dir(&root)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".probe-")
            })
            .count();
        assert_eq!(left, 0, "probe files are removed");
        fs::remove_dir_all(&root).unwrap();
    }

    fn checkpoint(pcm: &[i16]) -> Checkpoint<u32> {
        Checkpoint {
            job_id: "job".into(),
            chunk_index: 0,
            epoch: 1,
            writer: "w".into(),
            next_frame: 1,
            pcm_samples: pcm.len() as u64,
            pcm_blake3: contract::chunk_hash(pcm),
            state: 7,
        }
    }

    #[test]
    fn chunk_round_trips_and_leaves_no_temp_files() {
        let root = temp_root("rt");
        let store = FileStore::open(&root).unwrap();
        let pcm: Vec<i16> = (0..3200).map(|i| (i * 13) as i16).collect();
        let ck = checkpoint(&pcm);
        store.write_chunk(&pcm, &ck).unwrap();
        let back = store.read_chunk("job", 0, 1, 3200, &ck.pcm_blake3).unwrap();
        assert_eq!(back, pcm);
        assert_eq!(store.read_checkpoint::<u32>("job", 0, 1).unwrap(), ck);
        let names: Vec<_> = fs::read_dir(store.job_dir("job"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert_eq!(names.len(), 2);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn altered_pcm_and_checkpoint_are_reported() {
        let root = temp_root("bad");
        let store = FileStore::open(&root).unwrap();
        let pcm = vec![5i16; 3200];
        let ck = checkpoint(&pcm);
        store.write_chunk(&pcm, &ck).unwrap();
        let pcm_path = store.pcm_path("job", 0, 1);
        let mut bytes = fs::read(&pcm_path).unwrap();
        bytes[100] ^= 1;
        fs::write(&pcm_path, &bytes).unwrap();
        let err = store
            .read_chunk("job", 0, 1, 3200, &ck.pcm_blake3)
            .unwrap_err();
        assert!(matches!(err, FileStoreError::CorruptChunk { .. }), "{err}");
        let ck_path = store.checkpoint_path("job", 0, 1);
        let bytes = fs::read(&ck_path).unwrap();
        fs::write(&ck_path, &bytes[..bytes.len() - 5]).unwrap();
        let err = store.read_checkpoint::<u32>("job", 0, 1).unwrap_err();
        assert!(err.to_string().contains("corrupted"), "{err}");
        fs::remove_dir_all(root).unwrap();
    }
    #[test]
    fn a_failed_write_leaves_no_temp_file_and_nothing_in_place() {
        let root = temp_root("failed");
        let store = FileStore::open(&root).unwrap();
        let pcm = vec![3i16; 3200];
        let ck = checkpoint(&pcm);
        // A non-empty directory where the PCM file belongs: the rename fails.
        let blocker = store.pcm_path("job", 0, 1);
        fs::create_dir_all(blocker.join("x")).unwrap();
        let err = store.write_chunk(&pcm, &ck).unwrap_err();
        assert!(
            matches!(
                err,
                FileStoreError::Io {
                    action: "rename into",
                    ..
                }
            ),
            "{err}"
        );
        let names: Vec<_> = fs::read_dir(store.job_dir("job"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["00000000.e1.pcm".to_string()], "{names:?}");
        assert!(!store.checkpoint_path("job", 0, 1).exists());
        fs::remove_dir_all(root).unwrap();
    }
}
