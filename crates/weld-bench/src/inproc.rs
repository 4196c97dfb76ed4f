//! The floor: weld-runtime called directly, without MCP, JSON or a process
//! boundary — one fresh instance per call, as weld makes for every tool call.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use weld_runtime::{CacheKey, CallLimits, Metering, Runtime, RuntimeConfig};

/// One call to make over and over: an exported function (of the world,
/// not of an interface), its arguments as a tool gets them, and the
/// structured result it must return.
#[derive(Debug, Clone)]
pub struct Probe {
    pub function: String,
    pub arguments: Value,
    pub expected: Value,
}

impl Probe {
    /// add.wasm's `add`: 2 + 3.
    pub fn add() -> Self {
        Self {
            function: "add".into(),
            arguments: json!({ "a": 2, "b": 3 }),
            expected: json!({ "result": 5 }),
        }
    }
}

/// Round-trip times of `LoadedComponent::call` (instantiate from the pool,
/// call, drop), and the runtime's own measure of each (`CallStats::duration`,
/// instantiation to return).
pub struct InProcess {
    pub samples: Vec<Duration>,
    pub runtime_durations: Vec<Duration>,
}

/// With `busy_sibling`, another thread of this process spins on the other
/// core for the duration: then every page-table change the runtime makes
/// (the pooling allocator's `madvise` when an instance's memory is reset)
/// needs a TLB shootdown IPI to that core, as it does in the multi-threaded
/// server.
pub fn run(
    component: &Path,
    cache_dir: &Path,
    probe: &Probe,
    warmup: u64,
    calls: u64,
    busy_sibling: bool,
) -> Result<InProcess> {
    let wasm =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let mut config = RuntimeConfig::new(cache_dir.to_path_buf());
    // A fixed key: a later run on the same (fresh) cache loads what an
    // earlier one compiled. The cache's name for the component only has to
    // be unique within it.
    config.cache_key = Some(CacheKey::new([0x5a; 32]));
    let runtime = Runtime::new(&config)?;
    let loaded = runtime.load(
        &format!("weld-bench-{}", probe.function),
        Metering::Off,
        || Ok(wasm),
    )?;
    let name = &probe.function;
    let function = loaded
        .functions()
        .iter()
        .find(|f| f.interface.is_none() && f.name == *name)
        .with_context(|| format!("{} exports no `{name}`", component.display()))?
        .clone();
    let signature = function
        .signature
        .clone()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("`{name}` is not callable as a tool"))?;
    let args = signature.args_from_json(probe.arguments.as_object())?;
    let limits = CallLimits::default();
    let sandbox = weld_runtime::Sandbox::default();

    let stop = Arc::new(AtomicBool::new(false));
    let sibling = busy_sibling.then(|| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    });
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = executor.block_on(async {
        let mut samples = Vec::with_capacity(calls as usize);
        let mut runtime_durations = Vec::with_capacity(calls as usize);
        for i in 0..warmup + calls {
            let started = Instant::now();
            let report = loaded
                .call(&function, &args, &limits, &sandbox, "weld-bench")
                .await;
            let took = started.elapsed();
            let results = report.result?;
            let stats = report
                .stats
                .context("a call that returned has measurements")?;
            let rendered = signature.render_result(&results);
            if rendered.is_error || rendered.structured != probe.expected.as_object().cloned() {
                bail!("wrong result: {:?}", rendered.structured);
            }
            if i >= warmup {
                samples.push(took);
                runtime_durations.push(stats.duration);
            }
        }
        anyhow::Ok(InProcess {
            samples,
            runtime_durations,
        })
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(sibling) = sibling {
        let _ = sibling.join();
    }
    result
}
