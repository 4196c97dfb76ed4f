//! The engines: [`Runtime`] builds them, loads components onto them and
//! hands out [`LoadedComponent`]s.
//!
//! There are two engines (see the crate docs): the plain one, built at
//! once, and the fuel-metered one, built by the first load that needs it.
//! Each is an [`EngineBundle`]: the Wasmtime engine with its linker (WASI,
//! `wasi:http` and weld's shadows, see `wasi`), its compile cache, its pool
//! and its epoch ticker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

use crate::cache::{CacheKey, CompileCache};
use crate::call::CallState;
use crate::capacity::{Budget, Footprint, PoolShape, Share, machine_memory_budget};
use crate::compiler::{self, Compiler};
use crate::component::{Inspection, LoadedComponent, Metering, SlotPermits};
use crate::describe;
use crate::description::{self, Description, Prepared};
use crate::error::RuntimeError;
use crate::footprint;
use crate::incremental::{IncrementalStats, IncrementalStore};
use crate::mcp::{self, McpExports};
use crate::sandbox::CallLimits;
use crate::wasi;
use crate::wasi::files::EmptyRoot;

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
    /// The largest the incremental compile cache may grow, in bytes (see
    /// `incremental`): compiled functions that components built by the same
    /// toolchain share, reused instead of compiled again. 0 turns it off;
    /// it is off without a `cache_key` too (its records could not be
    /// trusted by a later process).
    pub incremental_cache_bytes: u64,
    /// Bytes of linear memory all running calls may reserve together: each
    /// call reserves its memory limit before it starts, and calls beyond
    /// the budget wait for it.
    pub memory_budget: u64,
}

impl RuntimeConfig {
    /// 512 MiB, the default of `incremental_cache_bytes`: a componentize-py
    /// or componentize-js component leaves about 36 MB of compiled
    /// functions, so this keeps a dozen toolchains' interpreters.
    pub const DEFAULT_INCREMENTAL_CACHE_BYTES: u64 = 512 * 1024 * 1024;

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
            incremental_cache_bytes: Self::DEFAULT_INCREMENTAL_CACHE_BYTES,
            // Never below one call at the default limit, so that weld runs
            // a call with default limits on any machine.
            memory_budget: machine_memory_budget().max(CallLimits::default().memory),
        }
    }
}

/// The engines, the linkers with the host's implementations, and the caches.
pub struct Runtime {
    config: RuntimeConfig,
    /// The engine without fuel, built at once: most tools run here.
    pub(crate) plain: Arc<EngineBundle>,
    /// The fuel-metered engine, built by the first load that needs it (the
    /// lock is taken at load time only, never on the call path).
    metered: Mutex<Option<Arc<EngineBundle>>>,
    /// Instance slots shared by both engines, shaped like the plain
    /// engine's pool.
    shared_slots: Arc<Semaphore>,
    shape: PoolShape,
    /// Linear memory all calls of both engines may reserve.
    budget: Arc<Budget>,
    /// What every call's guest finds at `/` beyond its grants.
    root: Arc<EmptyRoot>,
}

/// One engine with its linker, compile cache and pool.
pub(crate) struct EngineBundle {
    metering: Metering,
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<CallState>>,
    cache: CompileCache,
    /// The incremental compile cache, when on: Cranelift's in this engine
    /// for [`Compiler::InProcess`], the compiler process's otherwise.
    incremental: Option<Arc<IncrementalStore>>,
    /// This engine's pool.
    shape: PoolShape,
    /// This engine's own slots, when its pool is smaller than the shared
    /// slots (the metered one).
    own_slots: Option<Arc<Semaphore>>,
}

impl EngineBundle {
    /// Builds the engine and its linker and starts its epoch ticker thread
    /// (it stops on its own once the engine is dropped).
    fn new(config: &RuntimeConfig, metering: Metering) -> Result<Self, RuntimeError> {
        let instances = match metering {
            Metering::Off => config.max_instances,
            Metering::Fuel => config.max_metered_instances.min(config.max_instances),
        };
        let shape = PoolShape::new(instances);
        let incremental = match &config.cache_key {
            Some(key) if config.incremental_cache_bytes > 0 => Some(Arc::new(
                IncrementalStore::new(key.clone(), config.incremental_cache_bytes),
            )),
            _ => None,
        };
        let mut engine_config = engine_config(shape, metering)?;
        if let (Compiler::InProcess, Some(store)) = (&config.compiler, &incremental) {
            engine_config
                .enable_incremental_compilation(Arc::clone(store) as Arc<dyn wasmtime::CacheStore>)
                .map_err(RuntimeError::engine)?;
        }
        let engine = Engine::new(&engine_config).map_err(RuntimeError::engine)?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(RuntimeError::engine)?;
        mcp::add_to_linker(&mut linker).map_err(RuntimeError::engine)?;
        // Deadlines and cancellation rely on epochs on both engines: fuel
        // bounds the work, not the time spent waiting in host calls.
        spawn_epoch_ticker(&engine, config.epoch_tick)
            .map_err(|source| RuntimeError::EpochTicker { source })?;
        let cache = CompileCache::open(&config.cache_dir, &engine, config.cache_key.as_ref())?;
        if let Some(store) = &incremental {
            store.bind(cache.incremental_path(), cache.engine_key().to_owned());
        }
        let own_slots = (instances < config.max_instances)
            .then(|| Arc::new(Semaphore::new(shape.slots() as usize)));
        Ok(Self {
            metering,
            engine,
            linker: Arc::new(linker),
            cache,
            incremental,
            shape,
            own_slots,
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
        let plain = EngineBundle::new(config, Metering::Off)?;
        let shape = plain.shape;
        // The cache directory is checked (and made) by the engine's compile
        // cache: only this user can change it.
        let cache_dir = weld_fs::private_dir(&config.cache_dir)?;
        let root = EmptyRoot::create_in(&cache_dir).map_err(|source| RuntimeError::EmptyRoot {
            dir: cache_dir,
            source,
        })?;
        Ok(Self {
            config: config.clone(),
            plain: Arc::new(plain),
            metered: Mutex::new(None),
            shared_slots: Arc::new(Semaphore::new(shape.slots() as usize)),
            shape,
            budget: Arc::new(Budget::new(config.memory_budget)),
            root: Arc::new(root),
        })
    }

    /// The memory budget, in bytes (whole 64 KiB pages of
    /// [`RuntimeConfig::memory_budget`]).
    pub fn memory_budget(&self) -> u64 {
        self.budget.bytes()
    }

    /// How much the plain engine's incremental compile cache was used by
    /// compilations in this process ([`Compiler::InProcess`]); `None` when
    /// it is off or components are compiled by a compiler process (which
    /// logs its counts with each compilation).
    pub fn incremental_stats(&self) -> Option<IncrementalStats> {
        match self.config.compiler {
            Compiler::InProcess => self.plain.incremental.as_ref().map(|s| s.stats()),
            Compiler::Process(_) => None,
        }
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
    fn bundle(&self, metering: Metering) -> Result<Arc<EngineBundle>, RuntimeError> {
        match metering {
            Metering::Off => Ok(Arc::clone(&self.plain)),
            Metering::Fuel => {
                // A poisoned lock only means another load panicked; the
                // `Option` inside is still either built or not.
                let mut metered = self.metered.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(bundle) = &*metered {
                    return Ok(Arc::clone(bundle));
                }
                let bundle = Arc::new(EngineBundle::new(&self.config, Metering::Fuel)?);
                tracing::info!(
                    instances = self
                        .config
                        .max_metered_instances
                        .min(self.config.max_instances),
                    "a component's policy sets fuel: metered engine started"
                );
                *metered = Some(Arc::clone(&bundle));
                Ok(bundle)
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
        let bundle = self.bundle(metering)?;
        let component = match bundle.cache.get(&bundle.engine, digest) {
            Some(component) => component,
            None => self.compile_and_cache(&bundle, digest, &wasm()?)?,
        };
        self.prepare(&bundle, component, digest)
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
        let bundle = self.bundle(metering)?;
        match bundle.cache.get(&bundle.engine, digest) {
            Some(component) => self.prepare(&bundle, component, digest).map(Some),
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
        let bundle = self.bundle(metering)?;
        let component = self.compile_and_cache(&bundle, digest, wasm)?;
        self.prepare(&bundle, component, digest)
    }

    /// Compiles, stores the artefact with its MAC, and loads it from the
    /// very bytes stored.
    fn compile_and_cache(
        &self,
        bundle: &EngineBundle,
        digest: &str,
        wasm: &[u8],
    ) -> Result<Component, RuntimeError> {
        let compiled = compiler::compile(
            &bundle.engine,
            bundle.cache.engine_key(),
            bundle.metering,
            &self.config.compiler,
            bundle.incremental.as_deref(),
            wasm,
        )?;
        if let Some(reuse) = compiled.reuse {
            tracing::info!(
                digest,
                reused = reuse.hits,
                compiled = reuse.misses,
                rejected = reuse.rejected,
                "compiled; functions reused from the incremental compile cache"
            );
        }
        let artefact = compiled.artefact;
        bundle.cache.put(digest, &artefact)?;
        #[allow(
            unsafe_code,
            reason = "deserializing is how a compiled artefact is loaded; this one was just \
                      compiled for this engine (see the SAFETY comment)"
        )]
        // SAFETY: `artefact` is the output of `Engine::precompile_component`
        // for an engine of this configuration: this one, or the compiler
        // process's (this same build, the same `engine_config`), whose
        // compatibility key `compiler::compile` checked is this engine's.
        // Wasmtime checks version and configuration again while loading.
        let loaded = unsafe { Component::deserialize(&bundle.engine, &artefact) };
        loaded.map_err(RuntimeError::compile)
    }

    /// Describes `wasm` without compiling it: validates it with the engine's
    /// features, reads its exported functions and imports from the
    /// validator's types, and checks its imports against the linker (see
    /// `describe.rs`), and counts what one call takes from the instance pool
    /// (see `footprint.rs`). Takes time linear in the size of the bytes, however
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
            .map_err(|source| RuntimeError::Compile { source })?;
        Ok(Inspection {
            functions: found.functions,
            mcp: found.mcp,
            toolchain_exports: found.internal,
            imports: found.imports,
            link_error: found.link_error,
            footprint: footprint::of_bytes(wasm),
        })
    }

    /// The description of the component with `digest` kept when it was
    /// last loaded on the engine `metering` picks, if weld wrote one with
    /// this state's key (see `description.rs`): what its tools and imports
    /// are, without loading its code. `None` when there is none (it has
    /// never been loaded there, or the file is not one weld wrote).
    ///
    /// # Errors
    ///
    /// When the metered engine cannot be built.
    pub fn cached_description(
        &self,
        digest: &str,
        metering: Metering,
    ) -> Result<Option<Description>, RuntimeError> {
        Ok(self
            .cached_listing(digest, metering)?
            .map(|(description, _)| description))
    }

    /// As [`Runtime::cached_description`], with the text a host prepared
    /// from it and kept ([`Runtime::keep_prepared`]), if any.
    ///
    /// # Errors
    ///
    /// When the metered engine cannot be built.
    pub fn cached_listing(
        &self,
        digest: &str,
        metering: Metering,
    ) -> Result<Option<(Description, Option<Prepared>)>, RuntimeError> {
        let bundle = self.bundle(metering)?;
        Ok(description::read(&bundle.cache, digest))
    }

    /// Keeps `prepared`, text derived from `description` (that of the
    /// component with `digest` on the engine `metering` picks), beside it,
    /// authenticated like it, so [`Runtime::cached_listing`] hands it back
    /// and the host does not derive it again.
    ///
    /// # Errors
    ///
    /// When the metered engine cannot be built or the file not written
    /// (it would be larger than is read back, or the disk refuses).
    pub fn keep_prepared(
        &self,
        digest: &str,
        metering: Metering,
        description: &Description,
        prepared: &Prepared,
    ) -> Result<(), RuntimeError> {
        let bundle = self.bundle(metering)?;
        description::keep(&bundle.cache, digest, description, prepared)
    }

    /// How many calls of a component described by `description` may run
    /// at once on the engine `metering` picks, each with memory limit
    /// `memory` (as [`LoadedComponent::share`] says once it is loaded).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::TooLarge`] when one call of it takes more instance
    /// slots than the pool has, or the metered engine cannot be built.
    pub fn share_of(
        &self,
        description: &Description,
        metering: Metering,
        memory: u64,
    ) -> Result<Share, RuntimeError> {
        let bundle = self.bundle(metering)?;
        let (engine_slots, shared_slots) = self.slot_permits(&bundle, description.footprint)?;
        Ok(crate::component::share(
            &shared_slots,
            engine_slots.as_ref(),
            &self.budget,
            memory,
        ))
    }

    fn slot_permits(
        &self,
        bundle: &EngineBundle,
        footprint: Footprint,
    ) -> Result<(Option<SlotPermits>, SlotPermits), RuntimeError> {
        let slots_of = |semaphore: &Arc<Semaphore>, shape: PoolShape| {
            let slots = SlotPermits {
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
        let engine_slots = match &bundle.own_slots {
            Some(own) => Some(slots_of(own, bundle.shape)?),
            None => None,
        };
        Ok((engine_slots, slots_of(&self.shared_slots, self.shape)?))
    }

    fn prepare(
        &self,
        bundle: &EngineBundle,
        component: Component,
        digest: &str,
    ) -> Result<LoadedComponent, RuntimeError> {
        let exports = describe::exported_functions(&bundle.engine, &component);
        let imports = describe::imports(&bundle.engine, &component);
        let pre = bundle
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link {
                source: e.into_boxed_dyn_error(),
            })?;
        let mcp = match exports.mcp {
            Some(info) => {
                let world = info.world;
                Some(McpExports::new(info, &pre).map_err(|e| {
                    RuntimeError::Link {
                        source: format!(
                            "it exports interfaces of the MCP world {world}, but not as the world \
                         defines them: {e:#}"
                        )
                        .into(),
                    }
                })?)
            }
            None => None,
        };
        // Wasmtime has already refused a component beyond the per-component
        // maxima, which every pool holds; this guards that promise.
        let footprint = Footprint::of(&component);
        let (engine_slots, shared_slots) = self.slot_permits(bundle, footprint)?;
        let loaded = LoadedComponent {
            pre,
            functions: exports.functions,
            toolchain_exports: exports.internal,
            mcp,
            imports,
            footprint,
            metering: bundle.metering,
            engine_slots,
            shared_slots,
            budget: Arc::clone(&self.budget),
            root: Arc::clone(&self.root),
        };
        // So the next start lists it without loading it.
        description::write_once(&bundle.cache, digest, &loaded.description());
        Ok(loaded)
    }
}

#[cfg(test)]
impl Runtime {
    /// Whether every shared slot and every page of the budget is free.
    pub(crate) fn idle(&self) -> bool {
        self.shared_slots.available_permits() == self.shape.slots() as usize
            && self.budget.pages.available_permits() == self.budget.total_pages as usize
    }

    /// Free pages of the memory budget.
    pub(crate) fn free_budget_pages(&self) -> usize {
        self.budget.pages.available_permits()
    }

    /// Free shared slots.
    pub(crate) fn free_slots(&self) -> usize {
        self.shared_slots.available_permits()
    }
}

pub(crate) fn engine_config(shape: PoolShape, metering: Metering) -> Result<Config, RuntimeError> {
    // Sized in slots, which calls take before they instantiate, so the
    // pool itself is never found exhausted (see `capacity`).
    let mut pool = shape.pooling().map_err(|problem| RuntimeError::Engine {
        source: problem.into(),
    })?;
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
