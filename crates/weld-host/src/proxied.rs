//! MCP server components: commands (a component whose only export is
//! `wasi:cli/run`) that speak MCP over their own stdin and stdout, such as
//! a server written with an MCP SDK and compiled to WASI.
//!
//! weld runs each as a long-lived sandboxed instance and a front end
//! (`weld-mcp`, which knows the protocol) is the MCP client to it and serves
//! its tools. This module is the protocol-free half: recognising such a
//! component when the catalog is built ([`ProxiedComponent::of`]),
//! starting an instance under its policy ([`ProxiedComponent::start`]),
//! and the audit record of a proxied call ([`ProxiedRecord`]).
//!
//! **Recognised by its exports, then probed.** Every command is taken to be
//! an MCP server: the front end starts it and sends `initialize`, and a
//! command that does not answer as an MCP server is not served (with the
//! reason). No policy switch is needed to say so, because starting one
//! grants it nothing: it runs under the same policy, in the same sandbox,
//! as any call of the component would, and a command that is not an MCP
//! server could only fail to answer within its time limit. A command was
//! never useful as a tool (`run` takes no arguments and its output went to
//! the log), so nothing that was served before is lost.
//!
//! **What an instance gets** is what one call of the component gets (see
//! `weld_runtime::CommandServer`): its sandbox (directories, files,
//! environment, network rules), its memory limit, its instance slots and
//! its share of the memory budget, held for the instance's whole life.
//! Its policy's time limit is the deadline of each request instead of the
//! instance's. A policy with a fuel budget is refused: fuel is per call,
//! and an instance serves many.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use weld_policy::{Concurrency, Excess};
use weld_runtime::{CallLimits, CommandServer, Queue, Sandbox};

pub use weld_runtime::{
    CommandEnd, CommandStdin, CommandStdout, RunningCommand, SandboxUse, is_command,
};

use crate::catalog::{ComponentEntry, Skipped};
use crate::outcome::Outcome;

/// An MCP server component, ready to start instances of under its policy.
pub struct ProxiedComponent {
    /// The component's name.
    pub name: String,
    /// Its content digest (`sha256:…`), carried into every audit record.
    pub digest: String,
    /// The file it was given as (`--component`), or `None` when installed.
    pub file: Option<PathBuf>,
    server: CommandServer,
    limits: CallLimits,
    sandbox: Sandbox,
    output: Option<u64>,
    concurrency: Option<Concurrency>,
    calls: ProxiedCalls,
    /// Set while the front end cannot serve it (see
    /// [`ProxiedComponent::set_served`]).
    unserved: AtomicBool,
    /// How many of its tools the front end serves (0 while unserved).
    tools: AtomicU32,
}

/// Calls of an MCP server component running and waiting now, across all
/// its instances: the per-component gauges a plain component's slots give.
/// Shared across reloads that leave the component unchanged ([`adopt`]),
/// as the instances serving the calls are.
#[derive(Debug, Default)]
pub struct ProxiedCalls {
    running: AtomicU32,
    waiting: AtomicU32,
}

/// One call counted (running, or waiting) until dropped.
#[must_use = "the call is counted until the guard is dropped"]
pub struct Counted<'a>(&'a AtomicU32);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ProxiedCalls {
    /// Counts a call as running (it has its place among the requests in
    /// flight) until the guard is dropped.
    pub fn running(&self) -> Counted<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        Counted(&self.running)
    }

    /// Counts a call as waiting for its place until the guard is dropped.
    pub fn waiting(&self) -> Counted<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Counted(&self.waiting)
    }

    /// (running, waiting) now.
    pub fn now(&self) -> (u32, u32) {
        (
            self.running.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
        )
    }
}

/// Keeps `previous`'s value of each component a reload left unchanged
/// (same name, and [`ProxiedComponent::same_as`]: what the front end
/// checks to keep serving it from the same instances), so that the
/// catalog's copy counts the calls those instances serve.
pub(crate) fn adopt(new: &mut [Arc<ProxiedComponent>], previous: &[Arc<ProxiedComponent>]) {
    for component in new {
        if let Some(old) = previous
            .iter()
            .find(|old| old.name == component.name && old.same_as(component))
        {
            *component = Arc::clone(old);
        }
    }
}

/// Requests in flight at once to an MCP server component's instance when
/// its policy sets no `concurrency`: each one holds a task and buffers in
/// weld and memory in the guest, so there is always a bound.
pub const DEFAULT_IN_FLIGHT: u32 = 32;

impl std::fmt::Debug for ProxiedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxiedComponent")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl ProxiedComponent {
    /// The MCP server `entry` is, or `None` when it is not a command.
    ///
    /// # Errors
    ///
    /// Why a command cannot be served: its policy sets a fuel budget, or
    /// its `wasi:cli/run` export is not as WASI defines it.
    pub(crate) fn of(entry: &ComponentEntry) -> Result<Option<Self>, Skipped> {
        let refuse = |reason: String| Skipped {
            component: entry.name.clone(),
            function: String::new(),
            reason,
            toolchain: false,
        };
        // Commands are loaded when listed (see `crate::lazy`).
        let Some(loaded) = entry.code.get() else {
            return Ok(None);
        };
        let server = match CommandServer::new(Arc::clone(loaded)) {
            Ok(Some(server)) => server,
            Ok(None) => return Ok(None),
            Err(error) => {
                return Err(refuse(format!(
                    "it is a command (an MCP server over stdio), but {error}"
                )));
            }
        };
        if entry.policy.limits.fuel.is_some() {
            return Err(refuse(
                "it is an MCP server component (a wasi:cli command), which serves every \
                 request from one long-lived instance, and its policy sets a fuel budget, \
                 which is per call and so cannot be enforced for it; remove \
                 `resources.limits.fuel` from its policy (its time and memory limits apply)"
                    .into(),
            ));
        }
        Ok(Some(Self {
            name: entry.name.clone(),
            digest: entry.digest.clone(),
            file: entry.file.clone(),
            server,
            limits: entry.policy.limits,
            sandbox: entry.policy.sandbox.clone(),
            output: entry.policy.output,
            concurrency: entry.policy.concurrency,
            calls: ProxiedCalls::default(),
            unserved: AtomicBool::new(false),
            tools: AtomicU32::new(0),
        }))
    }

    /// The deadline of each request to it (its policy's time limit, or
    /// `--timeout`), and of starting it.
    pub fn timeout(&self) -> Duration {
        self.limits.timeout.min(weld_policy::MAX_TIMEOUT)
    }

    /// The largest message it may send, in bytes: its policy's output
    /// limit (a result is one message), with room for the envelope.
    pub fn max_message_bytes(&self) -> usize {
        let output = self.output.unwrap_or(crate::enforce::DEFAULT_OUTPUT);
        usize::try_from(output)
            .unwrap_or(usize::MAX)
            .saturating_add(64 * 1024)
    }

    /// Requests that may be in flight to its instance at once, and what
    /// happens to one more: its policy's `concurrency`, else
    /// [`DEFAULT_IN_FLIGHT`], waiting.
    pub fn in_flight(&self) -> Concurrency {
        self.concurrency.unwrap_or(Concurrency {
            max: DEFAULT_IN_FLIGHT,
            excess: Excess::Wait,
        })
    }

    /// Its calls running and waiting now.
    pub fn calls(&self) -> &ProxiedCalls {
        &self.calls
    }

    /// Records whether the front end serves it, and how many tools: `None`
    /// when it could not be started, did not list its tools, or they could
    /// not be served (the log says why). The metrics count it with the
    /// components that failed to load while it is not served, and its tools
    /// with the tools served while it is.
    pub fn set_served(&self, tools: Option<usize>) {
        self.unserved.store(tools.is_none(), Ordering::Relaxed);
        let tools = tools.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        self.tools.store(tools, Ordering::Relaxed);
    }

    /// How many of its tools the front end last served.
    pub fn served_tools(&self) -> u32 {
        self.tools.load(Ordering::Relaxed)
    }

    /// Whether the front end last found it could not serve it.
    pub fn unserved(&self) -> bool {
        self.unserved.load(Ordering::Relaxed)
    }

    /// Whether an instance started for `other` may serve this one: same
    /// code, same limits, same sandbox. A reload that changes any of them
    /// (a grant, a revocation) must start a new instance.
    pub fn same_as(&self, other: &Self) -> bool {
        self.digest == other.digest
            && self.limits == other.limits
            && self.sandbox == other.sandbox
            && self.output == other.output
            && self.concurrency == other.concurrency
    }

    /// Starts an instance under its policy, waiting at most its time limit
    /// for capacity.
    ///
    /// # Errors
    ///
    /// Why it could not be started, for its caller: the wait for capacity,
    /// a grant that cannot be opened, or its start trapped; with the
    /// outcome to audit.
    pub async fn start(&self) -> Result<RunningCommand, (Outcome, String)> {
        let queue = Queue::Until(Instant::now() + self.timeout());
        self.server
            .start(&self.limits, &self.sandbox, &self.name, queue)
            .await
            .map_err(|error| (Outcome::from(&error), error.to_string()))
    }
}

/// The outcome to audit for a call that failed because its server ended.
pub fn ended_outcome(end: &CommandEnd) -> Outcome {
    match end {
        CommandEnd::Returned { .. } | CommandEnd::Exited { .. } => Outcome::Exit,
        CommandEnd::Failed { kind, .. } => match *kind {
            "out_of_memory" => Outcome::OutOfMemory,
            "stack_overflow" => Outcome::StackOverflow,
            "panic" => Outcome::Panic,
            "grant_moved" => Outcome::GrantMoved,
            _ => Outcome::Trap,
        },
    }
}

/// One call of a proxied tool, as the front end saw it: one audit record,
/// shaped as a plain tool's.
#[derive(Debug, Clone)]
pub struct ProxiedRecord {
    /// When the call arrived.
    pub at: SystemTime,
    /// The tool, as the server names it.
    pub tool: String,
    /// The server component.
    pub component: Arc<ProxiedComponent>,
    /// `name/version` of the client, when it said.
    pub client: Option<String>,
    /// Size of the JSON arguments in bytes.
    pub args_bytes: u64,
    /// Time before the request was sent: waiting for the server to start
    /// (capacity, instantiation, `initialize`), if it was not running.
    pub queued: Duration,
    /// From sending the request to its answer (or its end).
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// What the caller was told when weld failed the call.
    pub error: Option<String>,
    /// What the instance's sandbox decided since the previous call's
    /// record: with requests in flight together, a decision is recorded
    /// with whichever of them ends first.
    pub usage: SandboxUse,
}

impl ProxiedRecord {
    /// A record of a call of `tool` of `component` arriving now, until
    /// the call says otherwise a cancellation.
    pub fn new(component: Arc<ProxiedComponent>, tool: &str, client: Option<String>) -> Self {
        Self {
            at: SystemTime::now(),
            tool: tool.to_string(),
            component,
            client,
            args_bytes: 0,
            queued: Duration::ZERO,
            duration: Duration::ZERO,
            outcome: Outcome::Cancelled,
            error: None,
            usage: SandboxUse::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_server_is_audited_by_how_it_failed() {
        let failed = |kind| CommandEnd::Failed {
            kind,
            message: String::new(),
        };
        assert_eq!(ended_outcome(&failed("trap")), Outcome::Trap);
        assert_eq!(ended_outcome(&failed("panic")), Outcome::Panic);
        assert_eq!(
            ended_outcome(&failed("out_of_memory")),
            Outcome::OutOfMemory
        );
        assert_eq!(
            ended_outcome(&CommandEnd::Exited { code: 3 }),
            Outcome::Exit
        );
    }
}
