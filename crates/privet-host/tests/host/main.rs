//! privet-host's tests, one binary with topical modules:
//! - `parity`: decisions through wasmtime equal native privet-core's on the CPRA pack's suites.
//! - `compact`: ABI 1.1's compact decisions equal the 1.0 exports' and native ones, field for field; the raw
//!   1.1 exports.
//! - `packed`: ABI 1.2's packed decisions equal the compact ones on the whole conformance
//!   corpus, field for field and as JSON text, per call and in batches; the raw 1.2 exports.
//! - `input`: ABI 1.3's guest-owned buffers (the default path) decide exactly as the 1.2 packed exports on the
//!   whole conformance corpus, per call and in batches, across large inputs and a swap; the raw 1.3 exports
//!   (lengths past the buffer, reuse across calls, resizing, the memory cap).
//! - `faults`: a guest stack overflow (also from a thread with a 256 KiB stack, on a fiber, and from one
//!   with 32 MiB, on the caller's stack), exhausted fuel, a passed
//!   deadline and the memory cap give deny + `host_failure`, and the next call runs on a fresh instance; a
//!   batch gets the fuel budget once per request.
//! - `abi`: garbage and huge inputs into every export of a raw instance are refused without a trap.
//! - `load_errors`: truncated or foreign wasm, tampered bundles are typed errors.
//! - `concurrency`: many threads at once, swap under load, store updates reaching every pooled instance.
//! - `conformance`: the cross-host corpus (`tests/conformance`), written to `target/conformance` and run
//!   through wasmtime line by line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

mod abi;
mod compact;
mod concurrency;
mod conformance;
mod faults;
mod input;
mod load_errors;
mod packed;
mod parity;

use std::path::PathBuf;
use std::sync::OnceLock;

use privet_host::{Host, HostConfig, WasmModule};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// `target/wasm/privet.wasm` (or `PRIVET_WASM`). Fails the test when missing.
pub fn wasm_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = std::env::var_os("PRIVET_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/wasm/privet.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the wasm module `{}` ({e}): run scripts/build-wasm.sh first (or set PRIVET_WASM)",
                path.display()
            )
        })
    })
}

/// The module compiled once with the default configuration.
pub fn module() -> &'static WasmModule {
    static MODULE: OnceLock<WasmModule> = OnceLock::new();
    // Fuel metering compiled in (it is off by default), so that tests can give hosts fuel budgets too.
    MODULE.get_or_init(|| {
        WasmModule::new(wasm_bytes(), HostConfig { fuel_metering: true, ..HostConfig::default() })
            .expect("privet.wasm compiles")
    })
}

/// The CPRA pack, packed.
pub fn cpra_packed() -> &'static [u8] {
    static PACKED: OnceLock<Vec<u8>> = OnceLock::new();
    PACKED.get_or_init(|| privet_core::Bundle::load(root().join("policies/cpra")).expect("cpra loads").to_packed())
}

/// A host on the CPRA pack with the default configuration.
pub fn cpra_host() -> Host {
    Host::new(module(), cpra_packed()).expect("host loads the CPRA pack")
}

/// A packed bundle from sources.
pub fn pack(manifest: Option<&str>, schema: &str, policies: &[(&str, &str)], entities: Option<&str>) -> Vec<u8> {
    use privet_core::{BundleSources, SourceFile};
    BundleSources {
        manifest: manifest.map(|m| SourceFile::new("privet.toml", m)),
        schema: SourceFile::new("schema.cedarschema", schema),
        policies: policies.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect(),
        entities: entities.map(|e| SourceFile::new("entities.json", e)),
    }
    .to_packed()
}

/// A CPRA suite request (the suite cases of the conformance corpus).
pub fn suite_requests() -> Vec<String> {
    conformance::corpus().requests.iter().filter(|r| r.contains("\"suite:")).cloned().collect()
}
