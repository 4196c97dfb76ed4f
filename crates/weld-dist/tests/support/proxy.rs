//! A loopback HTTP/1.1 proxy in front of a test registry that records every
//! request and lets a test answer some itself or rewrite what the registry
//! answered: a counting proxy, a registry feature the real one lacks, or a
//! tampering man in the middle.
//!
//! Self-contained (std only) so that other test crates can include it with
//! `#[path = "…/proxy.rs"] mod proxy;`. One request per connection: each
//! answer carries `Connection: close`.

#![allow(dead_code, reason = "each including test binary uses a different part")]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What to do with one request.
pub enum Route {
    /// Pass it to the registry and its answer back.
    Forward,
    /// Answer with these raw bytes (status line, headers, body).
    Answer(Vec<u8>),
    /// Pass it on, and change the body of the answer before returning it.
    Rewrite(Box<dyn FnOnce(Vec<u8>) -> Vec<u8> + Send>),
    /// Pass it on, return the answer's head and half its body, then
    /// nothing, with the connection held open (a download that hangs, to
    /// kill the client mid-way or hold it busy).
    Stall,
}

type Router = dyn Fn(&str, &str) -> Route + Send + Sync;

/// A running proxy.
pub struct Proxy {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Proxies to `upstream` (`host:port`), asking `route(method, path)`
    /// what to do with each request.
    pub fn start(
        upstream: &str,
        route: impl Fn(&str, &str) -> Route + Send + Sync + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let upstream = upstream.to_owned();
        let route: Arc<Router> = Arc::new(route);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let (log, upstream, route) = (log.clone(), upstream.clone(), route.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &*route, &log);
                });
            }
        });
        Proxy { addr, requests }
    }

    /// `127.0.0.1:PORT`, to use as the registry's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `METHOD PATH` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

/// A raw HTTP/1.1 answer with a body.
pub fn answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    route: &Router,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let (head, body) = read_message(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split(' ');
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("").to_owned();
    log.lock().expect("log").push(format!("{method} {path}"));
    let (rewrite, stall) = match route(&method, &path) {
        Route::Answer(raw) => return client.write_all(&raw),
        Route::Forward => (None, false),
        Route::Rewrite(change) => (Some(change), false),
        Route::Stall => (None, true),
    };
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&close_after(&text).into_bytes())?;
    server.write_all(&body)?;
    let mut raw = Vec::new();
    server.read_to_end(&mut raw)?;
    if let Some(change) = rewrite {
        raw = rewrite_body(&raw, change);
    }
    if stall {
        let body = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |p| p + 4);
        client.write_all(&raw[..body + (raw.len() - body) / 2])?;
        client.flush()?;
        loop {
            std::thread::park();
        }
    }
    client.write_all(&raw)
}

/// Reads a request head and its `Content-Length` body.
fn read_message(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let length = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok((head, body))
}

/// The request head with `Connection: close`, so the registry's answer ends
/// at end of stream.
fn close_after(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

/// Applies `change` to the body of a raw answer and fixes its length.
fn rewrite_body(raw: &[u8], change: Box<dyn FnOnce(Vec<u8>) -> Vec<u8> + Send>) -> Vec<u8> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = change(raw[split..].to_vec());
    let mut lines: Vec<String> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_owned)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    let mut out = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
    out.extend_from_slice(&body);
    out
}
