//! The shadowed `wasi:filesystem` functions, one each.
//!
//! Every one starts with the same question — is the descriptor a gated
//! directory? ([`view_of`], or the helpers built on it: [`route`] for a
//! path, [`refused_on_view`] for what a view never allows) — and, when it is
//! not, delegates to Wasmtime's implementation with its arguments unchanged.
//! What each does for a gated directory is in its doc comment.

use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::Resource;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntryStream, ErrorCode,
    HostDescriptor, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};

use super::root::ROOT;
use super::{
    Access, EmptyRoot, GatedFsView, GrantMoved, no_follow, refuse, refused_on_view, root_itself,
    route, view_of,
};
use crate::sandbox::{DirIdentity, FileView, GrantedFile};
use crate::wasi::shadow::{Reply, lower};

/// The guest's preopened directories and the names it finds them under.
type Preopens = Vec<(Resource<Descriptor>, String)>;

/// The guest's preopens, each checked to still be the directory its grant
/// was compiled against ([`GrantMoved`] stops the call otherwise), then the
/// empty root at `/` when the call has one; the handles of single-file
/// views and of the root are remembered as gated.
pub(super) fn get_directories<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (): (),
) -> wasmtime::Result<(Preopens,)> {
    let state = store.data_mut();
    let mut dirs = preopens::Host::get_directories(&mut state.filesystem())?;
    for (fd, name) in &dirs {
        let Some(expected) = state.gated().expected(name) else {
            continue;
        };
        let Ok(Descriptor::Dir(dir)) = state.ctx().table.get(fd) else {
            continue;
        };
        let found = dir.dir.metadata().map(|m| DirIdentity::from_metadata(&m));
        if found.ok() != Some(expected) {
            return Err(wasmtime::Error::new(GrantMoved {
                guest: name.clone(),
            }));
        }
    }
    for (fd, name) in &dirs {
        if let Ok(Descriptor::Dir(dir)) = state.ctx().table.get(fd) {
            let address = Arc::as_ptr(&dir.dir) as usize;
            state.gated().found(address, name);
        }
    }
    // Last, so that its shorter prefix loses to every grant (wasi-libc
    // takes the longest match, and the first of equal ones).
    if let Some(root) = state.gated().root() {
        let fd = state.ctx().table.push(root.descriptor())?;
        state.gated().gate(root.address(), Arc::clone(root.view()));
        dirs.push((fd, ROOT.to_string()));
    }
    Ok((dirs,))
}

/// In a view: a granted name only; never a directory; writing (write,
/// create, truncate) only with a read-write grant; only a regular file (or
/// none yet, to create); a file from a read-only grant opened read-only.
/// Through the empty root, its own name opens it again, read-only.
pub(super) fn open_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path_flags, path, oflags, flags): (
        Resource<Descriptor>,
        PathFlags,
        String,
        OpenFlags,
        DescriptorFlags,
    ),
) -> Reply<'_, Resource<Descriptor>> {
    Box::new(async move {
        let state = store.data_mut();
        let Some(view) = view_of(state, &fd) else {
            let mut fs = state.filesystem();
            return Ok((lower(
                fs.open_at(fd, path_flags, path, oflags, flags).await,
            )?,));
        };
        const OP: &str = "open-at";
        if let Some(root) = root_itself(state, &fd, &path) {
            return Ok((open_root(state, &view, &root, &path, oflags, flags)?,));
        }
        let Some(file) = view.lookup(&path) else {
            return Ok((Err(refuse(state, &view, OP, &path, ErrorCode::NoEntry)),));
        };
        if oflags.contains(OpenFlags::DIRECTORY) {
            return Ok((Err(refuse(
                state,
                &view,
                OP,
                &path,
                ErrorCode::NotDirectory,
            )),));
        }
        let writes = oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
            || flags.contains(DescriptorFlags::WRITE);
        if writes && !file.writable() {
            return Ok((Err(refuse(
                state,
                &view,
                OP,
                &path,
                ErrorCode::NotPermitted,
            )),));
        }
        Ok((open_granted(state, &view, fd, file, &path, oflags, flags).await?,))
    })
}

/// The empty root opened by its own name (`opendir("/")`): the same empty
/// directory again, read-only, under the same view. Opening it to create,
/// truncate or change anything is refused.
fn open_root<T: GatedFsView>(
    state: &mut T,
    view: &FileView,
    root: &EmptyRoot,
    path: &str,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> wasmtime::Result<Result<Resource<Descriptor>, ErrorCode>> {
    let changes = oflags.intersects(OpenFlags::CREATE | OpenFlags::EXCLUSIVE | OpenFlags::TRUNCATE)
        || flags.intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY);
    if changes {
        let code = ErrorCode::NotPermitted;
        return Ok(Err(refuse(state, view, "open-at", path, code)));
    }
    Ok(Ok(state.ctx().table.push(root.descriptor())?))
}

/// Opens `file`, granted in `view` and named `path` by the guest, once the
/// checks of [`open_at`] passed.
async fn open_granted<T: GatedFsView>(
    state: &mut T,
    view: &FileView,
    fd: Resource<Descriptor>,
    file: &GrantedFile,
    path: &str,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> wasmtime::Result<Result<Resource<Descriptor>, ErrorCode>> {
    const OP: &str = "open-at";
    // Only a regular file (or nothing yet, to create): opening a FIFO
    // someone put in its place would block a host thread until a writer
    // came along. Opening re-checks below, since the name may change
    // between the two calls.
    let mut fs = state.filesystem();
    let probe = Resource::<Descriptor>::new_borrow(fd.rep());
    match lower(
        fs.stat_at(probe, no_follow(), file.host_name().to_string())
            .await,
    )? {
        Ok(stat) if stat.type_ != DescriptorType::RegularFile => {
            return Ok(Err(refuse(state, view, OP, path, ErrorCode::NoEntry)));
        }
        _ => {}
    }
    let mut fs = state.filesystem();
    let opened = fs
        .open_at(fd, no_follow(), file.host_name().to_string(), oflags, flags)
        .await;
    let opened = match lower(opened)? {
        Ok(opened) => opened,
        Err(code) => return Ok(Err(code)),
    };
    match fs.table.get_mut(&opened)? {
        Descriptor::File(f) => {
            if !file.writable() {
                f.perms = FsPerms::ReadOnly;
            }
            Ok(Ok(opened))
        }
        Descriptor::Dir(_) => {
            // The granted file was replaced by a directory since the policy
            // was compiled; its contents were never granted.
            fs.table.delete(opened)?;
            Ok(Err(refuse(state, view, OP, path, ErrorCode::NoEntry)))
        }
    }
}

/// In a view: a granted name only, never following a symlink; the empty
/// root's own name describes it (an empty directory).
pub(super) fn stat_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String),
) -> Reply<'_, DescriptorStat> {
    Box::new(async move {
        let state = store.data_mut();
        if root_itself(state, &fd, &path).is_some() {
            return Ok((Ok(view_stat(DescriptorType::Directory)),));
        }
        let (path_flags, path) = match route(state, &fd, "stat-at", path_flags, path, Access::Read)
        {
            Ok(routed) => routed,
            Err(code) => return Ok((Err(code),)),
        };
        Ok((lower(
            state.filesystem().stat_at(fd, path_flags, path).await,
        )?,))
    })
}

/// In a view: a granted name only, never following a symlink; the empty
/// root's own name gives its hash.
pub(super) fn metadata_hash_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String),
) -> Reply<'_, MetadataHashValue> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(root) = root_itself(state, &fd, &path) {
            return Ok((Ok(view_hash(root.view())),));
        }
        let op = "metadata-hash-at";
        let (path_flags, path) = match route(state, &fd, op, path_flags, path, Access::Read) {
            Ok(routed) => routed,
            Err(code) => return Ok((Err(code),)),
        };
        let mut fs = state.filesystem();
        Ok((lower(fs.metadata_hash_at(fd, path_flags, path).await)?,))
    })
}

/// In a view: a granted name only (which the policy resolved, so it is no
/// symlink unless one was planted since).
pub(super) fn readlink_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path): (Resource<Descriptor>, String),
) -> Reply<'_, String> {
    Box::new(async move {
        let state = store.data_mut();
        let path = match route(state, &fd, "readlink-at", no_follow(), path, Access::Read) {
            Ok((_, path)) => path,
            Err(code) => return Ok((Err(code),)),
        };
        Ok((lower(state.filesystem().readlink_at(fd, path).await)?,))
    })
}

/// In a view: a granted read-write name only, never following a symlink.
pub(super) fn set_times_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path_flags, path, atim, mtim): (
        Resource<Descriptor>,
        PathFlags,
        String,
        NewTimestamp,
        NewTimestamp,
    ),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        let (path_flags, path) =
            match route(state, &fd, "set-times-at", path_flags, path, Access::Write) {
                Ok(routed) => routed,
                Err(code) => return Ok((Err(code),)),
            };
        let mut fs = state.filesystem();
        Ok((lower(
            fs.set_times_at(fd, path_flags, path, atim, mtim).await,
        )?,))
    })
}

/// In a view: refused (`access`); what else the directory holds is not
/// granted.
pub(super) fn read_directory<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd,): (Resource<Descriptor>,),
) -> Reply<'_, Resource<DirectoryEntryStream>> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(view) = view_of(state, &fd) {
            return Ok((Err(refuse(
                state,
                &view,
                "read-directory",
                "",
                ErrorCode::Access,
            )),));
        }
        Ok((lower(state.filesystem().read_directory(fd).await)?,))
    })
}

/// In a view: what the view shows, not the real directory's metadata, which
/// would say how many subdirectories it has (link count) and when an entry
/// last changed (times, size).
pub(super) fn stat<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd,): (Resource<Descriptor>,),
) -> Reply<'_, DescriptorStat> {
    Box::new(async move {
        let state = store.data_mut();
        let gated = view_of(state, &fd).is_some();
        let stat = lower(state.filesystem().stat(fd).await)?;
        Ok((stat.map(|stat| if gated { view_stat(stat.type_) } else { stat }),))
    })
}

/// What a view shows of its directory (of type `type_`): one link, no
/// size, no times.
fn view_stat(type_: DescriptorType) -> DescriptorStat {
    DescriptorStat {
        type_,
        link_count: 1,
        size: 0,
        data_access_timestamp: None,
        data_modification_timestamp: None,
        status_change_timestamp: None,
    }
}

/// In a view: a hash stable for the view and unrelated to its entries.
pub(super) fn metadata_hash<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd,): (Resource<Descriptor>,),
) -> Reply<'_, MetadataHashValue> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(view) = view_of(state, &fd) {
            return Ok((Ok(view_hash(&view)),));
        }
        Ok((lower(state.filesystem().metadata_hash(fd).await)?,))
    })
}

/// A view's metadata hash: stable for the view, unrelated to its entries.
fn view_hash(view: &FileView) -> MetadataHashValue {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let identity = view.identity();
    (identity.dev, identity.ino).hash(&mut hasher);
    let lower = hasher.finish();
    view.guest_dir().hash(&mut hasher);
    let upper = hasher.finish();
    MetadataHashValue { lower, upper }
}

/// In a view: without `mutate-directory`, since nothing in a view can be
/// created, renamed or removed.
pub(super) fn get_flags<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd,): (Resource<Descriptor>,),
) -> Reply<'_, DescriptorFlags> {
    Box::new(async move {
        let state = store.data_mut();
        let gated = view_of(state, &fd).is_some();
        let flags = lower(state.filesystem().get_flags(fd).await)?;
        Ok((flags.map(|f| {
            if gated {
                f & !DescriptorFlags::MUTATE_DIRECTORY
            } else {
                f
            }
        }),))
    })
}

/// In a view: refused (`not-permitted`); the grant is its files' content,
/// not the directory's times.
pub(super) fn set_times<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, atim, mtim): (Resource<Descriptor>, NewTimestamp, NewTimestamp),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(code) = refused_on_view(state, &fd, "set-times", "") {
            return Ok((Err(code),));
        }
        Ok((lower(state.filesystem().set_times(fd, atim, mtim).await)?,))
    })
}

/// In a view: refused (`not-permitted`), like every change to its entries.
pub(super) fn create_directory_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path): (Resource<Descriptor>, String),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(code) = refused_on_view(state, &fd, "create-directory-at", &path) {
            return Ok((Err(code),));
        }
        Ok((lower(
            state.filesystem().create_directory_at(fd, path).await,
        )?,))
    })
}

/// In a view: refused (`not-permitted`), like every change to its entries.
pub(super) fn unlink_file_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path): (Resource<Descriptor>, String),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(code) = refused_on_view(state, &fd, "unlink-file-at", &path) {
            return Ok((Err(code),));
        }
        Ok((lower(state.filesystem().unlink_file_at(fd, path).await)?,))
    })
}

/// In a view: refused (`not-permitted`), like every change to its entries.
pub(super) fn remove_directory_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, path): (Resource<Descriptor>, String),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(code) = refused_on_view(state, &fd, "remove-directory-at", &path) {
            return Ok((Err(code),));
        }
        Ok((lower(
            state.filesystem().remove_directory_at(fd, path).await,
        )?,))
    })
}

/// In a view: refused (`not-permitted`), like every change to its entries.
pub(super) fn symlink_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, old_path, new_path): (Resource<Descriptor>, String, String),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        if let Some(code) = refused_on_view(state, &fd, "symlink-at", &new_path) {
            return Ok((Err(code),));
        }
        let mut fs = state.filesystem();
        Ok((lower(fs.symlink_at(fd, old_path, new_path).await)?,))
    })
}

/// From or into a view: refused (`not-permitted`), like every change to its
/// entries.
pub(super) fn link_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, old_flags, old_path, new_fd, new_path): (
        Resource<Descriptor>,
        PathFlags,
        String,
        Resource<Descriptor>,
        String,
    ),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        let refused = refused_on_view(state, &fd, "link-at", &old_path)
            .or_else(|| refused_on_view(state, &new_fd, "link-at", &new_path));
        if let Some(code) = refused {
            return Ok((Err(code),));
        }
        let mut fs = state.filesystem();
        Ok((lower(
            fs.link_at(fd, old_flags, old_path, new_fd, new_path).await,
        )?,))
    })
}

/// From or into a view: refused (`not-permitted`), like every change to its
/// entries.
pub(super) fn rename_at<T: GatedFsView>(
    mut store: StoreContextMut<'_, T>,
    (fd, old_path, new_fd, new_path): (Resource<Descriptor>, String, Resource<Descriptor>, String),
) -> Reply<'_, ()> {
    Box::new(async move {
        let state = store.data_mut();
        let refused = refused_on_view(state, &fd, "rename-at", &old_path)
            .or_else(|| refused_on_view(state, &new_fd, "rename-at", &new_path));
        if let Some(code) = refused {
            return Ok((Err(code),));
        }
        let mut fs = state.filesystem();
        Ok((lower(fs.rename_at(fd, old_path, new_fd, new_path).await)?,))
    })
}
