//! Request bodies as weld reads them: under a deadline, under the size cap,
//! and accounted against one budget shared by every connection, so neither a
//! slow sender nor many large senders at once can make the process grow.
//!
//! The budget counts bytes as they arrive (not what `Content-Length`
//! announces), so a client holds only as much of it as it has really sent;
//! a request keeps its share until it has been answered, because its parsed
//! arguments live that long.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Bytes of request bodies that may be held at once, across connections.
#[derive(Debug)]
pub(super) struct BodyBudget {
    capacity: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            used: AtomicUsize::new(0),
        })
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= self.capacity)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One request's share of the budget, returned when the last holder (the
/// body, or the request handler awaiting the answer) drops it.
#[derive(Debug)]
pub(super) struct Reservation {
    budget: Arc<BodyBudget>,
    held: AtomicUsize,
}

impl Reservation {
    pub(super) fn new(budget: &Arc<BodyBudget>) -> Arc<Self> {
        Arc::new(Self {
            budget: Arc::clone(budget),
            held: AtomicUsize::new(0),
        })
    }

    fn grow(&self, bytes: usize) -> bool {
        if !self.budget.try_take(bytes) {
            return false;
        }
        self.held.fetch_add(bytes, Ordering::AcqRel);
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(*self.held.get_mut());
    }
}

/// Why weld stopped reading a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFailure {
    /// The whole body did not arrive within the body timeout.
    TimedOut,
    /// More bytes than the per-request cap.
    TooLarge,
    /// Taking these bytes would exceed the shared budget.
    OverBudget,
}

/// The error a [`MeteredBody`] yields; the handler learns the reason from
/// the shared [`BodyFailure`] slot, not from this text (rmcp turns any body
/// error into a 500).
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    #[error("request body refused: {0:?}")]
    Refused(BodyFailure),
    #[error("reading the request body: {0}")]
    Read(#[from] hyper::Error),
}

/// An incoming body read under a deadline, a size cap and the shared budget.
///
/// Once it refuses a body for its size or the budget, it reads and discards
/// the rest (up to `drain_to` bytes in all, before the deadline) before
/// reporting the refusal: an HTTP/1 connection closed with unread data is
/// reset, and the client, still sending, would lose the answer with it.
/// Discarded bytes are never held.
pub(super) struct MeteredBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    received: usize,
    cap: usize,
    drain_to: usize,
    refused: Option<BodyFailure>,
    reservation: Arc<Reservation>,
    failure: Arc<OnceLock<BodyFailure>>,
}

/// How much of a body weld reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    /// Refuse the body beyond this many bytes.
    pub cap: usize,
    /// After refusing it, discard the rest up to this many bytes in all.
    pub drain_to: usize,
    /// Stop reading at this instant.
    pub deadline: Instant,
}

impl MeteredBody {
    pub(super) fn new(
        inner: Incoming,
        limits: BodyLimits,
        reservation: Arc<Reservation>,
        failure: Arc<OnceLock<BodyFailure>>,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(limits.deadline)),
            received: 0,
            cap: limits.cap,
            drain_to: limits.drain_to,
            refused: None,
            reservation,
            failure,
        }
    }

    fn fail(&mut self, failure: BodyFailure) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let _ = self.failure.set(failure);
        Poll::Ready(Some(Err(BodyError::Refused(failure))))
    }

    /// Discards what follows a refused body; ready when the refusal can be
    /// reported.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.received < self.drain_to {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let len = frame.data_ref().map_or(0, Bytes::len);
                    self.received = self.received.saturating_add(len);
                }
                Some(Err(_)) | None => break,
            }
        }
        Poll::Ready(())
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Some(&failure) = this.failure.get() {
            return Poll::Ready(Some(Err(BodyError::Refused(failure))));
        }
        // Checked before every read, so a sender that always has one more
        // byte ready is cut all the same.
        let expired = this.deadline.as_mut().poll(cx).is_ready();
        if let Some(refused) = this.refused {
            if !expired {
                ready!(this.drain(cx));
            }
            return this.fail(refused);
        }
        if expired {
            return this.fail(BodyFailure::TimedOut);
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len();
            this.received = this.received.saturating_add(len);
            let refused = if this.received > this.cap {
                Some(BodyFailure::TooLarge)
            } else if !this.reservation.grow(len) {
                Some(BodyFailure::OverBudget)
            } else {
                None
            };
            if let Some(refused) = refused {
                this.refused = Some(refused);
                ready!(this.drain(cx));
                return this.fail(refused);
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads and discards `body` up to `limit` bytes or until `deadline`, so
/// that an answer given without reading it reaches an HTTP/1 client that is
/// still sending (see [`MeteredBody`]).
pub(super) async fn discard(body: &mut Incoming, limit: usize, deadline: Instant) {
    use http_body_util::BodyExt;
    let discarding = async {
        let mut seen = 0_usize;
        while seen < limit {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, discarding).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_would_exceed_it_and_takes_back_what_is_returned() {
        let budget = BodyBudget::new(10);
        let first = Reservation::new(&budget);
        assert!(first.grow(6));
        let second = Reservation::new(&budget);
        assert!(!second.grow(5), "6 + 5 is over 10");
        assert!(second.grow(4));
        drop(first);
        assert!(second.grow(6), "the first request's 6 bytes came back");
        assert!(!second.grow(1));
    }
}
