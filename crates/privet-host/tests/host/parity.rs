//! Decisions through wasmtime equal native privet-core's, field for field, on the CPRA pack's suite cases.

use crate::{cpra_host, cpra_packed, suite_requests};

#[test]
fn cpra_suites_decide_as_natively() {
    let host = cpra_host();
    let native = privet_core::Bundle::from_packed(cpra_packed()).unwrap();
    let requests = suite_requests();
    assert!(requests.len() >= 100, "{} suite cases", requests.len());
    for r in &requests {
        assert_eq!(host.decide_json(r), native.decide_json(r), "request {r}");
    }
    // The same in one batch.
    let batch = format!("[{}]", requests.join(","));
    assert_eq!(host.decide_batch_json(&batch), native.decide_batch_json(&batch));
    // info matches too.
    let info = host.info().unwrap();
    let ninfo = native.info();
    assert_eq!(
        (info.hash.as_str(), &info.policies, info.entities),
        (ninfo.hash.as_str(), &ninfo.policies, ninfo.entities)
    );
    assert_eq!(host.bundle_hash(), ninfo.hash);
}
