//! A call's outbound network: every `wasi:http` request, socket address and
//! name lookup is decided by the tool's [`NetworkRules`], and every decision
//! is recorded for the audit log.
//!
//! HTTP is sent by weld itself rather than by Wasmtime's default sender,
//! because the default resolves and connects in one step: weld resolves the
//! host once, checks each address, and connects to an address it checked —
//! so a granted name that resolves to a denied address (metadata, loopback)
//! is refused, and a second, different DNS answer cannot slip in between the
//! check and the connection.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};
use weld_policy::{Decision, NetworkRules, Scheme};

use crate::sandbox::HttpLimits;
use crate::wasi::shadow::replace;

/// What a network decision was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetUse {
    /// An outbound `wasi:http` request over plain HTTP.
    Http,
    /// An outbound `wasi:http` request over HTTPS.
    Https,
    /// A TCP connection (`wasi:sockets`).
    Tcp,
    /// A UDP datagram sent or received (`wasi:sockets`).
    Udp,
    /// A `wasi:sockets` name lookup.
    Lookup,
    /// Binding or listening on a local address.
    Bind,
}

impl NetUse {
    /// The name audit records and logs use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NetUse::Http => "http",
            NetUse::Https => "https",
            NetUse::Tcp => "tcp",
            NetUse::Udp => "udp",
            NetUse::Lookup => "lookup",
            NetUse::Bind => "bind",
        }
    }
}

/// One network decision made during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEvent {
    /// What the decision was about.
    pub kind: NetUse,
    /// The host as the tool named it (a name or an address).
    pub host: String,
    /// 0 for lookups.
    pub port: u16,
    /// The address that was checked, when the decision was about one.
    pub addr: Option<IpAddr>,
    /// Whether it was allowed.
    pub allowed: bool,
    /// The rule that decided (`permissions.network.allow[0]`, a built-in
    /// deny, …); `None` when nothing matched and the default decided.
    pub rule: Option<String>,
}

/// Decisions recorded per call before further ones are only counted: a tool
/// retrying a denied request in a loop must not grow weld's memory.
const MAX_EVENTS: usize = 256;

/// The decisions of one call, shared by the HTTP sender and the socket
/// checks (which run on other tasks).
#[derive(Debug, Clone, Default)]
pub(crate) struct NetLog(Arc<Mutex<NetLogInner>>);

#[derive(Debug, Default)]
struct NetLogInner {
    events: Vec<NetworkEvent>,
    dropped: u64,
}

impl NetLog {
    fn record(&self, event: NetworkEvent) {
        if event.allowed {
            tracing::debug!(target: "weld::net", kind = event.kind.as_str(), host = %event.host, port = event.port, rule = event.rule.as_deref().unwrap_or(""), "allowed");
        } else {
            tracing::info!(target: "weld::net", kind = event.kind.as_str(), host = %event.host, port = event.port, addr = ?event.addr, rule = event.rule.as_deref().unwrap_or("no rule grants it"), "denied");
        }
        // A poisoned lock only means another task panicked mid-push; the
        // list is still a list.
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if inner.events.len() < MAX_EVENTS {
            inner.events.push(event);
        } else {
            inner.dropped += 1;
        }
    }

    /// The decisions so far, and how many were not kept.
    pub(crate) fn take(&self) -> (Vec<NetworkEvent>, u64) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut inner.events), inner.dropped)
    }

    fn decide(
        &self,
        kind: NetUse,
        host: &str,
        port: u16,
        addr: Option<IpAddr>,
        decision: Decision,
    ) -> bool {
        self.record(NetworkEvent {
            kind,
            host: host.to_string(),
            port,
            addr,
            allowed: decision.allowed,
            rule: decision.rule.map(|r| r.to_string()),
        });
        decision.allowed
    }
}

/// The `wasi:http` hooks of one call.
pub(crate) struct NetHooks {
    pub(crate) rules: Arc<NetworkRules>,
    pub(crate) log: NetLog,
    pub(crate) limits: HttpLimits,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for NetHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let rules = Arc::clone(&self.rules);
        let log = self.log.clone();
        let limits = self.limits;
        Box::new(send(rules, log, limits, request, options))
    }
}

async fn send(
    rules: Arc<NetworkRules>,
    log: NetLog,
    limits: HttpLimits,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
> {
    let uri = request.uri().clone();
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let (kind, scheme) = if tls {
        (NetUse::Https, Scheme::Https)
    } else {
        (NetUse::Http, Scheme::Http)
    };
    let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
    // `Uri::host` keeps IPv6 brackets; names and addresses are checked and
    // resolved without them.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });

    if !log.decide(kind, &host, port, None, rules.check(scheme, &host, port)) {
        return Err(HttpError::HttpRequestDenied);
    }

    let capped = |asked: Option<Duration>| asked.map_or(limits.timeout, |d| d.min(limits.timeout));
    let connect_timeout = capped(options.and_then(|o| o.connect_timeout));
    let first_byte_timeout = capped(options.and_then(|o| o.first_byte_timeout));
    let between_bytes_timeout = capped(options.and_then(|o| o.between_bytes_timeout));

    let ip = checked_address(&rules, &log, kind, &host, port, connect_timeout).await?;

    let tcp = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect((ip, port)))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Connect)?;
    let _ = tcp.set_nodelay(true);

    // The request line carries only the path: the authority stays in the
    // Host header the guest's request already has.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let response_limit = limits.response_bytes;
    if tls {
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(HttpError::InvalidDnsNameError)?;
        let stream =
            tokio::time::timeout(connect_timeout, tls_connector().connect(server_name, tcp))
                .await
                .map_err(|_| HttpError::ConnectionTimeout)?
                .map_err(HttpError::Tls)?;
        exchange(
            stream,
            request,
            connect_timeout,
            first_byte_timeout,
            between_bytes_timeout,
            response_limit,
        )
        .await
    } else {
        exchange(
            tcp,
            request,
            connect_timeout,
            first_byte_timeout,
            between_bytes_timeout,
            response_limit,
        )
        .await
    }
}

/// The address to connect to for `host` (an address, or a name resolved
/// now): every address the name resolves to is checked and recorded, and
/// the first one that passed is chosen.
async fn checked_address(
    rules: &NetworkRules,
    log: &NetLog,
    kind: NetUse,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<IpAddr, HttpError> {
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| HttpError::DnsTimeout)?
            .map_err(|_| HttpError::DestinationNotFound)?
            .map(|a| a.ip().to_canonical())
            .collect(),
    };
    let mut chosen = None;
    for ip in addrs {
        if log.decide(kind, host, port, Some(ip), rules.check_addr(ip, port)) && chosen.is_none() {
            chosen = Some(ip);
        }
    }
    chosen.ok_or(HttpError::DestinationIpProhibited)
}

/// One HTTP/1.1 exchange over a connected stream.
async fn exchange<S>(
    stream: S,
    request: http::Request<WasiBody>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
    response_limit: u64,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    // The connection is driven on its own task so the response can be read
    // while the request body is still being written; its result is handed
    // back as the I/O future the WASI layer awaits.
    let driver = tokio::spawn(conn);
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let response = response.map(|incoming| {
        CappedBody {
            incoming,
            remaining: response_limit,
            limit: response_limit,
            idle: between_bytes_timeout,
            sleep: Box::pin(tokio::time::sleep(between_bytes_timeout)),
        }
        .boxed_unsync()
    });
    let io = async move {
        match driver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(HttpError::from(error)),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(io)))
}

/// A response body that fails once it passes its byte limit or stalls for
/// longer than its idle timeout.
struct CappedBody {
    incoming: hyper::body::Incoming,
    remaining: u64,
    limit: u64,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                    this.remaining -= len;
                }
                let deadline = tokio::time::Instant::now() + this.idle;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(HttpError::from(error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// The TLS client configuration, built once: the Mozilla root set from
/// `webpki-roots`, so a tool's HTTPS trusts what a browser trusts and never
/// the machine's local additions.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    tokio_rustls::TlsConnector::from(Arc::clone(config))
}

/// Decides a socket address a guest binds, connects or sends to.
///
/// Binding is allowed only to a wildcard address and port 0 (what a
/// connect or a first send does implicitly); listening and accepting are
/// never granted — a tool is a client. A connection or datagram to `ip:port`
/// is allowed when an IP or CIDR rule grants it, or when a name rule grants
/// the port and that name resolves (now) to `ip`; either way the address
/// check ([`NetworkRules::check_addr`]) must pass too, and any explicit deny
/// wins.
pub(crate) async fn check_socket(
    rules: Arc<NetworkRules>,
    log: NetLog,
    addr: SocketAddr,
    use_: SocketAddrUse,
) -> bool {
    let ip = addr.ip().to_canonical();
    let port = addr.port();
    let (kind, scheme) = match use_ {
        SocketAddrUse::TcpConnect => (NetUse::Tcp, Scheme::Tcp),
        // A datagram is received only from a peer the tool could send to.
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => (NetUse::Udp, Scheme::Udp),
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
            let allowed = ip.is_unspecified() && port == 0;
            if !allowed {
                log.decide(
                    NetUse::Bind,
                    &ip.to_string(),
                    port,
                    Some(ip),
                    Decision {
                        allowed: false,
                        rule: None,
                    },
                );
            }
            return allowed;
        }
        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
            log.decide(
                NetUse::Bind,
                &ip.to_string(),
                port,
                Some(ip),
                Decision {
                    allowed: false,
                    rule: None,
                },
            );
            return false;
        }
    };
    let host = ip.to_string();
    let by_address = rules.check(scheme, &host, port);
    let explicit_deny = by_address.denied_by_rule();
    let address = rules.check_addr(ip, port);
    if explicit_deny || !address.allowed {
        let decision = if explicit_deny { by_address } else { address };
        return log.decide(kind, &host, port, Some(ip), decision);
    }
    if by_address.allowed {
        return log.decide(kind, &host, port, Some(ip), by_address);
    }
    // Name rules: resolve each granted name and see whether it leads here.
    for rule in rules.allow() {
        let weld_policy::NetTarget::Host(weld_policy::HostPattern::Name(name)) = rule.target()
        else {
            continue;
        };
        if !rule.allows_port(scheme, port) {
            continue;
        }
        let resolved = tokio::net::lookup_host((name.as_str(), port)).await;
        let Ok(resolved) = resolved else { continue };
        if resolved.into_iter().any(|a| a.ip().to_canonical() == ip) {
            let decision = rules.check(scheme, name, port);
            return log.decide(kind, name, port, Some(ip), decision);
        }
    }
    log.decide(kind, &host, port, Some(ip), by_address)
}

/// Decides a `wasi:sockets` name lookup.
fn check_lookup(rules: &NetworkRules, log: &NetLog, name: &str) -> bool {
    log.decide(NetUse::Lookup, name, 0, None, rules.check_lookup(name))
}

/// What the name-lookup shadow needs of a call's store data: WASI itself,
/// and the call's network hooks (its rules and its log).
pub(crate) trait NetView: WasiView + 'static {
    /// The call's network hooks.
    fn net(&mut self) -> &mut NetHooks;
}

/// Replaces `wasi:sockets/ip-name-lookup`'s `resolve-addresses` with one
/// that asks the call's policy first: Wasmtime can only allow all lookups or
/// none, and a tool may resolve only the names its policy grants.
pub(crate) fn gate_name_lookups<T: NetView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    replace(
        linker,
        "wasi:sockets/ip-name-lookup@0.2.12",
        "resolve-addresses",
        |lookup, name| lookup.func_wrap(name, resolve_addresses),
    )
}

/// A name lookup, when the call's rules allow looking up `name`.
fn resolve_addresses<T: NetView>(
    mut store: StoreContextMut<'_, T>,
    (network, name): (Resource<Network>, String),
) -> wasmtime::Result<(Result<Resource<ResolveAddressStream>, ErrorCode>,)> {
    let state = store.data_mut();
    let net = state.net();
    if !check_lookup(&net.rules, &net.log, &name) {
        return Ok((Err(ErrorCode::AccessDenied),));
    }
    match ip_name_lookup::Host::resolve_addresses(&mut state.sockets(), network, name) {
        Ok(stream) => Ok((Ok(stream),)),
        Err(error) => Ok((Err(error.downcast()?),)),
    }
}
