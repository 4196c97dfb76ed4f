//! The writer thread: drains the queue into the log, ends partial lines,
//! counts what it could not write and says so in the file once it can.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::record::{AuditRecord, timestamp};
use super::{AuditFailure, Message, PERIOD, Shared, WARN_EVERY};
use crate::outcome::Outcome;

/// The writer thread's state.
pub(super) struct Writer<W> {
    out: W,
    shared: Arc<Shared>,
    /// One drain's bytes (kept for its capacity).
    buf: Vec<u8>,
    /// Lost records no `records_lost` record in the file tells of yet.
    unreported: u64,
    /// The file may end part way through a line (a write was cut short).
    mid_line: bool,
    /// While writes fail: since when, and how many records were lost since.
    failing_since: Option<(SystemTime, u64)>,
    warned_at: Option<Instant>,
    /// The replica every record is stamped with.
    replica: Option<String>,
    /// Where every record written (or lost) is counted.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// A piece of one drain's bytes, ending at an offset of `buf`.
enum Piece {
    /// The newline ending a partial line.
    LineEnd,
    /// A `records_lost` record for this many.
    Lost(u64),
    Record,
}

impl<W: Write> Writer<W> {
    /// `record`, with the replica's name.
    fn stamped(&self, mut record: AuditRecord) -> AuditRecord {
        record.replica.clone_from(&self.replica);
        record
    }

    pub(super) fn new(
        out: W,
        shared: Arc<Shared>,
        replica: Option<String>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Self {
        Self {
            out,
            shared,
            buf: Vec::new(),
            unreported: 0,
            mid_line: false,
            failing_since: None,
            warned_at: None,
            replica,
            metrics,
        }
    }

    /// Collects records for up to [`PERIOD`] after the first one arrives,
    /// then writes them in one write. A flush ends the window at once, so a
    /// one-shot command does not wait out the period before it may exit.
    /// Idle, it still wakes every period, to retry what a failed write left
    /// (a `records_lost` record, a partial line).
    pub(super) fn run(&mut self, rx: &Receiver<Message>) {
        loop {
            let mut records = Vec::new();
            let mut acks = Vec::new();
            let mut disconnected = false;
            let mut next = match rx.recv_timeout(PERIOD) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    disconnected = true;
                    None
                }
            };
            let window = Instant::now() + PERIOD;
            while let Some(message) = next.take() {
                match message {
                    Message::Record(record) => records.push(self.stamped(record.to_record())),
                    Message::Builtin(record) => records.push(self.stamped(record.to_record())),
                    Message::Proxied(record) => records.push(self.stamped(record.to_record())),
                    Message::Flush(ack) => acks.push(ack),
                }
                // After a flush, only what is queued already.
                let wait = if acks.is_empty() {
                    window.saturating_duration_since(Instant::now())
                } else {
                    Duration::ZERO
                };
                next = match rx.recv_timeout(wait) {
                    Ok(message) => Some(message),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        disconnected = true;
                        None
                    }
                };
            }
            if let Some(metrics) = &self.metrics {
                for record in &records {
                    metrics.observe(record);
                }
            }
            self.drain(&records);
            for ack in acks {
                let _ = ack.send(());
            }
            if disconnected {
                return;
            }
        }
    }

    /// Writes `records` (after a `records_lost` record, when some were lost
    /// before them) in one write, and accounts for what did not make it.
    fn drain(&mut self, records: &[AuditRecord]) {
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if let Some(metrics) = self.metrics.as_ref().filter(|_| dropped > 0) {
            metrics.dropped(dropped);
        }
        if dropped > 0 {
            self.unreported += dropped;
            self.warn_at_most_every_minute(|| {
                tracing::warn!(
                    dropped,
                    "the audit writer fell behind; records were dropped (counted, and recorded as \
                     `records_lost` in the audit log)"
                );
            });
        }
        if records.is_empty() && self.unreported == 0 && !self.mid_line {
            return;
        }
        self.buf.clear();
        let mut pieces = Vec::with_capacity(records.len() + 2);
        if self.mid_line {
            self.buf.push(b'\n');
            pieces.push((self.buf.len(), Piece::LineEnd));
        }
        if self.unreported > 0 {
            let lost = self.lost_record(self.unreported);
            encode(&mut self.buf, &lost);
            pieces.push((self.buf.len(), Piece::Lost(self.unreported)));
        }
        for record in records {
            encode(&mut self.buf, record);
            pieces.push((self.buf.len(), Piece::Record));
        }
        let (written, error) = write_some(&mut self.out, &self.buf);
        let mut lost_now = 0;
        for (end, piece) in pieces {
            let done = end <= written;
            match piece {
                Piece::LineEnd if done => self.mid_line = false,
                Piece::Lost(n) if done => self.unreported -= n,
                Piece::Record if !done => lost_now += 1,
                _ => {}
            }
        }
        match error {
            None => self.recovered(),
            Some(error) => {
                if written > 0 {
                    self.mid_line = self.buf[written - 1] != b'\n';
                }
                self.unreported += lost_now;
                self.shared.lost.fetch_add(lost_now, Ordering::Relaxed);
                self.failed(&error, lost_now);
            }
        }
    }

    /// The record standing for `n` lost ones.
    fn lost_record(&self, n: u64) -> AuditRecord {
        let since = self
            .failing_since
            .map(|(since, _)| format!(" since {}", timestamp(since)))
            .unwrap_or_default();
        let cause = self
            .shared
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let cause = if cause.is_empty() {
            "the audit writer fell behind".to_string()
        } else {
            cause
        };
        AuditRecord {
            time: timestamp(SystemTime::now()),
            tool: weld_store::RESERVED_NAME.to_string(),
            component: String::new(),
            digest: String::new(),
            client: None,
            args_bytes: 0,
            queued_us: 0,
            load_us: 0,
            duration_us: 0,
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: Outcome::RecordsLost.as_str().to_string(),
            error: Some(format!(
                "{n} audit record(s) before this one could not be written{since}: {cause}"
            )),
            network: Vec::new(),
            network_dropped: 0,
            storage_denied: Vec::new(),
            storage_denied_dropped: 0,
            change: None,
            target: None,
            records_lost: n,
            replica: self.replica.clone(),
        }
    }

    fn failed(&mut self, error: &std::io::Error, lost_now: u64) {
        self.shared.fail(error.to_string());
        let path = self.shared.path.display().to_string();
        let refusing = self.shared.failure == AuditFailure::RefuseCalls;
        match &mut self.failing_since {
            None => {
                self.failing_since = Some((SystemTime::now(), lost_now));
                self.warned_at = Some(Instant::now());
                tracing::error!(
                    path,
                    %error,
                    lost = lost_now,
                    refusing_calls = refusing,
                    "could not write the audit log; records are lost until it can be written \
                     (counted, and recorded as `records_lost` once it can)"
                );
            }
            Some((_, lost)) => {
                *lost += lost_now;
                let lost = *lost;
                self.warn_at_most_every_minute(|| {
                    tracing::warn!(
                        path,
                        %error,
                        lost,
                        refusing_calls = refusing,
                        "the audit log still cannot be written"
                    );
                });
            }
        }
    }

    fn recovered(&mut self) {
        if let Some((since, lost)) = self.failing_since.take() {
            tracing::warn!(
                path = %self.shared.path.display(),
                lost,
                since = %timestamp(since),
                "the audit log can be written again"
            );
        }
        if self.shared.failing.swap(false, Ordering::AcqRel) {
            self.shared
                .cause
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    fn warn_at_most_every_minute(&mut self, warn: impl FnOnce()) {
        if self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            self.warned_at = Some(Instant::now());
            warn();
        }
    }
}

fn encode(buf: &mut Vec<u8>, record: &AuditRecord) {
    // Serializing these types to memory cannot fail (string keys, no
    // fallible Serialize impls); an empty line would be skipped on reading.
    let _ = serde_json::to_writer(&mut *buf, record);
    buf.push(b'\n');
}

/// Writes as much of `bytes` as it can; returns how much, and the error that
/// stopped it short (so an error always leaves something to write again,
/// which is how the writer finds out that writing works again). No flush:
/// the log is a file, written straight to the kernel.
fn write_some(out: &mut impl Write, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut written = 0;
    while written < bytes.len() {
        match out.write(&bytes[written..]) {
            Ok(0) => return (written, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}
