//! One audit record per tool call: JSON lines in the state directory and a
//! `tracing` event (target `weld::audit`).
//!
//! Writing must never slow a call down or block it, so a call only builds
//! the record and hands it to a writer thread through a bounded channel; if
//! the writer falls behind by more than the channel holds, records are
//! dropped and counted, never waited for. The writer is not woken per record
//! — a cross-thread wake-up per call measurably slowed every call — but
//! drains the queue every few milliseconds into one `write`, so a record
//! reaches the file within [`PERIOD`].
//!
//! The log is opened without following a symbolic link and without blocking
//! (a named pipe with no reader would otherwise hang `weld serve` at start),
//! and must be a regular file.
//!
//! When records cannot be written (a full disk, an I/O error), the operator
//! chooses ([`AuditFailure`]): keep serving, or refuse tool calls until
//! writing works again. Either way every record lost is counted
//! ([`Audit::lost_records`]), the log says so (at once, then at most once a
//! minute while it lasts, and when it ends), and once writing works again a
//! `records_lost` record with the count goes into the file where the
//! missing ones would have been, so `weld audit` shows the gap. A write cut
//! short leaves a partial line, which the next write ends before going on,
//! so every other line stays a whole record.
//!
//! What is recorded: time, tool, component, digest, client (where known),
//! the arguments' size (never their content), time queued and running, peak
//! memory, fuel used (when the policy sets a budget), guest output sizes,
//! every network decision (HTTP request, each
//! address a name resolved to, socket connect or send, name lookup: host,
//! port, address, allowed or denied, and the rule that decided) and the
//! outcome; for the built-in policy tools, the change asked for and whether
//! it was applied, declined or refused; every path refused through a
//! single-file view (method, path, error code). What cannot be observed:
//! individual file opens inside a granted directory tree (Wasmtime decides
//! those alone), clock reads, and a socket the tool could not even create
//! because its policy grants no TCP (or UDP) at all — WASI refuses that
//! before an address exists to check.

mod proxied;
mod record;
#[cfg(test)]
mod tests;
mod writer;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use record::{AuditRecord, BuiltinRecord, NetworkDecision, StorageDenial, args_bytes};
pub(crate) use record::{CallRecord, Subject};
use writer::Writer;

use crate::outcome::Outcome;

/// How often the writer drains the queue.
pub const PERIOD: Duration = Duration::from_millis(20);

/// Records that may wait for the writer before new ones are dropped: room
/// for 800k calls a second at the drain period above.
const QUEUE: usize = 16 * 1024;

/// While records are being lost, the log says so at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What weld does while audit records cannot be written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditFailure {
    /// Serve on: count the records lost and log it (see the module doc).
    #[default]
    KeepServing,
    /// Refuse every tool call (a tool error saying why) from the moment the
    /// writer finds it cannot write until a write succeeds again (it
    /// retries every [`PERIOD`]). Calls already running or finished whose
    /// records were queued when the failure began are lost and counted, as
    /// with [`AuditFailure::KeepServing`]: records are written after the
    /// call, never before it.
    RefuseCalls,
}

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Something other than a regular file is at the log's path: weld
    /// refuses to write through a link, into a pipe or onto a device.
    #[error(
        "the audit log {path} is {kind}, not a regular file; weld writes audit records only to \
         a regular file (remove it and weld creates one)"
    )]
    NotRegular {
        /// The log's path.
        path: PathBuf,
        /// What is there instead, in words (`a symbolic link`, `a named pipe`).
        kind: &'static str,
    },
    /// The log could not be opened: to append to (created if missing), or
    /// to read back.
    #[error("could not open the audit log {path}")]
    Open {
        /// The log's path.
        path: PathBuf,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
    /// The log was opened but could not be read back as text (`weld audit`).
    #[error("could not read the audit log {path}")]
    Read {
        /// The log's path.
        path: PathBuf,
        /// Why reading failed (I/O, or text that is not UTF-8).
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started, so no record could be
    /// written.
    #[error("could not start the audit writer")]
    Spawn(#[source] std::io::Error),
}

enum Message {
    Record(Box<CallRecord>),
    Builtin(Box<BuiltinRecord>),
    Proxied(Box<crate::proxied::ProxiedRecord>),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Where audit records go. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: SyncSender<Message>,
    shared: Arc<Shared>,
}

/// What the callers and the writer thread both see.
struct Shared {
    path: PathBuf,
    failure: AuditFailure,
    /// Records lost so far, whatever the cause.
    lost: AtomicU64,
    /// Records dropped because the queue was full, not yet seen by the
    /// writer.
    dropped: AtomicU64,
    /// Set while records cannot be written; `cause` says why.
    failing: AtomicBool,
    cause: Mutex<String>,
}

impl Shared {
    fn fail(&self, cause: String) {
        *self.cause.lock().unwrap_or_else(PoisonError::into_inner) = cause;
        self.failing.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl Audit {
    /// Records nothing (but still emits the `tracing` event).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Appends records to `path` (created with mode 0600), which must be a
    /// regular file; `failure` says what to do when records cannot be
    /// written.
    ///
    /// # Errors
    ///
    /// When `path` is not a regular file (a symbolic link, a named pipe, a
    /// device, a socket, a directory), cannot be opened, or the writer
    /// thread cannot be started.
    pub fn to_file(path: &Path, failure: AuditFailure) -> Result<Self, AuditError> {
        Self::to_file_as(path, failure, None, None)
    }

    /// Like [`Audit::to_file`], with every record stamped with `replica`
    /// (this weld's name among several serving the same tools) and counted
    /// in `metrics`, on the writer thread.
    ///
    /// # Errors
    ///
    /// As [`Audit::to_file`].
    pub fn to_file_as(
        path: &Path,
        failure: AuditFailure,
        replica: Option<String>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<Self, AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut append = std::fs::OpenOptions::new();
        append.create(true).append(true).mode(0o600);
        let file = open_log(path, &append)?;
        Self::start(file, path.to_path_buf(), failure, replica, metrics).map_err(AuditError::Spawn)
    }

    /// Like [`Audit::to_file_as`], writing to this process's standard output
    /// instead, one JSON record per line, for a container's log collector.
    /// Only for a server whose stdout is not its MCP channel (HTTP).
    ///
    /// # Errors
    ///
    /// Standard output cannot be duplicated, or the writer thread cannot be
    /// started.
    pub fn to_stdout_as(
        failure: AuditFailure,
        replica: Option<String>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<Self, AuditError> {
        use std::os::fd::AsFd as _;
        let path = PathBuf::from("(standard output)");
        // The descriptor itself, not `std::io::Stdout`: records are written
        // whole, straight to the kernel, as to a file, with no buffer in
        // between to lose at exit.
        let out = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| AuditError::Open {
                path: path.clone(),
                source,
            })?;
        Self::start(std::fs::File::from(out), path, failure, replica, metrics)
            .map_err(AuditError::Spawn)
    }

    /// Writes records to `out`, named `path` in messages.
    fn start<W: Write + Send + 'static>(
        out: W,
        path: PathBuf,
        failure: AuditFailure,
        replica: Option<String>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            path,
            failure,
            lost: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            cause: Mutex::new(String::new()),
        });
        let mut writer = Writer::new(out, Arc::clone(&shared), replica, metrics);
        std::thread::Builder::new()
            .name("weld-audit".into())
            .spawn(move || writer.run(&rx))?;
        Ok(Self {
            inner: Some(Arc::new(Inner { tx, shared })),
        })
    }

    /// Records lost since weld started: dropped because the writer was
    /// behind, or not written because writing failed.
    pub fn lost_records(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.shared.lost.load(Ordering::Relaxed))
    }

    /// Why a tool call must be refused now, under
    /// [`AuditFailure::RefuseCalls`] while records cannot be written.
    pub fn refusal(&self) -> Option<String> {
        let shared = &self.inner.as_ref()?.shared;
        if shared.failure != AuditFailure::RefuseCalls || !shared.failing.load(Ordering::Acquire) {
            return None;
        }
        let cause = shared
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(format!(
            "refused: weld cannot write its audit log {} ({cause}), and its operator chose to \
             refuse tool calls until it can (`--audit-failure refuse-calls`); calls run again as \
             soon as a record can be written. `weld revoke` still works from the command line",
            shared.path.display()
        ))
    }

    /// Emits the record as a `tracing` event and queues it for the file.
    ///
    /// A call that succeeded is a `debug` event, anything else `info`: the
    /// file has every record either way, and formatting and writing a log
    /// line per successful call cost about as much as the call's own
    /// bookkeeping (measured, docs/PERFORMANCE.md). `WELD_LOG=weld::audit=debug`
    /// shows them all.
    pub(crate) fn record(&self, record: CallRecord) {
        let stats = record.stats.as_ref();
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "weld::audit",
                    $level,
                    tool = %record.subject.name(),
                    component = %record.subject.component(),
                    outcome = record.outcome.as_str(),
                    duration_us = stats.map_or(0, |s| s.duration.as_micros() as u64),
                    peak_memory = stats.map_or(0, |s| s.peak_memory),
                    fuel_used = stats.and_then(|s| s.fuel_used),
                    args_bytes = record.args_bytes,
                    client = record.client.as_deref().unwrap_or(""),
                    error = record.error.as_deref().unwrap_or(""),
                    network_denied = stats.map_or(0, |s| s.network.iter().filter(|e| !e.allowed).count()),
                    storage_denied = stats.map_or(0, |s| s.storage_denied.len()),
                    "call"
                )
            };
        }
        if record.outcome == Outcome::Ok {
            event!(tracing::Level::DEBUG);
        } else {
            event!(tracing::Level::INFO);
        }
        if let Some(stats) = stats {
            trace_decisions(&stats.network, &stats.storage_denied);
        }
        self.send(Message::Record(Box::new(record)));
    }

    /// Queues without waiting; a record the queue has no room for is
    /// counted (the writer logs the count and writes it into the file).
    fn send(&self, message: Message) {
        let Some(inner) = &self.inner else { return };
        match inner.tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                inner.shared.lost.fetch_add(1, Ordering::Relaxed);
                inner.shared.dropped.fetch_add(1, Ordering::Relaxed);
                if inner.shared.failure == AuditFailure::RefuseCalls {
                    inner.shared.fail(
                        "its writer has fallen behind; is the disk (or the reader of \
                         standard output) stalled?"
                            .into(),
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                inner.shared.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!("audit writer has stopped; record lost");
            }
        }
    }

    /// Emits a built-in tool's record as a `tracing` event and queues it for
    /// the file. Policy changes are rare, so this one may allocate.
    pub fn record_builtin(&self, record: BuiltinRecord) {
        tracing::info!(
            target: "weld::audit",
            tool = record.tool,
            component = %record.component,
            outcome = record.outcome.as_str(),
            change = record.change.as_deref().unwrap_or(""),
            client = record.client.as_deref().unwrap_or(""),
            error = record.error.as_deref().unwrap_or(""),
            "built-in call"
        );
        self.send(Message::Builtin(Box::new(record)));
    }

    /// Emits a proxied call's record (see [`crate::proxied`]) as a
    /// `tracing` event, at the levels of [`Audit::record`]'s, and queues it
    /// for the file.
    pub fn record_proxied(&self, record: crate::proxied::ProxiedRecord) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "weld::audit",
                    $level,
                    tool = %record.tool,
                    component = %record.component.name,
                    outcome = record.outcome.as_str(),
                    duration_us = record.duration.as_micros() as u64,
                    args_bytes = record.args_bytes,
                    client = record.client.as_deref().unwrap_or(""),
                    error = record.error.as_deref().unwrap_or(""),
                    network_denied = record.usage.network.iter().filter(|e| !e.allowed).count(),
                    storage_denied = record.usage.storage_denied.len(),
                    "proxied call"
                )
            };
        }
        if record.outcome == Outcome::Ok {
            event!(tracing::Level::DEBUG);
        } else {
            event!(tracing::Level::INFO);
        }
        trace_decisions(&record.usage.network, &record.usage.storage_denied);
        self.send(Message::Proxied(Box::new(record)));
    }

    /// Waits (up to `timeout`) until every record queued so far is written
    /// (or found unwritable), and warns if any were lost in this process.
    pub fn flush(&self, timeout: Duration) {
        let Some(inner) = &self.inner else { return };
        let (ack, done) = std::sync::mpsc::channel();
        if inner.tx.send(Message::Flush(ack)).is_ok() && done.recv_timeout(timeout).is_err() {
            tracing::warn!("audit log not flushed within {timeout:?}");
        }
        let lost = self.lost_records();
        if lost > 0 {
            tracing::warn!(
                lost,
                path = %inner.shared.path.display(),
                "audit records were lost in this run"
            );
        }
    }
}

/// The network and storage decisions of a call (a plain one's, or what a
/// proxied server's instance decided that its record keeps) as events of
/// the current span (the request's, when spans are exported): one per
/// decision the record keeps. `TRACE` on weld-runtime's export target, so
/// with export off this is one level comparison.
fn trace_decisions(
    network: &[weld_runtime::NetworkEvent],
    storage_denied: &[weld_runtime::FileDenial],
) {
    if !tracing::enabled!(target: weld_runtime::TRACE_TARGET, tracing::Level::TRACE) {
        return;
    }
    for decision in network {
        tracing::event!(
            target: weld_runtime::TRACE_TARGET,
            tracing::Level::TRACE,
            "weld.decision" = "network",
            "weld.network.kind" = decision.kind.as_str(),
            "server.address" = %decision.host,
            "server.port" = decision.port,
            "weld.allowed" = decision.allowed,
            "weld.rule" = decision.rule.as_deref().unwrap_or(""),
            "{}",
            if decision.allowed { "weld.network.allowed" } else { "weld.network.denied" }
        );
    }
    for denial in storage_denied {
        tracing::event!(
            target: weld_runtime::TRACE_TARGET,
            tracing::Level::TRACE,
            "weld.decision" = "storage",
            "weld.storage.operation" = denial.op,
            "weld.storage.path" = %denial.path,
            "weld.storage.error" = denial.error,
            "weld.allowed" = false,
            "weld.storage.denied"
        );
    }
}

/// Makes a write past the process's file-size limit (`ulimit -f`) fail with
/// `EFBIG`, which the audit writer handles like a full disk, rather than
/// kill weld with `SIGXFSZ`. Process-wide: the binary calls it before
/// opening the audit log.
#[allow(
    unsafe_code,
    reason = "libc::signal has no safe wrapper in the crates weld builds"
)]
pub fn survive_file_size_limit() {
    // SAFETY: SIG_IGN installs no handler code; ignoring SIGXFSZ only turns
    // the signal into the write error the caller already handles.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The whole audit log at `path` (`None` when there is none), opened as
/// [`Audit::to_file`] opens it: a named pipe, a device or a symbolic link is
/// refused, never waited on.
///
/// # Errors
///
/// When `path` is not a regular file or cannot be read.
pub fn read_log(path: &Path) -> Result<Option<String>, AuditError> {
    use std::io::Read;
    let mut file = match open_log(path, std::fs::OpenOptions::new().read(true)) {
        Err(AuditError::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        opened => opened?,
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Some(text))
}

/// Opens the log with `options` without following a symbolic link or
/// blocking (opening a named pipe waits for its other end), and accepts it
/// only if it is a regular file.
fn open_log(path: &Path, options: &std::fs::OpenOptions) -> Result<File, AuditError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let not_regular = |kind| AuditError::NotRegular {
        path: path.to_path_buf(),
        kind,
    };
    let kind_of = |file_type: std::fs::FileType| {
        if file_type.is_file() {
            None
        } else if file_type.is_symlink() {
            Some("a symbolic link")
        } else if file_type.is_fifo() {
            Some("a named pipe")
        } else if file_type.is_char_device() {
            Some("a character device")
        } else if file_type.is_block_device() {
            Some("a block device")
        } else if file_type.is_socket() {
            Some("a socket")
        } else if file_type.is_dir() {
            Some("a directory")
        } else {
            Some("not a file")
        }
    };
    let opened = options
        .clone()
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(source) => {
            // A symbolic link (ELOOP), a pipe without a reader or a socket
            // (ENXIO), a directory (EISDIR): say which.
            if let Ok(meta) = std::fs::symlink_metadata(path)
                && let Some(kind) = kind_of(meta.file_type())
            {
                return Err(not_regular(kind));
            }
            return Err(AuditError::Open {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| AuditError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(not_regular(kind));
    }
    // Back to blocking writes: the writer thread owns the file, and a full
    // pipe is impossible for a regular file anyway.
    let cleared = rustix::fs::fcntl_getfl(&file)
        .and_then(|flags| rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK))
        .is_ok();
    if !cleared {
        return Err(AuditError::Open {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(file)
}
