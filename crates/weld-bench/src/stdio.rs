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

use crate::proc::{self, Launch, Memory};

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

    pub fn into_parts(self) -> (ChildStdin, BufReader<ChildStdout>) {
        (self.stdin, self.reader)
    }
}

/// Sequential calls: send one, wait for its answer, repeat.
pub struct Latency {
    /// Round-trip time of each measured call.
    pub samples: Vec<Duration>,
    /// Server CPU (user + system) over the measured calls.
    pub server_cpu: Option<Duration>,
}

/// `warmup` unmeasured calls, then `calls` measured ones, each the only one
/// in flight.
pub async fn latency(launch: &Launch, log: &Path, warmup: u64, calls: u64) -> Result<Latency> {
    let (server, stdin, stdout) = proc::spawn_stdio(launch, log)?;
    let mut client = LineClient::new(stdin, stdout);
    let run = async {
        client.handshake().await?;
        let mut samples = Vec::with_capacity(calls as usize);
        let mut cpu_before = None;
        for id in 1..=warmup + calls {
            if id == warmup + 1 {
                cpu_before = proc::cpu_time(server.pid).ok();
            }
            let line = call_line(id);
            let started = Instant::now();
            client.send(line.as_bytes()).await?;
            let answer = client.read_line().await?;
            let took = started.elapsed();
            verify_call(answer, id).map_err(anyhow::Error::msg)?;
            if id > warmup {
                samples.push(took);
            }
        }
        let server_cpu = match (cpu_before, proc::cpu_time(server.pid).ok()) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        anyhow::Ok(Latency {
            samples,
            server_cpu,
        })
    };
    let result = run.await;
    drop(client);
    let tail = server.log_tail();
    server.finish().await;
    result.with_context(|| format!("server log:\n{tail}"))
}

/// Many calls in flight over one session.
#[derive(Debug, Default)]
pub struct Pipelined {
    pub calls: u64,
    /// From the first request written to the last response read.
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

/// `total` calls over one session with up to `window` in flight: one task
/// writes raw request lines (`window` at once to begin with, then as many as
/// fit whenever at least `BATCH` do), the other reads and checks every
/// response line.
pub async fn pipelined(launch: &Launch, log: &Path, total: u64, window: u64) -> Result<Pipelined> {
    let (server, stdin, stdout) = proc::spawn_stdio(launch, log)?;
    let mut client = LineClient::new(stdin, stdout);
    let result = async {
        client.handshake().await?;
        // Warm-up, with ids above the measured ones.
        for id in total + 1..=total + 200 {
            client.send(call_line(id).as_bytes()).await?;
            let answer = client.read_line().await?;
            verify_call(answer, id).map_err(anyhow::Error::msg)?;
        }
        let (mut stdin, mut reader) = client.into_parts();
        let lines: Vec<Vec<u8>> = (1..=total).map(|id| call_line(id).into_bytes()).collect();

        let answered = Cell::new(0u64);
        let written_bytes = Cell::new(0u64);
        let answered_bytes = Cell::new(0u64);
        let room = Notify::new();
        let outcome = RefCell::new(Pipelined {
            calls: total,
            ..Pipelined::default()
        });
        let cpu_before = proc::cpu_time(server.pid).ok();
        let started = Instant::now();

        let write_task = async {
            let mut next = 0u64;
            let mut buf = Vec::with_capacity(BATCH as usize * 128);
            while next < total {
                let inflight = next - answered.get();
                let free = window.saturating_sub(inflight);
                let remaining = total - next;
                if free < BATCH.min(remaining) {
                    room.notified().await;
                    continue;
                }
                let n = free.min(remaining);
                buf.clear();
                for line in &lines[next as usize..(next + n) as usize] {
                    buf.extend_from_slice(line);
                }
                stdin.write_all(&buf).await?;
                next += n;
                written_bytes.set(written_bytes.get() + buf.len() as u64);
                let mut o = outcome.borrow_mut();
                o.max_inflight = o.max_inflight.max(next - answered.get());
                o.max_inflight_bytes = o
                    .max_inflight_bytes
                    .max(written_bytes.get() - answered_bytes.get());
            }
            stdin.flush().await?;
            // Keep stdin open until the reader is done.
            anyhow::Ok(stdin)
        };

        let read_task = async {
            let mut seen = vec![false; total as usize + 1];
            let mut line = String::with_capacity(512);
            let mut finished_at = Instant::now();
            while answered.get() < total {
                line.clear();
                match tokio::time::timeout(RESPONSE_TIMEOUT, reader.read_line(&mut line)).await {
                    Ok(Ok(0)) | Err(_) => break,
                    Ok(Err(error)) => return Err(error.into()),
                    Ok(Ok(_)) => {}
                }
                finished_at = Instant::now();
                let mut o = outcome.borrow_mut();
                let o = &mut *o;
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
                if id == 0 || id > total || seen[id as usize] {
                    note(o, format!("unexpected or repeated id {id}"));
                    continue;
                }
                seen[id as usize] = true;
                answered.set(answered.get() + 1);
                answered_bytes.set(answered_bytes.get() + lines[id as usize - 1].len() as u64);
                room.notify_one();
                if let Err(what) = verify_call(&line, id) {
                    note(o, what);
                }
            }
            anyhow::Ok(finished_at)
        };

        let (stdin, finished_at) = tokio::join!(write_task, read_task);
        let finished_at = finished_at?;
        let server_cpu = match (cpu_before, proc::cpu_time(server.pid).ok()) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        drop(stdin?);
        let mut outcome = outcome.into_inner();
        outcome.elapsed = finished_at - started;
        outcome.lost = total - answered.get();
        outcome.server_cpu = server_cpu;
        anyhow::Ok(outcome)
    }
    .await;
    let tail = server.log_tail();
    server.finish().await;
    result.with_context(|| format!("server log:\n{tail}"))
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
