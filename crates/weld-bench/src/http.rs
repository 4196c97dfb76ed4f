//! The Streamable HTTP client: `clients` concurrent clients, each on its own
//! keep-alive HTTP/1.1 connection, each sending one `tools/call` POST at a
//! time in the stateless 2026-07-28 style — protocol version, client info and
//! capabilities in the request's `_meta`, and the `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` headers — so no session and no `initialize`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::proc::{self, Launch};
use crate::stdio::{call_args, verify_call};

const PROTOCOL_VERSION: &str = "2026-07-28";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-request metadata that replaces `initialize` in 2026-07-28.
const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"weld-bench","version":"0.1.0"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

pub fn call_body(id: u64) -> String {
    let (a, b) = call_args(id);
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add_add","arguments":{{"a":{a},"b":{b}}},"_meta":{META}}}}}"#
    )
}

/// The JSON-RPC messages in a response body: the body itself for
/// `application/json`, every non-empty `data:` line for `text/event-stream`.
pub fn messages<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<&'a str>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    if content_type.starts_with("application/json") {
        return Ok(vec![text]);
    }
    if !content_type.starts_with("text/event-stream") {
        return Err(format!("unexpected content type `{content_type}`: {text}"));
    }
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .filter(|data| !data.trim().is_empty())
        .collect())
}

/// What the HTTP run measured.
#[derive(Debug, Default)]
pub struct HttpRun {
    pub calls: u64,
    /// From the moment all clients are ready to the last response.
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// Requests that got no usable HTTP response (connection error, timeout,
    /// status other than 200).
    pub lost: u64,
    /// 200 responses whose body was not the correct JSON-RPC answer.
    pub malformed: u64,
    pub first_problem: Option<String>,
    pub server_cpu: Option<Duration>,
}

impl HttpRun {
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

enum Failure {
    Lost(String),
    Malformed(String),
}

async fn call(sender: &mut SendRequest<Full<Bytes>>, host: &str, id: u64) -> Result<(), Failure> {
    let request = Request::post("/mcp")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("MCP-Protocol-Version", PROTOCOL_VERSION)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "add_add")
        .body(Full::new(Bytes::from(call_body(id))))
        .map_err(|e| Failure::Lost(e.to_string()))?;
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, content_type, body))
    };
    let (status, content_type, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| Failure::Lost(format!("no response to id {id} in {REQUEST_TIMEOUT:?}")))?
        .map_err(|e| Failure::Lost(format!("id {id}: {e:#}")))?;
    if status != StatusCode::OK {
        return Err(Failure::Lost(format!(
            "id {id}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let messages = messages(&content_type, &body).map_err(Failure::Malformed)?;
    let [message] = messages.as_slice() else {
        return Err(Failure::Malformed(format!(
            "expected one message, got {}: {}",
            messages.len(),
            String::from_utf8_lossy(&body)
        )));
    };
    verify_call(message, id).map_err(Failure::Malformed)
}

struct ClientRun {
    latencies: Vec<Duration>,
    lost: u64,
    malformed: u64,
    first_problem: Option<String>,
    finished: Instant,
}

async fn client(
    addr: SocketAddr,
    base: u64,
    warmup: u64,
    calls: u64,
    barrier: Arc<Barrier>,
) -> Result<ClientRun> {
    let host = addr.to_string();
    let mut sender = connect(addr).await?;
    for id in base..base + warmup {
        if let Err(Failure::Lost(what) | Failure::Malformed(what)) =
            call(&mut sender, &host, id).await
        {
            bail!("warm-up call failed: {what}");
        }
    }
    barrier.wait().await;
    let mut run = ClientRun {
        latencies: Vec::with_capacity(calls as usize),
        lost: 0,
        malformed: 0,
        first_problem: None,
        finished: Instant::now(),
    };
    for id in base + warmup..base + warmup + calls {
        let started = Instant::now();
        match call(&mut sender, &host, id).await {
            Ok(()) => run.latencies.push(started.elapsed()),
            Err(Failure::Malformed(what)) => {
                run.malformed += 1;
                run.first_problem.get_or_insert(what);
            }
            Err(Failure::Lost(what)) => {
                run.lost += 1;
                run.first_problem.get_or_insert(what);
                // The connection may be unusable now: start a new one.
                sender = connect(addr).await?;
            }
        }
    }
    run.finished = Instant::now();
    Ok(run)
}

/// One load phase against one server: `clients` fresh connections, each
/// makes `warmup` unmeasured calls; once all have, each makes `calls`
/// measured ones. Request ids start at `id_base` (distinct per phase).
async fn phase(
    addr: SocketAddr,
    pid: u32,
    clients: u64,
    warmup: u64,
    calls: u64,
    id_base: u64,
    outcome: &mut HttpRun,
) -> Result<()> {
    let barrier = Arc::new(Barrier::new(clients as usize + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let base = id_base + i * 1_000_000;
            tokio::spawn(client(addr, base, warmup, calls, Arc::clone(&barrier)))
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let cpu_before = proc::cpu_time(pid).ok();
    let mut finished = started;
    for task in tasks {
        let run = task.await.context("a client panicked")??;
        outcome.latencies.extend(run.latencies);
        outcome.lost += run.lost;
        outcome.malformed += run.malformed;
        if outcome.first_problem.is_none() {
            outcome.first_problem = run.first_problem;
        }
        finished = finished.max(run.finished);
    }
    outcome.calls += clients * calls;
    outcome.elapsed += finished - started;
    outcome.server_cpu = match (outcome.server_cpu, cpu_before, proc::cpu_time(pid).ok()) {
        (Some(total), Some(before), Some(after)) => Some(total + after.saturating_sub(before)),
        _ => None,
    };
    Ok(())
}

/// Starts both servers (weld's and native's) and alternates `chunks` load
/// phases between them, so a change in the machine's load hits both alike;
/// each client makes `calls` measured calls in all, split over the chunks.
pub async fn run_pair(
    launches: [&Launch; 2],
    logs: [&Path; 2],
    clients: u64,
    warmup: u64,
    calls: u64,
    chunks: u64,
) -> Result<[HttpRun; 2]> {
    let (first, first_addr) = proc::spawn_http(launches[0], logs[0]).await?;
    let (second, second_addr) = match proc::spawn_http(launches[1], logs[1]).await {
        Ok(started) => started,
        Err(error) => {
            first.stop().await;
            return Err(error);
        }
    };
    let servers = [(first.pid, first_addr), (second.pid, second_addr)];
    let result = async {
        let mut out = [(); 2].map(|()| HttpRun {
            server_cpu: Some(Duration::ZERO),
            ..HttpRun::default()
        });
        let chunks = chunks.clamp(1, calls);
        for c in 0..chunks {
            let per_client = calls / chunks + u64::from(c < calls % chunks);
            let order = if c.is_multiple_of(2) { [0, 1] } else { [1, 0] };
            for s in order {
                let (pid, addr) = servers[s];
                let id_base = (c + 1) * 1_000_000_000;
                phase(addr, pid, clients, warmup, per_client, id_base, &mut out[s]).await?;
            }
        }
        anyhow::Ok(out)
    };
    let result = tokio::time::timeout(Duration::from_secs(180), result)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the HTTP run took over 180 s")));
    let tails = [first.log_tail(), second.log_tail()];
    first.stop().await;
    second.stop().await;
    result.with_context(|| {
        format!(
            "first server's log:\n{}\nsecond server's log:\n{}",
            tails[0], tails[1]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_event_stream_bodies() {
        let json = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(messages("application/json", json).expect("json").len(), 1);
        let sse = b"id: 0\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\ndata:\n\n";
        let parsed = messages("text/event-stream", sse).expect("sse");
        assert_eq!(parsed, vec![r#"{"jsonrpc":"2.0","id":1,"result":{}}"#]);
        assert!(messages("text/plain", b"hi").is_err());
    }

    #[test]
    fn a_call_body_carries_the_request_metadata() {
        let body: serde_json::Value = serde_json::from_str(&call_body(3)).expect("JSON");
        let meta = &body["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            PROTOCOL_VERSION
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
    }
}
