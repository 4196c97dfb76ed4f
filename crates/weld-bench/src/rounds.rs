//! Metrics 1-3, in rounds: stdio latency, stdio pipelined throughput and
//! HTTP throughput, weld and native-add side by side, the work alternating
//! between them and the order alternating between rounds, so the two
//! figures of a round were measured under the same conditions.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::options::Options;
use crate::proc::{self, Launch};
use crate::stats::{micros, percentile};
use crate::{Dirs, http, stdio, wrap};

/// The two servers under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Weld,
    Native,
}

impl Which {
    /// The name used in logs and the report.
    pub fn name(self) -> &'static str {
        match self {
            Which::Weld => "weld",
            Which::Native => "native",
        }
    }
}

/// One row of results for one server in one round.
#[derive(Debug, Default, Clone)]
pub struct Round {
    pub p50_us: f64,
    pub p99_us: f64,
    pub seq_cpu_us: Option<f64>,
    pub pipelined_per_sec: f64,
    pub pipelined_lost: u64,
    pub pipelined_malformed: u64,
    pub pipelined_inflight: u64,
    pub pipelined_inflight_bytes: u64,
    pub pipelined_low_water: u64,
    pub pipelined_cpu_us: Option<f64>,
    pub http_per_sec: f64,
    pub http_lost: u64,
    pub http_malformed: u64,
    pub http_p50_us: f64,
    pub http_p99_us: f64,
    pub http_cpu_us: Option<f64>,
}

fn per_call_us(cpu: Option<Duration>, calls: u64) -> Option<f64> {
    cpu.map(|c| micros(c) / calls as f64)
}

/// How to start each server: weld serving the component from an empty
/// state, or native-add; over stdio or HTTP.
struct Servers<'a> {
    o: &'a Options,
    cache: &'a Path,
    state: PathBuf,
}

impl Servers<'_> {
    fn launch(&self, which: Which, http: bool) -> Launch {
        let component: OsString = self.o.component.as_os_str().to_owned();
        let mut launch = match which {
            Which::Weld => {
                let args: &[&str] = if http {
                    &["serve", "--http", "127.0.0.1:0", "--component"]
                } else {
                    &["serve", "--component"]
                };
                let mut launch = Launch::new(&self.o.weld)
                    .env("WELD_STATE_DIR", &self.state)
                    .env("WELD_CACHE_DIR", self.cache);
                for arg in args {
                    launch = launch.arg(*arg);
                }
                launch.arg(&component)
            }
            Which::Native if http => Launch::new(&self.o.native).arg("--http").arg("127.0.0.1:0"),
            Which::Native => Launch::new(&self.o.native),
        };
        launch.wrap = wrap();
        launch
    }
}

/// Runs every round of the metrics `o` wants among 1-3; two rows per round,
/// in the order the servers went.
pub async fn run(o: &Options, dirs: &Dirs, cache: &Path) -> Result<Vec<(Which, Round)>> {
    let servers = Servers {
        o,
        cache,
        state: dirs.dir("state-empty")?,
    };
    let mut rounds = Vec::new();
    for r in 0..o.rounds {
        // Both servers run side by side and the work alternates between
        // them in blocks; which one goes first alternates between rounds.
        let order = if r.is_multiple_of(2) {
            [Which::Weld, Which::Native]
        } else {
            [Which::Native, Which::Weld]
        };
        let round = One {
            o,
            r,
            order,
            dirs,
            stdio: order.map(|w| servers.launch(w, false)),
            http: order.map(|w| servers.launch(w, true)),
        };
        let mut rows = [Round::default(), Round::default()];
        if o.wants("latency") {
            round.latency(&mut rows).await?;
        }
        if o.wants("pipelined") {
            round.pipelined(&mut rows).await?;
        }
        if o.wants("http") {
            round.http(&mut rows).await?;
        }
        rounds.extend(order.into_iter().zip(rows));
    }
    Ok(rounds)
}

/// One round: the servers in this round's order, and where their logs go.
struct One<'a> {
    o: &'a Options,
    r: u64,
    order: [Which; 2],
    dirs: &'a Dirs,
    stdio: [Launch; 2],
    http: [Launch; 2],
}

impl One<'_> {
    fn logs(&self, what: &str) -> [PathBuf; 2] {
        self.order
            .map(|w| self.dirs.log(&format!("{what}-{}-{}", w.name(), self.r)))
    }

    /// Metric 1: sequential stdio calls, one in flight.
    async fn latency(&self, rows: &mut [Round; 2]) -> Result<()> {
        eprintln!("round {}: stdio latency", self.r + 1);
        let logs = self.logs("latency");
        // Pinned, client on CPU 0 and servers on CPU 1: a ping-pong's
        // latency is mostly wake-ups, and where the scheduler happens to
        // put a server's threads (next to the client or not) otherwise
        // swings it twofold from one process to the next.
        let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
        let pinned = self.stdio.clone().map(|mut l| {
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
            self.o.calls,
            100,
        )
        .await;
        proc::set_affinity(&saved)?;
        let got = got?;
        for (row, l) in rows.iter_mut().zip(got) {
            row.p50_us = micros(percentile(&l.samples, 50.0));
            row.p99_us = micros(percentile(&l.samples, 99.0));
            row.seq_cpu_us = per_call_us(l.server_cpu, self.o.calls);
        }
        Ok(())
    }

    /// Metric 2: pipelined stdio calls, many in flight.
    async fn pipelined(&self, rows: &mut [Round; 2]) -> Result<()> {
        eprintln!("round {}: stdio pipelined", self.r + 1);
        let logs = self.logs("pipelined");
        let got = stdio::pipelined_pair(
            [&self.stdio[0], &self.stdio[1]],
            [&logs[0], &logs[1]],
            self.o.pipelined,
            self.o.window,
            4,
        )
        .await?;
        for ((row, p), which) in rows.iter_mut().zip(got).zip(self.order) {
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
        Ok(())
    }

    /// Metric 3: concurrent HTTP clients, one connection each.
    async fn http(&self, rows: &mut [Round; 2]) -> Result<()> {
        eprintln!("round {}: HTTP", self.r + 1);
        let logs = self.logs("http");
        let got = http::run_pair(
            [&self.http[0], &self.http[1]],
            [&logs[0], &logs[1]],
            self.o.http_clients,
            10,
            self.o.http_calls,
            4,
        )
        .await?;
        for ((row, h), which) in rows.iter_mut().zip(got).zip(self.order) {
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
        Ok(())
    }
}
