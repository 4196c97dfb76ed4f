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
//! audit.jsonl              one record per tool call (appended by weld-server)
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
//! This crate knows nothing of Wasmtime or MCP.

pub mod docs;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use docs::{ComponentDocs, FunctionDocs};

/// Errors from the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path} is not a valid weld index ({message}); weld will not guess: \
         fix or move the file, then run the command again"
    )]
    CorruptIndex { path: PathBuf, message: String },
    #[error("no component named `{0}` is installed (see `weld list`)")]
    NotInstalled(String),
    #[error(
        "a component named `{0}` is already installed; remove it first or pass --force to replace it"
    )]
    AlreadyInstalled(String),
    #[error(
        "`{0}` is not a valid component name: use 1-64 characters from a-z, 0-9 and '-', \
         starting with a letter (it becomes the prefix of every tool name)"
    )]
    BadName(String),
    #[error(
        "the component name `{0}` is reserved for weld's built-in tools (`{0}_...`); \
         install it under another name with --name (or rename the file)"
    )]
    ReservedName(String),
    #[error(
        "blob {digest} is missing or damaged in the store ({path}); reinstall the component with `weld add`"
    )]
    BadBlob { digest: String, path: PathBuf },
    #[error(transparent)]
    UnsafeDir(#[from] weld_fs::DirError),
    #[error(
        "{path} {problem}; delete it and weld draws a new key (compiled components are then \
         compiled again)"
    )]
    BadCacheKey { path: PathBuf, problem: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// A content digest, `sha256:<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The hex part, for file names.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = value.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if valid {
            Ok(Self(value))
        } else {
            Err(format!("`{value}` is not a sha256 digest"))
        }
    }
}

impl From<Digest> for String {
    fn from(value: Digest) -> Self {
        value.0
    }
}

/// The component name weld's built-in MCP tools use (`weld_list_components`,
/// `weld_request_grant`, ...): no component may have it, or its tools could
/// shadow them (a function `grant` in an interface `request` of a component
/// `weld` would be `weld_request_grant`).
pub const RESERVED_NAME: &str = "weld";

/// Checks a component name: the first part of every tool name it exports.
///
/// # Errors
///
/// [`StoreError::BadName`] when it is not 1-64 characters of `[a-z0-9-]`
/// starting with a letter, [`StoreError::ReservedName`] for [`RESERVED_NAME`].
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    if name == RESERVED_NAME {
        return Err(StoreError::ReservedName(name.to_string()));
    }
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

/// The name a component gets when none is given: its file stem, lowercased,
/// with every run of other characters turned into one `-`.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let name: String = name.chars().take(64).collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "component".to_string()
    } else {
        name
    }
}

/// One installed component, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledComponent {
    pub digest: Digest,
    pub size: u64,
    /// Where it was installed from (for people; never re-read).
    pub source: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    #[serde(default)]
    pub docs: ComponentDocs,
}

/// The index file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub version: u32,
    pub components: BTreeMap<String, InstalledComponent>,
}

const INDEX_VERSION: u32 = 1;

/// A component's policy as stored: its text and its pins (text; both
/// parsed by the caller), each `None` when the file does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    pub text: Option<String>,
    pub pins: Option<String>,
}

/// What [`Store::update_policy`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUpdate {
    /// The new policy text.
    pub text: String,
    /// The new policy's pins.
    pub pins: String,
    /// Pins that serve both the old and the new policy, written first.
    pub pins_during: String,
}

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

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// The path of the blob with `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join("sha256")
            .join(format!("{}.wasm", digest.hex()))
    }

    /// Reads a blob and checks it still has its digest.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadBlob`] when it is missing or its bytes changed.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bad = || StoreError::BadBlob {
            digest: digest.to_string(),
            path: path.clone(),
        };
        let bytes = weld_fs::read_regular(&path)
            .ok()
            .flatten()
            .ok_or_else(bad)?;
        if Digest::of(&bytes) != *digest {
            return Err(bad());
        }
        Ok(bytes)
    }

    /// Reads the index; a missing index is an empty one.
    ///
    /// # Errors
    ///
    /// [`StoreError::CorruptIndex`] when it does not parse.
    pub fn index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let Some(bytes) = weld_fs::read_regular(&path).map_err(io_error(&path))? else {
            return Ok(Index {
                version: INDEX_VERSION,
                components: BTreeMap::new(),
            });
        };
        let index: Index =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptIndex {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if index.version != INDEX_VERSION {
            return Err(StoreError::CorruptIndex {
                path,
                message: format!(
                    "index version {} is not the version {INDEX_VERSION} this weld writes",
                    index.version
                ),
            });
        }
        Ok(index)
    }

    /// Installs `bytes` under `name`: blob first, then the index.
    ///
    /// # Errors
    ///
    /// On a bad name, a name already taken (unless `replace`), or I/O.
    pub fn install(
        &self,
        name: &str,
        bytes: &[u8],
        source: &str,
        docs: ComponentDocs,
        replace: bool,
    ) -> Result<InstalledComponent, StoreError> {
        validate_name(name)?;
        let _lock = self.lock()?;
        let mut index = self.index()?;
        if !replace && index.components.contains_key(name) {
            return Err(StoreError::AlreadyInstalled(name.to_string()));
        }
        let digest = Digest::of(bytes);
        let blob = self.blob_path(&digest);
        if self.read_blob(&digest).is_err() {
            write_atomically(&blob, bytes)?;
        }
        let installed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let entry = InstalledComponent {
            digest,
            size: bytes.len() as u64,
            source: source.to_string(),
            installed_at,
            docs,
        };
        index.components.insert(name.to_string(), entry.clone());
        self.write_index(&index)?;
        Ok(entry)
    }

    /// Removes `name` from the index, with its policy and secrets. Its blob
    /// stays until no name refers to it, then is deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotInstalled`], or I/O.
    pub fn remove(&self, name: &str) -> Result<InstalledComponent, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let removed = index
            .components
            .remove(name)
            .ok_or_else(|| StoreError::NotInstalled(name.to_string()))?;
        self.write_index(&index)?;
        // What was granted to the old component must not pass to a new one
        // installed under the same name.
        for file in [
            self.policy_path(name),
            self.pins_path(name),
            self.secrets_path(name),
        ] {
            if let Err(error) = fs::remove_file(&file)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %file.display(), %error, "could not delete a removed component's file");
            }
        }
        if !index
            .components
            .values()
            .any(|c| c.digest == removed.digest)
        {
            let blob = self.blob_path(&removed.digest);
            if let Err(error) = fs::remove_file(&blob) {
                tracing::warn!(path = %blob.display(), %error, "could not delete an unused blob");
            }
        }
        Ok(removed)
    }

    /// Where the policy of component `name` is kept.
    pub fn policy_path(&self, name: &str) -> PathBuf {
        self.root.join("policies").join(format!("{name}.yaml"))
    }

    /// The directory of policies (watched for changes by a running server).
    pub fn policies_dir(&self) -> PathBuf {
        self.root.join("policies")
    }

    /// Where the pins of component `name`'s policy are kept: what each of
    /// its storage rules resolved to when it was granted.
    pub fn pins_path(&self, name: &str) -> PathBuf {
        self.root.join("policies").join(format!("{name}.pins.json"))
    }

    /// The policy text of component `name`, if it has one.
    ///
    /// # Errors
    ///
    /// On I/O errors other than the file not existing.
    pub fn read_policy(&self, name: &str) -> Result<Option<String>, StoreError> {
        read_optional(&self.policy_path(name))
    }

    /// The policy of component `name` and its pins, as stored.
    ///
    /// # Errors
    ///
    /// On I/O errors other than a file not existing.
    pub fn stored_policy(&self, name: &str) -> Result<StoredPolicy, StoreError> {
        Ok(StoredPolicy {
            text: self.read_policy(name)?,
            pins: read_optional(&self.pins_path(name))?,
        })
    }

    /// Replaces the policy of installed component `name` and its pins with
    /// what `change` makes of the current ones, atomically, holding the
    /// state lock from the read to the write so that two changes at once (a
    /// `weld grant` and a grant over MCP) cannot lose each other's update.
    /// `change` also gets the component as installed, to check the new
    /// policy against it; when it fails nothing is written.
    ///
    /// Policy and pins are two files, written so that every state a reader
    /// (or a crash) can see has a pin for every rule: first
    /// [`PolicyUpdate::pins_during`] (the pins of both the old and the new
    /// policy), then the policy, then the new policy's own pins.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotInstalled`], I/O, or `change`'s error.
    pub fn update_policy<E: From<StoreError>>(
        &self,
        name: &str,
        change: impl FnOnce(&InstalledComponent, StoredPolicy) -> Result<PolicyUpdate, E>,
    ) -> Result<PolicyUpdate, E> {
        let _lock = self.lock()?;
        let index = self.index()?;
        let installed = index
            .components
            .get(name)
            .ok_or_else(|| StoreError::NotInstalled(name.to_string()))?;
        let update = change(installed, self.stored_policy(name)?)?;
        let dir = self.policies_dir();
        create_private_dir(&dir).map_err(io_error(&dir))?;
        write_atomically(&self.pins_path(name), update.pins_during.as_bytes())?;
        write_atomically(&self.policy_path(name), update.text.as_bytes())?;
        write_atomically(&self.pins_path(name), update.pins.as_bytes())?;
        Ok(update)
    }

    fn secrets_path(&self, name: &str) -> PathBuf {
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

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let mut json = serde_json::to_vec_pretty(index).map_err(|e| StoreError::Io {
            path: self.index_path(),
            cause: std::io::Error::other(e),
        })?;
        json.push(b'\n');
        write_atomically(&self.index_path(), &json)
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

/// The text of `path`, `None` when it does not exist; never read through a
/// symlink (see `weld_fs::read_regular`).
fn read_optional(path: &Path) -> Result<Option<String>, StoreError> {
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
    let dir = path.parent().unwrap_or(Path::new("."));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("state")).expect("open");
        (dir, store)
    }

    #[test]
    fn installed_components_are_listed_and_their_bytes_kept() {
        let (_dir, store) = store();
        let entry = store
            .install(
                "text",
                b"bytes",
                "file:/x.wasm",
                ComponentDocs::default(),
                false,
            )
            .expect("install");
        let index = store.index().expect("index");
        assert_eq!(index.components["text"], entry);
        assert_eq!(store.read_blob(&entry.digest).expect("blob"), b"bytes");
    }

    #[test]
    fn installing_over_a_name_needs_replace() {
        let (_dir, store) = store();
        let docs = ComponentDocs::default;
        store.install("a", b"1", "s", docs(), false).expect("first");
        assert!(matches!(
            store.install("a", b"2", "s", docs(), false),
            Err(StoreError::AlreadyInstalled(_))
        ));
        store
            .install("a", b"2", "s", docs(), true)
            .expect("replace");
        let digest = &store.index().expect("index").components["a"].digest;
        assert_eq!(store.read_blob(digest).expect("blob"), b"2");
    }

    #[test]
    fn removing_deletes_the_unreferenced_blob_only() {
        let (_dir, store) = store();
        let docs = ComponentDocs::default;
        let a = store.install("a", b"same", "s", docs(), false).expect("a");
        store.install("b", b"same", "s", docs(), false).expect("b");
        store.remove("a").expect("remove a");
        assert!(store.blob_path(&a.digest).exists(), "b still uses it");
        store.remove("b").expect("remove b");
        assert!(!store.blob_path(&a.digest).exists());
        assert!(matches!(
            store.remove("b"),
            Err(StoreError::NotInstalled(_))
        ));
    }

    #[test]
    fn a_corrupt_index_is_an_error_naming_the_file_not_an_empty_state() {
        let (_dir, store) = store();
        fs::write(store.root().join("index.json"), b"{ not json").expect("write");
        let error = store.index().expect_err("must fail");
        assert!(error.to_string().contains("index.json"), "{error}");
        assert!(matches!(
            store.install("a", b"1", "s", ComponentDocs::default(), false),
            Err(StoreError::CorruptIndex { .. })
        ));
    }

    #[test]
    fn a_changed_blob_is_detected() {
        let (_dir, store) = store();
        let entry = store
            .install("a", b"original", "s", ComponentDocs::default(), false)
            .expect("install");
        fs::write(store.blob_path(&entry.digest), b"tampered").expect("write");
        assert!(matches!(
            store.read_blob(&entry.digest),
            Err(StoreError::BadBlob { .. })
        ));
    }

    #[test]
    fn secrets_are_kept_private_and_removed_with_their_component() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store();
        store
            .install("a", b"1", "s", ComponentDocs::default(), false)
            .expect("install");
        store.set_secret("a", "TOKEN", Some("s3cret")).expect("set");
        assert_eq!(store.secrets("a").expect("read")["TOKEN"], "s3cret");
        let mode = fs::metadata(store.secrets_path("a"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        store.set_secret("a", "TOKEN", None).expect("unset");
        assert!(store.secrets("a").expect("read").is_empty());
        store.set_secret("a", "TOKEN", Some("again")).expect("set");
        store.remove("a").expect("remove");
        assert!(!store.secrets_path("a").exists());
        assert!(matches!(
            store.set_secret("a", "TOKEN", Some("x")),
            Err(StoreError::NotInstalled(_))
        ));
    }

    #[test]
    fn a_state_directory_others_can_write_is_refused_not_repaired() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("state");
        fs::create_dir(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = Store::open(&root).expect_err("refused");
        assert!(matches!(error, StoreError::UnsafeDir(_)), "{error:?}");
        assert!(error.to_string().contains("chmod go-w"), "{error}");
        assert!(!root.join("blobs").exists(), "nothing is written into it");
        // One of weld's own directories inside a good state directory, too.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod");
        let (_dir, store) = (tmp, Store::open(&root).expect("now private"));
        let policies = store.policies_dir();
        fs::set_permissions(&policies, fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = Store::open(&root).expect_err("policies/ refused");
        assert!(error.to_string().contains("policies"), "{error}");
    }

    #[test]
    fn the_files_that_decide_access_are_not_read_through_symlinks() {
        let (dir, store) = store();
        store
            .install("a", b"1", "s", ComponentDocs::default(), false)
            .expect("install");
        let elsewhere = dir.path().join("elsewhere.yaml");
        fs::write(&elsewhere, "network:\n  allow: []\n").expect("write");
        std::os::unix::fs::symlink(&elsewhere, store.policy_path("a")).expect("symlink");
        let error = store.read_policy("a").expect_err("not followed");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        let index = store.root().join("index.json");
        fs::rename(&index, dir.path().join("index.json")).expect("move");
        std::os::unix::fs::symlink(dir.path().join("index.json"), &index).expect("symlink");
        assert!(store.index().is_err());
    }

    #[test]
    fn the_cache_key_is_drawn_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store();
        let key = store.cache_key().expect("drawn");
        assert_ne!(key, [0u8; 32]);
        let again = Store::open(store.root()).expect("reopen");
        assert_eq!(again.cache_key().expect("read"), key);
        let path = store.root().join("cache.key");
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = store.cache_key().expect_err("readable by others");
        assert!(matches!(error, StoreError::BadCacheKey { .. }), "{error:?}");
        fs::remove_file(&path).expect("delete");
        assert_ne!(store.cache_key().expect("a new one"), key);
    }

    #[test]
    fn component_names_are_checked() {
        for good in ["a", "text-utils", "x1"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "1a", "a_b", "a.b", "a-", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_built_in_tools_name_is_reserved() {
        assert!(matches!(
            validate_name("weld"),
            Err(StoreError::ReservedName(_))
        ));
        assert!(validate_name("weld-tools").is_ok());
        assert!(validate_name("welder").is_ok());
    }

    fn update(text: &str, pins: &str) -> PolicyUpdate {
        PolicyUpdate {
            text: text.into(),
            pins: pins.into(),
            pins_during: format!("{pins}+old"),
        }
    }

    #[test]
    fn a_policy_update_that_fails_writes_nothing() {
        let (_tmp, store) = store();
        store
            .install("a", b"bytes", "test", ComponentDocs::default(), false)
            .expect("install");
        store
            .update_policy("a", |_, _| Ok::<_, StoreError>(update("before", "p0")))
            .expect("write");
        let failed: Result<PolicyUpdate, StoreError> =
            store.update_policy("a", |_, _| Err(StoreError::NotInstalled("refused".into())));
        assert!(failed.is_err());
        assert_eq!(
            store.stored_policy("a").expect("read"),
            StoredPolicy {
                text: Some("before".into()),
                pins: Some("p0".into())
            }
        );
        let written = store
            .update_policy("a", |_, old| {
                let text = old.text.unwrap_or_default();
                Ok::<_, StoreError>(update(&format!("{text}+1"), "p1"))
            })
            .expect("update");
        assert_eq!(written.text, "before+1");
        // The final pins replace the interim superset.
        assert_eq!(
            store.stored_policy("a").expect("read"),
            StoredPolicy {
                text: Some("before+1".into()),
                pins: Some("p1".into())
            }
        );
    }

    #[test]
    fn removing_a_component_removes_its_policy_and_pins() {
        let (_tmp, store) = store();
        store
            .install("a", b"bytes", "test", ComponentDocs::default(), false)
            .expect("install");
        store
            .update_policy("a", |_, _| Ok::<_, StoreError>(update("p", "pins")))
            .expect("write");
        store.remove("a").expect("remove");
        assert!(!store.policy_path("a").exists());
        assert!(!store.pins_path("a").exists());
    }

    #[test]
    fn default_names_are_valid_names() {
        for (path, want) in [
            ("/x/text_utils.wasm", "text-utils"),
            ("My Tool.wasm", "my-tool"),
            ("123.wasm", "component"),
            ("__.wasm", "component"),
        ] {
            let name = default_name(Path::new(path));
            assert_eq!(name, want);
            assert!(validate_name(&name).is_ok());
        }
    }

    proptest::proptest! {
        #[test]
        fn every_default_name_is_a_valid_name(stem in "\\PC{0,80}") {
            let name = default_name(Path::new(&format!("{stem}.wasm")));
            // `weld.wasm` is refused by name (with the fix), not renamed.
            proptest::prop_assert!(
                validate_name(&name).is_ok() || name == RESERVED_NAME,
                "{name:?}"
            );
        }
    }
}
