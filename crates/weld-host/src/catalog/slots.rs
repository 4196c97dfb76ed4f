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
        }
    }
}
