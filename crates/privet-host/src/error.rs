//! Errors: why a module or a bundle was refused ([`HostError`]), and what went wrong inside a guest call
//! ([`HostFault`], reported in decisions as a `host_failure` error).

use privet_core::{DecisionError, ErrorCode};
use thiserror::Error;

/// A failure that made the host discard an instance: a trap, exhausted fuel, an interrupted call, the memory
/// cap, or a guest that broke the ABI contract. The call is answered with a deny whose error has code
/// `host_failure` and this text as its message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostFault {
    /// The guest used more than `max_wasm_stack` of native stack (deep recursion in the engine).
    #[error("wasm guest trapped: stack overflow (call stack exhausted); the instance was discarded")]
    StackOverflow,
    /// The per-call fuel budget ran out.
    #[error("wasm guest ran out of fuel ({fuel} units per call); the instance was discarded")]
    FuelExhausted {
        /// The per-call budget.
        fuel: u64,
    },
    /// The per-call epoch deadline passed.
    #[error("wasm guest interrupted: the call ran past its deadline of {millis} ms; the instance was discarded")]
    DeadlineExceeded {
        /// The deadline in milliseconds.
        millis: u128,
    },
    /// The guest tried to grow its linear memory past the cap (and then trapped or failed).
    #[error(
        "wasm guest hit the memory limit: it asked for {requested} bytes, the cap is {limit} bytes; the instance was discarded"
    )]
    MemoryLimit {
        /// Bytes the guest asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// Any other trap (e.g. `unreachable` from an aborted allocation).
    #[error("wasm guest trapped: {0}; the instance was discarded")]
    Trap(String),
    /// The guest answered something the ABI does not allow (an out-of-bounds result, invalid JSON).
    #[error("wasm guest broke the abi: {0}; the instance was discarded")]
    Abi(String),
}

impl HostFault {
    /// This fault as the error carried by a deny.
    pub fn to_decision_error(&self) -> DecisionError {
        DecisionError::new(ErrorCode::HostFailure, self.to_string())
    }
}

/// Why a wasm module or a bundle was refused by the host.
#[derive(Debug, Error)]
pub enum HostError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes do not start with the WebAssembly magic number.
    #[error("not a WebAssembly module: the bytes do not start with `\\0asm` ({len} bytes)")]
    NotWasm {
        /// Length of the input.
        len: usize,
    },
    /// wasmtime could not compile the module (truncated or invalid).
    #[error("the WebAssembly module does not compile (truncated or invalid): {0}")]
    Compile(String),
    /// The module is valid wasm but not Privet's: it imports something, or lacks an export.
    #[error("not a privet.wasm module: {0}")]
    Foreign(String),
    /// The module speaks another major version of the ABI.
    #[error("privet.wasm speaks abi {major}.{minor}; this host needs abi 1.x")]
    AbiVersion {
        /// The module's major version.
        major: u32,
        /// The module's minor version.
        minor: u32,
    },
    /// The wasmtime engine could not be configured.
    #[error("cannot configure wasmtime: {0}")]
    Config(String),
    /// The guest refused the bundle: `code` is privet-core's error code (`hash_mismatch`, `invalid_bundle`,
    /// `validation_failed` …); `errors` holds every diagnostic.
    #[error("bundle refused ({code}): {message}")]
    Bundle {
        /// The summary code.
        code: ErrorCode,
        /// The summary message.
        message: String,
        /// Every diagnostic.
        errors: Vec<DecisionError>,
    },
    /// The guest failed (trapped, ran out of fuel or memory) while loading or instantiating.
    #[error("{0}")]
    Fault(#[from] HostFault),
}

impl HostError {
    /// The privet error code that best describes this error (`hash_mismatch` for a tampered bundle,
    /// `host_failure` for a bad module or a trap).
    pub fn code(&self) -> ErrorCode {
        match self {
            HostError::Bundle { code, .. } => *code,
            HostError::Io { .. } => ErrorCode::Io,
            _ => ErrorCode::HostFailure,
        }
    }
}
