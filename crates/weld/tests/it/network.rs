//! What a tool can reach over the network: nothing without a grant, exactly
//! the granted host, port and scheme with one — checked again on the address
//! a name resolves to. The targets are servers this test runs on 127.0.0.1;
//! each counts its connections, so an attack is shown to have failed *and*
//! to have reached nothing. Every decision lands in the audit log.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use serde_json::{Value, json};

/// A local HTTP/1.1 server answering every request with `hello from PATH`
/// (and `/big` with 17 MiB).
struct HttpTarget {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn http_target() -> HttpTarget {
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
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("?").to_string();
            // `/big` answers with more than weld's 16 MiB response cap.
            let body = if path == "/big" {
                "x".repeat(17 * 1024 * 1024)
            } else {
                format!("hello from {path}")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    HttpTarget { port, hits }
}

/// A local TCP server that answers with `echo:` and what it read.
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

/// A local UDP server that answers each datagram with `echo:` and its text.
fn udp_target() -> (u16, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok((len, from)) = socket.recv_from(&mut buffer) {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut answer = b"echo:".to_vec();
            answer.extend_from_slice(&buffer[..len]);
            let _ = socket.send_to(&answer, from);
        }
    });
    (port, hits)
}

async fn install_with_policy(dirs: &Dirs, policy: Option<&str>) {
    install_hostile(dirs).await;
    if let Some(policy) = policy {
        set_policy(dirs, "hostile", policy).await;
    }
}

fn failed_with(result: &rmcp::model::CallToolResult, needle: &str) -> bool {
    result.is_error == Some(true) && text(result).contains(needle)
}

/// The network decisions of every call, from `weld audit --json`.
async fn decisions(dirs: &Dirs) -> Vec<Value> {
    let output = dirs.run(&["audit", "--json"]).await;
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .flat_map(|r| r["network"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn decided(decisions: &[Value], kind: &str, host: &str, port: u16) -> Vec<Value> {
    decisions
        .iter()
        .filter(|d| d["kind"] == kind && d["host"] == host && d["port"] == port)
        .cloned()
        .collect()
}

#[tokio::test]
async fn without_a_grant_no_request_or_socket_leaves_the_sandbox() {
    let dirs = Dirs::new();
    install_with_policy(&dirs, None).await;
    let http = http_target();
    let (tcp_port, tcp_hits) = tcp_target();
    let (udp_port, udp_hits) = udp_target();
    let client = stdio_client(&dirs, &[], legacy()).await;

    let loopback = format!("http://127.0.0.1:{}/", http.port);
    for url in [
        loopback.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "https://example.com/",
    ] {
        let result = call(&client, "hostile_http-get", json!({"url": url})).await;
        assert!(
            failed_with(&result, "HttpRequestDenied"),
            "{url}: {}",
            text(&result)
        );
        still_serving(&client).await;
    }
    for (tool, port) in [
        ("hostile_tcp-send", tcp_port),
        ("hostile_udp-send", udp_port),
    ] {
        let result = call(
            &client,
            tool,
            json!({"address": format!("127.0.0.1:{port}"), "text": "ping"}),
        )
        .await;
        assert_eq!(result.is_error, Some(true), "{tool}: {}", text(&result));
        still_serving(&client).await;
    }
    let lookup = call(&client, "hostile_resolve", json!({"name": "localhost"})).await;
    assert_eq!(lookup.is_error, Some(true), "{}", text(&lookup));
    client.cancel().await.expect("close");

    assert_eq!(http.hits.load(Ordering::SeqCst), 0);
    assert_eq!(tcp_hits.load(Ordering::SeqCst), 0);
    assert_eq!(udp_hits.load(Ordering::SeqCst), 0);
    let decisions = decisions(&dirs).await;
    let denied = decided(&decisions, "http", "127.0.0.1", http.port);
    assert_eq!(denied.len(), 1, "{decisions:?}");
    assert_eq!(denied[0]["allowed"], false);
    assert!(
        denied[0].get("rule").is_some(),
        "loopback names its built-in deny"
    );
    let metadata = decided(&decisions, "http", "169.254.169.254", 80);
    assert!(
        metadata[0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("169.254.0.0/16")),
        "{metadata:?}"
    );
    let lookup = decided(&decisions, "lookup", "localhost", 0);
    assert_eq!(lookup[0]["allowed"], false, "{decisions:?}");
}

#[tokio::test]
async fn http_reaches_the_granted_host_and_port_and_nothing_else() {
    let dirs = Dirs::new();
    let granted = http_target();
    let other = http_target();
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"127.0.0.1\"\n        schemes: [http]\n        ports: [{}]\n",
        granted.port
    );
    install_with_policy(&dirs, Some(&policy)).await;
    let client = stdio_client(&dirs, &[], legacy()).await;

    let url = format!("http://127.0.0.1:{}/granted?x=1", granted.port);
    let ok = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert_eq!(
        ok.structured_content,
        Some(json!({"result": "200 hello from /granted?x=1"})),
        "{}",
        text(&ok)
    );
    // A response body past the cap fails the read, and the call.
    let url = format!("http://127.0.0.1:{}/big", granted.port);
    let big = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert!(
        failed_with(&big, "body size exceeds limit: 16777216 bytes"),
        "{}",
        text(&big)
    );
    // The same host on a port the grant does not list.
    let url = format!("http://127.0.0.1:{}/", other.port);
    let result = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert!(
        failed_with(&result, "HttpRequestDenied"),
        "{}",
        text(&result)
    );
    // The granted port over https, a scheme the grant does not list.
    let url = format!("https://127.0.0.1:{}/", granted.port);
    let result = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert!(
        failed_with(&result, "HttpRequestDenied"),
        "{}",
        text(&result)
    );
    // A name for the same address is not the granted address.
    let url = format!("http://localhost:{}/", granted.port);
    let result = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert!(
        failed_with(&result, "HttpRequestDenied"),
        "{}",
        text(&result)
    );
    still_serving(&client).await;
    client.cancel().await.expect("close");

    assert_eq!(granted.hits.load(Ordering::SeqCst), 2);
    assert_eq!(other.hits.load(Ordering::SeqCst), 0);
    let decisions = decisions(&dirs).await;
    let allowed = decided(&decisions, "http", "127.0.0.1", granted.port);
    assert!(
        allowed
            .iter()
            .all(|d| d["allowed"] == true && d["rule"] == "permissions.network.allow[0]"),
        "{allowed:?}"
    );
    let denied = decided(&decisions, "http", "127.0.0.1", other.port);
    assert_eq!(denied[0]["allowed"], false, "{decisions:?}");
}

/// This machine's host name, which resolves (through /etc/hosts) to a
/// loopback or private address: a name weld's policy accepts, unlike
/// `localhost`, that leads somewhere only an address rule may open.
fn local_name() -> String {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("host name")
        .trim()
        .to_string();
    let addrs: Vec<std::net::IpAddr> = (name.as_str(), 0)
        .to_socket_addrs()
        .map(|a| a.map(|a| a.ip()).collect())
        .unwrap_or_default();
    assert!(
        !addrs.is_empty()
            && addrs
                .iter()
                .all(|ip| weld_policy::built_in_deny(*ip).is_some()),
        "this test needs the host name `{name}` to resolve to loopback or private \
         addresses only (it resolves to {addrs:?})"
    );
    name
}

#[tokio::test]
async fn a_granted_name_that_resolves_to_a_denied_address_is_refused() {
    let dirs = Dirs::new();
    let target = http_target();
    let (tcp_port, tcp_hits) = tcp_target();
    let name = local_name();
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"{name}\"\n        schemes: [http, tcp]\n        ports: [{}, {}]\n",
        target.port, tcp_port
    );
    install_with_policy(&dirs, Some(&policy)).await;
    let client = stdio_client(&dirs, &[], legacy()).await;

    let url = format!("http://{name}:{}/", target.port);
    let result = call(&client, "hostile_http-get", json!({"url": url})).await;
    assert!(
        failed_with(&result, "DestinationIpProhibited"),
        "{}",
        text(&result)
    );
    // The name may be looked up (it is granted) ...
    let lookup = call(&client, "hostile_resolve", json!({"name": name})).await;
    assert_eq!(lookup.is_error, Some(false), "{}", text(&lookup));
    // ... but a socket to what it resolves to is refused all the same.
    let tcp = call(
        &client,
        "hostile_tcp-send",
        json!({"address": format!("{name}:{tcp_port}"), "text": "ping"}),
    )
    .await;
    assert_eq!(tcp.is_error, Some(true), "{}", text(&tcp));
    // Names not granted are not even looked up.
    let other = call(&client, "hostile_resolve", json!({"name": "example.com"})).await;
    assert_eq!(other.is_error, Some(true), "{}", text(&other));
    still_serving(&client).await;
    client.cancel().await.expect("close");

    assert_eq!(target.hits.load(Ordering::SeqCst), 0);
    assert_eq!(tcp_hits.load(Ordering::SeqCst), 0);
    let decisions = decisions(&dirs).await;
    let http = decided(&decisions, "http", &name, target.port);
    assert_eq!(http[0]["allowed"], true, "the name itself is granted");
    let by_address: Vec<&Value> = http.iter().filter(|d| d.get("addr").is_some()).collect();
    assert!(!by_address.is_empty(), "{http:?}");
    assert!(
        by_address.iter().all(|d| d["allowed"] == false
            && d["rule"]
                .as_str()
                .is_some_and(|r| r.contains("built-in deny"))),
        "{by_address:?}"
    );
    assert_eq!(
        decided(&decisions, "lookup", "example.com", 0)[0]["allowed"],
        false
    );
}

#[tokio::test]
async fn raw_sockets_reach_only_the_granted_addresses_and_ports() {
    let dirs = Dirs::new();
    let (tcp_port, tcp_hits) = tcp_target();
    let (other_tcp, other_tcp_hits) = tcp_target();
    let (udp_port, udp_hits) = udp_target();
    let (other_udp, other_udp_hits) = udp_target();
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"127.0.0.1\"\n        schemes: [tcp]\n        ports: [{tcp_port}]\n      - cidr: \"127.0.0.0/8\"\n        schemes: [udp]\n        ports: [{udp_port}]\n"
    );
    install_with_policy(&dirs, Some(&policy)).await;
    let client = stdio_client(&dirs, &[], legacy()).await;

    let send = |tool: &'static str, port: u16| {
        let client = &client;
        async move {
            call(
                client,
                tool,
                json!({"address": format!("127.0.0.1:{port}"), "text": "ping"}),
            )
            .await
        }
    };
    let tcp = send("hostile_tcp-send", tcp_port).await;
    assert_eq!(
        tcp.structured_content,
        Some(json!({"result": "echo:ping"})),
        "{}",
        text(&tcp)
    );
    let udp = send("hostile_udp-send", udp_port).await;
    assert_eq!(
        udp.structured_content,
        Some(json!({"result": "echo:ping"})),
        "{}",
        text(&udp)
    );
    for (tool, port) in [
        ("hostile_tcp-send", other_tcp),
        ("hostile_udp-send", other_udp),
        // Granted for one protocol is not granted for the other.
        ("hostile_tcp-send", udp_port),
        ("hostile_udp-send", tcp_port),
    ] {
        let result = send(tool, port).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} {port}: {}",
            text(&result)
        );
        still_serving(&client).await;
    }
    // No name is granted, so none is looked up.
    let lookup = call(&client, "hostile_resolve", json!({"name": "localhost"})).await;
    assert_eq!(lookup.is_error, Some(true), "{}", text(&lookup));
    client.cancel().await.expect("close");

    assert_eq!(tcp_hits.load(Ordering::SeqCst), 1);
    assert_eq!(udp_hits.load(Ordering::SeqCst), 1);
    assert_eq!(other_tcp_hits.load(Ordering::SeqCst), 0);
    assert_eq!(other_udp_hits.load(Ordering::SeqCst), 0);
    let decisions = decisions(&dirs).await;
    assert_eq!(
        decided(&decisions, "tcp", "127.0.0.1", tcp_port)[0]["allowed"],
        true
    );
    assert_eq!(
        decided(&decisions, "tcp", "127.0.0.1", other_tcp)[0]["allowed"],
        false,
        "{decisions:?}"
    );
    assert_eq!(
        decided(&decisions, "udp", "127.0.0.1", other_udp)[0]["allowed"],
        false,
        "{decisions:?}"
    );
}

#[tokio::test]
async fn weld_grant_network_opens_exactly_that_host_and_port() {
    let dirs = Dirs::new();
    install_with_policy(&dirs, None).await;
    let granted = dirs
        .run(&["grant", "hostile", "network", "api.example.com:8443"])
        .await;
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    let shown = dirs.run(&["policy", "show", "hostile"]).await;
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("api.example.com") && shown.contains("8443"),
        "{shown}"
    );
    // The metadata address can never be granted.
    let refused = dirs
        .run(&["grant", "hostile", "network", "169.254.169.254"])
        .await;
    assert!(!refused.status.success());
    let revoked = dirs
        .run(&["revoke", "hostile", "network", "api.example.com"])
        .await;
    assert!(revoked.status.success());
    let shown = dirs.run(&["policy", "show", "hostile"]).await;
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("api.example.com"));
}
