//! One guest instance: a wasmtime [`Store`] with its memory cap, the typed exports, and safe wrappers that
//! turn every trap into a [`HostFault`]. [`RawInstance`] is public so tests (and fuzzers) can call the ABI
//! directly with arbitrary arguments; the pool uses it through [`crate::Host`].

use privet_core::{DecisionError, ErrorCode};
use wasmtime::{Instance, Memory, ResourceLimiter, Store, Trap, TypedFunc};

use crate::config::{HostConfig, Interrupt};
use crate::error::{HostError, HostFault};
use crate::module::{WasmModule, check_interrupt};

/// Per-store data: the memory cap and whether the guest hit it during the current call.
pub(crate) struct StoreData {
    limit: usize,
    /// Bytes the guest asked for when it last hit the cap (reset per call).
    hit: Option<usize>,
    /// (fuel metering, epoch interruption) compiled into the module.
    compiled: (bool, bool),
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
    /// The reusable input buffer `(ptr, capacity)`; `(0, 0)` until first used.
    scratch: (u32, u32),
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
            },
        );
        store.limiter(|d| d as &mut dyn ResourceLimiter);
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
        arm(&mut raw_store, interrupt, epoch_ticks)?;
        let instance = Instance::new(&mut raw_store, &inner.module, &[])
            .map_err(|e| HostError::Foreign(format!("cannot instantiate: {e:#}")))?;
        let x = exports(&mut raw_store, &instance)?;
        Ok(RawInstance { store: raw_store, x, interrupt, epoch_ticks, scratch: (0, 0) })
    }

    fn begin(&mut self) -> Result<(), HostFault> {
        begin(&mut self.store, self.interrupt, self.epoch_ticks)
    }

    fn fault(&self, err: wasmtime::Error) -> HostFault {
        let data = self.store.data();
        if let Some(requested) = data.hit {
            return HostFault::MemoryLimit { requested, limit: data.limit };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => HostFault::StackOverflow,
            Some(Trap::OutOfFuel) => {
                HostFault::FuelExhausted { fuel: if let Interrupt::Fuel(f) = self.interrupt { f } else { 0 } }
            }
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
        self.x.abi_version.call(&mut self.store, ()).map_err(|e| self.fault(e))
    }

    /// `privet_alloc(len)`: 0 when the guest is out of memory.
    pub fn alloc(&mut self, len: u32) -> Result<u32, HostFault> {
        self.begin()?;
        self.x.alloc.call(&mut self.store, len).map_err(|e| self.fault(e))
    }

    /// `privet_free(ptr, len)`.
    pub fn free(&mut self, ptr: u32, len: u32) -> Result<(), HostFault> {
        self.begin()?;
        self.x.free.call(&mut self.store, (ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_load(ptr, len)`: handle, 0 on failure.
    pub fn load_raw(&mut self, ptr: u32, len: u32) -> Result<u32, HostFault> {
        self.begin()?;
        self.x.load.call(&mut self.store, (ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_unload(handle)`.
    pub fn unload(&mut self, handle: u32) -> Result<i32, HostFault> {
        self.begin()?;
        self.x.unload.call(&mut self.store, handle).map_err(|e| self.fault(e))
    }

    /// `privet_info(handle)`: packed result.
    pub fn info_raw(&mut self, handle: u32) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.info.call(&mut self.store, handle).map_err(|e| self.fault(e))
    }

    /// `privet_decide(handle, ptr, len)`: packed result.
    pub fn decide_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.decide.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch(handle, ptr, len)`: packed result.
    pub fn decide_batch_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.decide_batch.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// True when the module has ABI 1.1's exports (`privet_policies`, `privet_decide_compact`,
    /// `privet_decide_batch_compact`).
    pub fn has_compact(&self) -> bool {
        self.x.compact.is_some()
    }

    /// `privet_policies(handle)` (ABI 1.1): packed result, 0 on failure.
    pub fn policies_raw(&mut self, handle: u32) -> Result<u64, HostFault> {
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_policies")) };
        begin(&mut self.store, self.interrupt, self.epoch_ticks)?;
        c.policies.call(&mut self.store, handle).map_err(|e| self.fault(e))
    }

    /// `privet_decide_compact(handle, ptr, len)` (ABI 1.1): packed result.
    pub fn decide_compact_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_decide_compact")) };
        begin(&mut self.store, self.interrupt, self.epoch_ticks)?;
        c.decide.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_decide_batch_compact(handle, ptr, len)` (ABI 1.1): packed result.
    pub fn decide_batch_compact_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        let Some(c) = &self.x.compact else { return Err(abi_1_0("privet_decide_batch_compact")) };
        begin(&mut self.store, self.interrupt, self.epoch_ticks)?;
        c.decide_batch.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_upsert_entities(handle, ptr, len)`: packed result, 0 on failure.
    pub fn upsert_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.upsert.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_remove_entities(handle, ptr, len)`: packed result, 0 on failure.
    pub fn remove_raw(&mut self, handle: u32, ptr: u32, len: u32) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.remove.call(&mut self.store, (handle, ptr, len)).map_err(|e| self.fault(e))
    }

    /// `privet_last_error()`: packed result, 0 when the last call succeeded.
    pub fn last_error_raw(&mut self) -> Result<u64, HostFault> {
        self.begin()?;
        self.x.last_error.call(&mut self.store, ()).map_err(|e| self.fault(e))
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

    /// Allocates a guest buffer and copies `bytes` into it; returns `(ptr, len)`.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(u32, u32), HostFault> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| HostFault::Abi(format!("input of {} bytes does not fit wasm32", bytes.len())))?;
        let ptr = self.alloc(len)?;
        if ptr == 0 && len > 0 {
            let limit = self.store.data().limit;
            return Err(match self.store.data().hit {
                Some(requested) => HostFault::MemoryLimit { requested, limit },
                None => HostFault::Abi(format!("`privet_alloc({len})` returned 0 (guest out of memory)")),
            });
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
                let limit = self.store.data().limit;
                return Err(match self.store.data().hit {
                    Some(requested) => HostFault::MemoryLimit { requested, limit },
                    None => HostFault::Abi(format!("`privet_alloc({cap})` returned 0 (guest out of memory)")),
                });
            }
            self.scratch = (ptr, cap);
        }
        if len > 0 {
            self.write(self.scratch.0, input)?;
        }
        Ok((self.scratch.0, len, false))
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

/// Arms a guest call: clears the memory-cap flag and sets its fuel budget or deadline.
fn begin(store: &mut Store<StoreData>, interrupt: Interrupt, epoch_ticks: u64) -> Result<(), HostFault> {
    store.data_mut().hit = None;
    arm(store, interrupt, epoch_ticks).map_err(|e| HostFault::Abi(e.to_string()))
}

fn abi_1_0(export: &str) -> HostFault {
    HostFault::Abi(format!("the module speaks abi 1.0: it has no `{export}`"))
}

/// Fuel for hosts that do not meter: far more than any call uses, well inside wasmtime's i64 counter.
const NEVER_FUEL: u64 = 1 << 60;

fn arm(store: &mut Store<StoreData>, interrupt: Interrupt, epoch_ticks: u64) -> Result<(), HostError> {
    let engine = store.data().compiled;
    // Whatever is compiled in but not used gets a budget that never runs out.
    let (fuel, ticks) = match interrupt {
        Interrupt::None => (NEVER_FUEL, u64::MAX / 2),
        Interrupt::Fuel(f) => (f, u64::MAX / 2),
        Interrupt::Deadline(_) => (NEVER_FUEL, epoch_ticks),
    };
    if engine.0 {
        store.set_fuel(fuel).map_err(|e| HostError::Config(format!("{e:#}")))?;
    }
    if engine.1 {
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
    }
    Ok(())
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
    })
}
