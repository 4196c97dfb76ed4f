//! Unit tests of the HTTPS download path against loopback servers speaking
//! plain HTTP. The plain-HTTP allowance they need (`PlainHttp`) is a
//! crate-private parameter; the public `fetch_https*` always pass none, which
//! the last test checks.
//!
//! Not covered here: TLS itself (certificate validation is rustls' and the
//! platform verifier's, with the system's roots).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// A loopback HTTP server answering each request with `answer(path)` (raw
/// bytes: status line, headers, body), then closing. Counts requests.
///
/// Every complete answer says `Connection: close`: without it the client
/// keeps the connection for its next request (a redirect's target), races
/// the close, and fails on a reset.
struct Server {
    addr: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                let _ = stream.write_all(&answer(&path));
            }
        });
        Server { addr, hits }
    }

    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    fn allowed(&self) -> PlainHttp {
        PlainHttp(Arc::new(vec![self.addr.clone()]))
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// A body with no length: it ends when the connection closes.
fn no_length(body: &[u8]) -> Vec<u8> {
    let mut answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(body);
    answer
}

fn config(limit: u64) -> Config {
    Config {
        max_component_bytes: limit,
        timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn a_download_streams_into_a_file_in_dir_with_its_digest_and_progress() {
    let body: Vec<u8> = (0..70_000u32).map(|i| (i % 256) as u8).collect();
    let served = body.clone();
    let server = Server::start(move |_| ok(&served));
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let config = Config {
        progress: Some(Arc::new(move |p: Progress| sink.lock().unwrap().push(p))),
        ..config(1 << 20)
    };
    let url = server.url("/tool.wasm");
    let got = fetch_https_with(&url, &config, dir.path(), server.allowed())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
    assert_eq!(got.digest, crate::sha256_digest(&body));
    assert_eq!(got.size, body.len() as u64);
    assert_eq!(got.path.parent(), Some(dir.path()));
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.done, last.total), (70_000, Some(70_000)));
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_before_the_body_is_read() {
    // The server declares a large body and sends none of it; reading would
    // wait for the timeout and fail differently.
    let server = Server::start(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        timeout: Duration::from_secs(30),
        ..config(1000)
    };
    let err = fetch_https_with(&server.url("/big"), &config, dir.path(), server.allowed())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DistError::TooLarge {
                size: 1_000_000,
                limit: 1000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn a_body_over_the_cap_without_a_length_is_cut_and_leaves_nothing() {
    let server = Server::start(|_| no_length(&[7u8; 50_000]));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_https_with(
        &server.url("/big"),
        &config(1000),
        dir.path(),
        server.allowed(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DistError::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn a_stream_longer_or_shorter_than_declared_is_refused_and_leaves_nothing() {
    let server = Server::start(|_| no_length(&[1u8; 5000]));
    let dir = tempfile::tempdir().unwrap();
    let client = client(&config(1 << 20), server.allowed()).unwrap();
    for (size, needle) in [(100, "longer than"), (9000, "ended after 5000")] {
        let response = client.get(server.url("/layer")).send().await.unwrap();
        let expect = Expect {
            target: "t",
            what: "the layer",
            limit: 1 << 20,
            size: Some(size),
            digest: None,
        };
        let err = stream_to_file(response, &expect, dir.path(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert_eq!(entries(dir.path()), 0);
    }
}

#[tokio::test]
async fn a_digest_mismatch_leaves_nothing() {
    let server = Server::start(|_| ok(b"hello"));
    let dir = tempfile::tempdir().unwrap();
    let client = client(&config(1 << 20), server.allowed()).unwrap();
    let response = client.get(server.url("/x")).send().await.unwrap();
    let wrong = crate::sha256_digest(b"other");
    let expect = Expect {
        target: "t",
        what: "the layer",
        limit: 100,
        size: Some(5),
        digest: Some(&wrong),
    };
    let err = stream_to_file(response, &expect, dir.path(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::DigestMismatch { .. }), "{err:?}");
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn a_redirect_to_plain_http_is_refused_and_never_requested() {
    let elsewhere = Server::start(|_| ok(b"downgraded"));
    let location = elsewhere.url("/tool.wasm");
    let server = Server::start(move |_| {
        format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes()
    });
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_https_with(
        &server.url("/start"),
        &config(1000),
        dir.path(),
        server.allowed(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("only https:// is followed"),
        "{err}"
    );
    assert_eq!(elsewhere.hits.load(Ordering::SeqCst), 0);
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn a_redirect_to_an_allowed_url_is_followed() {
    let server = Server::start(|path| {
        if path == "/start" {
            b"HTTP/1.1 301 Moved\r\nLocation: /final\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        } else {
            ok(b"the tool")
        }
    });
    let bytes = fetch_https_small_with(&server.url("/start"), &config(0), 100, server.allowed())
        .await
        .unwrap();
    assert_eq!(bytes, b"the tool");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_small_download_is_capped() {
    let server = Server::start(|_| no_length(&[0u8; 4096]));
    let err = fetch_https_small_with(&server.url("/sig"), &config(0), 1024, server.allowed())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DistError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn statuses_become_their_errors() {
    let server = Server::start(|path| {
        let status = if path == "/missing" {
            "404 Not Found"
        } else {
            "401 Unauthorized"
        };
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
    });
    let missing = fetch_https_small_with(&server.url("/missing"), &config(0), 10, server.allowed())
        .await
        .unwrap_err();
    assert!(matches!(missing, DistError::NotFound { .. }), "{missing:?}");
    let private = fetch_https_small_with(&server.url("/private"), &config(0), 10, server.allowed())
        .await
        .unwrap_err();
    assert!(
        matches!(private, DistError::Auth { status: 401, .. }),
        "{private:?}"
    );
}

#[tokio::test]
async fn the_public_functions_refuse_plain_http_without_connecting() {
    let server = Server::start(|_| ok(b"x"));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_https(&server.url("/x"), &config(100), dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::InvalidSource { .. }), "{err:?}");
    let err = fetch_https_small(&server.url("/x"), &config(100), 100)
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::InvalidSource { .. }), "{err:?}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_server_error_message_is_shown_short_and_without_control_characters() {
    let body = format!("\x1b[31mdisk full{}", "x".repeat(5000));
    let server = Server::start(move |_| {
        let mut raw = format!(
            "HTTP/1.1 500 Oops\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body.as_bytes());
        raw
    });
    let err = fetch_https_small_with(&server.url("/x"), &config(0), 10, server.allowed())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, DistError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert!(
        text.contains("disk full") && !text.contains('\x1b'),
        "{text}"
    );
    assert!(text.len() < 600, "{}", text.len());
}
