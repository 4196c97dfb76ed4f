//! Long-lived instances of commands: components whose only export is
//! `wasi:cli/run` ([`is_command`]). weld runs such a component as a server
//! that speaks over its own stdin and stdout (an MCP server compiled to
//! WASI); this module starts one instance ([`CommandServer::start`]) and
//! hands back its pipes; what is said over them is the caller's business.
//!
//! An instance gets exactly what a tool call of the same component gets:
//! the WASI context its [`Sandbox`] grants (`call::sandboxed_wasi`: the
//! same directories, environment, network rules and shadows, and the empty
//! root at `/`), the same
//! store with the same memory limit, on the same engine; plus
//! - stdin and stdout as in-memory pipes ([`PIPE_BYTES`] each way) to
//!   weld, never weld's own streams;
//! - stderr line by line into weld's log, bounded (`stderr`);
//! - argument 0, its name, and no other argument.
//!
//! It differs from a call in time and capacity:
//! - **No deadline.** It runs until it ends or weld drops it: the store
//!   yields to the executor at every epoch tick
//!   ([`wasmtime::Store::epoch_deadline_async_yield_and_update`]) instead
//!   of checking a deadline, so a busy guest never holds one of weld's
//!   threads for more than a tick, and dropping the instance stops it
//!   within one. A per-request deadline is the caller's (it can only ask
//!   the server to cancel, or drop the instance).
//! - **Capacity for its whole life.** It takes its instance slots and its
//!   memory limit from the shared budget (`call::admit`, like a call)
//!   before it starts and holds them until it ends, so every running
//!   server is one call fewer that can run at once.
//! - **No fuel.** A fuel budget is per call; an instance that serves many
//!   requests cannot be held to one, so a metered component is refused
//!   rather than run without its budget.
//!
//! What its sandbox refused (network decisions, single-file denials)
//! accumulates while it runs and is taken by [`RunningCommand::take_usage`]
//! between requests.

mod stderr;

use std::sync::Arc;

use tokio::io::DuplexStream;
use tokio::sync::{oneshot, watch};
use wasmtime::Store;
use wasmtime_wasi::cli::{AsyncStdinStream, AsyncStdoutStream};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::call::report::{self, CallError, Queue};
use crate::call::{self, CallState};
use crate::component::{LoadedComponent, Metering};
use crate::error::RuntimeError;
use crate::sandbox::{CallLimits, Sandbox};
use crate::wasi::files::{DenialLog, FileDenial};
use crate::wasi::net::{NetLog, NetworkEvent};
use stderr::StderrLines;

/// Bytes buffered in each pipe between weld and a command: a guest writes
/// (or weld does) until the pipe is full, then waits for the reader.
pub const PIPE_BYTES: usize = 64 * 1024;

/// weld's end of a command's stdin (written to; dropping it is the
/// command's end of input).
pub type CommandStdin = DuplexStream;
/// weld's end of a command's stdout (read from; it ends when the command
/// is gone).
pub type CommandStdout = DuplexStream;

/// Whether `exports` (each an exporting interface, or `None` at world
/// level, and a function name) are those of a command: `run` of
/// `wasi:cli/run@0.2.*`, and nothing else. (A toolchain's own exports are
/// not among a component's functions, see `describe`.)
pub fn is_command<'a>(exports: impl IntoIterator<Item = (Option<&'a str>, &'a str)>) -> bool {
    let mut exports = exports.into_iter();
    let first = exports.next();
    let run = matches!(first, Some((Some(interface), "run")) if interface.starts_with("wasi:cli/run@0.2."));
    run && exports.next().is_none()
}

/// A command component, ready to start instances of: its `wasi:cli/run`
/// export resolved once, at load.
#[derive(Clone)]
pub struct CommandServer {
    component: Arc<LoadedComponent>,
    pre: CommandPre<CallState>,
}

impl std::fmt::Debug for CommandServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandServer")
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl CommandServer {
    /// The command `component` is, or `None` when it is not one (see
    /// [`is_command`]).
    ///
    /// # Errors
    ///
    /// When it exports `wasi:cli/run` but not as WASI defines it.
    pub fn new(component: Arc<LoadedComponent>) -> Result<Option<Self>, RuntimeError> {
        let exports = component
            .functions()
            .iter()
            .map(|f| (f.interface.as_deref(), f.name.as_str()));
        if !is_command(exports) {
            return Ok(None);
        }
        let pre = CommandPre::new(component.pre.clone()).map_err(|e| RuntimeError::Link {
            source: e.into_boxed_dyn_error(),
        })?;
        Ok(Some(Self { component, pre }))
    }

    /// The component.
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.component
    }

    /// Starts an instance under `limits` (its memory limit; its timeout
    /// bounds only the wait for capacity, as `queue` says) and `sandbox`,
    /// named `name` in weld's log, and returns once its `run` has begun.
    ///
    /// # Errors
    ///
    /// When it cannot start: the wait for capacity failed, a grant cannot
    /// be opened, instantiating it failed or trapped, or it is metered
    /// (see the module docs).
    pub async fn start(
        &self,
        limits: &CallLimits,
        sandbox: &Sandbox,
        name: &str,
        queue: Queue,
    ) -> Result<RunningCommand, CallError> {
        if self.component.metering != Metering::Off || limits.fuel.is_some() {
            return Err(CallError::Instantiate {
                message: "a fuel budget is per call, and an MCP server component serves many \
                          requests from one instance, so it cannot be held to one; remove \
                          `fuel` from its policy"
                    .into(),
            });
        }
        // Duplex pipes, one way used: unlike a simplex pipe's halves, an end
        // dropped is seen by the other (end of input, end of output).
        let (stdin_write, stdin_read) = tokio::io::duplex(PIPE_BYTES);
        let (stdout_read, stdout_write) = tokio::io::duplex(PIPE_BYTES);
        let stderr = StderrLines::new(name);
        let net = NetLog::default();
        let (started_tx, started_rx) = oneshot::channel();
        let (end_tx, end_rx) = watch::channel(None);
        let instance = Instance {
            server: self.clone(),
            limits: *limits,
            sandbox: sandbox.clone(),
            name: name.to_string(),
            queue,
            stdin: Some(stdin_read),
            stdout: Some(stdout_write),
            stderr,
            net: net.clone(),
        };
        let task = tokio::spawn(instance.run(started_tx, end_tx));
        let mut running = RunningCommand {
            stdio: Some((stdin_write, stdout_read)),
            end: end_rx,
            net,
            files: DenialLog::default(),
            task,
        };
        match started_rx.await {
            Ok(Ok(files)) => {
                running.files = files;
                Ok(running)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(CallError::Instantiate {
                message: "its task ended before it started (weld is shutting down?)".into(),
            }),
        }
    }
}

/// How a command's instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEnd {
    /// Its `run` returned: the program ended, successfully or not (a
    /// server usually ends when its stdin closes).
    Returned {
        /// `run` returned `ok`.
        success: bool,
    },
    /// It called `exit` with this status.
    Exited {
        /// The status.
        code: i32,
    },
    /// It failed: trapped, panicked, ran out of memory or stack, or met a
    /// moved grant.
    Failed {
        /// A short machine-readable kind (as [`CallError::kind`]).
        kind: &'static str,
        /// What happened, for the operator.
        message: String,
    },
}

impl CommandEnd {
    fn of(ran: wasmtime::Result<Result<(), ()>>, ending: Ending<'_>) -> Self {
        let error = match ran {
            Ok(result) => {
                return Self::Returned {
                    success: result.is_ok(),
                };
            }
            Err(error) => error,
        };
        let failure =
            report::classify_command(&error, ending.memory_refused, ending.limits, ending.stderr);
        let message = match &failure {
            CallError::Exit { code } => return Self::Exited { code: *code },
            CallError::Panic { message } => format!("it panicked: {message}"),
            CallError::Trap { message } => format!("it crashed: {message}"),
            CallError::StackOverflow => "it overflowed its stack".into(),
            CallError::OutOfMemory { limit } => format!(
                "it ran out of memory: it asked for more than its limit of {} MiB",
                limit / (1024 * 1024)
            ),
            other => other.to_string(),
        };
        Self::Failed {
            kind: failure.kind(),
            message,
        }
    }

    /// Whether it ended by failing (not by returning or exiting with 0).
    pub fn is_failure(&self) -> bool {
        match self {
            Self::Returned { success } => !success,
            Self::Exited { code } => *code != 0,
            Self::Failed { .. } => true,
        }
    }
}

impl std::fmt::Display for CommandEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Returned { success: true } => f.write_str("its program ended"),
            Self::Returned { success: false } => f.write_str("its program ended with an error"),
            Self::Exited { code } => write!(f, "it exited with status {code}"),
            Self::Failed { message, .. } => f.write_str(message),
        }
    }
}

/// What the runtime tells of a failure's cause.
struct Ending<'a> {
    memory_refused: bool,
    limits: &'a CallLimits,
    stderr: &'a str,
}

/// What a running instance's sandbox decided since it was last asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxUse {
    /// Every network decision, in order (capped as a call's).
    pub network: Vec<NetworkEvent>,
    /// Decisions beyond those kept.
    pub network_dropped: u64,
    /// Paths refused through single-file views, in order.
    pub storage_denied: Vec<FileDenial>,
    /// Refusals beyond those kept.
    pub storage_denied_dropped: u64,
}

/// A running instance of a command. Dropping it stops the instance (within
/// one epoch tick of guest code) and gives its capacity back.
pub struct RunningCommand {
    stdio: Option<(CommandStdin, CommandStdout)>,
    end: watch::Receiver<Option<CommandEnd>>,
    net: NetLog,
    files: DenialLog,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCommand")
            .field("end", &*self.end.borrow())
            .finish_non_exhaustive()
    }
}

impl RunningCommand {
    /// Its stdin (to write to) and stdout (to read from); `None` after the
    /// first take. Dropping the stdin closes it: a server then usually
    /// ends.
    pub fn take_stdio(&mut self) -> Option<(CommandStdin, CommandStdout)> {
        self.stdio.take()
    }

    /// How it ended, once it has.
    pub fn end(&self) -> Option<CommandEnd> {
        self.end.borrow().clone()
    }

    /// A receiver that holds how it ended once it has (and reports the
    /// sender gone if it was stopped before).
    pub fn watch_end(&self) -> watch::Receiver<Option<CommandEnd>> {
        self.end.clone()
    }

    /// What its sandbox decided since the last take.
    pub fn take_usage(&self) -> SandboxUse {
        let (network, network_dropped) = self.net.take();
        let (storage_denied, storage_denied_dropped) = self.files.take();
        SandboxUse {
            network,
            network_dropped,
            storage_denied,
            storage_denied_dropped,
        }
    }
}

impl Drop for RunningCommand {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything an instance's task owns.
struct Instance {
    server: CommandServer,
    limits: CallLimits,
    sandbox: Sandbox,
    name: String,
    queue: Queue,
    stdin: Option<DuplexStream>,
    stdout: Option<DuplexStream>,
    stderr: StderrLines,
    net: NetLog,
}

impl Instance {
    /// Waits for capacity, instantiates, reports the start (with the
    /// store's denial log) on `started`, runs, and reports the end on
    /// `end`. Capacity is held until the store is gone.
    async fn run(
        mut self,
        started: oneshot::Sender<Result<DenialLog, CallError>>,
        end: watch::Sender<Option<CommandEnd>>,
    ) {
        let (Some(stdin), Some(stdout)) = (self.stdin.take(), self.stdout.take()) else {
            return;
        };
        let component = Arc::clone(&self.server.component);
        // Declared before the store, so dropped after it (as in a call).
        let _admission = match call::admit(&component, &self.limits, self.queue).await {
            Ok(admission) => admission,
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let mut store = match store(&self, stdin, stdout) {
            Ok(store) => store,
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let command = match self.server.pre.instantiate_async(&mut store).await {
            Ok(command) => command,
            Err(error) => {
                let failure = report::classify_command_start(
                    &error,
                    store.data().memory_refused(),
                    &self.limits,
                    &self.stderr.tail(),
                );
                let _ = started.send(Err(failure));
                return;
            }
        };
        if started.send(Ok(store.data().denial_log())).is_err() {
            // Nobody waits for it any more.
            return;
        }
        let ran = command.wasi_cli_run().call_run(&mut store).await;
        self.stderr.finish();
        let tail = self.stderr.tail();
        let ending = Ending {
            memory_refused: store.data().memory_refused(),
            limits: &self.limits,
            stderr: &tail,
        };
        let ended = CommandEnd::of(ran, ending);
        tracing::debug!(
            component = %self.name,
            end = %ended,
            stderr_bytes = self.stderr.total(),
            "command instance ended"
        );
        end.send_replace(Some(ended));
    }
}

/// The instance's store: its sandbox's WASI with the pipes and stderr, its
/// memory limit, and a yield at every epoch tick instead of a deadline.
fn store(
    instance: &Instance,
    stdin: DuplexStream,
    stdout: DuplexStream,
) -> Result<Store<CallState>, CallError> {
    let mut builder = call::sandboxed_wasi(&instance.sandbox, &instance.net)?;
    builder
        .stdin(AsyncStdinStream::new(stdin))
        .stdout(AsyncStdoutStream::new(PIPE_BYTES, stdout))
        .stderr(crate::wasi::output::SinkStream(instance.stderr.clone()))
        .arg(&instance.name);
    let component = &instance.server.component;
    let (limits, sandbox) = (&instance.limits, &instance.sandbox);
    // The empty root at `/`, as a call gets it: a path outside every grant
    // is refused and recorded there, not lost inside wasi-libc.
    let root = sandbox
        .shows_empty_root()
        .then(|| Arc::clone(&component.root));
    let wasi = builder.build();
    let mut store = call::new_store(
        &component.pre,
        wasi,
        limits,
        sandbox,
        root,
        &instance.net,
        None,
    )?;
    store.epoch_deadline_async_yield_and_update(1);
    Ok(store)
}

#[cfg(test)]
mod tests;
