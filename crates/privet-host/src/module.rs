//! Compiling `privet.wasm` once: the wasmtime [`Engine`] configured from [`HostConfig`], the compiled
//! [`Module`], and the checks that it is Privet's module with a supported ABI.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::{Config, Engine, ExternType, Module};

use crate::config::{HostConfig, Interrupt};
use crate::error::HostError;
use crate::instance::RawInstance;

/// The ABI major version this host speaks.
pub const ABI_MAJOR: u32 = 1;

/// Exports the host calls, with their wasm signatures (checked at compile time of the host's view).
pub(crate) const EXPORTS: &[&str] = &[
    "memory",
    "privet_abi_version",
    "privet_alloc",
    "privet_free",
    "privet_load",
    "privet_unload",
    "privet_info",
    "privet_decide",
    "privet_decide_batch",
    "privet_upsert_entities",
    "privet_remove_entities",
    "privet_last_error",
];

/// Exports ABI 1.1 added; a module that reports minor 1 or later must have them.
pub(crate) const EXPORTS_1_1: &[&str] = &["privet_policies", "privet_decide_compact", "privet_decide_batch_compact"];

/// Exports ABI 1.2 added; a module that reports minor 2 or later must have them.
pub(crate) const EXPORTS_1_2: &[&str] = &["privet_decide_packed", "privet_decide_batch_packed"];

/// Exports ABI 1.3 added; a module that reports minor 3 or later must have them.
pub(crate) const EXPORTS_1_3: &[&str] =
    &["privet_input", "privet_decide_packed_input", "privet_decide_batch_packed_input"];

/// `privet.wasm` compiled once for this process. Cheap to clone (shared). Make hosts with
/// [`crate::Host::new`]; instances are created from it as the pool needs them.
#[derive(Clone)]
pub struct WasmModule {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    pub(crate) module: Module,
    pub(crate) config: HostConfig,
    pub(crate) abi_version: u32,
    /// The epoch ticker, started by the first host or instance that uses [`Interrupt::Deadline`].
    ticker_stop: OnceLock<Arc<AtomicBool>>,
}

impl ModuleInner {
    /// Starts the epoch ticker once.
    pub(crate) fn ensure_ticker(&self, tick: Duration) {
        self.ticker_stop.get_or_init(|| start_ticker(self.engine.clone(), tick));
    }
}

/// Checks that a host's interrupt is compiled into the module.
pub(crate) fn check_interrupt(module: &HostConfig, host: &HostConfig) -> Result<(), HostError> {
    match host.interrupt {
        Interrupt::Fuel(_) if !module.fuel_metering => {
            Err(HostError::Config("`Interrupt::Fuel` needs a module compiled with `fuel_metering`".into()))
        }
        Interrupt::Deadline(_) if !module.epoch_interruption => {
            Err(HostError::Config("`Interrupt::Deadline` needs a module compiled with `epoch_interruption`".into()))
        }
        _ => Ok(()),
    }
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        if let Some(stop) = self.ticker_stop.get() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmModule")
            .field("abi_version", &format_args!("{}.{}", self.inner.abi_version >> 16, self.inner.abi_version & 0xffff))
            .field("config", &self.inner.config)
            .finish()
    }
}

impl WasmModule {
    /// Reads and compiles a module file.
    pub fn from_file(path: impl AsRef<Path>, config: HostConfig) -> Result<WasmModule, HostError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| HostError::Io { path: path.display().to_string(), source })?;
        WasmModule::new(&bytes, config)
    }

    /// Compiles module bytes, checks that the module is Privet's (no imports, every export the host calls)
    /// and that its ABI major version is 1 (a module reporting 1.1 or later must have ABI 1.1's exports, 1.2 or
    /// later those of 1.2 too, 1.3 or later those of 1.3).
    pub fn new(bytes: &[u8], config: HostConfig) -> Result<WasmModule, HostError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(HostError::NotWasm { len: bytes.len() });
        }
        if config.fiber_stack <= config.max_wasm_stack {
            return Err(HostError::Config(format!(
                "`fiber_stack` ({} bytes) must exceed `max_wasm_stack` ({} bytes): the rest holds host frames",
                config.fiber_stack, config.max_wasm_stack
            )));
        }
        let mut wc = Config::new();
        // Guest calls run on fibers of this size (see fiber.rs), whatever the caller's stack.
        wc.async_stack_size(config.fiber_stack);
        wc.max_wasm_stack(config.max_wasm_stack);
        wc.consume_fuel(config.fuel_metering);
        wc.epoch_interruption(config.epoch_interruption);
        check_interrupt(&config, &config)?;
        let engine = Engine::new(&wc).map_err(|e| HostError::Config(format!("{e:#}")))?;
        let module = Module::new(&engine, bytes).map_err(|e| HostError::Compile(format!("{e:#}")))?;

        let imports: Vec<String> = module.imports().map(|i| format!("`{}::{}`", i.module(), i.name())).collect();
        if !imports.is_empty() {
            return Err(HostError::Foreign(format!("it imports {} (privet.wasm imports nothing)", imports.join(", "))));
        }
        for name in EXPORTS {
            match module.get_export(name) {
                Some(ExternType::Memory(_)) if *name == "memory" => {}
                Some(ExternType::Func(_)) if *name != "memory" => {}
                Some(_) => return Err(HostError::Foreign(format!("export `{name}` has the wrong kind"))),
                None => return Err(HostError::Foreign(format!("it has no export `{name}`"))),
            }
        }

        let mut inner = ModuleInner { engine, module, config, abi_version: 0, ticker_stop: OnceLock::new() };
        // The version check runs in a throwaway instance (typed signatures are checked on the way).
        let version = {
            let probe = WasmModule { inner: Arc::new(clone_inner(&inner)) };
            let mut raw = RawInstance::new(&probe)?;
            raw.abi_version()?
        };
        if version >> 16 != ABI_MAJOR {
            return Err(HostError::AbiVersion { major: version >> 16, minor: version & 0xffff });
        }
        // A module reporting minor 1 must have ABI 1.1's exports, minor 2 or later those of 1.2 too, and so on.
        let minor = version & 0xffff;
        let required = EXPORTS_1_1
            .iter()
            .filter(|_| minor >= 1)
            .chain(EXPORTS_1_2.iter().filter(|_| minor >= 2))
            .chain(EXPORTS_1_3.iter().filter(|_| minor >= 3));
        if let Some(name) =
            required.into_iter().find(|n| !matches!(inner.module.get_export(n), Some(ExternType::Func(_))))
        {
            return Err(HostError::Foreign(format!("it reports abi 1.{minor} but has no function `{name}`")));
        }
        inner.abi_version = version;
        Ok(WasmModule { inner: Arc::new(inner) })
    }

    /// The module's ABI version as `(major, minor)`.
    pub fn abi_version(&self) -> (u32, u32) {
        (self.inner.abi_version >> 16, self.inner.abi_version & 0xffff)
    }

    /// The configuration the module was compiled with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }
}

fn clone_inner(inner: &ModuleInner) -> ModuleInner {
    ModuleInner {
        engine: inner.engine.clone(),
        module: inner.module.clone(),
        config: inner.config.clone(),
        abi_version: inner.abi_version,
        ticker_stop: OnceLock::new(),
    }
}

/// Advances the engine's epoch every `tick` until `stop` is set (when the module is dropped).
fn start_ticker(engine: Engine, tick: Duration) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new().name("privet-epoch".into()).spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
        }
    });
    // If the thread cannot be spawned, deadlines never fire; calls still run (documented limitation).
    drop(spawned);
    stop
}
