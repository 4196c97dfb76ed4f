//! A component loaded and ready to be called ([`LoadedComponent`], whose
//! [`call`](LoadedComponent::call) runs one tool call and
//! [`call_mcp`](LoadedComponent::call_mcp) one request to an MCP-world
//! component), what
//! [`Runtime::inspect`](crate::Runtime::inspect) finds without compiling
//! ([`Inspection`]), and which engine a component runs on ([`Metering`]).

use std::sync::Arc;

use wasmtime::component::{InstancePre, Val};

#[cfg(doc)]
use crate::call::report::CallError;
use crate::call::report::{CallReport, Queue};
use crate::call::{self, CallState};
use crate::capacity::{self, Budget, Capacity, Footprint, Share, deadline_after};
use crate::describe::{ExportedFunction, ExportedFunctionType, ToolchainExport};
use crate::mcp::model::{McpReply, McpRequest};
use crate::mcp::{McpCall, McpExports, McpExportsInfo, NotificationSink};
use crate::sandbox::{CallLimits, Sandbox};
use crate::wasi::files::EmptyRoot;

/// Whether a component's calls count fuel: which engine it is loaded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metering {
    /// The default engine: no fuel, no cost for counting it. A call's
    /// [`CallLimits::fuel`] must be `None`.
    #[default]
    Off,
    /// The metered engine: every call starts with [`CallLimits::fuel`] units
    /// and traps when they run out. A call's `CallLimits::fuel` must be set.
    Fuel,
}

impl Metering {
    /// The metering that a fuel budget (or none) needs.
    pub fn for_budget(fuel: Option<u64>) -> Self {
        if fuel.is_some() {
            Self::Fuel
        } else {
            Self::Off
        }
    }
}

/// A component ready to be called: compiled, linked, its exports indexed.
pub struct LoadedComponent {
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) functions: Vec<ExportedFunction>,
    /// Exports its toolchain added, which are never tools.
    pub(crate) toolchain_exports: Vec<ToolchainExport>,
    /// Its MCP world's exports, when it is an MCP-world component.
    pub(crate) mcp: Option<McpExports>,
    pub(crate) imports: Vec<String>,
    /// What one call takes from the instance pool.
    pub(crate) footprint: Footprint,
    /// The engine it was loaded on; a call's limits must agree.
    pub(crate) metering: Metering,
    /// Its engine's own slots, taken before the shared ones (see
    /// [`RuntimeConfig::max_metered_instances`](crate::RuntimeConfig::max_metered_instances)).
    pub(crate) engine_slots: Option<SlotPermits>,
    /// The instance slots shared by both engines.
    pub(crate) shared_slots: SlotPermits,
    /// The memory budget shared by all calls.
    pub(crate) budget: Arc<Budget>,
    /// What its calls' guests find at `/` beyond their grants.
    pub(crate) root: Arc<EmptyRoot>,
}

/// A pool's slots, and how many of them one call of a component takes.
pub(crate) struct SlotPermits {
    pub(crate) semaphore: Arc<tokio::sync::Semaphore>,
    pub(crate) weight: u32,
    pub(crate) total: u32,
}

impl SlotPermits {
    /// The calls that fit in half the pool.
    fn half(&self) -> u32 {
        capacity::half(u64::from(self.total), u64::from(self.weight))
    }
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("functions", &self.functions)
            .field("imports", &self.imports)
            .field("metering", &self.metering)
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// Runs `function` with `args` in a fresh instance under `limits`.
    ///
    /// `args` must match the function's parameter types (the schema layer
    /// guarantees it); a mismatch is reported as a trap, never a panic.
    /// `tool_name` tags what the guest prints in weld's log.
    ///
    /// A call that cannot start at once waits for its instance slots and
    /// its memory at most `limits.timeout` (then fails with
    /// [`CallError::QueueTimeout`]); its own time limit starts when it
    /// starts.
    ///
    /// The report's `result` is the function's results, or the
    /// [`CallError`] that says why there are none: every way a guest can
    /// fail ends there, and the host is unaffected.
    pub async fn call(
        &self,
        function: &ExportedFunction,
        args: &[Val],
        limits: &CallLimits,
        sandbox: &Sandbox,
        tool_name: &str,
    ) -> CallReport {
        let queue = Queue::Until(deadline_after(limits.timeout));
        self.call_queued(function, args, limits, sandbox, tool_name, queue)
            .await
    }

    /// As [`call`](Self::call), waiting to start as `queue` says.
    pub async fn call_queued(
        &self,
        function: &ExportedFunction,
        args: &[Val],
        limits: &CallLimits,
        sandbox: &Sandbox,
        tool_name: &str,
        queue: Queue,
    ) -> CallReport {
        let guest = call::Export { function, args };
        call::run(self, guest, limits, sandbox, tool_name, queue).await
    }

    /// Runs one request to this MCP-world component in a fresh instance,
    /// under `limits` and `sandbox` like any call, waiting to start as
    /// `queue` says. What it sends its client meanwhile goes to `sink`; its
    /// answer, streams included, and its notifications may each take at
    /// most `cap` bytes. `protocol_version` is told to the component.
    ///
    /// A component that is not of an MCP world gets a reply saying so.
    #[allow(clippy::too_many_arguments, reason = "one call's inputs, each needed")]
    pub async fn call_mcp(
        &self,
        request: McpRequest,
        protocol_version: &str,
        sink: Option<NotificationSink>,
        cap: u64,
        limits: &CallLimits,
        sandbox: &Sandbox,
        name: &str,
        queue: Queue,
    ) -> CallReport<McpReply> {
        let Some(exports) = &self.mcp else {
            return CallReport {
                stats: None,
                result: Ok(McpReply::Invalid(
                    "the component is not of an MCP world".into(),
                )),
            };
        };
        let guest = McpCall {
            exports,
            request,
            protocol_version,
            sink,
            cap,
            component: Arc::from(name),
        };
        call::run(self, guest, limits, sandbox, name, queue).await
    }

    /// The MCP world it implements and which of its interfaces it exports;
    /// `None` for a component of plain functions.
    pub fn mcp(&self) -> Option<&McpExportsInfo> {
        self.mcp.as_ref().map(|m| &m.info)
    }

    /// The engine it was loaded on.
    pub fn metering(&self) -> Metering {
        self.metering
    }

    /// Exported functions, in declaration order.
    pub fn functions(&self) -> &[ExportedFunction] {
        &self.functions
    }

    /// Exports its toolchain added for its own use: never tools.
    pub fn toolchain_exports(&self) -> &[ToolchainExport] {
        &self.toolchain_exports
    }

    /// Imported interface names.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The instance slots one call takes (see
    /// [`RuntimeConfig::max_instances`](crate::RuntimeConfig::max_instances)).
    pub fn slots_per_call(&self) -> u32 {
        self.shared_slots.weight
    }

    /// How many calls of this component may run at once, each with memory
    /// limit `memory`, so that together they hold at most half of the
    /// instance slots and half of the memory budget: the rest is left for
    /// other tools. `calls` is 0 when one call's limit exceeds the whole
    /// budget (such a call is refused).
    pub fn share(&self, memory: u64) -> Share {
        share(
            &self.shared_slots,
            self.engine_slots.as_ref(),
            &self.budget,
            memory,
        )
    }
}

/// As [`LoadedComponent::share`], from the slots one call takes.
pub(crate) fn share(
    shared_slots: &SlotPermits,
    engine_slots: Option<&SlotPermits>,
    budget: &Budget,
    memory: u64,
) -> Share {
    let Some(pages) = budget.pages_for(memory) else {
        return Share {
            calls: 0,
            bound_by: Capacity::MemoryBudget,
        };
    };
    let shares = [
        Some((shared_slots.half(), Capacity::InstanceSlots)),
        engine_slots.map(|own| (own.half(), Capacity::MeteredSlots)),
        Some((
            capacity::half(u64::from(budget.total_pages), u64::from(pages)),
            Capacity::MemoryBudget,
        )),
    ];
    let (calls, bound_by) = shares
        .into_iter()
        .flatten()
        .min_by_key(|(calls, _)| *calls)
        .unwrap_or((1, Capacity::InstanceSlots));
    Share { calls, bound_by }
}

/// What [`Runtime::inspect`](crate::Runtime::inspect) finds.
#[derive(Debug)]
pub struct Inspection {
    /// Exported functions, in declaration order.
    pub functions: Vec<ExportedFunctionType>,
    /// Exports its toolchain added for its own use: never tools.
    pub toolchain_exports: Vec<ToolchainExport>,
    /// The MCP world it implements, when it is an MCP-world component.
    pub mcp: Option<McpExportsInfo>,
    /// Imported interface names.
    pub imports: Vec<String>,
    /// Why the component could not be loaded by this host, if it could not.
    pub link_error: Option<String>,
    /// What one call of it takes from the instance pool (its core instance
    /// count a lower bound, see [`Footprint`]), or why the pool cannot
    /// hold one call at all.
    pub footprint: Result<Footprint, String>,
}
