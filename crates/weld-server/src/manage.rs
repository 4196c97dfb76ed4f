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

use weld_policy::{Access, EnvSource, Pin, Pins, Policy, RealFileSystem, StorageUri};
use weld_runtime::{CallLimits, Runtime};
use weld_store::{InstalledComponent, PolicyUpdate, Store, StoreError};

use crate::load::{LoadError, StoredPolicy, compile_policy, load_installed};

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
    /// doing), in words a person can judge. For a storage grant, `resolved`
    /// is what the URI resolves to: the path shown is that one.
    pub fn meaning(&self, resolved: Option<&Pin>) -> String {
        let who = format!("The tools of component `{}`", self.component);
        match (&self.capability, self.direction) {
            (Capability::Storage { uri, access }, Direction::Grant) => {
                let write = access.contains(&Access::Write);
                let Some(pin) = resolved else {
                    let what = if write {
                        "read, create, change and delete files"
                    } else {
                        "read files"
                    };
                    return format!("{who} could {what} in `{uri}` (the whole tree)");
                };
                let real = pin.real.display();
                let what = match (pin.pinned, write) {
                    (weld_policy::Pinned::File(_), false) => format!("read the file {real}"),
                    (weld_policy::Pinned::File(_), true) => {
                        format!("read and change the file {real}")
                    }
                    (_, false) => format!("read every file in the directory {real} and below it"),
                    (_, true) => format!(
                        "read, create, change and delete files in the directory {real} and below it"
                    ),
                };
                match &pin.base {
                    Some(base) => format!(
                        "{who} could {what} (`{uri}`, relative to weld's base directory {})",
                        base.display()
                    ),
                    None => format!("{who} could {what} (`{uri}`)"),
                }
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
    /// that it changes the policy this server reads, and for a relative
    /// storage URI the base directory this server resolves it against.
    pub fn command(&self, state_dir: &Path, base: Option<&Path>) -> String {
        let mut words: Vec<String> = vec![
            "weld".into(),
            "--state-dir".into(),
            state_dir.display().to_string(),
        ];
        if let (Capability::Storage { uri, .. }, Some(base)) = (&self.capability, base)
            && uri.starts_with("fs://.")
        {
            words.push("--base-dir".into());
            words.push(base.display().to_string());
        }
        words.extend([
            self.direction.as_str().into(),
            self.component.clone(),
            self.capability.kind().into(),
            self.capability.target().into(),
        ]);
        match &self.capability {
            Capability::Storage { access, .. } => {
                words.push("--access".into());
                words.push(access_text(access));
            }
            Capability::Env { secret: true, .. } => words.push("--secret".into()),
            _ => {}
        }
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The change and what its storage URI resolves to, as one string: an
    /// approval is bound to it, so a path that resolves elsewhere between
    /// the question and the answer (a symlink swapped, a directory
    /// replaced) voids the approval.
    pub fn binding(&self, resolved: Option<&Pin>) -> String {
        let mut out = self.canonical();
        if let Some(pin) = resolved {
            let (kind, identity) = match pin.pinned {
                weld_policy::Pinned::Dir(id) => ("dir", Some(id)),
                weld_policy::Pinned::File(id) => ("file", Some(id)),
                weld_policy::Pinned::Deny => ("deny", None),
            };
            out.push_str(
                &serde_json::json!([
                    pin.real.to_string_lossy(),
                    pin.base.as_ref().map(|b| b.to_string_lossy()),
                    kind,
                    identity.map(|i| [i.dev, i.ino]),
                ])
                .to_string(),
            );
        }
        out
    }

    /// [`PolicyChange::summary`] with the real path a storage grant
    /// resolves to, for the audit record.
    pub fn summary_resolved(&self, resolved: Option<&Pin>) -> String {
        match resolved {
            Some(pin) => format!("{} path={}", self.summary(), pin.real.display()),
            None => self.summary(),
        }
    }

    /// The change as one canonical string: equal strings, equal changes.
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
    #[error(
        "storage rule `{uri}` names {lexical}, which leads through a symlink to {real}; weld \
         grants a path only by its real location, so that what a person approves is exactly \
         what the tool gets. If {real} is what you mean, grant `{suggested}` instead"
    )]
    ThroughSymlink {
        uri: String,
        lexical: String,
        real: String,
        suggested: String,
    },
    #[error(
        "storage rule `{uri}` was approved as {approved}, but now resolves to {now}; nothing was \
         granted. Ask again: the person will be shown where it leads now"
    )]
    ChangedSinceApproval {
        uri: String,
        approved: String,
        now: String,
    },
    #[error(
        "storage rule `{uri}` of the current policy was never resolved when it was granted \
         (written by hand or by an older weld); set the whole policy again first (`weld policy \
         set`), so that a person sees where each rule leads"
    )]
    NotPinned { uri: String },
    #[error("the pins of `{name}` could not be written: {cause}")]
    Pins {
        name: String,
        cause: crate::pins::PinsError,
    },
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
    /// For a storage grant, what its URI resolves to: what the person
    /// approves, and what is granted.
    pub resolved: Option<Pin>,
    /// Every storage rule of the new policy and what it is pinned to.
    pub pins: Pins,
    /// Why the new policy cannot be served, when it was written all the
    /// same: a revocation always lands, even while another grant of the
    /// component cannot be honoured (then it stays disabled).
    pub still_disabled: Option<String>,
}

/// What a policy change needs: the state, a runtime to load the component
/// (its imports decide what can be enforced), the base directory relative
/// storage URIs are resolved against when granted (none: relative URIs are
/// refused), and the default limits.
#[derive(Clone)]
pub struct Policies {
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub base: Option<PathBuf>,
    pub limits: CallLimits,
}

/// A policy and its pins, about to be written.
struct Next {
    policy: Policy,
    pins: Pins,
    resolved: Option<Pin>,
    /// Revocations are written even when the result cannot be served.
    must_serve: bool,
}

impl Policies {
    /// The stored policy of `name` (deny-all when it has none), and its
    /// text.
    ///
    /// # Errors
    ///
    /// A stored policy that does not parse (naming the file), or I/O.
    pub fn current(&self, name: &str) -> Result<(Policy, Option<String>), ManageError> {
        let stored = self.parse_stored(name, self.store.stored_policy(name)?)?;
        Ok((stored.policy, stored.text))
    }

    /// The pins of `name`'s stored policy (empty without one).
    ///
    /// # Errors
    ///
    /// As [`Policies::current`].
    pub fn pins(&self, name: &str) -> Result<Pins, ManageError> {
        Ok(self
            .parse_stored(name, self.store.stored_policy(name)?)?
            .pins)
    }

    fn parse_stored(
        &self,
        name: &str,
        stored: weld_store::StoredPolicy,
    ) -> Result<Parsed, ManageError> {
        let pins = match &stored.pins {
            Some(text) => crate::pins::from_text(text).map_err(|e| ManageError::StoredPolicy {
                path: self.store.pins_path(name),
                message: format!(" {e}"),
            })?,
            None => Pins::default(),
        };
        let policy = match &stored.text {
            Some(text) => Policy::parse(text).map_err(|e| ManageError::StoredPolicy {
                path: self.store.policy_path(name),
                message: e.to_string(),
            })?,
            None => Policy::deny_all(),
        };
        Ok(Parsed {
            policy,
            pins,
            text: stored.text,
        })
    }

    /// Checks that weld can enforce `policy` (with `pins`) for the
    /// installed component.
    fn check(
        &self,
        name: &str,
        installed: &InstalledComponent,
        policy: &Policy,
        pins: &Pins,
    ) -> Result<(), ManageError> {
        // Loaded as the policy would run it, so a server reloading after the
        // change finds the artefact for that engine already compiled.
        let metering = crate::sandbox::metering(policy);
        let loaded = load_installed(&self.store, &self.runtime, &installed.digest, metering)
            .map_err(|e| ManageError::Load {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        let stored = StoredPolicy {
            policy: policy.clone(),
            pins: pins.clone(),
            text: String::new(),
        };
        compile_policy(&self.store, name, &stored, loaded.imports(), self.limits)
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

    /// The policy and pins `change` makes of `current`. A storage grant
    /// resolves its URI now (against the base directory); every other rule
    /// keeps its pin, never resolved again.
    fn next(&self, change: &PolicyChange, current: &Parsed) -> Result<Next, ManageError> {
        let policy = change.apply_to(&current.policy)?;
        match (&change.capability, change.direction) {
            (_, Direction::Revoke) => {
                let pins = current.pins.for_policy(&policy);
                Ok(Next {
                    policy,
                    pins,
                    resolved: None,
                    must_serve: false,
                })
            }
            (Capability::Storage { uri, .. }, Direction::Grant) => {
                let uri = StorageUri::parse(uri)?;
                let keep = current.pins.without_allow(&uri);
                let (_, pins) = policy.pin(self.base.as_deref(), &keep, &RealFileSystem)?;
                only_fresh(&pins, &keep, Some(&uri))?;
                let resolved = pins.allow(&uri).cloned();
                if let Some(pin) = &resolved {
                    refuse_symlink(pin)?;
                }
                Ok(Next {
                    policy,
                    pins,
                    resolved,
                    must_serve: true,
                })
            }
            (_, Direction::Grant) => {
                let keep = current.pins.for_policy(&policy);
                let (_, pins) = policy.pin(None, &keep, &RealFileSystem)?;
                only_fresh(&pins, &keep, None)?;
                Ok(Next {
                    policy,
                    pins,
                    resolved: None,
                    must_serve: true,
                })
            }
        }
    }

    fn installed(&self, name: &str) -> Result<InstalledComponent, ManageError> {
        Ok(self
            .store
            .index()?
            .components
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NotInstalled(name.to_string()))?)
    }

    /// What `change` would make of the component's policy, checked as
    /// [`Policies::apply`] checks it, without writing anything. For a
    /// storage grant, [`Changed::resolved`] is what the URI resolves to
    /// now: show it to whoever approves.
    ///
    /// # Errors
    ///
    /// As [`Policies::apply`].
    pub fn preview(&self, change: &PolicyChange) -> Result<Changed, ManageError> {
        let name = &change.component;
        let installed = self.installed(name)?;
        let current = self.parse_stored(name, self.store.stored_policy(name)?)?;
        let next = self.next(change, &current)?;
        let still_disabled = self.verdict(name, &installed, &next)?;
        Ok(Changed {
            digest: installed.digest.to_string(),
            before: current.text.map(|t| canonical_text(&t)),
            after: next.policy.to_yaml(),
            resolved: next.resolved,
            pins: next.pins,
            still_disabled,
        })
    }

    /// Whether the next policy can be served: an error for a grant that
    /// cannot, a note for a revocation (which lands all the same).
    fn verdict(
        &self,
        name: &str,
        installed: &InstalledComponent,
        next: &Next,
    ) -> Result<Option<String>, ManageError> {
        match self.check(name, installed, &next.policy, &next.pins) {
            Ok(()) => Ok(None),
            Err(error) if next.must_serve => Err(error),
            Err(error) => Ok(Some(error.to_string())),
        }
    }

    /// Applies `change` to the stored policy, checks the result, and writes
    /// it atomically; the read, the check and the write hold the state
    /// lock. Blocking (file I/O, possibly compiling the component).
    ///
    /// For a storage grant, `approved` is what the person was shown the URI
    /// resolves to ([`Changed::resolved`] of a [`Policies::preview`]): if
    /// it resolves to anything else now, nothing is written.
    ///
    /// # Errors
    ///
    /// The component is not installed, its stored policy does not parse,
    /// `weld-policy` refuses the change, the path resolves through a
    /// symlink or not to what was approved, or weld cannot enforce the
    /// result. Nothing is written then. A revocation is written even when
    /// the result cannot be served ([`Changed::still_disabled`]).
    pub fn apply(
        &self,
        change: &PolicyChange,
        approved: Option<&Pin>,
    ) -> Result<Changed, ManageError> {
        self.update(&change.component, |current| {
            let next = self.next(change, current)?;
            if let (Some(approved), Capability::Storage { uri, .. }) =
                (approved, &change.capability)
                && next.resolved.as_ref() != Some(approved)
            {
                return Err(ManageError::ChangedSinceApproval {
                    uri: uri.clone(),
                    approved: approved.real.display().to_string(),
                    now: next.resolved.as_ref().map_or_else(
                        || "nothing".to_string(),
                        |p| format!("{} (another directory, or moved)", p.real.display()),
                    ),
                });
            }
            Ok(next)
        })
    }

    /// Replaces the component's policy with `policy`, every storage rule
    /// resolved afresh against the base directory (a person setting a
    /// whole policy grants each of its paths anew), checked first.
    ///
    /// # Errors
    ///
    /// As [`Policies::apply`].
    pub fn set(&self, name: &str, policy: &Policy) -> Result<Changed, ManageError> {
        self.update(name, |_| {
            let (_, pins) = policy.pin(self.base.as_deref(), &Pins::default(), &RealFileSystem)?;
            for pin in pins.as_slice().iter().filter(|p| p.is_allow()) {
                refuse_symlink(pin)?;
            }
            Ok(Next {
                policy: policy.clone(),
                pins,
                resolved: None,
                must_serve: true,
            })
        })
    }

    fn update(
        &self,
        name: &str,
        make: impl FnOnce(&Parsed) -> Result<Next, ManageError>,
    ) -> Result<Changed, ManageError> {
        let mut seen = None;
        self.store.update_policy(name, |installed, stored| {
            let current = self.parse_stored(name, stored)?;
            let next = make(&current)?;
            let still_disabled = self.verdict(name, installed, &next)?;
            let pins_error = |cause| ManageError::Pins {
                name: name.to_string(),
                cause,
            };
            let update = PolicyUpdate {
                text: next.policy.to_yaml(),
                pins: crate::pins::to_text(&next.pins).map_err(pins_error)?,
                pins_during: crate::pins::to_text(&current.pins.merged(&next.pins))
                    .map_err(pins_error)?,
            };
            seen = Some(Changed {
                digest: installed.digest.to_string(),
                before: current.text.map(|t| canonical_text(&t)),
                after: update.text.clone(),
                resolved: next.resolved,
                pins: next.pins,
                still_disabled,
            });
            Ok::<_, ManageError>(update)
        })?;
        seen.ok_or_else(|| ManageError::Load {
            name: name.to_string(),
            message: "the policy update did not run".into(),
        })
    }
}

/// A stored policy, parsed, with its pins.
struct Parsed {
    policy: Policy,
    pins: Pins,
    text: Option<String>,
}

/// Refuses a grant whose path leads through a symlink: the person would
/// approve one path and the tool would get another.
///
/// # Errors
///
/// [`ManageError::ThroughSymlink`], naming the real path to grant instead.
pub fn refuse_symlink(pin: &Pin) -> Result<(), ManageError> {
    if !pin.through_symlink() {
        return Ok(());
    }
    let real = pin.real.display().to_string();
    let suggested = match pin.uri.shape() {
        weld_policy::Shape::Tree => format!("fs://{real}/**"),
        weld_policy::Shape::Exact => format!("fs://{real}"),
    };
    Err(ManageError::ThroughSymlink {
        uri: pin.uri.to_string(),
        lexical: pin.lexical.display().to_string(),
        real,
        suggested,
    })
}

/// Checks that resolving a policy pinned nothing but `fresh` anew: every
/// other rule must have kept the pin a person granted it with. A rule that
/// had none (a policy written by hand, or by an older weld) is refused, not
/// pinned on the quiet while a person approves something else.
fn only_fresh(pins: &Pins, keep: &Pins, fresh: Option<&StorageUri>) -> Result<(), ManageError> {
    for pin in pins.as_slice() {
        let kept = if pin.is_allow() {
            keep.allow(&pin.uri)
        } else {
            keep.deny(&pin.uri)
        };
        if kept.is_none() && !(pin.is_allow() && Some(&pin.uri) == fresh) {
            return Err(ManageError::NotPinned {
                uri: pin.uri.to_string(),
            });
        }
    }
    Ok(())
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
            storage.command(Path::new("/st ate"), Some(Path::new("/base"))),
            r"weld --state-dir '/st ate' grant notes storage 'fs:///home/me/it'\''s here/**' --access read,write"
        );
        let env = change(Capability::Env {
            key: "TOKEN".into(),
            secret: true,
        });
        assert_eq!(
            env.command(Path::new("/s"), Some(Path::new("/b"))),
            "weld --state-dir /s grant notes env TOKEN --secret"
        );
    }

    #[test]
    fn a_relative_storage_command_names_the_base_directory() {
        let relative = change(Capability::Storage {
            uri: "fs://./work/**".into(),
            access: vec![Access::Read],
        });
        assert_eq!(
            relative.command(Path::new("/s"), Some(Path::new("/srv/x"))),
            "weld --state-dir /s --base-dir /srv/x grant notes storage 'fs://./work/**' --access read"
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
