//! # privet-wasm: Privet's engine as one WebAssembly module with a small C ABI
//!
//! This crate compiles [`privet_core`] to `wasm32-unknown-unknown` as a `cdylib` and exports a handful of
//! plain functions over linear memory: no `wasm-bindgen`, no imports. The same `.wasm` bytes therefore run
//! in browsers, in Node (`bindings/js`) and in wasmtime (`privet-host`).
//!
//! The contract is documented in `ABI.md` beside this crate's `Cargo.toml`. In short:
//!
//! * `privet_alloc(len) -> ptr` / `privet_free(ptr, len)`: the host writes inputs into guest memory.
//! * `privet_load(ptr, len) -> handle`: loads a packed bundle (the single-file JSON from `privet pack`).
//! * `privet_decide(handle, ptr, len) -> u64` and `privet_decide_batch`: request JSON in, decision JSON
//!   out, returned as `(ptr << 32) | len` in a buffer the host frees. Decisions never fail: every error is
//!   a deny that carries it.
//! * `privet_upsert_entities`, `privet_remove_entities`, `privet_info`, `privet_unload`.
//! * ABI 1.1: `privet_policies(handle) -> u64` (the bundle's policy table, fetched once by the host) and
//!   `privet_decide_compact` / `privet_decide_batch_compact`, decisions without what the host rebuilds from
//!   that table (`determining`, `obligations`) and the bundle hash it knows.
//! * ABI 1.2: `privet_decide_packed`, the common decision (no errors, rebuilt from the table) as a short
//!   binary record of policy-table indices and the request id's JSON text; any other as the compact JSON.
//!   `privet_decide_batch_packed`: a count, then per decision its length and its record or compact JSON.
//! * ABI 1.3: `privet_input(len) -> ptr`, a guest-owned input buffer the host writes requests into, and
//!   `privet_decide_packed_input` / `privet_decide_batch_packed_input`, which decide it in place and write the
//!   packed result into a guest-owned output buffer reused from call to call (nothing to free).
//! * `privet_last_error() -> u64`: the structured error of the last failed call.
//! * `privet_abi_version() -> u32`: `(major << 16) | minor`.
//!
//! ## Layout
//!
//! * [`registry`]: the safe half: loaded bundles by handle and every operation as bytes in, bytes out.
//!   Unit-tested natively.
//! * `abi`: the exports, pointer validation and memory ownership. The only `unsafe` code in
//!   Privet; each block carries a `// SAFETY:` comment.
//! * [`failure`]: the error JSON reported by `privet_last_error`.
//!
//! The module is built with `panic = immediate-abort` for size (`scripts/build-wasm.sh`), so a panic would
//! be a trap. The code here does not panic (no `unwrap`, `expect`, indexing), and hosts discard an
//! instance that trapped anyway (a stack overflow in a pathological input traps the same way).
#![deny(unsafe_code)]

mod abi;
pub mod failure;

/// The module's allocator: talc, single-threaded, growing linear memory as it needs (std's default on
/// wasm32 is dlmalloc, which measured about 7% of a decision's guest time in wasmtime, in malloc, free and
/// their bin upkeep). The ABI's `privet_alloc` / `privet_free` and every allocation of the engine go through
/// it. No `unsafe`: talc's constructor for this case is safe (it checks the target is single-threaded).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub mod registry;

/// The ABI's major version: bumped on any breaking change (see `ABI.md`, "Versioning").
pub const ABI_MAJOR: u32 = 1;
/// The ABI's minor version: bumped on additive changes.
pub const ABI_MINOR: u32 = 3;
/// The ABI version, `(major << 16) | minor`, as `privet_abi_version` returns it.
pub const ABI_VERSION: u32 = (ABI_MAJOR << 16) | ABI_MINOR;
