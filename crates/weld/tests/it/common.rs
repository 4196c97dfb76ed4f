//! Shared fixtures: the weld binary, the guest components (built from source
//! by `scripts/build-components.sh`), fresh state directories, and MCP
//! clients over a real pipe and a real socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub type Client = RunningService<RoleClient, ()>;

/// reqwest is built without a TLS provider of its own (weld's crates pick
/// ring, and feature unification gives the tests the same reqwest): every
/// client in the tests needs it installed first, as weld does.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain reqwest client.
pub fn reqwest_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::new()
}

pub fn weld_bin() -> &'static str {
    env!("CARGO_BIN_EXE_weld")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the repository root")
        .to_path_buf()
}

/// A guest component built from source in this repository.
pub fn component(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the guest components first with scripts/build-components.sh \
         (scripts/test.sh does it for you)",
        path.display()
    );
    path
}

/// A private state and cache directory for one test.
pub struct Dirs {
    _tmp: tempfile::TempDir,
    pub state: PathBuf,
    pub cache: PathBuf,
}

impl Dirs {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("state");
        let cache = tmp.path().join("cache");
        Self {
            _tmp: tmp,
            state,
            cache,
        }
    }

    /// A `weld` command using these directories, with logs quiet unless
    /// asked for.
    pub fn weld(&self) -> Command {
        let mut cmd = Command::new(weld_bin());
        cmd.env("WELD_STATE_DIR", &self.state)
            .env("WELD_CACHE_DIR", &self.cache)
            // weld.toml and weld.lock: never the real user's.
            .env("XDG_CONFIG_HOME", self.state.with_file_name("config"))
            .env(
                "WELD_LOG",
                std::env::var("WELD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .kill_on_drop(true);
        cmd
    }

    /// Runs `weld ARGS` to completion.
    pub async fn run(&self, args: &[&str]) -> std::process::Output {
        self.weld()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run weld")
    }
}

pub fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

pub fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

/// An MCP client talking to `weld serve ARGS` over its stdin/stdout.
pub async fn stdio_client(dirs: &Dirs, args: &[&str], mode: ClientLifecycleMode) -> Client {
    let mut cmd = dirs.weld();
    cmd.arg("serve").args(args);
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weld serve")
        .0;
    ().serve_with_lifecycle(transport, mode)
        .await
        .expect("MCP session over stdio")
}

/// `weld serve --http 127.0.0.1:0 ARGS`, returning the process and the bound
/// address (read from its log).
pub async fn http_server(dirs: &Dirs, args: &[&str]) -> (Child, SocketAddr) {
    http_server_with(dirs, args, dirs.weld()).await
}

/// [`http_server`] run by `cmd` (from [`Dirs::weld`], with more of its
/// own environment).
pub async fn http_server_with(
    _dirs: &Dirs,
    args: &[&str],
    mut cmd: Command,
) -> (Child, SocketAddr) {
    cmd.env("WELD_LOG", "info")
        .args(["serve", "--http", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn weld serve --http");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            if let Some(rest) = line.split("url=http://").nth(1) {
                let addr = rest.split('/').next().expect("address");
                return addr.parse::<SocketAddr>().expect("socket address");
            }
        }
        panic!("weld exited before serving HTTP");
    })
    .await
    .expect("weld did not start serving within 60 s");
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

pub async fn http_client(addr: SocketAddr, mode: ClientLifecycleMode) -> Client {
    install_crypto();
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    ().serve_with_lifecycle(transport, mode)
        .await
        .expect("MCP session over HTTP")
}

pub fn args(value: Value) -> Option<JsonObject> {
    match value {
        Value::Object(map) => Some(map),
        _ => panic!("arguments must be an object"),
    }
}

pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    client.call_tool(params).await.expect("tools/call")
}

/// Sends `tools/call` of `tool` with `arguments`, returning the request's
/// handle: to cancel it, or to await its answer.
pub async fn call_cancellable(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    let request =
        rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params));
    client
        .send_cancellable_request(request, Default::default())
        .await
        .expect("send tools/call")
}

/// `GET /metrics` of the weld serving HTTP on `addr`: the text format.
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    reqwest_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

/// The value of the unlabelled metric `name` in a scrape's `text`.
/// A client that opens a new connection for every request (none kept
/// idle), so each attempt sees whether weld still accepts.
pub fn fresh_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Asks `url` on a fresh connection, every 50 ms up to a generous
/// deadline, until `ready` holds of the attempt; returns that attempt.
pub async fn poll_url(
    url: &str,
    mut ready: impl FnMut(&Result<reqwest::Response, reqwest::Error>) -> bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = fresh_client().get(url).send().await;
        if ready(&attempt) {
            return attempt;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url}: still {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many calls of `component` the weld serving `addr` runs now (its
/// `weld_component_calls_running` gauge).
pub async fn calls_running(addr: SocketAddr, component: &str) -> Option<f64> {
    let gauge = format!("weld_component_calls_running{{component=\"{component}\"}}");
    metric_value(&scrape_metrics(addr).await, &gauge)
}

pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

/// The text of a result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Installs the hostile test component under its own name.
pub async fn install_hostile(dirs: &Dirs) {
    weld_ok(dirs, &["add", &component("hostile").display().to_string()]).await;
}

/// Runs `weld ARGS` and requires it to succeed.
pub async fn weld_ok(dirs: &Dirs, args: &[&str]) {
    let output = dirs.run(args).await;
    assert!(
        output.status.success(),
        "weld {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// After an attack, the server still answers a well-behaved call correctly.
pub async fn still_serving(client: &Client) {
    let echo = call(client, "hostile_echo", json!({"text": "alive"})).await;
    assert_eq!(echo.structured_content, Some(json!({"result": "alive"})));
}

/// The audit log's records so far.
pub fn audit_lines(dirs: &Dirs) -> Vec<Value> {
    std::fs::read_to_string(dirs.state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits for the audit writer (it drains every 20 ms) to record `outcome`
/// for `tool`.
pub async fn audited(dirs: &Dirs, tool: &str, outcome: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(record) = audit_lines(dirs)
            .into_iter()
            .find(|r| r["tool"] == tool && r["outcome"] == outcome)
        {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit record of {tool} with outcome {outcome}: {:?}",
            audit_lines(dirs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sets `component`'s policy to `yaml` with `weld policy set`.
pub async fn set_policy(dirs: &Dirs, component: &str, yaml: &str) {
    let file = dirs.state.join(format!("{component}.policy.yaml"));
    std::fs::write(&file, yaml).expect("write policy");
    weld_ok(
        dirs,
        &["policy", "set", component, &file.display().to_string()],
    )
    .await;
}
