//! Changing a component's policy: the one code path behind `weld grant`,
//! `weld revoke`, `weld policy set`, `weld add` and `weld-mcp`'s built-in
//! tools.
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

use std::path::PathBuf;
use std::sync::Arc;

use weld_policy::{Pin, Pins, Policy, RealFileSystem, StorageUri};
use weld_runtime::{CallLimits, Runtime};
use weld_store::{InstalledComponent, PolicyUpdate, Store, StoreError};

use crate::load::{LoadError, StoredPolicy, compile_policy, load_installed};

mod change;

pub use change::{Capability, Direction, PolicyChange, access_modes, access_text, shell_quote};

/// Why a policy was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The state could not be read or written, or the component is not
    /// installed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored policy or its pins file does not parse; nothing is
    /// changed on top of a policy weld cannot read.
    #[error("{path}:{message}")]
    StoredPolicy {
        /// The policy or pins file.
        path: PathBuf,
        /// Where and why it does not parse.
        message: String,
    },
    /// `weld-policy` refused the change (see [`PolicyChange::apply_to`]),
    /// or a path of a policy being set could not be resolved.
    #[error("{0}")]
    Change(#[from] weld_policy::PolicyError),
    /// The changed policy is valid but weld could not enforce it for this
    /// component, so it was not written.
    #[error("the policy of `{name}` was not changed: weld could not enforce the result: {cause}")]
    Unenforceable {
        /// The component.
        name: String,
        /// What cannot be enforced, and what to do instead.
        #[source]
        cause: Box<crate::enforce::EnforceError>,
    },
    /// The installed component could not be loaded to check the changed
    /// policy against its imports, so nothing was written.
    #[error("component `{name}` could not be loaded to check its policy: {message}")]
    Load {
        /// The component.
        name: String,
        /// Why loading (or checking) failed.
        message: String,
    },
    /// A storage grant names a path that leads through a symbolic link:
    /// weld grants only real locations, so it names the one to grant
    /// instead.
    #[error(
        "storage rule `{uri}` names {lexical}, which leads through a symlink to {real}; weld \
         grants a path only by its real location, so that what a person approves is exactly \
         what the tool gets. If {real} is what you mean, grant `{suggested}` instead"
    )]
    ThroughSymlink {
        /// The storage rule as given.
        uri: String,
        /// The path it names.
        lexical: String,
        /// Where that path really leads.
        real: String,
        /// The rule that grants the real location.
        suggested: String,
    },
    /// A storage grant a person approved no longer resolves to what they
    /// were shown (the path was moved or replaced since); nothing is
    /// granted.
    #[error(
        "storage rule `{uri}` was approved as {approved}, but now resolves to {now}; nothing was \
         granted. Ask again: the person will be shown where it leads now"
    )]
    ChangedSinceApproval {
        /// The storage rule.
        uri: String,
        /// The real path the person approved.
        approved: String,
        /// What it resolves to now (`nothing` when it no longer resolves).
        now: String,
    },
    /// A storage rule of the current policy has no pin, so weld cannot
    /// tell what it was granted as; the whole policy must be set again.
    #[error(
        "storage rule `{uri}` of the current policy was never resolved when it was granted \
         (written by hand or by an older weld); set the whole policy again first (`weld policy \
         set`), so that a person sees where each rule leads"
    )]
    NotPinned {
        /// The rule without a pin.
        uri: String,
    },
    /// The pins of the changed policy could not be written as text (a
    /// granted path that is not UTF-8).
    #[error("the pins of `{name}` could not be written: {cause}")]
    Pins {
        /// The component.
        name: String,
        /// The path that could not be written.
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
    /// The state directory the policies are written in.
    pub store: Store,
    pub(crate) runtime: Arc<Runtime>,
    /// What relative storage URIs (`fs://./`) are resolved against; none:
    /// they are refused.
    pub base: Option<PathBuf>,
    pub(crate) limits: CallLimits,
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

    /// Whether `name` is installed.
    ///
    /// # Errors
    ///
    /// `NotInstalled` naming it, or a state that cannot be read.
    pub fn require_installed(&self, name: &str) -> Result<(), ManageError> {
        if self.store.index()?.components.contains_key(name) {
            Ok(())
        } else {
            Err(StoreError::NotInstalled(name.to_string()).into())
        }
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
        let metering = crate::enforce::metering(policy);
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
                LoadError::Unenforceable { cause, .. } => ManageError::Unenforceable {
                    name: name.to_string(),
                    cause,
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
    use std::path::Path;

    use weld_policy::Access;

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
