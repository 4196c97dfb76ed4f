//! Single-file grants.
//!
//! WASI preopens whole directories; a policy may grant one file. weld
//! preopens the file's parent directory and shadows every
//! `wasi:filesystem/types` method that takes a path relative to a directory
//! (`open-at`, `stat-at`, …), so that through that *gated* directory the
//! tool reaches exactly the granted files, under the names the policy gives
//! them, with the access the policy gives each, and nothing else:
//!
//! - `open-at`, `stat-at`, `metadata-hash-at`, `readlink-at` and
//!   `set-times-at` accept only a granted name (`name` or `./name`); any other
//!   path — a sibling, `..`, an absolute path, `.` — does not exist. Symlinks
//!   are never followed (the policy resolved them at load, so a symlink found
//!   now was put there since and could point at a sibling).
//! - Opening for writing (write, create, truncate) needs a read-write grant
//!   on that file, and a file opened from a read-only grant is read-only
//!   whatever the directory's permissions.
//! - An `open-at` that finds a directory where the granted file was (it was
//!   replaced since load) is closed again and refused.
//! - Listing the directory and every change to its entries (create, link,
//!   rename, symlink, unlink, remove, and setting the directory's own times)
//!   are refused: the grant is the file's content, not its directory.
//! - The directory's own `stat`, `metadata-hash` and `get-flags` describe the
//!   view (one link, no times, a fixed hash, not mutable), so they cannot
//!   reveal what else the real directory holds or when it changed.
//!
//! Directories opened any other way are not affected: the shadows delegate
//! to Wasmtime's own implementation, after one table lookup and a comparison
//! against the call's (usually empty) list of gated directories.
//!
//! A gated directory is recognised by the address of its open directory
//! handle, recorded when the guest asks for its preopens. The handle lives in
//! the call's `WasiCtx` for the whole call, so the address cannot be reused by
//! another directory while the call runs.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntryStream, ErrorCode,
    HostDescriptor, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};

use crate::DirIdentity;
use crate::call::CallState;

/// The granted files of one directory, and where the guest finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// The directory on the host that holds the files (absolute, real).
    pub host_dir: PathBuf,
    /// Where the guest finds that directory.
    pub guest_dir: String,
    /// What `host_dir` was when the policy was compiled.
    pub identity: DirIdentity,
    /// The files, each at most once.
    pub files: Vec<GrantedFile>,
}

/// One granted file in a [`FileView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedFile {
    /// The name the guest uses (the last component of the policy's path).
    pub guest_name: String,
    /// The real file's name in `host_dir` (differs when the policy's path is
    /// a symlink).
    pub host_name: String,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

impl FileView {
    /// Whether any file of the view may be written: the directory's
    /// permissions, which each file then narrows.
    pub(crate) fn any_writable(&self) -> bool {
        self.files.iter().any(|f| f.writable)
    }

    /// The granted file a guest path names, if it names one.
    /// Only `name` and `./name` (as wasi-libc may write it): anything else
    /// (absolute, `..`, a trailing `/`, a subpath) names no granted file.
    fn lookup(&self, path: &str) -> Option<&GrantedFile> {
        let name = path.strip_prefix("./").unwrap_or(path);
        self.files.iter().find(|f| f.guest_name == name)
    }
}

/// A path-taking filesystem call through a single-file view that weld
/// refused: one of the policy denials weld can observe (inside a granted
/// directory tree, Wasmtime decides alone and nothing is observed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDenial {
    /// The `wasi:filesystem` method, e.g. `open-at`.
    pub op: &'static str,
    /// The path as the tool named it, joined to the view's directory.
    pub path: String,
    /// The WASI error code the tool got, e.g. `no-entry`.
    pub error: &'static str,
}

/// Denials kept per call; more are counted, so a tool probing in a loop
/// cannot grow the audit record without bound.
const MAX_DENIALS: usize = 256;

/// The longest path kept in a [`FileDenial`]: the guest chooses the path,
/// and 256 denials of a path of many megabytes each must not become the
/// host's memory problem.
const MAX_DENIED_PATH: usize = 512;

/// `path`, cut to [`MAX_DENIED_PATH`] bytes (at a character boundary) with
/// its full length said, when longer.
fn shorten(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= MAX_DENIED_PATH {
        return path.into();
    }
    let mut end = MAX_DENIED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &path[..end], path.len()).into()
}

/// The call's gated directories: the views granted, the handles found for
/// them, and what was refused through them.
#[derive(Default)]
pub(crate) struct GatedDirs {
    /// The call's directory grants, for the identity their handles must have.
    preopens: Arc<[crate::Preopen]>,
    views: Arc<[Arc<FileView>]>,
    /// (address of the open directory handle, index into `views`).
    handles: Vec<(usize, usize)>,
    denials: Vec<FileDenial>,
    dropped: u64,
}

impl GatedDirs {
    pub(crate) fn new(preopens: Arc<[crate::Preopen]>, views: Arc<[Arc<FileView>]>) -> Self {
        Self {
            preopens,
            views,
            handles: Vec::new(),
            denials: Vec::new(),
            dropped: 0,
        }
    }

    /// The identity the preopen named `guest` must have.
    fn expected(&self, guest: &str) -> Option<DirIdentity> {
        self.preopens
            .iter()
            .find(|p| p.guest == guest)
            .map(|p| p.identity)
            .or_else(|| {
                self.views
                    .iter()
                    .find(|v| v.guest_dir == guest)
                    .map(|v| v.identity)
            })
    }

    /// The denials recorded, and how many more were not kept.
    pub(crate) fn take_denials(&mut self) -> (Vec<FileDenial>, u64) {
        (std::mem::take(&mut self.denials), self.dropped)
    }

    /// Records a refusal and returns the error the guest gets.
    fn deny<T>(
        &mut self,
        view: &FileView,
        op: &'static str,
        path: &str,
        error: ErrorCode,
    ) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
        self.record(view, op, path, error);
        Ok((Err(error),))
    }

    /// Records a refusal.
    fn record(&mut self, view: &FileView, op: &'static str, path: &str, error: ErrorCode) {
        if self.denials.len() < MAX_DENIALS {
            let path = if path.is_empty() {
                view.guest_dir.clone()
            } else {
                format!("{}/{}", view.guest_dir.trim_end_matches('/'), shorten(path))
            };
            self.denials.push(FileDenial {
                op,
                path,
                error: error.name(),
            });
        } else {
            self.dropped += 1;
        }
    }
}

/// The view `fd` is the gated directory of, if it is one.
fn gated(state: &mut CallState, fd: &Resource<Descriptor>) -> Option<Arc<FileView>> {
    if state.files.handles.is_empty() {
        return None;
    }
    let Ok(Descriptor::Dir(dir)) = state.table.get(fd) else {
        return None;
    };
    let address = Arc::as_ptr(&dir.dir) as usize;
    let index = state.files.handles.iter().find(|(a, _)| *a == address)?.1;
    state.files.views.get(index).cloned()
}

/// Where a path-taking call through `fd` goes: on to Wasmtime with these
/// path flags and this (host) name, or refused with this code (and
/// recorded). Outside a view, unchanged.
enum Route {
    Pass(PathFlags, String),
    Refused(ErrorCode),
}

fn route(
    state: &mut CallState,
    fd: &Resource<Descriptor>,
    op: &'static str,
    path_flags: PathFlags,
    path: String,
    writes: bool,
) -> Route {
    let Some(view) = gated(state, fd) else {
        return Route::Pass(path_flags, path);
    };
    let code = match view.lookup(&path) {
        Some(file) if !writes || file.writable => {
            return Route::Pass(no_follow(), file.host_name.clone());
        }
        Some(_) => ErrorCode::NotPermitted,
        None => ErrorCode::NoEntry,
    };
    state.files.record(&view, op, &path, code);
    Route::Refused(code)
}

/// A Wasmtime filesystem result as the WIT `result<T, error-code>`; a
/// non-`error-code` failure stays a trap, as in Wasmtime's own bindings.
fn lower<T>(result: FsResult<T>) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => Ok(Err(error.downcast()?)),
    }
}

/// Path flags that never follow a symlink (`symlink-follow` is the only
/// path flag).
fn no_follow() -> PathFlags {
    PathFlags::empty()
}

type Reply<'a, R> = Box<dyn Future<Output = wasmtime::Result<(Result<R, ErrorCode>,)>> + Send + 'a>;

const TYPES: &str = "wasi:filesystem/types@0.2.12";
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// The functions [`gate_single_files`] replaces.
const SHADOWED: [&str; 16] = [
    "[method]descriptor.stat",
    "[method]descriptor.metadata-hash",
    "[method]descriptor.get-flags",
    "[method]descriptor.open-at",
    "[method]descriptor.stat-at",
    "[method]descriptor.metadata-hash-at",
    "[method]descriptor.readlink-at",
    "[method]descriptor.set-times-at",
    "[method]descriptor.read-directory",
    "[method]descriptor.set-times",
    "[method]descriptor.create-directory-at",
    "[method]descriptor.unlink-file-at",
    "[method]descriptor.remove-directory-at",
    "[method]descriptor.symlink-at",
    "[method]descriptor.link-at",
    "[method]descriptor.rename-at",
];

/// Fails unless Wasmtime already defines every one of `names` in
/// `instance`. A shadow under a misspelt name, or under an interface version
/// this Wasmtime no longer provides, would be a new definition nobody calls
/// (and the original would stay in force): weld refuses to start instead.
pub(crate) fn ensure_defined(
    linker: &mut Linker<CallState>,
    instance: &str,
    names: &[&str],
) -> wasmtime::Result<()> {
    linker.allow_shadowing(false);
    for name in names {
        let defined_again = linker
            .instance(instance)?
            .func_new(name, |_, _, _, _| Ok(()));
        if defined_again.is_ok() {
            wasmtime::bail!(
                "weld replaces `{instance}#{name}`, which this Wasmtime does not define; \
                 this weld was built against an incompatible Wasmtime"
            );
        }
    }
    Ok(())
}

/// Shadows the path-taking `wasi:filesystem` functions (see the module
/// docs). Must run after Wasmtime's WASI functions are added.
pub(crate) fn gate_single_files(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    ensure_defined(linker, PREOPENS, &["get-directories"])?;
    ensure_defined(linker, TYPES, &SHADOWED)?;
    linker.allow_shadowing(true);
    linker.instance(PREOPENS)?.func_wrap(
        "get-directories",
        |mut store: StoreContextMut<'_, CallState>, (): ()| {
            let state = store.data_mut();
            let dirs = preopens::Host::get_directories(&mut state.filesystem())?;
            for (fd, name) in &dirs {
                let Some(expected) = state.files.expected(name) else {
                    continue;
                };
                if let Ok(Descriptor::Dir(dir)) = state.table.get(fd) {
                    let found = dir.dir.metadata().map(|m| DirIdentity::from_metadata(&m));
                    if found.ok() != Some(expected) {
                        return Err(wasmtime::Error::new(crate::call::GrantMoved {
                            guest: name.clone(),
                        }));
                    }
                }
            }
            if !state.files.views.is_empty() {
                let mut found = Vec::new();
                for (fd, name) in &dirs {
                    let index = state.files.views.iter().position(|v| v.guest_dir == *name);
                    if let (Some(index), Ok(Descriptor::Dir(dir))) = (index, state.table.get(fd)) {
                        found.push((Arc::as_ptr(&dir.dir) as usize, index));
                    }
                }
                for handle in found {
                    if !state.files.handles.contains(&handle) {
                        state.files.handles.push(handle);
                    }
                }
            }
            Ok((dirs,))
        },
    )?;

    let mut types = linker.instance(TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )|
         -> Reply<'_, Resource<Descriptor>> {
            Box::new(async move {
                let state = store.data_mut();
                let Some(view) = gated(state, &fd) else {
                    let mut fs = state.filesystem();
                    return Ok((lower(
                        fs.open_at(fd, path_flags, path, oflags, flags).await,
                    )?,));
                };
                const OP: &str = "open-at";
                let Some(file) = view.lookup(&path) else {
                    return state.files.deny(&view, OP, &path, ErrorCode::NoEntry);
                };
                if oflags.contains(OpenFlags::DIRECTORY) {
                    return state.files.deny(&view, OP, &path, ErrorCode::NotDirectory);
                }
                let writes = oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
                    || flags.contains(DescriptorFlags::WRITE);
                if writes && !file.writable {
                    return state.files.deny(&view, OP, &path, ErrorCode::NotPermitted);
                }
                // Only a regular file (or nothing yet, to create): opening a
                // FIFO someone put in its place would block a host thread
                // until a writer came along. Opening re-checks below, since
                // the name may change between the two calls.
                let mut fs = state.filesystem();
                let probe = Resource::<Descriptor>::new_borrow(fd.rep());
                match lower(fs.stat_at(probe, no_follow(), file.host_name.clone()).await)? {
                    Ok(stat) if stat.type_ != DescriptorType::RegularFile => {
                        return state.files.deny(&view, OP, &path, ErrorCode::NoEntry);
                    }
                    _ => {}
                }
                let mut fs = state.filesystem();
                let opened = fs
                    .open_at(fd, no_follow(), file.host_name.clone(), oflags, flags)
                    .await;
                let opened = match lower(opened)? {
                    Ok(opened) => opened,
                    Err(code) => return Ok((Err(code),)),
                };
                match fs.table.get_mut(&opened)? {
                    Descriptor::File(f) => {
                        if !file.writable {
                            f.perms = FsPerms::ReadOnly;
                        }
                        Ok((Ok(opened),))
                    }
                    Descriptor::Dir(_) => {
                        // The granted file was replaced by a directory since
                        // the policy was compiled; its contents were never
                        // granted.
                        fs.table.delete(opened)?;
                        state.files.deny(&view, OP, &path, ErrorCode::NoEntry)
                    }
                }
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String)|
         -> Reply<'_, DescriptorStat> {
            Box::new(async move {
                let state = store.data_mut();
                let (path_flags, path) = match route(state, &fd, "stat-at", path_flags, path, false)
                {
                    Route::Pass(flags, path) => (flags, path),
                    Route::Refused(code) => return Ok((Err(code),)),
                };
                Ok((lower(
                    state.filesystem().stat_at(fd, path_flags, path).await,
                )?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.metadata-hash-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String)|
         -> Reply<'_, MetadataHashValue> {
            Box::new(async move {
                let state = store.data_mut();
                let (path_flags, path) =
                    match route(state, &fd, "metadata-hash-at", path_flags, path, false) {
                        Route::Pass(flags, path) => (flags, path),
                        Route::Refused(code) => return Ok((Err(code),)),
                    };
                let mut fs = state.filesystem();
                Ok((lower(fs.metadata_hash_at(fd, path_flags, path).await)?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.readlink-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, path): (Resource<Descriptor>, String)|
         -> Reply<'_, String> {
            Box::new(async move {
                let state = store.data_mut();
                let path = match route(state, &fd, "readlink-at", no_follow(), path, false) {
                    Route::Pass(_, path) => path,
                    Route::Refused(code) => return Ok((Err(code),)),
                };
                Ok((lower(state.filesystem().readlink_at(fd, path).await)?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.set-times-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, path_flags, path, atim, mtim): (
            Resource<Descriptor>,
            PathFlags,
            String,
            NewTimestamp,
            NewTimestamp,
        )|
         -> Reply<'_, ()> {
            Box::new(async move {
                let state = store.data_mut();
                let (path_flags, path) =
                    match route(state, &fd, "set-times-at", path_flags, path, true) {
                        Route::Pass(flags, path) => (flags, path),
                        Route::Refused(code) => return Ok((Err(code),)),
                    };
                let mut fs = state.filesystem();
                Ok((lower(
                    fs.set_times_at(fd, path_flags, path, atim, mtim).await,
                )?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.read-directory",
        |mut store: StoreContextMut<'_, CallState>,
         (fd,): (Resource<Descriptor>,)|
         -> Reply<'_, Resource<DirectoryEntryStream>> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    return state
                        .files
                        .deny(&view, "read-directory", "", ErrorCode::Access);
                }
                Ok((lower(state.filesystem().read_directory(fd).await)?,))
            })
        },
    )?;

    // The view directory's own metadata would say how many subdirectories
    // it has (link count) and when an entry last changed (times, size,
    // metadata hash): answer with what the view shows instead.
    types.func_wrap_async(
        "[method]descriptor.stat",
        |mut store: StoreContextMut<'_, CallState>,
         (fd,): (Resource<Descriptor>,)|
         -> Reply<'_, DescriptorStat> {
            Box::new(async move {
                let state = store.data_mut();
                let gated = gated(state, &fd).is_some();
                let stat = lower(state.filesystem().stat(fd).await)?;
                Ok((stat.map(|stat| {
                    if !gated {
                        return stat;
                    }
                    DescriptorStat {
                        link_count: 1,
                        size: 0,
                        data_access_timestamp: None,
                        data_modification_timestamp: None,
                        status_change_timestamp: None,
                        ..stat
                    }
                }),))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.metadata-hash",
        |mut store: StoreContextMut<'_, CallState>,
         (fd,): (Resource<Descriptor>,)|
         -> Reply<'_, MetadataHashValue> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    // Stable for the view and unrelated to its entries.
                    use std::hash::{Hash, Hasher};
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    (view.identity.dev, view.identity.ino).hash(&mut hasher);
                    let lower = hasher.finish();
                    view.guest_dir.hash(&mut hasher);
                    let upper = hasher.finish();
                    return Ok((Ok(MetadataHashValue { lower, upper }),));
                }
                Ok((lower(state.filesystem().metadata_hash(fd).await)?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.get-flags",
        |mut store: StoreContextMut<'_, CallState>,
         (fd,): (Resource<Descriptor>,)|
         -> Reply<'_, DescriptorFlags> {
            Box::new(async move {
                let state = store.data_mut();
                let gated = gated(state, &fd).is_some();
                let flags = lower(state.filesystem().get_flags(fd).await)?;
                // Nothing in a view can be created, renamed or removed.
                Ok((flags.map(|f| {
                    if gated {
                        f & !DescriptorFlags::MUTATE_DIRECTORY
                    } else {
                        f
                    }
                }),))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.set-times",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, atim, mtim): (Resource<Descriptor>, NewTimestamp, NewTimestamp)|
         -> Reply<'_, ()> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    return state
                        .files
                        .deny(&view, "set-times", "", ErrorCode::NotPermitted);
                }
                Ok((lower(state.filesystem().set_times(fd, atim, mtim).await)?,))
            })
        },
    )?;

    // The one-path entry changes: refused on a gated directory.
    macro_rules! refuse_on_gated {
        ($op:literal, $method:ident) => {
            types.func_wrap_async(
                concat!("[method]descriptor.", $op),
                |mut store: StoreContextMut<'_, CallState>,
                 (fd, path): (Resource<Descriptor>, String)|
                 -> Reply<'_, ()> {
                    Box::new(async move {
                        let state = store.data_mut();
                        if let Some(view) = gated(state, &fd) {
                            return state.files.deny(&view, $op, &path, ErrorCode::NotPermitted);
                        }
                        Ok((lower(state.filesystem().$method(fd, path).await)?,))
                    })
                },
            )?;
        };
    }
    refuse_on_gated!("create-directory-at", create_directory_at);
    refuse_on_gated!("unlink-file-at", unlink_file_at);
    refuse_on_gated!("remove-directory-at", remove_directory_at);

    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, old_path, new_path): (Resource<Descriptor>, String, String)|
         -> Reply<'_, ()> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    return state.files.deny(
                        &view,
                        "symlink-at",
                        &new_path,
                        ErrorCode::NotPermitted,
                    );
                }
                let mut fs = state.filesystem();
                Ok((lower(fs.symlink_at(fd, old_path, new_path).await)?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, old_flags, old_path, new_fd, new_path): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )|
         -> Reply<'_, ()> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    return state
                        .files
                        .deny(&view, "link-at", &old_path, ErrorCode::NotPermitted);
                }
                if let Some(view) = gated(state, &new_fd) {
                    return state
                        .files
                        .deny(&view, "link-at", &new_path, ErrorCode::NotPermitted);
                }
                let mut fs = state.filesystem();
                Ok((lower(
                    fs.link_at(fd, old_flags, old_path, new_fd, new_path).await,
                )?,))
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, old_path, new_fd, new_path): (
            Resource<Descriptor>,
            String,
            Resource<Descriptor>,
            String,
        )|
         -> Reply<'_, ()> {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(view) = gated(state, &fd) {
                    return state.files.deny(
                        &view,
                        "rename-at",
                        &old_path,
                        ErrorCode::NotPermitted,
                    );
                }
                if let Some(view) = gated(state, &new_fd) {
                    return state.files.deny(
                        &view,
                        "rename-at",
                        &new_path,
                        ErrorCode::NotPermitted,
                    );
                }
                let mut fs = state.filesystem();
                Ok((lower(fs.rename_at(fd, old_path, new_fd, new_path).await)?,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> FileView {
        FileView {
            host_dir: PathBuf::from("/real"),
            guest_dir: "/notes".into(),
            identity: DirIdentity { dev: 0, ino: 0 },
            files: vec![GrantedFile {
                guest_name: "todo.md".into(),
                host_name: "real-todo.md".into(),
                writable: false,
            }],
        }
    }

    #[test]
    fn every_shadow_replaces_a_function_wasmtime_defines_and_a_typo_is_caught() {
        let engine = wasmtime::Engine::default();
        let mut linker: Linker<CallState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        ensure_defined(&mut linker, TYPES, &SHADOWED).expect("all defined");
        ensure_defined(&mut linker, PREOPENS, &["get-directories"]).expect("defined");
        assert!(ensure_defined(&mut linker, TYPES, &["[method]descriptor.open_at"]).is_err());
        assert!(
            ensure_defined(
                &mut linker,
                "wasi:filesystem/types@0.2.11",
                &["[method]descriptor.open-at"]
            )
            .is_err()
        );
    }

    #[test]
    fn a_denied_path_is_kept_short_whatever_the_guest_sends() {
        let long = "é".repeat(10_000);
        let kept = shorten(&long);
        assert!(kept.len() < MAX_DENIED_PATH + 32, "{}", kept.len());
        assert!(kept.ends_with("… (20000 bytes)"), "{kept}");
        assert_eq!(shorten("diary.md"), "diary.md");
    }

    #[test]
    fn only_a_granted_name_is_found_in_a_gated_directory() {
        let view = view();
        for path in ["todo.md", "./todo.md"] {
            assert_eq!(
                view.lookup(path).map(|f| f.host_name.as_str()),
                Some("real-todo.md"),
                "{path}"
            );
        }
        for path in [
            "",
            ".",
            "..",
            "../todo.md",
            "other.md",
            "sub/todo.md",
            "todo.md/..",
            "real-todo.md",
            "/todo.md",
            "todo.md/",
            ".//todo.md",
            "././todo.md",
        ] {
            assert!(view.lookup(path).is_none(), "{path}");
        }
    }
}
