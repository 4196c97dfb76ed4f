//! What HTTP clients may hold of weld, and the requests it refuses before
//! they reach MCP: header and body timeouts, the connection cap, strict
//! `Host`/`Origin`/target checks, over HTTP/1.1 (raw bytes, so nothing
//! tidies the request up) and HTTP/2 (hyper's client, prior knowledge).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

const PROTOCOL: &str = "2026-07-28";
/// How long a test waits for something the server must do by itself
/// (close a connection, answer) before calling it a failure: far beyond
/// the one-second limits the tests set, so it never decides a pass.
const PATIENCE: Duration = Duration::from_secs(30);

async fn server(extra: &[&str]) -> (Dirs, tokio::process::Child, SocketAddr) {
    let dirs = Dirs::new();
    let hostile = component("hostile").display().to_string();
    let mut args = vec!["--component", hostile.as_str()];
    args.extend_from_slice(extra);
    let (child, addr) = http_server(&dirs, &args).await;
    (dirs, child, addr)
}

/// A self-contained (2026-07-28) `hostile_echo` call.
fn echo_body(text: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "hostile_echo",
            "arguments": {"text": text},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL,
                "io.modelcontextprotocol/clientInfo": {"name": "weld-tests", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    })
    .to_string()
}

const MCP_HEADERS: [(&str, &str); 5] = [
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
    ("mcp-protocol-version", PROTOCOL),
    ("mcp-method", "tools/call"),
    ("mcp-name", "hostile_echo"),
];

/// An HTTP/1.1 echo call written byte for byte: `target` and `headers`
/// exactly as given (no Host unless listed), then the MCP headers.
fn raw_request(target: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut request = format!("POST {target} HTTP/1.1\r\n");
    for (name, value) in headers.iter().chain(&MCP_HEADERS) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    request
}

/// Sends `request` on a new connection and reads until the server closes
/// it: the status and the whole response text.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let response = read_to_close(&mut stream).await;
    (status_of(&response), response)
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("the server must close the connection")
        .expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Whether the server has closed `stream` (EOF or reset), waiting as long
/// as it takes.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

async fn echo_over_http1(addr: SocketAddr, text: &str) -> (u16, String) {
    let host = addr.to_string();
    exchange(
        addr,
        &raw_request("/mcp", &[("host", &host)], &echo_body(text)),
    )
    .await
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_after_the_header_timeout_while_calls_are_served() {
    let (_dirs, _server, addr) = server(&["--header-timeout", "1"]).await;
    let mut half_sent = TcpStream::connect(addr).await.expect("connect");
    half_sent
        .write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let (status, response) = echo_over_http1(addr, "served").await;
    assert_eq!(status, 200, "{response}");
    assert!(response.contains(r#""result":"served""#), "{response}");
    assert!(closed_by_server(&mut half_sent).await, "half-sent head");
    assert!(
        closed_by_server(&mut silent).await,
        "connection that sent nothing"
    );
}

#[tokio::test]
async fn a_body_that_stops_short_is_answered_408_after_the_body_timeout() {
    let (_dirs, _server, addr) = server(&["--body-timeout", "1"]).await;
    let request = raw_request("/mcp", &[("host", &addr.to_string())], &echo_body("x"));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&request.as_bytes()[..request.len() - 1])
        .await
        .expect("write all but the last byte");
    let response = read_to_close(&mut stream).await;
    assert_eq!(status_of(&response), 408, "{response}");
    assert!(response.contains("--body-timeout"), "{response}");
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_calls_are_served_again_once_they_close() {
    let (_dirs, _server, addr) = server(&["--max-connections", "2"]).await;
    let first = TcpStream::connect(addr).await.expect("connect");
    let second = TcpStream::connect(addr).await.expect("connect");
    let (status, response) = echo_over_http1(addr, "refused").await;
    assert_eq!(status, 503, "{response}");
    assert!(response.contains("--max-connections"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 1"),
        "{response}"
    );
    drop((first, second));
    // The server notices the closes on its own schedule: ask until it has.
    let mut last = (0, String::new());
    for _ in 0..300 {
        last = echo_over_http1(addr, "again").await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
    assert!(last.1.contains(r#""result":"again""#), "{}", last.1);
}

#[tokio::test]
async fn probes_are_answered_on_connections_over_the_cap() {
    // The held connection must outlast the test: no idle close.
    let (_dirs, _server, addr) =
        server(&["--max-connections", "1", "--header-timeout", "600"]).await;
    let _held = TcpStream::connect(addr).await.expect("connect");
    let (status, response) = echo_over_http1(addr, "refused").await;
    assert_eq!(status, 503, "at the cap: {response}");
    assert!(response.contains("--max-connections"), "{response}");
    for (path, said) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let (status, response) = exchange(
            addr,
            &format!("GET {path} HTTP/1.1\r\nhost: 10.1.2.3:8808\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 200, "{path}: {response}");
        assert!(response.ends_with(said), "{path}: {response}");
    }
}

#[tokio::test]
async fn host_origin_and_absolute_form_oddities_are_refused_with_an_explanation() {
    let (_dirs, _server, addr) = server(&[]).await;
    let host = addr.to_string();
    let body = echo_body("x");
    let (status, response) = exchange(addr, &raw_request("/mcp", &[("host", &host)], &body)).await;
    assert_eq!(status, 200, "the well-formed request is served: {response}");
    let itself = format!("http://{host}/mcp");
    let cases = [
        Oddity {
            case: "user info in Host",
            target: "/mcp",
            headers: vec![("host", "evil.com@127.0.0.1")],
            status: 400,
            explanation: "host[:port]",
        },
        Oddity {
            case: "two Host headers",
            target: "/mcp",
            headers: vec![("host", &host), ("host", "evil.com")],
            status: 400,
            explanation: "more than one Host",
        },
        Oddity {
            case: "two Origin headers",
            target: "/mcp",
            headers: vec![
                ("host", &host),
                ("origin", "http://localhost:1"),
                ("origin", "http://evil.com"),
            ],
            status: 403,
            explanation: "more than one Origin",
        },
        Oddity {
            case: "absolute-form target",
            target: "http://evil.com/mcp",
            headers: vec![("host", &host)],
            status: 400,
            explanation: "origin-form",
        },
        Oddity {
            case: "absolute-form target naming weld itself",
            target: &itself,
            headers: vec![("host", &host)],
            status: 400,
            explanation: "origin-form",
        },
    ];
    for oddity in cases {
        let request = raw_request(oddity.target, &oddity.headers, &body);
        let (status, response) = exchange(addr, &request).await;
        let case = oddity.case;
        assert_eq!(status, oddity.status, "{case}: {response}");
        assert!(response.contains(oddity.explanation), "{case}: {response}");
    }
}

/// A malformed request and how weld must answer it.
struct Oddity<'a> {
    case: &'a str,
    target: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    status: u16,
    explanation: &'a str,
}

/// An HTTP/2 (prior knowledge, cleartext) connection to weld.
async fn h2(addr: SocketAddr) -> SendRequest<h2_body::Any> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    send
}

mod h2_body {
    use super::*;

    pub type Any = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

    pub fn full(text: &str) -> Any {
        Full::new(Bytes::from(text.to_string())).boxed()
    }

    /// Sends one chunk, then nothing ever again.
    pub struct Stalled(pub Option<Bytes>);

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.0.take() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None => Poll::Pending,
            }
        }
    }
}

/// An echo call over HTTP/2 with `authority` in `:authority` and `headers`
/// added: status and body text.
async fn echo_over_h2(
    send: &mut SendRequest<h2_body::Any>,
    authority: &str,
    headers: &[(&str, &str)],
    body: h2_body::Any,
) -> (u16, String) {
    let mut request = hyper::Request::post(format!("http://{authority}/mcp"));
    for (name, value) in headers.iter().chain(&MCP_HEADERS) {
        request = request.header(*name, *value);
    }
    let request = request.body(body).expect("request");
    send.ready().await.expect("connection ready");
    let response = tokio::time::timeout(PATIENCE, send.send_request(request))
        .await
        .expect("the server must answer")
        .expect("HTTP/2 response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn over_http2_host_origin_and_authority_oddities_are_refused() {
    let (_dirs, _server, addr) = server(&[]).await;
    let authority = addr.to_string();
    let mut send = h2(addr).await;
    let body = || h2_body::full(&echo_body("h2"));
    let (status, text) = echo_over_h2(&mut send, &authority, &[], body()).await;
    assert_eq!(status, 200, "a plain HTTP/2 call is served: {text}");
    assert!(text.contains(r#""result":"h2""#), "{text}");

    let userinfo = format!("evil.com@{authority}");
    let (status, text) = echo_over_h2(&mut send, &userinfo, &[], body()).await;
    assert_eq!(status, 400, "user info in :authority: {text}");
    assert!(text.contains("host[:port]"), "{text}");

    let (status, text) = echo_over_h2(&mut send, &authority, &[("host", "evil.com")], body()).await;
    assert_eq!(status, 400, "Host differing from :authority: {text}");
    assert!(text.contains(":authority"), "{text}");

    let origins = [
        ("origin", "http://localhost:1"),
        ("origin", "http://evil.com"),
    ];
    let (status, text) = echo_over_h2(&mut send, &authority, &origins, body()).await;
    assert_eq!(status, 403, "two Origin headers: {text}");
    assert!(text.contains("more than one Origin"), "{text}");
}

#[tokio::test]
async fn over_http2_a_stalled_body_is_answered_408_and_an_idle_connection_is_closed() {
    let (_dirs, _server, addr) = server(&["--body-timeout", "1", "--header-timeout", "1"]).await;
    let authority = addr.to_string();
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    let conn = tokio::spawn(conn);
    let stalled = h2_body::Stalled(Some(Bytes::from_static(b"{\"jsonrpc\":"))).boxed();
    let (status, text) = echo_over_h2(&mut send, &authority, &[], stalled).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("--body-timeout"), "{text}");
    // With no request left, the server ends the connection on its own
    // (`send` stays alive, so the client does not end it).
    let ended = tokio::time::timeout(PATIENCE, conn).await;
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection must be closed by the server"
    );
    drop(send);
}

#[tokio::test]
async fn over_http2_a_connection_over_the_cap_gets_503() {
    let (_dirs, _server, addr) = server(&["--max-connections", "1"]).await;
    let _held = TcpStream::connect(addr).await.expect("connect");
    let mut send = h2(addr).await;
    let body = h2_body::full(&echo_body("refused"));
    let (status, text) = echo_over_h2(&mut send, &addr.to_string(), &[], body).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--max-connections"), "{text}");
}

#[tokio::test]
async fn requests_beyond_the_body_budget_get_503_until_the_held_bodies_are_answered() {
    let (_dirs, _server, addr) = server(&[
        "--max-request-bytes",
        "4096",
        "--max-buffered-request-bytes",
        "4096",
    ])
    .await;
    // About 3,000 bytes held by a call that stays one byte short.
    let held = raw_request(
        "/mcp",
        &[("host", &addr.to_string())],
        &echo_body(&"x".repeat(2800)),
    );
    let hold = || async {
        let mut holder = TcpStream::connect(addr).await.expect("connect");
        holder
            .write_all(&held.as_bytes()[..held.len() - 1])
            .await
            .expect("write all but the last byte");
        holder
    };
    let mut holder = hold().await;
    // 1,500 more would go over 4,096. The holder's bytes count once the
    // server has read them, which it does on its own schedule; if it reads
    // them while an echo below holds its own bytes, the holder is the one
    // refused (503, closed), and is sent again.
    // A holder refused that way is not always answered: the server drains a
    // refused body to its end, which never comes. So under load (where the
    // race is won by the echo more often) the holder is also sent again
    // every few rounds, each time given a moment to be read first.
    let text = "y".repeat(1200);
    let mut last = (0, String::new());
    tokio::time::sleep(Duration::from_millis(200)).await;
    for round in 0..300 {
        let mut peek = [0u8; 1];
        match holder.try_read(&mut peek) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && round % 10 != 9 => {}
            _ => {
                holder = hold().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        last = echo_over_http1(addr, &text).await;
        if last.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if last.0 != 503 {
        // Say whether the server answered the held request early (it must
        // not: the body is one byte short), to tell a slow server from a
        // wrong one.
        let mut early = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_millis(200), holder.read(&mut early)).await;
        let early = match read {
            Ok(Ok(n)) => String::from_utf8_lossy(&early[..n]).into_owned(),
            Ok(Err(e)) => format!("read error: {e}"),
            Err(_) => "nothing".into(),
        };
        panic!(
            "no 503 while a body is held; last answer {} {}; the held request got: {early}",
            last.0, last.1
        );
    }
    assert!(
        last.1.contains("--max-buffered-request-bytes"),
        "{}",
        last.1
    );
    drop(holder);
    for _ in 0..300 {
        last = echo_over_http1(addr, &text).await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        last.0, 200,
        "served again once the held body is gone: {}",
        last.1
    );
}

#[tokio::test]
async fn a_body_budget_smaller_than_one_request_is_refused_at_start() {
    let dirs = Dirs::new();
    let start = dirs.run(&[
        "serve",
        "--http",
        "127.0.0.1:0",
        "--max-request-bytes",
        "8192",
        "--max-buffered-request-bytes",
        "4096",
    ]);
    let output = tokio::time::timeout(PATIENCE, start)
        .await
        .expect("weld must refuse to start, not serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-buffered-request-bytes"), "{stderr}");
}

#[tokio::test]
async fn an_oversized_body_is_answered_413_after_the_client_has_sent_it() {
    let (_dirs, _server, addr) = server(&[]).await;
    // 7 MiB against the default 4 MiB cap, more than the socket buffers
    // hold, written whole before reading, as HTTP clients do: weld must
    // take it all in (discarding it) for the client to get its answer.
    let body = " ".repeat(7 * 1024 * 1024);
    let request = raw_request("/mcp", &[("host", &addr.to_string())], &body);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let written = tokio::time::timeout(PATIENCE, stream.write_all(request.as_bytes()))
        .await
        .expect("the server must take the body");
    assert!(
        written.is_ok(),
        "the connection was reset mid-body: {written:?}"
    );
    let response = read_to_close(&mut stream).await;
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(response.contains("--max-request-bytes"), "{response}");
}
