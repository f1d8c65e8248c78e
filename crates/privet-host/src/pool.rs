//! The instance pool: a bounded set of places ([`HostConfig::max_instances`](crate::HostConfig)), each
//! holding at most one guest instance (a [`Slot`]). A call checks out an idle place (making a new, empty one
//! while under the bound, else waiting for one), runs on the caller's thread with it, and checks it back
//! in. There are no worker threads: guest calls run on wasmtime fibers (see `fiber.rs`), so a guest may use
//! all of `max_wasm_stack` whatever thread the caller is on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::compact::PolicyTable;
use crate::error::HostFault;
use crate::instance::RawInstance;

/// A guest instance with the bundle it serves.
pub(crate) struct Slot {
    pub(crate) raw: RawInstance,
    /// Handle of the loaded bundle inside the instance.
    pub(crate) handle: u32,
    /// Which bundle (`BundleState::epoch`) the instance holds.
    pub(crate) bundle_epoch: u64,
    /// How many entries of that bundle's update log the instance has applied.
    pub(crate) generation: usize,
    /// The bundle's policy table when decisions come through ABI 1.1's compact exports; `None` uses the
    /// 1.0 exports (a 1.0 module, or `HostConfig::compact_decisions` off).
    pub(crate) table: Option<PolicyTable>,
    /// With a table: decide through ABI 1.2's packed exports (else the 1.1 compact ones).
    pub(crate) packed: bool,
    /// With `packed`: decide through ABI 1.3's guest-owned buffers (`privet_decide_packed_input`), else
    /// through `privet_decide_packed`.
    pub(crate) guest_buffers: bool,
}

/// A place in the pool: empty until a call makes an instance in it, and again after a fault. Boxed, so that
/// checking a place out and back in moves a pointer, not the instance (a wasmtime store and every typed
/// export handle: several hundred bytes, copied twice per call otherwise).
type Place = Option<Box<Slot>>;

struct PoolState {
    idle: Vec<Place>,
    /// Places in existence (idle or checked out).
    total: usize,
    /// Callers waiting for a place (so check-in only signals the condvar when someone waits).
    waiting: usize,
}

pub(crate) struct Pool {
    state: Mutex<PoolState>,
    cond: Condvar,
    max: usize,
}

impl Pool {
    pub(crate) fn new(max: usize) -> Pool {
        Pool {
            state: Mutex::new(PoolState { idle: Vec::new(), total: 0, waiting: 0 }),
            cond: Condvar::new(),
            max: max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Places in existence (idle or in use), each holding at most one instance.
    pub(crate) fn size(&self) -> usize {
        self.lock().total
    }

    fn checkout(&self) -> Place {
        let mut st = self.lock();
        loop {
            if let Some(place) = st.idle.pop() {
                return place;
            }
            if st.total < self.max {
                st.total += 1;
                return None;
            }
            st.waiting += 1;
            st = self.cond.wait(st).unwrap_or_else(PoisonError::into_inner);
            st.waiting -= 1;
        }
    }

    /// Returns a place to the pool, or (`None`) forgets one, and wakes a waiting caller.
    fn checkin(&self, place: Option<Place>) {
        let mut st = self.lock();
        match place {
            Some(p) => st.idle.push(p),
            None => st.total -= 1,
        }
        if st.waiting > 0 {
            self.cond.notify_one();
        }
    }

    /// Runs `job` on the calling thread with an idle place and returns its result. A panic in `job` (a bug
    /// in host code) drops the place and its instance and is reported as a fault.
    pub(crate) fn run<R>(&self, job: impl FnOnce(&mut Place) -> R) -> Result<R, HostFault> {
        let mut place = self.checkout();
        match catch_unwind(AssertUnwindSafe(|| job(&mut place))) {
            Ok(r) => {
                self.checkin(Some(place));
                Ok(r)
            }
            Err(_) => {
                self.checkin(None);
                Err(HostFault::Abi("host code panicked during the call; the instance was dropped".into()))
            }
        }
    }
}
