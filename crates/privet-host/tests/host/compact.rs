//! ABI 1.1's compact decisions: a host on the compact exports (the default) decides exactly as a host on the
//! 1.0 exports and as native privet-core, field for field (determining policies with their citations,
//! obligations, errors, bundle hash, id), per call and in batches; and the raw 1.1 exports behave as ABI.md
//! says.

use privet_core::{Bundle, ErrorCode, PolicyInfo, Verdict};
use privet_host::{Host, HostConfig, RawInstance};
use serde_json::{Value, json};

use crate::{cpra_packed, module, root, suite_requests};

/// A host on the compact exports and one on the 1.0 exports, same module, same bundle.
fn hosts() -> (Host, Host) {
    let config = HostConfig { packed_decisions: false, ..module().config().clone() };
    let compact = Host::with_config(module(), cpra_packed(), config).unwrap();
    let config = HostConfig { compact_decisions: false, ..module().config().clone() };
    let full = Host::with_config(module(), cpra_packed(), config).unwrap();
    assert!(module().abi_version() >= (1, 1), "compact exports need ABI 1.1 or later");
    assert!(compact.compact_decisions() && !compact.packed_decisions(), "this host takes the compact path");
    assert!(!full.compact_decisions());
    (compact, full)
}

/// The CPRA pack's demo requests (`policies/cpra/demo/requests.jsonl`).
pub fn demo_requests() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("policies/cpra/demo/requests.jsonl")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
}

/// Requests that come back as denies with errors, made from the first demo request.
pub fn error_requests() -> Vec<String> {
    let base: Value = serde_json::from_str(&demo_requests()[0]).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v.to_string()
    };
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({ "a": deep });
    }
    vec![
        r#"{"id": "malformed", "principal": "#.to_string(),
        "[1, 2]".to_string(),
        with(&|v| v["principal"] = json!("Cpra::Nope::\"x\"")),
        with(&|v| v["action"] = json!("Cpra::Action::\"teleport\"")),
        with(&|v| v["context"]["gpc"] = json!("yes")),
        with(&|v| v["resource"] = json!("Cpra::Record::\"nobody\"")),
        with(&|v| v["context"]["deep"] = deep.clone()),
        with(&|v| {
            v["id"] = json!({"nested": [1, null]});
            v["entities"] = json!("not an array");
        }),
    ]
}

#[test]
fn compact_decisions_equal_the_full_ones_and_native() {
    let (compact, full) = hosts();
    let native = Bundle::from_packed(cpra_packed()).unwrap();
    let demo = demo_requests();
    let errors = error_requests();
    let requests: Vec<String> = demo.iter().chain(&errors).cloned().chain(suite_requests()).collect();
    assert!(demo.len() >= 10, "{} demo requests", demo.len());

    let (mut obligations, mut with_errors, mut allows) = (0, 0, 0);
    for r in &requests {
        let c = compact.decide_json(r);
        let f = full.decide_json(r);
        assert_eq!(c, f, "compact vs 1.0 path, request {r}");
        assert_eq!(c, native.decide_json(r), "compact vs native, request {r}");
        // Same JSON text too: same fields in the same order.
        assert_eq!(serde_json::to_string(&c).unwrap(), serde_json::to_string(&f).unwrap());
        obligations += c.obligations.len();
        with_errors += usize::from(!c.errors.is_empty());
        allows += usize::from(c.decision == Verdict::Allow);
    }
    assert!(obligations > 0 && allows > 0, "obligations {obligations}, allows {allows}");
    assert_eq!(with_errors, errors.len(), "every error request is a deny with errors");
    for r in &errors {
        assert!(!compact.decide_json(r).errors.is_empty(), "{r}");
    }

    // In one batch (every request that is JSON can be an element), and batches that fail as a whole.
    let elements: Vec<&String> = requests.iter().filter(|r| serde_json::from_str::<Value>(r).is_ok()).collect();
    let batch = format!("[{}]", elements.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","));
    let c = compact.decide_batch_json(&batch);
    assert_eq!(c.len(), elements.len());
    assert_eq!(c, full.decide_batch_json(&batch));
    assert_eq!(c, native.decide_batch_json(&batch));
    for bad in ["not an array", "[1, {\"principal\": ", "{}"] {
        let c = compact.decide_batch_json(bad);
        assert_eq!(c, full.decide_batch_json(bad), "{bad}");
        assert_eq!(c, native.decide_batch_json(bad), "{bad}");
        assert!(c.iter().all(|d| d.decision == Verdict::Deny && !d.errors.is_empty()));
    }

    // After a swap the table is the new bundle's (here the same pack, reloaded).
    compact.swap_bundle(cpra_packed()).unwrap();
    for r in &demo {
        assert_eq!(compact.decide_json(r), native.decide_json(r), "after swap, request {r}");
    }
}

#[test]
fn raw_policies_and_compact_exports() {
    let native = Bundle::from_packed(cpra_packed()).unwrap();
    let mut raw = RawInstance::new(module()).unwrap();
    assert!(raw.has_compact());

    // No bundle behind the handle: 0 and `no_bundle`.
    assert_eq!(raw.policies_raw(3).unwrap(), 0);
    assert_eq!(raw.last_error().unwrap().unwrap().error.code, ErrorCode::NoBundle);

    let h = raw.load(cpra_packed()).unwrap();
    let r = raw.policies_raw(h).unwrap();
    let table: Vec<PolicyInfo> = serde_json::from_slice(&raw.take(r).unwrap().unwrap()).unwrap();
    let want: Vec<PolicyInfo> = native.policies().map(|p| (**p).clone()).collect();
    assert_eq!(table, want, "the table is every policy in load order");
    assert!(raw.last_error().unwrap().is_none());

    let decide = |raw: &mut RawInstance, handle: u32, request: &[u8]| -> Value {
        let (p, l) = raw.put(request).unwrap();
        let r = raw.decide_compact_raw(handle, p, l).unwrap();
        raw.free(p, l).unwrap();
        serde_json::from_slice(&raw.take(r).unwrap().unwrap()).unwrap()
    };
    let demo = demo_requests();
    let c = decide(&mut raw, h, demo[0].as_bytes());
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "decision", "reasons", "errors"], "{c}");
    assert!(!c["reasons"].as_array().unwrap().is_empty());

    // An unknown handle: a deny naming no bundle (`bundle: ""`), and the last error.
    let c = decide(&mut raw, h + 1, demo[0].as_bytes());
    assert_eq!((c["decision"].as_str(), c["bundle"].as_str()), (Some("deny"), Some("")), "{c}");
    assert_eq!(c["errors"][0]["code"], "no_bundle");
    assert_eq!(raw.last_error().unwrap().unwrap().error.code, ErrorCode::NoBundle);

    // Out-of-bounds input on a loaded handle: a deny with `host_failure`, its bundle left to the host.
    let size = raw.memory_size() as u32;
    let r = raw.decide_compact_raw(h, size - 1, 2).unwrap();
    let c: Value = serde_json::from_slice(&raw.take(r).unwrap().unwrap()).unwrap();
    assert_eq!(c["errors"][0]["code"], "host_failure");
    assert!(c.get("bundle").is_none(), "{c}");

    // Batches: garbage is one deny, an array one decision per element.
    let (p, l) = raw.put(b"\xff garbage").unwrap();
    let r = raw.decide_batch_compact_raw(h, p, l).unwrap();
    raw.free(p, l).unwrap();
    let c: Value = serde_json::from_slice(&raw.take(r).unwrap().unwrap()).unwrap();
    assert_eq!(c.as_array().map(Vec::len), Some(1));
    assert_eq!(c[0]["errors"][0]["code"], "malformed_json");
    let batch = format!("[{},{}]", demo[0], demo[1]);
    let (p, l) = raw.put(batch.as_bytes()).unwrap();
    let r = raw.decide_batch_compact_raw(h, p, l).unwrap();
    raw.free(p, l).unwrap();
    let c: Value = serde_json::from_slice(&raw.take(r).unwrap().unwrap()).unwrap();
    assert_eq!(c.as_array().map(Vec::len), Some(2));
    assert!(c[1].get("determining").is_none() && c[1].get("bundle").is_none(), "{c}");
}
