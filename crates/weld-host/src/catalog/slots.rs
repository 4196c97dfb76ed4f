//! A component's concurrency cap ([`Slots`]), shared by its tools, and
//! what sets it ([`Bound`]).

use weld_policy::{Concurrency, Excess};
use weld_runtime::{Capacity, Share};

/// A component's concurrency cap, shared by its tools: its policy's
/// `concurrency`, or its share of weld's capacity ([`Share`]: half of the
/// instance slots and half of the memory budget) when that is smaller or
/// the policy sets none. So no component can keep the others from starting,
/// and one without a policy has a limit too.
pub(crate) struct Slots {
    pub(crate) free: tokio::sync::Semaphore,
    /// The cap, for the message a refused call gets.
    pub(crate) max: u32,
    pub(crate) excess: Excess,
    /// Where `max` comes from, for that message.
    pub(crate) bound: Bound,
    /// Calls waiting for a slot now (for the metrics).
    waiting: std::sync::atomic::AtomicU32,
}

/// What sets a component's concurrency cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Its policy's `concurrency`.
    Policy,
    /// Its share of this resource.
    Share(Capacity),
}

impl Slots {
    pub(crate) fn new(policy: Option<Concurrency>, share: Share) -> Self {
        // A component whose memory limit exceeds the whole budget still
        // gets a slot: the runtime refuses each call with the reason.
        let fair = share.calls.max(1);
        let (max, bound) = match policy {
            Some(c) if c.max <= fair => (c.max, Bound::Policy),
            _ => (fair, Bound::Share(share.bound_by)),
        };
        Self {
            free: tokio::sync::Semaphore::new(max as usize),
            max,
            excess: policy.map_or(Excess::Wait, |c| c.excess),
            bound,
            waiting: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Waits for a slot, counted in [`Slots::waiting`] meanwhile (also
    /// when the wait is given up: the count is a guard's).
    pub(crate) async fn acquire_counted(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        struct Waiting<'a>(&'a std::sync::atomic::AtomicU32);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        self.free.acquire().await
    }

    /// Calls of the component running now.
    pub(crate) fn running(&self) -> u32 {
        let free = u32::try_from(self.free.available_permits()).unwrap_or(u32::MAX);
        self.max.saturating_sub(free)
    }

    /// Calls of the component waiting for a slot now.
    pub(crate) fn waiting(&self) -> u32 {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }
}
