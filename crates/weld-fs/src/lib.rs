//! Directories only their owner can change, and files in them opened
//! without following links.
//!
//! weld keeps what decides what a tool may do (policies, secrets, the index)
//! in its state directory and native code (compiled components) in its cache
//! directory. Another local user who can write either, or rename a directory
//! on the way to them, can make weld run their code or grant their access.
//! So before weld uses such a directory it checks, the way ssh checks
//! `~/.ssh`:
//!
//! - the directory itself (and every directory weld keeps below it) is a
//!   real directory, owned by this user, writable by no one else (no group
//!   or other write bit). weld creates the missing ones with mode 0700; one
//!   that exists and fails the check is refused with the `chmod`/`chown` that
//!   fixes it — weld never changes the modes of a directory it did not just
//!   create;
//! - every parent, walking up from it, is owned by this user or by root and
//!   cannot be changed by anyone else: not writable by others unless sticky
//!   (like `/tmp`, where no one can rename or delete what another owns), not
//!   writable by its group unless sticky or the group is this user's own
//!   private group (the Debian convention with umask 002, where `~/.local`
//!   is often 0775). The walk stops at the first root-owned directory that
//!   passes: only root can change it, and root is trusted anyway — the same
//!   place ssh stops (the home directory) or earlier.
//!
//! The check is made on the canonical path (symlinks resolved), which is
//! returned so that every later access uses it: once a directory and its
//! parents pass, nobody but this user (or root) can change what a path below
//! it leads to, so opening by path afterwards is as safe as opening by
//! descriptor. Files are still opened with `O_NOFOLLOW` and `O_NONBLOCK` and
//! must be regular: a symlink or a FIFO planted by something that could write
//! there (a tool granted that directory, say) is refused, never followed or
//! waited on.
//!
//! This crate knows nothing of Wasmtime, MCP or what the files contain.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

mod groups;

/// Why a directory is not trusted, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The directory could not be created, read or checked.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// `dir` (the directory weld wanted, or one of its parents) could be
    /// changed by another user.
    #[error("{}", unsafe_message(path, dir, problem))]
    Unsafe {
        /// The directory weld was asked to use.
        path: PathBuf,
        /// The one that failed the check: `path` or a parent of it.
        dir: PathBuf,
        /// What is wrong with `dir`.
        problem: Problem,
    },
}

/// What is wrong with a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// It is something else (a file, a device), or a symlink to one.
    NotADirectory,
    /// Owned by `owner`, who is neither this user (`me`) nor root.
    Owner {
        /// Its owner's uid.
        owner: u32,
        /// This process's uid.
        me: u32,
    },
    /// Writable by its group or by everyone.
    Writable {
        /// Its permission bits.
        mode: u32,
        /// Who else may write it.
        by: Writers,
    },
}

/// Who besides the owner may write a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Its group (not this user's own private group).
    Group,
    /// Everyone.
    Others,
}

fn unsafe_message(path: &Path, dir: &Path, problem: &Problem) -> String {
    let subject = if dir == path {
        format!("{}", path.display())
    } else {
        format!("{}, a parent of {},", dir.display(), path.display())
    };
    let quoted = shell_quote(dir);
    match problem {
        Problem::NotADirectory => format!("{subject} is not a directory"),
        Problem::Owner { owner, me } => format!(
            "{subject} belongs to user {owner}, not to you (user {me}) or root, so its owner could \
             replace what weld keeps there; weld will not use it. Use a directory of your own \
             (--state-dir / --cache-dir), or hand it over: `chown {me} {quoted}`"
        ),
        Problem::Writable { mode, by } => {
            let who = match by {
                Writers::Group => "its group",
                Writers::Others => "every user",
            };
            let shared = if dir == path {
                ""
            } else {
                " (or, if it must stay shared, make it sticky like /tmp: `chmod +t` it)"
            };
            format!(
                "{subject} can be written by {who} (mode {:04o}), so another user could replace \
                 what weld keeps there; weld will not use it. Fix: `chmod go-w {quoted}`{shared}",
                mode & 0o7777
            )
        }
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DirError + '_ {
    move |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The effective user id of this process: who files must belong to.
fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

const STICKY: u32 = 0o1000;

/// `O_NOFOLLOW | O_NONBLOCK`, for [`std::os::unix::fs::OpenOptionsExt::custom_flags`]:
/// a symlink in the last component is an error instead of being followed,
/// and opening a FIFO does not wait for its other end.
#[allow(clippy::cast_possible_wrap, reason = "open(2) flags fit in a C int")]
pub const NO_FOLLOW_NO_BLOCK: i32 =
    (rustix::fs::OFlags::NOFOLLOW.bits() | rustix::fs::OFlags::NONBLOCK.bits()) as i32;

/// Creates `path` (and any missing parents) with mode 0700 unless it
/// exists, then checks it and its parents as the module doc says.
///
/// Returns the canonical path: use it, not `path`, from then on.
///
/// # Errors
///
/// [`DirError::Unsafe`] naming the directory at fault and the fix, or
/// [`DirError::Io`] when it cannot be created or read.
pub fn private_dir(path: &Path) -> Result<PathBuf, DirError> {
    create_dir_all(path).map_err(io_error(path))?;
    let canonical = fs::canonicalize(path).map_err(io_error(path))?;
    let me = me();
    check_own(&canonical, &canonical, me)?;
    for parent in canonical.ancestors().skip(1) {
        let meta = fs::symlink_metadata(parent).map_err(io_error(parent))?;
        let verdict = judge_parent(meta.uid(), meta.gid(), meta.mode(), me, &|gid| {
            groups::is_private(gid, me)
        });
        match verdict {
            Parent::Unsafe(problem) => {
                return Err(DirError::Unsafe {
                    path: canonical.clone(),
                    dir: parent.to_path_buf(),
                    problem,
                });
            }
            Parent::TrustedRoot => break,
            Parent::Fine => {}
        }
    }
    Ok(canonical)
}

/// Creates `path` with mode 0700 unless it exists, then checks it alone:
/// for a directory below one [`private_dir`] returned, whose parents are
/// already known to be safe.
///
/// # Errors
///
/// As [`private_dir`].
pub fn private_subdir(path: &Path) -> Result<(), DirError> {
    create_dir_all(path).map_err(io_error(path))?;
    check_own(path, path, me())
}

fn create_dir_all(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// `dir` must be a real directory owned by `me` that nobody else can write.
fn check_own(path: &Path, dir: &Path, me: u32) -> Result<(), DirError> {
    let meta = fs::symlink_metadata(dir).map_err(io_error(dir))?;
    let problem = if !meta.file_type().is_dir() {
        Some(Problem::NotADirectory)
    } else {
        judge_own(meta.uid(), meta.mode(), me)
    };
    match problem {
        Some(problem) => Err(DirError::Unsafe {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}

fn judge_own(owner: u32, mode: u32, me: u32) -> Option<Problem> {
    if owner != me {
        Some(Problem::Owner { owner, me })
    } else if mode & 0o002 != 0 {
        Some(Problem::Writable {
            mode,
            by: Writers::Others,
        })
    } else if mode & 0o020 != 0 {
        Some(Problem::Writable {
            mode,
            by: Writers::Group,
        })
    } else {
        None
    }
}

/// What one parent directory means for the directory below it.
#[derive(Debug, PartialEq, Eq)]
enum Parent {
    /// Someone else could change it.
    Unsafe(Problem),
    /// Owned by root and changeable by no one else: stop walking.
    TrustedRoot,
    /// Only `me` can change it: keep walking.
    Fine,
}

fn judge_parent(
    owner: u32,
    group: u32,
    mode: u32,
    me: u32,
    private_group: &dyn Fn(u32) -> bool,
) -> Parent {
    if owner != me && owner != 0 {
        return Parent::Unsafe(Problem::Owner { owner, me });
    }
    let sticky = mode & STICKY != 0;
    if mode & 0o002 != 0 && !sticky {
        return Parent::Unsafe(Problem::Writable {
            mode,
            by: Writers::Others,
        });
    }
    // A group-writable directory of root's is as open as the group is; only
    // this user's own private group is known to hold no one else.
    if mode & 0o020 != 0 && !sticky && !(owner == me && private_group(group)) {
        return Parent::Unsafe(Problem::Writable {
            mode,
            by: Writers::Group,
        });
    }
    if owner == 0 {
        Parent::TrustedRoot
    } else {
        Parent::Fine
    }
}

/// Opens `path` for reading without following a symlink in its last
/// component and without blocking on a FIFO; `Ok(None)` when it does not
/// exist.
///
/// # Errors
///
/// When it is a symlink, a FIFO, a device or a directory (anything but a
/// regular file), or cannot be opened.
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW_NO_BLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(not_regular("a symbolic link"));
        }
        Err(e) => return Err(e),
    };
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(if kind.is_dir() {
            "a directory"
        } else {
            "a FIFO, socket or device"
        }));
    }
    Ok(Some(file))
}

fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("is {what}, not a regular file; weld does not follow or read those here"),
    )
}

/// Reads `path` whole as [`open_regular`] opens it; `Ok(None)` when it does
/// not exist.
///
/// # Errors
///
/// As [`open_regular`], or when reading fails.
pub fn read_regular(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let Some(mut file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Whether `file` belongs to this user and nobody else may write it: what
/// it holds now stays what it holds unless this user changes it.
///
/// # Errors
///
/// When its metadata cannot be read.
pub fn only_owner_writes(file: &File) -> io::Result<bool> {
    let meta = file.metadata()?;
    Ok(meta.uid() == me() && meta.mode() & 0o022 == 0)
}

/// Whether `file` belongs to this user and nobody else may read or write it:
/// for keys, which must stay secret as well as unchanged.
///
/// # Errors
///
/// When its metadata cannot be read.
pub fn is_owner_only(file: &File) -> io::Result<bool> {
    let meta = file.metadata()?;
    Ok(meta.uid() == me() && meta.mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests;
