//! The compiled [`Grant`]: what a runtime enforces for one tool.
//!
//! Compiling is the only thing in this crate that touches the filesystem,
//! and it does so in one of two ways:
//!
//! - **live** ([`Policy::compile`], [`Policy::pin`]): relative `fs://./`
//!   URIs are joined to the operator's base directory, symlinks are
//!   resolved (so the preopened directory is the real one, and a deny rule
//!   cannot be dodged through a symlinked path), and each exact path is
//!   found to be a file or a directory. [`Policy::pin`] also returns what
//!   every rule resolved to, as [`Pins`], for the state to keep;
//! - **pinned** ([`Policy::compile_pinned`]): every rule means what it
//!   meant when a person granted it. Nothing is resolved again: each
//!   allowed path must still be the same directory (or a regular file in
//!   the same directory) at the same real path, or compiling fails.
//!
//! Either way the enforceability check runs on the real paths.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::env::EnvRule;
use crate::error::{ErrorKind, PolicyError};
use crate::interfaces::Interfaces;
use crate::limits::Limits;
use crate::network::NetworkRules;
use crate::pin::{Identity, Pin, Pinned, Pins};
use crate::policy::Policy;
use crate::storage::{self, AccessSet, Label, Shape, Side, StorageUri};

/// Whether a storage grant is a directory (preopened with everything under
/// it) or a single file (the runtime decides how to expose it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// A directory tree.
    Dir,
    /// One file.
    File,
}

/// One path the tool may use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageGrant {
    /// The real path on the host: absolute, symlinks resolved.
    pub host_path: PathBuf,
    /// The path as the policy names it (relative rules joined to the base
    /// directory, before symlinks): where the tool expects to find it.
    pub guest_path: String,
    /// Directory or file.
    pub kind: PathKind,
    /// Read access (always true: weld never grants write alone).
    pub read: bool,
    /// Write access.
    pub write: bool,
    /// What `host_path` was when the rule was granted (pinned) or compiled
    /// (live): for a directory its own identity, for a file that of the
    /// directory holding it, which the runtime shows the file through. A
    /// runtime checks every handle it opens against it.
    pub identity: Identity,
}

/// What a runtime enforces for one tool: the compiled form of a [`Policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Paths to preopen, in policy order, deny rules already applied (a rule
    /// a deny removes entirely is not here). Grants may nest; the access to
    /// a path is the union of the grants containing it.
    pub storage: Vec<StorageGrant>,
    /// The network checks ([`NetworkRules::check`], `check_addr`,
    /// `check_lookup`).
    pub network: NetworkRules,
    /// The environment variables the tool sees, with their sources.
    pub env: Vec<EnvRule>,
    /// The import filter ([`Interfaces::check`]).
    pub interfaces: Interfaces,
    /// The resource limits (`None` fields: the runtime's defaults).
    pub limits: Limits,
}

impl Grant {
    /// The grant of a tool without a policy: nothing.
    #[must_use]
    pub fn deny_all() -> Grant {
        Grant {
            storage: Vec::new(),
            network: NetworkRules::default(),
            env: Vec::new(),
            interfaces: Interfaces::default(),
            limits: Limits::default(),
        }
    }

    /// The access the grant gives to `host_path` (an absolute, real path),
    /// compared by path components — what the audit log can report.
    #[must_use]
    pub fn storage_access(&self, host_path: &Path) -> AccessSet {
        self.storage
            .iter()
            .filter(|g| match g.kind {
                PathKind::Dir => host_path.starts_with(&g.host_path),
                PathKind::File => host_path == g.host_path,
            })
            .fold(AccessSet::NONE, |acc, g| {
                acc.union(AccessSet {
                    read: g.read,
                    write: g.write,
                })
            })
    }
}

/// What the filesystem says about a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A directory, at this real path.
    Dir(PathBuf),
    /// A regular file, at this real path.
    File(PathBuf),
    /// Something else (a socket, a device, …), at this real path.
    Other(PathBuf),
    /// Nothing there.
    Missing,
}

/// The view of the filesystem [`Policy::compile_with`] uses.
pub trait FileSystem {
    /// Resolves `path` (absolute) through symlinks and says what is there.
    ///
    /// # Errors
    /// Anything but "not found" (which is [`Probe::Missing`]).
    fn probe(&self, path: &Path) -> io::Result<Probe>;

    /// The identity of what is at `path` (a real path), not following a
    /// symlink there.
    ///
    /// # Errors
    /// When it cannot be read.
    fn identity(&self, path: &Path) -> io::Result<Identity>;
}

/// The real filesystem: `std::fs::canonicalize` and `std::fs::metadata`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn probe(&self, path: &Path) -> io::Result<Probe> {
        let real = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Missing),
            Err(e) => return Err(e),
        };
        let meta = std::fs::metadata(&real)?;
        Ok(if meta.is_dir() {
            Probe::Dir(real)
        } else if meta.is_file() {
            Probe::File(real)
        } else {
            Probe::Other(real)
        })
    }

    fn identity(&self, path: &Path) -> io::Result<Identity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

fn fs_error(message: String) -> PolicyError {
    PolicyError::nowhere(ErrorKind::Filesystem, message)
}

impl Policy {
    /// Compiles the policy into the [`Grant`] a runtime enforces, against
    /// the real filesystem. `base_dir` (absolute, without `.` or `..`) is
    /// where `fs://./` URIs point.
    ///
    /// It resolves every storage path through symlinks, requires allowed
    /// paths to exist (a `/**` rule a directory), and checks the deny rules
    /// again against the real paths.
    ///
    /// # Errors
    /// A bad base directory ([`ErrorKind::InvalidValue`]); an allowed path
    /// that is missing, of the wrong kind or unreadable
    /// ([`ErrorKind::Filesystem`]); the filesystem root; or rules that, once
    /// resolved, cannot be enforced exactly ([`ErrorKind::Conflict`]).
    pub fn compile(&self, base_dir: &Path) -> Result<Grant, PolicyError> {
        self.compile_with(base_dir, &RealFileSystem)
    }

    /// [`Policy::compile`] against a given view of the filesystem.
    ///
    /// # Errors
    /// As [`Policy::compile`].
    pub fn compile_with(&self, base_dir: &Path, fs: &dyn FileSystem) -> Result<Grant, PolicyError> {
        self.pin(Some(base_dir), &Pins::default(), fs)
            .map(|(grant, _)| grant)
    }

    /// Compiles the policy live, like [`Policy::compile`], and returns what
    /// every storage rule resolved to, for the state to keep beside the
    /// policy. A rule found in `keep` (the pins of an earlier grant, minus
    /// those a person is granting anew) is not resolved again: it keeps its
    /// pin, which is checked as [`Policy::compile_pinned`] checks it.
    ///
    /// `base_dir` resolves `fs://./` URIs; without one, a relative rule
    /// that is not in `keep` is an error.
    ///
    /// # Errors
    /// As [`Policy::compile`] and [`Policy::compile_pinned`]; a relative
    /// rule with no base directory ([`ErrorKind::InvalidValue`]).
    pub fn pin(
        &self,
        base_dir: Option<&Path>,
        keep: &Pins,
        fs: &dyn FileSystem,
    ) -> Result<(Grant, Pins), PolicyError> {
        if let Some(base) = base_dir {
            check_base(base)?;
        }
        let mut pins = Pins::default();
        let mut allow = Vec::new();
        for rule in &self.storage.allow {
            let pin = match keep.allow(&rule.uri) {
                Some(pin) => pin.clone(),
                None => pin_allowed(fs, &rule.uri, base_dir)?,
            };
            allow.push(verify_allowed(fs, &pin)?);
            pins.push(pin);
        }
        let mut deny = Vec::new();
        for rule in &self.storage.deny {
            let pin = match keep.deny(&rule.uri) {
                Some(pin) => pin.clone(),
                None => pin_denied(fs, &rule.uri, base_dir)?,
            };
            deny.push(pin_side(&pin, rule.access));
            pins.push(pin);
        }
        Ok((self.assemble(allow, deny)?, pins))
    }

    /// Compiles the policy as it was granted: every storage rule by its
    /// pin, nothing resolved again. Each allowed path must still be what
    /// it was: at the same real path (no symlink has appeared on the way),
    /// the same kind, the same directory (device and inode; for a file, the
    /// directory holding it). Deny rules keep denying the real paths they
    /// denied.
    ///
    /// # Errors
    /// A rule without a pin ([`ErrorKind::NotPinned`]); an allowed path
    /// that is no longer what was granted ([`ErrorKind::Moved`]); rules that
    /// cannot be enforced exactly ([`ErrorKind::Conflict`]).
    pub fn compile_pinned(&self, pins: &Pins, fs: &dyn FileSystem) -> Result<Grant, PolicyError> {
        let mut allow = Vec::new();
        for rule in &self.storage.allow {
            let pin = pins
                .allow(&rule.uri)
                .ok_or_else(|| not_pinned("allow", &rule.uri))?;
            allow.push(verify_allowed(fs, pin)?);
        }
        let mut deny = Vec::new();
        for rule in &self.storage.deny {
            let pin = pins
                .deny(&rule.uri)
                .ok_or_else(|| not_pinned("deny", &rule.uri))?;
            deny.push(pin_side(pin, rule.access));
        }
        self.assemble(allow, deny)
    }

    /// The grant from resolved rules, in policy order, deny rules applied.
    fn assemble(&self, allow: Vec<Allowed>, deny: Vec<Side>) -> Result<Grant, PolicyError> {
        let (sides, meta): (Vec<Side>, Vec<_>) = self
            .storage
            .allow
            .iter()
            .zip(allow)
            .map(|(rule, allowed)| {
                (
                    Side {
                        label: allowed.label,
                        path: allowed.real,
                        access: rule.access,
                    },
                    (allowed.guest, allowed.kind, allowed.identity),
                )
            })
            .unzip();
        let effective = storage::effective_access(&sides, &deny)?;
        let storage = sides
            .into_iter()
            .zip(meta)
            .zip(effective)
            .filter(|(_, eff)| !eff.is_empty())
            .map(|((side, (guest_path, kind, identity)), eff)| StorageGrant {
                host_path: side.path,
                guest_path,
                kind,
                read: eff.read,
                write: eff.write,
                identity,
            })
            .collect();
        Ok(Grant {
            storage,
            network: self.network.clone(),
            env: self.environment.clone(),
            interfaces: self.interfaces.clone(),
            limits: self.limits,
        })
    }
}

/// An allow rule, resolved and checked.
struct Allowed {
    real: PathBuf,
    guest: String,
    kind: PathKind,
    identity: Identity,
    label: Label,
}

fn not_pinned(list: &str, uri: &StorageUri) -> PolicyError {
    PolicyError::nowhere(
        ErrorKind::NotPinned,
        format!(
            "storage {list} rule `{uri}` was never resolved when it was granted (the policy was \
             written by hand or by an older weld), so weld does not know which directory a \
             person meant; grant it again, or set the whole policy again with `weld policy set`"
        ),
    )
}

/// The absolute path `uri` names before symlinks: relative URIs joined to
/// the base directory.
fn lexical(uri: &StorageUri, base: Option<&Path>, list: &str) -> Result<PathBuf, PolicyError> {
    match (uri.is_relative(), base) {
        (false, _) => Ok(uri.resolve(Path::new("/"))),
        (true, Some(base)) => Ok(uri.resolve(base)),
        (true, None) => Err(PolicyError::nowhere(
            ErrorKind::InvalidValue,
            format!(
                "storage {list} rule `{uri}` is relative to a base directory, and none is set \
                 here; give an absolute path (`fs:///…`), or set the base directory weld \
                 resolves `fs://./` against (--base-dir)"
            ),
        )),
    }
}

fn pin_allowed(
    fs: &dyn FileSystem,
    uri: &StorageUri,
    base: Option<&Path>,
) -> Result<Pin, PolicyError> {
    let lexical = lexical(uri, base, "allow")?;
    let (real, kind) = probe_allowed(fs, uri, &lexical)?;
    let identity = identity_for(fs, uri, &real, kind)?;
    Ok(Pin {
        uri: uri.clone(),
        base: uri
            .is_relative()
            .then(|| base.map(Path::to_path_buf))
            .flatten(),
        lexical,
        real,
        pinned: match kind {
            PathKind::Dir => Pinned::Dir(identity),
            PathKind::File => Pinned::File(identity),
        },
    })
}

fn pin_denied(
    fs: &dyn FileSystem,
    uri: &StorageUri,
    base: Option<&Path>,
) -> Result<Pin, PolicyError> {
    let lexical = lexical(uri, base, "deny")?;
    let real = probe_denied(fs, uri, &lexical)?;
    Ok(Pin {
        uri: uri.clone(),
        base: uri
            .is_relative()
            .then(|| base.map(Path::to_path_buf))
            .flatten(),
        lexical,
        real,
        pinned: Pinned::Deny,
    })
}

fn pin_side(pin: &Pin, access: AccessSet) -> Side {
    Side {
        label: label(&pin.uri, &pin.lexical, &pin.real),
        path: pin.real.clone(),
        access,
    }
}

/// The identity a rule is pinned to: the directory's own, or for a file
/// that of the directory holding it (editors replace a file on every save;
/// the directory stays).
fn identity_for(
    fs: &dyn FileSystem,
    uri: &StorageUri,
    real: &Path,
    kind: PathKind,
) -> Result<Identity, PolicyError> {
    let dir = match kind {
        PathKind::Dir => real,
        PathKind::File => real.parent().unwrap_or(real),
    };
    fs.identity(dir).map_err(|e| {
        fs_error(format!(
            "storage allow rule `{uri}`: cannot read {}: {e}",
            dir.display()
        ))
    })
}

/// Checks that a pinned allow rule still names what was granted.
fn verify_allowed(fs: &dyn FileSystem, pin: &Pin) -> Result<Allowed, PolicyError> {
    let (kind, identity) = match pin.pinned {
        Pinned::Dir(identity) => (PathKind::Dir, identity),
        Pinned::File(identity) => (PathKind::File, identity),
        Pinned::Deny => {
            return Err(not_pinned("allow", &pin.uri));
        }
    };
    let moved = |now: String| {
        PolicyError::nowhere(
            ErrorKind::Moved,
            format!(
                "storage allow rule `{}` was granted as the {} {}, which {now}; weld does not \
                 follow a grant elsewhere: check the path, then grant it again (a person sees \
                 where it leads now) or revoke it",
                pin.uri,
                match kind {
                    PathKind::Dir => "directory",
                    PathKind::File => "file",
                },
                pin.real.display()
            ),
        )
    };
    let probe = fs
        .probe(&pin.real)
        .map_err(|e| moved(format!("cannot be inspected now ({e})")))?;
    match (probe, kind) {
        (Probe::Missing, _) => return Err(moved("no longer exists".into())),
        (Probe::Dir(real) | Probe::File(real) | Probe::Other(real), _) if real != pin.real => {
            return Err(moved(format!(
                "now leads through a symlink to {}",
                real.display()
            )));
        }
        (Probe::Dir(_), PathKind::Dir) | (Probe::File(_), PathKind::File) => {}
        (Probe::Dir(_), PathKind::File) => return Err(moved("is now a directory".into())),
        (Probe::File(_), PathKind::Dir) => return Err(moved("is now a file".into())),
        (Probe::Other(_), _) => {
            return Err(moved("is now neither a file nor a directory".into()));
        }
    }
    let now = identity_for(fs, &pin.uri, &pin.real, kind)?;
    if now != identity {
        return Err(moved(match kind {
            PathKind::Dir => "is now another directory (it was replaced)".into(),
            PathKind::File => "now lies in another directory (its directory was replaced)".into(),
        }));
    }
    Ok(Allowed {
        label: label(&pin.uri, &pin.lexical, &pin.real),
        real: pin.real.clone(),
        guest: pin.lexical.to_string_lossy().into_owned(),
        kind,
        identity,
    })
}

fn check_base(base: &Path) -> Result<(), PolicyError> {
    let bad = |why: &str| {
        PolicyError::nowhere(
            ErrorKind::InvalidValue,
            format!("the base directory `{}` {why}", base.display()),
        )
    };
    if !base.is_absolute() {
        return Err(bad("is not absolute; give an absolute path"));
    }
    if base
        .components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return Err(bad("contains `.` or `..`; give it without them"));
    }
    if base.to_str().is_none() {
        return Err(bad("is not valid UTF-8"));
    }
    Ok(())
}

fn label(uri: &StorageUri, lexical: &Path, real: &Path) -> Label {
    let moved = uri.is_relative() || lexical != real;
    Label {
        text: uri.to_string(),
        at: None,
        resolved: moved.then(|| real.to_path_buf()),
    }
}

fn probe_allowed(
    fs: &dyn FileSystem,
    uri: &StorageUri,
    path: &Path,
) -> Result<(PathBuf, PathKind), PolicyError> {
    let shown = path.display();
    let probe = fs.probe(path).map_err(|e| {
        fs_error(format!(
            "storage allow rule `{uri}`: cannot inspect {shown}: {e}"
        ))
    })?;
    let (real, kind) = match probe {
        Probe::Missing => {
            return Err(fs_error(format!(
                "storage allow rule `{uri}` names {shown}, which does not exist; create it or remove the rule"
            )));
        }
        Probe::Other(_) => {
            return Err(fs_error(format!(
                "storage allow rule `{uri}` names {shown}, which is neither a file nor a directory; weld grants only those"
            )));
        }
        Probe::File(_) if uri.shape() == Shape::Tree => {
            return Err(fs_error(format!(
                "storage allow rule `{uri}` ends in `/**` (a directory tree) but {shown} is a file; drop the `/**` to grant the file"
            )));
        }
        Probe::Dir(real) => (real, PathKind::Dir),
        Probe::File(real) => (real, PathKind::File),
    };
    if real.parent().is_none() {
        return Err(PolicyError::nowhere(
            ErrorKind::InvalidValue,
            format!(
                "storage allow rule `{uri}` resolves to the filesystem root; weld refuses to grant the whole filesystem — allow the directories the tool needs"
            ),
        ));
    }
    Ok((real, kind))
}

/// The real path of a deny rule: the path itself if it exists, else its
/// nearest existing ancestor's real path with the rest appended.
fn probe_denied(
    fs: &dyn FileSystem,
    uri: &StorageUri,
    path: &Path,
) -> Result<PathBuf, PolicyError> {
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let mut current = path;
    loop {
        let probe = fs.probe(current).map_err(|e| {
            fs_error(format!(
                "storage deny rule `{uri}`: cannot inspect {}: {e}",
                current.display()
            ))
        })?;
        match probe {
            Probe::Dir(real) | Probe::File(real) | Probe::Other(real) => {
                let mut real = real;
                real.extend(rest.iter().rev());
                return Ok(real);
            }
            Probe::Missing => match (current.parent(), current.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name);
                    current = parent;
                }
                _ => return Ok(path.to_path_buf()),
            },
        }
    }
}
