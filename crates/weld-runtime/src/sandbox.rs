//! What one call may reach and use: the [`Sandbox`] (directories, single
//! files, environment, network) and the per-call [`CallLimits`].
//!
//! Both are worked out from a tool's policy when the tool is loaded, never
//! on the call path; the shadows in `wasi/` and the steps in `call/` only
//! read them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use weld_policy::NetworkRules;

/// Per-call limits.
///
/// Each one stops a guest-controlled resource exhaustion: `memory` a guest
/// growing its heap until the host swaps or dies, `timeout` a guest that never
/// returns, `log_capture` a guest printing without end. `fuel` bounds the
/// work itself, the same for every run of the same call, whatever the load
/// of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Total bytes of linear memory (all memories of the instance together).
    pub memory: u64,
    /// Wall-clock time from the start of instantiation.
    pub timeout: Duration,
    /// Fuel for instantiation and the call together (Wasmtime fuel: about
    /// one unit per WebAssembly instruction; host calls cost none). Set
    /// exactly when the component was loaded with
    /// [`Metering::Fuel`](crate::Metering::Fuel).
    pub fuel: Option<u64>,
    /// Bytes of stdout and of stderr kept for the log; the rest is counted
    /// and dropped.
    pub log_capture: usize,
    /// Caps on each outbound HTTP request.
    pub http: HttpLimits,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            memory: 256 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            fuel: None,
            log_capture: 64 * 1024,
            http: HttpLimits::default(),
        }
    }
}

/// Caps on one outbound HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest response body, in bytes; a larger one fails the body stream.
    pub response_bytes: u64,
    /// Longest wait to connect (DNS, TCP, TLS), for the response headers,
    /// and between two pieces of the body. A tool may ask for less, not more.
    pub timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            response_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What a call may reach beyond the deny-all default, worked out from the
/// tool's policy when the tool is loaded. Its `Debug` shows variable names,
/// never values (they may be secrets).
///
/// [`Sandbox::default`] (and a [`SandboxBuilder`] given nothing) grants
/// nothing: no directory, no file, no environment variable, no network.
/// Each grant is an explicit call on the builder. Whatever it grants, the
/// guest also finds an empty directory at `/` (unless a grant sits there):
/// every path no grant covers reaches it and is refused there, and recorded
/// in the call's [`CallStats::storage_denied`](crate::CallStats::storage_denied).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// Shared, so a call takes them without copying.
    preopens: Arc<[Preopen]>,
    /// Shared, so a call takes them without copying (its environment and
    /// its `wasi:config/store`).
    env: Arc<[(String, String)]>,
    files: Arc<[Arc<FileView>]>,
    network: NetworkGrant,
    /// Whether a grant sits at `/` itself: then it is what the guest finds
    /// there, and no empty root is added.
    grant_at_root: bool,
}

impl Sandbox {
    /// A builder starting from the deny-all sandbox.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// Directories the guest sees, each opened afresh for every call.
    pub fn preopens(&self) -> &Arc<[Preopen]> {
        &self.preopens
    }

    /// Environment variables the guest sees, values already resolved: its
    /// environment, and the values of its `wasi:config/store`.
    pub fn env(&self) -> &Arc<[(String, String)]> {
        &self.env
    }

    /// Single granted files, by the directory the guest finds them in.
    pub fn files(&self) -> &Arc<[Arc<FileView>]> {
        &self.files
    }

    /// What the guest may reach over the network; empty denies everything.
    pub fn network(&self) -> &NetworkGrant {
        &self.network
    }

    /// Whether a call shows the guest the empty root at `/` (see
    /// `wasi::files::root`): unless a grant sits there itself.
    pub(crate) fn shows_empty_root(&self) -> bool {
        !self.grant_at_root
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("preopens", &self.preopens)
            .field("files", &self.files)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("network", &self.network)
            .finish()
    }
}

/// Builds a [`Sandbox`], one grant at a time, from nothing.
#[derive(Default)]
pub struct SandboxBuilder {
    preopens: Vec<Preopen>,
    env: Vec<(String, String)>,
    files: Vec<FileView>,
    network: NetworkGrant,
}

impl SandboxBuilder {
    /// Grants the directory `dir`.
    pub fn preopened_dir(&mut self, dir: Preopen) -> &mut Self {
        self.preopens.push(dir);
        self
    }

    /// Grants the files of `view`, through their own view of their
    /// directory (see [`FileView`]).
    pub fn file_view(&mut self, view: FileView) -> &mut Self {
        self.files.push(view);
        self
    }

    /// Sets the environment variable `key` to `value` for the guest.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// What the guest may reach over the network.
    pub fn network(&mut self, grant: NetworkGrant) -> &mut Self {
        self.network = grant;
        self
    }

    /// The sandbox.
    ///
    /// # Errors
    ///
    /// When two grants would appear at the same place in the guest (two
    /// directories, or a directory and a file view): the guest would see
    /// only one of them, and the identity check could not tell which.
    pub fn build(self) -> Result<Sandbox, SandboxError> {
        let guests = self
            .preopens
            .iter()
            .map(|p| p.guest.as_str())
            .chain(self.files.iter().map(|v| v.guest_dir.as_str()));
        let mut seen = std::collections::HashSet::new();
        for guest in guests {
            if !seen.insert(guest) {
                return Err(SandboxError::SamePlace {
                    guest: guest.to_string(),
                });
            }
        }
        let grant_at_root = seen.contains(crate::wasi::files::ROOT);
        Ok(Sandbox {
            preopens: self.preopens.into(),
            env: self.env.into(),
            files: self.files.into_iter().map(Arc::new).collect(),
            network: self.network,
            grant_at_root,
        })
    }
}

/// A grant a [`Sandbox`] cannot hold as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// A host path that is not absolute.
    #[error("the granted path {} is not absolute", .path.display())]
    NotAbsolute {
        /// The path.
        path: PathBuf,
    },
    /// A file name that is not one plain name in its directory.
    #[error("the granted file name `{name}` is not a plain name (no `/`, not `.` or `..`)")]
    NotAName {
        /// The name.
        name: String,
    },
    /// Two grants at the same place in the guest.
    #[error("two grants appear at {guest} in the tool's view; grant each place once")]
    SamePlace {
        /// The guest path.
        guest: String,
    },
}

/// A tool's network rules, with what they mean for WASI's socket setup
/// worked out once, when the tool is loaded, instead of on every call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkGrant {
    rules: Arc<NetworkRules>,
    tcp: bool,
    udp: bool,
}

impl NetworkGrant {
    /// The grant `rules` make: TCP and UDP sockets are enabled only when
    /// some rule allows that scheme.
    pub fn new(rules: NetworkRules) -> Self {
        let grants = |scheme: weld_policy::Scheme| {
            rules.allow().iter().any(|a| a.schemes().contains(&scheme))
        };
        let (tcp, udp) = (
            grants(weld_policy::Scheme::Tcp),
            grants(weld_policy::Scheme::Udp),
        );
        Self {
            rules: Arc::new(rules),
            tcp,
            udp,
        }
    }

    /// The rules every request, socket and lookup is checked against.
    pub fn rules(&self) -> &Arc<NetworkRules> {
        &self.rules
    }

    /// Whether some rule allows TCP (else WASI's TCP sockets are off).
    pub(crate) fn tcp(&self) -> bool {
        self.tcp
    }

    /// Whether some rule allows UDP (else WASI's UDP sockets are off).
    pub(crate) fn udp(&self) -> bool {
        self.udp
    }
}

/// One granted directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    host: PathBuf,
    guest: String,
    writable: bool,
    identity: DirIdentity,
}

impl Preopen {
    /// The directory `host` (absolute, symlinks resolved), shown to the
    /// guest at `guest`, read-write when `writable`, which must still be
    /// the directory `identity` names when a call opens it (see
    /// [`DirIdentity`]; the policy pins it when a person grants it).
    ///
    /// # Errors
    ///
    /// When `host` is not absolute.
    pub fn new(
        host: PathBuf,
        guest: String,
        writable: bool,
        identity: DirIdentity,
    ) -> Result<Self, SandboxError> {
        if !host.is_absolute() {
            return Err(SandboxError::NotAbsolute { path: host });
        }
        Ok(Self {
            host,
            guest,
            writable,
            identity,
        })
    }

    /// The directory on the host.
    pub fn host(&self) -> &std::path::Path {
        &self.host
    }

    /// Where the guest finds it.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// Read-write when true, read-only otherwise.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// What `host` must still be when a call opens it.
    pub fn identity(&self) -> DirIdentity {
        self.identity
    }
}

/// A directory's device and inode numbers.
///
/// WASI opens a preopened directory by its path for every call, following
/// symlinks on the way. Something with write access to a directory on that
/// path (another tool with a read-write grant, or any process) could swap a
/// component for a symlink and make the path lead elsewhere. So the identity
/// is recorded when the policy is compiled, and the directory handle each
/// call actually opened is checked against it before the guest can use it:
/// a call that would get another directory is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirIdentity {
    /// The device number.
    pub dev: u64,
    /// The inode number on that device.
    pub ino: u64,
}

impl DirIdentity {
    /// The identity of the directory `path` names now.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub fn of(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    pub(crate) fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The granted files of one directory, and where the guest finds them.
///
/// The guest sees the directory holding only these files (see the
/// `wasi::files` module): each at most once, by a plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    host_dir: PathBuf,
    guest_dir: String,
    identity: DirIdentity,
    files: Vec<GrantedFile>,
}

impl FileView {
    /// An empty view of `host_dir` (absolute, real), shown to the guest at
    /// `guest_dir`, which must still be the directory `identity` names when
    /// a call opens it.
    ///
    /// # Errors
    ///
    /// When `host_dir` is not absolute.
    pub fn new(
        host_dir: PathBuf,
        guest_dir: String,
        identity: DirIdentity,
    ) -> Result<Self, SandboxError> {
        if !host_dir.is_absolute() {
            return Err(SandboxError::NotAbsolute { path: host_dir });
        }
        Ok(Self {
            host_dir,
            guest_dir,
            identity,
            files: Vec::new(),
        })
    }

    /// Adds `file`; a file already in the view under the same guest name
    /// becomes read-write if either grant is.
    pub fn add(&mut self, file: GrantedFile) -> &mut Self {
        match self
            .files
            .iter_mut()
            .find(|f| f.guest_name == file.guest_name)
        {
            Some(same) => same.writable |= file.writable,
            None => self.files.push(file),
        }
        self
    }

    /// The directory on the host that holds the files.
    pub fn host_dir(&self) -> &std::path::Path {
        &self.host_dir
    }

    /// Where the guest finds that directory.
    pub fn guest_dir(&self) -> &str {
        &self.guest_dir
    }

    /// What `host_dir` must still be when a call opens it.
    pub fn identity(&self) -> DirIdentity {
        self.identity
    }

    /// The files, each at most once.
    pub fn files(&self) -> &[GrantedFile] {
        &self.files
    }

    /// Whether any file of the view may be written: the directory's
    /// permissions, which each file then narrows.
    pub(crate) fn any_writable(&self) -> bool {
        self.files.iter().any(|f| f.writable)
    }

    /// The granted file a guest path names, if it names one.
    /// Only `name` and `./name` (as wasi-libc may write it): anything else
    /// (absolute, `..`, a trailing `/`, a subpath) names no granted file.
    pub(crate) fn lookup(&self, path: &str) -> Option<&GrantedFile> {
        let name = path.strip_prefix("./").unwrap_or(path);
        self.files.iter().find(|f| f.guest_name == name)
    }
}

/// One granted file in a [`FileView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedFile {
    guest_name: String,
    host_name: String,
    writable: bool,
}

impl GrantedFile {
    /// The file `host_name` in its view's host directory, shown to the
    /// guest as `guest_name` (they differ when the policy's path is a
    /// symlink), read-write when `writable`.
    ///
    /// # Errors
    ///
    /// When either name is not one plain name (empty, `.`, `..`, or with a
    /// `/`): a view holds files of its own directory only.
    pub fn new(
        guest_name: String,
        host_name: String,
        writable: bool,
    ) -> Result<Self, SandboxError> {
        for name in [&guest_name, &host_name] {
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return Err(SandboxError::NotAName { name: name.clone() });
            }
        }
        Ok(Self {
            guest_name,
            host_name,
            writable,
        })
    }

    /// The name the guest uses.
    pub fn guest_name(&self) -> &str {
        &self.guest_name
    }

    /// The real file's name in the view's host directory.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// Read-write when true, read-only otherwise.
    pub fn writable(&self) -> bool {
        self.writable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> FileView {
        let mut view = FileView::new(
            PathBuf::from("/real"),
            "/notes".into(),
            DirIdentity { dev: 0, ino: 0 },
        )
        .expect("absolute");
        view.add(GrantedFile::new("todo.md".into(), "real-todo.md".into(), false).expect("names"));
        view
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

    #[test]
    fn a_file_name_with_a_path_in_it_is_refused() {
        for name in ["", ".", "..", "a/b", "../x", "/etc"] {
            assert!(
                GrantedFile::new(name.into(), "ok".into(), false).is_err(),
                "{name}"
            );
            assert!(
                GrantedFile::new("ok".into(), name.into(), false).is_err(),
                "{name}"
            );
        }
        assert!(GrantedFile::new("todo.md".into(), "..todo".into(), true).is_ok());
    }

    #[test]
    fn a_relative_host_directory_is_refused() {
        let identity = DirIdentity { dev: 0, ino: 0 };
        assert!(Preopen::new("rel".into(), "/g".into(), false, identity).is_err());
        assert!(FileView::new("rel".into(), "/g".into(), identity).is_err());
    }

    #[test]
    fn a_file_granted_twice_is_one_file_writable_if_either_grant_is() {
        let mut view = view();
        view.add(GrantedFile::new("todo.md".into(), "real-todo.md".into(), true).expect("names"));
        assert_eq!(view.files().len(), 1);
        assert!(view.files()[0].writable());
    }

    #[test]
    fn the_empty_root_is_shown_unless_a_grant_sits_at_the_root_itself() {
        let identity = DirIdentity { dev: 0, ino: 0 };
        assert!(Sandbox::default().shows_empty_root());
        let mut builder = Sandbox::builder();
        builder.file_view(view());
        assert!(builder.build().expect("sandbox").shows_empty_root());
        // A file granted in `/` itself: its view is what the guest finds
        // there, and it refuses (and records) every other name already.
        let mut at_root =
            FileView::new(PathBuf::from("/real"), "/".into(), identity).expect("absolute");
        at_root.add(GrantedFile::new("x.txt".into(), "x.txt".into(), false).expect("names"));
        let mut builder = Sandbox::builder();
        builder.file_view(at_root);
        assert!(!builder.build().expect("sandbox").shows_empty_root());
    }

    #[test]
    fn two_grants_at_one_place_in_the_guest_are_refused() {
        let identity = DirIdentity { dev: 0, ino: 0 };
        let dir = Preopen::new("/a".into(), "/notes".into(), false, identity).expect("dir");
        let mut builder = Sandbox::builder();
        builder.preopened_dir(dir).file_view(view());
        assert!(matches!(
            builder.build(),
            Err(SandboxError::SamePlace { guest }) if guest == "/notes"
        ));
        let mut builder = Sandbox::builder();
        builder.file_view(view()).env("KEY", "value");
        let sandbox = builder.build().expect("one grant per place");
        assert_eq!(sandbox.files().len(), 1);
        assert_eq!(
            &sandbox.env()[..],
            [("KEY".to_string(), "value".to_string())]
        );
    }
}
