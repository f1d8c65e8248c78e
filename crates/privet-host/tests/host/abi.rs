//! Garbage and huge inputs into every ABI export of a raw instance: refused cleanly (an error or a deny),
//! never a trap, and the instance still works afterwards.

use privet_core::{Decision, ErrorCode, Verdict};
use privet_host::{HostConfig, RawInstance, unpack};

use crate::{cpra_packed, module, suite_requests};

fn decision(raw: &mut RawInstance, result: u64) -> Decision {
    let bytes = raw.take(result).unwrap().expect("decide paths always return a result");
    serde_json::from_slice(&bytes).unwrap()
}

fn decisions(raw: &mut RawInstance, result: u64) -> Vec<Decision> {
    let bytes = raw.take(result).unwrap().expect("decide paths always return a result");
    serde_json::from_slice(&bytes).unwrap()
}

fn code(raw: &mut RawInstance) -> ErrorCode {
    raw.last_error().unwrap().expect("a last error").error.code
}

#[test]
fn garbage_into_every_export_is_refused_without_a_trap() {
    let mut raw = RawInstance::new(module()).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();

    // load: garbage, empty, invalid UTF-8, out of bounds.
    let (p, l) = raw.put(&garbage).unwrap();
    assert_eq!(raw.load_raw(p, l).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::InvalidBundle);
    raw.free(p, l).unwrap();
    assert_eq!(raw.load_raw(0, 0).unwrap(), 0);
    let size = raw.memory_size() as u32;
    assert_eq!(raw.load_raw(size - 10, 100).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::HostFailure);
    assert_eq!(raw.load_raw(0, 5).unwrap(), 0);
    assert_eq!(raw.load_raw(u32::MAX, u32::MAX).unwrap(), 0);

    let handle = raw.load(cpra_packed()).unwrap();
    assert!(handle >= 1);
    let size = raw.memory_size() as u32;

    // decide: unknown handle, out-of-bounds input, wrapping range, garbage bytes, invalid UTF-8.
    let r = raw.decide_raw(handle + 7, 0, 0).unwrap();
    let d = decision(&mut raw, r);
    assert_eq!((d.decision, d.errors[0].code), (Verdict::Deny, ErrorCode::NoBundle));
    for (ptr, len) in [(size, 1), (u32::MAX - 2, 10), (0, 1), (size - 1, 2)] {
        let r = raw.decide_raw(handle, ptr, len).unwrap();
        let d = decision(&mut raw, r);
        assert_eq!((d.decision, d.errors[0].code), (Verdict::Deny, ErrorCode::HostFailure), "{ptr}+{len}");
    }
    let (p, l) = raw.put(&garbage).unwrap();
    let r = raw.decide_raw(handle, p, l).unwrap();
    let d = decision(&mut raw, r);
    assert_eq!((d.decision, d.errors[0].code), (Verdict::Deny, ErrorCode::MalformedJson));
    // decide_batch on the same garbage: one deny.
    let r = raw.decide_batch_raw(handle, p, l).unwrap();
    let ds = decisions(&mut raw, r);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].errors[0].code, ErrorCode::MalformedJson);
    let r = raw.decide_batch_raw(handle, size, 4).unwrap();
    assert_eq!(decisions(&mut raw, r)[0].errors[0].code, ErrorCode::HostFailure);
    // upsert / remove: garbage, out of bounds, unknown handle.
    assert_eq!(raw.upsert_raw(handle, p, l).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::MalformedJson);
    assert_eq!(raw.remove_raw(handle, p, l).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::MalformedJson);
    assert_eq!(raw.upsert_raw(handle, size, 8).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::HostFailure);
    assert_eq!(raw.remove_raw(99, p, l).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::NoBundle);
    raw.free(p, l).unwrap();
    // info / unload: unknown handles.
    assert_eq!(raw.info_raw(0).unwrap(), 0);
    assert_eq!(code(&mut raw), ErrorCode::NoBundle);
    assert_eq!(raw.unload(12345).unwrap(), -1);
    // free: out-of-bounds ranges and no-ops do not trap.
    raw.free(size, 16).unwrap();
    raw.free(u32::MAX, u32::MAX).unwrap();
    raw.free(0, 100).unwrap();
    raw.free(100, 0).unwrap();
    // alloc(0) is a dangling non-zero pointer.
    assert_ne!(raw.alloc(0).unwrap(), 0);

    // The instance still decides correctly.
    let req = suite_requests().into_iter().next().unwrap();
    let (p, l) = raw.put(req.as_bytes()).unwrap();
    let r = raw.decide_raw(handle, p, l).unwrap();
    let d = decision(&mut raw, r);
    raw.free(p, l).unwrap();
    let native = privet_core::Bundle::from_packed(cpra_packed()).unwrap().decide_json(&req);
    assert_eq!(d, native);
    assert!(raw.last_error().unwrap().is_none() || raw.last_error().is_ok());
    let (ptr, len) = unpack(raw.info_raw(handle).unwrap());
    assert!(ptr != 0 && len > 0);
}

#[test]
fn huge_allocations_are_refused_under_the_memory_cap() {
    let config = HostConfig { memory_limit: 64 << 20, ..HostConfig::default() };
    let mut raw = RawInstance::with_config(module(), &config).unwrap();
    for len in [u32::MAX, u32::MAX / 2, 1 << 30, 100 << 20] {
        assert_eq!(raw.alloc(len).unwrap(), 0, "alloc({len}) must fail cleanly");
    }
    // put() turns that into a typed fault naming the cap.
    let err = raw.put(&vec![b' '; 80 << 20]).unwrap_err();
    assert!(err.to_string().contains("memory limit"), "{err}");
    // The instance is still usable: load and decide.
    let handle = raw.load(cpra_packed()).unwrap();
    let req = suite_requests().into_iter().next().unwrap();
    let (p, l) = raw.put(req.as_bytes()).unwrap();
    let r = raw.decide_raw(handle, p, l).unwrap();
    assert!(decision(&mut raw, r).errors.is_empty());
    // A length that claims the whole address space, pointing at a valid small buffer: refused as a range.
    let r = raw.decide_raw(handle, p, u32::MAX - p).unwrap();
    assert_eq!(decision(&mut raw, r).errors[0].code, ErrorCode::HostFailure);
}
