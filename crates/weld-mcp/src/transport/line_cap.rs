//! Reading stdin one bounded line at a time.
//!
//! A line longer than the cap is never held whole: once it passes the cap,
//! its start (up to [`PREFIX`] bytes, where its `id` usually is) is handed
//! out as [`Line::Oversized`] and the rest is skipped up to the newline, so a
//! client that never sends one costs a fixed amount of memory.
//!
//! Reading is cancel-safe (rmcp polls `receive` inside a `select!`): every
//! byte read is kept in `self` until a whole line has been handed out.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// How much of an oversized line is kept to find its `id`.
pub(crate) const PREFIX: usize = 64 * 1024;

/// Size of the read buffer.
const CHUNK: usize = 64 * 1024;

/// A line buffer larger than this is freed after use, so one large request
/// does not keep its memory for the rest of the session.
const KEEP: usize = 1024 * 1024;

/// One line of input, without its newline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A line within the cap.
    Complete(&'a [u8]),
    /// A line over the cap: its first bytes (at most [`PREFIX`]). The rest
    /// is skipped.
    Oversized(&'a [u8]),
}

pub(crate) struct LineReader<R> {
    inner: R,
    cap: usize,
    /// Read buffer; `buf[start..end]` is not handled yet.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The current line, when it spans reads (a line found whole in `buf`
    /// is handed out from there, uncopied).
    line: Vec<u8>,
    /// The line handed out last, forgotten on the next call (not before:
    /// it is borrowed until then).
    handed: Handed,
    /// Skipping the rest of an oversized line, up to its newline.
    discarding: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            cap,
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            line: Vec::new(),
            handed: Handed::Nothing,
            discarding: false,
        }
    }

    /// The next line; `None` at the end of input. A line is handed out as
    /// [`Line::Oversized`] as soon as it passes the cap, before its newline
    /// (so even a client that never ends it gets its answer). An
    /// unterminated last line within the cap is dropped: the client that
    /// would read its answer has gone.
    ///
    /// # Errors
    ///
    /// When reading fails.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.release();
        // Find where the next line ends, reading as needed; the line is
        // borrowed from `self` only after the last await.
        let found = loop {
            match self.scan() {
                Some(found) => break found,
                None => {
                    if !poll_fn(|cx| self.fill(cx)).await? {
                        return Ok(None);
                    }
                }
            }
        };
        Ok(Some(match found {
            Found::InBuffer(len) => {
                self.handed = Handed::InBuffer(len + 1);
                Line::Complete(&self.buf[self.start..self.start + len])
            }
            Found::Collected => {
                self.handed = Handed::Collected;
                Line::Complete(&self.line)
            }
            Found::Oversized => {
                self.handed = Handed::Collected;
                Line::Oversized(&self.line)
            }
        }))
    }

    /// Bytes held for the line being read, besides the fixed read buffer:
    /// at most [`Self::held_limit`], whatever the input.
    pub(crate) fn held(&self) -> usize {
        self.line.capacity()
    }

    /// What [`Self::held`] never exceeds: a line grows to one byte past the
    /// cap, and a `Vec` at most doubles what it needs.
    pub(crate) fn held_limit(&self) -> usize {
        2 * (self.cap + 1) + 64
    }

    /// Forgets the line handed out last. A partial line collected by a
    /// call that was cancelled is kept.
    fn release(&mut self) {
        match std::mem::replace(&mut self.handed, Handed::Nothing) {
            Handed::Nothing => {}
            Handed::InBuffer(n) => self.start += n,
            Handed::Collected if self.line.capacity() > KEEP => self.line = Vec::new(),
            Handed::Collected => self.line.clear(),
        }
    }

    /// Handles buffered input up to the end of the next line, if it is
    /// there; otherwise takes all of it (so the buffer is empty).
    fn scan(&mut self) -> Option<Found> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let newline = pending.iter().position(|b| *b == b'\n');
            if self.discarding {
                match newline {
                    None => {
                        self.start = self.end;
                        return None;
                    }
                    Some(i) => {
                        self.start += i + 1;
                        self.discarding = false;
                        continue;
                    }
                }
            }
            return match newline {
                Some(i) if self.line.is_empty() && i <= self.cap => Some(Found::InBuffer(i)),
                Some(i) if self.line.len() + i <= self.cap => {
                    self.line.extend_from_slice(&pending[..i]);
                    self.start += i + 1;
                    Some(Found::Collected)
                }
                _ => {
                    // No newline yet, or the line is over the cap: keep what
                    // fits (one byte past the cap proves it is oversized).
                    let room = (self.cap + 1).saturating_sub(self.line.len());
                    let take = pending.len().min(room);
                    self.line.extend_from_slice(&pending[..take]);
                    self.start += take;
                    if self.line.len() > self.cap {
                        self.line.truncate(PREFIX);
                        self.discarding = true;
                        Some(Found::Oversized)
                    } else {
                        None
                    }
                }
            };
        }
    }

    /// Reads more input into the (empty) buffer; `false` at the end of
    /// input.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        debug_assert_eq!(self.start, self.end, "scan leaves nothing pending");
        self.start = 0;
        self.end = 0;
        let mut read = ReadBuf::new(&mut self.buf);
        match Pin::new(&mut self.inner).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                self.end = read.filled().len();
                Poll::Ready(Ok(self.end > 0))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

enum Handed {
    Nothing,
    /// A line and its newline at `buf[start..start + n]`.
    InBuffer(usize),
    /// The line in `line`.
    Collected,
}

enum Found {
    /// A whole line of this length at `buf[start..]`.
    InBuffer(usize),
    /// A whole line in `line`.
    Collected,
    /// An oversized line's prefix in `line`.
    Oversized,
}

/// The raw JSON text of the top-level `"id"` member of a (possibly
/// truncated or malformed) JSON object, if it is a number or string within
/// `text`. Reads without recursion, however deep the text nests.
pub(crate) fn find_id(text: &[u8]) -> Option<&[u8]> {
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
            return is_scalar_id.then_some(value);
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

/// Reads bytes in pieces of varying sizes, to exercise every way a line can
/// straddle reads (tests and the fuzzing oracle).
pub(crate) struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<u8>,
    next: usize,
}

impl Chunked {
    /// Reads `data` in pieces whose sizes cycle through `sizes` (a zero, or
    /// no sizes at all, reads everything that fits).
    pub(crate) fn new(data: Vec<u8>, sizes: Vec<u8>) -> Self {
        Self {
            data,
            at: 0,
            sizes,
            next: 0,
        }
    }
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let size = match this.sizes.get(this.next % this.sizes.len().max(1)) {
            Some(&n) if n > 0 => usize::from(n),
            _ => usize::MAX,
        };
        this.next += 1;
        let rest = &this.data[this.at..];
        let n = size.min(dst.remaining()).min(rest.len());
        dst.put_slice(&rest[..n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_level_id_is_found_wherever_it_is() {
        let id = |text: &[u8]| find_id(text).map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(
            id(br#"{"jsonrpc":"2.0","id":7,"method":"x"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            id(br#"{"params":{"id":1,"s":"}\"{"},"id":"a-b"}"#).as_deref(),
            Some(r#""a-b""#)
        );
        assert_eq!(id(br#"{"method":"n","params":{}}"#), None);
        assert_eq!(id(br#"{"params":{"text":"xxxxxxxx"#), None);
        assert_eq!(id(br#"{"id":null}"#), None);
        assert_eq!(id(b"not json"), None);
    }

    #[test]
    fn finding_the_id_of_a_deeply_nested_line_does_not_recurse() {
        let mut text = br#"{"params":"#.to_vec();
        text.extend(std::iter::repeat_n(b'[', 1_000_000));
        text.extend(std::iter::repeat_n(b']', 1_000_000));
        text.extend(br#","id":9}"#);
        assert_eq!(find_id(&text), Some(&b"9"[..]));
    }

    /// Every line `input` yields, as (oversized, bytes).
    async fn lines(input: &[u8], sizes: &[u8], cap: usize) -> Vec<(bool, Vec<u8>)> {
        let mut reader = LineReader::new(Chunked::new(input.to_vec(), sizes.to_vec()), cap);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.expect("read") {
            out.push(match line {
                Line::Complete(l) => (false, l.to_vec()),
                Line::Oversized(p) => (true, p.to_vec()),
            });
            assert!(reader.held() <= reader.held_limit());
        }
        out
    }

    #[tokio::test]
    async fn lines_within_the_cap_come_out_whole_however_they_are_read() {
        let input = b"{\"id\":1}\n\n{\"id\":22}\r\n{\"id\":333}\n";
        let expected = vec![
            (false, b"{\"id\":1}".to_vec()),
            (false, b"".to_vec()),
            (false, b"{\"id\":22}\r".to_vec()),
            (false, b"{\"id\":333}".to_vec()),
        ];
        for sizes in [&[][..], &[1], &[2, 3], &[7, 1, 5]] {
            assert_eq!(lines(input, sizes, 10).await, expected, "{sizes:?}");
        }
    }

    #[tokio::test]
    async fn an_oversized_line_yields_its_prefix_and_the_next_line_follows() {
        let input = format!("{{\"id\":5,\"p\":\"{}\"}}\n{{\"id\":6}}\n", "x".repeat(100));
        for sizes in [&[][..], &[1], &[3, 64]] {
            let got = lines(input.as_bytes(), sizes, 20).await;
            assert_eq!(got.len(), 2, "{sizes:?}");
            assert!(got[0].0);
            assert_eq!(find_id(&got[0].1), Some(&b"5"[..]));
            assert_eq!(got[1], (false, b"{\"id\":6}".to_vec()));
        }
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_cap_is_complete_and_one_more_byte_is_not() {
        let got = lines(b"12345\n123456\n", &[], 5).await;
        assert_eq!(
            got,
            vec![(false, b"12345".to_vec()), (true, b"123456".to_vec())]
        );
    }

    #[tokio::test]
    async fn a_line_past_the_cap_is_handed_out_before_its_newline() {
        let got = lines(b"{\"id\":3,\"x\":\"0123456789", &[4], 10).await;
        assert_eq!(got, vec![(true, b"{\"id\":3,\"x\"".to_vec())]);
    }

    #[tokio::test]
    async fn an_unterminated_last_line_is_dropped() {
        assert_eq!(
            lines(b"{\"id\":1}\n{\"id\":2", &[3], 100).await,
            vec![(false, b"{\"id\":1}".to_vec())]
        );
    }

    #[tokio::test]
    async fn a_line_longer_than_the_read_buffer_is_collected() {
        let long = "y".repeat(3 * CHUNK + 17);
        let input = format!("{long}\nz\n");
        let got = lines(input.as_bytes(), &[], 4 * CHUNK).await;
        assert_eq!(
            got,
            vec![(false, long.into_bytes()), (false, b"z".to_vec())]
        );
    }
}
