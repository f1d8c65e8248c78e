//! Host configuration: pool size, per-instance memory cap, per-call interruption, stack sizes.

use std::time::Duration;

/// How a runaway call is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// No interruption (only the memory cap and the stack limit apply).
    None,
    /// A fuel budget per guest call (deterministic; wasmtime counts roughly one unit per wasm operator).
    /// A batch call (`decide_batch_json`, the batch exports of [`crate::RawInstance`]) gets the budget once per
    /// request in its array, so a batch may use what its requests would use one by one. Costs some speed:
    /// every basic block updates the fuel counter. Running out traps (it never yields).
    Fuel(u64),
    /// A wall-clock deadline per guest call (batches included: it does not scale with the batch), checked at function entries and loop headers via wasmtime's
    /// epoch interruption (a ticker thread advances the epoch every [`HostConfig::epoch_tick`]). Cheaper than
    /// fuel, but not deterministic.
    Deadline(Duration),
}

/// Configuration of a [`crate::WasmModule`] and the hosts made from it. The engine-level fields
/// (`fuel_metering`, `epoch_interruption`, `max_wasm_stack`, `fiber_stack`) are fixed when the module is compiled; the
/// others may differ per host ([`crate::Host::with_config`]), so one compiled module serves hosts with
/// different pools, caps and budgets.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Compile fuel metering in (needed by [`Interrupt::Fuel`]). Default false: it updates a counter in every
    /// basic block, which measured about a quarter of a decision's time in the guest; turn it on for the
    /// deterministic budget of [`Interrupt::Fuel`].
    pub fuel_metering: bool,
    /// Compile epoch checks in (needed by [`Interrupt::Deadline`]; cheap). Default true.
    pub epoch_interruption: bool,
    /// Most instances alive at once (the pool's bound and so the number of calls in flight; more callers
    /// wait for a free instance). Default: the number of CPUs, at least 2.
    pub max_instances: usize,
    /// Linear-memory cap per instance, in bytes. Default 512 MiB.
    pub memory_limit: usize,
    /// Per-call interruption. Default: `Deadline(10 s)`, which no sane decision (or batch of them) approaches;
    /// it stops a runaway call at the cost of an epoch check at function entries and loop headers.
    /// `Fuel(n)` (with `fuel_metering`) is the deterministic alternative.
    pub interrupt: Interrupt,
    /// Native stack a guest call may use (wasmtime's `max_wasm_stack`). Default 4 MiB (wasmtime's own default
    /// is 512 KiB; cedar's recursive evaluator wants more, see ABI.md "Traps").
    pub max_wasm_stack: usize,
    /// Size of the fiber stack a guest call runs on (wasmtime's `async_stack_size`) when the calling thread
    /// has less than this much of its own stack left; with at least this much left (the main thread, a
    /// thread spawned with a big stack) the call runs right on the caller's stack, which is cheaper. Each
    /// instance allocates a fiber stack on its first fiber call and reuses it. Must exceed
    /// `max_wasm_stack`; the rest holds wasmtime's and the host's frames during the call. Default
    /// `max_wasm_stack + 2 MiB` (address space; pages are committed as the stack is used). This replaces
    /// the worker threads (and their `worker_stack`) of earlier versions: calls run on the caller's thread.
    pub fiber_stack: usize,
    /// Epoch tick for [`Interrupt::Deadline`]. Default 5 ms.
    pub epoch_tick: Duration,
    /// Take decisions through ABI 1.1's compact exports when the module has them (`privet_decide_compact`:
    /// the guest leaves out each determining policy's text, which the host rebuilds from the policy table
    /// it fetched once per instance). Decisions are the same either way; `false` uses the 1.0 exports, which
    /// is also what happens with a 1.0 module. Default true.
    pub compact_decisions: bool,
    /// Take decisions through ABI 1.2's packed exports when the module has them and `compact_decisions` is
    /// on (`privet_decide_packed`: a binary record of verdict, policy-table indices and id, read straight
    /// from guest memory, with compact JSON only for decisions that carry more). Decisions are the same
    /// either way; `false` keeps the 1.1 compact exports. Default true.
    pub packed_decisions: bool,
    /// Take decisions through ABI 1.3's guest-owned buffers when the module has them and `packed_decisions`
    /// is on (`privet_decide_packed_input`: the request is written into an input buffer the guest keeps and
    /// reads in place, and the result is read from an output buffer the guest reuses, so a decision costs
    /// one guest call, with no copy of the request and no allocation or `privet_free` of its result).
    /// Decisions are the same either way; `false` keeps the 1.2 packed exports. Default true.
    pub guest_buffers: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        let max_wasm_stack = 4 << 20;
        HostConfig {
            fuel_metering: false,
            epoch_interruption: true,
            max_instances: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2),
            memory_limit: 512 << 20,
            interrupt: Interrupt::Deadline(Duration::from_secs(10)),
            max_wasm_stack,
            fiber_stack: max_wasm_stack + (2 << 20),
            epoch_tick: Duration::from_millis(5),
            compact_decisions: true,
            packed_decisions: true,
            guest_buffers: true,
        }
    }
}
