//! weld's persistent state: which components are installed, under which
//! names, and the bytes of each.
//!
//! Layout of the state directory (mode 0700):
//!
//! ```text
//! index.json               names -> digest, source, docs (the one source of truth)
//! blobs/sha256/<hex>.wasm  component bytes, content-addressed, never modified
//! policies/<name>.yaml     what a person granted the component (text; parsed by weld-policy)
//! policies/<name>.pins.json  what its storage rules resolved to when granted (weld-policy's pins)
//! secrets/<name>.json      secrets its policy may pass on (mode 0600)
//! cache.key                authenticates the compile cache's artefacts (mode 0600)
//! audit.jsonl              one record per tool call (appended by weld-host)
//! lock                     held (flock) while the index is being changed
//! ```
//!
//! What is in it decides what tools may do, so [`Store::open`] refuses a
//! state directory (or a directory in it, or a parent) that another user
//! could change, with the fix (`weld_fs` says exactly what is checked), and
//! keeps the canonical path it checked. The index, policies, secrets, blobs
//! and the key are read without following symlinks and only from regular
//! files.
//!
//! Every write is a temp file, fsync, rename, fsync of the directory, so a
//! crash leaves either the old state or the new one. Blobs are written before
//! the index names them; a crash in between leaves an unreferenced blob,
//! never a name without bytes. An index that fails to parse is an error that
//! names the file — weld never starts over from an empty state silently.
//!
//! ## Invariants (written as absences)
//!
//! - It knows nothing of Wasmtime, MCP, tokio or the network, and does not
//!   parse policies: policy and pins are text to it (weld-policy reads them).
//! - It never writes a file in place: every write goes through
//!   [`write_atomically`], and the index is changed only under the state
//!   lock.
//! - It never follows a symlink or reads anything but a regular file among
//!   the files that decide access (index, policies, pins, secrets, key).
//! - It never starts over silently: a file that does not parse is an error
//!   naming it, not an empty state.
//! - Secret values never leave it except through [`Store::secrets`], and it
//!   never logs them.
//! - No `unsafe` (`forbid`).

#![forbid(unsafe_code)]

mod digest;
pub mod docs;
mod error;
mod files;
mod index;
mod maintenance;
mod name;
mod policy;
mod secrets;

use std::fs;
use std::path::{Path, PathBuf};

pub use digest::Digest;
pub use docs::{ComponentDocs, FunctionDocs};
pub use error::StoreError;
pub use files::{create_private_dir, write_atomically};
pub use index::{Index, InstalledComponent, LegacyDocs, NewComponent, Provenance};
pub use maintenance::BlobCheck;
pub use name::{RESERVED_NAME, default_name, validate_name};
pub use policy::{PolicyUpdate, StoredPolicy};

use error::io_error;

/// A handle on a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the state directory at `root`, after
    /// checking that no other user can change it, the directories in it or
    /// its parents.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsafeDir`] naming the directory at fault and the fix,
    /// or I/O when a directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = weld_fs::private_dir(&root.into())?;
        for sub in ["blobs", "blobs/sha256", "policies", "secrets"] {
            weld_fs::private_subdir(&root.join(sub))?;
        }
        Ok(Self { root })
    }

    /// The state directory, canonical, as checked when opened.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An exclusive lock on the state, held until the returned file drops,
    /// so two `weld add` processes cannot lose each other's update.
    fn lock(&self) -> Result<fs::File, StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.root.join("lock");
        // Not through a symlink, and never waiting on a FIFO put there.
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(weld_fs::NO_FOLLOW_NO_BLOCK)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests;
