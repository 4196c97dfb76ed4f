//! A registry in front of a registry, on loopback, that lies: weld-dist's
//! test proxy, with the rules these tests use — one byte of a manifest or
//! a blob flipped, a body stalled halfway (to kill weld mid-download), or
//! garbage instead of HTTP — and a count of the requests a rule took.

#[path = "../../../weld-dist/tests/support/proxy.rs"]
mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proxy::{Proxy, Route};

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

/// A running proxy.
pub struct Tamper {
    proxy: Proxy,
    hits: Arc<AtomicUsize>,
}

impl Tamper {
    /// Starts a proxy to `upstream` applying `rule`.
    pub async fn start(upstream: &str, rule: Rule) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let proxy = Proxy::start(upstream, move |method, path| {
            let taken = |p: &str| method != "HEAD" && path.contains(p);
            let route = match &rule {
                Rule::Garbage => {
                    Route::Answer(b"\x00\x01 this is not HTTP at all \xff\r\n\r\n".to_vec())
                }
                Rule::Flip { path } if taken(path) => Route::Rewrite(Box::new(|mut body| {
                    if let Some(last) = body.last_mut() {
                        *last ^= 0x01;
                    }
                    body
                })),
                Rule::Stall { path } if taken(path) => Route::Stall,
                Rule::Count { path } if taken(path) => Route::Forward,
                _ => return Route::Forward,
            };
            counted.fetch_add(1, Ordering::SeqCst);
            route
        });
        Self { proxy, hits }
    }

    /// `host:port` to put in an `oci://` reference.
    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr().parse().expect("the proxy's address")
    }

    /// How many requests the rule took.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
