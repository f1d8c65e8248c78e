//! # privet-host: Privet's wasm bundle on wasmtime
//!
//! The same `privet.wasm` that runs in browsers and Node (built by `scripts/build-wasm.sh`, ABI in
//! `crates/privet-wasm/ABI.md`), hosted in Rust with [wasmtime](https://wasmtime.dev), behind privet-core's
//! API: JSON text in, [`privet_core::Decision`] out.
//!
//! ## Principal types
//!
//! - [`WasmModule`]: the module compiled once (`Engine` + `Module`) with a [`HostConfig`]. Compiling checks
//!   that the bytes are WebAssembly, that the module imports nothing and has every export the host calls,
//!   and that `privet_abi_version`'s major is 1. A bad module is a typed [`HostError`].
//! - [`Host`]: one bundle served by a pool of instances. `decide_json`, `decide_batch_json`,
//!   `upsert_entities_json`, `remove_entities_json`, `info` mirror `privet_core::Bundle`; `swap_bundle`
//!   replaces the bundle atomically. `Host` is `Send + Sync`.
//! - [`RawInstance`]: one instance with every ABI export, for tests and fuzzing.
//! - [`HostFault`]: what went wrong inside a guest call (trap, stack overflow, fuel, deadline, memory cap,
//!   ABI breach). Decisions report it as a deny with a `host_failure` error.
//!
//! ## Pool and limits
//!
//! Calls run on the caller's thread, in an instance checked out of a bounded pool
//! ([`HostConfig::max_instances`]; callers beyond it wait for a free instance). Instances are created lazily
//! from the compiled module (instantiate, load the packed bundle, replay the update log). The guest (cedar)
//! recurses deeply, so `max_wasm_stack` is raised to 4 MiB; wasmtime runs a plain call on the caller's own
//! stack, so a guest call is plain only when at least [`HostConfig::fiber_stack`] bytes of that stack are
//! left (`main`, a thread spawned with a big stack); otherwise it is made with `call_async` and runs on a
//! wasmtime fiber stack of that size, allocated once per instance and reused, driven to completion right
//! there (nothing ever yields): the guest gets its whole stack budget whether the caller is `main`, a 2 MiB
//! tokio worker or a 256 KiB thread, with no thread hop. Each instance has a linear-memory cap
//! ([`HostConfig::memory_limit`], a `ResourceLimiter`), and each guest call gets a fresh epoch deadline
//! (the default, 10 s) or, with fuel metering compiled in, a fuel budget (times the number of requests, for a
//! batch) ([`Interrupt`]); both trap when exceeded. An
//! instance that faults is dropped and never reused.
//!
//! ## Decisions through ABI 1.1
//!
//! With a module that speaks ABI 1.1, each instance fetches its bundle's policy table once (`privet_policies`,
//! when it is created: at load, at a swap, after a fault) and decides through `privet_decide_compact`: the
//! guest leaves out each determining policy's text and the bundle hash, and the host puts them back as
//! `Arc<PolicyInfo>`s from the table, giving the same [`privet_core::Decision`] as the 1.0 exports (see
//! ABI.md, "Compact decisions"). With a 1.0 module, or [`HostConfig::compact_decisions`] off, the host uses
//! the 1.0 exports. With a module that speaks ABI 1.2 (and [`HostConfig::packed_decisions`] on, the default),
//! decisions come through `privet_decide_packed` / `privet_decide_batch_packed` instead: a few bytes per
//! decision (verdict, policy-table indices, the id's JSON text), read straight from guest memory, with
//! compact JSON only for decisions that carry errors or anything else a record cannot hold (ABI.md, "Packed
//! decisions"). Inputs up to 1 MiB go through one reusable buffer in each instance's memory. With a module that
//! speaks ABI 1.3 (and [`HostConfig::guest_buffers`] on, the default), that buffer is the guest's own input
//! buffer (`privet_input`), which `privet_decide_packed_input` / `privet_decide_batch_packed_input` read in
//! place, and the result is read from the guest's reused output buffer: one guest call per decision, no
//! `privet_free` (ABI.md, "Guest-owned buffers").
//!
//! ## Entity updates and swap
//!
//! The host keeps a log of the updates applied since the bundle was loaded; an instance that is behind
//! replays it on checkout (the ABI has no store snapshot, so the log is the state; it grows with every
//! update, and compacting it needs a snapshot export from privet-wasm). A swap loads the new bundle in a
//! fresh instance first; a refused bundle leaves the old one in place. See `host.rs` for the details.
//!
//! ## Example
//!
//! ```no_run
//! use privet_host::{Host, HostConfig, WasmModule};
//!
//! let module = WasmModule::from_file("target/wasm/privet.wasm", HostConfig::default())?;
//! let host = Host::new(&module, &std::fs::read("cpra.privet")?)?;
//! let d = host.decide_json(r#"{"principal": "Cpra::Recipient::\"adnet\"", "action": "Cpra::Action::\"share\"",
//!                              "resource": "Cpra::Record::\"alice-events\"", "context": {}}"#);
//! println!("{} {:?}", d.decision.as_str(), d.reasons);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod compact;
mod config;
mod error;
mod fiber;
mod host;
mod instance;
mod module;
mod pool;

pub use config::{HostConfig, Interrupt};
pub use error::{HostError, HostFault};
pub use host::{Host, HostStats};
pub use instance::{LastError, RawInstance, unpack};
pub use module::{ABI_MAJOR, WasmModule};
pub use privet_core::BundleInfo;
