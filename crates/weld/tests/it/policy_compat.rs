//! Policies people already have, and grants with schemes, end to end:
//! `weld policy validate` on Wassette-shaped files (every error, each with
//! its place), `weld add` reading the `policy.yaml` beside a component,
//! `weld grant`/`weld_request_grant` with `http://`, `https://`, `tcp://`,
//! and a denial that names its real reason in the audit log and in
//! `weld audit`'s text view. The targets are servers on 127.0.0.1 that
//! count what reaches them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use serde_json::json;

/// A local HTTP/1.1 server answering `hello`, counting connections.
fn http_target() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
            );
        }
    });
    (port, hits)
}

/// A local TCP server answering `echo:` and what it read.
fn tcp_target() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            let _ = write!(stream, "echo:{text}");
        }
    });
    (port, hits)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Calls `hostile_http-get` until the result satisfies `done` (a running
/// weld applies a policy change within a second), returning the last.
async fn http_get_until(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    url: &str,
    done: impl Fn(&rmcp::model::CallToolResult) -> bool,
) -> rmcp::model::CallToolResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let result = call(client, "hostile_http-get", json!({"url": url})).await;
        if done(&result) || tokio::time::Instant::now() > deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ok_hello(result: &rmcp::model::CallToolResult) -> bool {
    result.structured_content == Some(json!({"result": "200 hello"}))
}

const WASSETTE_STYLE: &str = r#"version: "1.1"
description: "Reads its workspace, fetches one feed"
permissions:
  storage:
    allow:
    - uri: "fs://workspace/**"
      access: ["read", "write"]
  network:
    allow:
    - host: "https://rss.nytimes.com/"
  runtime:
    docker:
      security:
        privileged: false
        no_new_privileges: true
        capabilities:
          drop: ["ALL"]
  resources:
    limits:
      memory: "512Mi"
"#;

#[tokio::test]
async fn policy_validate_accepts_a_wassette_shaped_file_and_prints_its_weld_form() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, WASSETTE_STYLE).expect("write");
    let output = dirs
        .run(&["policy", "validate", &file.display().to_string()])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let canonical = stdout(&output);
    assert!(
        canonical.contains("uri: \"fs://./workspace/**\""),
        "{canonical}"
    );
    assert!(
        canonical.contains("host: \"rss.nytimes.com\""),
        "{canonical}"
    );
    assert!(canonical.contains("memory: \"512Mi\""), "{canonical}");
    assert!(!canonical.contains("runtime"), "{canonical}");
}

#[tokio::test]
async fn policy_validate_reports_every_error_of_a_file_each_with_line_and_column() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        r#"version: "1.0"
permissions:
  storage:
    allow:
    - uri: "fs://logs/*.log"
      access: ["read"]
    - uri: "fs://uploads/**"
      access: ["write"]
  network:
    allow:
    - host: "https://api.example.com/v1"
  resources:
    limits:
      cpu: "500m"
"#,
    )
    .expect("write");
    let shown = file.display().to_string();
    let output = dirs.run(&["policy", "validate", &shown]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, at) in lines.iter().zip(["5:12", "8:15", "11:13", "14:7"]) {
        assert!(
            line.starts_with(&format!("{shown}:{at}: ")),
            "{line} (expected at {at})"
        );
    }
    assert!(lines[0].contains("cannot enforce patterns"), "{text}");
    assert!(lines[1].contains("write `[read, write]`"), "{text}");
    assert!(lines[2].contains("cannot limit it to a path"), "{text}");
    assert!(lines[3].contains("share of a CPU"), "{text}");
    assert_eq!(lines[4], format!("{shown}: 4 errors"));
}

#[tokio::test]
async fn policy_set_refuses_on_the_first_error_and_shows_them_all() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let file = dirs.state.with_file_name("two-errors.yaml");
    std::fs::write(
        &file,
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n    - host: \"localhost\"\n  environment:\n    allow:\n    - key: \"1BAD\"\n",
    )
    .expect("write");
    let shown = file.display().to_string();
    let output = dirs.run(&["policy", "set", "hostile", &shown]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains(&format!("{shown} has 2 errors:")), "{text}");
    assert!(text.contains(&format!("{shown}:5:13: ")), "{text}");
    assert!(text.contains(&format!("{shown}:8:12: ")), "{text}");
    let shown_policy = stdout(&dirs.run(&["policy", "show", "hostile"]).await);
    assert!(shown_policy.contains("has no policy"), "{shown_policy}");
}

#[tokio::test]
async fn weld_add_offers_the_policy_yaml_beside_the_component() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("hostile.wasm");
    std::fs::copy(component("hostile"), &wasm).expect("copy");
    std::fs::write(
        dir.path().join("policy.yaml"),
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"https://api.example.com/\"\n",
    )
    .expect("write");
    let output = dirs
        .run(&["add", &wasm.display().to_string(), "--accept-policy"])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let policy = stdout(&dirs.run(&["policy", "show", "hostile"]).await);
    assert!(policy.contains("host: \"api.example.com\""), "{policy}");
}

#[tokio::test]
async fn a_cli_grant_of_http_to_a_loopback_port_lets_exactly_that_through() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let (port, hits) = http_target();
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "network",
            &format!("http://127.0.0.1:{port}"),
        ],
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let ok = call(
        &client,
        "hostile_http-get",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert!(ok_hello(&ok), "{}", text(&ok));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_http_request_to_a_port_granted_for_https_names_the_scheme_as_the_reason() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let (port, hits) = http_target();
    // A bare HOST:PORT keeps meaning HTTPS.
    weld_ok(
        &dirs,
        &["grant", "hostile", "network", &format!("127.0.0.1:{port}")],
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let denied = call(
        &client,
        "hostile_http-get",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_eq!(denied.is_error, Some(true), "{}", text(&denied));
    assert!(
        text(&denied).contains("HttpRequestDenied"),
        "{}",
        text(&denied)
    );
    // The tool's error says what weld knows and the guest cannot: the rule.
    assert!(
        text(&denied).contains(&format!(
            "weld denied http 127.0.0.1:{port}: no http rule for this host"
        )),
        "{}",
        text(&denied)
    );
    client.cancel().await.expect("close");
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    let record = audited(&dirs, "hostile_http-get", "tool_error").await;
    let rule = record["network"][0]["rule"].as_str().unwrap_or_default();
    assert_eq!(
        rule,
        "no http rule for this host: permissions.network.allow[0] allows it over other schemes only",
        "{record}"
    );
    let view = stdout(&dirs.run(&["audit"]).await);
    let line = view
        .lines()
        .find(|l| l.contains("hostile_http-get"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!(
            "denied: 1 network (first: http 127.0.0.1:{port}: no http rule for this host"
        )),
        "{view}"
    );
    assert!(!line.contains("built-in deny"), "{line}");
}

#[tokio::test]
async fn a_cli_grant_of_tcp_reaches_its_port_over_tcp_only() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let (port, hits) = tcp_target();
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "network",
            &format!("tcp://127.0.0.1:{port}"),
        ],
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let sent = call(
        &client,
        "hostile_tcp-send",
        json!({"address": format!("127.0.0.1:{port}"), "text": "ping"}),
    )
    .await;
    assert_eq!(
        sent.structured_content,
        Some(json!({"result": "echo:ping"})),
        "{}",
        text(&sent)
    );
    let http = call(
        &client,
        "hostile_http-get",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_eq!(http.is_error, Some(true), "{}", text(&http));
    client.cancel().await.expect("close");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "only the tcp connection");
}

#[tokio::test]
async fn weld_request_grant_takes_a_target_with_a_scheme() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let (port, hits) = http_target();
    let client = stdio_client(&dirs, &["--allow-model-grants"], legacy()).await;
    let url = format!("http://127.0.0.1:{port}/");
    let granted = call(
        &client,
        "weld_request_grant",
        json!({"component": "hostile", "kind": "network", "target": format!("http://127.0.0.1:{port}")}),
    )
    .await;
    assert_ne!(granted.is_error, Some(true), "{}", text(&granted));
    let ok = http_get_until(&client, &url, ok_hello).await;
    assert!(ok_hello(&ok), "{}", text(&ok));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A scheme and no port: the scheme's default port, not a parse error.
    let https = call(
        &client,
        "weld_request_grant",
        json!({"component": "hostile", "kind": "network", "target": "https://api.example.com"}),
    )
    .await;
    assert_ne!(https.is_error, Some(true), "{}", text(&https));
    let revoked = call(
        &client,
        "weld_revoke",
        json!({"component": "hostile", "kind": "network", "target": format!("http://127.0.0.1:{port}")}),
    )
    .await;
    assert_ne!(revoked.is_error, Some(true), "{}", text(&revoked));
    // Calls still made under the old policy reach the server until the
    // reload; from the first denial on, none does.
    let denied = http_get_until(&client, &url, |r| r.is_error == Some(true)).await;
    assert_eq!(denied.is_error, Some(true), "{}", text(&denied));
    let before = hits.load(Ordering::SeqCst);
    let again = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert_eq!(again.is_error, Some(true), "{}", text(&again));
    client.cancel().await.expect("close");
    assert_eq!(hits.load(Ordering::SeqCst), before);
    let policy = stdout(&dirs.run(&["policy", "show", "hostile"]).await);
    assert!(policy.contains("host: \"api.example.com\""), "{policy}");
    assert!(!policy.contains("127.0.0.1"), "{policy}");
}

#[tokio::test]
async fn a_refused_grant_says_its_reason_once() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    for target in [
        "tcp://db.example",
        "https://example.com/feed",
        "ftp://x.example",
    ] {
        let output = dirs.run(&["grant", "hostile", "network", target]).await;
        assert!(!output.status.success(), "{target}");
        let text = stderr(&output);
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{text}");
        let message = errors[0].trim_start_matches("error: ");
        let head = &message[..message.len().min(40)];
        assert_eq!(message.matches(head).count(), 1, "said twice: {message}");
    }
}
