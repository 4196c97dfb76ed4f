//! The index (`index.json`: names -> digest, source, provenance) and the
//! content-addressed blobs it names: install, remove, read back.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::digest::Digest;
use crate::error::{StoreError, io_error};
use crate::files::write_atomically;
use crate::name::validate_name;

/// One installed component, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledComponent {
    /// The content digest of the component's bytes.
    pub digest: Digest,
    /// The component's size in bytes.
    pub size: u64,
    /// Where it was installed from (for people; never re-read).
    pub source: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    /// What an index written before docs were read from the component
    /// held here: read past, never written. A component's docs are its
    /// `package-docs` section, so they follow from its bytes and are read
    /// from its blob when they are needed (`crate::docs::read`); with a
    /// thousand components, parsing them from the index was a fifth of a
    /// start.
    #[serde(default, rename = "docs", skip_serializing)]
    pub legacy_docs: LegacyDocs,
    /// How it was fetched and whose signature it carries; `None` for a
    /// local file, which a person chose by its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The interfaces it imports, as described when it was installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
}

/// The `docs` an older index held for a component: read past, unparsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyDocs;

impl<'de> Deserialize<'de> for LegacyDocs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Self)
    }
}

/// What was proven about a component fetched from a registry or a URL
/// when it was installed (weld-host decides it; the store records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The OCI manifest digest the signature covers (`None` for https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// Who signed it: `key sha256:…` or `SUBJECT (issuer ISSUER)`; `None`
    /// when it was installed unsigned under an explicit opt-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// When the signature (or the opt-out) was checked, seconds since the
    /// Unix epoch.
    pub verified_at: u64,
}

/// A component to install: what [`Store::install_component`] records.
#[derive(Debug, Clone)]
pub struct NewComponent<'a> {
    /// The name to install it under.
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Where it came from, for people.
    pub source: &'a str,
    /// What was proven about where it came from.
    pub provenance: Option<Provenance>,
    /// The interfaces it imports.
    pub imports: Vec<String>,
}

/// The index file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The index format's version; this weld reads and writes 1.
    pub version: u32,
    /// Installed components by name.
    pub components: BTreeMap<String, InstalledComponent>,
}

const INDEX_VERSION: u32 = 1;

impl Store {
    pub(crate) fn index_path(&self) -> PathBuf {
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
        replace: bool,
    ) -> Result<InstalledComponent, StoreError> {
        let new = NewComponent {
            name,
            bytes,
            source,
            provenance: None,
            imports: Vec::new(),
        };
        self.install_component(&new, replace)
    }

    /// Installs `new`: blob first, then the index.
    ///
    /// # Errors
    ///
    /// On a bad name, a name already taken (unless `replace`), or I/O.
    pub fn install_component(
        &self,
        new: &NewComponent<'_>,
        replace: bool,
    ) -> Result<InstalledComponent, StoreError> {
        let NewComponent {
            name,
            bytes,
            source,
            ..
        } = *new;
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
            legacy_docs: LegacyDocs,
            provenance: new.provenance.clone(),
            imports: new.imports.clone(),
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

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let mut json = serde_json::to_vec_pretty(index).map_err(|e| StoreError::Io {
            path: self.index_path(),
            cause: std::io::Error::other(e),
        })?;
        json.push(b'\n');
        write_atomically(&self.index_path(), &json)
    }
}
