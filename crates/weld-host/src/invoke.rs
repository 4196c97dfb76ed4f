//! Invoking a tool: arguments in, the sandboxed call, the result out, one
//! audit record. The same path for every front end (MCP's `tools/call`,
//! `weld call`), and free of any protocol's types: what comes out is a
//! [`ToolOutput`], which the MCP crate turns into its result.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::{SemaphorePermit, TryAcquireError};
use tracing::Instrument;
use weld_policy::Excess;
use weld_runtime::{CallError, CallStats, Queue, Val};

use crate::audit::{Audit, CallRecord, Subject, args_bytes};
use crate::catalog::{Bound, Slots, ToolEntry};
use crate::outcome::Outcome;

/// A JSON object: a tool's arguments or its structured result.
pub type JsonObject = Map<String, Value>;

/// What a tool call gave its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result as text (JSON for a structured result), or why the call
    /// failed; `None` for a function that returns nothing.
    pub text: Option<String>,
    /// The result as a JSON object, for a tool with an output schema.
    pub structured: Option<JsonObject>,
    /// The tool failed, or reported an error of its own.
    pub is_error: bool,
}

impl ToolOutput {
    /// A failed call, saying why.
    pub fn error(message: String) -> Self {
        Self {
            text: Some(message),
            structured: None,
            is_error: true,
        }
    }
}

/// How an invocation ended.
#[derive(Debug)]
pub enum Invoked {
    /// It ran to an output (which may be an error).
    Done(ToolOutput),
    /// `cancelled` resolved first; the guest was stopped.
    Cancelled,
}

/// Runs one tool call and records it in `audit`. Every problem with the
/// arguments or the run is a tool error the caller can read; `cancelled`
/// (a client's cancellation, a closed connection) stops the guest at its
/// next epoch tick and is audited as such.
pub async fn invoke(
    entry: &Arc<ToolEntry>,
    arguments: Option<&JsonObject>,
    audit: &Audit,
    client: Option<String>,
    cancelled: impl Future<Output = ()>,
) -> Invoked {
    let mut record = CallRecord::new(Subject::Tool(Arc::clone(entry)), client);
    record.args_bytes = args_bytes(arguments);
    let invoked = tokio::select! {
        (output, outcome, error) = run(entry, arguments, &mut record) => {
            record.outcome = outcome;
            record.error = error;
            Invoked::Done(output)
        }
        () = cancelled => {
            // Dropping `run` drops the call, which stops the guest.
            record.end_waits();
            record.outcome = Outcome::Cancelled;
            Invoked::Cancelled
        }
    };
    audit.record(record);
    invoked
}

/// The call itself; fills in the record's measurements.
async fn run(
    entry: &ToolEntry,
    arguments: Option<&JsonObject>,
    record: &mut CallRecord,
) -> (ToolOutput, Outcome, Option<String>) {
    let args = match entry.signature.args_from_json(arguments) {
        Ok(args) => args,
        Err(error) => {
            let message = format!("invalid arguments: {error}");
            return (
                ToolOutput::error(message.clone()),
                Outcome::InvalidArguments,
                Some(message),
            );
        }
    };
    // A call waits (or, under `excess: refuse`, does not) first for a slot
    // of its component, then in the runtime for its instance slots and its
    // memory; all of it within its time limit. A waiting call ends its wait
    // when the client cancels it or closes its connection: the caller drops
    // this future, and with it the place in each queue.
    let arrived = Instant::now();
    record.waiting_from = Some(arrived);
    let queue = match entry.slots.excess {
        Excess::Wait => Queue::Until(arrived + entry.limits.timeout.min(weld_policy::MAX_TIMEOUT)),
        Excess::Refuse => Queue::Refuse,
    };
    let slot = SlotRequest {
        slots: &entry.slots,
        timeout: entry.limits.timeout,
        tool: &entry.tool.name,
        component: &entry.component,
    };
    let waiting = tracing::trace_span!(target: weld_runtime::TRACE_TARGET, "weld.queue");
    let _permit = match component_slot(&slot, queue).instrument(waiting).await {
        Ok(permit) => permit,
        Err((outcome, message)) => {
            record.end_waits();
            return (ToolOutput::error(message.clone()), outcome, Some(message));
        }
    };
    // An installed component is loaded by its first calls (see
    // `crate::lazy`), which wait for it: that time is the load's, not the
    // queue's. Once loaded, this is one atomic load.
    record.end_waits();
    let waited = record.queued;
    let loaded = match entry.code.get() {
        Some(loaded) => Ok(loaded),
        None => {
            record.loading_from = Some(Instant::now());
            let loaded = entry.code.load().await;
            record.end_waits();
            loaded
        }
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(reason) => {
            let message = reason.to_string();
            return (
                ToolOutput::error(message.clone()),
                Outcome::Instantiate,
                Some(message),
            );
        }
    };
    let Some(function) = loaded.functions().get(entry.function) else {
        let message = format!(
            "component `{}` no longer exports this tool's function; restart weld",
            entry.component
        );
        return (
            ToolOutput::error(message.clone()),
            Outcome::Instantiate,
            Some(message),
        );
    };
    let report = loaded
        .call_queued(
            function,
            &args,
            &entry.limits,
            &entry.sandbox,
            &entry.tool.name,
            queue,
        )
        .await;
    // Both waits: for the component's slot, and (when it got that far) for
    // instance slots and memory in the runtime.
    record.queued = match (&report.stats, &report.result) {
        (Some(stats), _) => waited + stats.queued,
        // It waited in the runtime until refused or out of time.
        (None, Err(CallError::Busy { .. } | CallError::QueueTimeout { .. })) => {
            arrived.elapsed().saturating_sub(record.loading)
        }
        (None, _) => waited,
    };
    record.stats = report.stats;
    let (mut output, outcome, error) = match report.result {
        Ok(results) => render(entry, &results),
        Err(error) => {
            let message = error.to_string();
            (
                ToolOutput::error(message.clone()),
                Outcome::from(&error),
                Some(message),
            )
        }
    };
    // A guest told "denied" (or "no such file") can say no more; weld knows
    // what it refused and why, and says so beside the tool's error.
    if output.is_error
        && let Some(stats) = &record.stats
    {
        let notes = [
            network_note(stats),
            storage_note(&entry.tool.name, &entry.component, stats),
        ];
        for note in notes.into_iter().flatten() {
            let text = output.text.take().unwrap_or_default();
            output.text = Some(if text.is_empty() {
                note
            } else {
                format!("{text}\n({note})")
            });
        }
    }
    (output, outcome, error)
}

/// The call's first network denial and the rule that decided it.
fn network_note(stats: &CallStats) -> Option<String> {
    let denied = stats.network.iter().find(|e| !e.allowed)?;
    Some(format!(
        "weld denied {} {}:{}: {}",
        denied.kind.as_str(),
        denied.host,
        denied.port,
        denied
            .rule
            .as_deref()
            .unwrap_or("no rule of its policy grants it")
    ))
}

/// The first path weld denied `tool` of `component`, why, and the command
/// that would grant it (the operator's to run: the tool, and the model
/// reading its error, only learn what to ask for).
fn storage_note(tool: &str, component: &str, stats: &CallStats) -> Option<String> {
    let first = stats.storage_denied.first()?;
    let more = (stats.storage_denied.len() as u64 - 1).saturating_add(stats.storage_denied_dropped);
    let also = match more {
        0 => String::new(),
        n => format!(" ({n} more denied: `weld audit --tool {tool} --json` lists them)"),
    };
    let path = first.path.as_str();
    let grant = |uri_path: &str, access: &str| {
        storage_uri(uri_path).map(|uri| format!("weld grant {component} storage {uri}{access}"))
    };
    let (why, fix) = match (first.op, first.error) {
        ("read-directory", _) => (
            "a tool lists only a directory granted whole",
            grant(&format!("{path}/**"), ""),
        ),
        ("open-at" | "set-times-at", "not-permitted") => (
            "its grant is read-only",
            grant(path, " --access read,write"),
        ),
        (_, "not-permitted") => (
            "a tool may change entries only in a directory granted whole for writing",
            parent(path).and_then(|dir| grant(&format!("{dir}/**"), " --access read,write")),
        ),
        _ => ("no storage grant covers it", grant(path, "")),
    };
    let fix = fix.map_or_else(
        || {
            format!(
                "the operator can grant the directory it needs with \
                 `weld grant {component} storage 'fs:///DIR/**'`"
            )
        },
        |command| format!("the operator can grant it with `{command}`"),
    );
    Some(format!(
        "weld denied {} {}{also}: {why}; {fix}",
        first.op,
        escaped(path)
    ))
}

/// `path` (chosen by the tool) with control and bidirectional-formatting
/// characters escaped, so it cannot rewrite the text around it.
fn escaped(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The directory holding `path`, unless that is the root (never granted).
fn parent(path: &str) -> Option<&str> {
    let (dir, _) = path.rsplit_once('/')?;
    (!dir.is_empty()).then_some(dir)
}

/// `fs://PATH`, quoted for a shell when it needs to be; `None` when `path`
/// cannot be granted as it is written (relative, with `..`, cut short, or
/// with characters a command line should not carry).
fn storage_uri(path: &str) -> Option<String> {
    // `/` itself is never granted (the whole filesystem).
    let whole = path
        .strip_suffix("/**")
        .unwrap_or(path)
        .trim_end_matches('/');
    let plain = path.starts_with('/')
        && !whole.is_empty()
        && !path.split('/').any(|segment| segment == "..")
        && !path.contains('…')
        && !path
            .chars()
            .any(|c| c.is_control() || is_bidi_control(c) || c == '\'');
    if !plain {
        return None;
    }
    let safe = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,@%=:".contains(c));
    Some(if safe {
        format!("fs://{path}")
    } else {
        format!("'fs://{path}'")
    })
}

/// The function's results as the tool's output, within its output cap.
fn render(entry: &ToolEntry, results: &[Val]) -> (ToolOutput, Outcome, Option<String>) {
    let too_large = |message: String| {
        (
            ToolOutput::error(message.clone()),
            Outcome::OutputLimit,
            Some(message),
        )
    };
    // Refuse an oversized result before rendering copies it twice more; the
    // exact size is checked after rendering.
    let bound: u64 = results.iter().map(weld_schema::min_json_len).sum();
    if let Some(cap) = entry.output.filter(|cap| bound > *cap) {
        return too_large(format!(
            "the tool returned at least {bound} bytes, more than its output limit of {cap} bytes"
        ));
    }
    let rendered = entry.signature.render_result(results);
    let size = rendered.text.as_ref().map_or(0, |t| t.len() as u64);
    if let Some(cap) = entry.output.filter(|cap| size > *cap) {
        return too_large(format!(
            "the tool returned {size} bytes, more than its output limit of {cap} bytes"
        ));
    }
    if rendered.is_error {
        let text = rendered
            .text
            .unwrap_or_else(|| "the tool reported an error".to_string());
        let output = ToolOutput {
            text: Some(text),
            structured: None,
            is_error: true,
        };
        return (output, Outcome::ToolError, None);
    }
    let output = ToolOutput {
        text: rendered.text,
        structured: rendered.structured,
        is_error: false,
    };
    (output, Outcome::Ok, None)
}

/// Who waits for a slot of which component.
pub(crate) struct SlotRequest<'a> {
    pub(crate) slots: &'a Slots,
    pub(crate) timeout: std::time::Duration,
    /// The tool (or MCP method) asking, for the message.
    pub(crate) tool: &'a str,
    pub(crate) component: &'a str,
}

/// A slot of the call's component (see [`crate::catalog::Slots`]), or the
/// outcome and message of a call that got none.
pub(crate) async fn component_slot<'a>(
    request: &SlotRequest<'a>,
    queue: Queue,
) -> Result<SemaphorePermit<'a>, (Outcome, String)> {
    let slots = request.slots;
    let timed_out = match (slots.free.try_acquire(), queue) {
        (Ok(permit), _) => return Ok(permit),
        (Err(TryAcquireError::NoPermits), Queue::Refuse) => false,
        (Err(TryAcquireError::NoPermits), Queue::Until(deadline)) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, slots.acquire_counted()).await {
                Ok(Ok(permit)) => return Ok(permit),
                Ok(Err(_)) => return Err(closed()),
                Err(_) => true,
            }
        }
        (Err(TryAcquireError::Closed), _) => return Err(closed()),
    };
    let (tool, component, max) = (request.tool, request.component, slots.max);
    let why = match slots.bound {
        Bound::Policy => format!(
            "its policy lets at most {max} call(s) of component `{component}`'s tools run at once"
        ),
        Bound::Share(capacity) => format!(
            "at most {max} call(s) of component `{component}`'s tools run at once: its share \
             of weld's capacity, half of {capacity}, so that other tools can always start"
        ),
    };
    let remedy = match slots.bound {
        Bound::Policy => "raise `resources.limits.concurrency` in its policy",
        Bound::Share(capacity) => capacity.remedy(),
    };
    if timed_out {
        let limit = request.timeout.as_secs_f64();
        let message = format!(
            "`{tool}` did not start within its {limit}-second time limit: it waited all that \
             time for one of its component's call slots ({why}); retry later, or {remedy}"
        );
        return Err((Outcome::QueueTimeout, message));
    }
    let message = match slots.bound {
        Bound::Policy => format!(
            "`{tool}` is at its concurrency limit of {max}: {why} and refuses more; retry \
             later, or {remedy}"
        ),
        Bound::Share(_) => format!(
            "`{tool}` is at its share of weld's capacity: {why}; its policy refuses to wait \
             (`excess: refuse`); retry later, or {remedy}"
        ),
    };
    Err((Outcome::RefusedBusy, message))
}

/// weld never closes the semaphore; if it were, running without the cap
/// would loosen the policy.
fn closed() -> (Outcome, String) {
    (
        Outcome::Instantiate,
        "internal error: the concurrency limit is unavailable".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weld_runtime::FileDenial;

    fn note(denied: &[(&'static str, &str, &'static str)], dropped: u64) -> String {
        let stats = CallStats {
            storage_denied: denied
                .iter()
                .map(|&(op, path, error)| FileDenial {
                    op,
                    path: path.to_string(),
                    error,
                })
                .collect(),
            storage_denied_dropped: dropped,
            ..CallStats::default()
        };
        storage_note("notes_read", "notes", &stats).expect("a note")
    }

    #[test]
    fn a_denied_path_is_named_with_the_command_that_grants_it() {
        assert_eq!(
            note(&[("open-at", "/etc/passwd", "no-entry")], 0),
            "weld denied open-at /etc/passwd: no storage grant covers it; the operator can \
             grant it with `weld grant notes storage fs:///etc/passwd`"
        );
        let more = note(
            &[
                ("open-at", "/a b/c", "no-entry"),
                ("stat-at", "/x", "no-entry"),
            ],
            3,
        );
        assert!(
            more.starts_with(
                "weld denied open-at /a b/c (4 more denied: `weld audit --tool notes_read --json` \
                 lists them)"
            ) && more.ends_with("`weld grant notes storage 'fs:///a b/c'`"),
            "{more}"
        );
    }

    #[test]
    fn the_grant_named_fits_what_was_denied() {
        let read_only = note(&[("open-at", "/n/todo.md", "not-permitted")], 0);
        assert!(
            read_only.ends_with("`weld grant notes storage fs:///n/todo.md --access read,write`"),
            "{read_only}"
        );
        let change = note(&[("unlink-file-at", "/n/todo.md", "not-permitted")], 0);
        assert!(
            change.ends_with("`weld grant notes storage 'fs:///n/**' --access read,write`"),
            "{change}"
        );
        let listing = note(&[("read-directory", "/n", "access")], 0);
        assert!(
            listing.ends_with("`weld grant notes storage 'fs:///n/**'`"),
            "{listing}"
        );
    }

    #[test]
    fn no_command_is_offered_for_the_root_or_a_path_that_cannot_be_granted_as_written() {
        let generic = "the operator can grant the directory it needs with \
                       `weld grant notes storage 'fs:///DIR/**'`";
        for (op, path, error) in [
            ("read-directory", "/", "access"),
            ("create-directory-at", "/planted", "not-permitted"),
            ("open-at", "/../etc/passwd", "no-entry"),
            ("open-at", "/it's", "no-entry"),
            ("open-at", "/a\u{1b}[2Jb\nweld grant", "no-entry"),
            ("open-at", "/long… (9000 bytes)", "no-entry"),
        ] {
            let shown = note(&[(op, path, error)], 0);
            assert!(shown.ends_with(generic), "{shown}");
            assert!(
                !shown.contains('\u{1b}') && !shown.contains('\n'),
                "{shown}"
            );
        }
    }
}
