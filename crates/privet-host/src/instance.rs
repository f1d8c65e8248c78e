//! One guest instance: a wasmtime [`Store`] with its memory cap, the typed exports, and safe wrappers that
//! turn every trap into a [`HostFault`]. [`RawInstance`] is public so tests (and fuzzers) can call the ABI
//! directly with arbitrary arguments; the pool uses it through [`crate::Host`].

use privet_core::{DecisionError, ErrorCode};
use wasmtime::{Instance, Memory, ResourceLimiter, Store, Trap, TypedFunc, WasmParams, WasmResults};

use crate::batch::count_requests;
use crate::config::{HostConfig, Interrupt};
use crate::error::{HostError, HostFault};
use crate::fiber::{block_on, stack_left};
use crate::module::{WasmModule, check_interrupt};

/// Per-store data: the memory cap and whether the guest hit it during the current call.
pub(crate) struct StoreData {
    limit: usize,
    /// Bytes the guest asked for when it last hit the cap (reset per call).
    hit: Option<usize>,
    /// (fuel metering, epoch interruption) compiled into the module.
    compiled: (bool, bool),
    /// The module's `HostConfig::fiber_stack`: a guest call runs right on the caller's stack when at least
    /// this much of it is left, else on a fiber of this size (see `fiber.rs`).
    fiber_stack: usize,
}

impl ResourceLimiter for StoreData {
    fn memory_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit || maximum.is_some_and(|m| desired > m) {
            // Refuse the growth (memory.grow returns -1: `privet_alloc` answers 0, the engine aborts) and
            // remember it, so a trap that follows is reported as the memory limit.
            self.hit = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000 && maximum.is_none_or(|m| desired <= m))
    }
}

struct Exports {
    memory: Memory,
    abi_version: TypedFunc<(), u32>,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    load: TypedFunc<(u32, u32), u32>,
    unload: TypedFunc<u32, i32>,
    info: TypedFunc<u32, u64>,
    decide: TypedFunc<(u32, u32, u32), u64>,
    decide_batch: TypedFunc<(u32, u32, u32), u64>,
    upsert: TypedFunc<(u32, u32, u32), u64>,
    remove: TypedFunc<(u32, u32, u32), u64>,
    last_error: TypedFunc<(), u64>,
    /// ABI 1.1 (absent from 1.0 modules).
    compact: Option<CompactExports>,
    /// ABI 1.2 (absent from 1.0 and 1.1 modules).
    packed: Option<PackedExports>,
    /// ABI 1.3 (absent from modules before 1.3).
    input: Option<InputExports>,
}

/// The exports ABI 1.3 added: the guest-owned input and output buffers.
struct InputExports {
    input: TypedFunc<u32, u32>,
    decide: TypedFunc<(u32, u32), u64>,
    decide_batch: TypedFunc<(u32, u32), u64>,
}

/// The exports ABI 1.2 added.
struct PackedExports {
    decide: TypedFunc<(u32, u32, u32), u64>,
    decide_batch: TypedFunc<(u32, u32, u32), u64>,
}

/// The exports ABI 1.1 added.
struct CompactExports {
    policies: TypedFunc<u32, u64>,
    decide: TypedFunc<(u32, u32, u32), u64>,
    decide_batch: TypedFunc<(u32, u32, u32), u64>,
}

/// Inputs up to this size are written into one guest buffer kept for the instance's life (allocated on
/// first use, grown as needed), which saves a `privet_alloc` and a `privet_free` call per request. Larger
/// inputs get a buffer of their own, freed after the call.
const SCRATCH_MAX: u32 = 1 << 20;

/// A guest instance with direct access to every ABI export. Each method arms the per-call limits (fuel or
/// deadline, memory cap) and maps a trap to a [`HostFault`]; after a fault the instance must not be used
/// again (the pool discards it; tests may probe it).
pub struct RawInstance {
    store: Store<StoreData>,
    x: Exports,
    interrupt: Interrupt,
    epoch_ticks: u64,
    /// The fuel budget armed for the current (or last) call: the per-call budget, times the number of
    /// requests for a batch (0 unless the interrupt is [`Interrupt::Fuel`]).
    budget: u64,
    /// The reusable input buffer `(ptr, capacity)`; `(0, 0)` until first used.
    scratch: (u32, u32),
    /// ABI 1.3: the guest-owned input buffer `(ptr, len)` as `privet_input` last sized it; `(0, 0)` until
    /// first used.
    input: (u32, u32),
}

/// A packed result `(ptr << 32) | len` split in two.
pub fn unpack(result: u64) -> (u32, u32) {
    ((result >> 32) as u32, (result & 0xffff_ffff) as u32)
}

impl RawInstance {
    /// Instantiates the module in a fresh store, with the module's configuration.
    pub fn new(module: &WasmModule) -> Result<RawInstance, HostError> {
        RawInstance::with_config(module, &module.inner.config)
    }

    /// Instantiates the module in a fresh store, with a host's memory cap and interrupt.
    pub fn with_config(module: &WasmModule, config: &HostConfig) -> Result<RawInstance, HostError> {
        let inner = &module.inner;
        check_interrupt(&inner.config, config)?;
        let mut store = Store::new(
            &inner.engine,
            StoreData {
                limit: config.memory_limit,
                hit: None,
                compiled: (inner.config.fuel_metering, inner.config.epoch_interruption),
                fiber_stack: inner.config.fiber_stack,
            },
        );
        store.limiter(|d| d as &mut dyn ResourceLimiter);
        if inner.config.epoch_interruption {
            // A passed deadline traps (set once: it is the store's default behaviour, never changed).
            store.epoch_deadline_trap();
        }
        let interrupt = config.interrupt;
        let epoch_ticks = match interrupt {
            Interrupt::Deadline(d) => {
                inner.ensure_ticker(config.epoch_tick);
                let tick = config.epoch_tick.as_nanos().max(1);
                u64::try_from(d.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).max(1)
            }
            _ => 0,
        };
        let mut raw_store = store;
        arm(&mut raw_store, interrupt, 1, epoch_ticks)?;
        // Instantiation runs no guest code (the module has no start function), but go through a fiber
        // anyway so that nothing here depends on the caller's stack.
        let instance = block_on(Instance::new_async(&mut raw_store, &inner.module, &[]))
            .map_err(|e| HostError::Foreign(format!("cannot instantiate: {e:#}")))?;
        let x = exports(&mut raw_store, &instance)?;
        let budget = if let Interrupt::Fuel(f) = interrupt { f } else { 0 };
        Ok(RawInstance { store: raw_store, x, interrupt, epoch_ticks, budget, scratch: (0, 0), input: (0, 0) })
    }

    /// Arms the limits for one guest call (see [`begin`]).
    fn begin(&mut self) -> Result<(), HostFault> {
        self.begin_scaled(1)
    }

    /// Arms the limits for a call that decides `requests` requests: the fuel budget is the per-call budget
    /// times `requests` (at least 1), so that a batch gets the fuel its requests would get one by one.
    fn begin_scaled(&mut self, requests: u64) -> Result<(), HostFault> {
        self.budget = begin(&mut self.store, self.interrupt, requests, self.epoch_ticks)?;
        Ok(())
    }

    /// Arms a batch call over the input at `ptr..ptr + len`: the fuel budget scales with the number of
    /// requests in the array (counted by [`count_requests`]).
    fn begin_batch(&mut self, ptr: u32, len: u32) -> Result<(), HostFault> {
        let requests = match self.interrupt {
            Interrupt::Fuel(_) => {
                let data = self.x.memory.data(&self.store);
                let input = (ptr as usize).checked_add(len as usize).and_then(|end| data.get(ptr as usize..end));
                input.map_or(1, count_requests)
            }
            _ => 1,
        };
        self.begin_scaled(u64::try_from(requests).unwrap_or(u64::MAX))
    }

    fn fault(&self, err: wasmtime::Error) -> HostFault {
        let data = self.store.data();
        if let Some(requested) = data.hit {
            return HostFault::MemoryLimit { requested, limit: data.limit };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => HostFault::StackOverflow,
            Some(Trap::OutOfFuel) => HostFault::FuelExhausted { fuel: self.budget },
            Some(Trap::Interrupt) => HostFault::DeadlineExceeded {
                millis: if let Interrupt::Deadline(d) = self.interrupt { d.as_millis() } else { 0 },
            },
            Some(t) => HostFault::Trap(t.to_string()),
            None => HostFault::Trap(format!("{err:#}")),
        }
    }

    /// `privet_abi_version()`.
    pub fn abi_version(&mut self) -> Result<u32, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.abi_version, ()).map_err(|e| self.fault(e))
    }

    /// `privet_alloc(len)`: 0 when the guest is out of memory.
    pub fn alloc(&mut self, len: u32) -> Result<u32, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.alloc, len).map_err(|e| self.fault(e))
    }

    /// `privet_free(ptr, len)`. Called directly on the caller's stack, not on a fiber (see [`invoke_shallow`]):
    /// the host frees every result, so this saves a fiber switch per decision.
    pub fn free(&mut self, ptr: u32, len: u32) -> Result<(), HostFault> {
        self.begin()?;
        invoke_shallow(&mut self.store, &self.x.free, (ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_load(ptr, len)`: handle, 0 on failure.
    pub fn load_raw(&mut self, ptr: u32, len: u32) -> Result<u32, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.load, (ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_unload(handle)`.
    pub fn unload(&mut self, handle: u32) -> Result<i32, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.unload, handle).map_err(|e| self.fault(e))
    }

    /// `privet_info(handle)`: packed result.
    pub fn info_raw(&mut self, handle: u32) -> Result<u64, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.info, handle).map_err(|e| self.fault(e))
    }

    /// `privet_decide(handle, ptr, len)`: packed result.
    pub fn decide_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.decide, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch(handle, ptr, len)`: packed result. The fuel budget is the per-call budget times
    /// the number of requests in the input array.
    pub fn decide_batch_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin_batch(ptr, len)?;
        invoke(&mut self.store, &self.x.decide_batch, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// True when the module has ABI 1.1's exports (`privet_policies`, `privet_decide_compact`,
    /// `privet_decide_batch_compact`).
    pub fn has_compact(&self) -> bool {
        self.x.compact.is_some()
    }

    /// `privet_policies(handle)` (ABI 1.1): packed result, 0 on failure.
    pub fn policies_raw(&mut self, handle: u32) -> Result<u64, HostFault> {
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_policies")) };
        begin(&mut self.store, self.interrupt, 1, self.epoch_ticks)?;
        invoke(&mut self.store, &c.policies, handle).map_err(|e| self.fault(e))
    }

    /// `privet_decide_compact(handle, ptr, len)` (ABI 1.1): packed result.
    pub fn decide_compact_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_decide_compact")) };
        begin(&mut self.store, self.interrupt, 1, self.epoch_ticks)?;
        invoke(&mut self.store, &c.decide, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch_compact(handle, ptr, len)` (ABI 1.1): packed result. The fuel budget is the
    /// per-call budget times the number of requests in the input array.
    pub fn decide_batch_compact_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        if self.x.compact.is_none() {
            return Err(abi_1_0("privet_decide_batch_compact"));
        }
        self.begin_batch(ptr, len)?;
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_decide_batch_compact")) };
        invoke(&mut self.store, &c.decide_batch, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// True when the module has ABI 1.2's exports (`privet_decide_packed`, `privet_decide_batch_packed`).
    pub fn has_packed(&self) -> bool {
        self.x.packed.is_some()
    }

    /// `privet_decide_packed(handle, ptr, len)` (ABI 1.2): packed result (a packed record or compact JSON).
    pub fn decide_packed_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        let Some(p) = &self.x.packed else { return Err(before_1_2("privet_decide_packed")) };
        begin(&mut self.store, self.interrupt, 1, self.epoch_ticks)?;
        invoke(&mut self.store, &p.decide, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch_packed(handle, ptr, len)` (ABI 1.2): packed result (a packed batch, or a JSON
    /// array of compact decisions). The fuel budget is the per-call budget times the number of requests.
    pub fn decide_batch_packed_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        if self.x.packed.is_none() {
            return Err(before_1_2("privet_decide_batch_packed"));
        }
        self.begin_batch(ptr, len)?;
        let Some(p) = &self.x.packed else { return Err(before_1_2("privet_decide_batch_packed")) };
        invoke(&mut self.store, &p.decide_batch, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// True when the module has ABI 1.3's exports (`privet_input`, `privet_decide_packed_input`,
    /// `privet_decide_batch_packed_input`).
    pub fn has_input(&self) -> bool {
        self.x.input.is_some()
    }

    /// `privet_input(len)` (ABI 1.3): the address of the guest-owned input buffer, now exactly `len` bytes; 0
    /// when the guest is out of memory. Called directly on the caller's stack (see [`invoke_shallow`]): it
    /// only resizes a buffer.
    pub fn input_raw(&mut self, len: u32) -> Result<u32, HostFault> {
        let Some(i) = &self.x.input else { return Err(before_1_3("privet_input")) };
        begin(&mut self.store, self.interrupt, 1, self.epoch_ticks)?;
        invoke_shallow(&mut self.store, &i.input, len).map_err(|e| self.fault(e))
    }

    /// `privet_decide_packed_input(handle, len)` (ABI 1.3): `(ptr << 32) | len` of the result in the guest's
    /// output buffer (not to be freed; valid until the next call).
    pub fn decide_packed_input_raw(&mut self, handle: u32, len: u32) -> Result<u64, HostFault> {
        let Some(i) = &self.x.input else { return Err(before_1_3("privet_decide_packed_input")) };
        begin(&mut self.store, self.interrupt, 1, self.epoch_ticks)?;
        invoke(&mut self.store, &i.decide, (handle, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch_packed_input(handle, len)` (ABI 1.3): as [`RawInstance::decide_packed_input_raw`]
    /// for a batch. The fuel budget is the per-call budget times the number of requests in the input.
    pub fn decide_batch_packed_input_raw(&mut self, handle: u32, len: u32) -> Result<u64, HostFault> {
        if self.x.input.is_none() {
            return Err(before_1_3("privet_decide_batch_packed_input"));
        }
        self.begin_batch(self.input.0, len.min(self.input.1))?;
        let Some(i) = &self.x.input else { return Err(before_1_3("privet_decide_batch_packed_input")) };
        invoke(&mut self.store, &i.decide_batch, (handle, len)).map_err(|e| self.fault(e))
    }

    /// `privet_upsert_entities(handle, ptr, len)`: packed result, 0 on failure.
    pub fn upsert_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.upsert, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_remove_entities(handle, ptr, len)`: packed result, 0 on failure.
    pub fn remove_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.remove, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_last_error()`: packed result, 0 when the last call succeeded.
    pub fn last_error_raw(&mut self) -> Result<u64, HostFault> {
        self.begin()?;
        invoke(&mut self.store, &self.x.last_error, ()).map_err(|e| self.fault(e))
    }

    /// The fuel budget the last call was given: the per-call budget, times the number of requests for a
    /// batch (`None` unless the interrupt is [`Interrupt::Fuel`]).
    pub fn last_budget(&self) -> Option<u64> {
        match self.interrupt {
            Interrupt::Fuel(_) => Some(self.budget),
            _ => None,
        }
    }

    /// Fuel left from the last call's budget (`None` unless the interrupt is [`Interrupt::Fuel`]).
    pub fn fuel_left(&self) -> Option<u64> {
        match self.interrupt {
            Interrupt::Fuel(_) => self.store.get_fuel().ok(),
            _ => None,
        }
    }

    /// Size of linear memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.x.memory.data_size(&self.store)
    }

    /// Copies `bytes` into guest memory at `ptr` (bounds-checked by wasmtime).
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), HostFault> {
        self.x
            .memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|_| HostFault::Abi(format!("cannot write {} bytes at `{ptr}`", bytes.len())))
    }

    /// Copies `len` bytes out of guest memory at `ptr` (bounds-checked).
    pub fn read(&self, ptr: u32, len: u32) -> Result<Vec<u8>, HostFault> {
        let mut out = vec![0u8; len as usize];
        self.x
            .memory
            .read(&self.store, ptr as usize, &mut out)
            .map_err(|_| HostFault::Abi(format!("result `{ptr}+{len}` is outside linear memory")))?;
        Ok(out)
    }

    /// The fault for a guest allocation (`export(size)`) that returned 0: the memory limit when the store's
    /// limiter refused the growth, else the guest's own out-of-memory.
    fn out_of_memory(&self, export: &str, size: u32) -> HostFault {
        let limit = self.store.data().limit;
        match self.store.data().hit {
            Some(requested) => HostFault::MemoryLimit { requested, limit },
            None => HostFault::Abi(format!("`{export}({size})` returned 0 (guest out of memory)")),
        }
    }

    /// Allocates a guest buffer and copies `bytes` into it; returns `(ptr, len)`.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(u32, u32), HostFault> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| HostFault::Abi(format!("input of {} bytes does not fit wasm32", bytes.len())))?;
        let ptr = self.alloc(len)?;
        if ptr == 0 && len > 0 {
            return Err(self.out_of_memory("privet_alloc", len));
        }
        if len > 0 {
            self.write(ptr, bytes)?;
        }
        Ok((ptr, len))
    }

    /// Reads a packed result and frees it; `None` for a 0 result.
    pub fn take(&mut self, result: u64) -> Result<Option<Vec<u8>>, HostFault> {
        self.take_with(result, <[u8]>::to_vec)
    }

    /// Hands a packed result's bytes to `f` straight from linear memory (no copy), then frees the result;
    /// `None` for a 0 result.
    pub(crate) fn take_with<T>(&mut self, result: u64, f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, HostFault> {
        if result == 0 {
            return Ok(None);
        }
        let (ptr, len) = unpack(result);
        let out = {
            let bytes = (ptr as usize)
                .checked_add(len as usize)
                .and_then(|end| self.x.memory.data(&self.store).get(ptr as usize..end))
                .ok_or_else(|| HostFault::Abi(format!("result `{ptr}+{len}` is outside linear memory")))?;
            f(bytes)
        };
        self.free(ptr, len)?;
        Ok(Some(out))
    }

    /// Writes `input` into the reusable input buffer (growing it when needed), or into a buffer of its own
    /// when it is larger than [`SCRATCH_MAX`]. Returns `(ptr, len, owned)`: an owned buffer is the caller's
    /// to free.
    fn put_input(&mut self, input: &[u8]) -> Result<(u32, u32, bool), HostFault> {
        let len = u32::try_from(input.len())
            .map_err(|_| HostFault::Abi(format!("input of {} bytes does not fit wasm32", input.len())))?;
        if len > SCRATCH_MAX {
            let (ptr, len) = self.put(input)?;
            return Ok((ptr, len, true));
        }
        if len > self.scratch.1 {
            let cap = len.next_power_of_two().max(4096);
            let (old, old_cap) = std::mem::take(&mut self.scratch);
            if old_cap > 0 {
                self.free(old, old_cap)?;
            }
            let ptr = self.alloc(cap)?;
            if ptr == 0 {
                return Err(self.out_of_memory("privet_alloc", cap));
            }
            self.scratch = (ptr, cap);
        }
        if len > 0 {
            self.write(self.scratch.0, input)?;
        }
        Ok((self.scratch.0, len, false))
    }

    /// Writes `input` into the guest-owned input buffer of ABI 1.3 (`privet_input`), growing it first when it
    /// is too small (to a power of two, at least 4 KiB) and shrinking it back after an input larger than
    /// [`SCRATCH_MAX`] (so that one large input does not pin its memory). Returns the input's length.
    fn put_guest_input(&mut self, input: &[u8]) -> Result<u32, HostFault> {
        let len = u32::try_from(input.len())
            .map_err(|_| HostFault::Abi(format!("input of {} bytes does not fit wasm32", input.len())))?;
        let want = if len > self.input.1 {
            Some(if len > SCRATCH_MAX { len } else { len.next_power_of_two().max(4096) })
        } else if self.input.1 > SCRATCH_MAX && len <= SCRATCH_MAX {
            Some(len.next_power_of_two().max(4096))
        } else {
            None
        };
        if let Some(cap) = want {
            self.input = (0, 0);
            let ptr = self.input_raw(cap)?;
            if ptr == 0 {
                return Err(self.out_of_memory("privet_input", cap));
            }
            self.input = (ptr, cap);
        }
        if len > 0 {
            self.write(self.input.0, input)?;
        }
        Ok(len)
    }

    /// Calls an ABI 1.3 export over `input` written into the guest-owned input buffer, and hands the result's
    /// bytes (in the guest's output buffer, which is not freed) to `parse`.
    pub(crate) fn call_input_parse<T>(
        &mut self,
        input: &[u8],
        call: impl FnOnce(&mut RawInstance, u32) -> Result<u64, HostFault>,
        parse: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, HostFault> {
        let len = self.put_guest_input(input)?;
        let result = call(self, len)?;
        if result == 0 {
            return Ok(None);
        }
        let (ptr, len) = unpack(result);
        let bytes = (ptr as usize)
            .checked_add(len as usize)
            .and_then(|end| self.x.memory.data(&self.store).get(ptr as usize..end))
            .ok_or_else(|| HostFault::Abi(format!("result `{ptr}+{len}` is outside linear memory")))?;
        Ok(Some(parse(bytes)))
    }

    /// Calls an export over an input: writes it into guest memory (the reusable buffer when it fits), calls,
    /// frees the input if it had a buffer of its own, and hands the result's bytes to `parse`.
    pub(crate) fn call_parse<T>(
        &mut self,
        input: &[u8],
        call: impl FnOnce(&mut RawInstance, u32, u32) -> Result<u64, HostFault>,
        parse: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, HostFault> {
        let (ptr, len, owned) = self.put_input(input)?;
        let result = call(self, ptr, len)?;
        if owned {
            self.free(ptr, len)?;
        }
        self.take_with(result, parse)
    }

    /// Calls an export over an input buffer and returns the result's bytes (see [`RawInstance::call_parse`]).
    pub(crate) fn call_with(
        &mut self,
        input: &[u8],
        call: impl FnOnce(&mut RawInstance, u32, u32) -> Result<u64, HostFault>,
    ) -> Result<Option<Vec<u8>>, HostFault> {
        self.call_parse(input, call, <[u8]>::to_vec)
    }

    /// The last error as privet's errors: the summary first, then every error.
    pub fn last_error(&mut self) -> Result<Option<LastError>, HostFault> {
        let r = self.last_error_raw()?;
        // privet_last_error does not clear the error, and take() calls privet_free, which keeps it too.
        let Some(bytes) = self.take(r)? else { return Ok(None) };
        let parsed: LastError = serde_json::from_slice(&bytes)
            .map_err(|e| HostFault::Abi(format!("`privet_last_error` returned invalid JSON: {e}")))?;
        Ok(Some(parsed))
    }

    /// Loads a packed bundle; a refusal is a [`HostError::Bundle`] with the guest's diagnostics.
    pub fn load(&mut self, packed: &[u8]) -> Result<u32, HostError> {
        let (ptr, len) = self.put(packed)?;
        let handle = self.load_raw(ptr, len)?;
        self.free(ptr, len)?;
        if handle != 0 {
            return Ok(handle);
        }
        Err(match self.last_error()? {
            Some(e) => HostError::Bundle { code: e.error.code, message: e.error.message, errors: e.errors },
            None => HostError::Bundle {
                code: ErrorCode::InvalidBundle,
                message: "`privet_load` failed without an error".into(),
                errors: Vec::new(),
            },
        })
    }
}

/// The JSON of `privet_last_error`: the summary error's fields and `errors`, every error.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LastError {
    /// The summary.
    #[serde(flatten)]
    pub error: DecisionError,
    /// Every error.
    #[serde(default)]
    pub errors: Vec<DecisionError>,
}

/// Arms a guest call that decides `requests` requests: clears the memory-cap flag and sets its fuel budget
/// (scaled by `requests`) or deadline. Returns the fuel budget (0 when not metering).
fn begin(
    store: &mut Store<StoreData>,
    interrupt: Interrupt,
    requests: u64,
    epoch_ticks: u64,
) -> Result<u64, HostFault> {
    store.data_mut().hit = None;
    arm(store, interrupt, requests, epoch_ticks).map_err(|e| HostFault::Abi(e.to_string()))
}

/// Calls a typed export with the stack a fiber would give it: directly on the caller's stack when at least
/// `fiber_stack` bytes of it are left (see [`stack_left`]), else on a fiber (see `fiber.rs`), driven to
/// completion on this thread. Either way the guest may use `max_wasm_stack` (wasmtime measures it from the
/// stack pointer at entry) and wasmtime's and the host's frames have the rest; a fiber costs a few hundred
/// nanoseconds per call (setting it up, switching to it and back), which is most of a small call.
fn invoke<P, R>(store: &mut Store<StoreData>, func: &TypedFunc<P, R>, params: P) -> wasmtime::Result<R>
where
    P: WasmParams + Sync,
    R: WasmResults + Sync,
{
    if stack_left().is_some_and(|left| left >= store.data().fiber_stack) {
        func.call(store, params)
    } else {
        block_on(func.call_async(store, params))
    }
}

/// Calls a typed export directly on the calling thread's stack, for exports whose guest code is shallow and
/// bounded whatever the input: `privet_free` (the allocator's free: no recursion, a few hundred bytes of native
/// stack). wasmtime still bounds the guest by `max_wasm_stack` and traps on deadlines and fuel as on a fiber;
/// what a fiber adds (a stack of its own, whatever the caller's) is not needed here, and skipping it saves
/// setting one up and switching to it and back.
fn invoke_shallow<P, R>(store: &mut Store<StoreData>, func: &TypedFunc<P, R>, params: P) -> wasmtime::Result<R>
where
    P: WasmParams,
    R: WasmResults,
{
    func.call(store, params)
}

fn abi_1_0(export: &str) -> HostFault {
    HostFault::Abi(format!("the module speaks abi 1.0: it has no `{export}`"))
}

fn before_1_2(export: &str) -> HostFault {
    HostFault::Abi(format!("the module speaks an abi before 1.2: it has no `{export}`"))
}

fn before_1_3(export: &str) -> HostFault {
    HostFault::Abi(format!("the module speaks an abi before 1.3: it has no `{export}`"))
}

/// Fuel for hosts that do not meter: far more than any call uses, well inside wasmtime's i64 counter.
const NEVER_FUEL: u64 = 1 << 60;

/// The most fuel a call is given (a scaled budget saturates here, inside wasmtime's i64 counter).
const MAX_FUEL: u64 = 1 << 62;

/// Sets the call's fuel (`Fuel(f)`: `f × requests`, saturating at [`MAX_FUEL`]) and epoch deadline; returns
/// the fuel budget when metering (else 0). Fuel and deadlines trap (they never yield to the async caller).
fn arm(store: &mut Store<StoreData>, interrupt: Interrupt, requests: u64, epoch_ticks: u64) -> Result<u64, HostError> {
    let engine = store.data().compiled;
    // Whatever is compiled in but not used gets a budget that never runs out.
    let (fuel, ticks, budget) = match interrupt {
        Interrupt::None => (NEVER_FUEL, u64::MAX / 2, 0),
        Interrupt::Fuel(f) => {
            let f = f.saturating_mul(requests.max(1)).min(MAX_FUEL);
            (f, u64::MAX / 2, f)
        }
        Interrupt::Deadline(_) => (NEVER_FUEL, epoch_ticks, 0),
    };
    if engine.0 {
        store.set_fuel(fuel).map_err(|e| HostError::Config(format!("{e:#}")))?;
    }
    if engine.1 {
        store.set_epoch_deadline(ticks);
    }
    Ok(budget)
}

fn exports(store: &mut Store<StoreData>, instance: &Instance) -> Result<Exports, HostError> {
    macro_rules! func {
        ($name:literal) => {
            instance
                .get_typed_func(&mut *store, $name)
                .map_err(|e| HostError::Foreign(format!("export `{}` has the wrong signature: {e}", $name)))?
        };
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| HostError::Foreign("it has no memory export `memory`".into()))?;
    // ABI 1.1's exports, when the module has them (a 1.1 module must: `WasmModule::new` checks it).
    let compact = match instance.get_func(&mut *store, "privet_decide_compact") {
        Some(_) => Some(CompactExports {
            policies: func!("privet_policies"),
            decide: func!("privet_decide_compact"),
            decide_batch: func!("privet_decide_batch_compact"),
        }),
        None => None,
    };
    // ABI 1.2's exports, likewise.
    let packed = match instance.get_func(&mut *store, "privet_decide_packed") {
        Some(_) => Some(PackedExports {
            decide: func!("privet_decide_packed"),
            decide_batch: func!("privet_decide_batch_packed"),
        }),
        None => None,
    };
    // ABI 1.3's exports, likewise.
    let input = match instance.get_func(&mut *store, "privet_input") {
        Some(_) => Some(InputExports {
            input: func!("privet_input"),
            decide: func!("privet_decide_packed_input"),
            decide_batch: func!("privet_decide_batch_packed_input"),
        }),
        None => None,
    };
    Ok(Exports {
        memory,
        abi_version: func!("privet_abi_version"),
        alloc: func!("privet_alloc"),
        free: func!("privet_free"),
        load: func!("privet_load"),
        unload: func!("privet_unload"),
        info: func!("privet_info"),
        decide: func!("privet_decide"),
        decide_batch: func!("privet_decide_batch"),
        upsert: func!("privet_upsert_entities"),
        remove: func!("privet_remove_entities"),
        last_error: func!("privet_last_error"),
        compact,
        packed,
        input,
    })
}
