//! Guest calls on wasmtime fibers, driven on the caller's thread, when the caller's own stack is too small.
//!
//! wasmtime runs a synchronous call (`TypedFunc::call`) on the calling thread's stack, so the caller would
//! need `max_wasm_stack` plus the host's frames free on its own stack (a 2 MiB tokio worker has less). A call
//! made with `TypedFunc::call_async` instead runs on a *fiber*: a separate stack of
//! [`crate::HostConfig::fiber_stack`] bytes (wasmtime's `async_stack_size`) that the store allocates on its
//! first async call and keeps for the next ones (wasmtime caches a store's last fiber stack), so the guest
//! gets its whole `max_wasm_stack` whatever thread calls, and no thread hop is needed.
//!
//! The guest imports nothing and the host never asks wasmtime to yield (fuel and epoch deadlines trap, see
//! `instance.rs`), so the future finishes on its first poll; [`block_on`] polls it right here with a no-op
//! waker, and only loops (yielding the thread) if wasmtime ever returns `Pending`.
//!
//! A caller with room on its own stack does not need the fiber: `instance.rs` calls directly when
//! [`stack_left`] reports at least the fiber's size left (the main thread's 8 MiB, a thread spawned with a big
//! stack), and saves the fiber's set-up and two stack switches (measured a few hundred nanoseconds a call).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs `fut` to completion on the current thread.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            // Not expected (nothing in the guest or the host awaits anything real); poll again.
            Poll::Pending => std::thread::yield_now(),
        }
    }
}

/// Bytes left on the current thread's stack below this frame, from the thread's stack bounds (read once per
/// thread by `stacker`, from `pthread_getattr_np` on Linux); `None` when they are not known (then every call
/// takes a fiber).
pub(crate) fn stack_left() -> Option<usize> {
    stacker::remaining_stack()
}
