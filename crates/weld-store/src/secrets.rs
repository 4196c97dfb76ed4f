//! What must stay private to this user: each component's secrets
//! (`secrets/<name>.json`, mode 0600) and the key that authenticates the
//! compile cache (`cache.key`, mode 0600).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Store;
use crate::error::{StoreError, io_error};
use crate::files::{create_private_dir, write_atomically};

impl Store {
    pub(crate) fn secrets_path(&self, name: &str) -> PathBuf {
        self.root.join("secrets").join(format!("{name}.json"))
    }

    /// The secrets of component `name` (key to value). Values never leave
    /// this map except into the component's sandbox.
    ///
    /// # Errors
    ///
    /// [`StoreError::CorruptIndex`] (naming the file) when it does not
    /// parse, or I/O.
    pub fn secrets(&self, name: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let path = self.secrets_path(name);
        let Some(bytes) = weld_fs::read_regular(&path).map_err(io_error(&path))? else {
            return Ok(BTreeMap::new());
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptIndex {
            path,
            message: e.to_string(),
        })
    }

    /// Sets (or, with `None`, removes) one secret of installed component
    /// `name`. The file is written atomically with mode 0600.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotInstalled`], a corrupt secrets file, or I/O.
    pub fn set_secret(&self, name: &str, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        if !self.index()?.components.contains_key(name) {
            return Err(StoreError::NotInstalled(name.to_string()));
        }
        let mut secrets = self.secrets(name)?;
        match value {
            Some(value) => {
                secrets.insert(key.to_string(), value.to_string());
            }
            None => {
                secrets.remove(key);
            }
        }
        let dir = self.root.join("secrets");
        create_private_dir(&dir).map_err(io_error(&dir))?;
        let json = serde_json::to_vec(&secrets).map_err(|e| StoreError::Io {
            path: self.secrets_path(name),
            cause: std::io::Error::other(e),
        })?;
        // NamedTempFile creates files with mode 0600, and the rename keeps it.
        write_atomically(&self.secrets_path(name), &json)
    }

    /// The key that authenticates the compile cache's artefacts: 32 random
    /// bytes in `cache.key` (mode 0600), drawn the first time it is asked
    /// for. It lives here, not in the cache, because the cache is safe to
    /// delete and so proves nothing about itself.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadCacheKey`] when the file is not a regular file of
    /// this user's that no one else can read or write, or not 32 bytes; I/O,
    /// or no randomness from the OS.
    pub fn cache_key(&self) -> Result<[u8; 32], StoreError> {
        let path = self.root.join("cache.key");
        if let Some(key) = self.read_cache_key(&path)? {
            return Ok(key);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| io_error(&path)(std::io::Error::other(e.to_string())))?;
        // NamedTempFile creates the file with mode 0600; `persist_noclobber`
        // leaves a key another weld drew meanwhile in place, and that one is
        // used instead.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root).map_err(io_error(&self.root))?;
        tmp.write_all(&key).map_err(io_error(&path))?;
        tmp.as_file().sync_all().map_err(io_error(&path))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {
                fs::File::open(&self.root)
                    .and_then(|d| d.sync_all())
                    .map_err(io_error(&self.root))?;
                Ok(key)
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => self
                .read_cache_key(&path)?
                .ok_or_else(|| io_error(&path)(e.error)),
            Err(e) => Err(io_error(&path)(e.error)),
        }
    }

    fn read_cache_key(&self, path: &Path) -> Result<Option<[u8; 32]>, StoreError> {
        use std::io::Read;
        let bad = |problem: &str| StoreError::BadCacheKey {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let file = match weld_fs::open_regular(path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(bad(&e.to_string()));
            }
            Err(e) => return Err(io_error(path)(e)),
        };
        if !weld_fs::is_owner_only(&file).map_err(io_error(path))? {
            return Err(bad(
                "is not yours alone (it must belong to you with mode 0600)",
            ));
        }
        let mut bytes = Vec::with_capacity(33);
        file.take(33)
            .read_to_end(&mut bytes)
            .map_err(io_error(path))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| bad("is not 32 bytes long"))
    }
}
