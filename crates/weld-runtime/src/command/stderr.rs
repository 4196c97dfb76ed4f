//! A long-lived command's stderr, line by line into weld's log, bounded.
//!
//! A tool call's output is captured and logged once when the call ends
//! (`wasi/output.rs`); a server that runs for hours must be logged as it
//! writes, and must not be able to flood the log or grow weld's memory:
//!
//! - each line is cut at [`MAX_LINE`] bytes: it is logged when it reaches
//!   the cap (marked `cut`), and the rest of it is dropped;
//! - at most [`BURST`] lines are logged at once, refilled at [`PER_SECOND`]
//!   lines a second; lines beyond that are counted and dropped, and the
//!   count is logged with the next line that fits;
//! - the last [`TAIL`] bytes are kept, so a panic message printed just
//!   before the program trapped can say why it stopped.
//!
//! Writes are never refused: failing them would turn a chatty Rust guest's
//! `eprintln!` into a panic.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::wasi::output::Sink;

/// The longest line logged, in bytes.
pub(crate) const MAX_LINE: usize = 4 * 1024;
/// Lines logged at once before the rate limit applies.
pub(crate) const BURST: f64 = 200.0;
/// Lines a second logged, on average, after a burst.
pub(crate) const PER_SECOND: f64 = 50.0;
/// Bytes of the latest output kept for saying why the program stopped.
pub(crate) const TAIL: usize = 4 * 1024;

/// The command's stderr; clones share it.
#[derive(Clone)]
pub(crate) struct StderrLines {
    component: Arc<str>,
    inner: Arc<Mutex<Lines>>,
}

struct Lines {
    line: Vec<u8>,
    /// The current line was logged at the cap: drop the rest of it.
    discarding: bool,
    tokens: f64,
    refilled: Instant,
    /// Lines not logged since the last one that was.
    dropped: u64,
    tail: Vec<u8>,
    total: u64,
}

impl StderrLines {
    pub(crate) fn new(component: &str) -> Self {
        Self {
            component: Arc::from(component),
            inner: Arc::new(Mutex::new(Lines {
                line: Vec::new(),
                discarding: false,
                tokens: BURST,
                refilled: Instant::now(),
                dropped: 0,
                tail: Vec::new(),
                total: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        // A poisoned lock only means a writer panicked mid-append; the
        // buffers are still valid bytes.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The latest output (lossy UTF-8), for a panic message.
    pub(crate) fn tail(&self) -> String {
        String::from_utf8_lossy(&self.lock().tail).into_owned()
    }

    /// Bytes written so far.
    pub(crate) fn total(&self) -> u64 {
        self.lock().total
    }

    /// Logs what is left of an unfinished line (the program ended).
    pub(crate) fn finish(&self) {
        let mut lines = self.lock();
        if !lines.line.is_empty() {
            lines.emit(&self.component, false);
        }
    }

    fn append(&self, mut bytes: &[u8]) {
        let mut lines = self.lock();
        lines.total += bytes.len() as u64;
        lines.keep_tail(bytes);
        while !bytes.is_empty() {
            let end = bytes.iter().position(|b| *b == b'\n');
            let (part, rest) = match end {
                Some(at) => (&bytes[..at], &bytes[at + 1..]),
                None => (bytes, &[][..]),
            };
            if lines.discarding {
                lines.discarding = end.is_none();
            } else {
                let room = MAX_LINE.saturating_sub(lines.line.len());
                let keep = room.min(part.len());
                lines.line.extend_from_slice(&part[..keep]);
                if part.len() > room {
                    lines.emit(&self.component, true);
                    lines.discarding = end.is_none();
                } else if end.is_some() {
                    lines.emit(&self.component, false);
                }
            }
            bytes = rest;
        }
    }
}

impl Lines {
    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(TAIL)..];
        let excess = (self.tail.len() + bytes.len()).saturating_sub(TAIL);
        self.tail.drain(..excess);
        self.tail.extend_from_slice(bytes);
    }

    /// Logs the current line (`cut` at the cap) if the rate allows, else
    /// counts it.
    fn emit(&mut self, component: &str, cut: bool) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        self.refilled = now;
        let line = std::mem::take(&mut self.line);
        if self.tokens < 1.0 {
            self.dropped += 1;
            return;
        }
        self.tokens -= 1.0;
        let dropped_lines = std::mem::take(&mut self.dropped);
        let text = String::from_utf8_lossy(&line);
        tracing::info!(
            target: "weld::guest",
            component,
            stream = "stderr",
            cut,
            dropped_lines,
            "{}",
            text.trim_end_matches('\r')
        );
    }
}

impl Sink for StderrLines {
    fn append(&self, bytes: &[u8]) {
        StderrLines::append(self, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_and_the_tail_keeps_the_latest_bytes() {
        let lines = StderrLines::new("c");
        lines.append(&vec![b'x'; MAX_LINE + 10]);
        lines.append(b"\nend\n");
        let inner = lines.lock();
        assert!(inner.line.is_empty(), "every line was emitted");
        assert!(!inner.discarding, "the newline ended the cut line");
        assert_eq!(inner.total, (MAX_LINE + 15) as u64);
        assert_eq!(inner.tail.len(), TAIL);
        assert!(inner.tail.ends_with(b"x\nend\n"));
    }

    #[test]
    fn lines_beyond_the_burst_are_counted_not_logged() {
        let lines = StderrLines::new("c");
        let many = "l\n".repeat(BURST as usize + 25);
        lines.append(many.as_bytes());
        // Refilling during the loop can let a few more through.
        let dropped = lines.lock().dropped;
        assert!((20..=25).contains(&dropped), "{dropped}");
    }
}
