//! `initialize` from a client of 2026-07-28 or later. That revision removed
//! the method (a client calls `server/discover` instead), so it is answered
//! as every removed method is: 404 with -32601, the request's id kept.
//! rmcp's service takes any `initialize` for a legacy session's handshake
//! whatever headers come with it, and answers one without the handshake's
//! params 200 with -32602, which tells such a client nothing useful.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};

use super::Body;

/// Whether the request says (in its SEP-2243 headers) that it is an
/// `initialize` of 2026-07-28 or later. A client of an earlier revision
/// sends no `MCP-Protocol-Version` with its `initialize`.
pub(super) fn is_removed_initialize(headers: &HeaderMap) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    header("mcp-method") == Some("initialize")
        && header("mcp-protocol-version")
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28.as_str())
}

/// The answer to such a request, given its body (`None`: unreadable; the
/// id is then `null`, as JSON-RPC says for a request whose id cannot be
/// told).
pub(super) fn answer(body: Option<&[u8]>) -> Response<Body> {
    let id = body
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null);
    let error = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32601,
            "message": "initialize was removed in MCP 2026-07-28: call server/discover, \
                        or initialize without a 2026-07-28 MCP-Protocol-Version header",
        },
    });
    let mut response = Response::new(Full::new(Bytes::from(error.to_string())).boxed());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
