//! Several threads at once: decisions equal native; swap under load (no call fails, every decision comes
//! from the old or the new bundle, calls after the swap see the new one, a bad bundle is refused and the old
//! stays); store updates reach every pooled instance before its next decision.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use privet_core::{ErrorCode, Verdict};
use privet_host::{Host, HostConfig};

use crate::{cpra_host, cpra_packed, pack, suite_requests};

#[test]
fn concurrent_decide_from_several_threads_equals_native() {
    let host = Arc::new(cpra_host());
    let native = privet_core::Bundle::from_packed(cpra_packed()).unwrap();
    let requests = Arc::new(suite_requests());
    let expected: Arc<Vec<_>> = Arc::new(requests.iter().map(|r| native.decide_json(r)).collect());
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (host, requests, expected) = (Arc::clone(&host), Arc::clone(&requests), Arc::clone(&expected));
            std::thread::spawn(move || {
                for round in 0..3 {
                    for (i, r) in requests.iter().enumerate().skip((t + round) % 7).step_by(2) {
                        assert_eq!(host.decide_json(r), expected[i], "thread {t}: {r}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = host.stats();
    assert!(s.slots <= HostConfig::default().max_instances, "{s:?}");
    assert_eq!(s.instances_discarded, 0);
}

/// The CPRA pack under another version: same policies, another hash.
fn cpra_v2() -> Vec<u8> {
    let mut sources = privet_core::Bundle::from_packed(cpra_packed()).unwrap().sources().clone();
    let m = sources.manifest.as_mut().unwrap();
    m.text = m.text.replace("version = \"2026.11.0\"", "version = \"2026.11.1\"");
    sources.to_packed()
}

#[test]
fn swap_under_load() {
    let host = Arc::new(cpra_host());
    let v1 = host.bundle_hash();
    let v2_bytes = cpra_v2();
    let v2 = privet_core::Bundle::from_packed(&v2_bytes).unwrap().hash().to_string();
    assert_ne!(v1, v2);
    let native = privet_core::Bundle::from_packed(cpra_packed()).unwrap();
    let requests = Arc::new(suite_requests());
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (host, requests, stop, decided) =
                (Arc::clone(&host), Arc::clone(&requests), Arc::clone(&stop), Arc::clone(&decided));
            let (v1, v2) = (v1.clone(), v2.clone());
            let native = native.clone();
            std::thread::spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let r = &requests[i % requests.len()];
                    let d = host.decide_json(r);
                    assert!(*d.bundle == *v1 || *d.bundle == *v2, "{d:?}");
                    let mut want = native.decide_json(r);
                    want.bundle = Arc::clone(&d.bundle);
                    assert_eq!(d, want, "{r}");
                    decided.fetch_add(1, Ordering::Relaxed);
                    i += 4;
                }
            })
        })
        .collect();
    let tampered = String::from_utf8(cpra_packed().to_vec()).unwrap().replacen("forbid", "permit", 1);
    for round in 0..6 {
        while decided.load(Ordering::Relaxed) < (round + 1) * 40 {
            std::thread::yield_now();
        }
        let (bytes, want) = if round % 2 == 0 { (&v2_bytes[..], &v2) } else { (cpra_packed(), &v1) };
        let info = host.swap_bundle(bytes).unwrap();
        assert_eq!(&info.hash, want);
        // Every call that starts after the swap returned uses the new bundle.
        let d = host.decide_json(&requests[0]);
        assert_eq!(&*d.bundle, want.as_str());
        // A bad bundle is refused and the current one stays.
        let err = host.swap_bundle(tampered.as_bytes()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::HashMismatch);
        assert_eq!(&host.bundle_hash(), want);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let s = host.stats();
    eprintln!("swap under load: {} decisions, {s:?}", decided.load(Ordering::Relaxed));
    assert_eq!(s.instances_discarded, 0);
    assert!(s.instances_retired > 0, "{s:?}");
}

#[test]
fn updates_reach_every_pooled_instance() {
    const SCHEMA: &str = r#"
        entity User = { ok: Bool };
        action go appliesTo { principal: User, resource: User, context: {} };
    "#;
    let p = "@id(\"ok\")\npermit(principal, action, resource) when { resource.ok };\n";
    let entities = r#"[{"uid": {"type": "User", "id": "u"}, "attrs": {"ok": true}, "parents": []}]"#;
    let bundle = pack(None, SCHEMA, &[("p.cedar", p)], Some(entities));
    let n = 4;
    let config = HostConfig { max_instances: n, ..HostConfig::default() };
    let host = Arc::new(Host::with_config(crate::module(), &bundle, config).unwrap());
    let req = r#"{"principal": "User::\"u\"", "action": "Action::\"go\"", "resource": "User::\"u\"", "context": {}}"#;

    // n threads at a barrier, so several instances exist in the pool. Calls run on the caller's thread and
    // a single decision takes microseconds, so each thread also decides batches (milliseconds each) to make
    // the calls overlap.
    let batch = Arc::new(format!("[{}]", vec![req; 2_000].join(",")));
    let run_all = |want: Verdict, code: Option<ErrorCode>| {
        let barrier = Arc::new(Barrier::new(n));
        let ts: Vec<_> = (0..n)
            .map(|_| {
                let (host, barrier, batch) = (Arc::clone(&host), Arc::clone(&barrier), Arc::clone(&batch));
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..4 {
                        let d = host.decide_json(req);
                        assert_eq!(d.decision, want, "{d:?}");
                        assert_eq!(d.errors.first().map(|e| e.code), code, "{d:?}");
                        let ds = host.decide_batch_json(&batch);
                        assert_eq!(ds.len(), 2_000);
                        assert!(ds.iter().all(|x| x.decision == want), "{:?}", ds[0]);
                        assert!(ds.iter().all(|x| x.errors.first().map(|e| e.code) == code), "{:?}", ds[0]);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
    };
    run_all(Verdict::Allow, None);
    let warm = host.stats();
    assert!(warm.slots >= 2, "{warm:?}");

    let u = host
        .upsert_entities_json(r#"[{"uid": {"type": "User", "id": "u"}, "attrs": {"ok": false}, "parents": []}]"#)
        .unwrap();
    assert_eq!(u.revision, 1);
    run_all(Verdict::Deny, None);
    let after = host.stats();
    assert!(
        after.updates_replayed >= warm.slots - 1,
        "every other pooled instance replayed the update: {warm:?} -> {after:?}"
    );

    // A refused update reaches nobody.
    let errs =
        host.upsert_entities_json(r#"[{"uid": {"type": "User", "id": "v"}, "attrs": {"ok": 3}, "parents": []}]"#);
    assert_eq!(errs.unwrap_err()[0].code, ErrorCode::InvalidEntity);
    assert_eq!(host.stats().log_len, 1);

    // Removal: the resource is gone everywhere (fail-closed: entity_not_found).
    let r = host.remove_entities_json(r#"["User::\"u\""]"#).unwrap();
    assert_eq!((r.removed, r.revision), (1, 2));
    run_all(Verdict::Deny, Some(ErrorCode::EntityNotFound));
    assert_eq!(host.info().unwrap().store_revision, 2);
}
