//! A component's policy and its pins as stored (text: weld-policy parses
//! them), and the one locked read-change-write that replaces both.

use std::path::PathBuf;

use crate::Store;
use crate::error::{StoreError, io_error};
use crate::files::{create_private_dir, read_optional, write_atomically};
use crate::index::InstalledComponent;

/// A component's policy as stored: its text and its pins (text; both
/// parsed by the caller), each `None` when the file does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    /// The policy text (YAML or JSON), `None` when there is no policy file.
    pub text: Option<String>,
    /// The pins (JSON), `None` when there is no pins file.
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

impl Store {
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
}
