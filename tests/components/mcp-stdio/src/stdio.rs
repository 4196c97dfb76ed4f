//! WASI stdin and stdout as tokio's `AsyncRead` and `AsyncWrite`, and the
//! one place the guest waits: `wasi:io/poll`.
//!
//! tokio on wasm32-wasip2 has no `io-std` (its stdin needs a thread pool)
//! and no I/O driver, so nothing in tokio can wait for stdin. rmcp's own WASI
//! example wakes a stream's task from a helper task that loops
//! `pollable.ready()` + `yield_now()`: the runtime never goes idle, and an
//! idle server burns a whole core. Here instead:
//!
//! - A stream (or a [`sleep`]) that is not ready registers its pollable and
//!   its task's waker with the [`Reactor`] and returns `Pending`.
//! - The runtime is built with [`park`] as its `on_thread_park` hook, which
//!   tokio's current-thread scheduler calls only when no task is runnable.
//!   [`park`] blocks in `wasi:io/poll.poll` on every registered pollable (a
//!   host future in weld: no CPU while it waits), then wakes the tasks whose
//!   pollables are ready, so tokio finds work and does not park itself.
//!
//! An idle server therefore costs nothing between messages, and a message
//! is read as soon as it arrives (no polling interval). The cost: a tokio
//! timer is not among the pollables, so while [`park`] blocks, tokio's own
//! timers wait for the next stdin message or registered pollable. The
//! server's tools therefore sleep with [`sleep`] (a `wasi:clocks` pollable),
//! and rmcp's server loop uses tokio timers only while shutting down, after
//! stdin has closed (when nothing is registered and tokio parks itself).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasip2::cli::{stdin, stdout};
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// The pollables tasks wait on, each with the waker of the task waiting.
#[derive(Default)]
struct Reactor {
    waiting: Vec<(Rc<Pollable>, Waker)>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::default();
}

/// Wakes `waker` when `pollable` is ready. A pollable registered again
/// (its task was polled for another reason) keeps one entry, with the
/// latest waker.
fn register(pollable: &Rc<Pollable>, waker: &Waker) {
    REACTOR.with_borrow_mut(|reactor| {
        match reactor
            .waiting
            .iter_mut()
            .find(|(p, _)| Rc::ptr_eq(p, pollable))
        {
            Some((_, w)) => w.clone_from(waker),
            None => reactor.waiting.push((Rc::clone(pollable), waker.clone())),
        }
    });
}

/// Forgets `pollable` (its future was dropped).
fn deregister(pollable: &Rc<Pollable>) {
    REACTOR.with_borrow_mut(|reactor| reactor.waiting.retain(|(p, _)| !Rc::ptr_eq(p, pollable)));
}

/// tokio's `on_thread_park` hook: no task is runnable, so block until a
/// registered pollable is ready and wake its task. With nothing
/// registered it returns at once (tokio then parks on its own timers).
pub fn park() {
    let waiting = REACTOR.with_borrow_mut(|reactor| std::mem::take(&mut reactor.waiting));
    if waiting.is_empty() {
        return;
    }
    let pollables: Vec<&Pollable> = waiting.iter().map(|(p, _)| p.as_ref()).collect();
    let ready = poll::poll(&pollables);
    drop(pollables);
    let mut still = Vec::with_capacity(waiting.len());
    for (index, (pollable, waker)) in waiting.into_iter().enumerate() {
        if u32::try_from(index).is_ok_and(|i| ready.contains(&i)) {
            waker.wake();
        } else {
            still.push((pollable, waker));
        }
    }
    // Entries registered while this ran (none: nothing else runs) are kept.
    REACTOR.with_borrow_mut(|reactor| reactor.waiting.extend(still));
}

/// Waits `duration` on a `wasi:clocks` pollable (see the module docs: not
/// a tokio timer, which [`park`] would not wake for).
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep {
        pollable: OneThread(Rc::new(
            wasip2::clocks::monotonic_clock::subscribe_duration(nanos),
        )),
    }
}

/// A [`sleep`] in progress.
pub struct Sleep {
    pollable: OneThread<Rc<Pollable>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.pollable.0.ready() {
            deregister(&self.pollable.0);
            return Poll::Ready(());
        }
        register(&self.pollable.0, cx.waker());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        deregister(&self.pollable.0);
    }
}

/// A value rmcp needs to be `Send` (its transport and handler futures are),
/// though it never leaves the one thread there is.
struct OneThread<T>(T);
// SAFETY: wasm32-wasip2 (without the threads proposal) runs one thread, so
// a `OneThread` is never used from two threads. Its contents (resource
// handles, `Rc`s) are not `Send` only because their types cannot know that.
unsafe impl<T> Send for OneThread<T> {}
// SAFETY: as for `Send`: there is no second thread to share it with.
unsafe impl<T> Sync for OneThread<T> {}

/// Standard input, read without blocking the runtime.
pub struct Stdin {
    stream: OneThread<InputStream>,
    ready: OneThread<Rc<Pollable>>,
}

/// Standard output, written without blocking the runtime.
pub struct Stdout {
    stream: OneThread<OutputStream>,
    ready: OneThread<Rc<Pollable>>,
    flushing: bool,
}

/// This program's stdin and stdout.
pub fn stdio() -> (Stdin, Stdout) {
    let input = stdin::get_stdin();
    let output = stdout::get_stdout();
    let stdin = Stdin {
        ready: OneThread(Rc::new(input.subscribe())),
        stream: OneThread(input),
    };
    let stdout = Stdout {
        ready: OneThread(Rc::new(output.subscribe())),
        stream: OneThread(output),
        flushing: false,
    };
    (stdin, stdout)
}

fn io_error(error: StreamError) -> io::Error {
    match error {
        StreamError::Closed => io::Error::from(io::ErrorKind::BrokenPipe),
        StreamError::LastOperationFailed(e) => io::Error::other(e.to_debug_string()),
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = u64::try_from(buf.remaining()).unwrap_or(u64::MAX);
        match self.stream.0.read(want) {
            Ok(bytes) if bytes.is_empty() => {
                register(&self.ready.0, cx.waker());
                Poll::Pending
            }
            Ok(bytes) => {
                buf.put_slice(&bytes);
                Poll::Ready(Ok(()))
            }
            // End of input: a read of nothing.
            Err(StreamError::Closed) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(io_error(error))),
        }
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        deregister(&self.ready.0);
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let room = match self.stream.0.check_write() {
            Ok(room) => room,
            Err(error) => return Poll::Ready(Err(io_error(error))),
        };
        if room == 0 {
            register(&self.ready.0, cx.waker());
            return Poll::Pending;
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        match self.stream.0.write(&buf[..n]) {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(error) => Poll::Ready(Err(io_error(error))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // `flush` starts a flush; the stream accepts writes again (its
        // pollable is ready) once everything written before it is out.
        if !self.flushing {
            if let Err(error) = self.stream.0.flush() {
                return Poll::Ready(Err(io_error(error)));
            }
            self.flushing = true;
        }
        match self.stream.0.check_write() {
            Ok(0) => {
                register(&self.ready.0, cx.waker());
                Poll::Pending
            }
            Ok(_) => {
                self.flushing = false;
                Poll::Ready(Ok(()))
            }
            Err(error) => Poll::Ready(Err(io_error(error))),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        deregister(&self.ready.0);
    }
}
