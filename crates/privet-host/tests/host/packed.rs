//! ABI 1.2's packed decisions: a host on the packed exports decides exactly as a host on the
//! 1.1 compact exports, field for field and as JSON text, on the whole conformance corpus, per call and in
//! batches; and the raw 1.2 exports return what ABI.md says.

use privet_core::{Bundle, Decision, Verdict};
use privet_host::{Host, HostConfig, RawInstance, unpack};
use serde_json::Value;

use crate::compact::{demo_requests, error_requests};
use crate::conformance::corpus;
use crate::{cpra_packed, module};

/// A host on the packed exports (ABI 1.2's, not 1.3's guest buffers: `input.rs` holds those to these) and one
/// on the compact exports, same module, same bundle.
fn hosts(bundle: &[u8]) -> (Host, Host) {
    assert!(module().abi_version() >= (1, 2), "packed exports need ABI 1.2 or later");
    let config = HostConfig { guest_buffers: false, ..module().config().clone() };
    let packed = Host::with_config(module(), bundle, config).unwrap();
    let config = HostConfig { packed_decisions: false, ..module().config().clone() };
    let compact = Host::with_config(module(), bundle, config).unwrap();
    assert!(packed.packed_decisions() && !packed.guest_buffers(), "this host takes the 1.2 packed path");
    assert!(compact.compact_decisions() && !compact.packed_decisions());
    (packed, compact)
}

fn same(p: &Decision, c: &Decision, what: &str) {
    assert_eq!(p, c, "packed vs compact, {what}");
    assert_eq!(serde_json::to_string(p).unwrap(), serde_json::to_string(c).unwrap(), "JSON text, {what}");
}

#[test]
fn packed_decisions_equal_compact_ones_on_the_corpus() {
    let c = corpus();
    let (packed, compact) = hosts(&c.bundle);
    let (mut allows, mut with_errors, mut obligations, mut ids) = (0, 0, 0, 0);
    for r in &c.requests {
        let p = packed.decide_json(r);
        same(&p, &compact.decide_json(r), r);
        allows += usize::from(p.decision == Verdict::Allow);
        with_errors += usize::from(!p.errors.is_empty());
        obligations += p.obligations.len();
        ids += usize::from(p.id.is_some());
    }
    assert!(allows > 0 && with_errors > 0 && obligations > 0 && ids > 0, "{allows} {with_errors} {obligations} {ids}");

    // Batches of 500 of the lines that are JSON (a line that is not can make a whole batch one deny, the
    // same on both paths, and is checked below).
    let elements: Vec<&String> = c.requests.iter().filter(|r| serde_json::from_str::<Value>(r).is_ok()).collect();
    for chunk in elements.chunks(500) {
        let batch = format!("[{}]", chunk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","));
        let (p, k) = (packed.decide_batch_json(&batch), compact.decide_batch_json(&batch));
        assert_eq!(p.len(), k.len());
        for (i, (p, k)) in p.iter().zip(&k).enumerate() {
            same(p, k, &format!("batch element {i}"));
        }
    }
    for bad in ["not an array", "[1, {\"principal\": ", "{}", "[]", "\u{fffd}[", "[[[[[[[[1]]]]]]]]"] {
        let (p, k) = (packed.decide_batch_json(bad), compact.decide_batch_json(bad));
        assert_eq!(p, k, "{bad}");
    }
    assert_eq!(packed.stats().instances_discarded, 0, "no fault on the packed path");
}

#[test]
fn packed_decisions_equal_compact_and_native_on_the_cpra_pack() {
    let (packed, compact) = hosts(cpra_packed());
    let native = Bundle::from_packed(cpra_packed()).unwrap();
    let requests: Vec<String> = demo_requests().into_iter().chain(error_requests()).collect();
    for r in &requests {
        let p = packed.decide_json(r);
        same(&p, &compact.decide_json(r), r);
        assert_eq!(p, native.decide_json(r), "packed vs native, {r}");
    }
    // A swap keeps the packed path, with the new instance's table.
    packed.swap_bundle(cpra_packed()).unwrap();
    assert!(packed.packed_decisions());
    for r in &requests {
        assert_eq!(packed.decide_json(r), native.decide_json(r), "after swap, {r}");
    }
}

#[test]
fn raw_packed_exports() {
    let mut raw = RawInstance::new(module()).unwrap();
    assert!(raw.has_packed());
    let h = raw.load(cpra_packed()).unwrap();
    let demo = demo_requests();
    let call = |raw: &mut RawInstance, handle: u32, input: &[u8], batch: bool| -> Vec<u8> {
        let (p, l) = raw.put(input).unwrap();
        let r = if batch { raw.decide_batch_packed_raw(handle, p, l) } else { raw.decide_packed_raw(handle, p, l) };
        raw.free(p, l).unwrap();
        raw.take(r.unwrap()).unwrap().unwrap()
    };

    // A decision without errors is a record: tag, verdict, n, n indices, then the id's JSON text.
    let first: Value = serde_json::from_str(&demo[0]).unwrap();
    let rec = call(&mut raw, h, demo[0].as_bytes(), false);
    assert_eq!(rec[0], 0x01, "{rec:?}");
    assert!(rec[1] <= 1);
    let n = usize::from(u16::from_le_bytes([rec[2], rec[3]]));
    assert!(n >= 1 && rec.len() >= 4 + 2 * n);
    let id: Value = serde_json::from_slice(&rec[4 + 2 * n..]).unwrap();
    assert_eq!(id, first["id"]);

    // A decision with errors is compact JSON.
    let json = call(&mut raw, h, br#"{"id": 1, "principal": "#, false);
    assert_eq!(json[0], b'{');
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["errors"][0]["code"], "malformed_json");

    // An unknown handle: JSON, a deny naming no bundle.
    let json = call(&mut raw, h + 1, demo[0].as_bytes(), false);
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!((v["decision"].as_str(), v["errors"][0]["code"].as_str()), (Some("deny"), Some("no_bundle")));

    // A batch: tag, count, then length-prefixed records or JSON.
    let batch = format!("[{},{}, 1]", demo[0], demo[1]);
    let out = call(&mut raw, h, batch.as_bytes(), true);
    assert_eq!(out[0], 0x02);
    assert_eq!(u32::from_le_bytes([out[1], out[2], out[3], out[4]]), 3);
    // A batch that fails as a whole at the ABI level is the compact JSON array.
    let out = call(&mut raw, h + 1, batch.as_bytes(), true);
    assert_eq!(out[0], b'[');
    // The packed result of a decide call is never 0.
    let (p, l) = raw.put(demo[0].as_bytes()).unwrap();
    let r = raw.decide_packed_raw(h, p, l).unwrap();
    assert_ne!(unpack(r).1, 0);
    raw.take(r).unwrap();
}
