//! What a call reports: its measurements and its outcome, and how a
//! failure is told apart (a deadline, memory, fuel, a panic, a moved
//! grant, …).

use std::time::{Duration, Instant};

use wasmtime::component::Val;
use wasmtime_wasi::I32Exit;

use crate::capacity::Capacity;
use crate::sandbox::CallLimits;
use crate::wasi::files::{FileDenial, GrantMoved};
use crate::wasi::net::NetworkEvent;

/// What one call measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    /// From the start of instantiation to the return (or trap).
    pub duration: Duration,
    /// Time spent waiting before that, for instance slots and the memory
    /// budget.
    pub queued: Duration,
    /// The largest total linear memory the instance reached, in bytes.
    pub peak_memory: u64,
    /// Bytes the guest wrote to stdout (kept or not).
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr (kept or not).
    pub stderr_bytes: u64,
    /// Every network decision, in order (at most a few hundred are kept).
    pub network: Vec<NetworkEvent>,
    /// Decisions made beyond those kept.
    pub network_dropped: u64,
    /// Paths refused through single-file views and the empty root, in
    /// order (capped like `network`).
    pub storage_denied: Vec<FileDenial>,
    /// Refusals beyond those kept.
    pub storage_denied_dropped: u64,
    /// Fuel the instance burned (instantiation and call), when it had a
    /// budget. Exact when the call returns or runs out (then the whole
    /// budget); after a deadline or a trap, what Wasmtime had written back
    /// by the guest's last function call or return, so possibly less.
    pub fuel_used: Option<u64>,
}

/// What a call reports: how it ended, and what it measured. `T` is what
/// the guest gave back: an exported function's results, or an MCP-world
/// component's reply.
#[derive(Debug)]
pub struct CallReport<T = Vec<Val>> {
    /// What the call measured; `None` when the guest never ran (the call
    /// was refused, waited out its time limit, or could not be
    /// instantiated).
    pub stats: Option<CallStats>,
    /// What the guest gave back (a function's zero or one result value),
    /// or why there is nothing.
    pub result: Result<T, CallError>,
}

impl<T> CallReport<T> {
    /// A call that ended before the guest ran.
    pub(crate) fn not_run(error: CallError) -> Self {
        Self {
            stats: None,
            result: Err(error),
        }
    }
}

/// Why a call produced no result. Each message is written for the person
/// (or model) who made the call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its time limit.
    #[error("the tool ran longer than its {}-second limit and was stopped", .limit.as_secs_f64())]
    Deadline {
        /// The time limit.
        limit: Duration,
    },
    /// The guest asked for more memory than its limit.
    #[error(
        "the tool ran out of memory: it asked for more than its limit of {} MiB",
        .limit / (1024 * 1024)
    )]
    OutOfMemory {
        /// The memory limit, in bytes.
        limit: u64,
    },
    /// The guest used up its fuel.
    #[error(
        "the tool used up its fuel budget of {limit} units and was stopped. Fuel counts \
         WebAssembly instructions (about one unit each), so the same call stops at the same \
         point every time: retrying will not help. If the work is legitimate, raise \
         `resources.limits.fuel` in the tool's policy; otherwise the tool may be looping"
    )]
    OutOfFuel {
        /// The fuel budget.
        limit: u64,
    },
    /// The guest overflowed its stack.
    #[error("the tool overflowed its stack (unbounded recursion?)")]
    StackOverflow,
    /// A Rust guest panicked (its message read from its stderr).
    #[error("the tool panicked: {message}")]
    Panic {
        /// The panic message and location.
        message: String,
    },
    /// The guest called `exit`.
    #[error("the tool exited with status {code} instead of returning a result")]
    Exit {
        /// The exit status.
        code: i32,
    },
    /// The guest trapped for another reason.
    #[error("the tool crashed: {message}")]
    Trap {
        /// The trap, as Wasmtime describes it.
        message: String,
    },
    /// A granted directory is no longer the one it was granted as: it, or
    /// a directory on its path, was replaced after weld checked it. A grant
    /// is pinned to the directory a person granted, so it stays disabled
    /// until a person grants the new one or revokes it.
    #[error(
        "the granted directory {guest} was replaced after weld checked it (it, or a directory \
         on its path, was moved, swapped or turned into a symlink), so the call was stopped \
         before the tool could use it. The grant stays pinned to the directory that was \
         granted: a person must check the new directory and grant it again (`weld grant TOOL \
         storage URI`), or revoke the grant (`weld revoke TOOL storage URI`)"
    )]
    GrantMoved {
        /// Where the guest finds the directory.
        guest: String,
    },
    /// The instance could not be created.
    #[error("the tool could not be started: {message}")]
    Instantiate {
        /// Why.
        message: String,
    },
    /// The call's memory limit is more than the whole memory budget.
    #[error(
        "the tool cannot run: its memory limit of {} MiB is more than weld's whole memory \
         budget of {} MiB (each running call reserves its memory limit); lower the tool's \
         memory limit (`resources.limits.memory` in its policy, or `--memory-mib`), or raise \
         `--memory-budget-mib`",
        .limit.div_ceil(1024 * 1024),
        .budget / (1024 * 1024)
    )]
    OverBudget {
        /// The call's memory limit, in bytes.
        limit: u64,
        /// The whole memory budget, in bytes.
        budget: u64,
    },
    /// What the call needs is held by other calls, and it refuses to wait.
    #[error(
        "the tool did not start: other calls hold all of {resource}, and its policy refuses \
         to wait (`excess: refuse`); retry later, or {}",
        .resource.remedy()
    )]
    Busy {
        /// What was held.
        resource: Capacity,
    },
    /// What the call needs was held by other calls for all of its time
    /// limit.
    #[error(
        "the tool did not start within its {}-second time limit: it waited all that time for \
         {resource}, held by other calls; retry later, or {}",
        .limit.as_secs_f64(),
        .resource.remedy()
    )]
    QueueTimeout {
        /// What was held.
        resource: Capacity,
        /// The time limit it waited for.
        limit: Duration,
    },
}

/// What a call does when what it needs to start is held by other calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Wait, in arrival order, until this instant at most.
    Until(Instant),
    /// Give up at once (a policy's `excess: refuse`).
    Refuse,
}

impl CallError {
    /// A short machine-readable kind, for logs and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deadline { .. } => "deadline",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::StackOverflow => "stack_overflow",
            Self::Panic { .. } => "panic",
            Self::Exit { .. } => "exit",
            Self::Trap { .. } => "trap",
            Self::GrantMoved { .. } => "grant_moved",
            Self::Instantiate { .. } => "instantiate",
            Self::OverBudget { .. } => "over_budget",
            Self::Busy { .. } => "refused_busy",
            Self::QueueTimeout { .. } => "queue_timeout",
        }
    }
}

/// Raised from the epoch callback when the call's time is up.
#[derive(Debug)]
pub(super) struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// How the guest's run ended, when it did not return.
pub(crate) enum Failure {
    /// While instantiating (which runs guest start functions too).
    Instantiate(wasmtime::Error),
    /// While running the function.
    Run(wasmtime::Error),
}

/// What the call's end tells about it, beyond the error: enough to say
/// why it failed.
pub(super) struct Ending<'a> {
    /// The fuel budget it started with, if any.
    pub(super) fuel: Option<u64>,
    /// Whether a memory growth was refused.
    pub(super) memory_refused: bool,
    /// The call's limits.
    pub(super) limits: &'a CallLimits,
    /// What the guest wrote to stderr (kept part), for a panic message.
    pub(super) stderr: &'a str,
}

/// The call's report from how its run ended.
pub(super) fn report<T>(
    ran: Result<T, Failure>,
    ending: &Ending<'_>,
    stats: CallStats,
) -> CallReport<T> {
    let result = match ran {
        Ok(output) => Ok(output),
        Err(Failure::Instantiate(error)) => Err(classify_start_failure(&error, ending)),
        Err(Failure::Run(error)) => Err(classify(&error, ending)),
    };
    // The host's failure to start the guest is reported without
    // measurements, like every failure before the guest ran.
    let ran = !matches!(result, Err(CallError::Instantiate { .. }));
    CallReport {
        stats: ran.then_some(stats),
        result,
    }
}

/// Why instantiation failed: guest code (start functions) running out of
/// fuel, memory or time, trapping, exiting or meeting a moved grant is
/// reported like the same failure during the call; anything else is the
/// host's failure to start it.
fn classify_start_failure(error: &wasmtime::Error, ending: &Ending<'_>) -> CallError {
    // Instantiation runs guest code too (start functions), on the same
    // budget.
    if let (Some(limit), Some(wasmtime::Trap::OutOfFuel)) =
        (ending.fuel, error.downcast_ref::<wasmtime::Trap>())
    {
        return CallError::OutOfFuel { limit };
    }
    if ending.memory_refused {
        return CallError::OutOfMemory {
            limit: ending.limits.memory,
        };
    }
    let guest_failure = error.downcast_ref::<DeadlineExceeded>().is_some()
        || error.downcast_ref::<GrantMoved>().is_some()
        || error.downcast_ref::<I32Exit>().is_some()
        || error.downcast_ref::<wasmtime::Trap>().is_some();
    if guest_failure {
        return classify(error, ending);
    }
    CallError::Instantiate {
        message: format!("{error:#}"),
    }
}

/// Why a running guest failed.
fn classify(error: &wasmtime::Error, ending: &Ending<'_>) -> CallError {
    let limits = ending.limits;
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return CallError::Deadline {
            limit: limits.timeout,
        };
    }
    if let Some(moved) = error.downcast_ref::<GrantMoved>() {
        return CallError::GrantMoved {
            guest: moved.guest.clone(),
        };
    }
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return CallError::Exit { code: exit.0 };
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::StackOverflow => return CallError::StackOverflow,
            wasmtime::Trap::OutOfFuel => {
                if let Some(limit) = limits.fuel {
                    return CallError::OutOfFuel { limit };
                }
            }
            wasmtime::Trap::UnreachableCodeReached => {
                // A guest that could not grow its memory usually aborts via
                // `unreachable`; say why rather than how.
                if ending.memory_refused {
                    return CallError::OutOfMemory {
                        limit: limits.memory,
                    };
                }
                if let Some(message) = panic_message(ending.stderr) {
                    return CallError::Panic { message };
                }
            }
            _ => {}
        }
        return CallError::Trap {
            message: trap.to_string(),
        };
    }
    if ending.memory_refused {
        return CallError::OutOfMemory {
            limit: limits.memory,
        };
    }
    CallError::Trap {
        message: format!("{error:#}"),
    }
}

/// Why a long-lived command's `run` failed (see `crate::command`): as a
/// call's failure, without fuel or a deadline.
pub(crate) fn classify_command(
    error: &wasmtime::Error,
    memory_refused: bool,
    limits: &CallLimits,
    stderr: &str,
) -> CallError {
    let ending = Ending {
        fuel: None,
        memory_refused,
        limits,
        stderr,
    };
    classify(error, &ending)
}

/// Why a long-lived command could not be instantiated, as
/// [`classify_command`].
pub(crate) fn classify_command_start(
    error: &wasmtime::Error,
    memory_refused: bool,
    limits: &CallLimits,
    stderr: &str,
) -> CallError {
    let ending = Ending {
        fuel: None,
        memory_refused,
        limits,
        stderr,
    };
    classify_start_failure(error, &ending)
}

/// The panic message a Rust guest printed to stderr before aborting, e.g.
/// "thread '<unnamed>' panicked at src/lib.rs:3:5:\nboom".
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.rfind("panicked at ")?;
    let rest = &stderr[at..];
    let mut lines = rest.lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at ")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note: ")).collect();
    let message = message.join("\n");
    let message = message.trim();
    Some(if message.is_empty() {
        format!("at {location}")
    } else {
        format!("{message} (at {location})")
    })
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_message_is_read_from_rust_guest_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom (at src/lib.rs:12:9)")
        );
    }

    #[test]
    fn no_panic_message_without_a_panic_line() {
        assert_eq!(panic_message("just some logging\n"), None);
    }
}
