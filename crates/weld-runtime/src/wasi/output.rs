//! A guest's stdout and stderr, kept in memory up to a cap and never written
//! to the host's standard streams.
//!
//! In stdio mode the host's stdout *is* the MCP channel, so a guest byte there
//! would corrupt the protocol. Writes past the cap are accepted and counted
//! but dropped: failing them instead would make `println!` in a Rust guest
//! panic, turning chatty output into a crash.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
}

/// One capped capture buffer; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct CappedOutput {
    cap: usize,
    inner: Arc<Mutex<Captured>>,
}

impl CappedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A poisoned lock only means another writer panicked mid-append; the
        // buffer is still a valid byte vector, so keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, bytes: &[u8]) {
        let mut captured = self.lock();
        let room = self.cap.saturating_sub(captured.kept.len());
        let keep = room.min(bytes.len());
        captured.kept.extend_from_slice(&bytes[..keep]);
        captured.dropped += (bytes.len() - keep) as u64;
    }

    /// What was kept, as text (lossy), and how many bytes were dropped.
    pub(crate) fn take(&self) -> (String, u64) {
        let mut captured = self.lock();
        let kept = std::mem::take(&mut captured.kept);
        (
            String::from_utf8_lossy(&kept).into_owned(),
            captured.dropped,
        )
    }
}

impl Sink for CappedOutput {
    fn append(&self, bytes: &[u8]) {
        CappedOutput::append(self, bytes);
    }
}

/// Where a guest's output goes, a write at a time. Every write is taken:
/// refusing one would make a chatty guest's `println!` panic.
pub(crate) trait Sink: Clone + Send + Sync + 'static {
    /// Takes `bytes`, written by the guest.
    fn append(&self, bytes: &[u8]);
}

/// A [`Sink`] as WASI's stdout or stderr (both of its stream interfaces).
#[derive(Clone)]
pub(crate) struct SinkStream<S>(pub(crate) S);

impl<S: Sink> IsTerminal for SinkStream<S> {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl<S: Sink> StdoutStream for SinkStream<S> {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl<S: Sink> Pollable for SinkStream<S> {
    async fn ready(&mut self) {}
}

impl<S: Sink> OutputStream for SinkStream<S> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: a sink drops what it does not keep.
        Ok(64 * 1024)
    }
}

impl<S: Sink> tokio::io::AsyncWrite for SinkStream<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_counted_and_dropped() {
        let out = CappedOutput::new(4);
        out.append(b"abc");
        out.append(b"defg");
        assert_eq!(out.take(), ("abcd".to_string(), 3));
    }
}
