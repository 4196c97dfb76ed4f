//! Plain JSON for a session's lone answer.
//!
//! In a session rmcp answers every POSTed request with an SSE stream: a
//! priming event, then whatever the call sends (progress, log messages,
//! requests to the client), then the response. Most calls send nothing but
//! the response, and for those an SSE stream only costs: framing both ways,
//! and a client-side cap on one event's size (the Python SDK's is 1 MiB) that
//! a large result trips over. The spec lets the server choose, so weld reads
//! the stream up to its first message: when that is the response, the client
//! gets it as `application/json`; otherwise the stream goes on as SSE, from
//! its first byte (nothing read is lost), exactly as rmcp wrote it.

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt as _;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, TRANSFER_ENCODING};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Body;

/// The most of a stream read while deciding; beyond, it stays SSE. weld
/// wrote every byte of it (results are already capped), so this only bounds
/// the copy.
const MAX_READ: usize = 64 * 1024 * 1024;

/// `response` (an SSE stream answering one POSTed request) as JSON when its
/// first message is the response; else the same stream.
pub(super) async fn prefer_json(response: Response<Body>) -> Response<Body> {
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !response.status().is_success() || !is_sse {
        return response;
    }
    let (mut parts, mut body) = response.into_parts();
    let mut read = BytesMut::new();
    let mut scanned = 0;
    loop {
        while let Some(end) = find_event_end(&read[scanned..]) {
            let event = &read[scanned..scanned + end];
            scanned += end;
            let Some(data) = event_data(event) else {
                continue;
            };
            if is_response(&data) {
                parts
                    .headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                parts.headers.remove(TRANSFER_ENCODING);
                parts.headers.remove(CONTENT_LENGTH);
                return Response::from_parts(parts, Full::new(Bytes::from(data)).boxed());
            }
            return Response::from_parts(parts, resume(read.freeze(), body));
        }
        if read.len() > MAX_READ {
            return Response::from_parts(parts, resume(read.freeze(), body));
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                }
            }
            Some(Err(never)) => match never {},
            // Ended without a message: pass on what there was.
            None => return Response::from_parts(parts, Full::new(read.freeze()).boxed()),
        }
    }
}

/// The bytes already read, then the rest of `body`.
fn resume(read: Bytes, body: Body) -> Body {
    let first = futures::stream::once(async move { Ok::<_, Infallible>(Frame::data(read)) });
    let rest = body.into_data_stream().map_ok(Frame::data);
    StreamBody::new(futures::StreamExt::chain(first, rest)).boxed()
}

/// The length of the first complete event in `bytes`, its blank line
/// included.
fn find_event_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\n\n").map(|at| at + 2)
}

/// An event's data (its `data:` lines joined), or `None` for an event
/// without any (a priming event, a keep-alive comment).
fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|&b| b == b'\n') {
        let Some(value) = line.strip_prefix(b"data:") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match &mut data {
            Some(data) => {
                data.push(b'\n');
                data.extend_from_slice(value);
            }
            None => data = Some(value.to_vec()),
        }
    }
    data.filter(|d| !d.iter().all(u8::is_ascii_whitespace))
}

/// Whether a JSON-RPC message is a response (an id, no method), not a
/// notification or a request to the client.
fn is_response(data: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        id: Option<IgnoredAny>,
        method: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Kind>(data).is_ok_and(|k| k.id.is_some() && k.method.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(events: &[&str]) -> Response<Body> {
        let text: String = events.iter().map(|e| format!("{e}\n\n")).collect();
        let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
    }

    async fn text(response: Response<Body>) -> (String, String) {
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (kind, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_lone_response_after_a_priming_event_becomes_json() {
        let response = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        let (kind, body) = text(
            prefer_json(sse(&[
                "id: 0\nretry: 3000\ndata:",
                &format!("data: {response}"),
            ]))
            .await,
        )
        .await;
        assert_eq!(kind, "application/json");
        assert_eq!(body, response);
    }

    #[tokio::test]
    async fn a_stream_that_notifies_first_stays_sse_from_its_first_byte() {
        let events = [
            "id: 0\ndata:",
            r#"data: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
            r#"data: {"jsonrpc":"2.0","id":1,"result":{}}"#,
        ];
        let (kind, body) = text(prefer_json(sse(&events)).await).await;
        assert_eq!(kind, "text/event-stream");
        let whole: String = events.iter().map(|e| format!("{e}\n\n")).collect();
        assert_eq!(body, whole);
    }

    #[tokio::test]
    async fn a_request_to_the_client_is_not_taken_for_the_response() {
        let events =
            [r#"data: {"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#];
        let (kind, _) = text(prefer_json(sse(&events)).await).await;
        assert_eq!(kind, "text/event-stream");
    }
}
