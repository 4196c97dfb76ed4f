//! The records: what a call or a policy change leaves in the log, as built
//! by callers and as written.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use weld_runtime::CallStats;

use crate::outcome::Outcome;

/// One tool call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The tool called (`component_function`), a built-in tool (`weld_*`),
    /// the CLI command that changed a policy (`weld grant`), or `weld` for
    /// a `records_lost` record.
    pub tool: String,
    /// The component the call ran in or was about (empty when none).
    pub component: String,
    /// That component's digest (`sha256:…`), so a record names the exact
    /// code that ran even after the component is replaced; empty when
    /// unknown.
    pub digest: String,
    /// `name/version` of the client, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Size of the JSON arguments in bytes.
    pub args_bytes: u64,
    /// Microseconds the call waited for a concurrency slot of its
    /// component and for the runtime's instances and memory.
    pub queued_us: u64,
    /// Microseconds the call waited for its component to be loaded (read
    /// and deserialised, or compiled when its artefact was gone): its first
    /// calls after a start pay it. Absent when nothing had to be loaded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub load_us: u64,
    /// Microseconds from instantiating the guest to its return (or trap).
    pub duration_us: u64,
    /// The most linear memory the guest held at once, in bytes.
    pub peak_memory: u64,
    /// Fuel the call burned, when its policy sets a budget (see
    /// `weld_runtime::CallStats::fuel_used`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    /// Bytes the guest wrote to stdout, whether or not they were kept.
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr, whether or not they were kept.
    pub stderr_bytes: u64,
    /// `ok`, `tool_error` (the function returned `err`), `invalid_arguments`,
    /// `cancelled`, `refused_busy` (refused at the policy's concurrency
    /// limit, with `excess: refuse`), `output_limit`, or the failure kind
    /// (`deadline`, `out_of_memory`, `out_of_fuel`, `stack_overflow`,
    /// `panic`, `exit`, `trap`, `grant_moved`, `instantiate`); for policy
    /// changes, see [`BuiltinRecord::outcome`].
    pub outcome: String,
    /// The message the caller was given when weld failed the call: invalid
    /// arguments, a refusal, a limit or trap, a declined or refused change.
    /// Absent otherwise (a tool's own `err` result is not copied here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every network decision of the call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkDecision>,
    /// Decisions made beyond those kept in `network`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub network_dropped: u64,
    /// Every path refused through a single-file view or the empty root (a
    /// path no grant covers), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_denied: Vec<StorageDenial>,
    /// Refusals beyond those kept in `storage_denied`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub storage_denied_dropped: u64,
    /// For the built-in policy tools: the change asked for
    /// (`grant storage fs:///x/** access=read`), whatever the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// For an MCP request other than a tool call (`tool` is then its
    /// method, `resources/read`): what it named, the resource URI, the
    /// prompt, the completed argument (`prompt:NAME#ARG`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For a `records_lost` record (tool `weld`): how many records before it
    /// could not be written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub records_lost: u64,
    /// Which weld wrote it, when several serve the same tools (`weld serve
    /// --replica`): records from all replicas can then be merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
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
    /// Whether the request, connection or lookup was let through.
    pub allowed: bool,
    /// The rule that decided; absent when no rule matched (denied by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A filesystem call refused through a single-file view or the empty root,
/// as recorded.
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

/// What a record is about.
pub(crate) enum Subject {
    /// A plain tool's call.
    Tool(Arc<crate::catalog::ToolEntry>),
    /// A request to an MCP-world component: a tool call (`name` is the
    /// tool's), or `resources/read`, `prompts/get`, `completion/complete`.
    Mcp {
        component: Arc<crate::mcp::McpComponent>,
        name: std::borrow::Cow<'static, str>,
        target: Option<String>,
    },
    /// A request answered from the catalog alone (`resources/list`, …), or
    /// one no component took (`component` empty).
    Served {
        method: &'static str,
        target: Option<String>,
    },
}

impl Subject {
    /// The record's `tool`.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Tool(entry) => &entry.tool.name,
            Self::Mcp { name, .. } => name,
            Self::Served { method, .. } => method,
        }
    }

    /// The record's `component`.
    pub(crate) fn component(&self) -> &str {
        match self {
            Self::Tool(entry) => &entry.component,
            Self::Mcp { component, .. } => &component.name,
            Self::Served { .. } => "",
        }
    }

    fn digest(&self) -> &str {
        match self {
            Self::Tool(entry) => &entry.digest,
            Self::Mcp { component, .. } => &component.digest,
            Self::Served { .. } => "",
        }
    }

    fn target(&self) -> Option<&String> {
        match self {
            Self::Tool(_) => None,
            Self::Mcp { target, .. } | Self::Served { target, .. } => target.as_ref(),
        }
    }
}

/// A call as the call path sees it: borrowed identity, raw time. Turned
/// into an [`AuditRecord`] (formatting, copying) on the writer thread, so the
/// call pays for a reference count and a few integers.
pub(crate) struct CallRecord {
    pub subject: Subject,
    pub at: SystemTime,
    pub client: Option<String>,
    pub args_bytes: u64,
    /// All the call waited: for its component's slot, then (in `stats`) for
    /// instance slots and memory.
    pub queued: Duration,
    /// How long it waited for its component to be loaded.
    pub loading: Duration,
    /// When the wait for a slot of its component began, while it lasts.
    pub waiting_from: Option<Instant>,
    /// When the wait for its component's code began, while it lasts.
    pub loading_from: Option<Instant>,
    /// What the runtime measured, carried as it came; `None` when the guest
    /// never ran.
    pub stats: Option<CallStats>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

impl CallRecord {
    pub fn new(subject: Subject, client: Option<String>) -> Self {
        Self {
            subject,
            at: SystemTime::now(),
            client,
            args_bytes: 0,
            queued: Duration::ZERO,
            loading: Duration::ZERO,
            waiting_from: None,
            loading_from: None,
            stats: None,
            // Until the call says otherwise: a record of a call that never
            // finished is a cancellation.
            outcome: Outcome::Cancelled,
            error: None,
        }
    }

    /// Ends the waits still in progress, counting them: the call has its
    /// slot or its code, or it ends here (refused, cancelled).
    pub fn end_waits(&mut self) {
        if let Some(from) = self.waiting_from.take() {
            self.queued = from.elapsed();
        }
        if let Some(from) = self.loading_from.take() {
            self.loading = from.elapsed();
        }
    }

    /// The record as written.
    pub fn to_record(&self) -> AuditRecord {
        let stats = self.stats.as_ref();
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        AuditRecord {
            time: rfc3339(self.at.duration_since(UNIX_EPOCH).unwrap_or_default()),
            tool: self.subject.name().to_string(),
            component: self.subject.component().to_string(),
            digest: self.subject.digest().to_string(),
            client: self.client.clone(),
            args_bytes: self.args_bytes,
            queued_us: micros(self.queued),
            load_us: micros(self.loading),
            duration_us: stats.map_or(0, |s| micros(s.duration)),
            peak_memory: stats.map_or(0, |s| s.peak_memory),
            fuel_used: stats.and_then(|s| s.fuel_used),
            stdout_bytes: stats.map_or(0, |s| s.stdout_bytes),
            stderr_bytes: stats.map_or(0, |s| s.stderr_bytes),
            outcome: self.outcome.as_str().to_string(),
            error: self.error.clone(),
            network: stats
                .map(|s| s.network.as_slice())
                .unwrap_or_default()
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
            network_dropped: stats.map_or(0, |s| s.network_dropped),
            storage_denied: stats
                .map(|s| s.storage_denied.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|d| StorageDenial {
                    op: d.op.to_string(),
                    path: d.path.clone(),
                    error: d.error.to_string(),
                })
                .collect(),
            storage_denied_dropped: stats.map_or(0, |s| s.storage_denied_dropped),
            change: None,
            target: self.subject.target().cloned(),
            records_lost: 0,
            replica: None,
        }
    }
}

/// A call of a built-in tool (`weld_*`): no sandbox, so no measurements,
/// but the component it concerns and, for grants and revocations, the
/// change and what became of it.
#[derive(Debug, Clone)]
pub struct BuiltinRecord {
    /// When the call was made (the record's `time`).
    pub at: SystemTime,
    /// The built-in tool's name, or the CLI command (`weld grant`) for a
    /// change made from the command line.
    pub tool: &'static str,
    /// The component the call is about (empty when none).
    pub component: String,
    /// Its digest, when known.
    pub digest: String,
    /// `name/version` of the MCP client, or `cli` for a command.
    pub client: Option<String>,
    /// Size of the JSON arguments in bytes ([`args_bytes`]).
    pub args_bytes: u64,
    /// `Ok`, `InvalidArguments`, or for a grant or revocation: `Applied`
    /// (a revocation, or a grant a person approved), `AppliedUnapproved`
    /// (a grant under `--allow-model-grants`), `ApprovalRequested`,
    /// `Declined`, `Refused`.
    pub outcome: Outcome,
    /// For a grant or revocation: the change asked for, whatever became of
    /// it ([`PolicyChange::summary_resolved`](crate::policy_admin::PolicyChange::summary_resolved):
    /// with the real path of a storage grant, once resolved).
    pub change: Option<String>,
    /// The message its caller was given when the call failed: invalid
    /// arguments, a refused change, a declined grant.
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
            load_us: 0,
            duration_us: 0,
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: self.outcome.as_str().to_string(),
            error: self.error.clone(),
            change: self.change.clone(),
            target: None,
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
            records_lost: 0,
            replica: None,
        }
    }
}

pub(super) fn timestamp(at: SystemTime) -> String {
    rfc3339(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

pub(super) fn rfc3339(since_epoch: Duration) -> String {
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
