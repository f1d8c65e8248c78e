//! Live heap bytes of this process, for the entity-store memory figure (the `{"kind": "memory", …}` lines of
//! `benches/compare/memory.rs`; the timing harness, `main.rs`, does not count).
//!
//! The global allocator is `cap::Cap<MiMalloc>` with no limit: mimalloc (the allocator of Privet's binaries, the
//! CLI included; the same for every engine this harness runs natively), plus one relaxed atomic
//! add or subtract of the requested size per allocation, deallocation and reallocation. The workspace lints
//! `forbid(unsafe_code)`, and a `forbid` cannot be lifted for one file or target, so the bench does not carry
//! its own `unsafe impl GlobalAlloc`; `cap` is that wrapper, as a dev-dependency.
//!
//! Figures are requested bytes (`Layout::size`) still allocated: the allocator's per-chunk overhead and
//! fragmentation are not in them (peak RSS, reported separately, has those). A window measured with
//! [`retained`] is exact only while no other thread allocates; the harness measures before any mode runs.

use cap::Cap;
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOC: Cap<MiMalloc> = Cap::new(MiMalloc, usize::MAX);

/// Bytes currently allocated on the heap by this process (requested sizes).
pub fn live_bytes() -> usize {
    ALLOC.allocated()
}

/// Runs `f` and returns its result with the net change of live heap bytes over the call: what the result (and
/// anything else `f` left allocated) retains, temporaries excluded.
pub fn retained<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let before = live_bytes();
    let out = f();
    let after = live_bytes();
    (out, after as i64 - before as i64)
}
