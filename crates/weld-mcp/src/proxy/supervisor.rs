//! One MCP server component's life: started when first needed, restarted
//! after it stops, stopped when idle, and held back after repeated
//! failures.
//!
//! - **One instance per supervisor**: each component has one shared by
//!   the clients without a session of their own (stdio's one client,
//!   2026-07-28 clients over HTTP), which also lists its tools, and one
//!   more per HTTP session that calls it ([`crate::proxy::SessionInstances`];
//!   see `docs/mcp-components.md`).
//! - **Started** on the first request that needs it (the first `tools/list`
//!   after a load lists it, so that is usually at load); concurrent
//!   requests wait for the one start. A start is a `weld.instantiate` span
//!   (capacity, instantiation, `initialize` and `tools/list`) under the
//!   request that needed it.
//! - **Stopped when idle**: with no request in flight for the idle timeout,
//!   its session is closed (the server sees its stdin end) and the instance
//!   dropped, giving its instance slots and memory back.
//! - **A crash** (a trap, an exit, its stdout closed) is logged with how it
//!   ended; the requests in flight fail with that reason, and the next
//!   request starts it again.
//! - **Bounded restarts**: after [`FREE_FAILURES`] failures in a row (a
//!   crash, or a start that failed), each further start waits a back-off
//!   that doubles from one second up to [`MAX_BACKOFF`]; requests meanwhile
//!   fail at once, saying when it will be tried again. A call answered
//!   resets the count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tracing::Instrument as _;
use weld_host::Outcome;
use weld_host::proxied::ProxiedComponent;

use super::session::{Refusal, Session, until_ended};

/// Failures in a row restarted at once; the back-off starts after them.
pub(super) const FREE_FAILURES: u32 = 3;
/// The longest wait between two starts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How often an idle instance is looked at.
const IDLE_CHECK: Duration = Duration::from_secs(1);

enum State {
    Stopped,
    Running(Arc<Session>),
}

/// One component's instance and its history.
pub(super) struct Supervisor {
    pub(super) component: Arc<ProxiedComponent>,
    /// Requests in flight to its instance (see
    /// [`ProxiedComponent::in_flight`]).
    pub(super) in_flight: tokio::sync::Semaphore,
    idle: Duration,
    state: tokio::sync::Mutex<State>,
    /// Failures since the last answered call.
    failures: AtomicU32,
    /// When the latest failure happened and why, for the back-off.
    last_failure: std::sync::Mutex<Option<(Instant, String)>>,
    /// The supervisors made for HTTP sessions of its component
    /// ([`Supervisor::for_session`]); a session's goes with the session.
    sessions: std::sync::Mutex<Vec<std::sync::Weak<Supervisor>>>,
}

/// HTTP sessions that get an instance of one component of their own; later
/// ones share the component's. Each instance holds its memory limit and
/// slots for its whole life, so without a bound one client opening
/// sessions could hold weld's whole capacity.
pub(super) const MAX_SESSION_INSTANCES: usize = 8;

impl Supervisor {
    pub(super) fn new(component: Arc<ProxiedComponent>, idle: Duration) -> Arc<Self> {
        let in_flight = tokio::sync::Semaphore::new(component.in_flight().max as usize);
        Arc::new(Self {
            component,
            in_flight,
            idle,
            state: tokio::sync::Mutex::new(State::Stopped),
            failures: AtomicU32::new(0),
            last_failure: std::sync::Mutex::new(None),
            sessions: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A supervisor of the same component for one HTTP session, or `None`
    /// when [`MAX_SESSION_INSTANCES`] sessions hold one already.
    pub(super) fn for_session(&self) -> Option<Arc<Supervisor>> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|s| s.strong_count() > 0);
        if sessions.len() >= MAX_SESSION_INSTANCES {
            return None;
        }
        let own = Supervisor::new(Arc::clone(&self.component), self.idle);
        sessions.push(Arc::downgrade(&own));
        Some(own)
    }

    /// The running session, started if there is none.
    ///
    /// # Errors
    ///
    /// Why there is none: it is backing off after repeated failures, or
    /// this start failed.
    pub(super) async fn session(self: &Arc<Self>) -> Result<Arc<Session>, Refusal> {
        let mut state = self.state.lock().await;
        if let State::Running(session) = &*state {
            if session.alive() {
                return Ok(Arc::clone(session));
            }
            *state = State::Stopped;
        }
        self.backing_off()?;
        // A child of the request that needed the instance (a call, or the
        // listing); its own trace when started ahead of any request.
        let starting = tracing::trace_span!(target: crate::trace::TARGET, "weld.instantiate");
        match Session::start(&self.component).instrument(starting).await {
            Ok(session) => {
                let session = Arc::new(session);
                *state = State::Running(Arc::clone(&session));
                tracing::info!(
                    component = %self.component.name,
                    tools = session.tools.len(),
                    "MCP server component started"
                );
                tokio::spawn(watch(Arc::downgrade(self), Arc::downgrade(&session)));
                Ok(session)
            }
            Err((outcome, message)) => {
                self.failed(&message);
                Err((outcome, message))
            }
        }
    }

    /// A call was answered: the server works, whatever failed before.
    pub(super) fn answered(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Refuses a start during the back-off (see the module docs).
    fn backing_off(&self) -> Result<(), Refusal> {
        let failures = self.failures.load(Ordering::Relaxed);
        if failures < FREE_FAILURES {
            return Ok(());
        }
        let last = self
            .last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some((at, why)) = last else {
            return Ok(());
        };
        let wait = backoff(failures);
        let left = wait.saturating_sub(at.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        Err((
            Outcome::Instantiate,
            format!(
                "the MCP server component `{}` failed {failures} times in a row (last: {why}); \
                 weld starts it again in {:.1} s",
                self.component.name,
                left.as_secs_f64()
            ),
        ))
    }

    fn failed(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self
            .last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), why.to_string()));
    }

    /// Logs how a session ended on its own, counts a failure, and forgets
    /// it.
    async fn ended(&self, current: &Arc<Session>) {
        let why = match current.end() {
            Some(end) => end.to_string(),
            None => "it closed its stdout".to_string(),
        };
        let failure = current.end().is_none_or(|end| end.is_failure());
        if failure {
            self.failed(&why);
            tracing::error!(
                component = %self.component.name,
                reason = %why,
                "MCP server component stopped; calls in flight fail, the next call starts it again"
            );
        } else {
            tracing::info!(component = %self.component.name, reason = %why, "MCP server component ended");
        }
        let mut state = self.state.lock().await;
        if matches!(&*state, State::Running(s) if Arc::ptr_eq(s, current)) {
            *state = State::Stopped;
        }
    }

    async fn stop_idle(&self, session: &Arc<Session>) {
        let mut state = self.state.lock().await;
        // A request may have taken it meanwhile: then it is not idle.
        if session.idle_for() < self.idle {
            return;
        }
        if matches!(&*state, State::Running(s) if Arc::ptr_eq(s, session)) {
            *state = State::Stopped;
            tracing::info!(
                component = %self.component.name,
                idle_s = self.idle.as_secs_f64(),
                "MCP server component idle: stopped (the next call starts it again)"
            );
        }
    }
}

/// Watches a session until it ends (logged; a failure counted) or has been
/// idle for the idle timeout (stopped). Holds neither strongly: a
/// supervisor a reload dropped takes its session with it.
async fn watch(supervisor: std::sync::Weak<Supervisor>, session: std::sync::Weak<Session>) {
    let (mut ended, closed) = match session.upgrade() {
        Some(session) => (session.watch_end(), session.routes.closed.clone()),
        None => return,
    };
    loop {
        tokio::select! {
            () = until_ended(&mut ended) => break,
            () = closed.cancelled() => break,
            () = tokio::time::sleep(IDLE_CHECK) => {
                let (Some(supervisor), Some(current)) = (supervisor.upgrade(), session.upgrade()) else {
                    return;
                };
                if current.idle_for() >= supervisor.idle {
                    supervisor.stop_idle(&current).await;
                    return;
                }
            }
        }
    }
    let (Some(supervisor), Some(current)) = (supervisor.upgrade(), session.upgrade()) else {
        return;
    };
    // Its stdout may close a moment before its end is known (a trap
    // closes the pipes as the store goes): give it that moment.
    let _ = tokio::time::timeout(Duration::from_millis(100), until_ended(&mut ended)).await;
    supervisor.ended(&current).await;
}

/// The wait before the next start after `failures` failures in a row.
pub(super) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FREE_FAILURES).min(6);
    Duration::from_secs(1u64 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_one_second_to_a_minute() {
        assert_eq!(backoff(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(backoff(FREE_FAILURES + 1), Duration::from_secs(2));
        assert_eq!(backoff(FREE_FAILURES + 5), Duration::from_secs(32));
        assert_eq!(backoff(FREE_FAILURES + 6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
