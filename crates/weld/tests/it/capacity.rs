//! What calls share: the instance pool and the memory budget. A component
//! with a large footprint (many core instances, memories, tables, like an
//! interpreter built by componentize-py) runs under any pool, its extra calls
//! wait, and calls to other tools never fail because of it; calls beyond the
//! memory budget wait for it, or are told which flag raises it.
//!
//! Calls are held inside the sandbox by a local HTTP server that answers
//! only when the test says, so what is taken when is decided by the test,
//! not by timing. The heavy components are written in WAT here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// An HTTP server on 127.0.0.1 that reports each request as it arrives and
/// answers it (`200 released`) only when released; it holds any number of
/// requests at once.
struct Gate {
    port: u16,
    arrived: UnboundedReceiver<()>,
    release: Arc<Semaphore>,
}

impl Gate {
    /// Lets `n` held (or future) requests be answered.
    fn release(&self, n: usize) {
        self.release.add_permits(n);
    }
}

async fn gate() -> Gate {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (arrived_tx, arrived) = unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let released = Arc::clone(&release);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let arrived_tx = arrived_tx.clone();
            let released = Arc::clone(&released);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = arrived_tx.send(());
                let Ok(permit) = released.acquire().await else {
                    return;
                };
                permit.forget();
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreleased",
                    )
                    .await;
            });
        }
    });
    Gate {
        port,
        arrived,
        release,
    }
}

/// A component whose one real core instance exports `answer` (42) and
/// `spin-for` (counts down from its argument, then returns it), beside
/// `memories` core instances defining a memory each and empty ones, up to
/// `core_instances` in all.
fn heavy_component(dir: &Path, name: &str, core_instances: u32, memories: u32) -> PathBuf {
    let mut wat = String::from(
        r#"(component
    (core module $m
        (func (export "answer") (result i32) (i32.const 42))
        (func (export "spin-for") (param i32) (result i32)
            (local $n i32)
            (local.set $n (local.get 0))
            (block $done
                (loop $again
                    (br_if $done (i32.eqz (local.get $n)))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $again)))
            (local.get 0)))
    (core module $memory (memory 1))
    (core module $empty)
    (core instance $i (instantiate $m))
"#,
    );
    for n in 1..core_instances {
        let module = if n <= memories { "$memory" } else { "$empty" };
        wat.push_str(&format!("    (core instance (instantiate {module}))\n"));
    }
    wat.push_str(
        r#"    (func (export "answer") (result u32) (canon lift (core func $i "answer")))
    (func (export "spin-for") (param "n" u32) (result u32)
        (canon lift (core func $i "spin-for"))))"#,
    );
    let bytes = wat::parse_str(&wat).expect("valid WAT");
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write the component");
    path
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Installs `hostile` under `name`, with HTTP to the gate and `limits`
/// (YAML flow mapping entries) beside a timeout far beyond the test.
async fn install_gated(dirs: &Dirs, gate: &Gate, name: &str, limits: &str) {
    weld_ok(
        dirs,
        &["add", &path_arg(&component("hostile")), "--name", name],
    )
    .await;
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"127.0.0.1\"\n        schemes: [http]\n        ports: [{}]\n  resources:\n    limits: {{ timeout: \"10m\"{limits} }}\n",
        gate.port
    );
    set_policy(dirs, name, &policy).await;
}

/// Starts `TOOL`'s `http-get` through the gate and returns once it is inside
/// the sandbox, holding what a call holds.
async fn hold(
    client: &Arc<Client>,
    gate: &mut Gate,
    tool: &str,
) -> tokio::task::JoinHandle<CallToolResult> {
    let url = format!("http://127.0.0.1:{}/held", gate.port);
    let client = Arc::clone(client);
    let tool = tool.to_string();
    let held = tokio::spawn(async move { call(&client, &tool, json!({"url": url})).await });
    gate.arrived
        .recv()
        .await
        .expect("the held call reaches the gate");
    held
}

/// Calls `tool` on its own task, which checks that it returned `expected`
/// (or, with `None`, that it succeeded).
fn spawn_ok(
    client: &Arc<Client>,
    tool: &'static str,
    arguments: Value,
    expected: Option<Value>,
) -> tokio::task::JoinHandle<()> {
    let client = Arc::clone(client);
    tokio::spawn(async move {
        let result = call(&client, tool, arguments).await;
        match expected {
            Some(expected) => ok_result(&result, expected),
            None => assert_ne!(result.is_error, Some(true), "{}", text(&result)),
        }
    })
}

fn ok_result(result: &CallToolResult, expected: Value) {
    assert_eq!(
        result.structured_content,
        Some(json!({"result": expected})),
        "{}",
        text(result)
    );
}

#[tokio::test]
async fn a_component_with_more_core_instances_than_the_old_pool_runs_under_weld_call() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    // `weld call` runs a pool of 4 calls, which used to hold 32 core
    // instances in all: componentize-py's components could not run at all.
    let heavy = heavy_component(tmp.path(), "heavy", 40, 3);
    let output = dirs
        .run(&["call", "--component", &path_arg(&heavy), "heavy_answer"])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&stdout).expect("JSON result");
    assert_eq!(
        result["structuredContent"],
        json!({"result": 42}),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_call_never_fails_because_another_tool_holds_part_of_the_pool() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut gate = gate().await;
    install_gated(&dirs, &gate, "hostile", "").await;
    // Fits a pool of 4 calls (32 core instances, as it was) on its own,
    // not beside any other call.
    let heavy = heavy_component(tmp.path(), "heavy", 31, 1);
    let client = Arc::new(
        stdio_client(
            &dirs,
            &["--max-instances", "4", "--component", &path_arg(&heavy)],
            legacy(),
        )
        .await,
    );
    let held = hold(&client, &mut gate, "hostile_http-get").await;

    let answer = call(&client, "heavy_answer", json!({})).await;
    ok_result(&answer, json!(42));

    gate.release(1);
    ok_result(&held.await.expect("held call"), json!("200 released"));
}

#[tokio::test]
async fn one_component_gets_at_most_half_the_pool_so_another_tool_always_starts() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    // The policy asks for more than half of a pool of 2, and to be refused
    // rather than wait beyond it.
    install_gated(
        &dirs,
        &gate,
        "hostile",
        ", concurrency: { max: 5, excess: refuse }",
    )
    .await;
    let client = Arc::new(
        stdio_client(
            &dirs,
            &[
                "--max-instances",
                "2",
                "--component",
                &path_arg(&component("add")),
            ],
            legacy(),
        )
        .await,
    );
    let held = hold(&client, &mut gate, "hostile_http-get").await;

    let refused = call(&client, "hostile_echo", json!({"text": "second"})).await;
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let message = text(&refused);
    for expected in [
        "`hostile_echo` is at its share of weld's capacity",
        "at most 1 call(s) of component `hostile`'s tools",
        "half of weld's instance slots",
        "raise `--max-instances`",
    ] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    // The other half is there for every other tool.
    ok_result(
        &call(&client, "add_add", json!({"a": 1, "b": 2})).await,
        json!(3),
    );

    gate.release(1);
    ok_result(&held.await.expect("held call"), json!("200 released"));
    let after = call(&client, "hostile_echo", json!({"text": "after"})).await;
    ok_result(&after, json!("after"));
}

#[tokio::test]
async fn many_calls_of_a_heavy_component_wait_their_turn_and_other_tools_still_run() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    // 16 core instances and 4 memories per call: two calls used to take
    // every memory a pool of 4 had, and a third call of any tool failed.
    let heavy = heavy_component(tmp.path(), "heavy", 16, 4);
    let client = Arc::new(
        stdio_client(
            &dirs,
            &[
                "--max-instances",
                "4",
                "--component",
                &path_arg(&heavy),
                "--component",
                &path_arg(&component("add")),
            ],
            legacy(),
        )
        .await,
    );
    let mut calls = Vec::new();
    for n in 0..8u32 {
        let spins = 20_000_000 + n;
        calls.push(spawn_ok(
            &client,
            "heavy_spin-for",
            json!({"n": spins}),
            Some(json!(spins)),
        ));
        calls.push(spawn_ok(
            &client,
            "add_add",
            json!({"a": n, "b": 1}),
            Some(json!(n + 1)),
        ));
    }
    for handle in calls {
        handle.await.expect("call task");
    }
}

#[tokio::test]
async fn a_call_whose_memory_limit_exceeds_the_budget_is_refused_with_the_flag_to_raise() {
    let dirs = Dirs::new();
    let output = dirs
        .run(&[
            "call",
            "--memory-budget-mib",
            "64",
            "--component",
            &path_arg(&component("add")),
            "add_add",
            r#"{"a": 1, "b": 2}"#,
        ])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "a tool error: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&stdout).expect("JSON result");
    assert_eq!(result["isError"], json!(true));
    let message = result["content"][0]["text"].as_str().unwrap_or_default();
    for expected in [
        "memory limit of 256 MiB",
        "memory budget of 64 MiB",
        "--memory-budget-mib",
        "--memory-mib",
    ] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    let record = audited(&dirs, "add_add", "over_budget").await;
    assert_eq!(record["error"], json!(message));
}

#[tokio::test]
async fn a_call_beyond_the_memory_budget_waits_for_it_or_is_told_which_flag_raises_it() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    // Each call reserves 64 MiB of a 128 MiB budget: two fit.
    install_gated(&dirs, &gate, "hostile", "").await;
    install_gated(&dirs, &gate, "second", "").await;
    install_gated(
        &dirs,
        &gate,
        "probe",
        ", concurrency: { max: 1, excess: refuse }",
    )
    .await;
    let client = Arc::new(
        stdio_client(
            &dirs,
            &[
                "--memory-mib",
                "64",
                "--memory-budget-mib",
                "128",
                "--component",
                &path_arg(&component("add")),
            ],
            legacy(),
        )
        .await,
    );
    let first = hold(&client, &mut gate, "hostile_http-get").await;
    let second = hold(&client, &mut gate, "second_http-get").await;

    // The budget is spent: a tool whose policy refuses to wait is told why.
    let refused = call(&client, "probe_echo", json!({"text": "probe"})).await;
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let message = text(&refused);
    for expected in ["memory budget", "excess: refuse", "--memory-budget-mib"] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    audited(&dirs, "probe_echo", "refused_busy").await;

    // Any other call waits for the budget, and runs once it is free.
    let waiting = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { call(&client, "add_add", json!({"a": 2, "b": 3})).await })
    };
    gate.release(2);
    ok_result(&first.await.expect("first"), json!("200 released"));
    ok_result(&second.await.expect("second"), json!("200 released"));
    ok_result(&waiting.await.expect("waiting call"), json!(5));
}

#[tokio::test]
async fn many_concurrent_calls_under_a_budget_that_fits_a_few_all_succeed() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    install_hostile(&dirs).await;
    let heavy = heavy_component(tmp.path(), "heavy", 4, 1);
    // Four calls fit the budget; each component may run two at once (its
    // share: half the budget), so three components ask for more than fits.
    let client = Arc::new(
        stdio_client(
            &dirs,
            &[
                "--memory-mib",
                "16",
                "--memory-budget-mib",
                "64",
                "--component",
                &path_arg(&component("add")),
                "--component",
                &path_arg(&heavy),
            ],
            legacy(),
        )
        .await,
    );
    let mut calls = Vec::new();
    for n in 0..12u32 {
        calls.push(spawn_ok(
            &client,
            "hostile_spin-for",
            json!({"millis": 20}),
            None,
        ));
        calls.push(spawn_ok(
            &client,
            "add_add",
            json!({"a": n, "b": n}),
            Some(json!(2 * n)),
        ));
        let spins = 5_000_000 + n;
        calls.push(spawn_ok(
            &client,
            "heavy_spin-for",
            json!({"n": spins}),
            Some(json!(spins)),
        ));
    }
    for handle in calls {
        handle.await.expect("call task");
    }
}

#[tokio::test]
async fn a_call_cancelled_while_it_waits_for_the_budget_leaves_none_of_it_taken() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    install_gated(&dirs, &gate, "hostile", "").await;
    // One call at a time fits the budget; a leaked reservation would make
    // the last call wait out its 5-second limit and fail.
    let client = Arc::new(
        stdio_client(
            &dirs,
            &[
                "--memory-mib",
                "64",
                "--memory-budget-mib",
                "64",
                "--timeout",
                "5",
                "--component",
                &path_arg(&component("add")),
            ],
            legacy(),
        )
        .await,
    );
    let held = hold(&client, &mut gate, "hostile_http-get").await;
    let waiting = call_cancellable(&client, "add_add", json!({"a": 1, "b": 1})).await;
    waiting
        .cancel(Some("test".into()))
        .await
        .expect("send notifications/cancelled");
    audited(&dirs, "add_add", "cancelled").await;

    gate.release(1);
    ok_result(&held.await.expect("held call"), json!("200 released"));
    let after = call(&client, "add_add", json!({"a": 20, "b": 22})).await;
    ok_result(&after, json!(42));
}
