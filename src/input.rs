//! One rule for every file the tool reads on a user's behalf: a regular file
//! (never a FIFO, a device or a directory, which would hang or never end),
//! at most a stated size, and, for paths a file names inside a folder,
//! confined to that folder.
//!
//! A FIFO is refused before it is opened (opening one blocks until a writer
//! comes); the file is opened non-blocking and checked again through its
//! handle, so a path swapped for a FIFO in between cannot hang the read either.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Size cap of a scenario file.
pub const SCENARIO_LIMIT: u64 = 1 << 20;
/// Size cap of a workload script.
pub const SCRIPT_LIMIT: u64 = 4 << 20;
/// Size cap of a job manifest.
pub const MANIFEST_LIMIT: u64 = 64 << 20;
/// Size cap of a WAV file (about 5 hours of 24 kHz mono 16-bit audio).
pub const AUDIO_LIMIT: u64 = 1 << 30;
/// Size cap of a report.json.
pub const REPORT_LIMIT: u64 = 256 << 20;
/// Size cap of a run history file.
pub const HISTORY_LIMIT: u64 = 256 << 20;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read the {what} {}: {source}", path.display())]
    Io {
        /// What the file is for (`scenario`, `manifest`, ...).
        what: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file.
    #[error("the {what} {} is {kind}, not a regular file; pass a file", path.display())]
    NotRegular {
        /// What the file is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// What it is instead (`a directory`, `a FIFO`, ...).
        kind: &'static str,
    },
    /// Larger than the limit for its kind.
    #[error("the {what} {} is larger than the {} limit for a {what}", path.display(), size_text(*limit))]
    TooLarge {
        /// What the file is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("the {what} {} is not UTF-8 text (first bad byte at offset {offset})", path.display())]
    NotText {
        /// What the file is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

/// `1 MiB`, `256 MiB`, `1 GiB`: a limit as people read it.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn kind_of(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    }
}

/// Reads a whole regular file of at most `limit` bytes; `what` names it in errors.
pub fn read_bytes(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |kind| InputError::NotRegular {
        what: what.to_string(),
        path: path.to_path_buf(),
        kind,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if let Some(kind) = kind_of(&meta) {
        return Err(not_regular(kind));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(kind) = kind_of(&meta) {
        return Err(not_regular(kind));
    }
    let too_large = || InputError::TooLarge {
        what: what.to_string(),
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the limit tells a file that grew since the check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads a whole regular UTF-8 text file of at most `limit` bytes.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, InputError> {
    let bytes = read_bytes(path, what, limit)?;
    String::from_utf8(bytes).map_err(|e| InputError::NotText {
        what: what.to_string(),
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// `relative` joined to `base`, when it is a plain relative path that stays
/// inside `base` (no root, no `..`, no prefix); `None` otherwise.
pub fn confined(base: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty() || relative.contains('\0') {
        return None;
    }
    let plain = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    plain.then(|| base.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("takeover-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_small_regular_file_is_read_whole() {
        let path = temp("small.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_text(&path, "scenario", 10).unwrap(), "hello");
        assert_eq!(read_bytes(&path, "scenario", 5).unwrap(), b"hello");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_the_limit_named() {
        let path = temp("big.txt");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        let err = read_text(&path, "script", 1024).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("1 KiB") && text.contains("big.txt"), "{text}");
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        let err = read_bytes(Path::new("/dev/zero"), "script", SCRIPT_LIMIT).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let err = read_bytes(Path::new("/tmp"), "manifest", MANIFEST_LIMIT).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let fifo = temp("fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_text(&fifo, "scenario", SCENARIO_LIMIT).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let path = temp("latin1.txt");
        std::fs::write(&path, b"ab\xffcd").unwrap();
        let err = read_text(&path, "scenario", 100).unwrap_err();
        assert!(err.to_string().contains("offset 2"), "{err}");
    }

    #[test]
    fn only_plain_relative_paths_stay_confined() {
        let base = Path::new("/r");
        assert_eq!(
            confined(base, "iteration-1/audio.wav"),
            Some(PathBuf::from("/r/iteration-1/audio.wav"))
        );
        for bad in ["../x.wav", "a/../../x", "/etc/passwd", "", "a\0b"] {
            assert_eq!(confined(base, bad), None, "{bad:?}");
        }
    }
}
