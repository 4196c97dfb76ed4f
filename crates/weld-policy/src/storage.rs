//! Storage rules: `fs://` URIs, access modes, and the check that every
//! combination of allow and deny rules can be enforced exactly with WASI
//! preopens (whole directories or single files, read-only or read-write).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, Location, PolicyError};

/// The longest path weld accepts in a storage URI (Linux `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

/// One access mode a storage rule grants or denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// Open files for reading, list directories, read metadata.
    Read,
    /// Create, write, rename and delete files and directories.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// A set of [`Access`] modes. Allow rules hold `[read]` or `[read, write]`
/// (WASI preopens are read-only or read-write, so write without read cannot
/// be granted exactly); deny rules may hold any non-empty set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AccessSet {
    /// Read access.
    pub read: bool,
    /// Write access.
    pub write: bool,
}

impl AccessSet {
    /// No access.
    pub const NONE: AccessSet = AccessSet {
        read: false,
        write: false,
    };
    /// `[read]`.
    pub const READ: AccessSet = AccessSet {
        read: true,
        write: false,
    };
    /// `[read, write]`.
    pub const READ_WRITE: AccessSet = AccessSet {
        read: true,
        write: true,
    };
    /// `[write]` (only meaningful in deny rules).
    pub const WRITE: AccessSet = AccessSet {
        read: false,
        write: true,
    };

    /// The set of the given modes (duplicates are harmless here; documents
    /// refuse them before this).
    #[must_use]
    pub fn of(modes: &[Access]) -> AccessSet {
        AccessSet {
            read: modes.contains(&Access::Read),
            write: modes.contains(&Access::Write),
        }
    }

    /// Whether no mode is in the set.
    #[must_use]
    pub fn is_empty(self) -> bool {
        !self.read && !self.write
    }

    /// Every mode of either set.
    #[must_use]
    pub fn union(self, other: AccessSet) -> AccessSet {
        AccessSet {
            read: self.read || other.read,
            write: self.write || other.write,
        }
    }

    /// The modes of `self` not in `other`.
    #[must_use]
    pub fn minus(self, other: AccessSet) -> AccessSet {
        AccessSet {
            read: self.read && !other.read,
            write: self.write && !other.write,
        }
    }

    /// Whether the sets share a mode.
    #[must_use]
    pub fn intersects(self, other: AccessSet) -> bool {
        (self.read && other.read) || (self.write && other.write)
    }

    /// Whether every mode of `other` is in `self`.
    #[must_use]
    pub fn contains(self, other: AccessSet) -> bool {
        other.minus(self).is_empty()
    }

    /// The modes, read first.
    #[must_use]
    pub fn modes(self) -> Vec<Access> {
        let mut v = Vec::new();
        if self.read {
            v.push(Access::Read);
        }
        if self.write {
            v.push(Access::Write);
        }
        v
    }
}

impl fmt::Display for AccessSet {
    /// `[read]`, `[read, write]`, `[write]` or `[]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let modes: Vec<String> = self.modes().iter().map(ToString::to_string).collect();
        write!(f, "[{}]", modes.join(", "))
    }
}

/// Whether a URI names a directory tree or one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `…/**` (or a trailing `/`): the directory and everything under it.
    /// At compile time the path must be a directory.
    Tree,
    /// A bare path: a file, or a directory with everything under it —
    /// whichever is there when the policy is compiled.
    Exact,
}

/// A validated, normalised `fs://` URI.
///
/// - `fs:///abs/path/**`, `fs:///abs/path/` — the directory tree at an
///   absolute path;
/// - `fs:///abs/path` — exactly that path (a file, or a directory tree);
/// - `fs://./rel/path/**`, `fs://./rel/path`, `fs://./**`, `fs://.` — the
///   same, relative to the base directory the operator gives
///   [`Policy::compile`](crate::Policy::compile); `fs://rel/path/**` (the
///   policy-mcp and Wassette spelling) is the same as `fs://./rel/path/**`.
///
/// Normalised: `.` segments and repeated `/` are dropped, a trailing `/` is
/// `/**`. Refused: `..`, globs other than a trailing `/**`, backslashes,
/// control characters, `~`, any other scheme (`file://`).
/// The path is taken literally (no percent-decoding).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageUri {
    relative: bool,
    segments: Vec<String>,
    shape: Shape,
}

impl StorageUri {
    /// Parses and normalises a URI.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] naming the URI and the fix.
    pub fn parse(text: &str) -> Result<StorageUri, PolicyError> {
        let invalid = |m: String| PolicyError::nowhere(ErrorKind::InvalidValue, m);
        let Some(rest) = text.strip_prefix("fs://") else {
            if let Some(path) = text.strip_prefix("file://") {
                return Err(invalid(format!(
                    "storage URI `{text}` uses `file://`; weld policies use `fs://` — write `fs://{path}`"
                )));
            }
            return Err(invalid(format!(
                "storage URI `{text}` must start with `fs://`: `fs:///absolute/path/**` or `fs://./relative/path/**`"
            )));
        };
        if text.len() > MAX_PATH_BYTES {
            return Err(invalid(format!(
                "storage URI `{}…` is longer than {MAX_PATH_BYTES} bytes",
                text.chars().take(40).collect::<String>()
            )));
        }
        if let Some(c) = rest.chars().find(|c| c.is_control()) {
            return Err(invalid(format!(
                "storage URI `{}` contains the control character U+{:04X}; remove it",
                text.escape_debug(),
                u32::from(c)
            )));
        }
        if rest.contains('\\') {
            return Err(invalid(format!(
                "storage URI `{text}` contains `\\`; separate path segments with `/`"
            )));
        }
        let (relative, path) = if rest.starts_with('/') {
            (false, rest)
        } else if rest == "." || rest.starts_with("./") {
            (true, &rest[1..])
        } else if rest.is_empty() {
            return Err(invalid(format!(
                "storage URI `{text}` names no path; write `fs:///absolute/path/**` or `fs://./relative/path/**`"
            )));
        } else if rest == "~" || rest.starts_with("~/") {
            return Err(invalid(format!(
                "storage URI `{text}` starts with `~`; weld does not expand `~` — write the absolute path (`fs:///home/NAME/…`)"
            )));
        } else {
            // policy-mcp and Wassette read `fs://workspace/**` relative to
            // the directory they run tools from: the base directory here.
            (true, rest)
        };
        let (path, shape) = if let Some(p) = path.strip_suffix("/**") {
            (p, Shape::Tree)
        } else if path.ends_with('/') {
            (path.trim_end_matches('/'), Shape::Tree)
        } else {
            (path, Shape::Exact)
        };
        if path.contains(['*', '?', '[', ']', '{', '}']) {
            return Err(invalid(format!(
                "storage URI `{text}` uses a glob other than a trailing `/**`; weld grants whole directories or single files (WASI preopens) and cannot enforce patterns — grant the directory (`…/**`) or list the files one by one"
            )));
        }
        let mut segments = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    return Err(invalid(format!(
                        "storage URI `{text}` contains `..`; weld refuses `..` in storage rules — write the path without it"
                    )));
                }
                s => segments.push(s.to_owned()),
            }
        }
        // `fs://.` and `fs:///` name a directory either way.
        let shape = if segments.is_empty() && !relative {
            Shape::Tree
        } else {
            shape
        };
        Ok(StorageUri {
            relative,
            segments,
            shape,
        })
    }

    /// Whether the URI is relative to the operator's base directory.
    #[must_use]
    pub fn is_relative(&self) -> bool {
        self.relative
    }

    /// Tree or exact path.
    #[must_use]
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The normalised path: `/a/b` (absolute, `/` for the root) or `a/b`
    /// (relative, empty for the base directory itself).
    #[must_use]
    pub fn path(&self) -> String {
        let joined = self.segments.join("/");
        if self.relative {
            joined
        } else {
            format!("/{joined}")
        }
    }

    /// Whether this names the filesystem root (`fs:///**`).
    #[must_use]
    pub fn is_root(&self) -> bool {
        !self.relative && self.segments.is_empty()
    }

    /// The absolute path this names, relative URIs joined to `base`.
    #[must_use]
    pub fn resolve(&self, base: &Path) -> PathBuf {
        let mut p = if self.relative {
            base.to_path_buf()
        } else {
            PathBuf::from("/")
        };
        p.extend(&self.segments);
        p
    }

    /// Whether both name the same path (shape aside).
    pub(crate) fn same_path(&self, other: &StorageUri) -> bool {
        self.relative == other.relative && self.segments == other.segments
    }

    /// Whether `other`'s path is this path or below it (same base only).
    pub(crate) fn covers(&self, other: &StorageUri) -> bool {
        self.relative == other.relative && other.segments.starts_with(&self.segments)
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.relative { "fs://." } else { "fs://" };
        let body: String = self.segments.iter().map(|s| format!("/{s}")).collect();
        match (self.shape, body.is_empty()) {
            (Shape::Tree, _) => write!(f, "{prefix}{body}/**"),
            (Shape::Exact, false) => write!(f, "{prefix}{body}"),
            (Shape::Exact, true) => write!(f, "{prefix}"),
        }
    }
}

/// `uri` + `access`: a path the tool may use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageAllow {
    pub(crate) uri: StorageUri,
    pub(crate) access: AccessSet,
}

impl StorageAllow {
    /// What the rule names.
    #[must_use]
    pub fn uri(&self) -> &StorageUri {
        &self.uri
    }
    /// `[read]` or `[read, write]`.
    #[must_use]
    pub fn access(&self) -> AccessSet {
        self.access
    }
}

/// `uri` + `access` (default: both): a path the tool may not use that way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageDeny {
    pub(crate) uri: StorageUri,
    pub(crate) access: AccessSet,
}

impl StorageDeny {
    /// What the rule names.
    #[must_use]
    pub fn uri(&self) -> &StorageUri {
        &self.uri
    }
    /// The modes denied.
    #[must_use]
    pub fn access(&self) -> AccessSet {
        self.access
    }
}

/// The `permissions.storage` section.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct StorageRules {
    pub(crate) allow: Vec<StorageAllow>,
    pub(crate) deny: Vec<StorageDeny>,
}

impl StorageRules {
    /// The allow rules in document order.
    #[must_use]
    pub fn allow(&self) -> &[StorageAllow] {
        &self.allow
    }
    /// The deny rules in document order.
    #[must_use]
    pub fn deny(&self) -> &[StorageDeny] {
        &self.deny
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// How a rule is named in a message: its URI, where it was written, and
/// (after compile) what it resolved to.
#[derive(Clone, Debug)]
pub(crate) struct Label {
    pub text: String,
    pub at: Option<Location>,
    pub resolved: Option<PathBuf>,
}

impl Label {
    /// The rule as the subject of a message placed at it: no location.
    fn subject(&self) -> String {
        match &self.resolved {
            Some(p) => format!("`{}` (resolved to {})", self.text, p.display()),
            None => format!("`{}`", self.text),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.text)?;
        match (&self.at, &self.resolved) {
            (Some(at), _) => write!(f, " ({at})"),
            (None, Some(p)) => write!(f, " (resolved to {})", p.display()),
            (None, None) => Ok(()),
        }
    }
}

/// One side of the storage check: a path (all paths in one check are either
/// all absolute or all relative to the same base), its modes and its label.
pub(crate) struct Side {
    pub path: PathBuf,
    pub access: AccessSet,
    pub label: Label,
}

/// Applies deny rules to allow rules and returns each allow rule's effective
/// access, or the first combination weld cannot enforce exactly:
///
/// - a deny rule whose path covers an allow rule's path removes its modes
///   from it (deny beats allow); if that leaves write without read, refused;
/// - a deny rule strictly inside an allowed tree that shares a mode with
///   what that tree still grants is refused — a preopen grants the whole
///   directory, so the carve-out could not hold.
pub(crate) fn effective_access(
    allow: &[Side],
    deny: &[Side],
) -> Result<Vec<AccessSet>, PolicyError> {
    let mut effective = Vec::with_capacity(allow.len());
    for a in allow {
        let mut eff = a.access;
        for d in deny.iter().filter(|d| a.path.starts_with(&d.path)) {
            eff = eff.minus(d.access);
            if eff == AccessSet::WRITE {
                return Err(PolicyError::new(
                    ErrorKind::Conflict,
                    d.label.at,
                    format!(
                        "storage deny rule {} denies read but not write on all of allow rule {}; weld cannot grant write without read (WASI preopens are read-only or read-write) — deny [read, write], or allow [read] only",
                        d.label.subject(),
                        a.label
                    ),
                ));
            }
        }
        effective.push(eff);
    }
    for (a, eff) in allow.iter().zip(&effective) {
        for d in deny {
            if d.path != a.path && d.path.starts_with(&a.path) && d.access.intersects(*eff) {
                return Err(PolicyError::new(
                    ErrorKind::Conflict,
                    d.label.at,
                    format!(
                        "storage deny rule {} is inside allow rule {} and cannot be enforced exactly: weld grants whole directories; move the private files out or narrow the allow rule",
                        d.label.subject(),
                        a.label
                    ),
                ));
            }
        }
    }
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        StorageUri::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn uris_normalise_to_one_spelling() {
        for (input, canonical) in [
            ("fs:///home/me/notes/**", "fs:///home/me/notes/**"),
            ("fs:///home/me/notes/", "fs:///home/me/notes/**"),
            ("fs:///home//me/./notes", "fs:///home/me/notes"),
            ("fs://./workspace/**", "fs://./workspace/**"),
            ("fs://workspace/**", "fs://./workspace/**"),
            ("fs://config/app.yaml", "fs://./config/app.yaml"),
            ("fs://./", "fs://./**"),
            ("fs://.", "fs://."),
            ("fs://./**", "fs://./**"),
            ("fs:///", "fs:///**"),
            ("fs:///**", "fs:///**"),
            ("fs:///a b/c%20d", "fs:///a b/c%20d"),
        ] {
            let uri = StorageUri::parse(input).unwrap();
            assert_eq!(uri.to_string(), canonical, "{input}");
            assert_eq!(StorageUri::parse(canonical).unwrap(), uri, "{input}");
        }
    }

    #[test]
    fn malformed_uris_are_refused_with_the_fix() {
        assert!(err("fs://~/notes").contains("weld does not expand `~`"));
        assert!(err("fs://").contains("names no path"));
        assert_eq!(
            err("file:///etc"),
            "storage URI `file:///etc` uses `file://`; weld policies use `fs://` — write `fs:///etc`"
        );
        assert_eq!(
            err("/etc"),
            "storage URI `/etc` must start with `fs://`: `fs:///absolute/path/**` or `fs://./relative/path/**`"
        );
        assert_eq!(
            err("fs:///a/../etc"),
            "storage URI `fs:///a/../etc` contains `..`; weld refuses `..` in storage rules — write the path without it"
        );
        assert_eq!(
            err("fs:///a/*.md"),
            "storage URI `fs:///a/*.md` uses a glob other than a trailing `/**`; weld grants whole directories or single files (WASI preopens) and cannot enforce patterns — grant the directory (`…/**`) or list the files one by one"
        );
        assert!(err("fs:///a/**/x").contains("uses a glob other than a trailing `/**`"));
        assert!(err("fs:///a/*").contains("uses a glob"));
        assert!(err("fs:///a/file?.txt").contains("uses a glob"));
        assert_eq!(
            err("fs:///a\\b"),
            "storage URI `fs:///a\\b` contains `\\`; separate path segments with `/`"
        );
        assert_eq!(
            err("fs:///a\u{1b}b"),
            "storage URI `fs:///a\\u{1b}b` contains the control character U+001B; remove it"
        );
    }

    #[test]
    fn access_sets_subtract_and_display() {
        assert_eq!(
            AccessSet::READ_WRITE.minus(AccessSet::WRITE),
            AccessSet::READ
        );
        assert_eq!(AccessSet::READ_WRITE.to_string(), "[read, write]");
        assert!(AccessSet::READ_WRITE.contains(AccessSet::READ));
        assert!(!AccessSet::READ.intersects(AccessSet::WRITE));
    }
}
