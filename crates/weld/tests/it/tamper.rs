//! A registry in front of a registry, on loopback, that lies: it forwards
//! GET and HEAD requests to the real one and changes what comes back for
//! the requests a rule picks — one byte of a manifest or a blob flipped, a
//! body stalled halfway (to kill weld mid-download), or garbage instead of
//! HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a response whose request path contains `path`.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Flip the last byte of the body (its length and headers stay).
    Flip { path: String },
    /// Send the head and half the body, then nothing, forever.
    Stall { path: String },
    /// Answer every request with bytes that are not HTTP.
    Garbage,
    /// Change nothing; count the requests (not HEADs) for `path`.
    Count { path: String },
}

/// A running proxy; stops when dropped.
pub struct Tamper {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tamper {
    /// Starts a proxy to `upstream` applying `rule`.
    pub async fn start(upstream: &str, rule: Rule) -> Self {
        let upstream = upstream.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            crate::common::install_crypto();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (client, rule, hits) = (client.clone(), rule.clone(), Arc::clone(&counted));
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &upstream, &client, &rule, &hits).await;
                });
            }
        });
        Self { addr, hits, task }
    }

    /// `host:port` to put in an `oci://` reference.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many responses the rule changed.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Tamper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    upstream: &str,
    client: &reqwest::Client,
    rule: &Rule,
    hits: &AtomicUsize,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(());
        }
    }
    if let Rule::Garbage = rule {
        hits.fetch_add(1, Ordering::SeqCst);
        stream
            .write_all(b"\x00\x01 this is not HTTP at all \xff\r\n\r\n")
            .await?;
        return Ok(());
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method.clone(), format!("http://{upstream}{path}"));
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("connection") {
                request = request.header(name, value.trim());
            }
        }
    }
    let response = request.send().await.map_err(std::io::Error::other)?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = response
        .bytes()
        .await
        .map_err(std::io::Error::other)?
        .to_vec();
    let mut stall = false;
    match rule {
        Rule::Flip { path: p } if path.contains(p.as_str()) && !body.is_empty() => {
            hits.fetch_add(1, Ordering::SeqCst);
            if let Some(last) = body.last_mut() {
                *last ^= 0x01;
            }
        }
        Rule::Count { path: p } if path.contains(p.as_str()) && method != reqwest::Method::HEAD => {
            hits.fetch_add(1, Ordering::SeqCst);
        }
        Rule::Stall { path: p } if path.contains(p.as_str()) && method != reqwest::Method::HEAD => {
            hits.fetch_add(1, Ordering::SeqCst);
            stall = true;
        }
        _ => {}
    }
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &headers {
        if name == "connection" || name == "transfer-encoding" || name == "content-length" {
            continue;
        }
        out.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
    }
    let length = if method == reqwest::Method::HEAD {
        headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    } else {
        body.len()
    };
    out.push_str(&format!(
        "content-length: {length}\r\nconnection: close\r\n\r\n"
    ));
    stream.write_all(out.as_bytes()).await?;
    if method == reqwest::Method::HEAD {
        return Ok(());
    }
    if stall {
        stream.write_all(&body[..body.len() / 2]).await?;
        stream.flush().await?;
        std::future::pending::<()>().await;
    }
    stream.write_all(&body).await?;
    body.clear();
    Ok(())
}
