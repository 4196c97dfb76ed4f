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
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// Directories the guest sees, each opened afresh for every call.
    /// Shared, so a call takes them without copying.
    pub preopens: Arc<[Preopen]>,
    /// Environment variables the guest sees, values already resolved.
    pub env: Vec<(String, String)>,
    /// Single granted files, by the directory the guest finds them in.
    pub files: Arc<[Arc<FileView>]>,
    /// What the guest may reach over the network; empty denies everything.
    pub network: NetworkGrant,
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
    /// The directory on the host (absolute, symlinks resolved).
    pub host: PathBuf,
    /// Where the guest finds it.
    pub guest: String,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
    /// What `host` was when the policy was compiled; see [`DirIdentity`].
    pub identity: DirIdentity,
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
    pub(crate) fn lookup(&self, path: &str) -> Option<&GrantedFile> {
        let name = path.strip_prefix("./").unwrap_or(path);
        self.files.iter().find(|f| f.guest_name == name)
    }
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
