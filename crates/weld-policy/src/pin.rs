//! Pins: what each storage rule resolved to when a person granted it.
//!
//! A storage URI is text; what it grants is a directory (or a file) on the
//! host, found by resolving that text at some moment: relative URIs against
//! a base directory, symlinks along the way. Resolving again later can find
//! something else: a symlink a tool planted inside a directory it may
//! write, a base directory that differs between the shell that granted and
//! the MCP client that starts the server, a directory moved away and
//! another put in its place. So the text alone must not decide what a
//! tool reaches.
//!
//! A [`Pin`] records, for one rule, the real path it resolved to when it
//! was granted and — for an allowed path — the identity (device and inode)
//! of that directory, or of the directory holding a granted file. The state
//! keeps the pins beside the policy, and a policy is compiled from them
//! ([`Policy::compile_pinned`](crate::Policy::compile_pinned)): nothing is
//! resolved again, and an allowed path that is no longer what was granted
//! is an error, not a new grant.

use std::path::PathBuf;

use crate::policy::Policy;
use crate::storage::StorageUri;

/// A directory's device and inode numbers: what identifies it whatever
/// path leads to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The device number.
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
}

/// What one storage rule was resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pin {
    /// The rule's URI, normalised.
    pub uri: StorageUri,
    /// For a relative (`fs://./`) URI, the base directory it was resolved
    /// against.
    pub base: Option<PathBuf>,
    /// The absolute path the URI named before symlinks were resolved:
    /// where the tool finds it.
    pub lexical: PathBuf,
    /// The real path it resolved to: what is granted or denied.
    pub real: PathBuf,
    /// What was there, for an allow rule.
    pub pinned: Pinned,
}

/// What an allow rule's path was when it was granted (a deny rule needs
/// nothing more than its real path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pinned {
    /// An allowed directory with this identity.
    Dir(Identity),
    /// An allowed regular file, in the directory with this identity.
    File(Identity),
    /// A deny rule.
    Deny,
}

impl Pin {
    /// Whether a symlink lay on the way: the path the URI names is not the
    /// path granted. What a person reads in the URI is then not what the
    /// tool gets, so granting such a rule needs the real path instead.
    #[must_use]
    pub fn through_symlink(&self) -> bool {
        self.lexical != self.real
    }

    /// Whether this pins an allow rule.
    #[must_use]
    pub fn is_allow(&self) -> bool {
        self.pinned != Pinned::Deny
    }

    /// One line for people: `fs://./data/** = /home/me/proj/data (relative
    /// to /home/me/proj)`, plus where a symlink led.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut out = format!("`{}` = {}", self.uri, self.lexical.display());
        if let Some(base) = &self.base {
            out.push_str(&format!(" (relative to {})", base.display()));
        }
        if self.through_symlink() {
            out.push_str(&format!(
                ", which leads through a symlink to {}",
                self.real.display()
            ));
        }
        out
    }
}

/// The pins of one policy's storage rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins(Vec<Pin>);

impl Pins {
    /// Pins from a list (as read back from the state).
    #[must_use]
    pub fn new(pins: Vec<Pin>) -> Self {
        Self(pins)
    }

    /// The pins, in policy order (allow rules first).
    #[must_use]
    pub fn as_slice(&self) -> &[Pin] {
        &self.0
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, pin: Pin) {
        self.0.push(pin);
    }

    /// The pin of the allow rule for `uri`.
    #[must_use]
    pub fn allow(&self, uri: &StorageUri) -> Option<&Pin> {
        self.0.iter().find(|p| p.is_allow() && p.uri == *uri)
    }

    /// The pin of the deny rule for `uri`.
    #[must_use]
    pub fn deny(&self, uri: &StorageUri) -> Option<&Pin> {
        self.0.iter().find(|p| !p.is_allow() && p.uri == *uri)
    }

    /// These pins without the allow rule for `uri`: what to keep when a
    /// person grants `uri` again, so that it is resolved afresh.
    #[must_use]
    pub fn without_allow(&self, uri: &StorageUri) -> Self {
        Self(
            self.0
                .iter()
                .filter(|p| !(p.is_allow() && p.uri == *uri))
                .cloned()
                .collect(),
        )
    }

    /// The pins of `policy`'s storage rules among these (what to keep when
    /// rules are taken away: nothing is resolved).
    #[must_use]
    pub fn for_policy(&self, policy: &Policy) -> Self {
        let storage = policy.storage();
        Self(
            self.0
                .iter()
                .filter(|p| {
                    if p.is_allow() {
                        storage.allow().iter().any(|r| r.uri() == &p.uri)
                    } else {
                        storage.deny().iter().any(|r| r.uri() == &p.uri)
                    }
                })
                .cloned()
                .collect(),
        )
    }

    /// These pins followed by every pin of `newer` for a rule these have
    /// no pin for, or a different one: a superset that serves both the
    /// policy these belong to and the one `newer` belongs to (written
    /// before a new policy so that a crash between the two writes leaves
    /// every rule pinned).
    #[must_use]
    pub fn merged(&self, newer: &Pins) -> Self {
        let mut out: Vec<Pin> = newer.0.clone();
        for pin in &self.0 {
            let replaced = newer
                .0
                .iter()
                .any(|n| n.is_allow() == pin.is_allow() && n.uri == pin.uri);
            if !replaced {
                out.push(pin.clone());
            }
        }
        Self(out)
    }
}
