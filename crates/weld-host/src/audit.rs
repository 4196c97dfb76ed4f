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

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

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
    #[error(
        "the audit log {path} is {kind}, not a regular file; weld writes audit records only to \
         a regular file (remove it and weld creates one)"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("could not open the audit log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read the audit log {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the audit writer")]
    Spawn(#[source] std::io::Error),
}

/// One tool call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub tool: String,
    pub component: String,
    pub digest: String,
    /// `name/version` of the client, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Size of the JSON arguments in bytes.
    pub args_bytes: u64,
    pub queued_us: u64,
    pub duration_us: u64,
    pub peak_memory: u64,
    /// Fuel the call burned, when its policy sets a budget (see
    /// `weld_runtime::CallStats::fuel_used`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// `ok`, `tool_error` (the function returned `err`), `invalid_arguments`,
    /// `cancelled`, `refused_busy` (refused at the policy's concurrency
    /// limit, with `excess: refuse`), `output_limit`, or the failure kind
    /// (`deadline`, `out_of_memory`, `out_of_fuel`, `stack_overflow`,
    /// `panic`, `exit`, `trap`, `grant_moved`, `instantiate`); for policy
    /// changes, see [`BuiltinRecord::outcome`].
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every network decision of the call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkDecision>,
    /// Decisions made beyond those kept in `network`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub network_dropped: u64,
    /// Every path refused through a single-file view, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_denied: Vec<StorageDenial>,
    /// Refusals beyond those kept in `storage_denied`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub storage_denied_dropped: u64,
    /// For the built-in policy tools: the change asked for
    /// (`grant storage fs:///x/** access=read`), whatever the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// For a `records_lost` record (tool `weld`): how many records before it
    /// could not be written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub records_lost: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One network decision, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDecision {
    /// `http`, `https`, `tcp`, `udp`, `lookup` or `bind`.
    pub kind: String,
    /// The host as the tool named it.
    pub host: String,
    /// 0 for lookups.
    pub port: u16,
    /// The address checked, when the decision was about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    pub allowed: bool,
    /// The rule that decided; absent when no rule matched (denied by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A filesystem call refused through a single-file view, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageDenial {
    /// The `wasi:filesystem` method, e.g. `open-at`.
    pub op: String,
    /// The path the tool asked for.
    pub path: String,
    /// The WASI error code it got, e.g. `no-entry`.
    pub error: String,
}

/// A call as the call path sees it: borrowed identity, raw time. Turned
/// into an [`AuditRecord`] (formatting, copying) on the writer thread, so the
/// call pays for a reference count and a few integers.
pub struct CallRecord {
    pub entry: Arc<crate::catalog::ToolEntry>,
    pub at: SystemTime,
    pub client: Option<String>,
    pub args_bytes: u64,
    pub queued_us: u64,
    pub duration_us: u64,
    pub peak_memory: u64,
    pub fuel_used: Option<u64>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub network: Vec<weld_runtime::NetworkEvent>,
    pub network_dropped: u64,
    pub storage_denied: Vec<weld_runtime::FileDenial>,
    pub storage_denied_dropped: u64,
}

impl CallRecord {
    pub fn new(entry: Arc<crate::catalog::ToolEntry>, client: Option<String>) -> Self {
        Self {
            entry,
            at: SystemTime::now(),
            client,
            args_bytes: 0,
            queued_us: 0,
            duration_us: 0,
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            // Until the call says otherwise: a record of a call that never
            // finished is a cancellation.
            outcome: Outcome::Cancelled,
            error: None,
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
        }
    }

    /// The record as written.
    pub fn to_record(&self) -> AuditRecord {
        AuditRecord {
            time: rfc3339(self.at.duration_since(UNIX_EPOCH).unwrap_or_default()),
            tool: self.entry.tool.name.to_string(),
            component: self.entry.component.clone(),
            digest: self.entry.digest.clone(),
            client: self.client.clone(),
            args_bytes: self.args_bytes,
            queued_us: self.queued_us,
            duration_us: self.duration_us,
            peak_memory: self.peak_memory,
            fuel_used: self.fuel_used,
            stdout_bytes: self.stdout_bytes,
            stderr_bytes: self.stderr_bytes,
            outcome: self.outcome.as_str().to_string(),
            error: self.error.clone(),
            network: self
                .network
                .iter()
                .map(|e| NetworkDecision {
                    kind: e.kind.as_str().to_string(),
                    host: e.host.clone(),
                    port: e.port,
                    addr: e.addr.map(|a| a.to_string()),
                    allowed: e.allowed,
                    rule: e.rule.clone(),
                })
                .collect(),
            network_dropped: self.network_dropped,
            storage_denied: self
                .storage_denied
                .iter()
                .map(|d| StorageDenial {
                    op: d.op.to_string(),
                    path: d.path.clone(),
                    error: d.error.to_string(),
                })
                .collect(),
            storage_denied_dropped: self.storage_denied_dropped,
            change: None,
            records_lost: 0,
        }
    }
}

/// A call of a built-in tool (`weld_*`): no sandbox, so no measurements,
/// but the component it concerns and, for grants and revocations, the
/// change and what became of it.
#[derive(Debug, Clone)]
pub struct BuiltinRecord {
    pub at: SystemTime,
    pub tool: &'static str,
    /// The component the call is about (empty when none).
    pub component: String,
    /// Its digest, when known.
    pub digest: String,
    pub client: Option<String>,
    pub args_bytes: u64,
    /// `Ok`, `InvalidArguments`, or for a grant or revocation: `Applied`
    /// (a revocation, or a grant a person approved), `AppliedUnapproved`
    /// (a grant under `--allow-model-grants`), `ApprovalRequested`,
    /// `Declined`, `Refused`.
    pub outcome: Outcome,
    pub change: Option<String>,
    pub error: Option<String>,
}

impl BuiltinRecord {
    /// The record as written.
    pub fn to_record(&self) -> AuditRecord {
        AuditRecord {
            time: rfc3339(self.at.duration_since(UNIX_EPOCH).unwrap_or_default()),
            tool: self.tool.to_string(),
            component: self.component.clone(),
            digest: self.digest.clone(),
            client: self.client.clone(),
            args_bytes: self.args_bytes,
            queued_us: 0,
            duration_us: 0,
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: self.outcome.as_str().to_string(),
            error: self.error.clone(),
            change: self.change.clone(),
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
            records_lost: 0,
        }
    }
}

enum Message {
    Record(Box<CallRecord>),
    Builtin(Box<BuiltinRecord>),
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
        use std::os::unix::fs::OpenOptionsExt;
        let mut append = std::fs::OpenOptions::new();
        append.create(true).append(true).mode(0o600);
        let file = open_log(path, &append)?;
        Self::start(file, path.to_path_buf(), failure).map_err(AuditError::Spawn)
    }

    /// Writes records to `out`, named `path` in messages.
    fn start<W: Write + Send + 'static>(
        out: W,
        path: PathBuf,
        failure: AuditFailure,
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
        let mut writer = Writer::new(out, Arc::clone(&shared));
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
    pub fn record(&self, record: CallRecord) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "weld::audit",
                    $level,
                    tool = %record.entry.tool.name,
                    component = %record.entry.component,
                    outcome = record.outcome.as_str(),
                    duration_us = record.duration_us,
                    peak_memory = record.peak_memory,
                    fuel_used = record.fuel_used,
                    args_bytes = record.args_bytes,
                    client = record.client.as_deref().unwrap_or(""),
                    error = record.error.as_deref().unwrap_or(""),
                    network_denied = record.network.iter().filter(|e| !e.allowed).count(),
                    storage_denied = record.storage_denied.len(),
                    "call"
                )
            };
        }
        if record.outcome == Outcome::Ok {
            event!(tracing::Level::DEBUG);
        } else {
            event!(tracing::Level::INFO);
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
                    inner
                        .shared
                        .fail("its writer has fallen behind; is the disk stalled?".into());
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

/// Makes a write past the process's file-size limit (`ulimit -f`) fail with
/// `EFBIG`, which the audit writer handles like a full disk, rather than
/// kill weld with `SIGXFSZ`. Process-wide: the binary calls it before
/// opening the audit log.
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
    use std::os::unix::io::AsRawFd;
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
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is the open descriptor `file` owns for this whole block;
    // F_GETFL and F_SETFL read and set its status flags and touch no memory.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        return Err(AuditError::Open {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(file)
}

/// The writer thread's state.
struct Writer<W> {
    out: W,
    shared: Arc<Shared>,
    /// One drain's bytes (kept for its capacity).
    buf: Vec<u8>,
    /// Lost records no `records_lost` record in the file tells of yet.
    unreported: u64,
    /// The file may end part way through a line (a write was cut short).
    mid_line: bool,
    /// While writes fail: since when, and how many records were lost since.
    failing_since: Option<(SystemTime, u64)>,
    warned_at: Option<Instant>,
}

/// A piece of one drain's bytes, ending at an offset of `buf`.
enum Piece {
    /// The newline ending a partial line.
    LineEnd,
    /// A `records_lost` record for this many.
    Lost(u64),
    Record,
}

impl<W: Write> Writer<W> {
    fn new(out: W, shared: Arc<Shared>) -> Self {
        Self {
            out,
            shared,
            buf: Vec::new(),
            unreported: 0,
            mid_line: false,
            failing_since: None,
            warned_at: None,
        }
    }

    fn run(&mut self, rx: &Receiver<Message>) {
        loop {
            std::thread::sleep(PERIOD);
            let mut records = Vec::new();
            let mut acks = Vec::new();
            let mut disconnected = false;
            loop {
                match rx.try_recv() {
                    Ok(Message::Record(record)) => records.push(record.to_record()),
                    Ok(Message::Builtin(record)) => records.push(record.to_record()),
                    Ok(Message::Flush(ack)) => acks.push(ack),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            self.drain(&records);
            for ack in acks {
                let _ = ack.send(());
            }
            if disconnected {
                return;
            }
        }
    }

    /// Writes `records` (after a `records_lost` record, when some were lost
    /// before them) in one write, and accounts for what did not make it.
    fn drain(&mut self, records: &[AuditRecord]) {
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self.unreported += dropped;
            self.warn_at_most_every_minute(|| {
                tracing::warn!(
                    dropped,
                    "the audit writer fell behind; records were dropped (counted, and recorded as \
                     `records_lost` in the audit log)"
                );
            });
        }
        if records.is_empty() && self.unreported == 0 && !self.mid_line {
            return;
        }
        self.buf.clear();
        let mut pieces = Vec::with_capacity(records.len() + 2);
        if self.mid_line {
            self.buf.push(b'\n');
            pieces.push((self.buf.len(), Piece::LineEnd));
        }
        if self.unreported > 0 {
            let lost = self.lost_record(self.unreported);
            encode(&mut self.buf, &lost);
            pieces.push((self.buf.len(), Piece::Lost(self.unreported)));
        }
        for record in records {
            encode(&mut self.buf, record);
            pieces.push((self.buf.len(), Piece::Record));
        }
        let (written, error) = write_some(&mut self.out, &self.buf);
        let mut lost_now = 0;
        for (end, piece) in pieces {
            let done = end <= written;
            match piece {
                Piece::LineEnd if done => self.mid_line = false,
                Piece::Lost(n) if done => self.unreported -= n,
                Piece::Record if !done => lost_now += 1,
                _ => {}
            }
        }
        match error {
            None => self.recovered(),
            Some(error) => {
                if written > 0 {
                    self.mid_line = self.buf[written - 1] != b'\n';
                }
                self.unreported += lost_now;
                self.shared.lost.fetch_add(lost_now, Ordering::Relaxed);
                self.failed(&error, lost_now);
            }
        }
    }

    /// The record standing for `n` lost ones.
    fn lost_record(&self, n: u64) -> AuditRecord {
        let since = self
            .failing_since
            .map(|(since, _)| format!(" since {}", timestamp(since)))
            .unwrap_or_default();
        let cause = self
            .shared
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let cause = if cause.is_empty() {
            "the audit writer fell behind".to_string()
        } else {
            cause
        };
        AuditRecord {
            time: timestamp(SystemTime::now()),
            tool: weld_store::RESERVED_NAME.to_string(),
            component: String::new(),
            digest: String::new(),
            client: None,
            args_bytes: 0,
            queued_us: 0,
            duration_us: 0,
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: Outcome::RecordsLost.as_str().to_string(),
            error: Some(format!(
                "{n} audit record(s) before this one could not be written{since}: {cause}"
            )),
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
            change: None,
            records_lost: n,
        }
    }

    fn failed(&mut self, error: &std::io::Error, lost_now: u64) {
        self.shared.fail(error.to_string());
        let path = self.shared.path.display().to_string();
        let refusing = self.shared.failure == AuditFailure::RefuseCalls;
        match &mut self.failing_since {
            None => {
                self.failing_since = Some((SystemTime::now(), lost_now));
                self.warned_at = Some(Instant::now());
                tracing::error!(
                    path,
                    %error,
                    lost = lost_now,
                    refusing_calls = refusing,
                    "could not write the audit log; records are lost until it can be written \
                     (counted, and recorded as `records_lost` once it can)"
                );
            }
            Some((_, lost)) => {
                *lost += lost_now;
                let lost = *lost;
                self.warn_at_most_every_minute(|| {
                    tracing::warn!(
                        path,
                        %error,
                        lost,
                        refusing_calls = refusing,
                        "the audit log still cannot be written"
                    );
                });
            }
        }
    }

    fn recovered(&mut self) {
        if let Some((since, lost)) = self.failing_since.take() {
            tracing::warn!(
                path = %self.shared.path.display(),
                lost,
                since = %timestamp(since),
                "the audit log can be written again"
            );
        }
        if self.shared.failing.swap(false, Ordering::AcqRel) {
            self.shared
                .cause
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    fn warn_at_most_every_minute(&mut self, warn: impl FnOnce()) {
        if self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            self.warned_at = Some(Instant::now());
            warn();
        }
    }
}

fn encode(buf: &mut Vec<u8>, record: &AuditRecord) {
    // Serializing these types to memory cannot fail (string keys, no
    // fallible Serialize impls); an empty line would be skipped on reading.
    let _ = serde_json::to_writer(&mut *buf, record);
    buf.push(b'\n');
}

/// Writes as much of `bytes` as it can; returns how much, and the error that
/// stopped it short (so an error always leaves something to write again,
/// which is how the writer finds out that writing works again). No flush:
/// the log is a file, written straight to the kernel.
fn write_some(out: &mut impl Write, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut written = 0;
    while written < bytes.len() {
        match out.write(&bytes[written..]) {
            Ok(0) => return (written, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}

fn timestamp(at: SystemTime) -> String {
    rfc3339(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The size of a call's JSON arguments, counted without keeping a copy: the
/// size is audited, the content is not.
pub fn args_bytes(arguments: Option<&serde_json::Map<String, serde_json::Value>>) -> u64 {
    let Some(arguments) = arguments else { return 0 };
    let mut bytes = ByteCount::default();
    let _ = serde_json::to_writer(&mut bytes, arguments);
    bytes.0
}

/// Counts bytes written.
#[derive(Default)]
struct ByteCount(u64);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuel_used_is_written_only_for_a_call_with_a_budget() {
        let mut record = AuditRecord {
            time: rfc3339(Duration::ZERO),
            tool: "t_f".into(),
            component: "t".into(),
            digest: "sha256:00".into(),
            client: None,
            args_bytes: 2,
            queued_us: 0,
            duration_us: 1,
            peak_memory: 65536,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: "ok".into(),
            error: None,
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
            change: None,
            records_lost: 0,
        };
        let unmetered = serde_json::to_string(&record).expect("json");
        assert!(!unmetered.contains("fuel_used"), "{unmetered}");
        record.fuel_used = Some(1234);
        record.outcome = "out_of_fuel".into();
        let metered = serde_json::to_string(&record).expect("json");
        assert!(metered.contains(r#""fuel_used":1234"#), "{metered}");
        let back: AuditRecord = serde_json::from_str(&metered).expect("reads back");
        assert_eq!(back, record);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(
            rfc3339(Duration::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339(Duration::from_secs(1_795_295_663)),
            "2026-11-21T21:14:23.000Z"
        );
    }

    /// A disk that fills up on demand, optionally after taking a few more
    /// bytes (a write cut short).
    #[derive(Clone, Default)]
    struct Disk(Arc<Mutex<DiskState>>);

    #[derive(Default)]
    struct DiskState {
        data: Vec<u8>,
        full: bool,
        room: usize,
    }

    impl Disk {
        fn fill(&self, room: usize) {
            let mut state = self.0.lock().expect("disk");
            state.full = true;
            state.room = room;
        }

        fn free(&self) {
            self.0.lock().expect("disk").full = false;
        }

        fn lines(&self) -> Vec<String> {
            let state = self.0.lock().expect("disk");
            String::from_utf8_lossy(&state.data)
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut state = self.0.lock().expect("disk");
            let n = if state.full {
                if state.room == 0 {
                    return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
                }
                let n = buf.len().min(state.room);
                state.room -= n;
                n
            } else {
                buf.len()
            };
            state.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn audit(disk: &Disk, failure: AuditFailure) -> Audit {
        Audit::start(disk.clone(), PathBuf::from("/state/audit.jsonl"), failure).expect("start")
    }

    fn change(n: u64) -> BuiltinRecord {
        BuiltinRecord {
            at: SystemTime::now(),
            tool: "weld_revoke",
            component: format!("c{n}"),
            digest: String::new(),
            client: None,
            args_bytes: n,
            outcome: Outcome::Applied,
            change: None,
            error: None,
        }
    }

    fn flush(audit: &Audit) {
        audit.flush(Duration::from_secs(10));
    }

    fn record(line: &str) -> AuditRecord {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    #[test]
    fn on_a_full_disk_records_are_counted_as_lost_and_the_gap_is_recorded_once_it_clears() {
        let disk = Disk::default();
        let audit = audit(&disk, AuditFailure::KeepServing);
        audit.record_builtin(change(0));
        flush(&audit);
        disk.fill(0);
        for n in 1..=3 {
            audit.record_builtin(change(n));
        }
        flush(&audit);
        assert_eq!(audit.lost_records(), 3);
        assert_eq!(audit.refusal(), None, "keep-serving never refuses");
        disk.free();
        audit.record_builtin(change(4));
        flush(&audit);
        let lines = disk.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(record(&lines[0]).component, "c0");
        let lost = record(&lines[1]);
        assert_eq!(
            (lost.tool.as_str(), lost.outcome.as_str(), lost.records_lost),
            ("weld", Outcome::RecordsLost.as_str(), 3)
        );
        let error = lost.error.unwrap_or_default();
        assert!(error.contains("No space left on device"), "{error}");
        assert_eq!(record(&lines[2]).component, "c4");
        assert_eq!(audit.lost_records(), 3);
    }

    #[test]
    fn with_refuse_calls_calls_are_refused_exactly_while_records_cannot_be_written() {
        let disk = Disk::default();
        let audit = audit(&disk, AuditFailure::RefuseCalls);
        assert_eq!(audit.refusal(), None);
        disk.fill(0);
        audit.record_builtin(change(1));
        flush(&audit);
        let refusal = audit.refusal().expect("refused while the disk is full");
        assert!(
            refusal.contains("/state/audit.jsonl") && refusal.contains("No space left"),
            "{refusal}"
        );
        // Freed, the writer's next attempt (its `records_lost` record)
        // succeeds without any new call to record.
        disk.free();
        flush(&audit);
        assert_eq!(audit.refusal(), None);
        let lines = disk.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(record(&lines[0]).records_lost, 1);
    }

    #[test]
    fn a_write_cut_short_leaves_every_other_line_a_whole_record() {
        let disk = Disk::default();
        let audit = audit(&disk, AuditFailure::KeepServing);
        disk.fill(10);
        audit.record_builtin(change(1));
        audit.record_builtin(change(2));
        flush(&audit);
        assert_eq!(audit.lost_records(), 2);
        disk.free();
        audit.record_builtin(change(3));
        flush(&audit);
        let lines = disk.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[0].len(),
            10,
            "the partial line ends where the disk did"
        );
        assert!(serde_json::from_str::<AuditRecord>(&lines[0]).is_err());
        assert_eq!(record(&lines[1]).records_lost, 2);
        assert_eq!(record(&lines[2]).component, "c3");
    }

    #[test]
    fn the_audit_log_must_be_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let not_regular = |path: &Path| match Audit::to_file(path, AuditFailure::KeepServing) {
            Err(AuditError::NotRegular { kind, .. }) => kind,
            other => panic!("{}: {other:?}", path.display()),
        };

        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Opening a pipe nobody reads must fail at once, not wait.
        assert_eq!(not_regular(&fifo), "a named pipe");

        let file = dir.path().join("real.jsonl");
        std::fs::write(&file, "").expect("file");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(not_regular(&link), "a symbolic link");
        assert_eq!(not_regular(dir.path()), "a directory");
        assert_eq!(not_regular(Path::new("/dev/full")), "a character device");

        // Reading waits on nothing either.
        assert!(matches!(
            read_log(&fifo),
            Err(AuditError::NotRegular {
                kind: "a named pipe",
                ..
            })
        ));
        assert!(matches!(read_log(&dir.path().join("none")), Ok(None)));

        let error = Audit::to_file(&link, AuditFailure::KeepServing).expect_err("refused");
        assert!(error.to_string().contains("link.jsonl"), "{error}");

        let fresh = dir.path().join("audit.jsonl");
        let audit = Audit::to_file(&fresh, AuditFailure::KeepServing).expect("a new file");
        audit.record_builtin(change(1));
        flush(&audit);
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&fresh).expect("created");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&fresh)
                .expect("read")
                .lines()
                .count(),
            1
        );
    }
}
