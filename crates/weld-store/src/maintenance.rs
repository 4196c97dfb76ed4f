//! Keeping the blobs honest: re-checking every one against its digest
//! (`weld cache verify`) and deleting what no installed component names
//! (`weld cache gc`).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::Store;
use crate::digest::Digest;
use crate::error::{StoreError, io_error};

/// One installed blob, re-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCheck {
    /// The digest the index names.
    pub digest: Digest,
    /// The components installed with it.
    pub names: Vec<String>,
    /// `None` when its bytes still hash to its digest; else what is wrong.
    pub problem: Option<String>,
}

impl Store {
    /// Re-reads every blob the index names and checks its digest.
    ///
    /// # Errors
    ///
    /// When the index cannot be read.
    pub fn verify_blobs(&self) -> Result<Vec<BlobCheck>, StoreError> {
        let mut by_digest: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for (name, installed) in self.index()?.components {
            by_digest.entry(installed.digest).or_default().push(name);
        }
        Ok(by_digest
            .into_iter()
            .map(|(digest, names)| {
                let problem = self.read_blob(&digest).err().map(|e| e.to_string());
                BlobCheck {
                    digest,
                    names,
                    problem,
                }
            })
            .collect())
    }

    /// Deletes the blobs no installed component names, and temporary files
    /// an interrupted write left, under the state lock (so an install in
    /// another process cannot lose the blob it just wrote). Returns what was
    /// deleted.
    ///
    /// # Errors
    ///
    /// When the index or the blob directory cannot be read.
    pub fn collect_garbage(&self) -> Result<Vec<PathBuf>, StoreError> {
        let _lock = self.lock()?;
        let index = self.index()?;
        let dir = self.root.join("blobs").join("sha256");
        let mut deleted = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let path = entry.path();
            let file_name = entry.file_name();
            // A name that is not `<hex>.wasm` of a valid digest is never one
            // weld wrote as a blob: a temp file of an interrupted write.
            let named = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".wasm"))
                .and_then(|hex| Digest::try_from(format!("sha256:{hex}")).ok());
            let keep =
                named.is_some_and(|digest| index.components.values().any(|c| c.digest == digest));
            if keep {
                continue;
            }
            let removed = if entry.file_type().map_err(io_error(&path))?.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(io_error(&path))?;
            deleted.push(path);
        }
        Ok(deleted)
    }
}
