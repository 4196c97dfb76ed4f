//! Raw JSON-RPC over `weld serve`'s stdin and stdout: bytes no SDK would
//! send, each of which must get exactly one answer (or, for a notification,
//! none) while the session goes on.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::common::*;

/// `weld serve` with the hostile component, spoken to line by line.
struct Raw {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Answers read that no `expect` has claimed yet.
    unclaimed: Vec<Value>,
    sentinel: u64,
}

impl Raw {
    async fn start(dirs: &Dirs, extra: &[&str]) -> Self {
        let hostile = component("hostile").display().to_string();
        let mut child = dirs
            .weld()
            .args(["serve", "--component", &hostile])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn weld serve");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut raw = Self {
            _child: child,
            stdin,
            stdout,
            unclaimed: Vec::new(),
            sentinel: 0,
        };
        raw.send(
            br#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        )
        .await;
        let init = raw.answer_to(&json!("init")).await;
        assert!(init.get("result").is_some(), "{init}");
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    async fn send(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.expect("write");
        self.stdin.write_all(b"\n").await.expect("write");
        self.stdin.flush().await.expect("flush");
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .expect("weld answered nothing within a minute")
            .expect("read stdout")
            .expect("weld closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// The answer with `id`, reading (and keeping) others until it comes.
    async fn answer_to(&mut self, id: &Value) -> Value {
        if let Some(at) = self.unclaimed.iter().position(|a| a.get("id") == Some(id)) {
            return self.unclaimed.remove(at);
        }
        loop {
            let answer = self.next().await;
            if answer.get("id") == Some(id) {
                return answer;
            }
            self.unclaimed.push(answer);
        }
    }

    /// Sends a ping and waits for its answer: everything `line`s sent before
    /// it that weld answers at once has been answered by then.
    async fn sync(&mut self) {
        self.sentinel += 1;
        let id = format!("sentinel-{}", self.sentinel);
        self.send(format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"ping"}}"#).as_bytes())
            .await;
        let pong = self.answer_to(&json!(id)).await;
        assert_eq!(pong["result"], json!({}), "{pong}");
    }

    /// The error answer with this `id` (`None`: an answer without one,
    /// which only weld's transport gives, before the next line is read).
    /// A second answer to the same line is left unclaimed, for
    /// [`Raw::nothing_else`] to find.
    async fn error_for(&mut self, id: Option<Value>) -> (i64, String) {
        self.sync().await;
        let answer = match &id {
            // A request rmcp passed on may be answered after the sentinel.
            Some(id) => self.answer_to(id).await,
            None => {
                let at = self
                    .unclaimed
                    .iter()
                    .position(|a| a.get("id").is_none())
                    .unwrap_or_else(|| panic!("no answer without an id: {:?}", self.unclaimed));
                self.unclaimed.remove(at)
            }
        };
        let code = answer["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not an error: {answer}"));
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (code, message)
    }

    /// Every answer so far has been claimed.
    async fn nothing_else(&mut self) {
        self.sync().await;
        assert!(
            self.unclaimed.is_empty(),
            "answers no line asked for: {:?}",
            self.unclaimed
        );
    }

    async fn echo(&mut self, id: u64, text: &str) -> Value {
        let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":"hostile_echo","arguments":{"text":text}}});
        self.send(call.to_string().as_bytes()).await;
        self.answer_to(&json!(id)).await
    }
}

#[tokio::test]
async fn every_malformed_line_gets_one_answer_with_its_code_and_id_and_the_session_goes_on() {
    let dirs = Dirs::new();
    let mut raw = Raw::start(&dirs, &[]).await;
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(Vec<u8>, i64, Option<Value>, &str)> = vec![
        (deep.into_bytes(), -32700, Some(json!(1)), "128 levels"),
        (
            br#"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#.to_vec(),
            -32600,
            None,
            "batches are not supported",
        ),
        (
            br#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\ud800"}}"#.to_vec(),
            -32700,
            Some(json!(3)),
            "escape",
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}".to_vec(),
            -32700,
            Some(json!(4)),
            "UTF-8",
        ),
        (
            br#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":1e400}}"#.to_vec(),
            -32700,
            Some(json!(5)),
            "out of range",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#.to_vec(),
            -32600,
            None,
            "`id` must be a string or an integer",
        ),
        (
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"hostile_echo","arguments":{"text":"a","text":"b"}}}"#.to_vec(),
            -32602,
            Some(json!(7)),
            "`params.arguments` has the key `text` twice",
        ),
        (
            br#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"hostile_echo","name":"x"}}"#.to_vec(),
            -32602,
            Some(json!(8)),
            "`params` has the key `name` twice",
        ),
        (
            br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":5}}"#.to_vec(),
            -32602,
            Some(json!(9)),
            "invalid params for `tools/call`: invalid type: integer `5`",
        ),
        (b"hello".to_vec(), -32700, None, "not valid JSON"),
    ];
    for (line, code, id, says) in cases {
        raw.send(&line).await;
        let (got, message) = raw.error_for(id.clone()).await;
        assert_eq!(got, code, "{message}");
        assert!(message.contains(says), "id {id:?}: {message}");
    }
    // Notifications are never answered, even malformed ones.
    raw.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"a":1,"a":2}}"#)
        .await;
    raw.send(br#"{"jsonrpc":"1.0","method":"notifications/whatever"}"#)
        .await;
    raw.send(b"   ").await;
    raw.nothing_else().await;
    let echo = raw.echo(100, "still here").await;
    assert_eq!(
        echo["result"]["structuredContent"],
        json!({"result": "still here"})
    );
    raw.nothing_else().await;
}

#[tokio::test]
async fn a_request_reusing_an_id_in_flight_or_cancelled_is_refused_and_the_first_is_left_alone() {
    let dirs = Dirs::new();
    let mut raw = Raw::start(&dirs, &["--timeout", "600"]).await;
    // Spins until cancelled: id 42 stays in flight.
    raw.send(
        br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"hostile_spin","arguments":{}}}"#,
    )
    .await;
    raw.send(br#"{"jsonrpc":"2.0","id":42,"method":"ping"}"#)
        .await;
    let (code, message) = raw.error_for(Some(json!(42))).await;
    assert_eq!(code, -32600, "{message}");
    assert!(
        message.contains("request id 42 is already used by a request in flight"),
        "{message}"
    );
    // The first is still running, unanswered; cancelled, it is never
    // answered, and its id stays taken (its late answer must not be taken
    // for a new request's).
    raw.nothing_else().await;
    raw.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}"#)
        .await;
    raw.send(br#"{"jsonrpc":"2.0","id":42,"method":"ping"}"#)
        .await;
    let (code, message) = raw.error_for(Some(json!(42))).await;
    assert_eq!(code, -32600, "{message}");
    assert!(
        message.contains("request id 42 was used by a request that was cancelled"),
        "{message}"
    );
    raw.nothing_else().await;
    let echo = raw.echo(43, "after").await;
    assert_eq!(
        echo["result"]["structuredContent"],
        json!({"result": "after"})
    );
}

#[tokio::test]
async fn an_oversized_request_without_a_readable_id_is_answered_without_one() {
    let dirs = Dirs::new();
    let mut raw = Raw::start(&dirs, &["--max-request-bytes", "4096"]).await;
    let line = format!(
        r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"hostile_echo","arguments":{{"text":"{}"}}}},"id":77}}"#,
        "x".repeat(5000)
    );
    raw.send(line.as_bytes()).await;
    let (code, message) = raw.error_for(None).await;
    assert_eq!(code, -32600);
    assert!(message.contains("4096-byte limit"), "{message}");
    let echo = raw.echo(78, "small").await;
    assert_eq!(
        echo["result"]["structuredContent"],
        json!({"result": "small"})
    );
    raw.nothing_else().await;
}
