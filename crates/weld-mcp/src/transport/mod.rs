//! The two ways in: stdio ([`serve_stdio`]: one client, the one that
//! started us) and Streamable HTTP ([`serve_http`]: any number, on `/mcp`).
//!
//! Each transport answers what it can tell is wrong on the wire itself
//! (a line or body over the size cap, malformed JSON-RPC, an id already in
//! flight) and hands rmcp only messages it can serve: nothing a transport
//! decides reaches the handler as a request.

pub mod http;
pub(crate) mod jsonrpc;
pub(crate) mod line_cap;
pub(crate) mod stdio;

use std::net::SocketAddr;

pub use self::http::{FdLimitError, HttpLimits, HttpOptions, MetricsText, Readiness, serve_http};
pub use self::stdio::serve_stdio;

/// Errors that stop a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The HTTP address could not be bound (in use, or not ours to bind).
    #[error("could not listen on {addr}: {cause}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        cause: std::io::Error,
    },
    /// The stdio session ended abnormally.
    #[error("the MCP session ended with an error: {0}")]
    Session(String),
    /// The HTTP limits contradict each other or are out of range; the
    /// message names the flags to change.
    #[error("{0}")]
    HttpLimits(String),
    /// The open-file limit cannot hold `--max-connections`.
    #[error(transparent)]
    FdLimit(#[from] FdLimitError),
}
