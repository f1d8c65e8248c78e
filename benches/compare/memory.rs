//! Side-by-side comparison, entity-store memory: live heap bytes that Privet's bundle and cedar-policy's
//! `Entities` retain for the same `entities.json`. Driven by `scripts/bench-compare.sh` beside
//! `benches/compare/main.rs`, which times the engines; this process only loads, so that the counting allocator
//! it needs (`alloc_count.rs`: one shared atomic add per allocation) never runs during a timed mode, where it
//! would make threads that allocate contend for one cache line.
//!
//! ```sh
//! cargo run --release --example bench-memory -- --dir target/bench-compare/workload --engine privet
//! ```
//!
//! Prints one `{"kind": "memory", "engine", "store_bytes", "entities", …}` line:
//! - `--engine privet`: bytes retained by `Bundle::load(DIR)` minus bytes retained by the same sources loaded
//!   with `entities = None` (`BundleSources::from_dir`, `Bundle::from_sources`): everything the bundle keeps
//!   because of its entities, the entities' source text included (a bundle keeps its sources;
//!   `source_text_bytes`).
//! - `--engine cedar`: bytes retained by `Entities::from_json_str(entities.json, Some(&schema))` minus those
//!   retained by `Entities::from_json_str("[]", Some(&schema))` (both hold the schema's action entities).
//!
//! `entities` is the number of entities the store gained from entities.json. Each engine loads an empty store
//! once first, unmeasured, so that one-time initialisation (lazy statics) falls in neither window. Figures are
//! requested bytes (no allocator overhead), measured with no other thread running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark driver may panic on bad input

mod alloc_count;

use std::path::PathBuf;

use cedar_policy::{Entities, Schema};
use serde_json::{Value, json};

fn main() {
    let (mut dir, mut engine) = (PathBuf::from("target/bench-compare/workload"), String::new());
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--dir" => dir = v.into(),
            "--engine" => engine = v,
            other => panic!("unknown argument {other}"),
        }
    }
    match engine.as_str() {
        "privet" => {
            let load_empty = || {
                let mut sources = privet::BundleSources::from_dir(&dir).expect("bundle sources");
                sources.entities = None;
                privet::Bundle::from_sources(sources).expect("load bundle without entities")
            };
            drop(load_empty());
            let (bundle, with) = alloc_count::retained(|| privet::Bundle::load(&dir).expect("load bundle"));
            let (empty, without) = alloc_count::retained(load_empty);
            let text = bundle.sources().entities.as_ref().map_or(0, |f| f.text.capacity());
            let entities = bundle.info().entities - empty.info().entities;
            memory_line("privet-native", with, without, entities, json!({"source_text_bytes": text}));
        }
        "cedar" => {
            let schema_text = std::fs::read_to_string(dir.join("schema.cedarschema")).unwrap();
            let (schema, _) = Schema::from_cedarschema_str(&schema_text).unwrap();
            let entities_text = std::fs::read_to_string(dir.join("entities.json")).unwrap();
            drop(Entities::from_json_str("[]", Some(&schema)).unwrap());
            let (store, with) =
                alloc_count::retained(|| Entities::from_json_str(&entities_text, Some(&schema)).unwrap());
            let (empty, without) = alloc_count::retained(|| Entities::from_json_str("[]", Some(&schema)).unwrap());
            memory_line("cedar-native", with, without, store.len() - empty.len(), json!({}));
        }
        other => panic!("--engine privet|cedar, not {other:?}"),
    }
}

/// One `{"kind": "memory", …}` line: the entity store's live heap bytes, `with` minus `without` entities.
fn memory_line(engine: &str, with: i64, without: i64, entities: usize, extra: Value) {
    let mut line = json!({"kind": "memory", "engine": engine, "store_bytes": with - without, "entities": entities,
                          "with_entities_bytes": with, "without_entities_bytes": without});
    for (k, v) in extra.as_object().unwrap() {
        line[k] = v.clone();
    }
    println!("{line}");
}
