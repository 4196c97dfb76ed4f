//! Metric 9: one tool call served three ways, against each other in the
//! same run — a plain component's typed export (add.wasm's `add`, the path
//! metrics 1-3 measure), a tool of an MCP-world component (mcpdemo's
//! `add`, wasmcp's `mcp-v20251125` world: a fresh instance per request, the
//! request and answer crossing as MCP types), and a tool of a proxied MCP
//! server (mcp-stdio's `add`, an rmcp server compiled to `wasi:cli/run`:
//! one long-lived instance, JSON-RPC over its in-memory stdin and stdout).
//!
//! Each is served alone by its own `weld serve --component` over stdio, in
//! rounds that alternate the three: sequential calls pinned as metric 8's
//! are (client on CPU 0, server on CPU 1), then calls/s with
//! [`IN_FLIGHT`] in flight, unpinned. The plain path is the baseline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use crate::languages::{Expected, IN_FLIGHT, Requests, in_flight, sequential};
use crate::options::Options;
use crate::proc::{self, Launch};
use crate::stdio::Session;
use crate::{Dirs, wrap};

/// Rounds; each serves every path once, sequential then in flight.
const ROUNDS: u64 = 2;

/// One way of serving the call.
struct Served {
    label: &'static str,
    short: &'static str,
    component: PathBuf,
    requests: Requests,
}

/// What one path measured.
pub struct WorldResult {
    pub label: &'static str,
    /// Sequential calls over stdio: round-trip times.
    pub stdio: Vec<Duration>,
    /// Calls/s with [`IN_FLIGHT`] in flight, per round.
    pub per_sec: Vec<f64>,
    /// Server CPU per call with [`IN_FLIGHT`] in flight, over all rounds.
    pub cpu_per_call_us: Option<f64>,
}

fn paths(o: &Options) -> Vec<Served> {
    let arguments = json!({ "a": 1, "b": 2 }).to_string();
    vec![
        Served {
            label: "plain export (add.wasm)",
            short: "plain",
            component: o.component.clone(),
            requests: Requests {
                tool: "add_add",
                arguments: arguments.clone(),
                expected: Expected::Structured(json!({ "result": 3 })),
            },
        },
        Served {
            label: "MCP-world component (mcpdemo)",
            short: "world",
            component: o.mcpdemo.clone(),
            requests: Requests {
                tool: "add",
                arguments: arguments.clone(),
                expected: Expected::Text("mcpdemo: 3"),
            },
        },
        Served {
            label: "proxied MCP server (mcp-stdio)",
            short: "proxied",
            component: o.mcp_stdio.clone(),
            requests: Requests {
                tool: "add",
                arguments,
                expected: Expected::Text("3"),
            },
        },
    ]
}

/// Runs metric 9: the three paths, in alternating rounds.
pub async fn run(o: &Options, dirs: &Dirs, cache: &Path) -> Result<Vec<WorldResult>> {
    let paths = paths(o);
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let mut results: Vec<WorldResult> = paths
        .iter()
        .map(|p| WorldResult {
            label: p.label,
            stdio: Vec::new(),
            per_sec: Vec::new(),
            cpu_per_call_us: None,
        })
        .collect();
    let mut cpu = vec![Some(Duration::ZERO); paths.len()];
    let mut pipelined_calls = vec![0u64; paths.len()];
    for round in 0..ROUNDS {
        for (i, path) in paths.iter().enumerate() {
            let state = dirs.dir(&format!("state-world-{}", path.short))?;
            let mut launch = Launch::new(&o.weld)
                .arg("serve")
                .arg("--component")
                .arg(&path.component)
                .env("WELD_STATE_DIR", &state)
                .env("WELD_CACHE_DIR", cache);
            launch.wrap = wrap();

            eprintln!("{}: round {}, sequential", path.label, round + 1);
            let mut pinned = launch.clone();
            pinned.cpu = pin.then_some(1);
            let log = dirs.log(&format!("world-{}-{round}", path.short));
            let saved = proc::current_affinity()?;
            if pin {
                proc::pin_current_thread(0)?;
            }
            let samples = async {
                let mut session = Session::start(&pinned, &log).await?;
                let calls = o.world_calls.div_ceil(ROUNDS);
                let samples = sequential(&mut session, &path.requests, calls).await;
                let tail = session.log_tail();
                session.finish().await;
                samples.with_context(|| format!("server log:\n{tail}"))
            }
            .await;
            proc::set_affinity(&saved)?;
            results[i].stdio.extend(samples?);

            eprintln!("{}: round {}, {IN_FLIGHT} in flight", path.label, round + 1);
            let log = dirs.log(&format!("world-{}-{round}-in-flight", path.short));
            let mut session = Session::start(&launch, &log).await?;
            let total = o.world_pipelined.div_ceil(ROUNDS);
            let pipelined = in_flight(&mut session, &path.requests, total).await;
            let tail = session.log_tail();
            session.finish().await;
            let pipelined = pipelined.with_context(|| format!("server log:\n{tail}"))?;
            results[i]
                .per_sec
                .push(pipelined.calls as f64 / pipelined.elapsed.as_secs_f64());
            pipelined_calls[i] += pipelined.calls;
            cpu[i] = cpu[i].zip(pipelined.cpu).map(|(a, b)| a + b);
        }
    }
    for (i, result) in results.iter_mut().enumerate() {
        result.cpu_per_call_us =
            cpu[i].map(|c| c.as_secs_f64() * 1e6 / pipelined_calls[i].max(1) as f64);
    }
    Ok(results)
}
