//! weld's sandbox: a Wasmtime engine, a compile cache, and a fresh,
//! limited instance for every call.
//!
//! The design choice here is *isolation per call*: no state survives from one
//! tool call to the next, so one call can neither observe nor corrupt another.
//! That is affordable because the expensive work happens once per component
//! at load time — compilation (cached on disk), import resolution (one
//! [`InstancePre`](wasmtime::component::InstancePre)) and export lookup (one
//! index per function) — and instantiation from the pooling allocator with
//! copy-on-write memory images costs tens of microseconds.
//!
//! The one exception is a *command* (a component whose only export is
//! `wasi:cli/run`): an MCP server that speaks over its stdin and stdout
//! keeps its session in its memory, so it runs as one long-lived instance
//! ([`CommandServer`]) under the same sandbox and memory limit, and its
//! state is shared by every request it serves.
//!
//! A guest gets nothing by default: no preopened directory but an empty one
//! at `/` through which every path is refused and recorded, no environment,
//! no arguments, no stdin, no network. Its stdout and stderr are captured
//! (capped) and logged, never written to the host's streams. It may read the
//! wall and monotonic clocks and draw random numbers. Outbound HTTP
//! (`wasi:http`), sockets and name lookups (`wasi:sockets`) are linked, and
//! each use is decided by the call's network rules (see
//! [`NetworkGrant`]).
//!
//! **Two engines.** Wasmtime's fuel (a deterministic instruction budget) is
//! an engine-wide setting that changes the generated code of every function,
//! so a guest on a fuel-consuming engine pays for the counting whether or not
//! it was asked for. [`Runtime`] therefore keeps the engine it starts with
//! free of fuel, and builds a second, metered one — same configuration plus
//! `consume_fuel`, its own linker, epoch ticker, compile cache directory and
//! a smaller instance pool — only when the first component that needs fuel is
//! loaded ([`Metering::Fuel`]). Which engine a component is on is fixed when
//! it is loaded; a call checks that its limits agree (a budget on the metered
//! engine, none on the other) and refuses to start otherwise.
//!
//! **Capacity.** Every call takes, before it instantiates, the instance
//! slots its component needs and its memory limit from a budget shared by
//! all calls (see `capacity`), so the pooling allocator is never found
//! exhausted: calls beyond what fits wait (or are refused, [`Queue`]), and
//! [`LoadedComponent::share`] says how many of one component's calls fit
//! in half of it, leaving the rest to other tools.
//!
//! This crate knows nothing of where components come from, and of MCP
//! only the component worlds it hosts (`mcp`): never the wire protocol.

//! ## Map
//!
//! - `engine`: [`Runtime`], the two engines, their configuration and epoch
//!   ticker; `cache` the compile cache (the crate's one `unsafe`, with its
//!   contract), `incremental` the per-function cache Cranelift reuses
//!   between components, `compiler` compiling within limits, `describe`
//!   what a component exports and imports.
//! - `component`: [`LoadedComponent`] and its [`call`](LoadedComponent::call).
//! - `sandbox`: what a call may reach ([`Sandbox`]) and use ([`CallLimits`]).
//! - `call/`: one call in named steps, its store data and its report.
//! - `wasi/`: what a guest reaches through WASI, and weld's shadows over it;
//!   the only code that decides what a guest reaches.
//! - `capacity`: the instance pool and the memory budget.
//! - `command/`: long-lived instances of commands (`wasi:cli/run`), the
//!   MCP servers over stdio that weld proxies: their pipes, their stderr
//!   into the log, and how they ended.
//! - `mcp/`: MCP-world components: recognising the world, calling its
//!   exports, the client stream and `server-io` they send notifications
//!   through, and the world-neutral [`mcp::model`].

mod cache;
mod call;
mod capacity;
mod command;
pub mod compiler;
mod component;
mod describe;
mod description;
mod engine;
mod error;
mod footprint;
mod incremental;
pub mod mcp;
mod sandbox;
mod wasi;

pub use cache::{CacheKey, remove_interrupted_writes};
pub use call::TRACE_TARGET;
pub use call::report::{CallError, CallReport, CallStats, Queue};
pub use capacity::{Capacity, Footprint, Share, machine_memory_budget};
pub use command::{
    CommandEnd, CommandServer, CommandStdin, CommandStdout, PIPE_BYTES, RunningCommand, SandboxUse,
    is_command,
};
pub use compiler::{CompileLimit, CompileLimits, Compiler, CompilerProcess};
pub use component::{Inspection, LoadedComponent, Metering};
pub use describe::{ExportedFunction, ExportedFunctionType, ToolchainExport, short_interface_name};
pub use description::{Description, Prepared};
pub use engine::{Runtime, RuntimeConfig};
pub use error::{Cause, RuntimeError};
pub use incremental::{
    IncrementalCheck, IncrementalCompaction, IncrementalStats, check_incremental_caches,
    compact_incremental_caches,
};
pub use mcp::{McpExportsInfo, McpInterface, McpWorld, NotificationSink};
pub use sandbox::{
    CallLimits, DirIdentity, FileView, GrantedFile, HttpLimits, NetworkGrant, Preopen, Sandbox,
    SandboxBuilder, SandboxError,
};
pub use wasi::files::FileDenial;
pub use wasi::net::{NetUse, NetworkEvent};
/// The values a call takes and returns (Wasmtime's component values).
pub use wasmtime::component::Val;

#[cfg(test)]
mod tests;
