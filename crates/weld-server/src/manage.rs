//! Changing a component's policy: the one code path behind `weld grant`,
//! `weld revoke`, `weld policy set` and the built-in MCP tools
//! ([`crate::builtin`]).
//!
//! A change is applied to the stored policy with `weld-policy`'s pure
//! operations, checked with [`compile_policy`] against the component as
//! installed (a policy weld cannot enforce is refused with the reason and
//! never written, so a stored policy never stops the next start), and
//! written atomically under the state lock. A running server's watcher
//! (`load::watch_state`) applies the written policy within a second.
//!
//! This module decides *how* a policy changes, not *who* may change it:
//! asking a person is the caller's job.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_policy::{Access, EnvSource, Policy};
use weld_runtime::{Limits, Runtime};
use weld_store::{InstalledComponent, Store, StoreError};

use crate::load::{LoadError, compile_policy, load_installed};

/// Whether a change adds or takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Grant,
    Revoke,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Grant => "grant",
            Direction::Revoke => "revoke",
        }
    }
}

/// What is granted or revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// A storage URI (`fs:///dir/**`) with access modes, sorted, no
    /// duplicates.
    Storage { uri: String, access: Vec<Access> },
    /// HTTPS to `HOST[:PORT]`.
    Network { target: String },
    /// An environment variable, from weld's environment or (`secret`) its
    /// secret store.
    Env { key: String, secret: bool },
}

/// Storage access modes from their names (`read`, `write`), as the CLI's
/// `--access read,write` and the MCP tools' `access` list give them: sorted,
/// each once, never empty, as [`Capability::Storage`] holds them.
///
/// # Errors
///
/// An unknown name, one listed twice, or none.
pub fn access_modes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Access>, String> {
    let mut access = Vec::new();
    for name in names {
        let mode = match name.trim() {
            "read" => Access::Read,
            "write" => Access::Write,
            other => return Err(format!("unknown access mode `{other}` (use read, write)")),
        };
        if access.contains(&mode) {
            return Err(format!("access mode `{mode}` is listed twice"));
        }
        access.push(mode);
    }
    if access.is_empty() {
        return Err("no access mode given (use read, write)".into());
    }
    access.sort();
    Ok(access)
}

impl Capability {
    /// `storage`, `network` or `env`: the CLI's subcommand and the MCP
    /// tools' `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Capability::Storage { .. } => "storage",
            Capability::Network { .. } => "network",
            Capability::Env { .. } => "env",
        }
    }

    /// The URI, host or key.
    pub fn target(&self) -> &str {
        match self {
            Capability::Storage { uri, .. } => uri,
            Capability::Network { target } => target,
            Capability::Env { key, .. } => key,
        }
    }
}

/// One grant or revocation for one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyChange {
    pub component: String,
    pub direction: Direction,
    pub capability: Capability,
}

impl PolicyChange {
    /// The changed policy (pure; nothing is checked against the machine).
    ///
    /// # Errors
    ///
    /// What `weld-policy` refuses: an invalid URI, host or key, a grant a
    /// deny rule would cancel, revoking what is not granted.
    pub fn apply_to(&self, policy: &Policy) -> Result<Policy, weld_policy::PolicyError> {
        match (&self.capability, self.direction) {
            (Capability::Storage { uri, access }, Direction::Grant) => {
                policy.grant_storage(uri, access)
            }
            (Capability::Storage { uri, access }, Direction::Revoke) => {
                policy.revoke_storage(uri, access)
            }
            (Capability::Network { target }, Direction::Grant) => policy.grant_network(target),
            (Capability::Network { target }, Direction::Revoke) => policy.revoke_network(target),
            (Capability::Env { key, secret }, Direction::Grant) => {
                let from = if *secret {
                    EnvSource::Secret
                } else {
                    EnvSource::Host
                };
                policy.grant_env(key, from)
            }
            (Capability::Env { key, .. }, Direction::Revoke) => policy.revoke_env(key),
        }
    }

    /// One line for logs and the audit record:
    /// `grant storage fs:///x/** access=read,write`.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} {}",
            self.direction.as_str(),
            self.capability.kind(),
            self.capability.target()
        );
        match &self.capability {
            Capability::Storage { access, .. } => {
                let _ = write!(out, " access={}", access_text(access));
            }
            Capability::Env { secret: true, .. } => out.push_str(" from=secret"),
            _ => {}
        }
        out
    }

    /// What the change would let the component's tools do (or stop them
    /// doing), in words a person can judge.
    pub fn meaning(&self) -> String {
        let who = format!("The tools of component `{}`", self.component);
        match (&self.capability, self.direction) {
            (Capability::Storage { uri, access }, Direction::Grant) => {
                let what = if access.contains(&Access::Write) {
                    "read, create, change and delete files"
                } else {
                    "read files"
                };
                format!("{who} could {what} in `{uri}` (the whole tree)")
            }
            (Capability::Storage { uri, access }, Direction::Revoke) => {
                format!(
                    "{who} lose {} access to `{uri}`",
                    access_text(access).replace(',', " and ")
                )
            }
            (Capability::Network { target }, Direction::Grant) => {
                format!(
                    "{who} could make HTTPS requests to `{target}`{}",
                    if target.ends_with(']') || !target.contains(':') {
                        " (port 443)"
                    } else {
                        ""
                    }
                )
            }
            (Capability::Network { target }, Direction::Revoke) => {
                format!("{who} lose HTTPS access to `{target}`")
            }
            (Capability::Env { key, secret: false }, Direction::Grant) => {
                format!(
                    "{who} could read the environment variable `{key}` from weld's own environment"
                )
            }
            (Capability::Env { key, secret: true }, Direction::Grant) => format!(
                "{who} could read `{key}` from weld's secret store (`weld secret set {} {key}`)",
                self.component
            ),
            (Capability::Env { key, .. }, Direction::Revoke) => {
                format!("{who} lose the environment variable `{key}`")
            }
        }
    }

    /// The `weld grant` / `weld revoke` command that makes this change,
    /// shell-quoted, for a person to run. It names the state directory so
    /// that it changes the policy this server reads; a relative storage URI
    /// is resolved against the directory weld serves from, so the command
    /// starts there.
    pub fn command(&self, state_dir: &Path, base: &Path) -> String {
        let mut words: Vec<String> = vec![
            "weld".into(),
            "--state-dir".into(),
            state_dir.display().to_string(),
            self.direction.as_str().into(),
            self.component.clone(),
            self.capability.kind().into(),
            self.capability.target().into(),
        ];
        match &self.capability {
            Capability::Storage { access, .. } => {
                words.push("--access".into());
                words.push(access_text(access));
            }
            Capability::Env { secret: true, .. } => words.push("--secret".into()),
            _ => {}
        }
        let command = words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        match &self.capability {
            Capability::Storage { uri, .. } if uri.starts_with("fs://./") => {
                format!(
                    "cd {} && {command}",
                    shell_quote(&base.display().to_string())
                )
            }
            _ => command,
        }
    }

    /// The change as one canonical string: equal strings, equal changes.
    /// An approval is bound to it.
    pub fn canonical(&self) -> String {
        let (access, secret) = match &self.capability {
            Capability::Storage { access, .. } => (access_text(access), false),
            Capability::Env { secret, .. } => (String::new(), *secret),
            Capability::Network { .. } => (String::new(), false),
        };
        serde_json::json!([
            self.direction.as_str(),
            self.component,
            self.capability.kind(),
            self.capability.target(),
            access,
            secret,
        ])
        .to_string()
    }
}

/// `read` or `read,write`.
pub fn access_text(access: &[Access]) -> String {
    access
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `word` as one shell word: as it is when that is safe, else in single
/// quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Why a policy was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}:{message}")]
    StoredPolicy { path: PathBuf, message: String },
    #[error("{0}")]
    Change(#[from] weld_policy::PolicyError),
    #[error("the policy of `{name}` was not changed: weld could not enforce the result: {message}")]
    Unenforceable { name: String, message: String },
    #[error("component `{name}` could not be loaded to check its policy: {message}")]
    Load { name: String, message: String },
}

/// A policy change that was made, or would be.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The component's digest, as installed.
    pub digest: String,
    /// The policy before, canonical YAML (`None`: it had none).
    pub before: Option<String>,
    /// The policy after, canonical YAML.
    pub after: String,
}

/// What a policy change needs: the state, a runtime to load the component
/// (its imports decide what can be enforced), the base directory relative
/// storage URIs are resolved against, and the default limits.
#[derive(Clone)]
pub struct Policies {
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub base: PathBuf,
    pub limits: Limits,
}

impl Policies {
    /// The stored policy of `name` (deny-all when it has none), and its
    /// text.
    ///
    /// # Errors
    ///
    /// A stored policy that does not parse (naming the file), or I/O.
    pub fn current(&self, name: &str) -> Result<(Policy, Option<String>), ManageError> {
        let text = self.store.read_policy(name)?;
        Ok((self.parse_stored(name, text.as_deref())?, text))
    }

    fn parse_stored(&self, name: &str, text: Option<&str>) -> Result<Policy, ManageError> {
        match text {
            Some(text) => Policy::parse(text).map_err(|e| ManageError::StoredPolicy {
                path: self.store.policy_path(name),
                message: e.to_string(),
            }),
            None => Ok(Policy::deny_all()),
        }
    }

    /// Checks that weld can enforce `policy` for the installed component.
    fn check(
        &self,
        name: &str,
        installed: &InstalledComponent,
        policy: &Policy,
    ) -> Result<(), ManageError> {
        // Loaded as the policy would run it, so a server reloading after the
        // change finds the artefact for that engine already compiled.
        let metering = crate::sandbox::metering(policy);
        let loaded = load_installed(&self.store, &self.runtime, &installed.digest, metering)
            .map_err(|e| ManageError::Load {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        compile_policy(
            &self.store,
            name,
            policy,
            &self.base,
            loaded.imports(),
            self.limits,
        )
        .map(drop)
        .map_err(|error| match error {
            LoadError::Unenforceable { message, .. } => ManageError::Unenforceable {
                name: name.to_string(),
                message,
            },
            LoadError::Store(error) => ManageError::Store(error),
            other => ManageError::Load {
                name: name.to_string(),
                message: other.to_string(),
            },
        })
    }

    /// What `change` would make of the component's policy, checked as
    /// [`Policies::apply`] checks it, without writing anything.
    ///
    /// # Errors
    ///
    /// As [`Policies::apply`].
    pub fn preview(&self, change: &PolicyChange) -> Result<Changed, ManageError> {
        let name = &change.component;
        let installed = self
            .store
            .index()?
            .components
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NotInstalled(name.clone()))?;
        let (policy, before) = self.current(name)?;
        let after = change.apply_to(&policy)?;
        self.check(name, &installed, &after)?;
        Ok(Changed {
            digest: installed.digest.to_string(),
            before: before.map(|t| canonical_text(&t)),
            after: after.to_yaml(),
        })
    }

    /// Applies `change` to the stored policy, checks the result, and writes
    /// it atomically; the read, the check and the write hold the state
    /// lock. Blocking (file I/O, possibly compiling the component).
    ///
    /// # Errors
    ///
    /// The component is not installed, its stored policy does not parse,
    /// `weld-policy` refuses the change, or weld cannot enforce the result.
    /// Nothing is written then.
    pub fn apply(&self, change: &PolicyChange) -> Result<Changed, ManageError> {
        self.update(&change.component, |policy| Ok(change.apply_to(policy)?))
    }

    /// Replaces the component's policy with `policy`, checked first.
    ///
    /// # Errors
    ///
    /// As [`Policies::apply`].
    pub fn set(&self, name: &str, policy: &Policy) -> Result<Changed, ManageError> {
        self.update(name, |_| Ok(policy.clone()))
    }

    fn update(
        &self,
        name: &str,
        change: impl FnOnce(&Policy) -> Result<Policy, ManageError>,
    ) -> Result<Changed, ManageError> {
        let mut seen = None;
        let after = self.store.update_policy(name, |installed, text| {
            let policy = self.parse_stored(name, text.as_deref())?;
            let next = change(&policy)?;
            self.check(name, installed, &next)?;
            seen = Some((installed.digest.to_string(), text));
            Ok::<_, ManageError>(next.to_yaml())
        })?;
        let (digest, before) = seen.unwrap_or_default();
        Ok(Changed {
            digest,
            before: before.map(|t| canonical_text(&t)),
            after,
        })
    }
}

/// A stored policy text in canonical form (it parsed when it was written;
/// if it no longer does, as it is).
fn canonical_text(text: &str) -> String {
    Policy::parse(text).map_or_else(|_| text.to_string(), |p| p.to_yaml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_modes_are_sorted_each_once_and_never_empty() {
        assert_eq!(
            access_modes(["write", " read"]),
            Ok(vec![Access::Read, Access::Write])
        );
        assert!(
            access_modes(["read", "read"])
                .unwrap_err()
                .contains("twice")
        );
        assert!(access_modes(["execute"]).unwrap_err().contains("`execute`"));
        assert!(access_modes([]).unwrap_err().contains("no access mode"));
    }

    fn change(capability: Capability) -> PolicyChange {
        PolicyChange {
            component: "notes".into(),
            direction: Direction::Grant,
            capability,
        }
    }

    #[test]
    fn the_command_is_one_shell_word_per_argument() {
        let storage = change(Capability::Storage {
            uri: "fs:///home/me/it's here/**".into(),
            access: vec![Access::Read, Access::Write],
        });
        assert_eq!(
            storage.command(Path::new("/st ate"), Path::new("/base")),
            r"weld --state-dir '/st ate' grant notes storage 'fs:///home/me/it'\''s here/**' --access read,write"
        );
        let env = change(Capability::Env {
            key: "TOKEN".into(),
            secret: true,
        });
        assert_eq!(
            env.command(Path::new("/s"), Path::new("/b")),
            "weld --state-dir /s grant notes env TOKEN --secret"
        );
    }

    #[test]
    fn a_relative_storage_command_runs_in_the_served_directory() {
        let relative = change(Capability::Storage {
            uri: "fs://./work/**".into(),
            access: vec![Access::Read],
        });
        assert_eq!(
            relative.command(Path::new("/s"), Path::new("/srv/x")),
            "cd /srv/x && weld --state-dir /s grant notes storage 'fs://./work/**' --access read"
        );
    }

    #[test]
    fn canonical_forms_differ_whenever_the_change_does() {
        let base = change(Capability::Storage {
            uri: "fs:///a/**".into(),
            access: vec![Access::Read],
        });
        let mut others = vec![
            change(Capability::Storage {
                uri: "fs:///a/**".into(),
                access: vec![Access::Read, Access::Write],
            }),
            change(Capability::Storage {
                uri: "fs:///b/**".into(),
                access: vec![Access::Read],
            }),
            change(Capability::Env {
                key: "fs:///a/**".into(),
                secret: false,
            }),
        ];
        let mut other_component = base.clone();
        other_component.component = "other".into();
        others.push(other_component);
        let mut revoke = base.clone();
        revoke.direction = Direction::Revoke;
        others.push(revoke);
        for other in others {
            assert_ne!(base.canonical(), other.canonical(), "{other:?}");
        }
        assert_eq!(base.canonical(), base.clone().canonical());
    }
}
