//! Refusing oversized stdio requests with an answer, not silence.
//!
//! rmcp's stdio transport drops a line longer than its cap without replying,
//! so the client waits forever for a response. This reader sits between
//! stdin and rmcp: it passes lines through untouched, and when one grows past
//! the cap it stops forwarding it (rmcp then discards what it got, having
//! seen more than its own, equal, cap), ends it, and injects a small
//! `weld/request-too-large` request carrying the original request's id —
//! read from the first bytes of the line — which the handler answers with an
//! error. The oversized line is never held in memory whole.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The method of the injected request.
pub(crate) const TOO_LARGE_METHOD: &str = "weld/request-too-large";

/// How much of an oversized line is kept to find its `id`.
const PREFIX: usize = 64 * 1024;

pub(crate) struct LineCap<R> {
    inner: R,
    cap: usize,
    /// Bytes of the current line forwarded so far.
    line_len: usize,
    /// The start of the current line, for the id.
    prefix: Vec<u8>,
    /// The current line is oversized: swallow it up to its newline.
    discarding: bool,
    /// Read buffer (allocated once); `buf[start..end]` is not handled yet.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Injected bytes waiting to be read.
    injected: Vec<u8>,
    injected_at: usize,
}

impl<R> LineCap<R> {
    pub(crate) fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            cap,
            line_len: 0,
            prefix: Vec::new(),
            discarding: false,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            injected: Vec::new(),
            injected_at: 0,
        }
    }

    /// Handles buffered input; returns whether anything was written to `dst`.
    fn pump(&mut self, dst: &mut ReadBuf<'_>) -> bool {
        loop {
            if self.injected_at < self.injected.len() {
                let n = dst.remaining().min(self.injected.len() - self.injected_at);
                dst.put_slice(&self.injected[self.injected_at..self.injected_at + n]);
                self.injected_at += n;
                return true;
            }
            let pending = &self.buf[self.start..self.end];
            if pending.is_empty() {
                return false;
            }
            if self.discarding {
                match pending.iter().position(|b| *b == b'\n') {
                    None => self.start = self.end,
                    Some(i) => {
                        self.start += i + 1;
                        self.discarding = false;
                        self.line_len = 0;
                        self.injected = too_large_line(find_id(&self.prefix), self.cap);
                        self.injected_at = 0;
                        self.prefix.clear();
                    }
                }
                continue;
            }
            // Forward at most one byte past the cap, so rmcp sees the line
            // as oversized too and discards its part.
            let allowed = self.cap + 1 - self.line_len;
            let newline = pending.iter().take(allowed).position(|b| *b == b'\n');
            let run = newline.map_or(pending.len().min(allowed), |i| i + 1);
            let n = run.min(dst.remaining());
            let chunk = &pending[..n];
            dst.put_slice(chunk);
            if self.prefix.len() < PREFIX {
                let keep = (PREFIX - self.prefix.len()).min(n);
                self.prefix.extend_from_slice(&chunk[..keep]);
            }
            self.start += n;
            if newline.is_some() && n == run {
                self.line_len = 0;
                self.prefix.clear();
            } else {
                self.line_len += n;
                if self.line_len > self.cap {
                    self.discarding = true;
                }
            }
            return true;
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineCap<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.pump(dst) {
                return Poll::Ready(Ok(()));
            }
            // Everything buffered is handled: refill from the start.
            this.start = 0;
            this.end = 0;
            let mut read = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    this.end = read.filled().len();
                    if this.end == 0 {
                        return Poll::Ready(Ok(())); // EOF
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The bytes injected after an oversized line: a newline to end it (for
/// rmcp, which is discarding up to one), then — when the request had an id —
/// a request the handler refuses with a clear error.
fn too_large_line(id: Option<String>, cap: usize) -> Vec<u8> {
    let mut out = b"\n".to_vec();
    if let Some(id) = id {
        // Self-contained per-request metadata, so the request is routable in
        // both protocol eras.
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{TOO_LARGE_METHOD}","params":{{"limit":{cap},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{{"name":"weld","version":"0"}},"io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The raw JSON text of the top-level `"id"` member of a (possibly
/// truncated) JSON object, if it is a number or string within `text`.
pub(crate) fn find_id(text: &[u8]) -> Option<String> {
    let mut at = skip_ws(text, 0);
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_ws(text, at);
        match text.get(at)? {
            b'}' => return None,
            b',' => {
                at += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(text, at)?;
        let key = &text[at..key_end];
        at = skip_ws(text, key_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        at = skip_ws(text, at + 1);
        let value_end = value_end(text, at)?;
        if key == b"\"id\"" {
            let value = &text[at..value_end];
            let is_scalar_id = matches!(value.first(), Some(b'"' | b'-' | b'0'..=b'9'));
            return is_scalar_id.then(|| String::from_utf8_lossy(value).into_owned());
        }
        at = value_end;
    }
}

fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        at += 1;
    }
    at
}

/// `at` is on an opening quote; returns the index just past the closing one.
fn string_end(text: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match text.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// The index just past the JSON value starting at `at`.
fn value_end(text: &[u8], at: usize) -> Option<usize> {
    match text.get(at)? {
        b'"' => string_end(text, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = string_end(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while let Some(b) = text.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                    return Some(i);
                }
                i += 1;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_top_level_id_is_found_wherever_it_is() {
        assert_eq!(
            find_id(br#"{"jsonrpc":"2.0","id":7,"method":"x"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            find_id(br#"{"params":{"id":1,"s":"}\"{"},"id":"a-b"}"#).as_deref(),
            Some(r#""a-b""#)
        );
        assert_eq!(find_id(br#"{"method":"n","params":{}}"#), None);
        assert_eq!(find_id(br#"{"params":{"text":"xxxxxxxx"#), None);
        assert_eq!(find_id(br#"{"id":null}"#), None);
        assert_eq!(find_id(b"not json"), None);
    }

    async fn filtered(input: &[u8], cap: usize) -> String {
        let mut out = String::new();
        LineCap::new(input, cap)
            .read_to_string(&mut out)
            .await
            .expect("read");
        out
    }

    #[tokio::test]
    async fn lines_within_the_cap_pass_through_unchanged() {
        let input = "{\"id\":1}\n{\"id\":2}\n";
        assert_eq!(filtered(input.as_bytes(), 8).await, input);
    }

    #[tokio::test]
    async fn an_oversized_request_is_cut_and_answered_by_id() {
        let long = format!(
            "{{\"id\":5,\"params\":\"{}\"}}\n{{\"id\":6}}\n",
            "x".repeat(100)
        );
        let out = filtered(long.as_bytes(), 20).await;
        let lines: Vec<&str> = out.split('\n').collect();
        // rmcp sees 21 bytes (more than its cap of 20) of the long line …
        assert_eq!(lines[0].len(), 21);
        // … then the injected refusal with the same id, then the next line.
        assert!(lines[1].contains(r#""id":5"#) && lines[1].contains(TOO_LARGE_METHOD));
        assert_eq!(lines[2], r#"{"id":6}"#);
    }

    #[tokio::test]
    async fn an_oversized_notification_is_dropped_silently() {
        let long = format!(
            "{{\"method\":\"n\",\"params\":\"{}\"}}\n{{\"id\":6}}\n",
            "x".repeat(100)
        );
        let out = filtered(long.as_bytes(), 20).await;
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(lines[1], r#"{"id":6}"#);
    }
}
