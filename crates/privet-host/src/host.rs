//! [`Host`]: decide / decide_batch / upsert / remove / info over a pool of guest instances, with bundle swap.
//!
//! ## State and how instances catch up
//!
//! The host keeps the *current bundle* as an `Arc<BundleState>`: the packed bundle bytes, a number
//! (`epoch`) unique to this load, its hash, and the **log of entity-store updates** applied since it was
//! loaded (the JSON of each applied upsert or removal, in order). The ABI has no store snapshot export, so
//! the log is how any instance is brought to the current store: an instance records the bundle epoch it
//! holds and how many log entries it has applied (`generation`). On checkout, on the calling thread, an
//! instance whose epoch is not the current one is dropped and a fresh one is made (instantiate, load the
//! packed bundle), and an instance whose generation is behind replays the missing entries. Updates are
//! serialized by a host-wide lock; an update is applied in one instance first and appended to the log only
//! if the guest accepted it, so a refused update reaches nobody. The log grows with every applied update
//! (see the crate docs for the limitation).
//!
//! ## Faults
//!
//! A trap, exhausted fuel, a passed deadline or the memory cap during any call makes the host drop that
//! instance (its pool place is left empty); the call is answered with a deny carrying a `host_failure` error
//! (updates and `info` return the error). The next call that checks out that place makes a fresh instance
//! and replays the log.
//!
//! ## Swap
//!
//! [`Host::swap_bundle`] loads the new bundle in a fresh instance first; if the guest refuses it (or
//! traps), the error is returned and nothing changes. Otherwise the new state replaces the current one
//! atomically: calls already running in an instance finish on the old bundle, calls that start later use
//! the new one. The new bundle starts from its own entity store (updates applied to the old one are not
//! carried over).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use privet_core::{Decision, DecisionError, ErrorCode, StoreUpdate};
use serde_json::Value;

use privet_core::BundleInfo;

use crate::compact::{CompactDecision, PolicyTable};
use crate::config::HostConfig;
use crate::error::{HostError, HostFault};
use crate::instance::RawInstance;
use crate::module::{WasmModule, check_interrupt};
use crate::pool::{Pool, Slot};

/// Counters, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Instances created (each instantiates the module and loads the bundle).
    pub instances_created: usize,
    /// Instances dropped after a fault.
    pub instances_discarded: usize,
    /// Instances dropped because the bundle was swapped.
    pub instances_retired: usize,
    /// Update-log entries replayed into instances that were behind.
    pub updates_replayed: usize,
    /// Pool places in existence (each holds at most one instance; at most
    /// [`HostConfig::max_instances`]). Calls run on the caller's thread, so there are no worker threads.
    pub slots: usize,
    /// Updates in the current bundle's log.
    pub log_len: usize,
}

#[derive(Debug)]
enum Update {
    Upsert(String),
    Remove(String),
}

struct BundleState {
    epoch: u64,
    packed: Arc<[u8]>,
    hash: Arc<str>,
    log: RwLock<Vec<Arc<Update>>>,
}

#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    discarded: AtomicUsize,
    retired: AtomicUsize,
    replayed: AtomicUsize,
}

struct Shared {
    module: WasmModule,
    config: HostConfig,
    current: RwLock<Arc<BundleState>>,
    counters: Counters,
}

/// The wasm host: Privet's engine running in wasmtime instances, with privet-core's API (JSON text in,
/// [`Decision`]s out). `Host` is `Send + Sync`; share it with an `Arc` and call it from many threads: each
/// call runs on the calling thread, in an instance of its own (on a fiber stack of the instance's, so the
/// caller's stack size does not matter). See the module docs of this file for the state, fault and swap
/// rules.
pub struct Host {
    shared: Shared,
    pool: Pool,
    update_lock: Mutex<()>,
    epochs: AtomicU64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("bundle", &self.bundle_hash()).field("stats", &self.stats()).finish()
    }
}

impl Host {
    /// A host serving `packed` (a `.privet` file's bytes). The bundle is loaded in a first instance, so a
    /// refused bundle (bad hash, invalid policies …) is an error here.
    pub fn new(module: &WasmModule, packed: &[u8]) -> Result<Host, HostError> {
        Host::with_config(module, packed, module.config().clone())
    }

    /// A host with its own pool size, memory cap and interrupt (the module's engine-level settings still
    /// apply: the interrupt must be compiled into the module; `max_wasm_stack` and `fiber_stack` are the
    /// module's).
    pub fn with_config(module: &WasmModule, packed: &[u8], config: HostConfig) -> Result<Host, HostError> {
        check_interrupt(module.config(), &config)?;
        let pool = Pool::new(config.max_instances);
        let module = module.clone();
        let packed: Arc<[u8]> = Arc::from(packed);
        let (slot, hash) = make_slot(&module, &config, &packed, 1)?;
        let state =
            Arc::new(BundleState { epoch: slot.bundle_epoch, packed, hash: Arc::from(hash), log: RwLock::default() });
        let shared = Shared { module, config, current: RwLock::new(state), counters: Counters::default() };
        shared.counters.created.fetch_add(1, Ordering::Relaxed);
        let host = Host { shared, pool, update_lock: Mutex::new(()), epochs: AtomicU64::new(2) };
        // Hand the first instance to the pool.
        let _ = host.pool.run(move |s| *s = Some(slot));
        Ok(host)
    }

    fn current(&self) -> Arc<BundleState> {
        Arc::clone(&self.shared.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The content hash of the current bundle.
    pub fn bundle_hash(&self) -> String {
        self.current().hash.to_string()
    }

    /// Counters.
    pub fn stats(&self) -> HostStats {
        let c = &self.shared.counters;
        HostStats {
            instances_created: c.created.load(Ordering::Relaxed),
            instances_discarded: c.discarded.load(Ordering::Relaxed),
            instances_retired: c.retired.load(Ordering::Relaxed),
            updates_replayed: c.replayed.load(Ordering::Relaxed),
            slots: self.pool.size(),
            log_len: self.current().log.read().unwrap_or_else(PoisonError::into_inner).len(),
        }
    }

    /// Runs `op` in an up-to-date instance of the current bundle. Returns the bundle hash with the result.
    fn run<T>(
        &self,
        op: impl FnOnce(&mut Slot, &BundleState) -> Result<T, HostFault>,
    ) -> (Result<T, HostFault>, Arc<str>) {
        let shared = &self.shared;
        let ran = self.pool.run(|slot: &mut Option<Box<Slot>>| {
            // Read the current bundle once the instance is checked out, so a swap is seen by every call that
            // starts after it.
            let state = Arc::clone(&shared.current.read().unwrap_or_else(PoisonError::into_inner));
            let hash = Arc::clone(&state.hash);
            let result = prepare(slot, shared, &state).and_then(|s| op(s, &state));
            if result.is_err() && slot.take().is_some() {
                shared.counters.discarded.fetch_add(1, Ordering::Relaxed);
            }
            (result, hash)
        });
        match ran {
            Ok(r) => r,
            Err(fault) => (Err(fault), Arc::clone(&self.current().hash)),
        }
    }

    /// Decides one request (JSON text). Never fails: request errors are a deny with errors, as in
    /// privet-core; a fault in the guest is a deny with a `host_failure` error.
    pub fn decide_json(&self, request: &str) -> Decision {
        let input = request;
        let (result, hash) = self.run(|s, state| {
            let handle = s.handle;
            match &s.table {
                Some(table) if s.guest_buffers => {
                    let out = s.raw.call_input_parse(
                        input.as_bytes(),
                        |r, l| r.decide_packed_input_raw(handle, l),
                        |b| table.expand_packed(b, &state.hash),
                    )?;
                    out.ok_or_else(|| HostFault::Abi("`privet_decide_packed_input` returned no result".into()))?
                }
                Some(table) if s.packed => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_packed_raw(handle, p, l),
                        |b| table.expand_packed(b, &state.hash),
                    )?;
                    out.ok_or_else(|| HostFault::Abi("`privet_decide_packed` returned no result".into()))?
                }
                Some(table) => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_compact_raw(handle, p, l),
                        |b| serde_json::from_slice::<CompactDecision>(b),
                    )?;
                    table.expand(parsed(out, "privet_decide_compact")?, &state.hash)
                }
                None => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_raw(handle, p, l),
                        |b| serde_json::from_slice::<Decision>(b),
                    )?;
                    parsed(out, "privet_decide")
                }
            }
        });
        result.unwrap_or_else(|fault| fault_deny(&fault, hash, request_id(request)))
    }

    /// Decides a JSON array of requests in one guest call (faster than one call each). A fault gives one
    /// deny per request (or one, if the input is not an array).
    pub fn decide_batch_json(&self, requests: &str) -> Vec<Decision> {
        let input = requests;
        let (result, hash) = self.run(|s, state| {
            let handle = s.handle;
            match &s.table {
                Some(table) if s.guest_buffers => {
                    let out = s.raw.call_input_parse(
                        input.as_bytes(),
                        |r, l| r.decide_batch_packed_input_raw(handle, l),
                        |b| table.expand_packed_batch(b, &state.hash),
                    )?;
                    out.ok_or_else(|| HostFault::Abi("`privet_decide_batch_packed_input` returned no result".into()))?
                }
                Some(table) if s.packed => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_batch_packed_raw(handle, p, l),
                        |b| table.expand_packed_batch(b, &state.hash),
                    )?;
                    out.ok_or_else(|| HostFault::Abi("`privet_decide_batch_packed` returned no result".into()))?
                }
                Some(table) => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_batch_compact_raw(handle, p, l),
                        |b| serde_json::from_slice::<Vec<CompactDecision>>(b),
                    )?;
                    parsed(out, "privet_decide_batch_compact")?
                        .into_iter()
                        .map(|c| table.expand(c, &state.hash))
                        .collect()
                }
                None => {
                    let out = s.raw.call_parse(
                        input.as_bytes(),
                        |r, p, l| r.decide_batch_raw(handle, p, l),
                        |b| serde_json::from_slice::<Vec<Decision>>(b),
                    )?;
                    parsed(out, "privet_decide_batch")
                }
            }
        });
        result.unwrap_or_else(|fault| match serde_json::from_str::<Value>(requests) {
            Ok(Value::Array(items)) => {
                items.iter().map(|item| fault_deny(&fault, Arc::clone(&hash), item.get("id").cloned())).collect()
            }
            _ => vec![fault_deny(&fault, hash, None)],
        })
    }

    /// True when decisions come through ABI 1.1's compact exports (the module is 1.1 or later and
    /// [`HostConfig::compact_decisions`] is on); false when they come through the 1.0 exports.
    pub fn compact_decisions(&self) -> bool {
        self.shared.config.compact_decisions && self.shared.module.abi_version().1 >= 1
    }

    /// True when decisions come through ABI 1.2's packed exports (the module is 1.2 or later and both
    /// [`HostConfig::compact_decisions`] and [`HostConfig::packed_decisions`] are on).
    pub fn packed_decisions(&self) -> bool {
        self.compact_decisions() && self.shared.config.packed_decisions && self.shared.module.abi_version().1 >= 2
    }

    /// True when decisions come through ABI 1.3's guest-owned buffers (the module is 1.3 or later, packed
    /// decisions are on and so is [`HostConfig::guest_buffers`]).
    pub fn guest_buffers(&self) -> bool {
        self.packed_decisions() && self.shared.config.guest_buffers && self.shared.module.abi_version().1 >= 3
    }

    /// Inserts or replaces entities (a JSON array in Cedar's entity format) in the store, all or nothing.
    /// Every instance sees the update before its next decision.
    pub fn upsert_entities_json(&self, json: &str) -> Result<StoreUpdate, Vec<DecisionError>> {
        self.update(Update::Upsert(json.to_owned()))
    }

    /// Removes entities (a JSON array of uids) from the store. Every instance sees it before its next
    /// decision.
    pub fn remove_entities_json(&self, json: &str) -> Result<StoreUpdate, Vec<DecisionError>> {
        self.update(Update::Remove(json.to_owned()))
    }

    fn update(&self, update: Update) -> Result<StoreUpdate, Vec<DecisionError>> {
        let _serial = self.update_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let update = Arc::new(update);
        let (result, _) = self.run(|s, state| match apply(&mut s.raw, s.handle, &update)? {
            Ok(u) => {
                let mut log = state.log.write().unwrap_or_else(PoisonError::into_inner);
                log.push(update);
                s.generation = log.len();
                Ok(Ok(u))
            }
            Err(errors) => Ok(Err(errors)),
        });
        match result {
            Ok(r) => r,
            Err(fault) => Err(vec![fault.to_decision_error()]),
        }
    }

    /// The current bundle's summary, with the store as updated.
    pub fn info(&self) -> Result<BundleInfo, HostError> {
        let (result, _) = self.run(|s, _| {
            let r = s.raw.info_raw(s.handle)?;
            let out = s.raw.take(r)?;
            parse_json::<BundleInfo>(out, "privet_info")
        });
        Ok(result?)
    }

    /// Replaces the bundle with `packed`. The new bundle is loaded in a fresh instance first: if it is
    /// refused, the error is returned and the old bundle stays. Calls running in the guest finish on the
    /// old bundle; calls that start after this returns use the new one.
    pub fn swap_bundle(&self, packed: &[u8]) -> Result<BundleInfo, HostError> {
        let epoch = self.epochs.fetch_add(1, Ordering::Relaxed);
        let packed: Arc<[u8]> = Arc::from(packed);
        let (mut slot, hash) = make_slot(&self.shared.module, &self.shared.config, &packed, epoch)?;
        let r = slot.raw.info_raw(slot.handle)?;
        let out = slot.raw.take(r)?;
        let info = parse_json::<BundleInfo>(out, "privet_info")?;
        let state = Arc::new(BundleState { epoch, packed, hash: Arc::from(hash), log: RwLock::default() });
        self.shared.counters.created.fetch_add(1, Ordering::Relaxed);
        *self.shared.current.write().unwrap_or_else(PoisonError::into_inner) = state;
        let shared = &self.shared;
        let _ = self.pool.run(|s| {
            if s.replace(slot).is_some() {
                shared.counters.retired.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(info)
    }
}

/// A fresh instance with `packed` loaded, and the bundle's policy table when decisions are to come through
/// the compact exports; returns it with the bundle's hash.
fn make_slot(
    module: &WasmModule,
    config: &HostConfig,
    packed: &[u8],
    epoch: u64,
) -> Result<(Box<Slot>, String), HostError> {
    let mut raw = RawInstance::with_config(module, config)?;
    let handle = raw.load(packed)?;
    let r = raw.info_raw(handle)?;
    let out = raw.take(r)?;
    let info = parse_json::<BundleInfo>(out, "privet_info")?;
    let table = if config.compact_decisions && raw.has_compact() {
        let r = raw.policies_raw(handle)?;
        let table = raw.take_with(r, PolicyTable::from_json)?;
        Some(table.ok_or_else(|| HostFault::Abi("`privet_policies` returned no result".into()))??)
    } else {
        None
    };
    let packed = table.is_some() && config.packed_decisions && raw.has_packed();
    let guest_buffers = packed && config.guest_buffers && raw.has_input();
    Ok((Box::new(Slot { raw, handle, bundle_epoch: epoch, generation: 0, table, packed, guest_buffers }), info.hash))
}

/// Brings a pool place to the current bundle and store: a fresh instance if it has none or holds
/// another bundle, then the missing update-log entries.
fn prepare<'a>(
    slot: &'a mut Option<Box<Slot>>,
    shared: &Shared,
    state: &BundleState,
) -> Result<&'a mut Slot, HostFault> {
    if slot.as_ref().is_some_and(|s| s.bundle_epoch != state.epoch) {
        *slot = None;
        shared.counters.retired.fetch_add(1, Ordering::Relaxed);
    }
    let s = match slot {
        Some(s) => s,
        None => {
            let (fresh, _) =
                make_slot(&shared.module, &shared.config, &state.packed, state.epoch).map_err(|e| match e {
                    HostError::Fault(f) => f,
                    other => HostFault::Abi(format!("cannot recreate an instance: {other}")),
                })?;
            shared.counters.created.fetch_add(1, Ordering::Relaxed);
            slot.insert(fresh)
        }
    };
    let missing: Vec<Arc<Update>> = {
        let log = state.log.read().unwrap_or_else(PoisonError::into_inner);
        match log.get(s.generation..) {
            Some(m) => m.to_vec(),
            None => return Err(HostFault::Abi("instance is ahead of the update log".into())),
        }
    };
    for (i, update) in missing.iter().enumerate() {
        if let Err(errors) = apply(&mut s.raw, s.handle, update)? {
            let first = errors.first().map(|e| e.message.clone()).unwrap_or_default();
            return Err(HostFault::Abi(format!("replaying update #{} was refused: {first}", s.generation + i + 1)));
        }
        s.generation += 1;
        shared.counters.replayed.fetch_add(1, Ordering::Relaxed);
    }
    Ok(s)
}

/// Applies one update in an instance: the guest's [`StoreUpdate`], or its errors.
fn apply(
    raw: &mut RawInstance,
    handle: u32,
    update: &Update,
) -> Result<Result<StoreUpdate, Vec<DecisionError>>, HostFault> {
    let out = match update {
        Update::Upsert(json) => raw.call_with(json.as_bytes(), |r, p, l| r.upsert_raw(handle, p, l))?,
        Update::Remove(json) => raw.call_with(json.as_bytes(), |r, p, l| r.remove_raw(handle, p, l))?,
    };
    if out.is_some() {
        return parse_json::<StoreUpdate>(out, "store update").map(Ok);
    }
    Ok(Err(match raw.last_error()? {
        Some(e) if !e.errors.is_empty() => e.errors,
        Some(e) => vec![e.error],
        None => vec![DecisionError::new(ErrorCode::HostFailure, "store update failed without an error")],
    }))
}

/// A result parsed straight from guest memory (see `RawInstance::call_parse`).
fn parsed<T>(out: Option<Result<T, serde_json::Error>>, what: &str) -> Result<T, HostFault> {
    out.ok_or_else(|| HostFault::Abi(format!("`{what}` returned no result")))?
        .map_err(|e| HostFault::Abi(format!("`{what}` returned invalid JSON: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(out: Option<Vec<u8>>, what: &str) -> Result<T, HostFault> {
    let bytes = out.ok_or_else(|| HostFault::Abi(format!("`{what}` returned no result")))?;
    serde_json::from_slice(&bytes).map_err(|e| HostFault::Abi(format!("`{what}` returned invalid JSON: {e}")))
}

fn fault_deny(fault: &HostFault, bundle: Arc<str>, id: Option<Value>) -> Decision {
    let mut d = Decision::deny_with(vec![fault.to_decision_error()], bundle);
    d.id = id;
    d
}

/// The request's `id`, for a deny the guest could not produce (best effort).
fn request_id(request: &str) -> Option<Value> {
    serde_json::from_str::<Value>(request).ok()?.get("id").cloned()
}
