//! How the store reads and writes one file: never through a symlink, and
//! atomically (temp file, fsync, rename, fsync of the directory), so a
//! crash leaves either the old content or the new.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{StoreError, io_error};

/// The text of `path`, `None` when it does not exist; never read through a
/// symlink (see `weld_fs::read_regular`).
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, StoreError> {
    match weld_fs::read_regular(path).map_err(io_error(path))? {
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| io_error(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
        None => Ok(None),
    }
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old
/// content or the new, never a part.
///
/// # Errors
///
/// On any I/O failure; the temp file is removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    // A bare file name (`tool.wasm`) has the parent "", which no temp
    // file can be created in: it means the current directory.
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let err = io_error(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    tmp.write_all(bytes).map_err(io_error(path))?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700 unless it exists, and checks
/// that no other user can write it (see [`weld_fs::private_subdir`]).
///
/// # Errors
///
/// When it cannot be created, or is not a private directory of this user.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    weld_fs::private_subdir(dir).map_err(|error| match error {
        weld_fs::DirError::Io { source, .. } => source,
        unsafe_dir => std::io::Error::new(std::io::ErrorKind::PermissionDenied, unsafe_dir),
    })
}
