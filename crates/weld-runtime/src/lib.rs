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
//! A guest gets nothing by default: no preopened directories, no environment,
//! no arguments, no stdin, no network. Its stdout and stderr are captured
//! (capped) and logged, never written to the host's streams. It may read the
//! wall and monotonic clocks and draw random numbers. Outbound HTTP
//! (`wasi:http`), sockets and name lookups (`wasi:sockets`) are linked, and
//! each use is decided by the call's [`NetworkRules`] (see [`net`]).
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
//! This crate knows nothing of MCP or of where components come from.

mod cache;
mod call;
mod capacity;
pub mod compiler;
mod describe;
mod files;
pub mod net;
mod output;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

pub use cache::CacheKey;
pub use call::{CallError, CallOutcome, CallStats, Queue};
pub use capacity::{Capacity, Share, machine_memory_budget};
pub use compiler::{CompileLimit, CompileLimits, Compiler, CompilerProcess};
pub use describe::{ExportedFunction, ExportedFunctionType, short_interface_name};
pub use files::{FileDenial, FileView, GrantedFile};
pub use net::{HttpLimits, NetUse, NetworkEvent};
pub use weld_policy::NetworkRules;
pub use weld_schema::{Signature, Ty, min_json_len};

use cache::CompileCache;
use call::CallState;
use capacity::{Budget, Footprint, PoolShape};

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
    #[error(
        "the component needs {slots} instance slots per call (it defines {memories} linear \
         memories and {tables} tables), more than the pool's {capacity}; raise --max-instances"
    )]
    TooLarge {
        slots: u32,
        memories: u32,
        tables: u32,
        capacity: u32,
    },
    #[error("compile cache at {path}: {cause}")]
    Cache {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// Another user could change the compile cache (the message says how to
    /// fix it).
    #[error("compile cache: {0}")]
    UnsafeCacheDir(#[from] weld_fs::DirError),
    /// Compiling the component went over a limit of [`CompileLimits`].
    #[error("{0}")]
    CompileLimit(CompileLimit),
    /// The compiler process failed for another reason.
    #[error("the compiler process failed: {0}")]
    Compiler(String),
}

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled artefacts are kept.
    pub cache_dir: PathBuf,
    /// How many instances may exist at once, across all tools: the size of
    /// the instance pool, in slots. A call takes one slot, or more for a
    /// component with many memories or tables (see [`Capacity`]); calls
    /// beyond it wait for a slot.
    pub max_instances: u32,
    /// How many instances of fuel-metered components may exist at once
    /// (never more than `max_instances`, whose slots they also take): the
    /// size of the metered engine's own pool, built only when needed. Every
    /// pool slot reserves virtual address space for its linear memories up
    /// front, so this second pool is kept small; metered calls beyond it
    /// wait for a slot, without holding one of the shared ones meanwhile.
    pub max_metered_instances: u32,
    /// How often the epoch advances. A deadline or a cancellation takes
    /// effect within one tick of running guest code.
    pub epoch_tick: Duration,
    /// Authenticates the artefacts in `cache_dir`: one not written under
    /// this key is never loaded. `None`: a key drawn for this process, so
    /// artefacts earlier processes wrote are compiled again.
    pub cache_key: Option<CacheKey>,
    /// Where, and within which limits, components are compiled.
    pub compiler: Compiler,
    /// Bytes of linear memory all running calls may reserve together: each
    /// call reserves its memory limit before it starts, and calls beyond
    /// the budget wait for it.
    pub memory_budget: u64,
}

impl RuntimeConfig {
    /// Defaults suited to a local server: 128 concurrent instances, 16 of
    /// them metered, 10 ms ticks, and a memory budget of half the machine's
    /// memory ([`machine_memory_budget`], which reads `/proc`), at least the
    /// default memory limit of one call.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            max_instances: 128,
            max_metered_instances: 16,
            epoch_tick: Duration::from_millis(10),
            cache_key: None,
            compiler: Compiler::InProcess,
            // Never below one call at the default limit, so that weld runs
            // a call with default limits on any machine.
            memory_budget: machine_memory_budget().max(Limits::default().memory),
        }
    }
}

/// Whether a component's calls count fuel: which engine it is loaded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metering {
    /// The default engine: no fuel, no cost for counting it. A call's
    /// [`Limits::fuel`] must be `None`.
    #[default]
    Off,
    /// The metered engine: every call starts with [`Limits::fuel`] units
    /// and traps when they run out. A call's `Limits::fuel` must be set.
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

/// Per-call limits.
///
/// Each one stops a guest-controlled resource exhaustion: `memory` a guest
/// growing its heap until the host swaps or dies, `timeout` a guest that never
/// returns, `log_capture` a guest printing without end. `fuel` bounds the
/// work itself, the same for every run of the same call, whatever the load
/// of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of linear memory (all memories of the instance together).
    pub memory: u64,
    /// Wall-clock time from the start of instantiation.
    pub timeout: Duration,
    /// Fuel for instantiation and the call together (Wasmtime fuel: about
    /// one unit per WebAssembly instruction; host calls cost none). Set
    /// exactly when the component was loaded with [`Metering::Fuel`].
    pub fuel: Option<u64>,
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
            fuel: None,
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
    /// Shared, so a call takes them without copying.
    pub preopens: Arc<[Preopen]>,
    /// Environment variables the guest sees, values already resolved.
    pub env: Vec<(String, String)>,
    /// Single granted files, by the directory the guest finds them in.
    pub files: Arc<[Arc<FileView>]>,
    /// What the guest may reach over the network; empty denies everything.
    pub network: NetworkGrant,
}

/// A tool's network rules, with what they mean for WASI's socket setup
/// worked out once, when the tool is loaded, instead of on every call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkGrant {
    rules: Arc<NetworkRules>,
    tcp: bool,
    udp: bool,
}

impl NetworkGrant {
    pub fn new(rules: NetworkRules) -> Self {
        let grants = |scheme: weld_policy::Scheme| {
            rules.allow().iter().any(|a| a.schemes().contains(&scheme))
        };
        let (tcp, udp) = (
            grants(weld_policy::Scheme::Tcp),
            grants(weld_policy::Scheme::Udp),
        );
        Self {
            rules: Arc::new(rules),
            tcp,
            udp,
        }
    }

    /// The rules every request, socket and lookup is checked against.
    pub fn rules(&self) -> &Arc<NetworkRules> {
        &self.rules
    }
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
    /// What `host` was when the policy was compiled; see [`DirIdentity`].
    pub identity: DirIdentity,
}

/// A directory's device and inode numbers.
///
/// WASI opens a preopened directory by its path for every call, following
/// symlinks on the way. Something with write access to a directory on that
/// path (another tool with a read-write grant, or any process) could swap a
/// component for a symlink and make the path lead elsewhere. So the identity
/// is recorded when the policy is compiled, and the directory handle each
/// call actually opened is checked against it before the guest can use it:
/// a call that would get another directory is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirIdentity {
    pub dev: u64,
    pub ino: u64,
}

impl DirIdentity {
    /// The identity of the directory `path` names now.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub fn of(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    pub(crate) fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The engines, the linkers with the host's implementations, and the caches.
pub struct Runtime {
    config: RuntimeConfig,
    /// The engine without fuel, built at once: most tools run here.
    plain: Arc<Flavour>,
    /// The fuel-metered engine, built by the first load that needs it (the
    /// lock is taken at load time only, never on the call path).
    metered: Mutex<Option<Arc<Flavour>>>,
    /// Instance slots shared by both engines, shaped like the plain
    /// engine's pool.
    slots: Arc<tokio::sync::Semaphore>,
    shape: PoolShape,
    /// Linear memory all calls of both engines may reserve.
    budget: Arc<Budget>,
}

/// One engine with its linker and compile cache.
struct Flavour {
    metering: Metering,
    engine: Engine,
    linker: Arc<Linker<CallState>>,
    cache: CompileCache,
    /// This engine's pool.
    shape: PoolShape,
    /// This engine's own slots, when its pool is smaller than the shared
    /// slots (the metered one).
    pool: Option<Arc<tokio::sync::Semaphore>>,
}

impl Flavour {
    /// Builds the engine and its linker and starts its epoch ticker thread
    /// (it stops on its own once the engine is dropped).
    fn new(config: &RuntimeConfig, metering: Metering) -> Result<Self, RuntimeError> {
        let instances = match metering {
            Metering::Off => config.max_instances,
            Metering::Fuel => config.max_metered_instances.min(config.max_instances),
        };
        let shape = PoolShape::new(instances);
        let engine = Engine::new(&engine_config(shape, metering)?)
            .map_err(|e| RuntimeError::Engine(format!("{e:?}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| call::gate_name_lookups(&mut linker))
            .and_then(|()| files::gate_single_files(&mut linker))
            .map_err(|e| RuntimeError::Engine(format!("{e:?}")))?;
        // Deadlines and cancellation rely on epochs on both engines: fuel
        // bounds the work, not the time spent waiting in host calls.
        spawn_epoch_ticker(&engine, config.epoch_tick)
            .map_err(|e| RuntimeError::Engine(format!("could not start the epoch ticker: {e}")))?;
        let cache = CompileCache::open(&config.cache_dir, &engine, config.cache_key.as_ref())?;
        let pool = (instances < config.max_instances)
            .then(|| Arc::new(tokio::sync::Semaphore::new(shape.slots() as usize)));
        Ok(Self {
            metering,
            engine,
            linker: Arc::new(linker),
            cache,
            shape,
            pool,
        })
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine without fuel and starts its epoch ticker thread;
    /// the metered engine waits until a component needs it.
    ///
    /// # Errors
    ///
    /// When Wasmtime rejects the configuration (e.g. the pool cannot reserve
    /// its address space).
    pub fn new(config: &RuntimeConfig) -> Result<Self, RuntimeError> {
        let plain = Flavour::new(config, Metering::Off)?;
        let shape = plain.shape;
        Ok(Self {
            config: config.clone(),
            plain: Arc::new(plain),
            metered: Mutex::new(None),
            slots: Arc::new(tokio::sync::Semaphore::new(shape.slots() as usize)),
            shape,
            budget: Arc::new(Budget::new(config.memory_budget)),
        })
    }

    /// The memory budget, in bytes (whole 64 KiB pages of
    /// [`RuntimeConfig::memory_budget`]).
    pub fn memory_budget(&self) -> u64 {
        self.budget.bytes()
    }

    /// Whether the metered engine has been built (some component loaded
    /// with [`Metering::Fuel`]).
    pub fn has_metered_engine(&self) -> bool {
        self.metered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The engine for `metering`, building the metered one on first use.
    fn flavour(&self, metering: Metering) -> Result<Arc<Flavour>, RuntimeError> {
        match metering {
            Metering::Off => Ok(Arc::clone(&self.plain)),
            Metering::Fuel => {
                // A poisoned lock only means another load panicked; the
                // `Option` inside is still either built or not.
                let mut metered = self.metered.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(flavour) = &*metered {
                    return Ok(Arc::clone(flavour));
                }
                let flavour = Arc::new(Flavour::new(&self.config, Metering::Fuel)?);
                tracing::info!(
                    instances = self
                        .config
                        .max_metered_instances
                        .min(self.config.max_instances),
                    "a component's policy sets fuel: metered engine started"
                );
                *metered = Some(Arc::clone(&flavour));
                Ok(flavour)
            }
        }
    }

    /// Loads the component with `digest` on the engine `metering` picks
    /// from the compile cache, or — when it is not there — compiles `wasm`
    /// as [`RuntimeConfig::compiler`] says and caches it; then resolves its
    /// imports and indexes its exports.
    ///
    /// `wasm` is only called on a cache miss, so a warm start reads no
    /// component bytes at all. A miss blocks the calling thread until the
    /// compilation ends (with [`Compiler::Process`], within its limits; the
    /// thread only waits meanwhile): call it from a blocking task, or use
    /// [`Runtime::load_cached`] first.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid component, compiling them went over a
    /// limit ([`RuntimeError::CompileLimit`]), it imports something the host
    /// does not provide, or the metered engine cannot be built.
    pub fn load(
        &self,
        digest: &str,
        metering: Metering,
        wasm: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<LoadedComponent, RuntimeError> {
        let flavour = self.flavour(metering)?;
        let component = match flavour.cache.get(&flavour.engine, digest) {
            Some(component) => component,
            None => self.compile_and_cache(&flavour, digest, &wasm()?)?,
        };
        self.prepare(&flavour, component)
    }

    /// Loads the component with `digest` only if the compile cache has it:
    /// never compiles, so it returns quickly (a read and a MAC). `Ok(None)`
    /// on a miss.
    ///
    /// # Errors
    ///
    /// When it imports something the host does not provide, or the metered
    /// engine cannot be built.
    pub fn load_cached(
        &self,
        digest: &str,
        metering: Metering,
    ) -> Result<Option<LoadedComponent>, RuntimeError> {
        let flavour = self.flavour(metering)?;
        match flavour.cache.get(&flavour.engine, digest) {
            Some(component) => self.prepare(&flavour, component).map(Some),
            None => Ok(None),
        }
    }

    /// Compiles `wasm` for the engine `metering` picks as
    /// [`RuntimeConfig::compiler`] says, stores the artefact in the cache,
    /// then loads it. Blocks like a cache miss of [`Runtime::load`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::load`].
    pub fn compile(
        &self,
        digest: &str,
        metering: Metering,
        wasm: &[u8],
    ) -> Result<LoadedComponent, RuntimeError> {
        let flavour = self.flavour(metering)?;
        let component = self.compile_and_cache(&flavour, digest, wasm)?;
        self.prepare(&flavour, component)
    }

    /// Compiles, stores the artefact with its MAC, and loads it from the
    /// very bytes stored.
    fn compile_and_cache(
        &self,
        flavour: &Flavour,
        digest: &str,
        wasm: &[u8],
    ) -> Result<Component, RuntimeError> {
        let artefact = compiler::compile(
            &flavour.engine,
            flavour.cache.engine_key(),
            flavour.metering,
            &self.config.compiler,
            wasm,
        )?;
        flavour.cache.put(digest, &artefact)?;
        // SAFETY: `artefact` is the output of `Engine::precompile_component`
        // for an engine of this configuration: this one, or the compiler
        // process's (this same build, the same `engine_config`), whose
        // compatibility key `compiler::compile` checked is this engine's.
        // Wasmtime checks version and configuration again while loading.
        unsafe { Component::deserialize(&flavour.engine, &artefact) }
            .map_err(|e| RuntimeError::Compile(format!("{e:?}")))
    }

    /// Describes `wasm` without compiling it: validates it with the engine's
    /// features, reads its exported functions and imports from the
    /// validator's types, and checks its imports against the linker (see
    /// `describe.rs`). Takes time linear in the size of the bytes, however
    /// long its code would take to compile, so it is safe on untrusted
    /// files. Both engines link the same imports, so the one without fuel
    /// answers for both.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid component.
    pub fn inspect(&self, wasm: &[u8]) -> Result<Inspection, RuntimeError> {
        let plain = &self.plain;
        let found = describe::uncompiled(&plain.engine, &plain.linker, wasm)
            .map_err(RuntimeError::Compile)?;
        Ok(Inspection {
            functions: found.functions,
            imports: found.imports,
            link_error: found.link_error,
        })
    }

    fn prepare(
        &self,
        flavour: &Flavour,
        component: Component,
    ) -> Result<LoadedComponent, RuntimeError> {
        let functions = describe::exported_functions(&flavour.engine, &component);
        let imports = describe::imports(&flavour.engine, &component);
        let pre = flavour
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link(format!("{e}")))?;
        // Wasmtime has already refused a component beyond the per-component
        // maxima, which every pool holds; this guards that promise.
        let footprint = Footprint::of(&component);
        let slots_of = |semaphore: &Arc<tokio::sync::Semaphore>, shape: PoolShape| {
            let slots = PoolSlots {
                semaphore: Arc::clone(semaphore),
                weight: shape.weight(footprint),
                total: shape.slots(),
            };
            if slots.weight > slots.total {
                return Err(RuntimeError::TooLarge {
                    slots: slots.weight,
                    memories: footprint.memories,
                    tables: footprint.tables,
                    capacity: slots.total,
                });
            }
            Ok(slots)
        };
        let pool = match &flavour.pool {
            Some(pool) => Some(slots_of(pool, flavour.shape)?),
            None => None,
        };
        Ok(LoadedComponent {
            pre,
            functions,
            imports,
            metering: flavour.metering,
            pool,
            slots: slots_of(&self.slots, self.shape)?,
            budget: Arc::clone(&self.budget),
        })
    }
}

/// A component ready to be called: compiled, linked, its exports indexed.
pub struct LoadedComponent {
    pre: wasmtime::component::InstancePre<CallState>,
    functions: Vec<ExportedFunction>,
    imports: Vec<String>,
    /// The engine it was loaded on; a call's limits must agree.
    metering: Metering,
    /// Its engine's own slots, taken before the shared ones (see
    /// [`RuntimeConfig::max_metered_instances`]).
    pool: Option<PoolSlots>,
    /// The instance slots shared by both engines.
    slots: PoolSlots,
    budget: Arc<Budget>,
}

/// A pool's slots, and how many of them one call of a component takes.
struct PoolSlots {
    semaphore: Arc<tokio::sync::Semaphore>,
    weight: u32,
    total: u32,
}

impl PoolSlots {
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
    /// The engine it was loaded on.
    pub fn metering(&self) -> Metering {
        self.metering
    }

    /// Exported functions, in declaration order.
    pub fn functions(&self) -> &[ExportedFunction] {
        &self.functions
    }

    /// Imported interface names.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The instance slots one call takes (see [`RuntimeConfig::max_instances`]).
    pub fn slots_per_call(&self) -> u32 {
        self.slots.weight
    }

    /// How many calls of this component may run at once, each with memory
    /// limit `memory`, so that together they hold at most half of the
    /// instance slots and half of the memory budget: the rest is left for
    /// other tools. `calls` is 0 when one call's limit exceeds the whole
    /// budget (such a call is refused).
    pub fn share(&self, memory: u64) -> Share {
        let Some(pages) = self.budget.pages_for(memory) else {
            return Share {
                calls: 0,
                bound_by: Capacity::MemoryBudget,
            };
        };
        let shares = [
            Some((self.slots.half(), Capacity::InstanceSlots)),
            self.pool
                .as_ref()
                .map(|pool| (pool.half(), Capacity::MeteredSlots)),
            Some((
                capacity::half(u64::from(self.budget.total_pages), u64::from(pages)),
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
}

#[cfg(test)]
impl Runtime {
    /// Whether every shared slot and every page of the budget is free.
    fn idle(&self) -> bool {
        self.slots.available_permits() == self.shape.slots() as usize
            && self.budget.pages.available_permits() == self.budget.total_pages as usize
    }

    /// Free pages of the memory budget.
    fn free_budget_pages(&self) -> usize {
        self.budget.pages.available_permits()
    }

    /// Free shared slots.
    fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

/// What [`Runtime::inspect`] finds.
#[derive(Debug)]
pub struct Inspection {
    pub functions: Vec<ExportedFunctionType>,
    pub imports: Vec<String>,
    /// Why the component could not be loaded by this host, if it could not.
    pub link_error: Option<String>,
}

fn engine_config(shape: PoolShape, metering: Metering) -> Result<Config, RuntimeError> {
    // Sized in slots, which calls take before they instantiate, so the
    // pool itself is never found exhausted (see `capacity`).
    let mut pool = shape.pooling().map_err(RuntimeError::Engine)?;
    pool
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
        // Changes the code generated for every function (a counter update
        // per block), hence its own engine; it also changes the engine's
        // compatibility hash, so the two engines' artefacts never mix.
        .consume_fuel(metering == Metering::Fuel)
        .memory_init_cow(true)
        .parallel_compilation(true);
    Ok(config)
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

#[cfg(test)]
mod tests;
