//! weld's sandbox: one Wasmtime engine, a compile cache, and a fresh,
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
//! A guest gets nothing by default: no preopened directories, no environment,
//! no arguments, no stdin, no network. Its stdout and stderr are captured
//! (capped) and logged, never written to the host's streams. It may read the
//! wall and monotonic clocks and draw random numbers. Outbound HTTP
//! (`wasi:http`), sockets and name lookups (`wasi:sockets`) are linked, and
//! each use is decided by the call's [`NetworkRules`] (see [`net`]).
//!
//! This crate knows nothing of MCP or of where components come from.

mod cache;
mod call;
mod describe;
mod files;
pub mod net;
mod output;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use call::{CallError, CallOutcome, CallStats};
pub use describe::{ExportedFunction, short_interface_name};
pub use files::{FileDenial, FileView, GrantedFile};
pub use net::{HttpLimits, NetUse, NetworkEvent};
pub use weld_policy::NetworkRules;
pub use weld_schema::{Signature, Ty, min_json_len};

use cache::CompileCache;
use call::CallState;

/// Errors from building the engine or loading a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not configure the Wasmtime engine: {0}")]
    Engine(String),
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error(
        "the component needs an import weld does not provide: {0}\n\
         (weld offers the WASI 0.2 interfaces: wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, wasi:sockets, wasi:http)"
    )]
    Link(String),
    #[error("compile cache at {path}: {cause}")]
    Cache {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled artefacts are kept.
    pub cache_dir: PathBuf,
    /// How many instances may exist at once, across all tools: the size of
    /// the instance pool. Calls beyond it wait for a slot.
    pub max_instances: u32,
    /// How often the epoch advances. A deadline or a cancellation takes
    /// effect within one tick of running guest code.
    pub epoch_tick: Duration,
}

impl RuntimeConfig {
    /// Defaults suited to a local server: 128 concurrent instances, 10 ms
    /// ticks.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            max_instances: 128,
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// Per-call limits.
///
/// Each one stops a guest-controlled resource exhaustion: `memory` a guest
/// growing its heap until the host swaps or dies, `timeout` a guest that never
/// returns, `log_capture` a guest printing without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of linear memory (all memories of the instance together).
    pub memory: u64,
    /// Wall-clock time from the start of instantiation.
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept for the log; the rest is counted
    /// and dropped.
    pub log_capture: usize,
    /// Caps on each outbound HTTP request.
    pub http: HttpLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 256 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            log_capture: 64 * 1024,
            http: HttpLimits::default(),
        }
    }
}

/// What a call may reach beyond the deny-all default, worked out from the
/// tool's policy when the tool is loaded. Its `Debug` shows variable names,
/// never values (they may be secrets).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// Directories the guest sees, each opened afresh for every call.
    pub preopens: Vec<Preopen>,
    /// Environment variables the guest sees, values already resolved.
    pub env: Vec<(String, String)>,
    /// Single granted files, by the directory the guest finds them in.
    pub files: Vec<Arc<FileView>>,
    /// What the guest may reach over the network; empty denies everything.
    pub network: Arc<NetworkRules>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("preopens", &self.preopens)
            .field("files", &self.files)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("network", &self.network)
            .finish()
    }
}

/// One granted directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host (absolute, symlinks resolved).
    pub host: PathBuf,
    /// Where the guest finds it.
    pub guest: String,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

/// The engine, the linker with the host's implementations, and the cache.
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<CallState>>,
    cache: CompileCache,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker thread (it stops on its
    /// own once the engine is dropped).
    ///
    /// # Errors
    ///
    /// When Wasmtime rejects the configuration (e.g. the pool cannot reserve
    /// its address space).
    pub fn new(config: &RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(config.max_instances))
            .map_err(|e| RuntimeError::Engine(format!("{e:?}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| call::gate_name_lookups(&mut linker))
            .and_then(|()| files::gate_single_files(&mut linker))
            .map_err(|e| RuntimeError::Engine(format!("{e:?}")))?;
        spawn_epoch_ticker(&engine, config.epoch_tick)
            .map_err(|e| RuntimeError::Engine(format!("could not start the epoch ticker: {e}")))?;
        let cache = CompileCache::new(&config.cache_dir, &engine);
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            cache,
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize)),
        })
    }

    /// Compiles `wasm` (when its artefact is not cached yet), resolves its
    /// imports and indexes its exports.
    ///
    /// `wasm` is only called on a cache miss, so a warm start reads no
    /// component bytes at all.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid component, or it imports something the
    /// host does not provide.
    pub fn load(
        &self,
        digest: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<LoadedComponent, RuntimeError> {
        let component = self.cache.load_or_compile(&self.engine, digest, wasm)?;
        self.prepare(component)
    }

    /// Compiles `wasm` and stores the artefact in the cache, then loads it.
    ///
    /// # Errors
    ///
    /// As [`Runtime::load`].
    pub fn compile(&self, digest: &str, wasm: &[u8]) -> Result<LoadedComponent, RuntimeError> {
        let component = self.cache.compile_and_store(&self.engine, digest, wasm)?;
        self.prepare(component)
    }

    /// Compiles `wasm` without touching the cache and without resolving
    /// imports, to describe a component that may not even be loadable.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid component.
    pub fn inspect(&self, wasm: &[u8]) -> Result<Inspection, RuntimeError> {
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| RuntimeError::Compile(format!("{e:?}")))?;
        let link_error = self
            .linker
            .instantiate_pre(&component)
            .err()
            .map(|e| format!("{e}"));
        Ok(Inspection {
            functions: describe::exported_functions(&self.engine, &component),
            imports: describe::imports(&self.engine, &component),
            link_error,
        })
    }

    fn prepare(&self, component: Component) -> Result<LoadedComponent, RuntimeError> {
        let functions = describe::exported_functions(&self.engine, &component);
        let imports = describe::imports(&self.engine, &component);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link(format!("{e}")))?;
        Ok(LoadedComponent {
            pre,
            functions,
            imports,
            slots: Arc::clone(&self.slots),
        })
    }
}

/// A component ready to be called: compiled, linked, its exports indexed.
pub struct LoadedComponent {
    pre: wasmtime::component::InstancePre<CallState>,
    functions: Vec<ExportedFunction>,
    imports: Vec<String>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("functions", &self.functions)
            .field("imports", &self.imports)
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// Exported functions, in declaration order.
    pub fn functions(&self) -> &[ExportedFunction] {
        &self.functions
    }

    /// Imported interface names.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// What [`Runtime::inspect`] finds.
#[derive(Debug)]
pub struct Inspection {
    pub functions: Vec<ExportedFunction>,
    pub imports: Vec<String>,
    /// Why the component could not be loaded by this host, if it could not.
    pub link_error: Option<String>,
}

fn engine_config(max_instances: u32) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // One call is one component instance; core instances, memories and
    // tables per component vary by toolchain (an interpreter brings several),
    // so the totals leave headroom for the larger ones.
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances * 8)
        .total_memories(max_instances * 2)
        .total_tables(max_instances * 8)
        .total_stacks(max_instances)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        // Reset a reused slot by rewriting only its resident pages instead of
        // `madvise(DONTNEED)`: the latter forces a TLB shootdown on every
        // other core running a weld thread, once per call (measured: 2x the
        // per-call cost under load, see docs/PERFORMANCE.md). The contents
        // are still restored exactly, so nothing leaks between calls.
        .linear_memory_keep_resident(2 * 1024 * 1024)
        .table_keep_resident(2 * 1024 * 1024)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .memory_init_cow(true)
        .parallel_compilation(true);
    config
}

/// Without the ticker no deadline would ever fire, so failing to start it is
/// an error, not a warning.
fn spawn_epoch_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("weld-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}
