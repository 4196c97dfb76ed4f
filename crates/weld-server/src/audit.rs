//! One audit record per tool call: JSON lines in the state directory and a
//! `tracing` event (target `weld::audit`).
//!
//! Writing must never slow a call down or block it, so a call only builds
//! the record and hands it to a writer thread through a bounded channel; if
//! the writer falls behind by more than the channel holds, records are
//! dropped and counted (and the count logged), never waited for. The writer
//! is not woken per record — a cross-thread wake-up per call measurably
//! slowed every call — but drains the queue every few milliseconds into one
//! `write`, so a record reaches the file within [`PERIOD`].
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
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How often the writer drains the queue.
pub const PERIOD: Duration = Duration::from_millis(20);

/// Records that may wait for the writer before new ones are dropped: room
/// for 800k calls a second at the drain period above.
const QUEUE: usize = 16 * 1024;

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
    pub entry: Arc<crate::ToolEntry>,
    pub at: SystemTime,
    pub client: Option<String>,
    pub args_bytes: u64,
    pub queued_us: u64,
    pub duration_us: u64,
    pub peak_memory: u64,
    pub fuel_used: Option<u64>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub outcome: &'static str,
    pub error: Option<String>,
    pub network: Vec<weld_runtime::NetworkEvent>,
    pub network_dropped: u64,
    pub storage_denied: Vec<weld_runtime::FileDenial>,
    pub storage_denied_dropped: u64,
}

impl CallRecord {
    pub fn new(entry: Arc<crate::ToolEntry>, client: Option<String>) -> Self {
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
            outcome: "",
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
            outcome: self.outcome.to_string(),
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
    /// `ok`, `invalid_arguments`, or for a grant or revocation: `applied`
    /// (a revocation, or a grant a person approved), `applied_unapproved`
    /// (a grant under `--allow-model-grants`), `approval_requested`,
    /// `declined`, `refused`.
    pub outcome: &'static str,
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
            outcome: self.outcome.to_string(),
            error: self.error.clone(),
            change: self.change.clone(),
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
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
    dropped: AtomicU64,
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

    /// Appends records to `path` (created with mode 0600).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or the writer thread started.
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("weld-audit".into())
            .spawn(move || write_loop(&path, file, &rx))?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                tx,
                dropped: AtomicU64::new(0),
            })),
        })
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
                    outcome = record.outcome,
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
        if record.outcome == "ok" {
            event!(tracing::Level::DEBUG);
        } else {
            event!(tracing::Level::INFO);
        }
        self.send(Message::Record(Box::new(record)));
    }

    fn send(&self, message: Message) {
        let Some(inner) = &self.inner else { return };
        match inner.tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(dropped, "audit writer is behind; record dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
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
            outcome = record.outcome,
            change = record.change.as_deref().unwrap_or(""),
            client = record.client.as_deref().unwrap_or(""),
            error = record.error.as_deref().unwrap_or(""),
            "built-in call"
        );
        self.send(Message::Builtin(Box::new(record)));
    }

    /// Waits (up to `timeout`) until every record queued so far is written.
    pub fn flush(&self, timeout: Duration) {
        let Some(inner) = &self.inner else { return };
        let (ack, done) = std::sync::mpsc::channel();
        if inner.tx.send(Message::Flush(ack)).is_ok() && done.recv_timeout(timeout).is_err() {
            tracing::warn!("audit log not flushed within {timeout:?}");
        }
    }
}

fn write_loop(path: &Path, file: File, rx: &Receiver<Message>) {
    let mut out = BufWriter::new(file);
    loop {
        std::thread::sleep(PERIOD);
        let mut acks = Vec::new();
        let mut disconnected = false;
        loop {
            match rx.try_recv() {
                Ok(Message::Record(record)) => write_record(path, &mut out, &record.to_record()),
                Ok(Message::Builtin(record)) => write_record(path, &mut out, &record.to_record()),
                Ok(Message::Flush(ack)) => acks.push(ack),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        if let Err(error) = out.flush() {
            tracing::error!(path = %path.display(), %error, "could not write the audit log");
        }
        for ack in acks {
            let _ = ack.send(());
        }
        if disconnected {
            return;
        }
    }
}

fn write_record(path: &Path, out: &mut BufWriter<File>, record: &AuditRecord) {
    if let Err(error) = serde_json::to_writer(&mut *out, record)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
    {
        tracing::error!(path = %path.display(), %error, "could not write an audit record");
    }
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
pub(crate) fn args_bytes(arguments: Option<&serde_json::Map<String, serde_json::Value>>) -> u64 {
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
}
