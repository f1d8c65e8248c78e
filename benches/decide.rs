//! Criterion benches of `decide` on the shipped CPRA pack: requests against the store, requests carrying an
//! entity slice, and a batch. Also `cedar-policy`'s `Authorizer` on the same requests, side by side.
//!
//! Run: `cargo bench --bench decide`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests and benches may panic

use std::hint::black_box;
use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request as CedarRequest, Schema};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use privet::{Bundle, BundleSources};
use serde_json::Value;

fn demo_requests() -> Vec<Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/cpra/demo/requests.jsonl")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn with_slice(bundle_dir: &str, requests: &[Value]) -> Vec<Value> {
    // Each request carries its consumer and record as a slice (the shape CRM middleware sends).
    let s = BundleSources::from_dir(std::path::Path::new(bundle_dir)).unwrap();
    let store: Vec<Value> = serde_json::from_str(&s.entities.unwrap().text).unwrap();
    requests
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let rid = r["resource"].as_str().map(str::to_string).unwrap_or_default();
            let slice: Vec<Value> = store
                .iter()
                .filter(|e| {
                    let uid = format!(
                        "{}::{:?}",
                        e["uid"]["type"].as_str().unwrap_or(""),
                        e["uid"]["id"].as_str().unwrap_or("")
                    );
                    uid == rid
                })
                .cloned()
                .collect();
            r["entities"] = Value::Array(slice);
            r
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/cpra");
    let bundle = Bundle::load(dir).unwrap();
    let requests = demo_requests();
    let texts: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
    let slice_texts: Vec<String> = with_slice(dir, &requests).iter().map(|r| r.to_string()).collect();
    let n = texts.len() as u64;

    let mut g = c.benchmark_group("cpra");
    g.throughput(Throughput::Elements(n));
    g.bench_function("privet/store/json-per-call", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(bundle.decide_json(black_box(t)));
            }
        })
    });
    g.bench_function("privet/slice/json-per-call", |b| {
        b.iter(|| {
            for t in &slice_texts {
                black_box(bundle.decide_json(black_box(t)));
            }
        })
    });
    let batch = format!("[{}]", texts.join(","));
    g.bench_function("privet/store/batch-json", |b| b.iter(|| black_box(bundle.decide_batch_json(black_box(&batch)))));

    // cedar-policy doing the same: parse the request JSON per call, entities loaded once.
    let sources = bundle.sources();
    let (schema, _) = Schema::from_cedarschema_str(&sources.schema.text).unwrap();
    let all: String = sources.policies.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    let policies = PolicySet::from_str(&all).unwrap();
    let entities = Entities::from_json_str(&sources.entities.as_ref().unwrap().text, Some(&schema)).unwrap();
    let authorizer = Authorizer::new();
    g.bench_function("cedar-policy/store/json-per-call", |b| {
        b.iter(|| {
            for t in &texts {
                let v: Value = serde_json::from_str(black_box(t)).unwrap();
                let uid = |k: &str| EntityUid::from_str(v[k].as_str().unwrap()).unwrap();
                let action = uid("action");
                let ctx = Context::from_json_value(v["context"].clone(), Some((&schema, &action))).unwrap();
                let r = CedarRequest::new(uid("principal"), action, uid("resource"), ctx, Some(&schema)).unwrap();
                black_box(authorizer.is_authorized(&r, &policies, &entities));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
