//! Metric 8: the Python and JavaScript example tools (componentize-py's
//! CPython, componentize-js's SpiderMonkey), whose instances are far
//! heavier than add.wasm's. There is no native counterpart, so each is
//! judged against its own floor: the same call made in process through
//! weld-runtime (instantiate + call, metric 7's method). Measured per tool,
//! in rounds that alternate floor and server: sequential calls over stdio
//! pinned as metric 1's are (client on CPU 0, server on CPU 1, and the
//! floor's thread on CPU 1 too), and calls/s with 16 in flight over one
//! stdio session, unpinned as metric 2's are.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::inproc::{self, Probe};
use crate::options::Options;
use crate::proc::{self, Launch};
use crate::stdio::Session;
use crate::{Dirs, wrap};

/// Calls in flight for the throughput figure.
pub const IN_FLIGHT: u64 = 16;
/// Rounds per tool: floor, then server, each with half the calls.
const ROUNDS: u64 = 2;
/// Unmeasured calls before each measured block.
const WARMUP: u64 = 20;

/// One tool: the component, the tool's name when weld serves it, and the
/// call made over and over.
pub struct LanguageTool {
    pub label: &'static str,
    pub component: PathBuf,
    pub tool: &'static str,
    pub probe: Probe,
}

/// pytext's `csv-summary` and jstext's `count-matches`, with arguments a
/// tool would get and the result they must return.
pub fn tools(o: &Options) -> Vec<LanguageTool> {
    vec![
        LanguageTool {
            label: "pytext (Python)",
            component: o.pytext.clone(),
            tool: "pytext_csv-summary",
            probe: Probe {
                function: "csv-summary".into(),
                arguments: json!({ "csv": "name,age\nAda,36\nBob,41" }),
                expected: json!({ "rows": 2, "columns": ["name", "age"] }),
            },
        },
        LanguageTool {
            label: "jstext (JavaScript)",
            component: o.jstext.clone(),
            tool: "jstext_count-matches",
            probe: Probe {
                function: "count-matches".into(),
                arguments: json!({ "text": "a1 b22 c333 d4444", "pattern": "\\d+" }),
                expected: json!({ "result": 4 }),
            },
        },
    ]
}

/// What one tool measured.
pub struct LanguageResult {
    pub label: &'static str,
    /// Sequential calls over stdio: round-trip times.
    pub stdio: Vec<Duration>,
    /// The same call in process: round-trip times.
    pub floor: Vec<Duration>,
    /// Calls/s with [`IN_FLIGHT`] in flight, per round.
    pub per_sec: Vec<f64>,
    /// Server CPU per call with [`IN_FLIGHT`] in flight, over all rounds.
    pub cpu_per_call_us: Option<f64>,
}

/// Runs metric 8 for every tool.
pub async fn run(o: &Options, dirs: &Dirs, cache: &Path) -> Result<Vec<LanguageResult>> {
    let mut results = Vec::new();
    for tool in tools(o) {
        results.push(one(o, dirs, cache, &tool).await?);
    }
    Ok(results)
}

async fn one(
    o: &Options,
    dirs: &Dirs,
    cache: &Path,
    tool: &LanguageTool,
) -> Result<LanguageResult> {
    let name = tool.tool.split('_').next().unwrap_or(tool.tool);
    let state = dirs.dir(&format!("state-{name}"))?;
    eprintln!("{}: installing (compiling) for the server", tool.label);
    install(o, &state, cache, &tool.component).await?;
    let floor_cache = dirs.dir(&format!("floor-cache-{name}"))?;
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let mut result = LanguageResult {
        label: tool.label,
        stdio: Vec::new(),
        floor: Vec::new(),
        per_sec: Vec::new(),
        cpu_per_call_us: None,
    };
    let mut cpu = Some(Duration::ZERO);
    let mut pipelined_calls = 0;
    for round in 0..ROUNDS {
        eprintln!("{}: round {}, in-process floor", tool.label, round + 1);
        let (component, probe, calls) = (
            tool.component.clone(),
            tool.probe.clone(),
            o.language_calls.div_ceil(ROUNDS),
        );
        let floor_dir = floor_cache.clone();
        let floor = std::thread::spawn(move || {
            if pin {
                proc::pin_current_thread(1)?;
            }
            inproc::run(&component, &floor_dir, &probe, WARMUP, calls, false)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the in-process run panicked"))??;
        result.floor.extend(floor.samples);

        eprintln!("{}: round {}, over stdio", tool.label, round + 1);
        let mut launch = Launch::new(&o.weld)
            .arg("serve")
            .env("WELD_STATE_DIR", &state)
            .env("WELD_CACHE_DIR", cache);
        launch.wrap = wrap();
        let mut pinned = launch.clone();
        pinned.cpu = pin.then_some(1);
        let log = dirs.log(&format!("language-{name}-{round}"));
        let saved = proc::current_affinity()?;
        if pin {
            proc::pin_current_thread(0)?;
        }
        let samples = async {
            let mut session = Session::start(&pinned, &log).await?;
            let calls = o.language_calls.div_ceil(ROUNDS);
            let samples = sequential(&mut session, &tool.requests(), calls).await;
            let tail = session.log_tail();
            session.finish().await;
            samples.with_context(|| format!("server log:\n{tail}"))
        }
        .await;
        proc::set_affinity(&saved)?;
        result.stdio.extend(samples?);

        eprintln!("{}: round {}, {IN_FLIGHT} in flight", tool.label, round + 1);
        let log = dirs.log(&format!("language-{name}-{round}-in-flight"));
        let mut session = Session::start(&launch, &log).await?;
        let total = o.language_pipelined.div_ceil(ROUNDS);
        let pipelined = in_flight(&mut session, &tool.requests(), total).await;
        let tail = session.log_tail();
        session.finish().await;
        let pipelined = pipelined.with_context(|| format!("server log:\n{tail}"))?;
        result
            .per_sec
            .push(pipelined.calls as f64 / pipelined.elapsed.as_secs_f64());
        pipelined_calls += pipelined.calls;
        cpu = cpu.zip(pipelined.cpu).map(|(a, b)| a + b);
    }
    result.cpu_per_call_us = cpu.map(|c| c.as_secs_f64() * 1e6 / pipelined_calls as f64);
    Ok(result)
}

/// `weld add COMPONENT` into `state`: compiled once, so that each server
/// starts from the compile cache.
async fn install(o: &Options, state: &Path, cache: &Path, component: &Path) -> Result<()> {
    let output = tokio::process::Command::new(&o.weld)
        .env("WELD_STATE_DIR", state)
        .env("WELD_CACHE_DIR", cache)
        .args([OsString::from("add"), component.into(), "--quiet".into()])
        .stdin(Stdio::null())
        .output()
        .await?;
    if !output.status.success() {
        bail!(
            "weld add {} failed: {}",
            component.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// What a right answer carries.
#[derive(Clone)]
pub enum Expected {
    /// This structured content.
    Structured(Value),
    /// This text as its only content (a tool that returns no structured
    /// content, as MCP servers' tools often do).
    Text(&'static str),
}

/// Calls of one tool, as request lines for any id.
pub struct Requests {
    pub tool: &'static str,
    pub arguments: String,
    pub expected: Expected,
}

impl Requests {
    fn line(&self, id: u64) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{}","arguments":{}}}}}"#,
            self.tool, self.arguments
        ) + "\n"
    }

    /// The id of `line` once it is checked to be the right answer.
    fn check(&self, line: &str) -> Result<u64> {
        let answer: Value = serde_json::from_str(line)
            .with_context(|| format!("unparseable: {}", line.trim_end()))?;
        let id = answer
            .get("id")
            .and_then(Value::as_u64)
            .with_context(|| format!("no id: {}", line.trim_end()))?;
        let result = answer.get("result");
        let ok = result
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            != Some(true)
            && match &self.expected {
                Expected::Structured(value) => {
                    result.and_then(|r| r.get("structuredContent")) == Some(value)
                }
                Expected::Text(text) => {
                    result.and_then(|r| r.get("content"))
                        == Some(&json!([{ "type": "text", "text": text }]))
                }
            };
        if !ok {
            bail!("wrong answer to {id}: {}", line.trim_end());
        }
        Ok(id)
    }
}

/// What [`IN_FLIGHT`] calls at a time did.
pub struct Pipelined {
    pub calls: u64,
    pub elapsed: Duration,
    pub cpu: Option<Duration>,
}

impl LanguageTool {
    fn requests(&self) -> Requests {
        Requests {
            tool: self.tool,
            arguments: self.probe.arguments.to_string(),
            expected: Expected::Structured(self.probe.expected.clone()),
        }
    }
}

/// Sequential calls, one in flight, after [`WARMUP`] unmeasured ones:
/// their round-trip times.
pub async fn sequential(
    session: &mut Session,
    requests: &Requests,
    calls: u64,
) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(calls as usize);
    for i in 0..WARMUP + calls {
        let id = session.take_id();
        let line = requests.line(id);
        let started = Instant::now();
        session.send(line.as_bytes()).await?;
        let answer = session.read_line().await?;
        let took = started.elapsed();
        if requests.check(answer)? != id {
            bail!("expected the answer to {id}: {answer}");
        }
        if i >= WARMUP {
            samples.push(took);
        }
    }
    Ok(samples)
}

/// `total` calls with [`IN_FLIGHT`] in flight, after [`WARMUP`] sequential
/// ones.
pub async fn in_flight(
    session: &mut Session,
    requests: &Requests,
    total: u64,
) -> Result<Pipelined> {
    for _ in 0..WARMUP {
        let id = session.take_id();
        session.send(requests.line(id).as_bytes()).await?;
        if requests.check(session.read_line().await?)? != id {
            bail!("expected the answer to {id}");
        }
    }
    let before = proc::cpu_time(session.pid()).ok();
    let started = Instant::now();
    let mut pending = HashSet::new();
    let mut sent = 0;
    let mut answered = 0;
    while answered < total {
        while sent < total && pending.len() < IN_FLIGHT as usize {
            let id = session.take_id();
            session.send(requests.line(id).as_bytes()).await?;
            pending.insert(id);
            sent += 1;
        }
        let answer = session.read_line().await?;
        let id = requests.check(answer)?;
        if !pending.remove(&id) {
            bail!("an answer to {id}, which is not in flight");
        }
        answered += 1;
    }
    let elapsed = started.elapsed();
    let cpu = proc::cpu_time(session.pid())
        .ok()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(Pipelined {
        calls: total,
        elapsed,
        cpu,
    })
}
