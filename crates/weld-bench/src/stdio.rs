//! The stdio client: raw JSON-RPC lines on the server's stdin, responses
//! read from its stdout. No SDK in between, so the client's own cost per
//! call is one `write`, one `read` and one small JSON parse.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::Notify;

use crate::proc::{self, Launch, Memory, Server};

/// How long any single response may take before the run is declared stuck.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `initialize` request (legacy lifecycle, id 0) and the `initialized`
/// notification, as the first two lines of a session.
pub const HANDSHAKE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"weld-bench","version":"0.1.0"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n"
);

/// The arguments of call `id`: varied, so a response cannot be right by
/// accident, and including negative numbers.
pub fn call_args(id: u64) -> (i32, i32) {
    let a = (id.wrapping_mul(7919) % 2_000_001) as i64 - 1_000_000;
    let b = (id % 1000) as i64 - 500;
    (a as i32, b as i32)
}

/// The `tools/call` request for call `id`, as one line.
pub fn call_line(id: u64) -> String {
    let (a, b) = call_args(id);
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add_add","arguments":{{"a":{a},"b":{b}}}}}}}"#
    ) + "\n"
}

/// The parts of a `tools/call` response the benchmark checks. Parsed with
/// serde into these types, not into a `Value` tree: the client should cost
/// as little as possible next to the server.
#[derive(Deserialize)]
struct Response {
    id: Option<u64>,
    result: Option<CallResult>,
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallResult {
    structured_content: Option<Structured>,
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct Structured {
    result: Option<i64>,
}

/// The id of a response line, if it is a JSON object with a numeric id.
pub fn response_id(text: &str) -> Result<Option<u64>, String> {
    serde_json::from_str::<Response>(text)
        .map(|r| r.id)
        .map_err(|e| format!("unparseable ({e}): {}", text.trim_end()))
}

/// Checks that `text` is the correct, successful answer to call `id`
/// (`structuredContent.result == a + b`).
pub fn verify_call(text: &str, id: u64) -> Result<(), String> {
    let response: Response = serde_json::from_str(text)
        .map_err(|e| format!("unparseable ({e}): {}", text.trim_end()))?;
    if response.id != Some(id) {
        return Err(format!(
            "expected the response to id {id}, got {}",
            text.trim_end()
        ));
    }
    let result = match (response.result, response.error) {
        (Some(result), None) => result,
        _ => return Err(format!("not a result: {}", text.trim_end())),
    };
    if result.is_error == Some(true) {
        return Err(format!("tool error: {}", text.trim_end()));
    }
    let (a, b) = call_args(id);
    if result.structured_content.and_then(|s| s.result) != Some(i64::from(a.wrapping_add(b))) {
        return Err(format!("wrong result for {a} + {b}: {}", text.trim_end()));
    }
    Ok(())
}

/// One line-oriented JSON-RPC session.
pub struct LineClient {
    stdin: ChildStdin,
    reader: BufReader<ChildStdout>,
    line: String,
}

impl LineClient {
    pub fn new(stdin: ChildStdin, stdout: ChildStdout) -> Self {
        Self {
            stdin,
            reader: BufReader::with_capacity(64 * 1024, stdout),
            line: String::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stdin.write_all(bytes).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// The next line from the server.
    pub async fn read_line(&mut self) -> Result<&str> {
        self.line.clear();
        let n = tokio::time::timeout(RESPONSE_TIMEOUT, self.reader.read_line(&mut self.line))
            .await
            .context("timed out waiting for a response")??;
        if n == 0 {
            bail!("the server closed stdout");
        }
        Ok(&self.line)
    }

    /// The next message with id `id`, skipping notifications.
    pub async fn recv(&mut self, id: u64) -> Result<Value> {
        loop {
            self.read_line().await?;
            let message: Value = serde_json::from_str(&self.line)
                .with_context(|| format!("unparseable line: {}", self.line.trim_end()))?;
            match message.get("id").and_then(Value::as_u64) {
                Some(got) if got == id => return Ok(message),
                Some(got) => bail!("expected id {id}, got {got}: {message}"),
                None if message.get("method").is_some() => continue,
                None => bail!("a response without an id: {message}"),
            }
        }
    }

    /// `initialize` + `initialized`; returns once the server answered.
    pub async fn handshake(&mut self) -> Result<Value> {
        self.send(HANDSHAKE.as_bytes()).await?;
        let answer = self.recv(0).await?;
        if answer.get("result").is_none() {
            bail!("initialize failed: {answer}");
        }
        Ok(answer)
    }
}

/// A running stdio server with an initialized session.
pub struct Session {
    server: Server,
    client: LineClient,
    /// The next unused request id.
    next_id: u64,
}

impl Session {
    /// Starts the server and runs the `initialize` handshake.
    pub async fn start(launch: &Launch, log: &Path) -> Result<Self> {
        let (server, stdin, stdout) = proc::spawn_stdio(launch, log)?;
        let mut session = Self {
            server,
            client: LineClient::new(stdin, stdout),
            next_id: 1,
        };
        if let Err(error) = session.client.handshake().await {
            let tail = session.server.log_tail();
            session.finish().await;
            return Err(error.context(format!("server log:\n{tail}")));
        }
        Ok(session)
    }

    pub fn pid(&self) -> u32 {
        self.server.pid
    }

    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Grows the pipe to the server's stdin to `bytes` (Linux's default is
    /// 64 KiB), so a pipelining client can put a whole window of requests
    /// in flight whatever the server's pace.
    pub fn grow_request_pipe(&self, bytes: usize) -> Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.client.stdin.as_raw_fd();
        let size = libc::c_int::try_from(bytes)?;
        #[allow(
            unsafe_code,
            reason = "fcntl is a raw libc call; std has no F_SETPIPE_SZ"
        )]
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own; no memory is
        // passed.
        let got = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) };
        if got < 0 {
            return Err(std::io::Error::last_os_error()).context("F_SETPIPE_SZ");
        }
        Ok(())
    }

    /// A request id not used before in this session.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Writes `bytes` (whole request lines) to the server's stdin.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.client.send(bytes).await
    }

    /// The server's next line.
    pub async fn read_line(&mut self) -> Result<&str> {
        self.client.read_line().await
    }

    /// Closes stdin and waits for the server to exit.
    pub async fn finish(self) {
        drop(self.client);
        self.server.finish().await;
    }

    /// One call, alone in flight; returns its round-trip time (the response
    /// is checked after the clock stops).
    pub async fn call(&mut self) -> Result<Duration> {
        let id = self.next_id;
        self.next_id += 1;
        let line = call_line(id);
        let started = Instant::now();
        self.client.send(line.as_bytes()).await?;
        let answer = self.client.read_line().await?;
        let took = started.elapsed();
        verify_call(answer, id).map_err(anyhow::Error::msg)?;
        Ok(took)
    }
}

/// Runs `f` on a pair of sessions (weld's and native's), then ends both;
/// an error carries both servers' log tails.
async fn with_pair<T>(
    launches: [&Launch; 2],
    logs: [&Path; 2],
    f: impl AsyncFnOnce(&mut [Session; 2]) -> Result<T>,
) -> Result<T> {
    let first = Session::start(launches[0], logs[0]).await?;
    let second = match Session::start(launches[1], logs[1]).await {
        Ok(second) => second,
        Err(error) => {
            first.finish().await;
            return Err(error);
        }
    };
    let mut pair = [first, second];
    let result = f(&mut pair).await;
    let tails = [pair[0].log_tail(), pair[1].log_tail()];
    let [first, second] = pair;
    first.finish().await;
    second.finish().await;
    result.with_context(|| {
        format!(
            "first server's log:\n{}\nsecond server's log:\n{}",
            tails[0], tails[1]
        )
    })
}

/// The order in which block `block` visits the two servers: alternating,
/// so neither always runs first (or right after the other).
fn order(block: u64) -> [usize; 2] {
    if block.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

fn cpu_delta(pid: u32, before: Option<Duration>) -> Option<Duration> {
    Some(proc::cpu_time(pid).ok()?.saturating_sub(before?))
}

fn add_cpu(total: &mut Option<Duration>, delta: Option<Duration>) {
    *total = match (*total, delta) {
        (Some(t), Some(d)) => Some(t + d),
        _ => None,
    };
}

/// Sequential calls: send one, wait for its answer, repeat.
#[derive(Debug)]
pub struct Latency {
    /// Round-trip time of each measured call.
    pub samples: Vec<Duration>,
    /// Server CPU (user + system) over the measured calls.
    pub server_cpu: Option<Duration>,
}

/// Both servers run at once (the idle one is parked, waiting on its pipe);
/// after `warmup` unmeasured calls each, the measured `calls` alternate
/// between them in blocks of `block`, so that a change in the machine's
/// load hits both alike.
pub async fn latency_pair(
    launches: [&Launch; 2],
    logs: [&Path; 2],
    warmup: u64,
    calls: u64,
    block: u64,
) -> Result<[Latency; 2]> {
    with_pair(launches, logs, async |pair: &mut [Session; 2]| {
        for session in pair.iter_mut() {
            for _ in 0..warmup {
                session.call().await?;
            }
        }
        let mut out = [(); 2].map(|()| Latency {
            samples: Vec::with_capacity(calls as usize),
            server_cpu: Some(Duration::ZERO),
        });
        let block = block.max(1);
        for b in 0..calls.div_ceil(block) {
            let n = block.min(calls - b * block);
            for s in order(b) {
                let before = proc::cpu_time(pair[s].pid()).ok();
                for _ in 0..n {
                    let took = pair[s].call().await?;
                    out[s].samples.push(took);
                }
                add_cpu(&mut out[s].server_cpu, cpu_delta(pair[s].pid(), before));
            }
        }
        Ok(out)
    })
    .await
}

/// Many calls in flight over one session.
#[derive(Debug, Default)]
pub struct Pipelined {
    pub calls: u64,
    /// From the first request written to the last response read, summed
    /// over chunks.
    pub elapsed: Duration,
    /// Ids never answered.
    pub lost: u64,
    /// Lines that were not JSON, answers to unknown or already answered ids,
    /// and answers with a wrong or missing result.
    pub malformed: u64,
    pub first_problem: Option<String>,
    /// The most requests written and not yet answered at once, and their
    /// size in bytes.
    pub max_inflight: u64,
    pub max_inflight_bytes: u64,
    /// The fewest requests in flight when the writer refilled the window
    /// (so excluding the final drain of each chunk).
    pub min_inflight_at_refill: u64,
    pub server_cpu: Option<Duration>,
}

impl Pipelined {
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// The writer waits until at least this many requests fit in the window,
/// then writes as many as fit in one `write`.
const BATCH: u64 = 128;

/// Both servers run at once, each with a 1 MiB request pipe; after 200
/// warm-up calls each, `chunks` chunks of `total / chunks` pipelined calls
/// alternate between them (see [`pipelined_chunk`]).
pub async fn pipelined_pair(
    launches: [&Launch; 2],
    logs: [&Path; 2],
    total: u64,
    window: u64,
    chunks: u64,
) -> Result<[Pipelined; 2]> {
    with_pair(launches, logs, async |pair: &mut [Session; 2]| {
        for session in pair.iter_mut() {
            session.grow_request_pipe(1 << 20)?;
            for _ in 0..200 {
                session.call().await?;
            }
        }
        let mut out = [(); 2].map(|()| Pipelined {
            server_cpu: Some(Duration::ZERO),
            min_inflight_at_refill: u64::MAX,
            ..Pipelined::default()
        });
        let chunks = chunks.clamp(1, total);
        for c in 0..chunks {
            let count = total / chunks + u64::from(c < total % chunks);
            for s in order(c) {
                let before = proc::cpu_time(pair[s].pid()).ok();
                pipelined_chunk(&mut pair[s], count, window, &mut out[s]).await?;
                add_cpu(&mut out[s].server_cpu, cpu_delta(pair[s].pid(), before));
            }
        }
        for o in &mut out {
            // No refill happened (each chunk fit in one window).
            if o.min_inflight_at_refill == u64::MAX {
                o.min_inflight_at_refill = o.max_inflight;
            }
        }
        Ok(out)
    })
    .await
}

/// `count` calls over `session` with up to `window` in flight: one task
/// writes raw request lines (`window` at once to begin with, then as many as
/// fit whenever at least `BATCH` do), the other reads and checks every
/// response line. Adds what it saw to `outcome`.
async fn pipelined_chunk(
    session: &mut Session,
    count: u64,
    window: u64,
    outcome: &mut Pipelined,
) -> Result<()> {
    let first_id = session.next_id;
    session.next_id += count;
    let lines: Vec<Vec<u8>> = (first_id..first_id + count)
        .map(|id| call_line(id).into_bytes())
        .collect();
    let LineClient { stdin, reader, .. } = &mut session.client;

    let answered = Cell::new(0u64);
    let written_bytes = Cell::new(0u64);
    let answered_bytes = Cell::new(0u64);
    let room = Notify::new();
    let shared = RefCell::new(&mut *outcome);
    let started = Instant::now();

    let write_task = async {
        let mut next = 0u64;
        let mut buf = Vec::with_capacity(window.min(count) as usize * 128);
        while next < count {
            let inflight = next - answered.get();
            let free = window.saturating_sub(inflight);
            let remaining = count - next;
            if free < BATCH.min(remaining) {
                room.notified().await;
                continue;
            }
            let n = free.min(remaining);
            if next > 0 {
                // The low-water mark: how far the window had drained before
                // this refill.
                let mut o = shared.borrow_mut();
                o.min_inflight_at_refill = o.min_inflight_at_refill.min(inflight);
            }
            buf.clear();
            for line in &lines[next as usize..(next + n) as usize] {
                buf.extend_from_slice(line);
            }
            stdin.write_all(&buf).await?;
            stdin.flush().await?;
            next += n;
            written_bytes.set(written_bytes.get() + buf.len() as u64);
            let mut o = shared.borrow_mut();
            o.max_inflight = o.max_inflight.max(next - answered.get());
            o.max_inflight_bytes = o
                .max_inflight_bytes
                .max(written_bytes.get() - answered_bytes.get());
        }
        anyhow::Ok(())
    };

    let read_task = async {
        let mut seen = vec![false; count as usize];
        let mut line = String::with_capacity(512);
        let mut finished_at = Instant::now();
        while answered.get() < count {
            line.clear();
            match tokio::time::timeout(RESPONSE_TIMEOUT, reader.read_line(&mut line)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Err(error)) => return Err(error.into()),
                Ok(Ok(_)) => {}
            }
            finished_at = Instant::now();
            let mut o = shared.borrow_mut();
            let o = &mut **o;
            let id = match response_id(&line) {
                Ok(Some(id)) => id,
                // A notification (rmcp sends none here) is not an answer.
                Ok(None) if line.contains("\"method\"") => continue,
                Ok(None) => {
                    note(o, format!("no id: {}", line.trim_end()));
                    continue;
                }
                Err(problem) => {
                    note(o, problem);
                    continue;
                }
            };
            let Some(index) = id
                .checked_sub(first_id)
                .filter(|i| *i < count && !seen[*i as usize])
            else {
                note(o, format!("unexpected or repeated id {id}"));
                continue;
            };
            seen[index as usize] = true;
            answered.set(answered.get() + 1);
            answered_bytes.set(answered_bytes.get() + lines[index as usize].len() as u64);
            room.notify_one();
            if let Err(what) = verify_call(&line, id) {
                note(o, what);
            }
        }
        anyhow::Ok(finished_at)
    };

    let (written, finished_at) = tokio::join!(write_task, read_task);
    let finished_at = finished_at?;
    written?;
    outcome.calls += count;
    outcome.elapsed += finished_at - started;
    outcome.lost += count - answered.get();
    Ok(())
}

fn note(outcome: &mut Pipelined, problem: String) {
    outcome.malformed += 1;
    outcome.first_problem.get_or_insert(problem);
}

/// Process start to the first `tools/list` answered, and the server's
/// memory once idle.
pub struct Startup {
    pub to_first_list: Duration,
    pub memory: Memory,
}

/// Starts the server, writes `initialize`, `initialized` and `tools/list`
/// at once (they wait in the pipe while it starts), and times until the
/// `tools/list` answer is read; checks it lists exactly `expected_tools`.
/// Memory is read `settle` after that.
pub async fn startup(
    launch: &Launch,
    log: &Path,
    expected_tools: &[String],
    settle: Duration,
) -> Result<Startup> {
    let mut first = String::from(HANDSHAKE);
    first.push_str(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    first.push('\n');
    let started = Instant::now();
    let (server, stdin, stdout) = proc::spawn_stdio(launch, log)?;
    let mut client = LineClient::new(stdin, stdout);
    let result = async {
        client.send(first.as_bytes()).await?;
        client.recv(0).await?;
        let list = client.recv(1).await?;
        let to_first_list = started.elapsed();
        let mut names: Vec<String> = list
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .with_context(|| format!("tools/list failed: {list}"))?
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from))
            .collect();
        names.sort();
        let mut expected = expected_tools.to_vec();
        expected.sort();
        if names != expected {
            bail!("tools/list listed {names:?}, expected {expected:?}");
        }
        tokio::time::sleep(settle).await;
        let memory = proc::memory(server.pid)?;
        anyhow::Ok(Startup {
            to_first_list,
            memory,
        })
    }
    .await;
    drop(client);
    let tail = server.log_tail();
    server.finish().await;
    result.with_context(|| format!("server log:\n{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_line_is_one_json_rpc_request() {
        let line = call_line(42);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let value: Value = serde_json::from_str(&line).expect("JSON");
        let (a, b) = call_args(42);
        assert_eq!(value["params"]["arguments"]["a"], a);
        assert_eq!(value["params"]["arguments"]["b"], b);
        assert_eq!(value["params"]["name"], "add_add");
    }

    #[test]
    fn verification_checks_id_and_sum() {
        let (a, b) = call_args(7);
        let good = serde_json::json!({
            "jsonrpc": "2.0", "id": 7,
            "result": {
                "content": [{ "type": "text", "text": "{}" }],
                "structuredContent": { "result": a.wrapping_add(b) },
                "isError": false
            }
        });
        assert_eq!(verify_call(&good.to_string(), 7), Ok(()));
        assert!(verify_call(&good.to_string(), 8).is_err());
        let mut wrong = good.clone();
        wrong["result"]["structuredContent"]["result"] = serde_json::json!(0);
        assert!(verify_call(&wrong.to_string(), 7).is_err());
        let error = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}}"#;
        assert!(verify_call(error, 7).is_err());
        assert!(verify_call("not json", 7).is_err());
        assert_eq!(response_id(error), Ok(Some(7)));
    }
}
