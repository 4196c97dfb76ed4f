//! Single-file grants, the empty root, and the check that a granted
//! directory is still the one the policy was compiled against.
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
//! The *empty root* every call finds at `/` is such a view with no file in
//! it (see `files/root.rs`): every path no grant covers reaches it, and is
//! refused and recorded there. Its own name (`.`) is the one exception:
//! `/` can be opened and described as an empty directory, never listed.
//!
//! Directories opened any other way are not affected: the shadows delegate
//! to Wasmtime's own implementation, after one table lookup and a comparison
//! against the call's short list of gated directories.
//!
//! A gated directory is recognised by the address of its open directory
//! handle, recorded when the guest asks for its preopens. The handle lives in
//! the call's `WasiCtx` for the whole call, so the address cannot be reused by
//! another directory while the call runs.
//!
//! The shadows (one function per method, in `files/shadows.rs`) are written
//! against [`GatedFsView`], not against the call's store data, so this
//! module knows nothing of how a call is put together.

mod root;
mod shadows;

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::{ErrorCode, PathFlags};

pub(crate) use root::{EmptyRoot, ROOT};

use crate::sandbox::{DirIdentity, FileView, Preopen};
use crate::wasi::shadow::{replace, replace_async};

/// What the file shadows need of a call's store data: WASI itself, and the
/// call's gated directories.
pub(crate) trait GatedFsView: WasiView + 'static {
    /// The call's gated directories.
    fn gated(&mut self) -> &mut GatedDirs;
}

/// A path-taking filesystem call through a single-file view or the empty
/// root that weld refused: one of the policy denials weld can observe
/// (inside a granted directory tree, Wasmtime decides alone and nothing is
/// observed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDenial {
    /// The `wasi:filesystem` method, e.g. `open-at`.
    pub op: &'static str,
    /// The path as the tool named it, joined to the view's directory.
    pub path: String,
    /// The WASI error code the tool got, e.g. `no-entry`.
    pub error: &'static str,
}

/// Raised when a preopened directory's handle is not the directory the
/// policy was compiled against (see [`DirIdentity`]).
#[derive(Debug)]
pub(crate) struct GrantMoved {
    pub(crate) guest: String,
}

impl std::fmt::Display for GrantMoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the granted directory {} was replaced", self.guest)
    }
}

impl std::error::Error for GrantMoved {}

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

/// What was refused through an instance's gated directories, shared so
/// that a long-lived instance's (`crate::command`) can be taken between
/// the requests it serves while it runs.
#[derive(Clone, Default)]
pub(crate) struct DenialLog(Arc<Mutex<Denials>>);

#[derive(Default)]
struct Denials {
    kept: Vec<FileDenial>,
    dropped: u64,
}

impl DenialLog {
    /// The denials recorded since the last take, and how many more were
    /// not kept.
    pub(crate) fn take(&self) -> (Vec<FileDenial>, u64) {
        let mut denials = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let dropped = std::mem::take(&mut denials.dropped);
        (std::mem::take(&mut denials.kept), dropped)
    }
}

/// The call's gated directories: the views granted, the empty root, the
/// handles found for them, and what was refused through them.
#[derive(Default)]
pub(crate) struct GatedDirs {
    /// The call's directory grants, for the identity their handles must have.
    preopens: Arc<[Preopen]>,
    views: Arc<[Arc<FileView>]>,
    /// The empty root the guest finds at `/`, when no grant sits there.
    root: Option<Arc<EmptyRoot>>,
    /// (address of the open directory handle, the view it shows).
    handles: Vec<(usize, Arc<FileView>)>,
    denials: DenialLog,
}

impl GatedDirs {
    pub(crate) fn new(
        preopens: Arc<[Preopen]>,
        views: Arc<[Arc<FileView>]>,
        root: Option<Arc<EmptyRoot>>,
    ) -> Self {
        Self {
            preopens,
            views,
            root,
            handles: Vec::new(),
            denials: DenialLog::default(),
        }
    }

    /// The identity the preopen named `guest` must have.
    fn expected(&self, guest: &str) -> Option<DirIdentity> {
        self.preopens
            .iter()
            .find(|p| p.guest() == guest)
            .map(Preopen::identity)
            .or_else(|| {
                self.views
                    .iter()
                    .find(|v| v.guest_dir() == guest)
                    .map(|v| v.identity())
            })
    }

    /// Remembers the handle at `address` as the gated directory of the view
    /// the guest finds at `guest`, if one is.
    fn found(&mut self, address: usize, guest: &str) {
        let Some(view) = self.views.iter().find(|v| v.guest_dir() == guest) else {
            return;
        };
        let view = Arc::clone(view);
        self.gate(address, view);
    }

    /// The empty root this call shows at `/`, if it shows one.
    fn root(&self) -> Option<Arc<EmptyRoot>> {
        self.root.clone()
    }

    /// Remembers the handle at `address` as showing `view`.
    fn gate(&mut self, address: usize, view: Arc<FileView>) {
        if !self.handles.iter().any(|(a, _)| *a == address) {
            self.handles.push((address, view));
        }
    }

    /// The view whose gated directory is the handle at `address`.
    fn view_at(&self, address: usize) -> Option<Arc<FileView>> {
        let (_, view) = self.handles.iter().find(|(a, _)| *a == address)?;
        Some(Arc::clone(view))
    }

    /// The denials recorded, and how many more were not kept.
    pub(crate) fn take_denials(&mut self) -> (Vec<FileDenial>, u64) {
        self.denials.take()
    }

    /// Where the denials are recorded.
    pub(crate) fn denial_log(&self) -> DenialLog {
        self.denials.clone()
    }

    /// Records a refusal.
    fn record(&mut self, view: &FileView, op: &'static str, path: &str, error: ErrorCode) {
        let mut denials = self
            .denials
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if denials.kept.len() < MAX_DENIALS {
            // `./` is how wasi-libc may write a name in the directory, and
            // `.` the directory itself: both are named as the tool knows
            // them.
            let path = without_dot_slash(path);
            let path = if names_itself(path) {
                view.guest_dir().to_string()
            } else {
                format!(
                    "{}/{}",
                    view.guest_dir().trim_end_matches('/'),
                    shorten(path)
                )
            };
            denials.kept.push(FileDenial {
                op,
                path,
                error: error.name(),
            });
        } else {
            denials.dropped += 1;
        }
    }
}

/// `path` without the `./` (and `.//`) it may start with.
fn without_dot_slash(mut path: &str) -> &str {
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.trim_start_matches('/');
    }
    path
}

/// Whether `path` names the directory it is relative to: `.`, `./`, or
/// nothing (wasi-libc's name for a preopen's own path is `.`).
fn names_itself(path: &str) -> bool {
    matches!(without_dot_slash(path).trim_end_matches('/'), "" | ".")
}

/// The empty root, when `path` through `fd` names it itself: the one path
/// through it that is not refused, since `/` exists, as an empty directory
/// (`stat("/")`, `opendir("/")` work; listing it is refused).
fn root_itself<T: GatedFsView>(
    state: &mut T,
    fd: &Resource<Descriptor>,
    path: &str,
) -> Option<Arc<EmptyRoot>> {
    if !names_itself(path) {
        return None;
    }
    let view = view_of(state, fd)?;
    let root = state.gated().root.clone()?;
    Arc::ptr_eq(root.view(), &view).then_some(root)
}

/// The view `fd` is the gated directory of, if it is one: the question
/// every shadow asks first. `None` means the shadow delegates to Wasmtime
/// unchanged.
fn view_of<T: GatedFsView>(state: &mut T, fd: &Resource<Descriptor>) -> Option<Arc<FileView>> {
    if state.gated().handles.is_empty() {
        return None;
    }
    let address = match state.ctx().table.get(fd) {
        Ok(Descriptor::Dir(dir)) => Arc::as_ptr(&dir.dir) as usize,
        _ => return None,
    };
    state.gated().view_at(address)
}

/// Records that `op` on `path` through `view` was refused with `code`, and
/// returns the code for the guest.
fn refuse<T: GatedFsView>(
    state: &mut T,
    view: &FileView,
    op: &'static str,
    path: &str,
    code: ErrorCode,
) -> ErrorCode {
    state.gated().record(view, op, path, code);
    code
}

/// For a method a view never allows (listing, changing entries): the code
/// the guest gets when `fd` is a gated directory (recorded), `None` when
/// the method goes on to Wasmtime.
fn refused_on_view<T: GatedFsView>(
    state: &mut T,
    fd: &Resource<Descriptor>,
    op: &'static str,
    path: &str,
) -> Option<ErrorCode> {
    let view = view_of(state, fd)?;
    Some(refuse(state, &view, op, path, ErrorCode::NotPermitted))
}

/// Whether a path-taking method only reads what the path names, or changes
/// it (then the granted file must be read-write).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// For a method taking a path relative to `fd`: outside a view, the path
/// and flags unchanged; in a view, the granted file's host name without
/// following symlinks, or the code the guest gets (recorded) when the path
/// names no granted file or one granted without the `access` needed.
fn route<T: GatedFsView>(
    state: &mut T,
    fd: &Resource<Descriptor>,
    op: &'static str,
    path_flags: PathFlags,
    path: String,
    access: Access,
) -> Result<(PathFlags, String), ErrorCode> {
    let Some(view) = view_of(state, fd) else {
        return Ok((path_flags, path));
    };
    let code = match view.lookup(&path) {
        Some(file) if access == Access::Read || file.writable() => {
            return Ok((no_follow(), file.host_name().to_string()));
        }
        Some(_) => ErrorCode::NotPermitted,
        None => ErrorCode::NoEntry,
    };
    Err(refuse(state, &view, op, &path, code))
}

/// Path flags that never follow a symlink (`symlink-follow` is the only
/// path flag).
fn no_follow() -> PathFlags {
    PathFlags::empty()
}

const TYPES: &str = "wasi:filesystem/types@0.2.12";
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Shadows `get-directories` (to check each granted directory's identity
/// and find the gated ones) and every path-taking `wasi:filesystem` method
/// (see the module docs). Must run after Wasmtime's WASI functions are
/// added; each shadow replaces a function Wasmtime defines, or weld refuses
/// to start.
pub(crate) fn gate_single_files<T: GatedFsView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use shadows::*;
    replace(linker, PREOPENS, "get-directories", |preopens, name| {
        preopens.func_wrap(name, get_directories)
    })?;
    let method = |name: &str| format!("[method]descriptor.{name}");
    // What the view shows of its directory.
    replace_async(linker, TYPES, &method("stat"), stat)?;
    replace_async(linker, TYPES, &method("metadata-hash"), metadata_hash)?;
    replace_async(linker, TYPES, &method("get-flags"), get_flags)?;
    // Paths into the view: granted names only.
    replace_async(linker, TYPES, &method("open-at"), open_at)?;
    replace_async(linker, TYPES, &method("stat-at"), stat_at)?;
    replace_async(linker, TYPES, &method("metadata-hash-at"), metadata_hash_at)?;
    replace_async(linker, TYPES, &method("readlink-at"), readlink_at)?;
    replace_async(linker, TYPES, &method("set-times-at"), set_times_at)?;
    // The directory itself: never listed, never changed.
    replace_async(linker, TYPES, &method("read-directory"), read_directory)?;
    replace_async(linker, TYPES, &method("set-times"), set_times)?;
    replace_async(
        linker,
        TYPES,
        &method("create-directory-at"),
        create_directory_at,
    )?;
    replace_async(linker, TYPES, &method("unlink-file-at"), unlink_file_at)?;
    replace_async(
        linker,
        TYPES,
        &method("remove-directory-at"),
        remove_directory_at,
    )?;
    replace_async(linker, TYPES, &method("symlink-at"), symlink_at)?;
    replace_async(linker, TYPES, &method("link-at"), link_at)?;
    replace_async(linker, TYPES, &method("rename-at"), rename_at)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::shadow::ensure_defined;

    /// Store data with nothing but WASI and gated directories.
    struct Bare {
        wasi: wasmtime_wasi::WasiCtx,
        table: wasmtime::component::ResourceTable,
        gated: GatedDirs,
    }

    impl WasiView for Bare {
        fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
            wasmtime_wasi::WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }

    impl GatedFsView for Bare {
        fn gated(&mut self) -> &mut GatedDirs {
            &mut self.gated
        }
    }

    #[test]
    fn every_shadow_replaces_a_function_wasmtime_defines_and_a_typo_is_caught() {
        let engine = wasmtime::Engine::default();
        let mut linker: Linker<Bare> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        gate_single_files(&mut linker).expect("every shadowed method is defined");
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
    fn a_shadow_of_a_function_wasmtime_does_not_define_refuses_to_link() {
        let engine = wasmtime::Engine::default();
        let mut linker: Linker<Bare> = Linker::new(&engine);
        // Without Wasmtime's WASI functions there is nothing to replace.
        assert!(gate_single_files(&mut linker).is_err());
    }

    #[test]
    fn a_denied_path_is_kept_short_whatever_the_guest_sends() {
        let long = "é".repeat(10_000);
        let kept = shorten(&long);
        assert!(kept.len() < MAX_DENIED_PATH + 32, "{}", kept.len());
        assert!(kept.ends_with("… (20000 bytes)"), "{kept}");
        assert_eq!(shorten("diary.md"), "diary.md");
    }
}
