//! `tools/list` pages sent as the JSON text the catalog holds, over stdio.
//!
//! The catalog holds every tool's definition as compact JSON text
//! (`weld_host::catalog::SchemaText`). Sending a page through rmcp's typed
//! [`ListToolsResult`] means parsing each schema into JSON values only to
//! write them straight back out: with a thousand tools to a page, that was
//! about 8 ms of parsing and 7 ms of writing on the first `tools/list` of a
//! start (most of it the allocator touching fresh memory), against about
//! 1 ms to copy the text. So when the transport writes each message itself
//! (stdio), the handler writes a page's tools as text into a
//! [`SplicedPages`] under the request's id and answers rmcp with an empty
//! page carrying [`MARKER`] in its `_meta`; the transport, encoding that
//! answer, removes the marker and puts the text where the empty list was.
//! Everything else about the request (its span, cancellation, the era's
//! `resultType`) stays rmcp's.
//!
//! rmcp drops the answer of a request cancelled in flight, so a cancelled
//! request's text is forgotten when the cancellation arrives, and text put
//! for it after that is not kept: nothing is held for an answer that will
//! not be sent. A marked answer whose text is not there (it cannot happen)
//! is sent as an internal error, never as an empty list. The Streamable
//! HTTP transport encodes inside rmcp, so its pages are sent typed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use rmcp::model::{
    ErrorData, JsonRpcMessage, ListToolsResult, MetaObject, RequestId, ServerJsonRpcMessage,
    ServerResult,
};

/// The `_meta` key of an answer whose tools are spliced in by the
/// transport; never sent.
pub(crate) const MARKER: &str = "io.weld/spliced-page";

/// Where a page's tools sit in its answer as rmcp encodes it (empty).
const EMPTY_TOOLS: &[u8] = br#""tools":[]"#;

/// How many ids of cancelled requests are remembered (the transport never
/// lets a cancelled request's id be used again either).
const CANCELLED: usize = 1024;

/// Pages written by the handler, by the id of the request they answer,
/// until the transport sends them.
#[derive(Default)]
pub(crate) struct SplicedPages {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pages: HashMap<RequestId, Vec<u8>>,
    /// Requests cancelled in flight, oldest first (`cancelled_set` for
    /// lookups): their answers are never sent.
    cancelled: VecDeque<RequestId>,
    cancelled_set: HashSet<RequestId>,
}

impl SplicedPages {
    /// Keeps `tools` (a JSON array's text) for the answer to `id`, unless
    /// that request was cancelled.
    pub(crate) fn put(&self, id: RequestId, tools: Vec<u8>) {
        let mut inner = self.lock();
        if !inner.cancelled_set.contains(&id) {
            inner.pages.insert(id, tools);
        }
    }

    /// Drops what was kept for `id` and keeps nothing put for it later:
    /// its request was cancelled, and rmcp sends no answer to it.
    pub(crate) fn forget(&self, id: &RequestId) {
        let mut inner = self.lock();
        inner.pages.remove(id);
        if inner.cancelled.len() == CANCELLED
            && let Some(oldest) = inner.cancelled.pop_front()
        {
            inner.cancelled_set.remove(&oldest);
        }
        if inner.cancelled_set.insert(id.clone()) {
            inner.cancelled.push_back(id.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `message` as one line of JSON text: an answer marked by the handler
    /// with the page's tools spliced in, any other as it is.
    pub(crate) fn encode(&self, mut message: ServerJsonRpcMessage) -> std::io::Result<Vec<u8>> {
        let JsonRpcMessage::Response(response) = &mut message else {
            return line(&message);
        };
        let ServerResult::ListToolsResult(list) = &mut response.result else {
            return line(&message);
        };
        let Some(meta) = list.meta.as_mut() else {
            return line(&message);
        };
        if meta.remove(MARKER).is_none() {
            return line(&message);
        }
        if meta.is_empty() {
            list.meta = None;
        }
        let id = response.id.clone();
        let Some(tools) = self.lock().pages.remove(&id) else {
            return lost(id);
        };
        let mut encoded = serde_json::to_vec(&message)?;
        let mut found = encoded
            .windows(EMPTY_TOOLS.len())
            .enumerate()
            .filter(|(_, w)| *w == EMPTY_TOOLS)
            .map(|(at, _)| at);
        // `"tools":[]` cannot occur inside a JSON string (its quotes would
        // be escaped), so the one occurrence is the field; anything else
        // means rmcp encodes the answer in a way this does not know.
        let (Some(at), None) = (found.next(), found.next()) else {
            return lost(id);
        };
        let list_at = at + EMPTY_TOOLS.len() - 2;
        encoded.splice(list_at..list_at + 2, tools);
        encoded.push(b'\n');
        Ok(encoded)
    }
}

/// The answer rmcp is given for a page whose tools were put in a
/// [`SplicedPages`]: empty, marked, with the page's `next` cursor.
pub(crate) fn marked(next: Option<String>) -> ListToolsResult {
    let mut result = ListToolsResult::with_all_items(Vec::new());
    result.next_cursor = next;
    let mut meta = MetaObject::default();
    meta.insert(MARKER.into(), serde_json::Value::Bool(true));
    result.meta = Some(meta);
    result
}

/// `message` as one line of JSON text, as the stdio transport writes it.
pub(crate) fn line(message: &ServerJsonRpcMessage) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

/// The answer to `id` when its page cannot be sent: an error that says
/// what to do, never an empty list.
fn lost(id: RequestId) -> std::io::Result<Vec<u8>> {
    tracing::error!(id = ?id, "a tools/list page was lost before it was sent");
    line(&ServerJsonRpcMessage::error(
        ErrorData::internal_error(
            "weld lost this tools/list page before sending it; list again",
            None,
        ),
        Some(id),
    ))
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ListToolsResult, NumberOrString, ServerJsonRpcMessage};
    use serde_json::{Value, json};

    use super::{SplicedPages, marked};

    fn answer(id: i64, result: ListToolsResult) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(result.into(), NumberOrString::Number(id))
    }

    #[test]
    fn a_marked_answer_carries_the_kept_tools_and_no_marker() {
        let pages = SplicedPages::default();
        pages.put(
            NumberOrString::Number(7),
            br#"[{"name":"a","inputSchema":{"type":"object"}}]"#.to_vec(),
        );
        let line = pages
            .encode(answer(7, marked(Some("1000".into()))))
            .expect("encode");
        assert_eq!(line.last(), Some(&b'\n'));
        let sent: Value = serde_json::from_slice(&line).expect("one JSON line");
        assert_eq!(
            sent,
            json!({"jsonrpc": "2.0", "id": 7, "result": {
                "resultType": "complete",
                "nextCursor": "1000",
                "tools": [{"name": "a", "inputSchema": {"type": "object"}}],
            }})
        );
        assert!(pages.lock().pages.is_empty(), "sent once, then dropped");
    }

    #[test]
    fn an_id_that_spells_the_empty_list_does_not_take_the_tools() {
        let pages = SplicedPages::default();
        let id = NumberOrString::String(r#""tools":[]"#.into());
        pages.put(id.clone(), br#"[{"name":"a"}]"#.to_vec());
        let message = ServerJsonRpcMessage::response(marked(None).into(), id);
        let line = pages.encode(message).expect("encode");
        let sent: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(sent["id"], json!(r#""tools":[]"#));
        assert_eq!(sent["result"]["tools"], json!([{"name": "a"}]));
    }

    #[test]
    fn a_page_put_after_its_request_was_cancelled_is_not_kept() {
        let pages = SplicedPages::default();
        let id = NumberOrString::Number(3);
        pages.forget(&id);
        pages.put(id, b"[]".to_vec());
        assert!(pages.lock().pages.is_empty());
    }

    #[test]
    fn an_unmarked_answer_is_sent_as_it_is() {
        let pages = SplicedPages::default();
        pages.put(NumberOrString::Number(1), b"[]".to_vec());
        let plain = ListToolsResult::with_all_items(vec![]);
        let line = pages.encode(answer(1, plain)).expect("encode");
        let sent: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(sent["result"]["tools"], json!([]));
        assert_eq!(pages.lock().pages.len(), 1, "not taken by another answer");
    }

    #[test]
    fn a_marked_answer_whose_page_was_forgotten_is_an_error_not_an_empty_list() {
        let pages = SplicedPages::default();
        let id = NumberOrString::String("\"tools\":[]".into());
        pages.put(id.clone(), b"[]".to_vec());
        pages.forget(&id);
        let message = ServerJsonRpcMessage::response(marked(None).into(), id);
        let line = pages.encode(message).expect("encode");
        let sent: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(sent["id"], json!("\"tools\":[]"));
        assert!(
            sent["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("list again")),
            "{sent}"
        );
        assert!(sent.get("result").is_none());
    }
}
