//! Writes the conformance corpus (`target/conformance/{bundle.privet,requests.jsonl,expected.jsonl}`, or
//! `PRIVET_CONFORMANCE_DIR`). `cargo run -p privet-host --example gen-conformance`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a generator: fail loudly

#[path = "../../../tests/conformance/gen.rs"]
mod corpus;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("workspace root");
    let c = corpus::build(&root);
    let dir = corpus::default_dir(&root);
    corpus::write(&c, &dir).expect("write the corpus");
    eprintln!("wrote {} requests to {}", c.requests.len(), dir.display());
}
