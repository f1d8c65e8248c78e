//! Refusals at load: not wasm, truncated wasm, foreign wasm (no Privet exports), tampered bundles.

use privet_core::ErrorCode;
use privet_host::{Host, HostConfig, HostError, WasmModule};

use crate::{cpra_packed, module, wasm_bytes};

#[test]
fn garbage_is_not_wasm() {
    let err = WasmModule::new(b"hello, world", HostConfig::default()).unwrap_err();
    assert!(matches!(err, HostError::NotWasm { .. }), "{err}");
    assert!(err.to_string().contains("not a WebAssembly module"), "{err}");
    let err = WasmModule::new(&[], HostConfig::default()).unwrap_err();
    assert!(matches!(err, HostError::NotWasm { len: 0 }), "{err}");
}

#[test]
fn truncated_wasm_does_not_compile() {
    let bytes = wasm_bytes();
    for cut in [7, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = WasmModule::new(&bytes[..cut], HostConfig::default()).unwrap_err();
        assert!(matches!(err, HostError::Compile(_)), "cut at {cut}: {err}");
        assert!(err.to_string().contains("does not compile"), "{err}");
    }
}

#[test]
fn foreign_wasm_is_refused() {
    // The smallest valid module: magic and version, nothing else.
    let err = WasmModule::new(b"\0asm\x01\0\0\0", HostConfig::default()).unwrap_err();
    assert!(matches!(&err, HostError::Foreign(m) if m.contains("no export `memory`")), "{err}");
    // A module that imports a function (type section, import section "env"."f").
    let importing: &[u8] = &[
        0, b'a', b's', b'm', 1, 0, 0, 0, // header
        1, 4, 1, 0x60, 0, 0, // type section: one type () -> ()
        2, 9, 1, 3, b'e', b'n', b'v', 1, b'f', 0, 0, // import env.f of type 0
    ];
    let err = WasmModule::new(importing, HostConfig::default()).unwrap_err();
    assert!(matches!(&err, HostError::Foreign(m) if m.contains("`env::f`")), "{err}");
    assert_eq!(err.code(), ErrorCode::HostFailure);
}

#[test]
fn tampered_bundle_is_a_hash_mismatch() {
    let text = String::from_utf8(cpra_packed().to_vec()).unwrap();
    let tampered = text.replacen("forbid", "permit", 1);
    assert_ne!(text, tampered);
    let err = Host::new(module(), tampered.as_bytes()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::HashMismatch, "{err}");
    assert!(err.to_string().contains("hash_mismatch") && err.to_string().contains("altered"), "{err}");

    // Not a bundle at all, and a truncated one.
    let err = Host::new(module(), b"\0asm\x01\0\0\0").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBundle, "{err}");
    let err = Host::new(module(), &cpra_packed()[..1000]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBundle, "{err}");
}

#[test]
fn abi_version_is_checked() {
    assert_eq!(module().abi_version().0, 1);
}
