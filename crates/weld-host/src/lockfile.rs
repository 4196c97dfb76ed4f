//! `weld.lock`: exactly which tools are installed, from where, signed by
//! whom, importing what, under which approved policy — so that a second
//! machine (or a container) installs the same bytes with `weld sync`, and
//! `weld update` can show what a new version changes.
//!
//! It is TOML, written in a stable order (tools by name, imports sorted),
//! so that it diffs well under version control. Beside it, `policies/`
//! holds the approved policy of each tool whose entry names one; the lock
//! pins each by digest, so a policy file changed by hand is refused by
//! `weld sync`, never applied.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use weld_store::{Store, StoreError, write_atomically};

/// The lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The format's version; this weld reads and writes 1.
    pub version: u32,
    /// The installed tools, by name.
    #[serde(default, rename = "tool")]
    pub tools: Vec<LockedTool>,
}

/// One installed component, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedTool {
    /// The name it is installed under.
    pub name: String,
    /// Where it came from: `oci://…`, `https://…` or `file:…`.
    pub source: String,
    /// The OCI manifest digest that was verified (oci sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The digest of the component's bytes.
    pub component: String,
    /// Who signed it (`key sha256:…`, or `SUBJECT (issuer ISSUER)`);
    /// absent for a local file or an unsigned opt-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// When its signature was verified (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// The interfaces it imports.
    #[serde(default)]
    pub imports: Vec<String>,
    /// The digest of its approved policy (`policies/NAME.yaml` beside the
    /// lock); absent when it runs without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

const LOCK_VERSION: u32 = 1;

/// Why a lock file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// It could not be read.
    #[error("cannot read the lock file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// It is not a lock file this weld understands.
    #[error("{} is not a valid weld.lock: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// The state could not be read, or the lock written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Lock {
    /// Reads the lock file at `path`.
    ///
    /// # Errors
    ///
    /// When it cannot be read, does not parse, has another version or names
    /// a tool twice.
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|cause| LockError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let invalid = |message: String| LockError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let lock: Self = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if lock.version != LOCK_VERSION {
            return Err(invalid(format!(
                "version {} is not the version {LOCK_VERSION} this weld reads",
                lock.version
            )));
        }
        for (i, tool) in lock.tools.iter().enumerate() {
            if lock.tools[..i].iter().any(|t| t.name == tool.name) {
                return Err(invalid(format!("`{}` is named twice", tool.name)));
            }
            weld_store::validate_name(&tool.name).map_err(|e| invalid(e.to_string()))?;
            for digest in [
                Some(&tool.component),
                tool.manifest.as_ref(),
                tool.policy.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                weld_store::Digest::try_from(digest.clone()).map_err(invalid)?;
            }
        }
        Ok(lock)
    }

    /// The lock of what `store` has installed now.
    ///
    /// # Errors
    ///
    /// When the index or a policy cannot be read.
    pub fn of_state(store: &Store) -> Result<Self, LockError> {
        let mut tools = Vec::new();
        for (name, installed) in store.index()?.components {
            let policy = store.read_policy(&name)?.map(|text| policy_digest(&text));
            let provenance = installed.provenance.as_ref();
            let mut imports = installed.imports.clone();
            imports.sort();
            tools.push(LockedTool {
                source: installed.source.clone(),
                manifest: provenance.and_then(|p| p.manifest.as_ref().map(ToString::to_string)),
                component: installed.digest.to_string(),
                signer: provenance.and_then(|p| p.signer.clone()),
                verified_at: provenance.map(|p| weld_trust::format_unix(p.verified_at)),
                imports,
                policy,
                name,
            });
        }
        Ok(Self {
            version: LOCK_VERSION,
            tools,
        })
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&LockedTool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// The lock as TOML, with a header saying what it is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# weld.lock: the tools weld has installed, pinned by digest and signer.\n\
             # Written by weld (add, update, remove, sync, lock); `weld sync` installs\n\
             # exactly this. policies/NAME.yaml beside it are the approved policies.\n\n{body}"
        )
    }

    /// Writes the lock of `store`'s state to `path`, and each approved
    /// policy to `policies/NAME.yaml` beside it (atomically, each).
    ///
    /// # Errors
    ///
    /// When the state cannot be read or a file written.
    pub fn write_state(store: &Store, path: &Path) -> Result<Self, LockError> {
        let lock = Self::of_state(store)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let policies = dir.join("policies");
        for tool in lock.tools.iter().filter(|t| t.policy.is_some()) {
            if let Some(text) = store.read_policy(&tool.name)? {
                weld_store::create_private_dir(&policies).map_err(|cause| LockError::Read {
                    path: policies.clone(),
                    cause,
                })?;
                write_atomically(
                    &policies.join(format!("{}.yaml", tool.name)),
                    text.as_bytes(),
                )?;
            }
        }
        write_atomically(path, lock.to_toml().as_bytes())?;
        remove_stale_policies(&policies, &lock);
        Ok(lock)
    }
}

/// Removes the approved policies of tools the lock no longer names with a
/// policy (removed, or their policy taken away), so `policies/` says what
/// the lock says. Only files weld writes there (`NAME.yaml`, NAME a valid
/// component name) are touched; after the lock is written, so a crash
/// leaves at most an unused file, never a lock whose policy is missing.
fn remove_stale_policies(policies: &Path, lock: &Lock) {
    let Ok(entries) = std::fs::read_dir(policies) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".yaml")) else {
            continue;
        };
        let locked = lock
            .tools
            .iter()
            .any(|t| t.name == name && t.policy.is_some());
        if locked || weld_store::validate_name(name).is_err() {
            continue;
        }
        if let Err(error) = std::fs::remove_file(entry.path()) {
            tracing::warn!(path = %entry.path().display(), %error, "could not remove a policy the lock no longer names");
        }
    }
}

/// The digest a lock pins a policy's text by.
pub fn policy_digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_rfc3339() {
        assert_eq!(weld_trust::format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(weld_trust::format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            weld_trust::format_unix(1_796_605_199),
            "2026-12-07T00:59:59Z"
        );
    }

    #[test]
    fn a_lock_round_trips_and_refuses_what_it_does_not_know() {
        let dir = tempfile::tempdir().expect("dir");
        let lock = Lock {
            version: 1,
            tools: vec![LockedTool {
                name: "fetch".into(),
                source: "oci://127.0.0.1:5000/tools/fetch:1".into(),
                manifest: Some(format!("sha256:{}", "a".repeat(64))),
                component: format!("sha256:{}", "b".repeat(64)),
                signer: Some("key sha256:cc".into()),
                verified_at: Some(weld_trust::format_unix(0)),
                imports: vec!["wasi:http/outgoing-handler@0.2.0".into()],
                policy: None,
            }],
        };
        let path = dir.path().join("weld.lock");
        std::fs::write(&path, lock.to_toml()).expect("write");
        assert_eq!(Lock::read(&path).expect("read"), lock);

        let text = lock
            .to_toml()
            .replace("name = \"fetch\"", "name = \"fetch\"\nextra = 1");
        std::fs::write(&path, text).expect("write");
        assert!(matches!(Lock::read(&path), Err(LockError::Invalid { .. })));

        let text = lock.to_toml().replace(&"b".repeat(64), "../../etc/passwd");
        std::fs::write(&path, text).expect("write");
        let error = Lock::read(&path).expect_err("bad digest");
        assert!(error.to_string().contains("not a sha256 digest"), "{error}");
    }
}
