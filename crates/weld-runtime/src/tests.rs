//! The two engines, proved with a tiny component written in WAT: fuel
//! stops a loop deterministically, deadlines and cancellation still work on
//! the metered engine, and the two engines' artefacts share a cache
//! directory without ever being mistaken for each other. Then the pool and
//! the memory budget: calls wait for them (or are refused) and never find
//! the pooling allocator exhausted, whatever the component's footprint.

use std::time::Duration;

use wasmtime::component::Val;

use crate::{
    CallError, CallLimits, CallReport, ExportedFunction, LoadedComponent, Metering, Runtime,
    RuntimeConfig, Sandbox,
};

/// `spin` loops forever; `add-one` returns its argument plus one.
const GUEST: &str = r#"(component
    (core module $m
        (func (export "spin") (loop $forever (br $forever)))
        (func (export "add-one") (param i32) (result i32)
            (i32.add (local.get 0) (i32.const 1))))
    (core instance $i (instantiate $m))
    (func (export "spin") (canon lift (core func $i "spin")))
    (func (export "add-one") (param "x" u32) (result u32)
        (canon lift (core func $i "add-one"))))"#;

fn guest() -> Vec<u8> {
    match wat::parse_str(GUEST) {
        Ok(bytes) => bytes,
        Err(e) => panic!("bad test WAT: {e}"),
    }
}

fn runtime(cache: &std::path::Path, max_instances: u32) -> Runtime {
    let mut config = RuntimeConfig::new(cache.to_path_buf());
    config.max_instances = max_instances;
    config.max_metered_instances = 1;
    config.epoch_tick = Duration::from_millis(5);
    // One key for every runtime of a test, as weld keeps one in its state
    // directory, so a second runtime finds the first one's artefacts.
    config.cache_key = Some(crate::CacheKey::new([7; 32]));
    Runtime::new(&config).expect("runtime")
}

fn load(runtime: &Runtime, metering: Metering) -> LoadedComponent {
    runtime
        .load("test-guest", metering, || Ok(guest()))
        .expect("load")
}

fn function(loaded: &LoadedComponent, name: &str) -> ExportedFunction {
    loaded
        .functions()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no export `{name}`"))
        .clone()
}

fn limits(fuel: Option<u64>) -> CallLimits {
    CallLimits {
        fuel,
        ..CallLimits::default()
    }
}

async fn add_one(loaded: &LoadedComponent, limits: &CallLimits) -> CallReport {
    let add = function(loaded, "add-one");
    loaded
        .call(&add, &[Val::U32(41)], limits, &Sandbox::default(), "test")
        .await
}

async fn spin(loaded: &LoadedComponent, limits: &CallLimits) -> CallReport {
    let spin = function(loaded, "spin");
    loaded
        .call(&spin, &[], limits, &Sandbox::default(), "test")
        .await
}

#[tokio::test]
async fn a_fuel_budget_stops_an_endless_loop_as_out_of_fuel() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let loaded = load(&runtime, Metering::Fuel);
    let CallReport { stats, result } = spin(&loaded, &limits(Some(100_000))).await;
    let error = result.expect_err("an endless loop cannot return");
    assert_eq!(error.kind(), "out_of_fuel");
    assert!(
        matches!(error, CallError::OutOfFuel { limit: 100_000, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("100000") && message.contains("resources.limits.fuel"),
        "{message}"
    );
    assert_eq!(
        stats.and_then(|s| s.fuel_used),
        Some(100_000),
        "running out uses the whole budget"
    );
}

#[tokio::test]
async fn a_call_within_its_budget_reports_the_same_fuel_every_time() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let loaded = load(&runtime, Metering::Fuel);
    let budget = limits(Some(1_000_000));
    let first = add_one(&loaded, &budget).await;
    let second = add_one(&loaded, &budget).await;
    assert_eq!(first.result.expect("within budget"), [Val::U32(42)]);
    second.result.expect("within budget");
    let used = first.stats.and_then(|s| s.fuel_used).expect("metered");
    assert!(used > 0 && used < 1_000_000, "{used}");
    assert_eq!(
        second.stats.and_then(|s| s.fuel_used),
        Some(used),
        "fuel is deterministic"
    );
}

#[tokio::test]
async fn the_metered_engine_is_built_only_when_a_component_needs_fuel() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let plain = load(&runtime, Metering::Off);
    assert!(!runtime.has_metered_engine());
    let report = add_one(&plain, &limits(None)).await;
    report.result.expect("unmetered call");
    assert_eq!(report.stats.expect("it ran").fuel_used, None);
    let metered = load(&runtime, Metering::Fuel);
    assert!(runtime.has_metered_engine());
    assert_eq!(
        (plain.metering(), metered.metering()),
        (Metering::Off, Metering::Fuel)
    );
}

#[tokio::test]
async fn metered_and_unmetered_artefacts_of_one_component_share_a_cache_without_mixing() {
    let cache = tempfile::tempdir().expect("tempdir");
    {
        let runtime = runtime(cache.path(), 2);
        load(&runtime, Metering::Off);
        load(&runtime, Metering::Fuel);
    }
    // Two engine directories, one artefact each.
    let engines: Vec<_> = std::fs::read_dir(cache.path().join("compiled"))
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(engines.len(), 2, "{engines:?}");
    for dir in &engines {
        assert!(dir.join("test-guest.cwasm").exists(), "{}", dir.display());
    }

    // A fresh runtime finds both in the cache (the bytes are never asked
    // for), each on its own engine.
    let runtime = runtime(cache.path(), 2);
    let cached = |metering| {
        runtime
            .load("test-guest", metering, || {
                Err(crate::RuntimeError::Compile {
                    source: "cache miss".into(),
                })
            })
            .expect("cache hit")
    };
    let plain = cached(Metering::Off);
    let metered = cached(Metering::Fuel);
    let report = add_one(&plain, &limits(None)).await;
    report.result.expect("unmetered");
    assert_eq!(report.stats.expect("it ran").fuel_used, None);
    let error = spin(&metered, &limits(Some(10_000)))
        .await
        .result
        .expect_err("loop");
    assert_eq!(error.kind(), "out_of_fuel");
}

#[tokio::test]
async fn a_budget_that_does_not_match_the_engine_is_refused_before_the_call() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let plain = load(&runtime, Metering::Off);
    let metered = load(&runtime, Metering::Fuel);
    let unenforced = add_one(&plain, &limits(Some(1_000)))
        .await
        .result
        .expect_err("refused");
    assert_eq!(unenforced.kind(), "instantiate");
    assert!(unenforced.to_string().contains("fuel"), "{unenforced}");
    let unbudgeted = add_one(&metered, &limits(None))
        .await
        .result
        .expect_err("refused");
    assert_eq!(unbudgeted.kind(), "instantiate");
    assert!(unbudgeted.to_string().contains("fuel"), "{unbudgeted}");
}

#[tokio::test]
async fn a_metered_call_still_stops_at_its_deadline() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let loaded = load(&runtime, Metering::Fuel);
    let limits = CallLimits {
        timeout: Duration::from_millis(50),
        ..limits(Some(u64::MAX))
    };
    let CallReport { stats, result } = spin(&loaded, &limits).await;
    let error = result.expect_err("endless loop");
    assert_eq!(error.kind(), "deadline");
    // Reported, but not necessarily exact: Wasmtime writes a function's fuel
    // count back to the store only at calls and returns, and this loop makes
    // none before the deadline stops it.
    assert!(stats.and_then(|s| s.fuel_used).is_some());
}

#[tokio::test]
async fn a_cancelled_metered_call_gives_back_its_instance_slots() {
    let cache = tempfile::tempdir().expect("tempdir");
    // Two shared slots and one metered slot (a pool of its own): afterwards
    // a metered and a plain call at once need every slot there is, so one
    // kept by the cancelled call would leave a call waiting, and the
    // timeout below turns that into a failure instead of a hang.
    let runtime = runtime(cache.path(), 2);
    let metered = load(&runtime, Metering::Fuel);
    let plain = load(&runtime, Metering::Off);
    let unlimited = limits(Some(u64::MAX));
    let endless = spin(&metered, &unlimited);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), endless)
            .await
            .is_err(),
        "an endless loop cannot return"
    );
    let metered_limits = limits(Some(1_000_000));
    let plain_limits = limits(None);
    let both = async {
        tokio::join!(
            add_one(&metered, &metered_limits),
            add_one(&plain, &plain_limits)
        )
    };
    let (m, p) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("a slot was kept by the cancelled call");
    m.result.expect("metered call");
    p.result.expect("plain call");
}

#[tokio::test]
async fn load_cached_never_compiles_and_finds_what_load_compiled() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 2);
    let miss = runtime
        .load_cached("test-guest", Metering::Off)
        .expect("no error on a miss");
    assert!(miss.is_none());
    load(&runtime, Metering::Off);
    let hit = runtime
        .load_cached("test-guest", Metering::Off)
        .expect("read")
        .expect("cached by load");
    let results = add_one(&hit, &limits(None)).await.result.expect("call");
    assert_eq!(results, [Val::U32(42)]);
    assert!(
        runtime
            .load_cached("test-guest", Metering::Fuel)
            .expect("read")
            .is_none(),
        "each engine has its own artefacts"
    );
}

#[test]
fn a_loaded_component_leaves_a_description_only_its_state_key_reads_back() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path(), 4);
    let none = runtime
        .cached_description("test-guest", Metering::Off)
        .expect("read");
    assert!(none.is_none(), "nothing loaded yet");
    let loaded = load(&runtime, Metering::Off);
    let described = runtime
        .cached_description("test-guest", Metering::Off)
        .expect("read")
        .expect("written by the load");
    assert_eq!(described, loaded.description());
    let names: Vec<&str> = described
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["spin", "add-one"]);
    let share = runtime
        .share_of(&described, Metering::Off, limits(None).memory)
        .expect("fits");
    assert_eq!(share, loaded.share(limits(None).memory));
    assert!(
        runtime
            .cached_description("test-guest", Metering::Fuel)
            .expect("read")
            .is_none(),
        "each engine has its own descriptions"
    );

    // Another state directory's key: the file is not one it wrote.
    let mut config = RuntimeConfig::new(cache.path().to_path_buf());
    config.max_instances = 4;
    config.cache_key = Some(crate::CacheKey::new([8; 32]));
    let other = Runtime::new(&config).expect("runtime");
    assert!(
        other
            .cached_description("test-guest", Metering::Off)
            .expect("read")
            .is_none(),
        "a description under another key is not trusted"
    );
}

/// `GUEST`'s functions in a component that also instantiates `memories`
/// modules defining a memory each, `tables` defining a table each, and
/// empty ones up to `core_instances` core instances in all: the footprint
/// of an interpreter built with many libraries (componentize-py).
fn heavy_guest(core_instances: u32, memories: u32, tables: u32) -> Vec<u8> {
    let mut wat = String::from(
        r#"(component
    (core module $m
        (func (export "spin") (loop $forever (br $forever)))
        (func (export "add-one") (param i32) (result i32)
            (i32.add (local.get 0) (i32.const 1))))
    (core module $memory (memory 1))
    (core module $table (table 1 funcref))
    (core module $empty)
    (core instance $i (instantiate $m))
"#,
    );
    let extra = core_instances - 1;
    for n in 0..extra {
        let module = if n < memories {
            "$memory"
        } else if n < memories + tables {
            "$table"
        } else {
            "$empty"
        };
        wat.push_str(&format!("    (core instance (instantiate {module}))\n"));
    }
    wat.push_str(
        r#"    (func (export "spin") (canon lift (core func $i "spin")))
    (func (export "add-one") (param "x" u32) (result u32)
        (canon lift (core func $i "add-one"))))"#,
    );
    match wat::parse_str(&wat) {
        Ok(bytes) => bytes,
        Err(e) => panic!("bad test WAT: {e}"),
    }
}

fn runtime_with_budget(cache: &std::path::Path, max_instances: u32, budget: u64) -> Runtime {
    let mut config = RuntimeConfig::new(cache.to_path_buf());
    config.max_instances = max_instances;
    config.memory_budget = budget;
    config.epoch_tick = Duration::from_millis(5);
    Runtime::new(&config).expect("runtime")
}

const MIB: u64 = 1024 * 1024;

/// CallLimits for a call that only its cancellation ends.
fn endless(memory: u64) -> CallLimits {
    CallLimits {
        memory,
        timeout: Duration::from_secs(600),
        ..CallLimits::default()
    }
}

/// Starts an endless call on its own task.
fn spawn_spin(loaded: &Arc<LoadedComponent>, limits: CallLimits) -> tokio::task::JoinHandle<()> {
    let loaded = Arc::clone(loaded);
    tokio::spawn(async move {
        let _ = spin(&loaded, &limits).await;
    })
}

/// Yields until `ready` holds (what other tasks do is not instant).
async fn until(mut ready: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the condition never held");
}

/// Polls `call` once: it must be waiting, not done.
async fn still_waiting<F: std::future::Future>(call: &mut std::pin::Pin<Box<F>>) {
    tokio::select! {
        biased;
        _ = call.as_mut() => panic!("the call ran although what it needs was taken"),
        () = std::future::ready(()) => {}
    }
}

use std::sync::Arc;

#[tokio::test]
async fn a_component_beyond_the_old_pool_totals_runs_in_a_small_pool_and_extra_calls_wait() {
    let cache = tempfile::tempdir().expect("tempdir");
    // Two slots used to mean 16 core instances and 4 memories in all: this
    // component could not be instantiated even once.
    let runtime = runtime_with_budget(cache.path(), 2, 64 * 1024 * MIB);
    let loaded = runtime
        .load("heavy", Metering::Off, || Ok(heavy_guest(40, 8, 20)))
        .expect("load");
    assert_eq!(loaded.slots_per_call(), 2, "8 memories take the whole pool");
    let limits = limits(None);
    let (a, b, c) = tokio::join!(
        add_one(&loaded, &limits),
        add_one(&loaded, &limits),
        add_one(&loaded, &limits)
    );
    for outcome in [a, b, c] {
        assert_eq!(outcome.result.expect("waits, then runs"), [Val::U32(42)]);
    }
    assert!(runtime.idle());
}

#[tokio::test]
async fn a_heavy_component_takes_slots_for_its_memories_and_tables_and_a_usual_one_takes_one() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 128, 64 * 1024 * MIB);
    let usual = load(&runtime, Metering::Off);
    assert_eq!(usual.slots_per_call(), 1);
    let heavy = runtime
        .load("heavy", Metering::Off, || Ok(heavy_guest(64, 8, 0)))
        .expect("load");
    assert_eq!(heavy.slots_per_call(), 4);
    let tables = runtime
        .load("tables", Metering::Off, || Ok(heavy_guest(30, 0, 25)))
        .expect("load");
    assert_eq!(tables.slots_per_call(), 4);
    // Half the pool each, so the rest stays free for other tools.
    assert_eq!(usual.share(MIB).calls, 64);
    assert_eq!(heavy.share(MIB).calls, 16);
    assert_eq!(heavy.share(MIB).bound_by, crate::Capacity::InstanceSlots);
}

#[tokio::test]
async fn a_call_whose_memory_limit_exceeds_the_whole_budget_is_refused_naming_the_flag() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 4, 64 * MIB);
    let loaded = load(&runtime, Metering::Off);
    let limits = CallLimits {
        memory: 65 * MIB,
        ..limits(None)
    };
    assert_eq!(loaded.share(limits.memory).calls, 0);
    let error = add_one(&loaded, &limits).await.result.expect_err("refused");
    assert_eq!(error.kind(), "over_budget");
    let message = error.to_string();
    for expected in [
        "65 MiB",
        "64 MiB",
        "--memory-budget-mib",
        "resources.limits.memory",
    ] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    assert!(runtime.idle());
}

#[tokio::test]
async fn calls_beyond_the_memory_budget_wait_for_it_and_then_all_run() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 16, 128 * MIB);
    let loaded = Arc::new(load(&runtime, Metering::Off));
    // Two endless calls take the whole budget.
    let holders = [
        spawn_spin(&loaded, endless(64 * MIB)),
        spawn_spin(&loaded, endless(64 * MIB)),
    ];
    until(|| runtime.free_budget_pages() == 0).await;
    let small = CallLimits {
        memory: MIB,
        ..limits(None)
    };
    let mut waiting: Vec<_> = (0..8).map(|_| Box::pin(add_one(&loaded, &small))).collect();
    for call in &mut waiting {
        still_waiting(call).await;
    }
    assert!(
        runtime.free_slots() >= 14,
        "a call waiting for memory holds no slot"
    );
    for holder in holders {
        holder.abort();
        let _ = holder.await;
    }
    for call in waiting {
        assert_eq!(call.await.result.expect("runs"), [Val::U32(42)]);
    }
    assert!(runtime.idle());
}

#[tokio::test]
async fn a_call_cancelled_while_waiting_leaves_no_permit_behind() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 2, 1024 * MIB);
    let usual = Arc::new(load(&runtime, Metering::Off));
    let heavy = runtime
        .load("heavy", Metering::Off, || Ok(heavy_guest(10, 8, 0)))
        .expect("load");
    assert_eq!(heavy.slots_per_call(), 2);
    let holders = [
        spawn_spin(&usual, endless(MIB)),
        spawn_spin(&usual, endless(MIB)),
    ];
    until(|| runtime.free_slots() == 0).await;
    // The waiter takes its memory, then waits for two slots; when one holder
    // ends, the waiter is given that slot and waits for the other.
    let plain = limits(None);
    let mut waiter = Box::pin(add_one(&heavy, &plain));
    still_waiting(&mut waiter).await;
    let [first, second] = holders;
    first.abort();
    let _ = first.await;
    still_waiting(&mut waiter).await;
    assert_eq!(runtime.free_slots(), 0, "the freed slot went to the waiter");
    drop(waiter);
    until(|| runtime.free_slots() == 1).await;
    second.abort();
    let _ = second.await;
    assert!(runtime.idle(), "a cancelled waiter kept a permit");
    assert_eq!(
        add_one(&heavy, &limits(None)).await.result.expect("runs"),
        [Val::U32(42)]
    );
}

#[tokio::test]
async fn a_refusing_call_is_refused_at_once_when_the_slots_are_taken() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 1, 1024 * MIB);
    let loaded = Arc::new(load(&runtime, Metering::Off));
    let holder = spawn_spin(&loaded, endless(MIB));
    until(|| runtime.free_slots() == 0).await;
    let add = function(&loaded, "add-one");
    let report = loaded
        .call_queued(
            &add,
            &[Val::U32(1)],
            &limits(None),
            &Sandbox::default(),
            "test",
            crate::Queue::Refuse,
        )
        .await;
    assert!(report.stats.is_none(), "a refused call never ran");
    let error = report.result.expect_err("refused");
    assert_eq!(error.kind(), "refused_busy");
    let message = error.to_string();
    for expected in ["instance slots", "excess: refuse", "--max-instances"] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    holder.abort();
    let _ = holder.await;
    assert!(runtime.idle());
}

#[tokio::test]
async fn a_call_that_cannot_start_within_its_timeout_says_what_it_waited_for() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with_budget(cache.path(), 4, 64 * MIB);
    let loaded = Arc::new(load(&runtime, Metering::Off));
    let holder = spawn_spin(&loaded, endless(64 * MIB));
    until(|| runtime.free_budget_pages() == 0).await;
    let impatient = CallLimits {
        memory: MIB,
        timeout: Duration::from_millis(20),
        ..limits(None)
    };
    let error = add_one(&loaded, &impatient)
        .await
        .result
        .expect_err("timed out");
    assert_eq!(error.kind(), "queue_timeout");
    let message = error.to_string();
    for expected in ["memory budget", "--memory-budget-mib", "0.02-second"] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    holder.abort();
    let _ = holder.await;
    assert!(runtime.idle());
}
