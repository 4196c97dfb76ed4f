//! weld's benchmark. Runs weld (serving `add.wasm`) and `native-add` (the
//! same tool in plain Rust on the same rmcp transports) as child processes,
//! drives both with the same Rust clients over real pipes and loopback
//! sockets, and prints each figure next to the native one as a ratio: the
//! machine is shared and noisy, so only a ratio measured in the same run
//! means much.
//!
//! See docs/PERFORMANCE.md for what each metric measures; `scripts/bench.sh`
//! builds everything and runs this.

mod http;
mod inproc;
mod proc;
mod stats;
mod stdio;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proc::{Launch, Memory};
use crate::stats::{median, micros, millis, percentile};

const USAGE: &str = "\
usage: weld-bench [options]

  --weld PATH          the weld binary (default: next to this one)
  --native PATH        the native-add binary (default: next to this one)
  --component PATH     add.wasm (default: <workspace>/target/components/add.wasm)
  --rounds N           rounds of metrics 1-3, weld and native alternating (5)
  --calls N            sequential stdio calls measured per round (2000)
  --pipelined N        pipelined stdio calls per round (20000)
  --window N           most pipelined calls in flight (2000)
  --http-clients N     concurrent HTTP clients, one connection each (64)
  --http-calls N       measured calls per HTTP client per round (200)
  --startup-runs N     process starts per server for metrics 4-5 (10)
  --add-runs N         `weld add` runs for metric 6 (10)
  --inproc-calls N     in-process calls for metric 7 (2000)
  --only LIST          comma-separated subset of:
                       latency,pipelined,http,startup,add,inproc
  --quick              small counts, for a smoke test

Environment: WELD_BENCH_WRAP, a command put in front of every server process,
weld's and native-add's (e.g. a profiler); memory and CPU figures then
describe the wrapper.
";

#[derive(Debug, Clone)]
struct Options {
    weld: PathBuf,
    native: PathBuf,
    component: PathBuf,
    rounds: u64,
    calls: u64,
    pipelined: u64,
    window: u64,
    http_clients: u64,
    http_calls: u64,
    startup_runs: u64,
    add_runs: u64,
    inproc_calls: u64,
    only: Vec<String>,
}

impl Options {
    fn parse() -> Result<Self> {
        let exe_dir = std::env::current_exe()?
            .parent()
            .context("no directory for the current executable")?
            .to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut o = Options {
            weld: exe_dir.join("weld"),
            native: exe_dir.join("native-add"),
            component: workspace.join("target/components/add.wasm"),
            rounds: 5,
            calls: 2000,
            pipelined: 20_000,
            window: 2000,
            http_clients: 64,
            http_calls: 200,
            startup_runs: 10,
            add_runs: 10,
            inproc_calls: 2000,
            only: Vec::new(),
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].clone();
            let value = args.get(i + 1).cloned();
            i += 2;
            match flag.as_str() {
                "--weld" => o.weld = text(&flag, value)?.into(),
                "--native" => o.native = text(&flag, value)?.into(),
                "--component" => o.component = text(&flag, value)?.into(),
                "--rounds" => o.rounds = number(&flag, value)?,
                "--calls" => o.calls = number(&flag, value)?,
                "--pipelined" => o.pipelined = number(&flag, value)?,
                "--window" => o.window = number(&flag, value)?,
                "--http-clients" => o.http_clients = number(&flag, value)?,
                "--http-calls" => o.http_calls = number(&flag, value)?,
                "--startup-runs" => o.startup_runs = number(&flag, value)?,
                "--add-runs" => o.add_runs = number(&flag, value)?,
                "--inproc-calls" => o.inproc_calls = number(&flag, value)?,
                "--only" => {
                    o.only = text(&flag, value)?.split(',').map(str::to_string).collect();
                }
                "--quick" => {
                    i -= 1; // takes no value
                    o.rounds = 1;
                    o.calls = 200;
                    o.pipelined = 8000;
                    o.window = 1500;
                    o.http_calls = 20;
                    o.startup_runs = 2;
                    o.add_runs = 2;
                    o.inproc_calls = 200;
                }
                "-h" | "--help" => {
                    print!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown option {other}\n\n{USAGE}"),
            }
        }
        for path in [&o.weld, &o.native, &o.component] {
            if !path.is_file() {
                bail!(
                    "{} does not exist (build it first: scripts/bench.sh)",
                    path.display()
                );
            }
        }
        Ok(o)
    }

    fn wants(&self, metric: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|m| m == metric)
    }
}

fn text(flag: &str, value: Option<String>) -> Result<String> {
    value.with_context(|| format!("{flag} needs a value"))
}

fn number(flag: &str, value: Option<String>) -> Result<u64> {
    let value = text(flag, value)?;
    let n: u64 = value
        .parse()
        .with_context(|| format!("{flag}: not a number: {value}"))?;
    Ok(n.max(1))
}

/// The two servers under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Weld,
    Native,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Weld => "weld",
            Which::Native => "native",
        }
    }
}

struct Dirs {
    _root: tempfile::TempDir,
    root: PathBuf,
    logs: PathBuf,
}

impl Dirs {
    fn new() -> Result<Self> {
        let root = tempfile::Builder::new().prefix("weld-bench-").tempdir()?;
        let path = root.path().to_path_buf();
        let logs = path.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Self {
            _root: root,
            root: path,
            logs,
        })
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }
}

fn wrap() -> Vec<String> {
    std::env::var("WELD_BENCH_WRAP")
        .map(|w| w.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// One row of results for one server in one round.
#[derive(Debug, Default, Clone)]
struct Round {
    p50_us: f64,
    p99_us: f64,
    seq_cpu_us: Option<f64>,
    pipelined_per_sec: f64,
    pipelined_lost: u64,
    pipelined_malformed: u64,
    pipelined_inflight: u64,
    pipelined_inflight_bytes: u64,
    pipelined_low_water: u64,
    pipelined_cpu_us: Option<f64>,
    http_per_sec: f64,
    http_lost: u64,
    http_malformed: u64,
    http_p50_us: f64,
    http_p99_us: f64,
    http_cpu_us: Option<f64>,
}

fn per_call_us(cpu: Option<Duration>, calls: u64) -> Option<f64> {
    cpu.map(|c| micros(c) / calls as f64)
}

fn main() -> Result<()> {
    let options = Options::parse()?;
    // One thread for the clients: they stay cheap next to the server, and
    // the server keeps at least one of the two cores to itself.
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    executor.block_on(run(options))
}

async fn run(o: Options) -> Result<()> {
    let dirs = Dirs::new()?;
    let began = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("weld-bench: work directory {}", dirs.root.display());

    let cache = dirs.dir("cache")?;
    let empty_state = dirs.dir("state-empty")?;
    let weld = |args: &[&str], state: &Path| {
        let mut launch = Launch::new(&o.weld)
            .env("WELD_STATE_DIR", state)
            .env("WELD_CACHE_DIR", &cache);
        for arg in args {
            launch = launch.arg(*arg);
        }
        launch.wrap = wrap();
        launch
    };
    let component = o.component.as_os_str().to_owned();
    let native = |mut launch: Launch| {
        launch.wrap = wrap();
        launch
    };
    let launch = |which: Which, http: bool| -> Launch {
        match (which, http) {
            (Which::Weld, false) => weld(&["serve", "--component"], &empty_state).arg(&component),
            (Which::Weld, true) => weld(
                &["serve", "--http", "127.0.0.1:0", "--component"],
                &empty_state,
            )
            .arg(&component),
            (Which::Native, false) => native(Launch::new(&o.native)),
            (Which::Native, true) => {
                native(Launch::new(&o.native).arg("--http").arg("127.0.0.1:0"))
            }
        }
    };

    let mut rounds: Vec<(Which, Round)> = Vec::new();
    for r in 0..o.rounds {
        // Both servers run side by side and the work alternates between
        // them in blocks; which one goes first alternates between rounds.
        let order = if r.is_multiple_of(2) {
            [Which::Weld, Which::Native]
        } else {
            [Which::Native, Which::Weld]
        };
        let stdio = order.map(|w| launch(w, false));
        let http = order.map(|w| launch(w, true));
        let logs = |what: &str| order.map(|w| dirs.log(&format!("{what}-{}-{r}", w.name())));
        let mut this = [Round::default(), Round::default()];
        if o.wants("latency") {
            eprintln!("round {}: stdio latency", r + 1);
            let logs = logs("latency");
            // Pinned, client on CPU 0 and servers on CPU 1: a ping-pong's
            // latency is mostly wake-ups, and where the scheduler happens to
            // put a server's threads (next to the client or not) otherwise
            // swings it twofold from one process to the next.
            let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
            let pinned = stdio.clone().map(|mut l| {
                l.cpu = pin.then_some(1);
                l
            });
            let saved = proc::current_affinity()?;
            if pin {
                proc::pin_current_thread(0)?;
            }
            let got = stdio::latency_pair(
                [&pinned[0], &pinned[1]],
                [&logs[0], &logs[1]],
                200,
                o.calls,
                100,
            )
            .await;
            proc::set_affinity(&saved)?;
            let got = got?;
            for (row, l) in this.iter_mut().zip(got) {
                row.p50_us = micros(percentile(&l.samples, 50.0));
                row.p99_us = micros(percentile(&l.samples, 99.0));
                row.seq_cpu_us = per_call_us(l.server_cpu, o.calls);
            }
        }
        if o.wants("pipelined") {
            eprintln!("round {}: stdio pipelined", r + 1);
            let logs = logs("pipelined");
            let got = stdio::pipelined_pair(
                [&stdio[0], &stdio[1]],
                [&logs[0], &logs[1]],
                o.pipelined,
                o.window,
                4,
            )
            .await?;
            for ((row, p), which) in this.iter_mut().zip(got).zip(order) {
                if let Some(problem) = &p.first_problem {
                    eprintln!("  {}: first problem: {problem}", which.name());
                }
                row.pipelined_per_sec = p.calls_per_sec();
                row.pipelined_lost = p.lost;
                row.pipelined_malformed = p.malformed;
                row.pipelined_inflight = p.max_inflight;
                row.pipelined_inflight_bytes = p.max_inflight_bytes;
                row.pipelined_low_water = p.min_inflight_at_refill;
                row.pipelined_cpu_us = per_call_us(p.server_cpu, p.calls);
            }
        }
        if o.wants("http") {
            eprintln!("round {}: HTTP", r + 1);
            let logs = logs("http");
            let got = http::run_pair(
                [&http[0], &http[1]],
                [&logs[0], &logs[1]],
                o.http_clients,
                10,
                o.http_calls,
                4,
            )
            .await?;
            for ((row, h), which) in this.iter_mut().zip(got).zip(order) {
                if let Some(problem) = &h.first_problem {
                    eprintln!("  {}: first problem: {problem}", which.name());
                }
                row.http_per_sec = h.calls_per_sec();
                row.http_lost = h.lost;
                row.http_malformed = h.malformed;
                row.http_p50_us = micros(percentile(&h.latencies, 50.0));
                row.http_p99_us = micros(percentile(&h.latencies, 99.0));
                row.http_cpu_us = per_call_us(h.server_cpu, h.calls);
            }
        }
        for (which, row) in order.into_iter().zip(this) {
            rounds.push((which, row));
        }
    }

    let startup = if o.wants("startup") {
        Some(startup(&o, &dirs, &cache).await?)
    } else {
        None
    };
    let add = if o.wants("add") {
        Some(weld_add(&o, &dirs).await?)
    } else {
        None
    };
    let inproc = if o.wants("inproc") {
        let mut runs = Vec::new();
        for busy_sibling in [false, true] {
            eprintln!("in-process instantiate+call (busy sibling thread: {busy_sibling})");
            let cache = dirs.dir(&format!("inproc-cache-{busy_sibling}"))?;
            // On its own thread: it builds its own executor, as weld does.
            let component = o.component.clone();
            let calls = o.inproc_calls;
            let run = std::thread::spawn(move || {
                inproc::run(&component, &cache, 200, calls, busy_sibling)
            });
            runs.push(
                run.join()
                    .map_err(|_| anyhow::anyhow!("the in-process run panicked"))??,
            );
        }
        let busy = runs.pop();
        runs.pop().zip(busy)
    } else {
        None
    };

    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report(
        &o,
        &rounds,
        startup.as_ref(),
        add.as_ref(),
        inproc.as_ref().map(|(alone, busy)| (alone, busy)),
        &Environment {
            load_before,
            load_after,
            took: began.elapsed(),
        },
    );
    Ok(())
}

struct StartupResults {
    weld_ms: Vec<f64>,
    native_ms: Vec<f64>,
    weld_memory: Vec<Memory>,
    native_memory: Vec<Memory>,
}

/// Metrics 4 and 5: ten copies of add.wasm installed as add0..add9, then
/// process start to the first `tools/list`, and the RSS once idle.
async fn startup(o: &Options, dirs: &Dirs, cache: &Path) -> Result<StartupResults> {
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

struct AddResults {
    add_ms: Vec<f64>,
    list_ms: Vec<f64>,
}

/// Metric 6: `weld add add.wasm` with a fresh state and a fresh (empty)
/// compile cache each time, timed from spawn to exit. Also `weld list` on
/// an empty state: the process-plus-engine floor every command pays.
async fn weld_add(o: &Options, dirs: &Dirs) -> Result<AddResults> {
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

struct Environment {
    load_before: String,
    load_after: String,
    took: Duration,
}

/// Formats a number with a sensible number of digits.
fn num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Table {
    rows: Vec<[String; 6]>,
}

impl Table {
    fn row(&mut self, cells: [&str; 6]) {
        self.rows.push(cells.map(str::to_string));
    }

    /// A weld-vs-native row; `target` is (text, check on the ratio or on
    /// weld's value).
    fn compare(&mut self, metric: &str, unit: &str, weld: f64, native: f64, target: Target) {
        self.compare_with_ratio(metric, unit, weld, native, weld / native, target);
    }

    /// A weld-vs-native row from the rounds: each column is the median over
    /// rounds, the ratio the median of the per-round ratios (the two servers
    /// of one round ran interleaved, under the same conditions).
    fn rounds(
        &mut self,
        metric: &str,
        unit: &str,
        rounds: &[(Which, Round)],
        f: impl Fn(&Round) -> f64,
        target: Target,
    ) {
        let ratios: Vec<f64> = rounds
            .chunks(2)
            .filter_map(|pair| {
                let of = |which| pair.iter().find(|(w, _)| *w == which).map(|(_, r)| f(r));
                Some(of(Which::Weld)? / of(Which::Native)?)
            })
            .collect();
        self.compare_with_ratio(
            metric,
            unit,
            med_of(rounds, Which::Weld, &f),
            med_of(rounds, Which::Native, &f),
            median(&ratios),
            target,
        );
    }

    fn compare_with_ratio(
        &mut self,
        metric: &str,
        unit: &str,
        weld: f64,
        native: f64,
        ratio: f64,
        target: Target,
    ) {
        let (target_text, met) = target.judge(weld, ratio);
        self.rows.push([
            metric.to_string(),
            format!("{} {unit}", num(weld)),
            format!("{} {unit}", num(native)),
            format!("{ratio:.2}×"),
            target_text,
            met,
        ]);
    }

    fn print(&self) {
        let header = ["metric", "weld", "native", "ratio", "target", "met"];
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
    }
}

enum Target {
    None,
    RatioAtMost(f64),
    RatioAtLeast(f64),
    AtMost(f64, &'static str),
}

impl Target {
    fn judge(&self, weld: f64, ratio: f64) -> (String, String) {
        let yes = |ok: bool| if ok { "yes" } else { "**NO**" }.to_string();
        match *self {
            Target::None => ("—".into(), String::new()),
            Target::RatioAtMost(max) => (format!("≤ {max}× native"), yes(ratio <= max)),
            Target::RatioAtLeast(min) => (format!("≥ {min}× native"), yes(ratio >= min)),
            Target::AtMost(max, unit) => (format!("≤ {max} {unit}"), yes(weld <= max)),
        }
    }
}

fn med_of(rounds: &[(Which, Round)], which: Which, f: &impl Fn(&Round) -> f64) -> f64 {
    let values: Vec<f64> = rounds
        .iter()
        .filter(|(w, _)| *w == which)
        .map(|(_, r)| f(r))
        .collect();
    median(&values)
}

fn sum_of(rounds: &[(Which, Round)], which: Which, f: impl Fn(&Round) -> u64) -> u64 {
    rounds
        .iter()
        .filter(|(w, _)| *w == which)
        .map(|(_, r)| f(r))
        .sum()
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn report(
    o: &Options,
    rounds: &[(Which, Round)],
    startup: Option<&StartupResults>,
    add: Option<&AddResults>,
    inproc: Option<(&inproc::InProcess, &inproc::InProcess)>,
    env: &Environment,
) {
    let mut t = Table { rows: Vec::new() };
    if o.wants("latency") {
        t.rounds(
            "1. stdio call latency p50",
            "µs",
            rounds,
            |r| r.p50_us,
            Target::RatioAtMost(1.5),
        );
        t.rounds(
            "1. stdio call latency p99",
            "µs",
            rounds,
            |r| r.p99_us,
            Target::None,
        );
        t.rounds(
            "1. server CPU per sequential call",
            "µs",
            rounds,
            |r| r.seq_cpu_us.unwrap_or(f64::NAN),
            Target::None,
        );
    }
    if o.wants("pipelined") {
        t.rounds(
            "2. stdio pipelined calls/s",
            "/s",
            rounds,
            |r| r.pipelined_per_sec,
            Target::RatioAtLeast(0.7),
        );
        let lost = |which| sum_of(rounds, which, |r| r.pipelined_lost);
        let bad = |which| sum_of(rounds, which, |r| r.pipelined_malformed);
        let ok = lost(Which::Weld) + bad(Which::Weld) == 0;
        t.row([
            "2. pipelined lost / malformed (all rounds)",
            &format!("{} / {}", lost(Which::Weld), bad(Which::Weld)),
            &format!("{} / {}", lost(Which::Native), bad(Which::Native)),
            "",
            "0 / 0",
            if ok { "yes" } else { "**NO**" },
        ]);
        let inflight = |which| {
            let of = |f: fn(&Round) -> u64| {
                rounds
                    .iter()
                    .filter(|(w, _)| *w == which)
                    .map(|(_, r)| f(r))
                    .min()
                    .unwrap_or(0)
            };
            format!(
                "{} ({} KiB); ≥ {} while refilling",
                of(|r| r.pipelined_inflight),
                of(|r| r.pipelined_inflight_bytes) / 1024,
                of(|r| r.pipelined_low_water)
            )
        };
        let weld_rounds = || rounds.iter().filter(|(w, _)| *w == Which::Weld);
        let kept_full = weld_rounds()
            .all(|(_, r)| r.pipelined_low_water >= 1000 && r.pipelined_inflight_bytes > 64 * 1024);
        t.row([
            "2. pipelined requests in flight: most (least over rounds), fewest at a refill",
            &inflight(Which::Weld),
            &inflight(Which::Native),
            "",
            "≥ 1000, > 64 KiB",
            if kept_full { "yes" } else { "**NO**" },
        ]);
        t.rounds(
            "2. server CPU per pipelined call",
            "µs",
            rounds,
            |r| r.pipelined_cpu_us.unwrap_or(f64::NAN),
            Target::None,
        );
    }
    if o.wants("http") {
        t.rounds(
            &format!("3. HTTP calls/s, {} clients", o.http_clients),
            "/s",
            rounds,
            |r| r.http_per_sec,
            Target::RatioAtLeast(0.7),
        );
        let lost = |which| sum_of(rounds, which, |r| r.http_lost);
        let bad = |which| sum_of(rounds, which, |r| r.http_malformed);
        let ok = lost(Which::Weld) + bad(Which::Weld) == 0;
        t.row([
            "3. HTTP lost / malformed (all rounds)",
            &format!("{} / {}", lost(Which::Weld), bad(Which::Weld)),
            &format!("{} / {}", lost(Which::Native), bad(Which::Native)),
            "",
            "0 / 0",
            if ok { "yes" } else { "**NO**" },
        ]);
        t.rounds(
            "3. HTTP call latency p50 under load",
            "µs",
            rounds,
            |r| r.http_p50_us,
            Target::None,
        );
        t.rounds(
            "3. HTTP call latency p99 under load",
            "µs",
            rounds,
            |r| r.http_p99_us,
            Target::None,
        );
        t.rounds(
            "3. server CPU per HTTP call",
            "µs",
            rounds,
            |r| r.http_cpu_us.unwrap_or(f64::NAN),
            Target::None,
        );
    }
    if let Some(s) = startup {
        t.compare(
            "4. start → first tools/list, 10 components (median)",
            "ms",
            median(&s.weld_ms),
            median(&s.native_ms),
            Target::AtMost(10.0, "ms"),
        );
        let rss = |m: &[Memory]| median(&m.iter().map(|m| mb(m.rss_kib)).collect::<Vec<_>>());
        t.compare(
            "5. RSS idle, 10 components",
            "MB",
            rss(&s.weld_memory),
            rss(&s.native_memory),
            Target::AtMost(25.0, "MB"),
        );
    }
    if let Some(a) = add {
        t.row([
            "6. `weld add add.wasm`, fresh state and cache (median)",
            &format!("{} ms", num(median(&a.add_ms))),
            "",
            "",
            "≤ 150 ms",
            if median(&a.add_ms) <= 150.0 {
                "yes"
            } else {
                "**NO**"
            },
        ]);
        t.row([
            "6. `weld list`, empty state (process + engine floor)",
            &format!("{} ms", num(median(&a.list_ms))),
            "",
            "",
            "—",
            "",
        ]);
    }
    if let Some((alone, busy)) = inproc {
        t.row([
            "7. in-process instantiate+call, median (p99)",
            &format!(
                "{} µs ({} µs)",
                num(micros(percentile(&alone.samples, 50.0))),
                num(micros(percentile(&alone.samples, 99.0)))
            ),
            "",
            "",
            "floor",
            "",
        ]);
        let alone_p50 = micros(percentile(&alone.samples, 50.0));
        let busy_p50 = micros(percentile(&busy.samples, 50.0));
        t.row([
            "7. the same, another thread busy on the other core",
            &format!(
                "{} µs ({} µs)",
                num(busy_p50),
                num(micros(percentile(&busy.samples, 99.0)))
            ),
            "",
            &format!("{:.2}× alone", busy_p50 / alone_p50),
            "—",
            "",
        ]);
    }

    println!();
    println!("## weld benchmark, {}", today());
    println!();
    println!(
        "{}; {} CPUs; load average before {}, after {}; took {:.0} s.",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env.load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        env.load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        env.took.as_secs_f64()
    );
    println!(
        "Rounds: {}; weld and native figures are medians over rounds, ratios the medians of \
         the per-round ratios. In each round weld and native run side \
         by side and the work alternates between them: stdio, {} sequential calls each (after \
         200 warm-up) in blocks of 100, client pinned to CPU 0 and servers to CPU 1; {} pipelined calls each, ≤ {} in flight, in 4 chunks; \
         HTTP, {} clients × {} calls each, in 4 chunks (after 10 warm-up calls per client \
         and chunk).",
        o.rounds, o.calls, o.pipelined, o.window, o.http_clients, o.http_calls
    );
    println!();
    t.print();

    println!();
    println!("### Absolute figures per round");
    println!();
    for (which, r) in rounds {
        let cpu = |v: Option<f64>| v.map_or("?".into(), num);
        println!(
            "- {:6} stdio p50 {} µs p99 {} µs cpu/call {} µs | pipelined {}/s lost {} malformed {} \
             in-flight max {} ({} KiB) min-at-refill {} cpu/call {} µs | HTTP {}/s lost {} \
             malformed {} p50 {} µs p99 {} µs cpu/call {} µs",
            which.name(),
            num(r.p50_us),
            num(r.p99_us),
            cpu(r.seq_cpu_us),
            num(r.pipelined_per_sec),
            r.pipelined_lost,
            r.pipelined_malformed,
            r.pipelined_inflight,
            r.pipelined_inflight_bytes / 1024,
            r.pipelined_low_water,
            cpu(r.pipelined_cpu_us),
            num(r.http_per_sec),
            r.http_lost,
            r.http_malformed,
            num(r.http_p50_us),
            num(r.http_p99_us),
            cpu(r.http_cpu_us),
        );
    }
    if let Some(s) = startup {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        println!(
            "- start → first tools/list, weld (ms): {}",
            list(&s.weld_ms)
        );
        println!(
            "- start → first tools/list, native (ms): {}",
            list(&s.native_ms)
        );
        let mem = |m: &[Memory]| {
            let pick =
                |f: fn(&Memory) -> u64| median(&m.iter().map(|x| mb(f(x))).collect::<Vec<_>>());
            format!(
                "RSS {} MB = anonymous {} MB + file-backed {} MB",
                num(pick(|x| x.rss_kib)),
                num(pick(|x| x.anon_kib)),
                num(pick(|x| x.file_kib))
            )
        };
        println!("- weld, 10 components idle: {}", mem(&s.weld_memory));
        println!("- native idle: {}", mem(&s.native_memory));
    }
    if let Some(a) = add {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        println!("- weld add (ms): {}", list(&a.add_ms));
        println!("- weld list, empty state (ms): {}", list(&a.list_ms));
    }
    if let Some((alone, busy)) = inproc {
        for (label, i) in [("alone", alone), ("busy sibling", busy)] {
            println!(
                "- in-process ({label}): call median {} µs, p99 {} µs; the runtime's own \
                 CallStats::duration median {} µs",
                num(micros(percentile(&i.samples, 50.0))),
                num(micros(percentile(&i.samples, 99.0))),
                num(micros(percentile(&i.runtime_durations, 50.0)))
            );
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Today's date (UTC), from the system clock, as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_ratio_or_value() {
        assert_eq!(Target::RatioAtMost(1.5).judge(0.0, 1.4).1, "yes");
        assert_eq!(Target::RatioAtLeast(0.7).judge(0.0, 0.5).1, "**NO**");
        assert_eq!(Target::AtMost(10.0, "ms").judge(9.0, 99.0).1, "yes");
    }

    #[test]
    fn numbers_keep_a_few_digits() {
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(123.45), "123.5");
        assert_eq!(num(1.2345), "1.23");
    }
}
