//! The compiled [`Grant`]: what a runtime enforces for one tool.
//!
//! [`Policy::compile`] is the only function in this crate that touches the
//! filesystem. It resolves relative `fs://./` URIs against the operator's
//! base directory, resolves symlinks (so the preopened directory is the real
//! one, and a deny rule cannot be dodged through a symlinked path), learns
//! whether each exact path is a file or a directory, and repeats the
//! enforceability check on the real paths.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::env::EnvRule;
use crate::error::{ErrorKind, PolicyError};
use crate::interfaces::Interfaces;
use crate::limits::Limits;
use crate::network::NetworkRules;
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
}

fn fs_error(message: String) -> PolicyError {
    PolicyError::nowhere(ErrorKind::Filesystem, message)
}

impl Policy {
    /// Compiles the policy into the [`Grant`] a runtime enforces, against
    /// the real filesystem. `base_dir` (absolute, without `.` or `..`) is
    /// where `fs://./` URIs point.
    ///
    /// This is the one function of the crate that reads the filesystem: it
    /// resolves every storage path through symlinks, requires allowed paths
    /// to exist (a `/**` rule a directory), and checks the deny rules again
    /// against the real paths.
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
        check_base(base_dir)?;
        let mut allow = Vec::new();
        let mut meta = Vec::new();
        for rule in &self.storage.allow {
            let (lexical, guest) = resolve(&rule.uri, base_dir);
            let (real, kind) = probe_allowed(fs, &rule.uri, &lexical)?;
            allow.push(Side {
                label: label(&rule.uri, &lexical, &real),
                path: real,
                access: rule.access,
            });
            meta.push((guest, kind));
        }
        let mut deny = Vec::new();
        for rule in &self.storage.deny {
            let (lexical, _) = resolve(&rule.uri, base_dir);
            let real = probe_denied(fs, &rule.uri, &lexical)?;
            deny.push(Side {
                label: label(&rule.uri, &lexical, &real),
                path: real,
                access: rule.access,
            });
        }
        let effective = storage::effective_access(&allow, &deny)?;
        let storage = allow
            .into_iter()
            .zip(meta)
            .zip(effective)
            .filter(|(_, eff)| !eff.is_empty())
            .map(|((side, (guest_path, kind)), eff)| StorageGrant {
                host_path: side.path,
                guest_path,
                kind,
                read: eff.read,
                write: eff.write,
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

/// The absolute path a URI names (before symlinks), and the same as text.
fn resolve(uri: &StorageUri, base: &Path) -> (PathBuf, String) {
    let p = uri.resolve(base);
    let text = p.to_string_lossy().into_owned();
    (p, text)
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
