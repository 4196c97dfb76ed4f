//! One tool call: a fresh store and instance, limits, and the outcome.
//!
//! Cancellation is by dropping the future returned by
//! [`LoadedComponent::call`]: guest code yields to the executor at every
//! epoch tick, so a dropped call stops within one tick and its instance slot
//! is returned to the pool. A call still waiting for its slots or its memory
//! leaves the queue when dropped, and gives back whatever it already took.

use std::time::{Duration, Instant};

use std::sync::Arc;

use wasmtime::component::{Linker, Resource, ResourceTable, Val};
use wasmtime::{ResourceLimiter, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};
use wasmtime_wasi::sockets::WasiSocketsView;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};

use crate::capacity::{Capacity, deadline_after};
use crate::files::{FileDenial, GatedDirs};
use crate::net::{self, NetHooks, NetLog, NetworkEvent};
use crate::output::CappedOutput;
use crate::{ExportedFunction, Limits, LoadedComponent, Metering, Sandbox};

/// The store's data for one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    memory: MemoryLimiter,
    http: WasiHttpCtx,
    net: NetHooks,
    pub(crate) files: GatedDirs,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}

/// Replaces `wasi:sockets/ip-name-lookup`'s `resolve-addresses` with one
/// that asks the call's policy first: Wasmtime can only allow all lookups or
/// none, and a tool may resolve only the names its policy grants.
pub(crate) fn gate_name_lookups(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    crate::files::ensure_defined(
        linker,
        "wasi:sockets/ip-name-lookup@0.2.12",
        &["resolve-addresses"],
    )?;
    linker.allow_shadowing(true);
    linker
        .instance("wasi:sockets/ip-name-lookup@0.2.12")?
        .func_wrap(
            "resolve-addresses",
            |mut store: StoreContextMut<'_, CallState>,
             (network, name): (Resource<Network>, String)|
             -> wasmtime::Result<(Result<Resource<ResolveAddressStream>, ErrorCode>,)> {
                let state = store.data_mut();
                if !net::check_lookup(&state.net.rules, &state.net.log, &name) {
                    return Ok((Err(ErrorCode::AccessDenied),));
                }
                match ip_name_lookup::Host::resolve_addresses(&mut state.sockets(), network, name) {
                    Ok(stream) => Ok((Ok(stream),)),
                    Err(error) => Ok((Err(error.downcast()?),)),
                }
            },
        )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Caps the sum of all linear memories of one instance and remembers the peak.
struct MemoryLimiter {
    limit: u64,
    current: u64,
    peak: u64,
    refused: bool,
}

/// Table elements one instance may hold; generous for real toolchains, small
/// enough that a table cannot be the memory bomb a linear memory may not be.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current) as u64;
        let next = self.current.saturating_add(grow);
        if next > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.current = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Raised when a preopened directory's handle is not the directory the
/// policy was compiled against (see [`crate::DirIdentity`]).
#[derive(Debug)]
pub(crate) struct GrantMoved {
    pub(crate) guest: String,
}

impl std::fmt::Display for GrantMoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the granted directory {} is no longer the directory its policy was loaded with \
             (it, or a directory on its path, was replaced or turned into a symlink); the call \
             was stopped before the tool could use it — check the directory, then re-apply the \
             policy (`weld policy set`) or restart weld",
            self.guest
        )
    }
}

impl std::error::Error for GrantMoved {}

/// How long past its deadline a call may stay in a host function before it
/// is abandoned: one epoch tick would do for guest code, but a host call
/// that is about to return should be let finish.
const HOST_GRACE: Duration = Duration::from_millis(500);

/// Raised from the epoch callback when the call's time is up.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

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
    /// Bytes the guest wrote to stdout and stderr (kept or not).
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Every network decision, in order (at most a few hundred are kept).
    pub network: Vec<NetworkEvent>,
    /// Decisions made beyond those kept.
    pub network_dropped: u64,
    /// Paths refused through single-file views, in order (capped like
    /// `network`).
    pub storage_denied: Vec<FileDenial>,
    /// Refusals beyond those kept.
    pub storage_denied_dropped: u64,
    /// Fuel the instance burned (instantiation and call), when it had a
    /// budget. Exact when the call returns or runs out (then the whole
    /// budget); after a deadline or a trap, what Wasmtime had written back
    /// by the guest's last function call or return, so possibly less.
    pub fuel_used: Option<u64>,
}

/// A completed call.
#[derive(Debug)]
pub struct CallOutcome {
    /// The function's results (zero or one value).
    pub results: Vec<Val>,
    pub stats: CallStats,
}

/// Why a call produced no result. Each message is written for the person
/// (or model) who made the call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the tool ran longer than its {}-second limit and was stopped", .limit.as_secs_f64())]
    Deadline { limit: Duration, stats: CallStats },
    #[error(
        "the tool ran out of memory: it asked for more than its limit of {} MiB",
        .limit / (1024 * 1024)
    )]
    OutOfMemory { limit: u64, stats: CallStats },
    #[error(
        "the tool used up its fuel budget of {limit} units and was stopped. Fuel counts \
         WebAssembly instructions (about one unit each), so the same call stops at the same \
         point every time: retrying will not help. If the work is legitimate, raise \
         `resources.limits.fuel` in the tool's policy; otherwise the tool may be looping"
    )]
    OutOfFuel { limit: u64, stats: CallStats },
    #[error("the tool overflowed its stack (unbounded recursion?)")]
    StackOverflow { stats: CallStats },
    #[error("the tool panicked: {message}")]
    Panic { message: String, stats: CallStats },
    #[error("the tool exited with status {code} instead of returning a result")]
    Exit { code: i32, stats: CallStats },
    #[error("the tool crashed: {message}")]
    Trap { message: String, stats: CallStats },
    #[error("{message}")]
    GrantMoved { message: String, stats: CallStats },
    #[error("the tool could not be started: {message}")]
    Instantiate { message: String },
    #[error(
        "the tool cannot run: its memory limit of {} MiB is more than weld's whole memory \
         budget of {} MiB (each running call reserves its memory limit); lower the tool's \
         memory limit (`resources.limits.memory` in its policy, or `--memory-mib`), or raise \
         `--memory-budget-mib`",
        .limit.div_ceil(1024 * 1024),
        .budget / (1024 * 1024)
    )]
    OverBudget { limit: u64, budget: u64 },
    #[error(
        "the tool did not start: other calls hold all of {resource}, and its policy refuses \
         to wait (`excess: refuse`); retry later, or {}",
        .resource.remedy()
    )]
    Busy { resource: Capacity },
    #[error(
        "the tool did not start within its {}-second time limit: it waited all that time for \
         {resource}, held by other calls; retry later, or {}",
        .limit.as_secs_f64(),
        .resource.remedy()
    )]
    QueueTimeout { resource: Capacity, limit: Duration },
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
    /// Measurements, when the guest got as far as running.
    pub fn stats(&self) -> Option<&CallStats> {
        match self {
            Self::Deadline { stats, .. }
            | Self::OutOfMemory { stats, .. }
            | Self::OutOfFuel { stats, .. }
            | Self::StackOverflow { stats }
            | Self::Panic { stats, .. }
            | Self::Exit { stats, .. }
            | Self::Trap { stats, .. }
            | Self::GrantMoved { stats, .. } => Some(stats),
            Self::Instantiate { .. }
            | Self::OverBudget { .. }
            | Self::Busy { .. }
            | Self::QueueTimeout { .. } => None,
        }
    }

    /// As [`stats`](Self::stats), to move the recorded decisions out.
    pub fn stats_mut(&mut self) -> Option<&mut CallStats> {
        match self {
            Self::Deadline { stats, .. }
            | Self::OutOfMemory { stats, .. }
            | Self::OutOfFuel { stats, .. }
            | Self::StackOverflow { stats }
            | Self::Panic { stats, .. }
            | Self::Exit { stats, .. }
            | Self::Trap { stats, .. }
            | Self::GrantMoved { stats, .. } => Some(stats),
            Self::Instantiate { .. }
            | Self::OverBudget { .. }
            | Self::Busy { .. }
            | Self::QueueTimeout { .. } => None,
        }
    }

    /// A short machine-readable kind, for logs and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deadline { .. } => "deadline",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::StackOverflow { .. } => "stack_overflow",
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

/// What a started call holds until it ends; dropped after its store.
struct Admission<'a> {
    _pool: Option<SemaphorePermit<'a>>,
    _budget: SemaphorePermit<'a>,
    _slots: SemaphorePermit<'a>,
}

/// Takes `n` permits of `resource`, at once or (as `queue` says) after
/// waiting. Uncontended, this is one atomic operation: no timer, no place
/// in a queue.
async fn take(
    semaphore: &Semaphore,
    n: u32,
    resource: Capacity,
    queue: Queue,
    limit: Duration,
) -> Result<SemaphorePermit<'_>, CallError> {
    // The semaphores are never closed; if one were, the call could not
    // start, which is no reason to panic.
    let closed = || CallError::Instantiate {
        message: format!("{resource}: unavailable (weld is shutting down)"),
    };
    match (semaphore.try_acquire_many(n), queue) {
        (Ok(permit), _) => Ok(permit),
        (Err(TryAcquireError::Closed), _) => Err(closed()),
        (Err(TryAcquireError::NoPermits), Queue::Refuse) => Err(CallError::Busy { resource }),
        (Err(TryAcquireError::NoPermits), Queue::Until(deadline)) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, semaphore.acquire_many(n)).await {
                Ok(Ok(permit)) => Ok(permit),
                Ok(Err(_)) => Err(closed()),
                Err(_) => Err(CallError::QueueTimeout { resource, limit }),
            }
        }
    }
}

impl LoadedComponent {
    /// Runs `function` with `args` in a fresh instance under `limits`.
    ///
    /// `args` must match the function's parameter types (the schema layer
    /// guarantees it); a mismatch is reported as a trap, never a panic.
    ///
    /// A call that cannot start at once waits for its instance slots and
    /// its memory at most `limits.timeout` (then fails with
    /// [`CallError::QueueTimeout`]); its own time limit starts when it
    /// starts.
    ///
    /// # Errors
    ///
    /// See [`CallError`]: every way a guest can fail ends here, and the host
    /// is unaffected.
    pub async fn call(
        &self,
        function: &ExportedFunction,
        args: &[Val],
        limits: &Limits,
        sandbox: &Sandbox,
        label: &str,
    ) -> Result<CallOutcome, CallError> {
        let queue = Queue::Until(deadline_after(limits.timeout));
        self.call_queued(function, args, limits, sandbox, label, queue)
            .await
    }

    /// As [`call`](Self::call), waiting to start as `queue` says.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_queued(
        &self,
        function: &ExportedFunction,
        args: &[Val],
        limits: &Limits,
        sandbox: &Sandbox,
        label: &str,
        queue: Queue,
    ) -> Result<CallOutcome, CallError> {
        let fuel = self
            .fuel_budget(limits)
            .map_err(|message| CallError::Instantiate {
                message: message.into(),
            })?;
        let queued_at = Instant::now();
        // Declared before the store, so dropped after it: the pool has its
        // memories and instances back before another call may take them.
        let _admission = self.admit(limits, queue).await?;
        let started = Instant::now();
        let queued = started - queued_at;

        let stdout = CappedOutput::new(limits.log_capture);
        let stderr = CappedOutput::new(limits.log_capture);
        let mut builder = WasiCtxBuilder::new();
        let rules = sandbox.network.rules();
        let (tcp, udp) = (sandbox.network.tcp, sandbox.network.udp);
        let log = NetLog::default();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(tcp)
            .allow_udp(udp)
            // Each lookup is still decided by `gate_name_lookups`.
            .allow_ip_name_lookup(!rules.allow().is_empty());
        if tcp || udp {
            let rules = Arc::clone(rules);
            let log = log.clone();
            builder.socket_addr_check(move |addr, use_| {
                Box::pin(net::check_socket(
                    Arc::clone(&rules),
                    log.clone(),
                    addr,
                    use_,
                ))
            });
        }
        for (key, value) in &sandbox.env {
            builder.env(key, value);
        }
        // Directory grants, then the directories holding single granted
        // files (whose view the filesystem shadows enforce).
        let dirs = sandbox
            .preopens
            .iter()
            .map(|p| (&p.host, &p.guest, p.writable))
            .chain(
                sandbox
                    .files
                    .iter()
                    .map(|v| (&v.host_dir, &v.guest_dir, v.any_writable())),
            );
        for (host, guest, writable) in dirs {
            let perms = if writable {
                wasmtime_wasi::FsPerms::ReadWrite
            } else {
                wasmtime_wasi::FsPerms::ReadOnly
            };
            builder
                .preopened_dir(host, guest, perms)
                .map_err(|e| CallError::Instantiate {
                    message: format!(
                        "the granted directory {} cannot be opened: {e}",
                        host.display()
                    ),
                })?;
        }
        let wasi = builder.build();
        let mut store = Store::new(
            self.pre.engine(),
            CallState {
                wasi,
                table: ResourceTable::new(),
                memory: MemoryLimiter {
                    limit: limits.memory,
                    current: 0,
                    peak: 0,
                    refused: false,
                },
                http: WasiHttpCtx::new(),
                net: NetHooks {
                    rules: Arc::clone(rules),
                    log: log.clone(),
                    limits: limits.http,
                },
                files: GatedDirs::new(Arc::clone(&sandbox.preopens), Arc::clone(&sandbox.files)),
            },
        );
        store.limiter(|state| &mut state.memory);
        if let Some(fuel) = fuel {
            store.set_fuel(fuel).map_err(|e| CallError::Instantiate {
                message: format!("the fuel budget could not be set: {e}"),
            })?;
        }
        // Policies and the CLI cap the timeout at a day; the cap here keeps a
        // library caller's `Duration::MAX` from overflowing `Instant`.
        let timeout = limits.timeout.min(weld_policy::MAX_TIMEOUT);
        let deadline = started + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                // Yielding at every tick is what lets a dropped (cancelled)
                // call stop, and keeps one busy guest from starving others.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let result_count = match &function.signature {
            Ok(signature) => usize::from(signature.result.is_some()),
            Err(_) => 0,
        };
        let mut results = vec![Val::Bool(false); result_count];
        let run = async {
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(Failure::Instantiate)?;
            let func = instance
                .get_func(&mut store, function.index)
                .ok_or_else(|| {
                    Failure::Instantiate(wasmtime::format_err!(
                        "export `{}` is missing from the instance",
                        function.name
                    ))
                })?;
            func.call_async(&mut store, args, &mut results)
                .await
                .map_err(Failure::Run)
        };
        // The epoch deadline stops guest code; a host call that blocks (a
        // FIFO planted where a granted file was, a stuck disk) never returns
        // to guest code, so the whole call is bounded as well. The blocked
        // host thread is left to finish on its own; the call and its
        // instance slot end here.
        let run_result = match tokio::time::timeout(timeout + HOST_GRACE, run).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Run(wasmtime::Error::new(DeadlineExceeded))),
        };

        let (out_text, out_dropped) = stdout.take();
        let (err_text, err_dropped) = stderr.take();
        let (storage_denied, storage_denied_dropped) = store.data_mut().files.take_denials();
        let memory = &store.data().memory;
        let (network, network_dropped) = log.take();
        let fuel_used = fuel.and_then(|budget| {
            let left = store.get_fuel().ok()?;
            Some(budget.saturating_sub(left))
        });
        let stats = CallStats {
            duration: started.elapsed(),
            queued,
            peak_memory: memory.peak,
            stdout_bytes: out_text.len() as u64 + out_dropped,
            stderr_bytes: err_text.len() as u64 + err_dropped,
            network,
            network_dropped,
            storage_denied,
            storage_denied_dropped,
            fuel_used,
        };
        log_guest_output(label, "stdout", &out_text, out_dropped);
        log_guest_output(label, "stderr", &err_text, err_dropped);

        match run_result {
            Ok(()) => Ok(CallOutcome { results, stats }),
            Err(Failure::Instantiate(error)) => {
                // Instantiation runs guest code too (start functions), on
                // the same budget.
                if let (Some(limit), Some(wasmtime::Trap::OutOfFuel)) =
                    (fuel, error.downcast_ref::<wasmtime::Trap>())
                {
                    return Err(CallError::OutOfFuel { limit, stats });
                }
                if memory.refused {
                    return Err(CallError::OutOfMemory {
                        limit: limits.memory,
                        stats,
                    });
                }
                // Guest code that ran out of time, trapped, exited or met
                // a moved grant while starting is reported (with what it
                // did) like the same failure during the call.
                let guest_failure = error.downcast_ref::<DeadlineExceeded>().is_some()
                    || error.downcast_ref::<GrantMoved>().is_some()
                    || error.downcast_ref::<I32Exit>().is_some()
                    || error.downcast_ref::<wasmtime::Trap>().is_some();
                if guest_failure {
                    return Err(classify(&error, memory.refused, limits, &err_text, stats));
                }
                Err(CallError::Instantiate {
                    message: format!("{error:#}"),
                })
            }
            Err(Failure::Run(error)) => {
                Err(classify(&error, memory.refused, limits, &err_text, stats))
            }
        }
    }
}

impl LoadedComponent {
    /// Takes what one call needs before it may instantiate: the metered
    /// engine's own slots, the memory budget, the shared slots, in that
    /// order. Every call takes them in the same order (after its
    /// component's slot, taken by the server), so no calls can wait for
    /// each other in a cycle; the more specific resources come first, so
    /// that a call waiting for them holds none of those every tool needs.
    async fn admit(&self, limits: &Limits, queue: Queue) -> Result<Admission<'_>, CallError> {
        let pages = self
            .budget
            .pages_for(limits.memory)
            .ok_or(CallError::OverBudget {
                limit: limits.memory,
                budget: self.budget.bytes(),
            })?;
        let limit = limits.timeout;
        let pool = match &self.pool {
            Some(pool) => Some(
                take(
                    &pool.semaphore,
                    pool.weight,
                    Capacity::MeteredSlots,
                    queue,
                    limit,
                )
                .await?,
            ),
            None => None,
        };
        let budget = take(
            &self.budget.pages,
            pages,
            Capacity::MemoryBudget,
            queue,
            limit,
        )
        .await?;
        let slots = take(
            &self.slots.semaphore,
            self.slots.weight,
            Capacity::InstanceSlots,
            queue,
            limit,
        )
        .await?;
        Ok(Admission {
            _pool: pool,
            _budget: budget,
            _slots: slots,
        })
    }

    /// The fuel the call starts with, checked against the engine the
    /// component is on: a metered component without a budget would trap at
    /// its first instruction, and a budget on an unmetered one would be
    /// silently ignored, so either is refused before anything runs. (The
    /// loader picks the engine from the same policy that sets the budget;
    /// this is the guard that a mismatch cannot slip through.)
    fn fuel_budget(&self, limits: &Limits) -> Result<Option<u64>, &'static str> {
        match (self.metering, limits.fuel) {
            (Metering::Fuel, Some(fuel)) => Ok(Some(fuel)),
            (Metering::Off, None) => Ok(None),
            (Metering::Fuel, None) => Err(
                "weld loaded this tool for fuel metering, but its limits set no fuel budget \
                 (a bug in weld; restarting it reloads the tool)",
            ),
            (Metering::Off, Some(_)) => Err(
                "the tool's policy sets a fuel budget, but weld loaded it without fuel \
                 metering, so the budget could not be enforced (a bug in weld; restarting it \
                 reloads the tool)",
            ),
        }
    }
}

enum Failure {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

fn classify(
    error: &wasmtime::Error,
    memory_refused: bool,
    limits: &Limits,
    stderr: &str,
    stats: CallStats,
) -> CallError {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return CallError::Deadline {
            limit: limits.timeout,
            stats,
        };
    }
    if let Some(moved) = error.downcast_ref::<GrantMoved>() {
        return CallError::GrantMoved {
            message: moved.to_string(),
            stats,
        };
    }
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return CallError::Exit {
            code: exit.0,
            stats,
        };
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::StackOverflow => return CallError::StackOverflow { stats },
            wasmtime::Trap::OutOfFuel => {
                if let Some(limit) = limits.fuel {
                    return CallError::OutOfFuel { limit, stats };
                }
            }
            wasmtime::Trap::UnreachableCodeReached => {
                // A guest that could not grow its memory usually aborts via
                // `unreachable`; say why rather than how.
                if memory_refused {
                    return CallError::OutOfMemory {
                        limit: limits.memory,
                        stats,
                    };
                }
                if let Some(message) = panic_message(stderr) {
                    return CallError::Panic { message, stats };
                }
            }
            _ => {}
        }
        return CallError::Trap {
            message: trap.to_string(),
            stats,
        };
    }
    if memory_refused {
        return CallError::OutOfMemory {
            limit: limits.memory,
            stats,
        };
    }
    CallError::Trap {
        message: format!("{error:#}"),
        stats,
    }
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

fn log_guest_output(label: &str, stream: &'static str, text: &str, dropped: u64) {
    if text.is_empty() && dropped == 0 {
        return;
    }
    tracing::info!(
        target: "weld::guest",
        tool = label,
        stream,
        dropped_bytes = dropped,
        output = %text.trim_end(),
        "guest output"
    );
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
