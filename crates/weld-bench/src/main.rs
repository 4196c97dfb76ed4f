//! weld's benchmark. Runs weld (serving `add.wasm`) and `native-add` (the
//! same tool in plain Rust on the same rmcp transports) as child processes,
//! drives both with the same Rust clients over real pipes and loopback
//! sockets, and prints each figure next to the native one as a ratio: the
//! machine is shared and noisy, so only a ratio measured in the same run
//! means much.
//!
//! See docs/PERFORMANCE.md for what each metric measures; `scripts/bench.sh`
//! builds everything and runs this.
//!
//! ## Invariants (written as absences)
//!
//! - Nothing in weld depends on it, and it reaches weld only as a user
//!   does (the binary over stdio and HTTP), except metrics 7 and 8's
//!   floors, which call `weld-runtime` in process.
//! - No traffic leaves 127.0.0.1, and no loop is unbounded: every count has
//!   a flag, and `scripts/bench.sh` kills a run after 10 minutes.
//! - No figure is judged alone: each weld figure is reported next to
//!   native-add's from the same round.
//! - `unsafe` only for the libc calls std lacks (CPU affinity, pipe size),
//!   each allowed where it is, with its `SAFETY` comment.

mod http;
mod inproc;
mod languages;
mod options;
mod proc;
mod report;
mod rounds;
mod startup;
mod stats;
mod stdio;
mod worlds;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::inproc::InProcess;
use crate::options::Options;
use crate::report::{Environment, Results};

/// The run's work directory (deleted at the end) and its `logs/`.
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

fn main() -> Result<()> {
    let options = Options::parse()?;
    // One thread for the clients: they stay cheap next to the server, and
    // the server keeps at least one of the two cores to itself.
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    executor.block_on(run(options))
}

/// Runs the metrics `o` wants, in order, then prints the report.
async fn run(o: Options) -> Result<()> {
    let dirs = Dirs::new()?;
    let began = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("weld-bench: work directory {}", dirs.root.display());

    let cache = dirs.dir("cache")?;
    let rounds = if ["latency", "pipelined", "http"].iter().any(|m| o.wants(m)) {
        rounds::run(&o, &dirs, &cache).await?
    } else {
        Vec::new()
    };
    let startup = if o.wants("startup") {
        Some(startup::startup(&o, &dirs, &cache).await?)
    } else {
        None
    };
    let add = if o.wants("add") {
        Some(startup::weld_add(&o, &dirs).await?)
    } else {
        None
    };
    let languages = if o.wants("languages") {
        Some(languages::run(&o, &dirs, &cache).await?)
    } else {
        None
    };
    let worlds = if o.wants("worlds") {
        Some(worlds::run(&o, &dirs, &cache).await?)
    } else {
        None
    };
    let inproc = if o.wants("inproc") {
        Some(inproc_pair(&o, &dirs)?)
    } else {
        None
    };

    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report::report(
        &o,
        &Results {
            rounds,
            startup,
            add,
            inproc,
            languages,
            worlds,
            env: Environment {
                load_before,
                load_after,
                took: began.elapsed(),
            },
        },
    );
    Ok(())
}

/// Metric 7: in-process instantiate+call, alone and then with a sibling
/// thread busy on the other core.
fn inproc_pair(o: &Options, dirs: &Dirs) -> Result<(InProcess, InProcess)> {
    let mut runs = Vec::new();
    for busy_sibling in [false, true] {
        eprintln!("in-process instantiate+call (busy sibling thread: {busy_sibling})");
        let cache = dirs.dir(&format!("inproc-cache-{busy_sibling}"))?;
        // On its own thread: it builds its own executor, as weld does.
        let component = o.component.clone();
        let calls = o.inproc_calls;
        let run = std::thread::spawn(move || {
            inproc::run(
                &component,
                &cache,
                &inproc::Probe::add(),
                200,
                calls,
                busy_sibling,
            )
        });
        runs.push(
            run.join()
                .map_err(|_| anyhow::anyhow!("the in-process run panicked"))??,
        );
    }
    let [alone, busy]: [InProcess; 2] = runs
        .try_into()
        .map_err(|_| anyhow::anyhow!("two in-process runs expected"))?;
    Ok((alone, busy))
}
