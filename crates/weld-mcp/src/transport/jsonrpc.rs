//! The JSON-RPC entry of the stdio transport: one line in, either a message
//! for rmcp or the error that answers it.
//!
//! rmcp alone drops what it cannot parse (deep nesting, invalid UTF-8, a
//! lone surrogate, a number out of range) without a word, answers a batch or
//! a bad `id` with an id-less "Invalid request", takes the last of a
//! duplicated key, and turns params it cannot read into a request for an
//! unknown method. So each line is first walked once with serde_json
//! (nothing is built but the few top-level members needed to classify it)
//! and the answer decided here:
//!
//! | the line                                   | the answer                       |
//! |--------------------------------------------|----------------------------------|
//! | blank                                      | none                             |
//! | not UTF-8, not JSON, nested over 128 deep, a number out of range, a lone surrogate | -32700 parse error |
//! | an array (a batch), or not an object       | -32600 invalid request           |
//! | an object with a string `method` and no `id` (a notification) | none, even if invalid |
//! | no `method` but `result` or `error` (a response) | none, even if invalid    |
//! | a bad `id` (not a string or an integer)    | -32600 invalid request           |
//! | a key given twice at the top level         | -32600 invalid request           |
//! | a key given twice below `params`           | -32602 invalid params, naming it |
//! | `jsonrpc` not `"2.0"`, `method` not a string | -32600 invalid request         |
//! | a line over the size cap                   | -32600 invalid request           |
//!
//! An error carries the request's `id` whenever it can be read (for a line
//! that is not JSON, from its text, as [`super::line_cap::find_id`] does for
//! oversized lines), so the client waiting for it gets its answer; when it
//! cannot, the `id` is absent, as MCP specifies and rmcp writes it. A
//! notification or a response is never answered: JSON-RPC forbids it, and
//! answering what the peer sent as an answer risks an endless exchange.
//!
//! serde_json limits nesting to 128 levels, and nothing here recurses
//! otherwise, so a deeply nested line is refused before anything (rmcp
//! included) walks it recursively.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use rmcp::model::{ClientJsonRpcMessage, ErrorCode, ErrorData, RequestId};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What to do with one line.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Hand it to rmcp.
    Message(Box<ClientJsonRpcMessage>),
    /// Answer with this error and read on.
    Refuse {
        id: Option<RequestId>,
        error: ErrorData,
    },
    /// Nothing to answer (a blank line, or a notification or response that
    /// cannot be used); the reason is logged.
    Skip(String),
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decides what to do with `line` (without its newline).
pub(crate) fn check(line: &[u8]) -> Entry {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // RFC 8259 lets a parser ignore a byte order mark; rmcp does too.
    let line = line.strip_prefix(BOM).unwrap_or(line);
    if line.iter().all(|b| is_json_ws(*b)) {
        return Entry::Skip("a blank line".into());
    }
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            return parse_error(
                line,
                format!(
                    "the message is not valid UTF-8 (at byte {})",
                    e.valid_up_to()
                ),
            );
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let mut ctx = Ctx::default();
    let walk = Walk {
        ctx: &mut ctx,
        path: None,
    };
    let walked = walk
        .deserialize(&mut de)
        .and_then(|top| de.end().map(|()| top));
    match walked {
        Err(e) => parse_error(line, describe(&e)),
        Ok(Scalar::Object) => ctx.envelope.decide(text),
        Ok(Scalar::Array) => invalid_request(
            None,
            "JSON-RPC batches are not supported (MCP removed them in 2025-06-18): send each \
             message on its own line",
        ),
        Ok(other) => invalid_request(
            None,
            format!("a JSON-RPC message is a JSON object, not {other}"),
        ),
    }
}

/// The answer to a line longer than `cap`, of which `prefix` was kept.
pub(crate) fn too_large(prefix: &[u8], cap: usize) -> Entry {
    invalid_request(
        id_in_text(prefix),
        format!(
            "the request is larger than weld's {cap}-byte limit and was not read \
             (raise it with `weld serve --max-request-bytes`)"
        ),
    )
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn parse_error(line: &[u8], message: String) -> Entry {
    Entry::Refuse {
        id: id_in_text(line),
        error: ErrorData::new(ErrorCode::PARSE_ERROR, message, None),
    }
}

fn invalid_request(id: Option<RequestId>, message: impl Into<String>) -> Entry {
    Entry::Refuse {
        id,
        error: ErrorData::invalid_request(message.into(), None),
    }
}

/// The id of a line that could not be parsed, read from its text, when it
/// is one rmcp would accept.
fn id_in_text(line: &[u8]) -> Option<RequestId> {
    let raw = super::line_cap::find_id(line)?;
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    serde_json::from_value(value).ok()
}

/// A serde_json error as the client should read it.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let hint = if text.starts_with("recursion limit exceeded") {
        " (weld reads at most 128 levels of nesting)"
    } else if error.is_eof() {
        "; send each message whole on one line"
    } else {
        ""
    };
    format!("the message is not valid JSON: {text}{hint}")
}

/// What the top-level members say about a message.
#[derive(Default)]
struct Envelope {
    id: Option<Scalar>,
    method: Option<Scalar>,
    jsonrpc: Option<Scalar>,
    has_result: bool,
    has_error: bool,
    /// The first key given twice.
    duplicate: Option<Duplicate>,
}

struct Duplicate {
    /// Where, e.g. `params.arguments`; empty at the top level.
    path: String,
    key: String,
}

impl Envelope {
    /// Takes note of a top-level member.
    fn read(&mut self, key: &str, value: Scalar) {
        match key {
            "id" => self.id = Some(value),
            "method" => self.method = Some(value),
            "jsonrpc" => self.jsonrpc = Some(value),
            "result" => self.has_result = true,
            "error" => self.has_error = true,
            _ => {}
        }
    }

    fn decide(self, text: &str) -> Entry {
        let has_id = self.id.is_some();
        let method_is_string = matches!(self.method, Some(Scalar::Str(_)));
        if method_is_string && !has_id {
            return self.pass_unanswered(text, "notification");
        }
        if self.method.is_none() && (self.has_result || self.has_error) {
            return self.pass_unanswered(text, "response");
        }
        let id = match &self.id {
            None => None,
            Some(Scalar::Str(s)) => Some(RequestId::String(s.as_str().into())),
            Some(Scalar::Number(n)) => {
                serde_json::from_value(serde_json::Value::Number(n.clone())).ok()
            }
            Some(_) => None,
        };
        // A duplicated `id` makes the id itself uncertain: answer without one.
        let id = id.filter(|_| {
            self.duplicate
                .as_ref()
                .is_none_or(|d| !(d.path.is_empty() && d.key == "id"))
        });
        if id.is_none() {
            let message = match &self.id {
                None => "the message has no `id` (a request needs one) and no string `method` \
                         (a notification needs one)"
                    .to_string(),
                Some(Scalar::Number(n)) => format!(
                    "`id` must be a string or an integer from -2^63 to 2^63-1, not {}",
                    quote(&n.to_string())
                ),
                Some(Scalar::Str(_)) => "`id` is given twice".to_string(),
                Some(other) => format!("`id` must be a string or an integer, not {other}"),
            };
            return invalid_request(None, message);
        }
        if let Some(duplicate) = &self.duplicate {
            if duplicate.path.is_empty() {
                return invalid_request(
                    id,
                    format!(
                        "the message has the key {} twice; give each key once",
                        quote(&duplicate.key)
                    ),
                );
            }
            return Entry::Refuse {
                id,
                error: ErrorData::invalid_params(
                    format!(
                        "`{}` has the key {} twice; give each key once",
                        duplicate.path,
                        quote(&duplicate.key)
                    ),
                    None,
                ),
            };
        }
        if !matches!(&self.jsonrpc, Some(Scalar::Str(v)) if v == "2.0") {
            return invalid_request(id, "`jsonrpc` must be \"2.0\"");
        }
        match &self.method {
            None => return invalid_request(id, "the request has no `method`"),
            Some(Scalar::Str(_)) => {}
            Some(other) => {
                return invalid_request(id, format!("`method` must be a string, not {other}"));
            }
        }
        if self.has_result || self.has_error {
            return invalid_request(
                id,
                "a request has no `result` or `error` (those are for responses)",
            );
        }
        match serde_json::from_str::<ClientJsonRpcMessage>(text) {
            Ok(message) => Entry::Message(Box::new(message)),
            Err(e) => invalid_request(id, format!("the request cannot be read: {e}")),
        }
    }

    /// A notification or response: handed on when it is well-formed,
    /// dropped otherwise, never answered.
    fn pass_unanswered(self, text: &str, what: &str) -> Entry {
        if let Some(duplicate) = &self.duplicate {
            // An approval (an elicitation response) with a key given twice is
            // ambiguous: acting on either reading could be the wrong one.
            return Entry::Skip(format!(
                "a {what} with the key {} twice in `{}`",
                quote(&duplicate.key),
                duplicate.path
            ));
        }
        match serde_json::from_str::<ClientJsonRpcMessage>(text) {
            Ok(message) => Entry::Message(Box::new(message)),
            Err(e) => Entry::Skip(format!("a {what} that cannot be read: {e}")),
        }
    }
}

/// Up to 64 characters of client text, quoted, with control characters
/// escaped so an error message (which is also logged) stays one line.
fn quote(text: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// A value as much as the envelope needs of it.
enum Scalar {
    Null,
    Bool,
    Number(serde_json::Number),
    Str(String),
    Array,
    Object,
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scalar::Null => "null",
            Scalar::Bool => "a boolean",
            Scalar::Number(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        })
    }
}

/// What the walk of one line keeps.
#[derive(Default)]
struct Ctx<'de> {
    envelope: Envelope,
    /// The keys of the objects being walked, outermost first: one buffer
    /// for the line rather than one per object.
    keys: Vec<Cow<'de, str>>,
}

/// The keys of one object so far: its stretch of [`Ctx::keys`], moved to a
/// hash set once long (so a huge object costs linear time, not quadratic).
struct Keys<'de> {
    start: usize,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Keys<'de> {
    const FEW: usize = 16;

    fn new(stack: &[Cow<'de, str>]) -> Self {
        Self {
            start: stack.len(),
            many: None,
        }
    }

    /// Adds `key`; gives it back when it was there already.
    fn insert(
        &mut self,
        stack: &mut Vec<Cow<'de, str>>,
        key: Cow<'de, str>,
    ) -> Result<(), Cow<'de, str>> {
        if let Some(many) = &mut self.many {
            return if many.contains(&key) {
                Err(key)
            } else {
                many.insert(key);
                Ok(())
            };
        }
        if stack[self.start..].contains(&key) {
            return Err(key);
        }
        stack.push(key);
        if stack.len() - self.start > Self::FEW {
            self.many = Some(stack.drain(self.start..).collect());
        }
        Ok(())
    }

    /// Gives the object's stretch of `stack` back.
    fn finish(self, stack: &mut Vec<Cow<'de, str>>) {
        stack.truncate(self.start);
    }
}

/// Where a value is, as a linked list through the walker's stack frames
/// (nothing allocated unless a duplicate is found).
struct Node<'p> {
    seg: Seg<'p>,
    parent: Option<&'p Node<'p>>,
}

enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

fn render(mut node: Option<&Node<'_>>) -> String {
    let mut segs = Vec::new();
    while let Some(n) = node {
        segs.push(&n.seg);
        node = n.parent;
    }
    let mut out = String::new();
    for seg in segs.iter().rev() {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let quoted = quote(k);
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// An object key, borrowed from the line unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Walks a value (the whole line when `path` is `None`), recording the
/// first duplicated key and the top-level members the envelope reads;
/// returns only what the envelope needs of the value.
struct Walk<'a, 'p, 'de> {
    ctx: &'a mut Ctx<'de>,
    path: Option<&'p Node<'p>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, 'de> {
    type Value = Scalar;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Scalar, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, 'de> {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        // serde_json never yields a non-finite number (1e400 is an error).
        Ok(serde_json::Number::from_f64(v).map_or(Scalar::Null, Scalar::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(if self.is_kept() {
            v.to_owned()
        } else {
            String::new()
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        let mut index = 0;
        loop {
            let node = Node {
                seg: Seg::Index(index),
                parent: self.path,
            };
            let walk = Walk {
                ctx: &mut *self.ctx,
                path: Some(&node),
            };
            if seq.next_element_seed(walk)?.is_none() {
                return Ok(Scalar::Array);
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        let mut keys = Keys::new(&self.ctx.keys);
        while let Some(key) = map.next_key_seed(Key)? {
            let node = Node {
                seg: Seg::Key(&key),
                parent: self.path,
            };
            let value = map.next_value_seed(Walk {
                ctx: &mut *self.ctx,
                path: Some(&node),
            })?;
            if self.path.is_none() {
                self.ctx.envelope.read(&key, value);
            }
            if let Err(key) = keys.insert(&mut self.ctx.keys, key)
                && self.ctx.envelope.duplicate.is_none()
            {
                self.ctx.envelope.duplicate = Some(Duplicate {
                    path: render(self.path),
                    key: key.into_owned(),
                });
            }
        }
        keys.finish(&mut self.ctx.keys);
        Ok(Scalar::Object)
    }
}

impl Walk<'_, '_, '_> {
    /// Whether this is a top-level member whose string the envelope reads.
    fn is_kept(&self) -> bool {
        self.path.is_some_and(|node| {
            node.parent.is_none() && matches!(node.seg, Seg::Key("id" | "method" | "jsonrpc"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code, id and message of the error `line` is answered with.
    fn refused(line: &[u8]) -> (i32, Option<RequestId>, String) {
        match check(line) {
            Entry::Refuse { id, error } => (error.code.0, id, error.message.into_owned()),
            other => panic!(
                "{} was not refused: {other:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }

    fn num(n: i64) -> Option<RequestId> {
        Some(RequestId::Number(n))
    }

    #[test]
    fn a_well_formed_request_notification_and_response_are_handed_on() {
        for line in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#[..],
            br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","arguments":{"a":[1,{"b":2}]}}}"#,
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            br#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r",
        ] {
            assert!(
                matches!(check(line), Entry::Message(_)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn blank_lines_are_skipped() {
        for line in [&b""[..], b"   ", b"\r", b"\t \r"] {
            assert!(matches!(check(line), Entry::Skip(_)));
        }
    }

    #[test]
    fn a_line_that_is_not_json_is_a_parse_error_with_the_id_when_it_can_be_read() {
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (code, id, message) = refused(deep.as_bytes());
        assert_eq!((code, id), (-32700, num(1)));
        assert!(message.contains("128 levels"), "{message}");

        let (code, id, message) =
            refused(br#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\ud800"}}"#);
        assert_eq!((code, id), (-32700, num(3)));
        assert!(message.contains("escape"), "{message}");

        let (code, id, message) = refused(
            b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}",
        );
        assert_eq!((code, id), (-32700, num(4)));
        assert!(message.contains("UTF-8"), "{message}");

        let (code, id, message) =
            refused(br#"{"jsonrpc":"2.0","method":"ping","params":{"x":1e400},"id":"five"}"#);
        assert_eq!((code, id), (-32700, Some(RequestId::String("five".into()))));
        assert!(message.contains("out of range"), "{message}");

        let (code, id, message) = refused(br#"{"jsonrpc":"2.0","id":6,"method":"#);
        assert_eq!((code, id), (-32700, num(6)));
        assert!(message.contains("one line"), "{message}");

        assert_eq!(refused(b"}{").0, -32700);
        assert_eq!(refused(br#"{"id":1e400,"method":"ping"}"#).1, None);
    }

    #[test]
    fn batches_and_non_objects_are_invalid_requests_without_an_id() {
        let (code, id, message) = refused(br#"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#);
        assert_eq!((code, id), (-32600, None));
        assert!(message.contains("batches"), "{message}");
        assert_eq!(refused(b"[]").0, -32600);
        let (code, _, message) = refused(b"5");
        assert_eq!(code, -32600);
        assert!(message.contains("not a number"), "{message}");
    }

    #[test]
    fn an_id_that_is_not_a_string_or_an_integer_is_an_invalid_request() {
        for (line, shown) in [
            (&br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#[..], "1.5"),
            (
                br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#,
                "18446744073709551615",
            ),
            (br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, "null"),
            (br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, "an object"),
        ] {
            let (code, id, message) = refused(line);
            assert_eq!((code, id), (-32600, None));
            assert!(message.contains(shown), "{message}");
        }
        // rmcp reads an integral float as the integer; so does weld.
        assert!(matches!(
            check(br#"{"jsonrpc":"2.0","id":2.0,"method":"ping"}"#),
            Entry::Message(_)
        ));
    }

    #[test]
    fn a_duplicated_key_is_named_with_where_it_is() {
        let (code, id, message) = refused(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","arguments":{"text":"a","text":"b"}}}"#,
        );
        assert_eq!((code, id), (-32602, num(7)));
        assert!(
            message.contains("`params.arguments` has the key `text` twice"),
            "{message}"
        );

        let (code, id, message) = refused(
            br#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        );
        assert_eq!((code, id), (-32602, num(8)));
        assert!(
            message.contains("`params` has the key `name` twice"),
            "{message}"
        );

        let (_, _, message) =
            refused(br#"{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":[0,{"k":1,"k":2}]}}"#);
        assert!(
            message.contains("`params.a[1]` has the key `k`"),
            "{message}"
        );

        let (code, id, message) =
            refused(br#"{"jsonrpc":"2.0","id":10,"method":"ping","method":"tools/list"}"#);
        assert_eq!((code, id), (-32600, num(10)));
        assert!(message.contains("`method` twice"), "{message}");

        // Which id would be answered is uncertain: none is.
        let (code, id, _) = refused(br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#);
        assert_eq!((code, id), (-32600, None));
    }

    #[test]
    fn many_keys_are_checked_in_linear_time() {
        let mut line = String::from(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"#);
        for i in 0..200_000 {
            line.push_str(&format!("\"k{i}\":0,"));
        }
        line.push_str(r#""k7":1}}"#);
        let (code, _, message) = refused(line.as_bytes());
        assert_eq!(code, -32602);
        assert!(message.contains("`k7`"), "{message}");
    }

    #[test]
    fn notifications_and_responses_are_never_answered() {
        for line in [
            &br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"a":1,"a":2}}"#[..],
            br#"{"jsonrpc":"1.0","method":"notifications/x"}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept","action":"decline"}}"#,
            br#"{"id":1,"error":5}"#,
        ] {
            assert!(
                matches!(check(line), Entry::Skip(_) | Entry::Message(_)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn other_malformed_requests_say_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, "\"2.0\""),
            (br#"{"id":1,"method":"ping"}"#, "\"2.0\""),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                "`method` must be a string",
            ),
            (br#"{"jsonrpc":"2.0","id":1}"#, "no `method`"),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"x","result":1}"#,
                "responses",
            ),
        ];
        for (line, says) in cases {
            let (code, id, message) = refused(line);
            assert_eq!((code, id), (-32600, num(1)));
            assert!(message.contains(says), "{message}");
        }
        let (code, id, _) = refused(br#"{"jsonrpc":"2.0"}"#);
        assert_eq!((code, id), (-32600, None));
    }

    #[test]
    fn an_oversized_request_is_refused_with_its_id() {
        let (code, id, message) = match too_large(br#"{"jsonrpc":"2.0","id":12,"params":{"#, 99) {
            Entry::Refuse { id, error } => (error.code.0, id, error.message),
            other => panic!("{other:?}"),
        };
        assert_eq!((code, id), (-32600, num(12)));
        assert!(message.contains("99-byte limit"), "{message}");
    }

    #[test]
    fn client_text_in_messages_is_quoted_on_one_line() {
        assert_eq!(quote("a\nb"), "`a\\nb`");
        assert_eq!(quote(&"x".repeat(100)).chars().count(), 64 + 3);
    }
}
