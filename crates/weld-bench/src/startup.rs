//! Metrics 4-6, one process at a time: start-up to the first `tools/list`
//! and idle memory with ten components installed, and `weld add` / `weld
//! list` from spawn to exit.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::options::Options;
use crate::proc::{Launch, Memory};
use crate::stats::millis;
use crate::{Dirs, stdio, wrap};

/// Metrics 4 and 5, per run.
pub struct StartupResults {
    pub weld_ms: Vec<f64>,
    pub native_ms: Vec<f64>,
    pub weld_memory: Vec<Memory>,
    pub native_memory: Vec<Memory>,
}

/// Metrics 4 and 5: ten copies of add.wasm installed as add0..add9, then
/// process start to the first `tools/list`, and the RSS once idle.
pub async fn startup(o: &Options, dirs: &Dirs, cache: &Path) -> Result<StartupResults> {
    let state = dirs.dir("state-10")?;
    let mut expected = Vec::new();
    for i in 0..10 {
        let name = format!("add{i}");
        let output = tokio::process::Command::new(&o.weld)
            .env("WELD_STATE_DIR", &state)
            .env("WELD_CACHE_DIR", cache)
            .args([OsString::from("add"), o.component.clone().into()])
            .args(["--name", name.as_str()])
            .stdin(Stdio::null())
            .output()
            .await?;
        if !output.status.success() {
            bail!(
                "weld add --name {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        expected.push(format!("{name}_add"));
    }
    // weld serves its management tools beside the components (on by
    // default, so measured that way).
    expected.extend(
        [
            "weld_list_components",
            "weld_request_grant",
            "weld_revoke",
            "weld_show_policy",
        ]
        .map(String::from),
    );
    let mut weld = Launch::new(&o.weld)
        .arg("serve")
        .env("WELD_STATE_DIR", &state)
        .env("WELD_CACHE_DIR", cache);
    weld.wrap = wrap();
    let mut native = Launch::new(&o.native);
    native.wrap = wrap();
    let settle = Duration::from_millis(200);
    let mut results = StartupResults {
        weld_ms: Vec::new(),
        native_ms: Vec::new(),
        weld_memory: Vec::new(),
        native_memory: Vec::new(),
    };
    // One unmeasured start of each, so neither pays for a cold page cache.
    stdio::startup(&weld, &dirs.log("startup-warm-weld"), &expected, settle).await?;
    stdio::startup(
        &native,
        &dirs.log("startup-warm-native"),
        &["add_add".into()],
        settle,
    )
    .await?;
    for i in 0..o.startup_runs {
        eprintln!("start-up run {}", i + 1);
        let w = stdio::startup(
            &weld,
            &dirs.log(&format!("startup-weld-{i}")),
            &expected,
            settle,
        )
        .await?;
        results.weld_ms.push(millis(w.to_first_list));
        results.weld_memory.push(w.memory);
        let n = stdio::startup(
            &native,
            &dirs.log(&format!("startup-native-{i}")),
            &["add_add".into()],
            settle,
        )
        .await?;
        results.native_ms.push(millis(n.to_first_list));
        results.native_memory.push(n.memory);
    }
    Ok(results)
}

/// Metric 6, per run (the first, warming, run left out).
pub struct AddResults {
    pub add_ms: Vec<f64>,
    pub list_ms: Vec<f64>,
}

/// Metric 6: `weld add add.wasm` with a fresh state and a fresh (empty)
/// compile cache each time, timed from spawn to exit. Also `weld list` on
/// an empty state: the process-plus-engine floor every command pays.
pub async fn weld_add(o: &Options, dirs: &Dirs) -> Result<AddResults> {
    let mut results = AddResults {
        add_ms: Vec::new(),
        list_ms: Vec::new(),
    };
    for i in 0..=o.add_runs {
        eprintln!("weld add run {}", i + 1);
        let run = dirs.dir(&format!("add-{i}"))?;
        let time = |args: Vec<OsString>| {
            let run = run.clone();
            async move {
                let started = Instant::now();
                let output = tokio::process::Command::new(&o.weld)
                    .env("WELD_STATE_DIR", run.join("state"))
                    .env("WELD_CACHE_DIR", run.join("cache"))
                    .args(&args)
                    .stdin(Stdio::null())
                    .output()
                    .await?;
                let took = started.elapsed();
                if !output.status.success() {
                    bail!(
                        "weld {args:?} failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                anyhow::Ok(millis(took))
            }
        };
        let list = time(vec!["list".into()]).await?;
        let add = time(vec!["add".into(), o.component.clone().into()]).await?;
        // The first run warms the page cache for the binary; not measured.
        if i > 0 {
            results.list_ms.push(list);
            results.add_ms.push(add);
        }
        std::fs::remove_dir_all(&run)?;
    }
    Ok(results)
}
