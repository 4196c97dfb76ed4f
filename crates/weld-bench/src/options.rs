//! The benchmark's command line: what to run, how often, and which
//! binaries. Parsed by clap, then resolved into [`Options`] (defaults for the
//! paths, `--quick` counts) before anything is started.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// The metrics `--only` can pick.
const METRICS: [&str; 8] = [
    "latency",
    "pipelined",
    "http",
    "startup",
    "add",
    "inproc",
    "languages",
    "worlds",
];

/// The command line as written.
#[derive(Debug, Parser)]
#[command(
    name = "weld-bench",
    about = "weld's end-to-end benchmark, measured against a native rmcp baseline",
    after_help = "Environment: WELD_BENCH_WRAP, a command put in front of every server process, \
                  weld's and native-add's (e.g. a profiler); memory and CPU figures then \
                  describe the wrapper."
)]
struct Args {
    /// The weld binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    weld: Option<PathBuf>,
    /// The native-add binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    native: Option<PathBuf>,
    /// add.wasm (default: <workspace>/target/components/add.wasm).
    #[arg(long, value_name = "PATH")]
    component: Option<PathBuf>,
    /// pytext.wasm, the Python tool of metric 8 (default:
    /// <workspace>/target/components/pytext.wasm).
    #[arg(long, value_name = "PATH")]
    pytext: Option<PathBuf>,
    /// jstext.wasm, the JavaScript tool of metric 8 (default:
    /// <workspace>/target/components/jstext.wasm).
    #[arg(long, value_name = "PATH")]
    jstext: Option<PathBuf>,
    /// mcpdemo.wasm, the MCP-world component of metric 9 (default:
    /// <workspace>/target/components/mcpdemo.wasm).
    #[arg(long, value_name = "PATH")]
    mcpdemo: Option<PathBuf>,
    /// mcp-stdio.wasm, the proxied MCP server of metric 9 (default:
    /// <workspace>/target/components/mcp-stdio.wasm).
    #[arg(long, value_name = "PATH")]
    mcp_stdio: Option<PathBuf>,
    /// Rounds of metrics 1-3, weld and native alternating [default: 5; 1 with --quick].
    #[arg(long, value_name = "N")]
    rounds: Option<u64>,
    /// Sequential stdio calls measured per round [default: 2000; 200 with --quick].
    #[arg(long, value_name = "N")]
    calls: Option<u64>,
    /// Pipelined stdio calls per round [default: 20000; 8000 with --quick].
    #[arg(long, value_name = "N")]
    pipelined: Option<u64>,
    /// Most pipelined calls in flight [default: 2000; 1500 with --quick].
    #[arg(long, value_name = "N")]
    window: Option<u64>,
    /// Concurrent HTTP clients, one connection each [default: 64].
    #[arg(long, value_name = "N")]
    http_clients: Option<u64>,
    /// Measured calls per HTTP client per round [default: 200; 20 with --quick].
    #[arg(long, value_name = "N")]
    http_calls: Option<u64>,
    /// Process starts per server for metrics 4-5 [default: 10; 2 with --quick].
    #[arg(long, value_name = "N")]
    startup_runs: Option<u64>,
    /// `weld add` runs for metric 6 [default: 10; 2 with --quick].
    #[arg(long, value_name = "N")]
    add_runs: Option<u64>,
    /// In-process calls for metric 7 [default: 2000; 200 with --quick].
    #[arg(long, value_name = "N")]
    inproc_calls: Option<u64>,
    /// Sequential calls per tool for metric 8, floor and stdio each [default: 400; 40 with --quick].
    #[arg(long, value_name = "N")]
    language_calls: Option<u64>,
    /// Calls per tool with 16 in flight for metric 8 [default: 2000; 200 with --quick].
    #[arg(long, value_name = "N")]
    language_pipelined: Option<u64>,
    /// Sequential calls per path for metric 9 [default: 2000; 200 with --quick].
    #[arg(long, value_name = "N")]
    world_calls: Option<u64>,
    /// Calls per path with 16 in flight for metric 9 [default: 4000; 400 with --quick].
    #[arg(long, value_name = "N")]
    world_pipelined: Option<u64>,
    /// Comma-separated subset of the metrics to run (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = METRICS)]
    only: Vec<String>,
    /// Small counts, for a smoke test (counts given explicitly still win).
    #[arg(long)]
    quick: bool,
}

/// What to run, resolved: every path exists, every count is at least 1.
#[derive(Debug, Clone)]
pub struct Options {
    pub weld: PathBuf,
    pub native: PathBuf,
    pub component: PathBuf,
    pub pytext: PathBuf,
    pub jstext: PathBuf,
    pub mcpdemo: PathBuf,
    pub mcp_stdio: PathBuf,
    pub rounds: u64,
    pub calls: u64,
    pub pipelined: u64,
    pub window: u64,
    pub http_clients: u64,
    pub http_calls: u64,
    pub startup_runs: u64,
    pub add_runs: u64,
    pub inproc_calls: u64,
    pub language_calls: u64,
    pub language_pipelined: u64,
    pub world_calls: u64,
    pub world_pipelined: u64,
    only: Vec<String>,
}

impl Options {
    /// Parses the process's arguments (printing help or a usage error and
    /// exiting, as clap does) and resolves them.
    ///
    /// # Errors
    /// When a binary or the component does not exist.
    pub fn parse() -> Result<Self> {
        let exe_dir = std::env::current_exe()?
            .parent()
            .context("no directory for the current executable")?
            .to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let o = Self::resolve(Args::parse(), &exe_dir, &workspace);
        let languages = o.wants("languages");
        let worlds = o.wants("worlds");
        let tools = [&o.pytext, &o.jstext].into_iter().filter(|_| languages);
        let servers = [&o.mcpdemo, &o.mcp_stdio].into_iter().filter(|_| worlds);
        for path in [&o.weld, &o.native, &o.component]
            .into_iter()
            .chain(tools)
            .chain(servers)
        {
            if !path.is_file() {
                bail!(
                    "{} does not exist (build it first: scripts/bench.sh)",
                    path.display()
                );
            }
        }
        Ok(o)
    }

    /// The options `args` mean, without looking at the filesystem.
    fn resolve(args: Args, exe_dir: &Path, workspace: &Path) -> Self {
        // `--quick` changes the defaults; a count given explicitly wins.
        let count = |given: Option<u64>, full: u64, quick: u64| {
            given
                .unwrap_or(if args.quick { quick } else { full })
                .max(1)
        };
        Options {
            weld: args.weld.unwrap_or_else(|| exe_dir.join("weld")),
            native: args.native.unwrap_or_else(|| exe_dir.join("native-add")),
            component: args
                .component
                .unwrap_or_else(|| workspace.join("target/components/add.wasm")),
            pytext: args
                .pytext
                .unwrap_or_else(|| workspace.join("target/components/pytext.wasm")),
            jstext: args
                .jstext
                .unwrap_or_else(|| workspace.join("target/components/jstext.wasm")),
            mcpdemo: args
                .mcpdemo
                .unwrap_or_else(|| workspace.join("target/components/mcpdemo.wasm")),
            mcp_stdio: args
                .mcp_stdio
                .unwrap_or_else(|| workspace.join("target/components/mcp-stdio.wasm")),
            rounds: count(args.rounds, 5, 1),
            calls: count(args.calls, 2000, 200),
            pipelined: count(args.pipelined, 20_000, 8000),
            window: count(args.window, 2000, 1500),
            http_clients: count(args.http_clients, 64, 64),
            http_calls: count(args.http_calls, 200, 20),
            startup_runs: count(args.startup_runs, 10, 2),
            add_runs: count(args.add_runs, 10, 2),
            inproc_calls: count(args.inproc_calls, 2000, 200),
            language_calls: count(args.language_calls, 400, 40),
            language_pipelined: count(args.language_pipelined, 2000, 200),
            world_calls: count(args.world_calls, 2000, 200),
            world_pipelined: count(args.world_pipelined, 4000, 400),
            only: args.only,
        }
    }

    /// Whether `metric` (one of `--only`'s names) is to be run.
    pub fn wants(&self, metric: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|m| m == metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(line: &[&str]) -> Options {
        let args = Args::try_parse_from(std::iter::once("weld-bench").chain(line.iter().copied()))
            .expect("parses");
        Options::resolve(args, Path::new("/bin"), Path::new("/ws"))
    }

    #[test]
    fn paths_default_to_beside_the_binary_and_the_workspace() {
        let o = options(&[]);
        assert_eq!(o.weld, Path::new("/bin/weld"));
        assert_eq!(o.native, Path::new("/bin/native-add"));
        assert_eq!(o.component, Path::new("/ws/target/components/add.wasm"));
        assert_eq!(options(&["--weld", "/w"]).weld, Path::new("/w"));
    }

    #[test]
    fn quick_lowers_the_defaults_but_an_explicit_count_wins() {
        let full = options(&[]);
        assert_eq!((full.rounds, full.calls, full.pipelined), (5, 2000, 20_000));
        let quick = options(&["--calls", "500", "--quick"]);
        assert_eq!((quick.rounds, quick.calls, quick.pipelined), (1, 500, 8000));
        assert_eq!(quick.http_clients, 64);
        assert_eq!(
            options(&["--rounds", "0"]).rounds,
            1,
            "counts are at least 1"
        );
    }

    #[test]
    fn only_takes_a_comma_separated_list_of_known_metrics() {
        let o = options(&["--only", "latency,http"]);
        assert!(o.wants("latency") && o.wants("http") && !o.wants("add"));
        assert!(options(&[]).wants("add"));
        let typo = Args::try_parse_from(["weld-bench", "--only", "latncy"]);
        assert!(typo.is_err(), "an unknown metric is refused, not ignored");
    }
}
