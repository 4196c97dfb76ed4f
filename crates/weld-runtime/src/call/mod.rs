//! One tool call, in steps: check the fuel budget against the engine
//! ([`fuel_budget`]), wait for capacity ([`admit`]), build the guest's WASI
//! context from the sandbox ([`wasi_ctx`]) and the store around it
//! ([`new_store`]), arm the deadline ([`arm_deadline`]), instantiate and
//! run the [`Guest`] ([`run_guest`]: an exported function, or an MCP
//! request), measure ([`collect_stats`]) and say how it ended
//! (`report::outcome`).
//!
//! Cancellation is by dropping the future returned by
//! [`LoadedComponent::call`]: guest code yields to the executor at every
//! epoch tick, so a dropped call stops within one tick and its instance slot
//! is returned to the pool. A call still waiting for its slots or its memory
//! leaves the queue when dropped, and gives back whatever it already took.

pub(crate) mod report;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};
use tracing::Instrument;
use wasmtime::component::{Instance, InstancePre, ResourceTable, Val};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::capacity::Capacity;
use crate::component::{LoadedComponent, Metering};
use crate::describe::ExportedFunction;
use crate::sandbox::{CallLimits, Sandbox};
use crate::wasi::files::{EmptyRoot, GatedDirs};
use crate::wasi::net::{self, NetHooks, NetLog};
use crate::wasi::output::{CappedOutput, SinkStream};
pub(crate) use report::Failure;
use report::{CallError, CallReport, CallStats, DeadlineExceeded, Ending, Queue};

pub(crate) use state::CallState;
use state::MemoryLimiter;

/// The `tracing` target of the spans exported as a call's children (waiting
/// for capacity, instantiation, the guest's run): `TRACE` level, which no
/// log filter enables by default, so that with export off a span is one
/// level comparison. The MCP request spans (weld-mcp) and the audit's
/// decision events use it too.
pub const TRACE_TARGET: &str = "weld::otel";

/// How long past its deadline a call may stay in a host function before it
/// is abandoned: one epoch tick would do for guest code, but a host call
/// that is about to return should be let finish.
const HOST_GRACE: Duration = Duration::from_millis(500);

/// What runs in a call's fresh instance: an exported function with its
/// arguments ([`Export`]), or a request to an MCP-world component
/// (`crate::mcp::McpCall`).
pub(crate) trait Guest {
    /// What it gives back.
    type Output: Send;

    /// Runs in `instance`, just created in `store`.
    fn run(
        self,
        store: &mut Store<CallState>,
        instance: Instance,
    ) -> impl Future<Output = Result<Self::Output, Failure>> + Send;
}

/// An exported function, called with values.
pub(crate) struct Export<'a> {
    pub(crate) function: &'a ExportedFunction,
    pub(crate) args: &'a [Val],
}

impl Guest for Export<'_> {
    type Output = Vec<Val>;

    async fn run(
        self,
        store: &mut Store<CallState>,
        instance: Instance,
    ) -> Result<Vec<Val>, Failure> {
        let func = instance
            .get_func(&mut *store, self.function.index)
            .ok_or_else(|| {
                Failure::Instantiate(wasmtime::format_err!(
                    "export `{}` is missing from the instance",
                    self.function.name
                ))
            })?;
        let mut results = vec![Val::Bool(false); result_count(self.function)];
        func.call_async(&mut *store, self.args, &mut results)
            .await
            .map_err(Failure::Run)?;
        Ok(results)
    }
}

/// Runs `guest` in a fresh instance of `component` (see
/// [`LoadedComponent::call_queued`]).
pub(crate) async fn run<G: Guest>(
    component: &LoadedComponent,
    guest: G,
    limits: &CallLimits,
    sandbox: &Sandbox,
    tool_name: &str,
    queue: Queue,
) -> CallReport<G::Output> {
    run_steps(component, guest, limits, sandbox, tool_name, queue)
        .await
        .unwrap_or_else(CallReport::not_run)
}

/// The steps of [`run`]; an error is a call that ended before the guest
/// ran.
async fn run_steps<G: Guest>(
    component: &LoadedComponent,
    guest: G,
    limits: &CallLimits,
    sandbox: &Sandbox,
    tool_name: &str,
    queue: Queue,
) -> Result<CallReport<G::Output>, CallError> {
    let fuel =
        fuel_budget(component.metering, limits).map_err(|message| CallError::Instantiate {
            message: message.into(),
        })?;
    let queued_at = Instant::now();
    // Declared before the store, so dropped after it: the pool has its
    // memories and instances back before another call may take them.
    let _admission = admit(component, limits, queue)
        .instrument(tracing::trace_span!(target: TRACE_TARGET, "weld.queue"))
        .await?;
    let started = Instant::now();

    let output = Output::new(limits.log_capture);
    let log = NetLog::default();
    let wasi = wasi_ctx(sandbox, &output, &log)?;
    let root = sandbox
        .shows_empty_root()
        .then(|| Arc::clone(&component.root));
    let mut store = new_store(&component.pre, wasi, limits, sandbox, root, &log, fuel)?;
    let timeout = arm_deadline(&mut store, limits, started);
    let ran = run_guest(&component.pre, &mut store, guest, timeout).await;

    let printed = output.take();
    let stats = collect_stats(
        &mut store,
        &printed,
        &log,
        fuel,
        started,
        started - queued_at,
    );
    printed.log(tool_name);
    let ending = Ending {
        fuel,
        memory_refused: store.data().memory.refused,
        limits,
        stderr: &printed.stderr,
    };
    Ok(report::report(ran, &ending, stats))
}

/// The fuel the call starts with, checked against the engine the
/// component is on: a metered component without a budget would trap at
/// its first instruction, and a budget on an unmetered one would be
/// silently ignored, so either is refused before anything runs. (The
/// loader picks the engine from the same policy that sets the budget;
/// this is the guard that a mismatch cannot slip through.)
fn fuel_budget(metering: Metering, limits: &CallLimits) -> Result<Option<u64>, &'static str> {
    match (metering, limits.fuel) {
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

/// What a started call holds until it ends; dropped after its store.
pub(crate) struct Admission<'a> {
    _engine_slots: Option<SemaphorePermit<'a>>,
    _budget: SemaphorePermit<'a>,
    _shared_slots: SemaphorePermit<'a>,
}

/// Takes what one call needs before it may instantiate: the metered
/// engine's own slots, the memory budget, the shared slots, in that
/// order. Every call takes them in the same order (after its component's
/// concurrency permit, taken by the server), so no calls can wait for each
/// other in a cycle; the more specific resources come first, so that a
/// call waiting for them holds none of those every tool needs.
pub(crate) async fn admit<'a>(
    component: &'a LoadedComponent,
    limits: &CallLimits,
    queue: Queue,
) -> Result<Admission<'a>, CallError> {
    let budget = &component.budget;
    let pages = budget
        .pages_for(limits.memory)
        .ok_or(CallError::OverBudget {
            limit: limits.memory,
            budget: budget.bytes(),
        })?;
    let limit = limits.timeout;
    let engine_slots = match &component.engine_slots {
        Some(own) => {
            let resource = Capacity::MeteredSlots;
            Some(take(&own.semaphore, own.weight, resource, queue, limit).await?)
        }
        None => None,
    };
    let taken = take(&budget.pages, pages, Capacity::MemoryBudget, queue, limit).await?;
    let shared = &component.shared_slots;
    let shared_slots = take(
        &shared.semaphore,
        shared.weight,
        Capacity::InstanceSlots,
        queue,
        limit,
    )
    .await?;
    Ok(Admission {
        _engine_slots: engine_slots,
        _budget: taken,
        _shared_slots: shared_slots,
    })
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

/// The guest's stdout and stderr, captured.
struct Output {
    stdout: CappedOutput,
    stderr: CappedOutput,
}

impl Output {
    fn new(cap: usize) -> Self {
        Self {
            stdout: CappedOutput::new(cap),
            stderr: CappedOutput::new(cap),
        }
    }

    /// What the guest printed.
    fn take(&self) -> Printed {
        let (stdout, stdout_dropped) = self.stdout.take();
        let (stderr, stderr_dropped) = self.stderr.take();
        Printed {
            stdout,
            stdout_dropped,
            stderr,
            stderr_dropped,
        }
    }
}

/// What the guest printed: the text kept of each stream (lossy UTF-8) and
/// the bytes dropped beyond the cap.
struct Printed {
    stdout: String,
    stdout_dropped: u64,
    stderr: String,
    stderr_dropped: u64,
}

impl Printed {
    /// Logs both streams, tagged with the tool's name (never written to
    /// the host's own streams).
    fn log(&self, tool_name: &str) {
        log_guest_output(tool_name, "stdout", &self.stdout, self.stdout_dropped);
        log_guest_output(tool_name, "stderr", &self.stderr, self.stderr_dropped);
    }
}

/// The guest's WASI context: the deny-all default plus what `sandbox`
/// grants — captured output, sockets only for the schemes its network
/// rules allow (each address still checked), name lookups only when some
/// rule allows anything (each name still checked, see
/// `net::gate_name_lookups`), its environment and its directories.
fn wasi_ctx(sandbox: &Sandbox, output: &Output, log: &NetLog) -> Result<WasiCtx, CallError> {
    let mut builder = sandboxed_wasi(sandbox, log)?;
    builder
        .stdout(SinkStream(output.stdout.clone()))
        .stderr(SinkStream(output.stderr.clone()));
    Ok(builder.build())
}

/// The guest's WASI context but for its standard streams (closed until the
/// caller sets them): what `sandbox` grants, for a call ([`wasi_ctx`]) and
/// for a long-lived command (`crate::command`) alike.
pub(crate) fn sandboxed_wasi(sandbox: &Sandbox, log: &NetLog) -> Result<WasiCtxBuilder, CallError> {
    let mut builder = WasiCtxBuilder::new();
    let network = sandbox.network();
    let (tcp, udp) = (network.tcp(), network.udp());
    builder
        .allow_tcp(tcp)
        .allow_udp(udp)
        .allow_ip_name_lookup(!network.rules().allow().is_empty());
    if tcp || udp {
        let rules = Arc::clone(network.rules());
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
    for (key, value) in sandbox.env().iter() {
        builder.env(key, value);
    }
    // Directory grants, then the directories holding single granted files
    // (whose view the filesystem shadows enforce).
    let dirs = sandbox
        .preopens()
        .iter()
        .map(|p| (p.host(), p.guest(), p.writable()))
        .chain(
            sandbox
                .files()
                .iter()
                .map(|v| (v.host_dir(), v.guest_dir(), v.any_writable())),
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
    Ok(builder)
}

/// The call's store: its WASI context, its memory limiter, its network
/// hooks and its gated directories (with the empty `root`, if it shows
/// one), and its fuel.
pub(crate) fn new_store(
    pre: &InstancePre<CallState>,
    wasi: WasiCtx,
    limits: &CallLimits,
    sandbox: &Sandbox,
    root: Option<Arc<EmptyRoot>>,
    log: &NetLog,
    fuel: Option<u64>,
) -> Result<Store<CallState>, CallError> {
    let mut store = Store::new(
        pre.engine(),
        CallState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(limits.memory),
            http: WasiHttpCtx::new(),
            net: NetHooks {
                rules: Arc::clone(sandbox.network().rules()),
                log: log.clone(),
                limits: limits.http,
            },
            files: GatedDirs::new(
                Arc::clone(sandbox.preopens()),
                Arc::clone(sandbox.files()),
                root,
            ),
            config: Arc::clone(sandbox.env()),
        },
    );
    store.limiter(|state| &mut state.memory);
    if let Some(fuel) = fuel {
        store.set_fuel(fuel).map_err(|e| CallError::Instantiate {
            message: format!("the fuel budget could not be set: {e}"),
        })?;
    }
    Ok(store)
}

/// Stops guest code at the call's deadline (`started` plus its timeout),
/// and makes it yield at every epoch tick meanwhile. Returns the timeout
/// applied.
fn arm_deadline(store: &mut Store<CallState>, limits: &CallLimits, started: Instant) -> Duration {
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
    timeout
}

/// How many results `function` returns (zero or one).
fn result_count(function: &ExportedFunction) -> usize {
    match &function.signature {
        Ok(signature) => usize::from(signature.result.is_some()),
        Err(_) => 0,
    }
}

/// Instantiates and runs `guest`, within `timeout` plus a grace for a
/// host call about to return.
async fn run_guest<G: Guest>(
    pre: &InstancePre<CallState>,
    store: &mut Store<CallState>,
    guest: G,
    timeout: Duration,
) -> Result<G::Output, Failure> {
    let run = async {
        let instance = pre
            .instantiate_async(&mut *store)
            .instrument(tracing::trace_span!(target: TRACE_TARGET, "weld.instantiate"))
            .await
            .map_err(Failure::Instantiate)?;
        guest
            .run(store, instance)
            .instrument(tracing::trace_span!(target: TRACE_TARGET, "weld.guest.run"))
            .await
    };
    // The epoch deadline stops guest code; a host call that blocks (a FIFO
    // planted where a granted file was, a stuck disk) never returns to
    // guest code, so the whole call is bounded as well. The blocked host
    // thread is left to finish on its own; the call and its instance slot
    // end here.
    match tokio::time::timeout(timeout + HOST_GRACE, run).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Run(wasmtime::Error::new(DeadlineExceeded))),
    }
}

/// What the call measured.
fn collect_stats(
    store: &mut Store<CallState>,
    printed: &Printed,
    log: &NetLog,
    fuel: Option<u64>,
    started: Instant,
    queued: Duration,
) -> CallStats {
    let (storage_denied, storage_denied_dropped) = store.data_mut().files.take_denials();
    let (network, network_dropped) = log.take();
    let fuel_used = fuel.and_then(|budget| {
        let left = store.get_fuel().ok()?;
        Some(budget.saturating_sub(left))
    });
    CallStats {
        duration: started.elapsed(),
        queued,
        peak_memory: store.data().memory.peak,
        stdout_bytes: printed.stdout.len() as u64 + printed.stdout_dropped,
        stderr_bytes: printed.stderr.len() as u64 + printed.stderr_dropped,
        network,
        network_dropped,
        storage_denied,
        storage_denied_dropped,
        fuel_used,
    }
}

/// Logs what the guest printed, tagged with the tool's name.
fn log_guest_output(tool_name: &str, stream: &'static str, text: &str, dropped: u64) {
    if text.is_empty() && dropped == 0 {
        return;
    }
    tracing::info!(
        target: "weld::guest",
        tool = tool_name,
        stream,
        dropped_bytes = dropped,
        output = %text.trim_end(),
        "guest output"
    );
}
