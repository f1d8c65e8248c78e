//! The instance pool: a bounded set of worker threads, each owning at most one guest instance (a
//! [`Slot`]). A call checks out an idle worker (spawning one while under the bound, else waiting), runs a
//! job on it, and checks it back in. Workers have big native stacks (`HostConfig::worker_stack`), so a
//! guest may use all of `max_wasm_stack` whatever thread the caller is on.

use std::sync::mpsc;
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
}

type Job = Box<dyn FnOnce(&mut Option<Slot>) + Send>;

struct Worker {
    tx: mpsc::Sender<Job>,
}

struct PoolState {
    idle: Vec<Worker>,
    total: usize,
}

pub(crate) struct Pool {
    state: Mutex<PoolState>,
    cond: Condvar,
    max: usize,
    stack: usize,
}

impl Pool {
    pub(crate) fn new(max: usize, stack: usize) -> Pool {
        Pool {
            state: Mutex::new(PoolState { idle: Vec::new(), total: 0 }),
            cond: Condvar::new(),
            max: max.max(1),
            stack,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Workers alive (idle or busy).
    pub(crate) fn size(&self) -> usize {
        self.lock().total
    }

    fn checkout(&self) -> Result<Worker, HostFault> {
        let mut st = self.lock();
        loop {
            if let Some(w) = st.idle.pop() {
                return Ok(w);
            }
            if st.total < self.max {
                st.total += 1;
                drop(st);
                return self.spawn().inspect_err(|_| {
                    self.lock().total -= 1;
                    self.cond.notify_one();
                });
            }
            st = self.cond.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn spawn(&self) -> Result<Worker, HostFault> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("privet-host-worker".into())
            .stack_size(self.stack)
            .spawn(move || {
                let mut slot: Option<Slot> = None;
                while let Ok(job) = rx.recv() {
                    job(&mut slot);
                }
            })
            .map_err(|e| HostFault::Abi(format!("cannot spawn a worker thread: {e}")))?;
        Ok(Worker { tx })
    }

    /// Runs `job` on an idle worker's slot and returns its result.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Option<Slot>) -> R + Send + 'static,
    ) -> Result<R, HostFault> {
        let worker = self.checkout()?;
        let (rtx, rrx) = mpsc::sync_channel::<R>(1);
        let sent = worker.tx.send(Box::new(move |slot: &mut Option<Slot>| {
            let _ = rtx.send(job(slot));
        }));
        let result = match sent {
            Ok(()) => rrx.recv().ok(),
            Err(_) => None,
        };
        let mut st = self.lock();
        match result {
            Some(r) => {
                st.idle.push(worker);
                self.cond.notify_one();
                Ok(r)
            }
            None => {
                // The worker died (a panic in host code): forget it.
                st.total -= 1;
                self.cond.notify_one();
                Err(HostFault::Abi("the worker thread running the call died".into()))
            }
        }
    }
}
