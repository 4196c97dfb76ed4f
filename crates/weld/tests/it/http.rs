//! The Streamable HTTP transport's own guarantees, checked with raw requests.

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

const PROTOCOL: &str = "2026-07-28";

/// A self-contained (2026-07-28) tools/call request.
pub(crate) fn modern_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL,
                "io.modelcontextprotocol/clientInfo": {"name": "weld-tests", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    })
}

pub(crate) fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    tool: &str,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", PROTOCOL)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool)
        .body(body.to_string())
}

/// The JSON-RPC message in a response body, which is either plain JSON or
/// one SSE `data:` event.
pub(crate) fn message(body: &str) -> Value {
    // An SSE stream may open with a priming event whose data is empty.
    let json = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find(|d| !d.trim().is_empty())
        .unwrap_or(body);
    serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn server(extra: &[&str]) -> (Dirs, tokio::process::Child, String) {
    let dirs = Dirs::new();
    let mut args = vec![
        "--component".to_string(),
        component("hostile").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (child, addr) = http_server(&dirs, &args).await;
    (dirs, child, format!("http://{addr}/mcp"))
}

#[tokio::test]
async fn a_stateless_call_is_answered() {
    let (_dirs, _server, url) = server(&[]).await;
    let http = crate::common::reqwest_client();
    let response = post(
        &http,
        &url,
        &modern_call(1, "hostile_echo", json!({"text": "hi"})),
        "hostile_echo",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    let reply = message(&body);
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"result": "hi"}),
        "{body}"
    );
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let (_dirs, _server, url) = server(&[]).await;
    let http = crate::common::reqwest_client();
    let body = modern_call(1, "hostile_echo", json!({"text": "hi"}));
    let foreign = post(&http, &url, &body, "hostile_echo")
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(foreign.status(), 403);
    let local = post(&http, &url, &body, "hostile_echo")
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .expect("send");
    assert_eq!(local.status(), 200);
}

#[tokio::test]
async fn a_foreign_host_header_is_refused() {
    let (_dirs, _server, url) = server(&[]).await;
    let http = crate::common::reqwest_client();
    let body = modern_call(1, "hostile_echo", json!({"text": "hi"}));
    let response = post(&http, &url, &body, "hostile_echo")
        .header("Host", "attacker.example")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn only_the_mcp_path_is_served() {
    let (_dirs, _server, url) = server(&[]).await;
    let other = url.replace("/mcp", "/other");
    let response = crate::common::reqwest_client()
        .post(other)
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn health_and_readiness_probes_answer_without_a_token_or_a_loopback_host() {
    let dir = tempfile::tempdir().expect("dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token-of-some-length\n").expect("token");
    let (_dirs, _server, url) = server(&["--token-file", &token.display().to_string()]).await;
    let http = crate::common::reqwest_client();
    for (path, said) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let probe = url.replace("/mcp", path);
        let response = http
            .get(&probe)
            .header("Host", "10.1.2.3:8808")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("body"), said);
        let posted = http.post(&probe).send().await.expect("send");
        assert_eq!(posted.status(), 405, "{path}");
    }
    // Metrics say which tools run and how: they want the token.
    let metrics = http
        .get(url.replace("/mcp", "/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(metrics.status(), 401);
    let metrics = http
        .get(url.replace("/mcp", "/metrics"))
        .header("Authorization", "Bearer s3cret-token-of-some-length")
        .send()
        .await
        .expect("send");
    assert_eq!(metrics.status(), 200);
    // The MCP endpoint still wants the token.
    let refused = post(
        &http,
        &url,
        &modern_call(1, "hostile_echo", json!({"text": "hi"})),
        "hostile_echo",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn a_request_over_the_size_cap_is_refused_and_the_server_keeps_serving() {
    let (_dirs, _server, url) = server(&["--max-request-bytes", "4096"]).await;
    let http = crate::common::reqwest_client();
    let big = modern_call(1, "hostile_echo", json!({"text": "x".repeat(10_000)}));
    let response = post(&http, &url, &big, "hostile_echo")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    let small = modern_call(2, "hostile_echo", json!({"text": "ok"}));
    let response = post(&http, &url, &small, "hostile_echo")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn closing_the_response_stream_stops_the_running_call() {
    // One instance slot and a deadline far beyond the test: the second call
    // can only run once the first instance is stopped by the disconnect.
    let (_dirs, _server, url) = server(&["--max-instances", "1", "--timeout", "600"]).await;
    let spin = modern_call(1, "hostile_spin", json!({}));
    let request = post(
        &crate::common::reqwest_client(),
        &url,
        &spin,
        "hostile_spin",
    )
    .send();
    let request = tokio::spawn(request);
    // Once the spin runs (it holds the one slot)…
    running_on(&url, 1).await;
    // …dropping the in-flight request closes its connection.
    request.abort();
    let echo = modern_call(2, "hostile_echo", json!({"text": "freed"}));
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        post(
            &crate::common::reqwest_client(),
            &url,
            &echo,
            "hostile_echo",
        )
        .send(),
    )
    .await
    .expect("the disconnected call must release its instance")
    .expect("send");
    let body = response.text().await.expect("body");
    assert_eq!(
        message(&body)["result"]["structuredContent"],
        json!({"result": "freed"})
    );
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_without_a_token() {
    let dirs = Dirs::new();
    let output = dirs
        .run(&[
            "serve",
            "--http",
            "0.0.0.0:0",
            "--component",
            &component("hostile").display().to_string(),
        ])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token-file"), "{stderr}");
}

#[tokio::test]
async fn with_a_token_file_every_request_needs_the_bearer_token() {
    let token_dir = tempfile::tempdir().expect("tempdir");
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, "0123456789abcdef0123456789abcdef\n").expect("write token");
    let (_dirs, _server, url) = server(&["--token-file", &token_file.display().to_string()]).await;
    let http = crate::common::reqwest_client();
    let body = modern_call(1, "hostile_echo", json!({"text": "hi"}));
    let anonymous = post(&http, &url, &body, "hostile_echo")
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), 401);
    let wrong = post(&http, &url, &body, "hostile_echo")
        .header("Authorization", "Bearer 0123456789abcdef0123456789abcdeX")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    let right = post(&http, &url, &body, "hostile_echo")
        .header("Authorization", "Bearer 0123456789abcdef0123456789abcdef")
        .send()
        .await
        .expect("send");
    assert_eq!(right.status(), 200);
}

/// A 2025-11-25 `initialize` request.
fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "weld-tests", "version": "0"}
        }
    })
}

/// POSTs a 2025-era message, in `session` if given.
async fn legacy_post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    session: Option<&str>,
) -> reqwest::Response {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("Mcp-Session-Id", session)
            .header("MCP-Protocol-Version", "2025-11-25");
    }
    request.send().await.expect("send")
}

/// Initializes a session and returns its id.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let response = legacy_post(http, url, &initialize(1), None).await;
    assert_eq!(response.status(), 200);
    let id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("an Mcp-Session-Id")
        .to_string();
    let reply = message(&response.text().await.expect("body"));
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25", "{reply}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = legacy_post(http, url, &initialized, Some(&id)).await;
    assert_eq!(response.status(), 202);
    id
}

fn tools_list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

#[tokio::test]
async fn a_client_that_initializes_gets_a_session_and_a_stateless_client_none() {
    let (_dirs, _server, url) = server(&[]).await;
    let http = crate::common::reqwest_client();
    let first = open_session(&http, &url).await;
    let second = open_session(&http, &url).await;
    assert_ne!(first, second);
    assert!(first.len() >= 32, "a guessable session id: {first}");
    let listed = legacy_post(&http, &url, &tools_list(2), Some(&first)).await;
    assert_eq!(listed.status(), 200);
    // A lone answer in a session is plain JSON, not an SSE stream.
    assert_eq!(
        listed
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let reply: Value = serde_json::from_str(&listed.text().await.expect("body")).expect("JSON");
    assert!(reply["result"]["tools"].as_array().is_some(), "{reply}");
    // An id weld did not issue is not a session.
    let forged = legacy_post(&http, &url, &tools_list(3), Some("not-a-session")).await;
    assert_eq!(forged.status(), 404);
    // The 2026-07-28 path stays stateless: no session.
    let modern = post(
        &http,
        &url,
        &modern_call(4, "hostile_echo", json!({"text": "hi"})),
        "hostile_echo",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(modern.status(), 200);
    assert!(modern.headers().get("mcp-session-id").is_none());
}

#[tokio::test]
async fn sessions_beyond_the_limit_are_refused_until_one_ends() {
    let (_dirs, _server, url) = server(&["--max-sessions", "1"]).await;
    let http = crate::common::reqwest_client();
    let first = open_session(&http, &url).await;
    let refused = legacy_post(&http, &url, &initialize(1), None).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let said = refused.text().await.expect("body");
    assert!(said.contains("--max-sessions"), "{said}");
    // The session that holds the slot still serves, and stateless calls
    // need no slot.
    let listed = legacy_post(&http, &url, &tools_list(2), Some(&first)).await;
    assert_eq!(listed.status(), 200);
    let modern = post(
        &http,
        &url,
        &modern_call(4, "hostile_echo", json!({"text": "hi"})),
        "hostile_echo",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(modern.status(), 200);
    // Ending it (DELETE) frees the slot.
    let ended = http
        .delete(&url)
        .header("Mcp-Session-Id", &first)
        .header("MCP-Protocol-Version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert!(ended.status().is_success(), "{}", ended.status());
    let gone = legacy_post(&http, &url, &tools_list(5), Some(&first)).await;
    assert_eq!(gone.status(), 404);
    open_session(&http, &url).await;
}

#[tokio::test]
async fn an_idle_session_is_closed_and_its_slot_freed() {
    let (_dirs, _server, url) =
        server(&["--max-sessions", "1", "--session-idle-timeout", "1"]).await;
    let http = crate::common::reqwest_client();
    let first = open_session(&http, &url).await;
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let probe = legacy_post(&http, &url, &tools_list(2), Some(&first)).await;
        if probe.status() == 404 {
            closed = true;
            break;
        }
        // A request is activity: probe rarely enough for the session to
        // go idle.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert!(closed, "the idle session was never closed");
    open_session(&http, &url).await;
}

/// Waits until `running` calls of `hostile` run in the weld serving `url`
/// (its `/metrics`), for up to 30 s.
async fn running_on(url: &str, running: u32) {
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .expect("address");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while crate::common::calls_running(addr, "hostile").await != Some(f64::from(running)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{running} calls never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `seconds` for `server` to exit, which it must do with
/// success; `because` says why it should have.
async fn exits_cleanly(server: &mut tokio::process::Child, seconds: u64, because: &str) {
    let status = tokio::time::timeout(Duration::from_secs(seconds), server.wait())
        .await
        .expect(because)
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// Sends `signal` to the process `child`.
async fn kill(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("pid").to_string();
    let sent = tokio::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .expect("kill");
    assert!(sent.success());
}

#[tokio::test]
async fn on_sigterm_a_call_in_progress_finishes_while_new_connections_are_refused() {
    let (_dirs, mut server, url) = server(&[]).await;
    let http = crate::common::reqwest_client();
    let call = tokio::spawn(
        post(
            &http,
            &url,
            &modern_call(1, "hostile_sleep", json!({"millis": 6000})),
            "hostile_sleep",
        )
        .send(),
    );
    // The call is running (weld counts it: a signal before it arrived
    // would prove nothing)…
    running_on(&url, 1).await;
    kill(&server, "-TERM").await;
    // …and while it runs, weld takes no new connection.
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        if fresh
            .get(url.replace("/mcp", "/healthz"))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "weld kept accepting connections after SIGTERM");
    assert!(
        !call.is_finished(),
        "the call ended before it could have slept"
    );
    let response = call.await.expect("join").expect("the call's answer");
    assert_eq!(response.status(), 200);
    let reply = message(&response.text().await.expect("body"));
    assert_eq!(reply["result"]["isError"], json!(false), "{reply}");
    exits_cleanly(&mut server, 30, "weld exits once its calls are done").await;
}

#[tokio::test]
async fn a_call_longer_than_the_shutdown_grace_is_cancelled_and_weld_exits() {
    let (_dirs, mut server, url) = server(&["--shutdown-grace", "0.5"]).await;
    let http = crate::common::reqwest_client();
    let call = tokio::spawn(
        post(
            &http,
            &url,
            &modern_call(1, "hostile_sleep", json!({"millis": 25000})),
            "hostile_sleep",
        )
        .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(&server, "-TERM").await;
    exits_cleanly(
        &mut server,
        20,
        "weld waited for a call past its grace period",
    )
    .await;
    let answered = call.await.expect("join");
    if let Ok(response) = answered {
        // Whatever arrived is not the call's success.
        let body = response.text().await.unwrap_or_default();
        assert!(!body.contains("\"isError\":false"), "{body}");
    }
}

/// A client that opens a new connection for every request, as a balancer
/// routing new connections does.
#[tokio::test]
async fn during_the_shutdown_delay_weld_is_unready_but_serves_new_connections() {
    // A delay no test run outlasts: the second signal ends it.
    let (_dirs, mut server, url) = server(&["--shutdown-delay", "600"]).await;
    let (readyz, healthz) = (
        url.replace("/mcp", "/readyz"),
        url.replace("/mcp", "/healthz"),
    );
    let before = fresh_client().get(&readyz).send().await.expect("probe");
    assert_eq!(before.status(), 200);
    kill(&server, "-TERM").await;
    let unready = poll_url(&readyz, |attempt| match attempt {
        Ok(response) => response.status() != 200,
        Err(error) => panic!("weld stopped accepting during its shutdown delay: {error}"),
    })
    .await
    .expect("probe");
    assert_eq!(unready.status(), 503);
    assert_eq!(unready.text().await.expect("body"), "shutting down\n");
    let alive = fresh_client().get(&healthz).send().await.expect("probe");
    assert_eq!(alive.status(), 200, "liveness holds while stopping");
    let response = post(
        &fresh_client(),
        &url,
        &modern_call(1, "hostile_echo", json!({"text": "still served"})),
        "hostile_echo",
    )
    .send()
    .await
    .expect("a new connection is served during the delay");
    assert_eq!(response.status(), 200);
    let reply = message(&response.text().await.expect("body"));
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"result": "still served"}),
        "{reply}"
    );
    // A second signal ends the delay: the listener closes, weld exits.
    kill(&server, "-TERM").await;
    poll_url(&healthz, Result::is_err)
        .await
        .expect_err("refused");
    exits_cleanly(&mut server, 30, "weld exits once it stops accepting").await;
}

#[tokio::test]
async fn after_the_shutdown_delay_weld_stops_accepting_and_exits_by_itself() {
    let (_dirs, mut server, url) = server(&["--shutdown-delay", "0.5"]).await;
    kill(&server, "-TERM").await;
    poll_url(&url.replace("/mcp", "/healthz"), Result::is_err)
        .await
        .expect_err("refused");
    exits_cleanly(
        &mut server,
        30,
        "weld exits after its shutdown delay and grace",
    )
    .await;
}

#[tokio::test]
async fn a_shutdown_delay_that_is_negative_is_refused_at_start() {
    let dirs = Dirs::new();
    let output = dirs
        .run(&["serve", "--http", "127.0.0.1:0", "--shutdown-delay=-1"])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--shutdown-delay must be 0 or"), "{stderr}");
}
