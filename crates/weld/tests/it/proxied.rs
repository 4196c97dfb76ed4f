//! MCP server components: `tests/components/mcp-stdio`, an MCP server
//! written with rmcp and compiled to a `wasi:cli` command, served by weld
//! as a long-lived sandboxed instance and proxied to real rmcp clients:
//! its tools in both eras and over HTTP, its sandbox, deadlines and
//! cancellation reaching it, a crash and the restart, stderr in weld's
//! log, its notifications reaching the calling client, the idle stop, and
//! the name rule.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[allow(deprecated, reason = "log messages are what the server sends")]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;

fn server() -> String {
    component("mcp-stdio").display().to_string()
}

/// `weld serve --component mcp-stdio.wasm ARGS`, with a client of `mode`.
async fn serve(dirs: &Dirs, extra: &[&str], mode: ClientLifecycleMode) -> Client {
    let server = server();
    let mut args = vec!["--component", server.as_str()];
    args.extend_from_slice(extra);
    stdio_client(dirs, &args, mode).await
}

/// The server's own account of its instance: `instance` (random per
/// start), `calls`, `cancelled` (sleeps that were cancelled).
async fn stats(client: &Client) -> Value {
    let result = call(client, "stats", json!({})).await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    serde_json::from_str(&text(&result)).expect("stats are JSON")
}

fn tool_names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn a_proxied_servers_tools_are_listed_and_called_in_both_eras() {
    for mode in [legacy(), modern()] {
        let dirs = Dirs::new();
        let client = serve(&dirs, &[], mode).await;
        let names = tool_names(&client.list_all_tools().await.expect("tools/list"));
        for tool in [
            "echo",
            "add",
            "sleep",
            "crash",
            "read_file",
            "progress",
            "stats",
        ] {
            assert!(names.iter().any(|n| n == tool), "{tool} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("run")), "{names:?}");
        let sum = call(&client, "add", json!({"a": 2, "b": 40})).await;
        assert_eq!(text(&sum), "42");
        let echo = call(&client, "echo", json!({"text": "through the proxy"})).await;
        assert_eq!(text(&echo), "through the proxy");
        let record = audited(&dirs, "add", "ok").await;
        assert_eq!(record["component"], "mcp-stdio");
        assert!(
            record["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn a_modern_http_client_reaches_a_proxied_server() {
    let dirs = Dirs::new();
    let server = server();
    let (_weld, addr) = http_server(&dirs, &["--component", &server]).await;
    let client = http_client(addr, modern()).await;
    let sum = call(&client, "add", json!({"a": 1, "b": 2})).await;
    assert_eq!(text(&sum), "3");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn each_http_session_gets_its_own_instance_and_clients_without_one_share_one() {
    let dirs = Dirs::new();
    let server = server();
    let (_weld, addr) = http_server(&dirs, &["--component", &server]).await;
    let first = http_client(addr, legacy()).await;
    let second = http_client(addr, legacy()).await;
    let (a, b) = (stats(&first).await, stats(&second).await);
    assert_ne!(
        a["instance"], b["instance"],
        "sessions share nothing: {a} {b}"
    );
    // Each session's instance has seen only its own calls.
    assert_eq!(stats(&first).await["calls"], 2);
    assert_eq!(stats(&second).await["calls"], 2);
    assert_eq!(
        stats(&first).await["instance"],
        a["instance"],
        "and keeps it"
    );

    // Clients without a session (2026-07-28) share the component's own.
    let modern_one = http_client(addr, modern()).await;
    let modern_two = http_client(addr, modern()).await;
    let (c, d) = (stats(&modern_one).await, stats(&modern_two).await);
    assert_eq!(c["instance"], d["instance"], "{c} {d}");
    assert_ne!(c["instance"], a["instance"]);
    assert_ne!(c["instance"], b["instance"]);
    for client in [first, second, modern_one, modern_two] {
        client.cancel().await.expect("close");
    }
}

/// Each instance holds its memory and slots for its whole life: beyond
/// eight sessions of one component, a session shares the component's.
#[tokio::test]
async fn sessions_beyond_the_bound_share_the_components_instance() {
    let dirs = Dirs::new();
    let server = server();
    let (_weld, addr) = http_server(&dirs, &["--component", &server]).await;
    let modern_client = http_client(addr, modern()).await;
    let shared = stats(&modern_client).await["instance"].clone();
    let mut sessions = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..9 {
        let client = http_client(addr, legacy()).await;
        instances.push(stats(&client).await["instance"].clone());
        sessions.push(client);
    }
    let own: std::collections::HashSet<String> =
        instances[..8].iter().map(ToString::to_string).collect();
    assert_eq!(
        own.len(),
        8,
        "the first eight have their own: {instances:?}"
    );
    assert!(!own.contains(&shared.to_string()), "{instances:?}");
    assert_eq!(instances[8], shared, "the ninth shares: {instances:?}");
    // And keeps sharing it.
    assert_eq!(stats(&sessions[8]).await["instance"], shared);
    for client in sessions.into_iter().chain([modern_client]) {
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn a_guest_error_of_its_own_is_passed_through() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &[], legacy()).await;
    let mut params = CallToolRequestParams::new("add");
    params.arguments = args(json!({"a": "two", "b": 1}));
    let error = client
        .call_tool(params)
        .await
        .expect_err("the server refuses the arguments");
    assert!(
        error.to_string().contains("`a` must be an integer"),
        "{error}"
    );
    audited(&dirs, "add", "tool_error").await;
    client.cancel().await.expect("close");
}

/// A directory granted whole, a directory with one granted file beside a
/// secret, and nothing else.
struct Tree {
    _tmp: tempfile::TempDir,
    granted: std::path::PathBuf,
    single: std::path::PathBuf,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let granted = root.join("granted");
    let single = root.join("single");
    std::fs::create_dir_all(&granted).expect("mkdir");
    std::fs::create_dir_all(&single).expect("mkdir");
    std::fs::write(granted.join("notes.txt"), "granted notes").expect("write");
    std::fs::write(single.join("ok.txt"), "one file").expect("write");
    std::fs::write(single.join("secret.txt"), "top secret").expect("write");
    Tree {
        _tmp: tmp,
        granted,
        single,
    }
}

#[tokio::test]
async fn the_servers_policy_applies_for_its_whole_life() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &server()]).await;
    let tree = tree();
    let granted = format!("fs://{}/**", tree.granted.display());
    let single = format!("fs://{}/ok.txt", tree.single.display());
    for uri in [&granted, &single] {
        weld_ok(
            &dirs,
            &["grant", "mcp-stdio", "storage", uri, "--access", "read"],
        )
        .await;
    }
    let client = stdio_client(&dirs, &[], legacy()).await;

    let read = |path: std::path::PathBuf| {
        let client = &client;
        async move {
            let path = path.display().to_string();
            call(client, "read_file", json!({ "path": path })).await
        }
    };
    let notes = read(tree.granted.join("notes.txt")).await;
    assert_eq!(text(&notes), "granted notes");
    let ok = read(tree.single.join("ok.txt")).await;
    assert_eq!(text(&ok), "one file");

    // Beside the granted file: refused by weld's view, and audited.
    let secret = read(tree.single.join("secret.txt")).await;
    assert_eq!(secret.is_error, Some(true), "{secret:?}");
    assert!(!text(&secret).contains("top secret"));
    let record = audited(&dirs, "read_file", "tool_error").await;
    let denied = record["storage_denied"].as_array().expect("storage_denied");
    assert!(
        denied.iter().any(|d| d["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("secret.txt"))),
        "{record}"
    );

    // Outside every grant: refused through the empty root, and audited.
    let passwd = call(&client, "read_file", json!({"path": "/etc/passwd"})).await;
    assert_eq!(passwd.is_error, Some(true), "{passwd:?}");
    assert!(!text(&passwd).contains("root:"), "{passwd:?}");
    let denied_passwd = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let found = audit_lines(&dirs).into_iter().find(|r| {
                r["tool"] == "read_file"
                    && r["storage_denied"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|d| d["path"] == "/etc/passwd"))
            });
            if let Some(record) = found {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no denial of /etc/passwd in {:?}", audit_lines(&dirs)));
    assert_eq!(denied_passwd["outcome"], "tool_error");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_revocation_replaces_the_running_server_with_one_under_the_new_policy() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &server()]).await;
    let tree = tree();
    let granted = format!("fs://{}/**", tree.granted.display());
    weld_ok(
        &dirs,
        &[
            "grant",
            "mcp-stdio",
            "storage",
            &granted,
            "--access",
            "read",
        ],
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let path = tree.granted.join("notes.txt").display().to_string();
    let notes = call(&client, "read_file", json!({ "path": path })).await;
    assert_eq!(text(&notes), "granted notes");
    let before = stats(&client).await;

    weld_ok(&dirs, &["revoke", "mcp-stdio", "storage", &granted]).await;
    // weld reloads within a second of the change.
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let read = call(&client, "read_file", json!({ "path": path })).await;
            if read.is_error == Some(true) {
                return read;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the revocation never applied");
    assert!(!text(&refused).contains("granted notes"), "{refused:?}");
    let after = stats(&client).await;
    assert_ne!(after["instance"], before["instance"], "a new instance");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_call_past_its_deadline_is_cancelled_in_the_server_which_keeps_serving() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &["--timeout", "3"], legacy()).await;
    let before = stats(&client).await;
    let slow = call(&client, "sleep", json!({"ms": 600_000})).await;
    assert_eq!(slow.is_error, Some(true), "{slow:?}");
    assert!(
        text(&slow).contains("did not answer within its 3-second time limit"),
        "{slow:?}"
    );
    audited(&dirs, "sleep", "deadline").await;
    let after = cancelled_once(&client).await;
    assert_eq!(
        after["instance"], before["instance"],
        "the same instance serves on"
    );
    client.cancel().await.expect("close");
}

/// The server's stats once it has counted one cancelled sleep (it hears
/// the cancellation in a task of its own).
async fn cancelled_once(client: &Client) -> Value {
    let wait = async {
        loop {
            let stats = stats(client).await;
            if stats["cancelled"] == 1 {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the server never heard the cancellation")
}

#[tokio::test]
async fn a_clients_cancellation_reaches_the_server() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &["--timeout", "600"], legacy()).await;
    let before = stats(&client).await["calls"].as_u64().expect("calls");
    let handle = call_cancellable(&client, "sleep", json!({"ms": 600_000})).await;
    // Cancelled once the server has it (it counts a call as it starts):
    // a cancellation weld hears first never reaches the server at all.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stats(&client).await["calls"].as_u64() < Some(before + 2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleep never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.cancel(Some("test".into())).await.expect("cancel");
    cancelled_once(&client).await;
    audited(&dirs, "sleep", "cancelled").await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn requests_beyond_the_policys_concurrency_are_refused_as_it_says() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &server()]).await;
    set_policy(
        &dirs,
        "mcp-stdio",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits:\n      timeout: \"10m\"\n      concurrency: { max: 1, excess: refuse }\n",
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let sleep = || async {
        let mut params = CallToolRequestParams::new("sleep");
        params.arguments = args(json!({"ms": 600_000}));
        client
            .send_cancellable_request(
                ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                Default::default(),
            )
            .await
            .expect("send sleep")
    };
    let mut sleeping = sleep().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let refused = loop {
        // An echo may have held the one place when the sleep arrived: then
        // the sleep was the one refused, and is sent again.
        if sleeping.rx.try_recv().is_ok() {
            sleeping = sleep().await;
        }
        let echo = call(&client, "echo", json!({"text": "me too"})).await;
        if echo.is_error == Some(true) {
            break echo;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a second request in flight was never refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        text(&refused).contains("at most 1 request(s) may be in flight"),
        "{refused:?}"
    );
    audited(&dirs, "echo", "refused_busy").await;
    sleeping.cancel(Some("test".into())).await.expect("cancel");
    let freed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let echo = call(&client, "echo", json!({"text": "now"})).await;
            if echo.is_error != Some(true) {
                return echo;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cancelled request never gave its place back");
    assert_eq!(text(&freed), "now");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_crash_fails_the_call_in_flight_and_the_next_call_restarts_the_server() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &[], legacy()).await;
    let before = stats(&client).await;
    let crash = call(&client, "crash", json!({})).await;
    assert_eq!(crash.is_error, Some(true), "{crash:?}");
    assert!(
        text(&crash).contains("stopped while handling the call: it crashed"),
        "{crash:?}"
    );
    audited(&dirs, "crash", "trap").await;
    let after = stats(&client).await;
    assert_ne!(after["instance"], before["instance"], "a new instance");
    assert_eq!(after["calls"], 1, "{after}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_answer_over_the_output_limit_fails_the_call_saying_so_and_the_server_restarts() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &server()]).await;
    set_policy(
        &dirs,
        "mcp-stdio",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits:\n      output: \"1Ki\"\n",
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let before = stats(&client).await;
    // Its answer (one line of about 100 KiB) is over the 1 KiB limit and
    // the 64 KiB weld allows a message beyond it for the envelope.
    let big = "x".repeat(100 * 1024);
    let result = call(&client, "echo", json!({ "text": big })).await;
    assert_eq!(result.is_error, Some(true), "{:?}", result.is_error);
    assert!(
        text(&result).contains("over its output limit"),
        "{}",
        text(&result)
    );
    audited(&dirs, "echo", "output_limit").await;
    let after = stats(&client).await;
    assert_ne!(after["instance"], before["instance"], "a new instance");
    let small = call(&client, "echo", json!({"text": "fits"})).await;
    assert_eq!(text(&small), "fits");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_server_that_keeps_crashing_is_restarted_after_a_back_off() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &[], legacy()).await;
    for _ in 0..3 {
        let crash = call(&client, "crash", json!({})).await;
        assert!(text(&crash).contains("it crashed"), "{crash:?}");
    }
    // The next start waits a second, then two, four…: crash until a call
    // comes within one (however slow the machine is).
    let held = loop {
        let crash = call(&client, "crash", json!({})).await;
        let said = text(&crash);
        if said.contains("times in a row") {
            break said;
        }
        assert!(said.contains("it crashed"), "{crash:?}");
    };
    assert!(held.contains("starts it again in"), "{held}");
    audited(&dirs, "crash", "instantiate").await;
    let wait: f64 = held
        .rsplit("starts it again in ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {held}"));
    tokio::time::sleep(Duration::from_secs_f64(wait + 0.5)).await;
    let echo = call(&client, "echo", json!({"text": "back"})).await;
    assert_eq!(text(&echo), "back");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_idle_server_is_stopped_and_started_again_when_called() {
    let dirs = Dirs::new();
    let client = serve(&dirs, &["--mcp-server-idle-timeout", "1"], legacy()).await;
    let first = stats(&client).await;
    // Idle for well over the timeout and its once-a-second check; a late
    // timer on a busy machine is given more rounds (each call only starts
    // the idle clock again, so none can pass without a stop).
    let mut second = first.clone();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(3500)).await;
        second = stats(&client).await;
        if second["instance"] != first["instance"] {
            break;
        }
    }
    assert_ne!(second["instance"], first["instance"], "started again");
    client.cancel().await.expect("close");
}

/// A client that records the notifications it hears.
#[derive(Clone, Default)]
struct Listener {
    heard: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    fn heard(&self) -> Vec<String> {
        self.heard.lock().expect("lock").clone()
    }
}

impl ClientHandler for Listener {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let line = format!("progress {} of {:?}", params.progress, params.total);
        self.heard.lock().expect("lock").push(line);
    }

    #[allow(deprecated, reason = "log messages are what the server sends")]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let line = format!("log {}", params.data.as_str().unwrap_or_default());
        self.heard.lock().expect("lock").push(line);
    }
}

#[tokio::test]
async fn progress_and_log_messages_reach_the_calling_client() {
    for (mode, logs) in [(legacy(), true), (modern(), false)] {
        let dirs = Dirs::new();
        let server = server();
        let mut cmd = dirs.weld();
        cmd.args(["serve", "--component", &server]);
        let transport = TokioChildProcess::builder(cmd)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn weld serve")
            .0;
        let listener = Listener::default();
        let client: RunningService<RoleClient, Listener> = listener
            .clone()
            .serve_with_lifecycle(transport, mode)
            .await
            .expect("session");
        let mut params = CallToolRequestParams::new("progress");
        params.arguments = args(json!({"steps": 3}));
        let done = client.call_tool(params).await.expect("tools/call");
        assert_eq!(text(&done), "3 steps done");
        let mut expected = vec![
            "progress 1 of Some(3.0)".to_string(),
            "progress 2 of Some(3.0)".into(),
            "progress 3 of Some(3.0)".into(),
        ];
        if logs {
            expected.extend((1..=3).map(|i| format!("log mcp-stdio: step {i} of 3")));
        }
        expected.sort();
        // The client hears notifications in tasks of their own: wait until
        // as many are in.
        let heard = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let mut heard = listener.heard();
                if heard.len() >= expected.len() {
                    heard.sort();
                    return heard;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("heard only {:?}", listener.heard()));
        assert_eq!(heard, expected);
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn the_servers_stderr_reaches_weld_log_with_its_name() {
    let dirs = Dirs::new();
    let server = server();
    let mut child = dirs
        .weld()
        .env("WELD_LOG", "info")
        .args(["serve", "--component", &server])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weld serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // weld lists MCP server components as it starts serving.
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            if line.contains("mcp-stdio: serving MCP over stdio") {
                return line;
            }
        }
        panic!("weld exited without logging the server's stderr");
    })
    .await
    .expect("the server's stderr within 60 s");
    assert!(found.contains("component=\"mcp-stdio\""), "{found}");
    assert!(found.contains("stream=\"stderr\""), "{found}");
}

#[tokio::test]
async fn a_second_server_whose_tool_names_are_taken_is_not_served() {
    let dirs = Dirs::new();
    let copy = dirs.state.with_file_name("zz-copy.wasm");
    std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    std::fs::copy(component("mcp-stdio"), &copy).expect("copy");
    let copy = copy.display().to_string();
    let client = serve(&dirs, &["--component", &copy], legacy()).await;
    let names = tool_names(&client.list_all_tools().await.expect("tools/list"));
    assert_eq!(
        names.iter().filter(|n| *n == "echo").count(),
        1,
        "{names:?}"
    );
    let echo = call(&client, "echo", json!({"text": "first"})).await;
    assert_eq!(text(&echo), "first");
    let record = audited(&dirs, "echo", "ok").await;
    assert_eq!(
        record["component"], "mcp-stdio",
        "the first loaded serves it"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_fuel_budget_cannot_be_held_so_the_server_is_not_served() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &server()]).await;
    set_policy(
        &dirs,
        "mcp-stdio",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { fuel: 1000000 }\n",
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let names = tool_names(&client.list_all_tools().await.expect("tools/list"));
    assert!(!names.iter().any(|n| n == "echo"), "{names:?}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn inspect_says_a_command_is_an_mcp_server_component() {
    let dirs = Dirs::new();
    let output = dirs.run(&["inspect", "--json", &server()]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["mcp_server"], "stdio");
    assert_eq!(report["tools"], json!([]));
    let text = dirs.run(&["inspect", &server()]).await;
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("an MCP server over stdio"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

/// `weld_tools` counts a proxied server's tools once they are listed,
/// with the other components' (the built-in tools aside).
#[tokio::test]
async fn the_tools_gauge_counts_a_proxied_servers_listed_tools() {
    let dirs = Dirs::new();
    let server = server();
    let (_weld, addr) = http_server(
        &dirs,
        &[
            "--component",
            server.as_str(),
            "--component",
            &component("add").display().to_string(),
        ],
    )
    .await;
    let client = http_client(addr, legacy()).await;
    let listed = client.list_all_tools().await.expect("tools/list");
    let served = listed
        .iter()
        .filter(|t| !t.name.starts_with("weld_"))
        .count();
    assert!(
        tool_names(&listed).iter().any(|n| n == "echo"),
        "the proxied server's tools are listed"
    );
    let metrics = scrape_metrics(addr).await;
    let tools = metric_value(&metrics, "weld_tools");
    assert_eq!(tools, Some(served as f64), "{metrics}");
    client.cancel().await.expect("close");
}
