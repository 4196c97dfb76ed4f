//! The empty root: what a tool finds at `/` beyond its grants.
//!
//! wasi-libc resolves a path through the preopen that is its longest prefix,
//! and when none is, fails with `ENOENT` itself, without calling the host:
//! a tool reaching for a file it has no grant for would never reach weld, and
//! nobody could see it was refused. So every call also gets a preopen at `/`
//! (unless a grant sits there already): a single-file view with no files
//! ([`FileView`]), through which every path-taking call is refused and
//! recorded like any other view's. Grants keep their paths: `/data/x` goes to
//! a `/data` grant, its longer prefix.
//!
//! What backs it is a directory that no longer exists: created once per
//! runtime, private, inside the compile cache's directory (checked with
//! `weld_fs` before), opened, and removed while open. The handle stays valid,
//! and Linux refuses to list a removed directory or to create anything in it
//! (`ENOENT`, for every filesystem), so even a path call that reached
//! Wasmtime past the shadows would find nothing and leave nothing. Nothing of
//! it stays on disk, and a call pays no system call for it: it takes a clone
//! of the handle when the guest asks for its preopens.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use wasmtime_wasi::filesystem::{Descriptor, Dir};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::sandbox::{DirIdentity, FileView};

/// Where the empty root appears in the guest.
pub(crate) const ROOT: &str = "/";

/// The handle and the view every call's empty root shares.
pub(crate) struct EmptyRoot {
    dir: Dir,
    view: Arc<FileView>,
}

impl std::fmt::Debug for EmptyRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmptyRoot").finish_non_exhaustive()
    }
}

impl EmptyRoot {
    /// Makes the directory in `parent` (a directory only this user can
    /// change), opens it and removes it.
    ///
    /// # Errors
    ///
    /// When it cannot be made, opened or removed.
    pub(crate) fn create_in(parent: &Path) -> io::Result<Self> {
        let made = tempfile::Builder::new()
            .prefix(".empty-root-")
            .tempdir_in(parent)?;
        let path = made.path().to_path_buf();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let handle = std::fs::File::from(rustix::fs::open(&path, flags, Mode::empty())?);
        // Removed by name while open: the handle is that directory, empty
        // and removed, whatever its name meant before (only this user could
        // have changed it).
        made.close()?;
        Ok(Self {
            dir: Dir::new(handle, FsPerms::ReadOnly, OpenMode::READ, false),
            view: Arc::new(root_view(path)?),
        })
    }

    /// A new descriptor for the guest's table: the same open directory,
    /// shared with every other call.
    pub(crate) fn descriptor(&self) -> Descriptor {
        Descriptor::Dir(self.dir.clone())
    }

    /// The address that recognises that directory in a call's table.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.dir.dir) as usize
    }

    /// The view the shadows enforce on it: no file granted.
    pub(crate) fn view(&self) -> &Arc<FileView> {
        &self.view
    }
}

/// The root's view: no files, at [`ROOT`], named after where the directory
/// was made (it never opens it by that path again). Its identity is zero:
/// the metadata hash the guest sees derives from it, and reveals nothing of
/// the host.
fn root_view(made_at: PathBuf) -> io::Result<FileView> {
    FileView::new(made_at, ROOT.to_string(), DirIdentity { dev: 0, ino: 0 })
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn the_empty_root_is_a_removed_directory_that_lists_nothing_and_takes_nothing() {
        let parent = tempfile::tempdir().expect("tempdir");
        let root = EmptyRoot::create_in(parent.path()).expect("empty root");
        // Nothing is left on disk.
        assert_eq!(std::fs::read_dir(parent.path()).expect("list").count(), 0);
        let fd = root.dir.dir.as_fd();
        let stat = rustix::fs::fstat(fd).expect("fstat");
        assert_eq!(stat.st_nlink, 0, "removed");
        let create = OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC;
        assert!(rustix::fs::openat(fd, "planted", create, Mode::RUSR).is_err());
        assert!(rustix::fs::mkdirat(fd, "planted", Mode::RWXU).is_err());
        let mut dir = rustix::fs::Dir::read_from(fd).expect("dir");
        assert!(dir.read().is_none_or(|entry| entry.is_err()));
        assert_eq!(root.view.guest_dir(), ROOT);
        assert!(root.view.files().is_empty());
        // Every call's descriptor is the same directory, recognised by one
        // address.
        let Descriptor::Dir(again) = root.descriptor() else {
            panic!("a directory");
        };
        assert_eq!(Arc::as_ptr(&again.dir) as usize, root.address());
    }
}
