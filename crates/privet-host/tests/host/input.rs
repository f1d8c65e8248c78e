//! ABI 1.3's guest-owned buffers: a host on `privet_decide_packed_input` (the default) decides exactly as a
//! host on ABI 1.2's `privet_decide_packed`, field for field and as JSON text, on the whole conformance corpus,
//! per call and in batches; and the raw 1.3 exports behave as ABI.md says (bad lengths, buffer reuse across
//! calls, resizing, out of memory), never trapping.

use privet_core::{Bundle, Decision, ErrorCode};
use privet_host::{Host, HostConfig, RawInstance, unpack};
use serde_json::Value;

use crate::compact::{demo_requests, error_requests};
use crate::conformance::corpus;
use crate::{cpra_packed, module};

/// A host on the 1.3 guest buffers and one on the 1.2 packed exports, same module, same bundle.
fn hosts(bundle: &[u8]) -> (Host, Host) {
    assert!(module().abi_version() >= (1, 3), "guest buffers need ABI 1.3 or later");
    let input = Host::new(module(), bundle).unwrap();
    let config = HostConfig { guest_buffers: false, ..module().config().clone() };
    let packed = Host::with_config(module(), bundle, config).unwrap();
    assert!(input.guest_buffers(), "the default host takes the guest-buffer path");
    assert!(packed.packed_decisions() && !packed.guest_buffers());
    (input, packed)
}

fn same(a: &Decision, b: &Decision, what: &str) {
    assert_eq!(a, b, "guest buffers vs packed, {what}");
    assert_eq!(serde_json::to_string(a).unwrap(), serde_json::to_string(b).unwrap(), "JSON text, {what}");
}

#[test]
fn guest_buffer_decisions_equal_packed_ones_on_the_corpus() {
    let c = corpus();
    let (input, packed) = hosts(&c.bundle);
    let (mut with_errors, mut ids) = (0, 0);
    // Long and short requests alternate (the corpus order), so the input buffer is reused with shorter inputs
    // after longer ones: only the first `len` bytes count.
    for r in &c.requests {
        let d = input.decide_json(r);
        same(&d, &packed.decide_json(r), r);
        with_errors += usize::from(!d.errors.is_empty());
        ids += usize::from(d.id.is_some());
    }
    assert!(with_errors > 0 && ids > 0, "{with_errors} {ids}");

    let elements: Vec<&String> = c.requests.iter().filter(|r| serde_json::from_str::<Value>(r).is_ok()).collect();
    for size in [1, 7, 500] {
        for chunk in elements.chunks(size) {
            let batch = format!("[{}]", chunk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","));
            let (a, b) = (input.decide_batch_json(&batch), packed.decide_batch_json(&batch));
            assert_eq!(a.len(), b.len());
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                same(a, b, &format!("batch of {size}, element {i}"));
            }
        }
    }
    for bad in ["not an array", "[1, {\"principal\": ", "{}", "[]", "\u{fffd}[", "[[[[[[[[1]]]]]]]]", ""] {
        let (a, b) = (input.decide_batch_json(bad), packed.decide_batch_json(bad));
        assert_eq!(a, b, "{bad:?}");
    }
    assert_eq!(input.stats().instances_discarded, 0, "no fault on the guest-buffer path");
}

#[test]
fn guest_buffer_decisions_equal_native_ones_across_large_inputs_and_a_swap() {
    let (input, _) = hosts(cpra_packed());
    let native = Bundle::from_packed(cpra_packed()).unwrap();
    let requests: Vec<String> = demo_requests().into_iter().chain(error_requests()).collect();
    let base: Value = serde_json::from_str(&requests[0]).unwrap();
    // Inputs around and over the 1 MiB at which the host gives the guest's buffer back (an id of 2 MiB),
    // then small ones again on the shrunk buffer.
    let mut big = base.clone();
    big["id"] = Value::String("x".repeat(2 << 20));
    let mut edge = base;
    edge["id"] = Value::String("y".repeat((1 << 20) - 200));
    let sequence: Vec<String> = requests
        .iter()
        .cloned()
        .chain([big.to_string(), requests[0].clone(), edge.to_string()])
        .chain(requests.iter().cloned())
        .collect();
    for r in &sequence {
        assert_eq!(input.decide_json(r), native.decide_json(r), "{}", &r[..r.len().min(200)]);
    }
    // A swap keeps the guest-buffer path, in the new instance.
    input.swap_bundle(cpra_packed()).unwrap();
    assert!(input.guest_buffers());
    for r in &requests {
        assert_eq!(input.decide_json(r), native.decide_json(r), "after swap, {r}");
    }
    assert_eq!(input.stats().instances_discarded, 0);
}

/// Writes `bytes` at the start of the guest's input buffer (sizing it to at least `bytes.len()` first when
/// `resize`), returning the buffer's address.
fn fill(raw: &mut RawInstance, bytes: &[u8], resize: Option<u32>) -> u32 {
    let ptr = raw.input_raw(resize.unwrap_or(bytes.len() as u32)).unwrap();
    assert_ne!(ptr, 0);
    raw.write(ptr, bytes).unwrap();
    ptr
}

/// The bytes of a `*_input` result (left in the guest's output buffer, not freed).
fn output(raw: &RawInstance, result: u64) -> Vec<u8> {
    let (p, l) = unpack(result);
    assert!(p != 0 && l != 0, "decide paths always return a result");
    raw.read(p, l).unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn raw_input_exports() {
    let mut raw = RawInstance::new(module()).unwrap();
    assert!(raw.has_input());
    let h = raw.load(cpra_packed()).unwrap();
    let demo = demo_requests();
    let packed_result = |raw: &mut RawInstance, input: &[u8], batch: bool| -> Vec<u8> {
        let (p, l) = raw.put(input).unwrap();
        let r = if batch { raw.decide_batch_packed_raw(h, p, l) } else { raw.decide_packed_raw(h, p, l) };
        raw.free(p, l).unwrap();
        raw.take(r.unwrap()).unwrap().unwrap()
    };

    // The same bytes as `privet_decide_packed` for the same request: a record with the id's JSON text.
    let buf = fill(&mut raw, demo[0].as_bytes(), Some(4096));
    let r = raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    let rec = output(&raw, r);
    assert_eq!(rec[0], 0x01, "{rec:?}");
    assert_eq!(rec, packed_result(&mut raw, demo[0].as_bytes(), false));
    // No free: the output buffer is the guest's, and is reused by the next call at the same address.
    let again = raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    assert_eq!(unpack(again).0, unpack(r).0, "the output buffer is reused");
    assert_eq!(output(&raw, again), rec);

    // Buffer reuse: a shorter request written over a longer one is decided from its own `len` bytes only.
    let (long, short) = if demo[0].len() > demo[1].len() { (&demo[0], &demo[1]) } else { (&demo[1], &demo[0]) };
    raw.write(buf, long.as_bytes()).unwrap();
    raw.write(buf, short.as_bytes()).unwrap();
    let r = raw.decide_packed_input_raw(h, short.len() as u32).unwrap();
    assert_eq!(output(&raw, r), packed_result(&mut raw, short.as_bytes(), false));
    // ... and the same bytes with the longer length are the tail of the long request behind the short one:
    // not JSON, a deny (never a read past what was written).
    let r = raw.decide_packed_input_raw(h, long.len() as u32).unwrap();
    let v = json(&output(&raw, r));
    assert_eq!((v["decision"].as_str(), v["errors"][0]["code"].as_str()), (Some("deny"), Some("malformed_json")));

    // A length past the buffer (4096 bytes here): a deny with `host_failure`, also the last error.
    for len in [4097, 1 << 20, u32::MAX] {
        let r = raw.decide_packed_input_raw(h, len).unwrap();
        let v = json(&output(&raw, r));
        assert_eq!((v["decision"].as_str(), v["errors"][0]["code"].as_str()), (Some("deny"), Some("host_failure")));
        assert_eq!(raw.last_error().unwrap().unwrap().error.code, ErrorCode::HostFailure);
        let r = raw.decide_batch_packed_input_raw(h, len).unwrap();
        let v = json(&output(&raw, r));
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(v[0]["errors"][0]["code"], "host_failure");
    }
    // A successful call clears the last error.
    raw.write(buf, demo[0].as_bytes()).unwrap();
    raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    assert!(raw.last_error().unwrap().is_none());

    // Errors in the request, an unknown handle, invalid UTF-8: the compact JSON `privet_decide_packed` gives.
    for (handle, input) in [
        (h, &br#"{"id": 1, "principal": "#[..]),
        (h + 1, demo[0].as_bytes()),
        (h, &b"{\"principal\": \"\xff\"}"[..]),
        (h, &b""[..]),
    ] {
        raw.write(buf, input).unwrap();
        let r = raw.decide_packed_input_raw(handle, input.len() as u32).unwrap();
        let got = output(&raw, r);
        assert_eq!(got[0], b'{');
        let (p, l) = raw.put(input).unwrap();
        let want = raw.decide_packed_raw(handle, p, l).unwrap();
        raw.free(p, l).unwrap();
        assert_eq!(got, raw.take(want).unwrap().unwrap(), "{}", String::from_utf8_lossy(input));
    }
    // Invalid UTF-8 is an ABI-level failure: recorded as the last error too.
    let bad = b"{\"principal\": \"\xff\"}";
    raw.write(buf, bad).unwrap();
    raw.decide_packed_input_raw(h, bad.len() as u32).unwrap();
    assert_eq!(raw.last_error().unwrap().unwrap().error.code, ErrorCode::MalformedJson);

    // A batch: the same bytes as `privet_decide_batch_packed`.
    let batch = format!("[{},{}, 1]", demo[0], demo[1]);
    raw.write(buf, batch.as_bytes()).unwrap();
    let r = raw.decide_batch_packed_input_raw(h, batch.len() as u32).unwrap();
    let out = output(&raw, r);
    assert_eq!(out[0], 0x02);
    assert_eq!(out, packed_result(&mut raw, batch.as_bytes(), true));
    // A large result (a batch of 20,000 compact-JSON denies, over the 1 MiB the output buffer keeps), then a
    // small one: both exact.
    let many = format!("[{}]", vec![r#"{"id": "a-rather-long-request-id", "principal": 1}"#; 20_000].join(","));
    let buf = fill(&mut raw, many.as_bytes(), None);
    let r = raw.decide_batch_packed_input_raw(h, many.len() as u32).unwrap();
    let out = output(&raw, r);
    assert!(out.len() > 1 << 20, "{}", out.len());
    assert_eq!(out, packed_result(&mut raw, many.as_bytes(), true));
    raw.write(buf, demo[0].as_bytes()).unwrap();
    let r = raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    assert_eq!(output(&raw, r), rec);

    // Resizing: `privet_input(0)` empties the buffer (a dangling, non-zero address), so any `len > 0` is a deny;
    // an impossible size is 0 (out of memory), not a trap, and leaves no buffer.
    assert_ne!(raw.input_raw(0).unwrap(), 0);
    let r = raw.decide_packed_input_raw(h, 1).unwrap();
    assert_eq!(json(&output(&raw, r))["errors"][0]["code"], "host_failure");
    let r = raw.decide_packed_input_raw(h, 0).unwrap();
    assert_eq!(json(&output(&raw, r))["errors"][0]["code"], "malformed_json");
    assert_eq!(raw.input_raw(u32::MAX).unwrap(), 0);
    let r = raw.decide_packed_input_raw(h, 10).unwrap();
    assert_eq!(json(&output(&raw, r))["errors"][0]["code"], "host_failure");

    // The instance still decides, through every path.
    fill(&mut raw, demo[0].as_bytes(), None);
    let r = raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    assert_eq!(output(&raw, r), rec);
    assert_eq!(packed_result(&mut raw, demo[0].as_bytes(), false), rec);
}

#[test]
fn guest_input_buffers_are_refused_over_the_memory_cap() {
    let config = HostConfig { memory_limit: 64 << 20, ..HostConfig::default() };
    let mut raw = RawInstance::with_config(module(), &config).unwrap();
    let h = raw.load(cpra_packed()).unwrap();
    // 100 MiB is over the cap: refused (0), not a trap; the instance keeps working.
    assert_eq!(raw.input_raw(100 << 20).unwrap(), 0);
    let demo = demo_requests();
    let buf = raw.input_raw(4096).unwrap();
    raw.write(buf, demo[0].as_bytes()).unwrap();
    let r = raw.decide_packed_input_raw(h, demo[0].len() as u32).unwrap();
    assert_eq!(raw.read(unpack(r).0, unpack(r).1).unwrap()[0], 0x01);
}
