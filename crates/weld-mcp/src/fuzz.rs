//! The fuzzing oracle of the stdio entry, kept here so `cargo test` runs it
//! too (the cargo-fuzz target `stdio_entry` in `fuzz/` is glue over
//! [`fuzz_stdio`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::RequestId;
use serde_json::Value;
use tokio::io::AsyncWrite;

use crate::transport::line_cap::{Chunked, Line, LineReader, PREFIX};
use crate::transport::stdio::StdioTransport;
use weld_host::{Audit, Catalog, LiveCatalog};

use crate::WeldServer;

/// The request the harness starts each session with.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":"weld-fuzz-init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}"#;

/// Feeds `data` to weld's stdio entry and checks what must hold of any
/// input. The first three bytes choose how stdin is read: two read sizes
/// (cycled; 0 reads all there is) and the line cap (256 to 1276 bytes:
/// room for the harness's `initialize`, and oversized lines are common). The rest is stdin.
///
/// - `LineReader` yields exactly the input's lines (a line over the cap as
///   its prefix), however the input is split into reads, and never holds
///   more than its limit.
/// - A whole session with rmcp and [`WeldServer`] (no tools; started with an
///   `initialize` the harness sends first) ends when stdin does, and every
///   line it writes is a well-formed JSON-RPC response: an object with
///   `"jsonrpc":"2.0"`, exactly one of `result` and `error`, and an `id`
///   that is absent, an integer or a string.
/// - Every line that expects an answer gets exactly one, and no other line
///   gets any: the number of answers lies between the lines that must be
///   answered and those that may be (a request whose id a
///   `notifications/cancelled` names may go unanswered), and each `id`
///   answered is one a line carried (or, for a line that is not JSON, one
///   its text could name).
///
/// What expects an answer is decided here from a plain `serde_json::Value`,
/// by the rules of JSON-RPC as `crate::transport::jsonrpc` documents them, not by
/// `crate::transport::jsonrpc`'s own walk.
///
/// # Panics
/// When one of those does not hold: that is the bug the fuzzer looks for.
pub fn fuzz_stdio(data: &[u8]) {
    let [a, b, c, input @ ..] = data else { return };
    let sizes = vec![*a, *b];
    let cap = 256 + usize::from(*c) * 4;
    let input = without_listen(input);
    let lines = runtime().block_on(read_lines(&input, &sizes, cap));
    check_lines(&input, &lines, cap);
    let output = runtime().block_on(session(&input, &sizes, cap));
    check_session(&input, &output, cap);
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The lines of `input` as [`LineReader`] documents them: an unterminated
/// last one is not a line, unless it is already past the cap (a line is
/// refused as soon as it is).
fn split(input: &[u8], cap: usize) -> impl Iterator<Item = &[u8]> {
    let mut pieces: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    if pieces.last().is_some_and(|tail| tail.len() <= cap) {
        pieces.pop();
    }
    pieces.into_iter()
}

/// `input` without the lines asking for `subscriptions/listen`: such a
/// request is answered only when cancelled, and would hold each session
/// open for rmcp's five-second drain.
fn without_listen(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for piece in input.split_inclusive(|b| *b == b'\n') {
        let line = piece.strip_suffix(b"\n").unwrap_or(piece);
        let listen = matches!(
            parse(line),
            Some(Value::Object(m)) if m.get("method").and_then(Value::as_str) == Some("subscriptions/listen")
        );
        if !listen {
            out.extend_from_slice(piece);
        }
    }
    out
}

async fn read_lines(input: &[u8], sizes: &[u8], cap: usize) -> Vec<(bool, Vec<u8>)> {
    let mut reader = LineReader::new(Chunked::new(input.to_vec(), sizes.to_vec()), cap);
    let mut lines = Vec::new();
    loop {
        let line = match reader
            .next_line()
            .await
            .expect("reading a slice cannot fail")
        {
            None => return lines,
            Some(Line::Complete(line)) => (false, line.to_vec()),
            Some(Line::Oversized(prefix)) => (true, prefix.to_vec()),
        };
        lines.push(line);
        assert!(
            reader.held() <= reader.held_limit(),
            "the line reader holds {} bytes, more than its limit of {}",
            reader.held(),
            reader.held_limit()
        );
    }
}

fn check_lines(input: &[u8], lines: &[(bool, Vec<u8>)], cap: usize) {
    let expected: Vec<(bool, Vec<u8>)> = split(input, cap)
        .map(|line| {
            if line.len() > cap {
                (true, line[..line.len().min(cap + 1).min(PREFIX)].to_vec())
            } else {
                (false, line.to_vec())
            }
        })
        .collect();
    assert_eq!(lines, expected, "the line reader changed the input's lines");
}

/// Everything a session over `input` writes to stdout.
async fn session(input: &[u8], sizes: &[u8], cap: usize) -> String {
    let mut stdin = format!("{INITIALIZE}\n").into_bytes();
    stdin.extend_from_slice(input);
    let stdout = Collect::default();
    let transport = StdioTransport::new(Chunked::new(stdin, sizes.to_vec()), stdout.clone(), cap);
    let server = WeldServer::new(
        Arc::new(LiveCatalog::new(Catalog::build(Vec::new()))),
        Audit::disabled(),
    );
    let run = async {
        match server.serve(transport).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => panic!("the session did not start: {error}"),
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the session did not end within a minute of its input");
    let bytes = stdout.0.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8(bytes.clone()).expect("weld writes UTF-8")
}

/// What a line must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    One,
    /// A request the input cancels.
    AtMostOne,
}

/// How many lines carried each id: in their `id` member, or for a line
/// that is not JSON (or too long to read), where the text puts one.
type Carried = HashMap<RequestId, usize>;

fn check_session(input: &[u8], output: &str, cap: usize) {
    let mut answers = output.lines();
    let first = answers.next().expect("initialize is answered");
    let first: Value = serde_json::from_str(first).expect("the first answer is JSON");
    assert_eq!(first["id"], "weld-fuzz-init", "{first}");
    assert!(first.get("result").is_some(), "initialize failed: {first}");

    let cancelled = cancelled_ids(input, cap);
    let (mut must, mut may) = (0usize, 0usize);
    let mut carried = Carried::new();
    for line in split(input, cap) {
        match expect(line, cap, &cancelled, &mut carried) {
            Expect::Nothing => {}
            Expect::One => must += 1,
            Expect::AtMostOne => may += 1,
        }
    }

    let mut answered: HashMap<RequestId, usize> = HashMap::new();
    let mut count = 0;
    for answer in answers {
        count += 1;
        let id = well_formed(answer);
        if let Some(id) = id {
            *answered.entry(id).or_default() += 1;
        }
    }
    assert!(
        (must..=must + may).contains(&count),
        "{count} answers to lines of which {must} must and {may} more may be answered\n\
         output:\n{output}"
    );
    for (id, n) in answered {
        let lines = carried.get(&id).copied().unwrap_or(0);
        assert!(
            n <= lines,
            "id {id} answered {n} times, carried by {lines} line(s)\noutput:\n{output}"
        );
    }
}

/// Asserts `answer` is a well-formed JSON-RPC response; returns its id.
fn well_formed(answer: &str) -> Option<RequestId> {
    let value: Value = serde_json::from_str(answer)
        .unwrap_or_else(|e| panic!("an answer is not JSON ({e}): {answer}"));
    let Value::Object(object) = &value else {
        panic!("an answer is not an object: {answer}")
    };
    assert_eq!(object.get("jsonrpc"), Some(&Value::from("2.0")), "{answer}");
    assert!(
        object.contains_key("result") != object.contains_key("error"),
        "an answer needs exactly one of result and error: {answer}"
    );
    if let Some(error) = object.get("error") {
        assert!(error["code"].is_i64(), "{answer}");
        assert!(error["message"].is_string(), "{answer}");
    }
    match object.get("id") {
        None => None,
        Some(id @ (Value::Number(_) | Value::String(_))) => {
            let id: RequestId = serde_json::from_value(id.clone())
                .unwrap_or_else(|e| panic!("an answer's id is not an id ({e}): {answer}"));
            Some(id)
        }
        Some(other) => panic!("an answer's id is {other}: {answer}"),
    }
}

/// `line` without what a reader may ignore: a trailing carriage return
/// and a byte order mark.
fn bare(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

fn parse(line: &[u8]) -> Option<Value> {
    serde_json::from_slice(bare(line)).ok()
}

/// The ids the input's `notifications/cancelled` name.
fn cancelled_ids(input: &[u8], cap: usize) -> Vec<RequestId> {
    split(input, cap)
        .filter_map(parse)
        .filter(|v| v.get("method").and_then(Value::as_str) == Some("notifications/cancelled"))
        .filter_map(|v| serde_json::from_value(v.get("params")?.get("requestId")?.clone()).ok())
        .collect()
}

/// Counts the id the text of a line that cannot be parsed puts first at
/// its top level, read as [`crate::transport::line_cap::find_id`] documents.
fn carry_text_id(text: &[u8], carried: &mut Carried) {
    let id = crate::transport::line_cap::find_id(text)
        .and_then(|raw| serde_json::from_slice::<Value>(raw).ok())
        .and_then(|value| serde_json::from_value::<RequestId>(value).ok());
    if let Some(id) = id {
        *carried.entry(id).or_default() += 1;
    }
}

fn expect(line: &[u8], cap: usize, cancelled: &[RequestId], carried: &mut Carried) -> Expect {
    if line.len() > cap {
        carry_text_id(&line[..line.len().min(cap + 1).min(PREFIX)], carried);
        return Expect::One;
    }
    if bare(line)
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Expect::Nothing;
    }
    let Some(value) = parse(line) else {
        carry_text_id(bare(line), carried);
        return Expect::One;
    };
    let Value::Object(object) = value else {
        return Expect::One;
    };
    let method = object.get("method");
    let id = object.get("id");
    if method.is_some_and(Value::is_string) && id.is_none() {
        return Expect::Nothing;
    }
    if method.is_none() && (object.contains_key("result") || object.contains_key("error")) {
        return Expect::Nothing;
    }
    let id = id.and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok());
    if let Some(id) = id {
        *carried.entry(id.clone()).or_default() += 1;
        if cancelled.contains(&id) {
            return Expect::AtMostOne;
        }
    }
    Expect::One
}

/// An in-memory stdout.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<u8>>>);

impl AsyncWrite for Collect {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of the fuzz target, each seed with a few ways of
    /// reading it.
    #[test]
    fn the_oracle_holds_for_the_seed_corpus() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/stdio_entry");
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed corpus") {
            let seed = std::fs::read(entry.expect("entry").path()).expect("a seed");
            for prefix in [[0u8, 0, 255], [1, 3, 0], [7, 0, 16]] {
                let mut data = prefix.to_vec();
                data.extend_from_slice(&seed[3.min(seed.len())..]);
                fuzz_stdio(&data);
            }
            fuzz_stdio(&seed);
            seeds += 1;
        }
        assert!(seeds > 5, "only {seeds} seeds in {}", dir.display());
    }
}
